"""Charts: the RECIST sum chart and one chart per lesion, as vector drawings (SVG for the
HTML page, ReportLab drawings for the PDF)."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET

import pytest

from interval.longitudinal.chart_axes import nice_ticks
from interval.longitudinal.model import ROLE_EXCLUDED
from interval.longitudinal.report_charts import GREEN, RED, lesion_chart, render_charts, sum_chart
from tests.longitudinal._report_fixture import fresh_report, shared_case

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def case():
    return shared_case()


def _svg(chart) -> ET.Element:
    text = chart.svg()
    assert "<script" not in text.lower() and "http://www.w3.org/2000/svg" in text
    return ET.fromstring(text.encode("utf-8"))


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _stroked(root: ET.Element, color: str) -> list[ET.Element]:
    """Elements whose stroke is ``color`` (ReportLab writes ``stroke: rgb(a%,b%,c%)``)."""
    want = [int(color[i:i + 2], 16) / 2.55 for i in (1, 3, 5)]
    found = []
    for el in root.iter():
        m = re.search(r"stroke: rgb\(([\d.]+)%,([\d.]+)%,([\d.]+)%\)", el.get("style") or "")
        if m and all(abs(float(v) - w) < 1.5 for v, w in zip(m.groups(), want, strict=True)):
            found.append(el)
    return found


def test_sum_chart_first_then_one_per_shown_lesion(case):
    report = fresh_report(case)
    report.tracks[0].role = ROLE_EXCLUDED
    charts = render_charts(report)
    assert charts[0].key == "sum"
    assert [c.key for c in charts[1:]] == [t.lesion_id for t in
                                           sorted(report.tracks[1:],
                                                  key=lambda t: t.role != "target")]
    for chart in charts:
        root = _svg(chart)
        assert float(root.get("width")) > 400 and float(root.get("height")) > 150
        assert len(list(root.iter())) > 30  # axes, grid, data drawn
    report.recist = []
    assert [c.key for c in render_charts(report)][0] != "sum"


def test_lesion_chart_shows_its_own_values(case):
    report = fresh_report(case)
    charts = render_charts(report)[1:]
    assert len({c.svg() for c in charts}) == len(charts)
    for chart in charts[:3]:
        track = report.track(chart.key)
        texts = _texts(_svg(chart))
        assert any(track.lesion_id in t for t in texts)
        assert "volume (mL)" in texts
        assert any(t.startswith("diameter (mm") for t in texts)


def test_sum_chart_shows_thresholds(case):
    """The PR line (green, dashed) and the PD markers (red) are drawn and explained."""
    chart = sum_chart(case.report)
    root = _svg(chart)
    texts = _texts(root)
    assert any(t.startswith("PR threshold: baseline -30 %") for t in texts)
    assert "PD threshold: nadir +20 % and at least +5 mm" in texts
    follow_ups = sum(1 for r in case.report.recist if r.timepoint > 0 and r.nadir_mm is not None)
    assert len(_stroked(root, GREEN)) >= 2  # the line and its legend sample
    assert len(_stroked(root, RED)) >= follow_ups + 1


def test_hostile_lesion_name_is_escaped(case):
    report = fresh_report(case)
    report.tracks[0].name = "<script>alert(1)</script> & </svg>"
    chart = lesion_chart(report, report.tracks[0])
    text = chart.svg()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert any("<script>alert(1)</script>" in t for t in _texts(_svg(chart)))


def test_pdf_drawing_uses_the_given_font(case):
    drawing = sum_chart(case.report).draw("Helvetica-Bold")
    names = {getattr(s, "fontName", None) for s in drawing.getContents()}
    assert "Helvetica-Bold" in names


def test_nice_ticks():
    assert nice_ticks(0, 10, 4) == [0, 2.5, 5.0, 7.5, 10.0]
    assert nice_ticks(0, 87, 4) == [0, 25, 50, 75]
    assert nice_ticks(0, 130, 4) == [0, 50, 100]
    assert nice_ticks(0, 0.3, 4)[-1] == pytest.approx(0.3)
    assert nice_ticks(5, 5) == [5]


def test_charts_can_be_drawn_in_threads(case):
    """No global state: charts drawn concurrently are all the same."""
    out: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            out.append(sum_chart(case.report).svg())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 3
    assert len(set(out)) == 1
