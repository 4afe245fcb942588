"""Growth charts (pyqtgraph): per lesion volume/diameter with the forecast band and the
classical fits, the RECIST sum with its thresholds; rendered pixels, exports, plain text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from interval.longitudinal.model import LesionForecast
from interval.ui.longitudinal.growth_charts import (
    BAND_ALPHA,
    ChartExportError,
    LesionGrowthChart,
    SumChart,
    chart_items,
)
from interval.ui.plain_text import tooltip_text
from tests.longitudinal._report_fixture import fresh_report, shared_case

W, H = 900, 340
PURPLE_RGB = (0x7B, 0x3F, 0xA0)
HOSTILE = "<b>x</b>"


@pytest.fixture(scope="module")
def case():
    return shared_case()


@pytest.fixture
def report(case):
    """The fixture report with a forecast for a lesion seen at the last visit."""
    report = fresh_report(case)
    lid = _forecast_lesion(report)
    common = dict(target_date=None, horizon_days=202.0, last_day=198.0)
    report.forecasts = [
        LesionForecast(lid, "gru", "Recurrent network (GRU)", "network", True, 400.0,
                       median_mm=30.0, lower_mm=24.0, upper_mm=37.0, interval=0.8,
                       quantiles={"0.1": 24.0, "0.5": 30.0, "0.9": 37.0}, **common),
        LesionForecast(lid, "gompertz", "Gompertz <i>fit</i>", "classical", False, 400.0,
                       median_mm=34.0, lower_mm=None, upper_mm=None, **common),
        LesionForecast(lid, "carry_forward", "Last value", "classical", False, 400.0,
                       median_mm=25.0, lower_mm=None, upper_mm=None, status="widened",
                       message="input outside the <b>training</b> range", **common),
    ]
    return report


def _forecast_lesion(report) -> str:
    return next(t.lesion_id for t in report.tracks if t.members.get(2) and t.members.get(0))


def _show(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(W, H)
    widget.show()
    qtbot.waitUntil(lambda: widget.view.width() > W // 2)
    return widget


@pytest.fixture
def chart(qtbot):
    return _show(qtbot, LesionGrowthChart())


def _band_pixels(widget) -> int:
    """Pixels of the forecast band's colour (PURPLE at BAND_ALPHA over white)."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    rgb = arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).astype(int)
    a = BAND_ALPHA / 255.0
    want = np.array([255 + (c - 255) * a for c in PURPLE_RGB])
    return int((np.abs(rgb - want).max(axis=-1) <= 4).sum())


def _scatter_tips(plot) -> list[str]:
    """Every tooltip the plot's markers show on hover (as plain text)."""
    tips = []
    for item in chart_items(plot, pg.ScatterPlotItem):
        for spot in item.points():
            tip = item.opts["tip"](x=spot.pos().x(), y=spot.pos().y(), data=spot.data())
            tips.append(tooltip_text(tip))
    return tips


def test_chart_builds_for_every_lesion_without_plotting_absent_values(chart, report):
    days = [float(tp.days_from_baseline) for tp in report.timeline.timepoints]
    absent_checked = 0
    for track in report.tracks:
        chart.set_lesion(report, track.lesion_id)
        s = chart.series
        assert s is not None and s.lesion_id == track.lesion_id
        assert chart.title_text().startswith(track.lesion_id)
        for name, curve, values in (("volume", chart.volume_curve, s.volumes_ml),
                                    ("diameter", chart.diameter_curve, s.diameters_mm)):
            xs, ys = curve.getData()
            want = [(d, v) for d, v in zip(days, values, strict=True) if v is not None]
            assert list(xs) == [d for d, _ in want]
            assert np.allclose(ys, [v for _, v in want]) and np.isfinite(ys).all()
            missing = [d for d, v in zip(days, values, strict=True) if v is None]
            marks = chart.absent_markers.get(name)
            if missing:  # an X on the axis, not a value
                assert list(marks.data["x"]) == missing and set(marks.data["y"]) == {0.0}
                absent_checked += 1
            else:
                assert marks is None
    assert absent_checked >= 6  # 3 lesions absent somewhere, in both plots


def test_band_spans_lower_to_upper_at_the_target_day(chart, report):
    lid = _forecast_lesion(report)
    chart.set_lesion(report, lid)
    last_x, last_y = chart.series.last_diameter()
    assert last_x == 198.0
    assert chart.band is not None and chart.band in chart.diameter_plot.items
    ends = []
    for curve in chart.band.curves:
        xs, ys = curve.getData()
        assert list(xs) == [198.0, 400.0] and ys[0] == pytest.approx(last_y)
        ends.append(float(ys[-1]))
    assert sorted(ends) == [24.0, 37.0]
    assert chart.band.brush().color().alpha() == BAND_ALPHA
    bar = chart.error_bar.opts
    assert float(bar["x"][0]) == 400.0 and float(bar["y"][0]) == 30.0
    assert float(bar["y"][0] - bar["bottom"][0]) == 24.0
    assert float(bar["y"][0] + bar["top"][0]) == 37.0
    xs, ys = chart.median_line.getData()
    assert list(xs) == [198.0, 400.0] and list(ys) == [pytest.approx(last_y), 30.0]
    assert chart.median_line.opts["pen"].style() == Qt.PenStyle.DashLine
    # classical fits: thin lines of their own colours; the band is the network's only
    fits = chart.fit_lines
    assert set(fits) == {"gompertz", "carry_forward"}
    colours = {line.opts["pen"].color().name() for line in fits.values()}
    assert len(colours) == 2 and "#7b3fa0" not in colours
    assert [float(fits[m].getData()[1][-1]) for m in ("gompertz", "carry_forward")] == [34, 25]
    # the y range holds the whole band
    assert chart.diameter_plot.viewRange()[1][1] > 37.0


