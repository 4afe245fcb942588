"""Growth forecasts in the longitudinal report: histories, horizon, the plugin's rows read
into the model, failures as warnings, and every report showing them as model estimates.

The analyzer is the stand-in of ``_forecast_plugin`` (a rule checked by hand here)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import re
import statistics

import pytest

from interval.longitudinal.forecast import (
    add_forecasts,
    default_target_day,
    forecasts_from_rows,
    lesion_histories,
    report_timepoints,
)
from interval.longitudinal.model import ROLE_EXCLUDED
from interval.longitudinal.report_common import lesion_at
from interval.longitudinal.report_json import read_report, write_report_json
from interval.plugins.registry import PluginRegistry
from tests.longitudinal._forecast_plugin import expected_linear, fake_registry
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return fake_registry(tmp_path_factory.mktemp("fake"))


@pytest.fixture()
def report(registry):
    r = fresh_report(shared_case())
    add_forecasts(r, registry=registry)
    return r


def test_histories_are_the_reported_recist_diameters():
    r = fresh_report(shared_case())
    r.tracks[0].role = ROLE_EXCLUDED
    histories = {h.lesion_id: h for h in lesion_histories(r)}
    assert r.tracks[0].lesion_id not in histories
    assert len(histories) == len(r.tracks) - 1
    for track in r.tracks[1:]:
        h = histories[track.lesion_id]
        seen = [(tp.days_from_baseline, lesion_at(r, track, tp.index))
                for tp in r.timeline.timepoints]
        seen = [(d, it) for d, it in seen if it.seen]  # absent / merged: left out
        assert h.days == tuple(float(d) for d, _ in seen)
        assert h.diameters_mm == tuple(it.recist_diameter_mm for _, it in seen)
        assert h.is_lymph_node == track.is_lymph_node
    assert any(len(h.days) < len(r.timeline.timepoints) for h in histories.values())


def test_default_target_is_the_next_expected_visit():
    assert default_target_day([0, 100, 190]) == 190 + statistics.median([100, 90])
    assert default_target_day([0, 30, 90, 100]) == 130.0
    assert default_target_day([0, 100], horizon_days=14) == 114.0
    assert default_target_day([5.0]) is None and default_target_day([]) is None
    assert default_target_day([5.0, 5.0]) is None  # two scans the same day: no interval
    assert default_target_day([5.0], horizon_days=10) == 15.0


def test_timepoints_given_to_the_analyzer():
    r = fresh_report(shared_case())
    tps = report_timepoints(r)
    assert [tp.day for tp in tps] == [float(t.days_from_baseline)
                                      for t in r.timeline.timepoints]
    assert all(tp.volume is None for tp in tps)
    assert [tp.date for tp in tps] == [t.study_date for t in r.timeline.timepoints]
    l1 = [(tp.day, o.diameter_mm) for tp in tps for o in tp.lesions if o.lesion_id == "L1"]
    h = next(h for h in lesion_histories(r) if h.lesion_id == "L1")
    assert l1 == list(zip(h.days, h.diameters_mm, strict=True))


def test_every_lesion_is_forecast_at_the_next_expected_visit(report):
    days = [float(tp.days_from_baseline) for tp in report.timeline.timepoints]
    target = days[-1] + statistics.median([b - a for a, b in zip(days, days[1:], strict=False)])
    histories = {h.lesion_id: h for h in lesion_histories(report)}
    assert {f.lesion_id for f in report.forecasts} == set(histories)
    assert f"options=[('target_day', {target})]" in report.forecast_note
    baseline = report.timeline.timepoints[0].study_date
    for lid, h in histories.items():
        mine = report.forecasts_of(lid)
        assert [f.method for f in mine] == ["gru", "carry_forward"]
        net, last = mine
        assert net.default and not last.default and net.kind == "network"
        assert net.target_day == target
        assert net.target_date == baseline + dt.timedelta(days=round(target))
        assert last.median_mm == pytest.approx(h.diameters_mm[-1])
        if len(h.days) >= 2:
            assert net.status == "ok"
            assert net.median_mm == pytest.approx(expected_linear(h.days, h.diameters_mm,
                                                                  target))
            assert net.lower_mm <= net.median_mm <= net.upper_mm
            assert net.quantiles["0.5"] == pytest.approx(net.median_mm)
        else:
            assert net.status == "refused" and net.median_mm is None and net.message
    assert "Fake growth forecast" in report.forecast_source and report.forecast_version
    assert "Not validated for paediatric" in report.forecast_note


def test_a_chosen_horizon_counts_from_the_last_visit(registry):
    r = fresh_report(shared_case())
    add_forecasts(r, horizon_days=30, registry=registry)
    last = float(r.timeline.timepoints[-1].days_from_baseline)
    assert {f.target_day for f in r.forecasts} == {last + 30}


def test_a_missing_plugin_is_a_warning_not_a_failure():
    r = fresh_report(shared_case())
    before = list(r.warnings)
    add_forecasts(r, registry=PluginRegistry())
    assert r.forecasts == [] and r.forecast_note == ""
    assert r.warnings[:-1] == before
    assert "No growth forecast" in r.warnings[-1] and "interval plugins" in r.warnings[-1]


HOSTILE = '''
from interval.plugins.api import LongitudinalResult

class FakeForecaster:
    def analyze(self, timepoints, *, progress=None, cancel=None, options=None):
        MODE
'''


@pytest.mark.parametrize(("mode", "words"), [
    ("raise RuntimeError('model file missing')", "failed: RuntimeError: model file missing"),
    ("return 'not a result'", "returned a str instead of a LongitudinalResult"),
    ("return LongitudinalResult(table=[{'lesion': 'L1', 'x': float('nan')}])", "not finite"),
    ("import sys; sys.exit(1)", "failed: SystemExit"),
])
def test_a_failing_analyzer_is_a_warning(tmp_path, mode, words):
    registry = fake_registry(tmp_path, code=HOSTILE.replace("MODE", mode),
                             plugin_id=f"org.test.hostile{abs(hash(mode)) % 10**6}")
    r = fresh_report(shared_case())
    add_forecasts(r, registry=registry)
    assert r.forecasts == []
    assert words in r.warnings[-1] and r.warnings[-1].startswith("No growth forecast")


def test_unusable_rows_are_dropped_with_a_warning():
    good = {"lesion": "L1", "method": "gru", "default": True, "diameter_mm": 10.0,
            "lower_mm": 8.0, "upper_mm": 12.0, "target_day": 100.0, "status": "ok"}
    rows = [
        good,
        {**good, "lesion": "L99"},  # not asked for
        {**good, "method": "lstm", "lower_mm": 11.0},  # band without its median
        {**good, "method": "x", "status": "great"},
        {**good, "method": "y", "diameter_mm": "12"},
        {**good, "method": "z", "default": "yes"},
        {**good, "method": "q", "quantiles": {"high": 3.0}},
        {**good, "method": "gru2"},  # a second default: kept, but not as default
        {"lesion": "L2", "method": "gompertz", "status": "refused", "message": "no fit"},
    ]
    forecasts, dropped = forecasts_from_rows(rows, ["L2", "L1"], dt.date(2020, 1, 1))
    assert dropped == 6
    assert [(f.lesion_id, f.method, f.default) for f in forecasts] == [
        ("L2", "gompertz", False), ("L1", "gru", True), ("L1", "gru2", False)]
    assert forecasts[1].target_date == dt.date(2020, 4, 10)
    assert forecasts[0].median_mm is None and forecasts[0].message == "no fit"


def test_report_json_keeps_the_forecasts_and_old_files_still_load(report, tmp_path):
    path = write_report_json(report, tmp_path / "report.json")
    back = read_report(path)
    assert back.forecasts == report.forecasts
    assert back.forecast_note == report.forecast_note
    assert back.forecast_source == report.forecast_source
    data = json.loads(path.read_text())
    for key in ("forecasts", "forecast_note", "forecast_source", "forecast_version"):
        data.pop(key)
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = read_report(tmp_path / "old.json")
    assert old.forecasts == [] and old.forecast_note == ""
    assert old.tracks == report.tracks


def test_forecasts_csv(report, tmp_path):
    from interval.longitudinal.report_csv import FORECAST_COLUMNS, update_forecasts_csv

    report.forecasts[0] = dataclasses.replace(report.forecasts[0], method_label="=HYPERLINK(1)")
    assert update_forecasts_csv(report, tmp_path) == "forecasts.csv"
    with (tmp_path / "forecasts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == FORECAST_COLUMNS
    assert len(rows) == len(report.forecasts)
    assert rows[0]["method_label"] == "'=HYPERLINK(1)"  # never a formula
    for row, f in zip(rows, report.forecasts, strict=True):
        assert row["lesion_id"] == f.lesion_id and row["model_estimate"] == "yes"
        assert row["default"] == ("yes" if f.default else "no")
        if f.median_mm is not None:
            assert float(row["median_mm"]) == pytest.approx(f.median_mm, abs=0.005)
    report.forecasts = []
    assert update_forecasts_csv(report, tmp_path) is None
    assert not (tmp_path / "forecasts.csv").exists()  # no stale table from an earlier run


def test_charts_draw_the_default_forecast(report):
    from interval.longitudinal.report_charts import PURPLE, chart_forecast, lesion_chart

    track = next(t for t in report.tracks
                 if chart_forecast(report, t.lesion_id) is not None)
    f = chart_forecast(report, track.lesion_id)
    svg = lesion_chart(report, track).svg()
    assert "model estimate" in svg and f"{f.median_mm:.3g} mm" in svg
    assert f"{f.target_day:g}" in svg  # the target day is an x tick
    plain = fresh_report(shared_case())
    assert "model estimate" not in lesion_chart(plain, plain.track(track.lesion_id)).svg()
    assert _coloured(svg, PURPLE) >= 4  # dashed line, band, error bar, marker
    assert _coloured(lesion_chart(plain, plain.track(track.lesion_id)).svg(), PURPLE) == 0
    i = report.forecasts.index(f)  # a refused network forecast is not drawn
    report.forecasts[i] = dataclasses.replace(f, status="refused", median_mm=None,
                                              lower_mm=None, upper_mm=None)
    assert chart_forecast(report, track.lesion_id) is None
    assert "model estimate" not in lesion_chart(report, track).svg()


def _coloured(svg: str, color: str) -> int:
    """How many strokes or fills of the SVG are ``color`` (ReportLab writes rgb(a%,b%,c%))."""
    want = [int(color[i:i + 2], 16) / 2.55 for i in (1, 3, 5)]
    found = re.findall(r"(?:stroke|fill): rgb\(([\d.]+)%,([\d.]+)%,([\d.]+)%\)", svg)
    return sum(all(abs(float(v) - w) < 1.5 for v, w in zip(m, want, strict=True))
               for m in found)


def test_html_pdf_and_summary_show_model_estimates(report):
    from interval.longitudinal.report_html import render_html
    from interval.longitudinal.report_pdf import render_pdf
    from interval.longitudinal.summary import summary_lines

    report.forecast_note = "Trained on <script>alert(1)</script> trials."
    page = render_html(report)
    assert "Growth forecast (model estimate)" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    net = next(f for f in report.forecasts if f.default and f.median_mm is not None)
    assert f"{net.median_mm:.1f} mm" in page
    data, pages = render_pdf(report, compress=False)
    assert data.startswith(b"%PDF") and pages >= 1
    plain_data, _ = render_pdf(fresh_report(shared_case()), compress=False)
    assert len(data) > len(plain_data)
    text = "\n".join(summary_lines(report))
    assert "Growth forecast (model estimate" in text and "Trained on" in text
    assert f"{net.median_mm:.1f}" in text


def test_a_single_visit_lesion_gets_a_refusal_and_a_warning(registry):
    r = fresh_report(shared_case())
    track = r.tracks[-1]
    first = min(t for t, comps in track.members.items() if comps)
    track.members = {t: (comps if t == first else []) for t, comps in track.members.items()}
    add_forecasts(r, registry=registry)
    net = r.forecasts_of(track.lesion_id)[0]
    assert net.default and net.status == "refused" and net.median_mm is None and net.message
    assert f"Forecast: {track.lesion_id}: a single visit, no network forecast" in r.warnings
