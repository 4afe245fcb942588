"""The series the growth charts plot: per lesion (volume, diameter, forecasts by method) and
the RECIST sum with its thresholds, against the hand-built fixture report."""

from __future__ import annotations

import dataclasses
import math

import pytest

from interval.longitudinal.chart_data import (
    DAYS_LABEL,
    INDEX_LABEL,
    ChartDataError,
    lesion_series,
    pd_threshold_mm,
    sum_series,
)
from interval.longitudinal.model import LesionForecast
from interval.longitudinal.report_common import lesion_at
from tests.longitudinal._report_fixture import fresh_report, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


def forecast(lesion_id: str, method: str, *, default: bool = False, day: float | None = 300.0,
             median: float | None = 20.0, lower: float | None = None,
             upper: float | None = None, status: str = "ok", message: str = "",
             label: str = "") -> LesionForecast:
    return LesionForecast(
        lesion_id=lesion_id, method=method, method_label=label or method,
        kind="network" if default else "classical", default=default, target_day=day,
        target_date=None, horizon_days=None if day is None else day - 198.0,
        median_mm=median, lower_mm=lower, upper_mm=upper, status=status, message=message,
        last_day=198.0, interval=0.8 if lower is not None else None,
    )


def test_every_lesion_matches_the_report_values(case):
    report = fresh_report(case)
    days = tuple(float(tp.days_from_baseline) for tp in report.timeline.timepoints)
    assert len(set(days)) == 3 and days[0] == 0.0
    absent_seen = 0
    for track in report.tracks:
        s = lesion_series(report, track.lesion_id)
        assert s.days == days and s.x_label == DAYS_LABEL
        assert s.kind == ("short axis" if track.is_lymph_node else "long axis")
        for n, tp in enumerate(report.timeline.timepoints):
            item = lesion_at(report, track, tp.index)
            if track.components_at(tp.index):
                assert s.volumes_ml[n] == pytest.approx(item.volume_ml)
                assert s.diameters_mm[n] == pytest.approx(item.recist_diameter_mm)
                assert s.volumes_ml[n] > 0
            else:  # absent: no value, and an X there
                assert s.volumes_ml[n] is None and s.diameters_mm[n] is None
                assert days[n] in s.missing_days(s.diameters_mm)
                absent_seen += 1
        assert [x for x, _ in s.measured(s.diameters_mm)] == [
            d for d, v in zip(days, s.diameters_mm, strict=True) if v is not None]
    assert absent_seen >= 3  # the fixture has a vanished lesion and two new ones


def test_a_lymph_node_plots_its_short_axis_and_a_target_the_recist_value(case):
    report = fresh_report(case)
    node = next(t for t in report.tracks if t.is_lymph_node)
    s = lesion_series(report, node.lesion_id)
    ms = report.measurements_of(node, 0)
    assert s.kind == "short axis"
    assert s.diameters_mm[0] == pytest.approx(ms[0].short_axis.length_mm)
    assert s.diameters_mm[0] < ms[0].long_axis.length_mm
    target = next(t for t in report.tracks if t.role == "target" and not t.is_lymph_node)
    r0 = next(r for r in report.recist if r.timepoint == 0)
    report.recist[0] = dataclasses.replace(
        r0, target_diameters={**r0.target_diameters, target.lesion_id: 42.5})
    assert lesion_series(report, target.lesion_id).diameters_mm[0] == 42.5


def test_unknown_lesion_is_a_clear_error(case):
    with pytest.raises(ChartDataError, match="no lesion 'L99'"):
        lesion_series(case.report, "L99")