def test_rendered_chart_shows_the_band_colour(chart, report):
    lid = _forecast_lesion(report)
    chart.set_lesion(report, lid)
    with_band = _band_pixels(chart)
    assert with_band > 300, with_band
    report.forecasts = []
    chart.set_lesion(report, lid)
    assert chart.band is None
    assert _band_pixels(chart) < 10  # nothing else is drawn in that colour


def test_refused_forecast_draws_no_band_and_says_why(chart, report):
    lid = _forecast_lesion(report)
    report.forecasts = [LesionForecast(lid, "gru", "GRU", "network", True, 400.0, None, 202.0,
                                       None, None, None, status="refused",
                                       message="too few visits")]
    chart.set_lesion(report, lid)
    assert chart.band is None and chart.median_line is None
    assert "GRU: refused - too few visits" in chart.note.text()


def test_hostile_text_is_shown_as_plain_text(chart, report, tmp_path):
    lid = _forecast_lesion(report)
    report.track(lid).name = HOSTILE
    chart.set_lesion(report, lid)
    assert HOSTILE in chart.title_text()
    assert "Gompertz <i>fit</i>: 34 mm" in chart.legend_texts()
    assert chart.note.textFormat() == Qt.TextFormat.PlainText
    assert "<b>training</b>" in chart.note.text()
    tips = _scatter_tips(chart.diameter_plot)
    assert any(t.startswith("Gompertz <i>fit</i>, day 400: 34 mm") for t in tips)
    assert any("widened: input outside the <b>training</b> range" in t for t in tips)
    root = ET.parse(chart.export_svg(tmp_path / "c.svg")).getroot()
    assert not list(root.iter("{http://www.w3.org/2000/svg}b"))  # no markup came through
    assert HOSTILE in "".join(root.itertext())


def test_tooltips_give_the_values(chart, report):
    lid = _forecast_lesion(report)
    chart.set_lesion(report, lid)
    s = chart.series
    tips = _scatter_tips(chart.diameter_plot)
    assert f"follow-up 2: {s.diameters_mm[2]:.3g} mm" in tips
    assert any(t.startswith("Recurrent network (GRU), day 400: 30 mm (24-37)") for t in tips)
    vol_tips = _scatter_tips(chart.volume_plot)
    assert f"baseline: {s.volumes_ml[0]:.3g} mL" in vol_tips


def test_export_png_and_svg(chart, report, tmp_path):
    lid = _forecast_lesion(report)
    chart.set_lesion(report, lid)
    png = chart.export_png(tmp_path / "chart.png")
    with Image.open(png) as img:
        img.load()
        assert img.format == "PNG" and img.width >= W * 0.9 and img.height > H * 0.5
        rgb = np.asarray(img.convert("RGB")).astype(int)
    assert (np.abs(rgb - [0x1F, 0x5F, 0xA8]).max(axis=-1) <= 10).sum() > 50  # the blue volume
    svg = chart.export_svg(tmp_path / "chart.svg")
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(root.itertext())
    s = chart.series
    for want in (chart.title_text(), "days from baseline", f"{s.diameters_mm[2]:.3g}",
                 "Recurrent network (GRU): model estimate 30 mm (24-37, 80 %)"):
        assert want in text, want
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png", "chart.svg"]  # no temps


def test_export_to_a_missing_folder_is_a_clear_error(chart, report, tmp_path):
    chart.set_lesion(report, _forecast_lesion(report))
    for export, name in ((chart.export_png, "a.png"), (chart.export_svg, "a.svg")):
        with pytest.raises(ChartExportError, match="could not write the chart"):
            export(tmp_path / "missing" / name)
    assert not (tmp_path / "missing").exists()


def test_sum_chart_draws_the_thresholds(qtbot, report, tmp_path):
    chart = _show(qtbot, SumChart())
    chart.set_report(report)
    r = sorted(report.recist, key=lambda x: x.timepoint)
    xs, ys = chart.sum_curve.getData()
    assert np.allclose(ys, [x.sum_mm for x in r])
    pr = 0.7 * r[0].sum_mm
    assert set(np.round(chart.pr_line.getData()[1], 6)) == {round(pr, 6)}
    assert chart.pr_line.opts["pen"].color().name() == "#2e8b57"
    pd = [max(1.2 * x.nadir_mm, x.nadir_mm + 5.0) for x in r[1:]]
    assert list(chart.pd_marks.data["x"]) == list(xs[1:])
    assert np.allclose(chart.pd_marks.data["y"], pd)
    texts = [t.textItem.toPlainText() for t in chart.texts]
    assert texts[0] == f"{r[0].sum_mm:.1f} mm  baseline"
    assert texts[1].endswith(r[1].overall_response)
    assert any(t.startswith("PR threshold: baseline -30 %") for t in chart.legend_texts())
    svg = "".join(ET.parse(chart.export_svg(tmp_path / "sum.svg")).getroot().itertext())
    assert "PD threshold: nadir +20 % and at least +5 mm" in svg
    report.recist = []
    chart.set_report(report)
    assert chart.pr_line is None and chart.pd_marks is None
    assert chart.note.text() == "No RECIST sum in this report."


def test_a_lesion_never_measured_shows_only_crosses(chart, report, tmp_path):
    track = report.tracks[0]
    track.members = {t: [] for t in track.members}
    chart.set_lesion(report, track.lesion_id)
    assert len(chart.diameter_curve.getData()[0] or []) == 0
    assert len(chart.absent_markers["diameter"].data) == len(report.timeline.timepoints)
    assert chart.band is None and chart.value_texts == []
    with Image.open(chart.export_png(tmp_path / "wide.png", width=1800)) as img:
        assert img.width == 1800
