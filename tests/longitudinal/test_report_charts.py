"""Charts: the RECIST sum chart and one chart per lesion, as PNG images."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from interval.longitudinal.model import ROLE_EXCLUDED
from interval.longitudinal.report_charts import lesion_chart, render_charts, sum_chart
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


def _image(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def test_sum_chart_first_then_one_per_shown_lesion(case):
    report = fresh_report(case)
    report.tracks[0].role = ROLE_EXCLUDED
    charts = render_charts(report)
    assert charts[0].key == "sum"
    assert [c.key for c in charts[1:]] == [t.lesion_id for t in
                                           sorted(report.tracks[1:],
                                                  key=lambda t: t.role != "target")]
    for chart in charts:
        rgb = _image(chart.png)
        assert rgb.shape[0] > 150 and rgb.shape[1] > 500
        assert rgb.std() > 10  # something is drawn
    report.recist = []
    assert [c.key for c in render_charts(report)][0] != "sum"


def test_lesion_charts_differ_when_the_data_differ(case):
    """The per-lesion figure is reused: each chart must still show its own lesion."""
    report = fresh_report(case)
    charts = render_charts(report)[1:]
    alone = [lesion_chart(report, report.track(c.key)).png for c in charts]
    pixels = [_image(c.png) for c in charts]
    for a, b in zip(pixels, [_image(p) for p in alone], strict=True):
        assert a.shape == b.shape
        assert np.mean(np.any(a != b, axis=-1)) < 0.001  # same drawing either way
    assert len({p.tobytes() for p in pixels}) == len(pixels)


def test_sum_chart_shows_thresholds(case):
    """The PR line (green) and PD markers (red) are drawn."""
    rgb = _image(sum_chart(case.report).png)
    green = np.all(np.abs(rgb.astype(int) - (0x2E, 0x8B, 0x57)) < 30, axis=-1)
    red = np.all(np.abs(rgb.astype(int) - (0xC0, 0x39, 0x2B)) < 30, axis=-1)
    assert green.sum() > 50 and red.sum() > 20


def test_charts_can_be_drawn_in_threads(case):
    """No pyplot global state: charts drawn concurrently are all valid."""
    out: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            out.append(sum_chart(case.report).png)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 3
    assert all(_image(p).shape == _image(out[0]).shape for p in out)