def test_forecasts_grouped_by_method_network_first(case):
    report = fresh_report(case)
    lid = next(t.lesion_id for t in report.tracks if t.members.get(2))
    other = next(t.lesion_id for t in report.tracks if t.lesion_id != lid)
    report.forecasts = [
        forecast(lid, "gompertz", day=400.0, median=26.0),
        forecast(lid, "gompertz", day=300.0, median=22.0),
        forecast(other, "gru", default=True, median=99.0),
        forecast(lid, "carry_forward", median=15.0, status="widened", message="outside range"),
        forecast(lid, "gru", default=True, median=21.0, lower=17.0, upper=26.0,
                 label="Recurrent network (GRU)"),
        forecast(lid, "exponential", status="refused", median=None, message="too few visits"),
    ]
    s = lesion_series(report, lid)
    assert [g.method for g in s.forecasts] == ["gru", "gompertz", "carry_forward", "exponential"]
    net = s.forecasts[0]
    assert net.default and net.kind == "network" and net.label == "Recurrent network (GRU)"
    assert [p.target_day for p in s.forecasts[1].points] == [300.0, 400.0]
    main = s.default_forecast()
    assert main is not None and main.has_band
    assert (main.median_mm, main.lower_mm, main.upper_mm) == (21.0, 17.0, 26.0)
    fits = s.classical_forecasts()
    assert [(g.method, p.median_mm) for g, p in fits] == [
        ("gompertz", 22.0), ("gompertz", 26.0), ("carry_forward", 15.0)]  # refused: none
    assert s.forecasts[3].plottable == ()
    assert s.last_diameter() == (198.0, s.diameters_mm[2])


def test_no_band_when_refused_nan_or_no_dates(case):
    report = fresh_report(case)
    lid = next(t.lesion_id for t in report.tracks if t.members.get(2))
    report.forecasts = [forecast(lid, "gru", default=True, status="refused", median=None)]
    assert lesion_series(report, lid).default_forecast() is None
    report.forecasts = [forecast(lid, "gru", default=True, median=math.nan, lower=1.0,
                                 upper=2.0)]
    assert lesion_series(report, lid).default_forecast() is None
    report.forecasts = [forecast(lid, "gru", default=True, median=21.0, lower=17.0, upper=26.0)]
    assert lesion_series(report, lid).default_forecast() is not None
    tps = report.timeline.timepoints
    tps[1] = dataclasses.replace(tps[1], days_from_baseline=None)
    s = lesion_series(report, lid)
    assert s.x_label == INDEX_LABEL and s.days == (0.0, 1.0, 2.0)
    assert s.default_forecast() is None and s.classical_forecasts() == []


def test_sum_series_thresholds(case):
    report = fresh_report(case)
    s = sum_series(report)
    sums = [r.sum_mm for r in sorted(report.recist, key=lambda r: r.timepoint)]
    assert list(s.sums_mm) == pytest.approx(sums)
    assert s.responses[0] == "baseline"
    assert list(s.responses[1:]) == [r.overall_response for r in report.recist[1:]]
    assert s.pr_threshold_mm == pytest.approx(0.7 * sums[0])
    assert [x for x, _ in s.pd_thresholds] == list(s.days[1:])
    for (_, mm), r in zip(s.pd_thresholds, report.recist[1:], strict=True):
        assert mm == pytest.approx(max(1.2 * r.nadir_mm, r.nadir_mm + 5.0))


def test_pd_threshold_rule():
    assert pd_threshold_mm(100.0) == pytest.approx(120.0)  # +20 % is more than +5 mm
    assert pd_threshold_mm(20.0) == pytest.approx(25.0)  # +5 mm is more than +20 %


def test_sum_series_without_recist_and_not_evaluable(case):
    report = fresh_report(case)
    report.recist[1] = dataclasses.replace(report.recist[1], sum_mm=None, overall_response="NE")
    s = sum_series(report)
    assert s.sums_mm[1] is None and s.responses[1] == "NE"
    assert [x for x, _, _ in s.measured()] == [s.days[0], s.days[2]]
    report.recist = []
    empty = sum_series(report)
    assert empty.measured() == [] and empty.pr_threshold_mm is None
    assert empty.pd_thresholds == () and set(empty.responses) == {""}
