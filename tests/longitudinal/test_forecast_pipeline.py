"""The tracking pipeline's forecast phase, end to end on a small generated patient: the
forecasts reach report.json, forecasts.csv, the HTML page and the timings; --no-forecast
leaves none (and no stale forecasts.csv)."""

from __future__ import annotations

import csv
import json

import pytest

from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.timeline import build_timeline
from interval.plugins import discovery
from tests.longitudinal._forecast_plugin import ANALYZER, write_fake_forecast_plugin


def _track(patient, out, **options):
    selection = build_timeline([patient.dicom_dir])
    labels = FileLabels([tp.labels_path for tp in patient.timepoints])
    return run_tracking(selection, labels, out, TrackingOptions(**options),
                        inputs=(patient.dicom_dir,))


def test_forecast_phase_and_no_forecast(tmp_path, monkeypatch):
    monkeypatch.setenv(discovery.ENV_VAR,
                       str(write_fake_forecast_plugin(tmp_path / "plugin")))
    patient = generate_patient(tmp_path / "patient", 5, 3, (32, 64, 64), (5.0, 5.0, 9.0),
                               keep_arrays=False)
    out = tmp_path / "out"
    outcome = _track(patient, out, forecast_analyzer=ANALYZER, horizon_days=45.0)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    last = report["timeline"]["timepoints"][-1]["days_from_baseline"]
    assert report["forecasts"], report["warnings"]
    assert {f["target_day"] for f in report["forecasts"]} == {last + 45.0}
    tracked = {t["lesion_id"] for t in report["tracks"] if t["role"] != "excluded"}
    assert {f["lesion_id"] for f in report["forecasts"]} <= tracked
    assert "Not validated for paediatric" in report["forecast_note"]
    assert report["outputs"]["forecasts_csv"] == "forecasts.csv"
    with (out / "forecasts.csv").open(encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(report["forecasts"])
    assert "forecast" in report["timings"]
    assert "Growth forecast (model estimate)" in (out / "report.html").read_text("utf-8")
    assert outcome.report.forecasts and outcome.ok

    _track(patient, out, forecast=False)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["forecasts"] == [] and report["forecast_note"] == ""
    assert not (out / "forecasts.csv").exists() and "forecasts_csv" not in report["outputs"]


def test_options_default_to_the_next_expected_visit():
    options = TrackingOptions()
    assert options.forecast is True and options.horizon_days is None
    assert options.forecast_analyzer is None


@pytest.mark.parametrize("horizon", [0.0, -1.0, float("nan"), 1e9])
def test_a_bad_horizon_is_refused(horizon):
    from interval.core.errors import IntervalError
    from interval.longitudinal.forecast import check_horizon

    with pytest.raises(IntervalError, match="forecast horizon"):
        check_horizon(horizon)


def test_the_bundled_plugin_forecasts_the_tracked_lesions(tmp_path):
    """Default options: the real growth-forecast plugin, at the next expected scan."""
    patient = generate_patient(tmp_path / "patient", 6, 3, (32, 64, 64), (5.0, 5.0, 9.0),
                               keep_arrays=False)
    outcome = _track(patient, tmp_path / "out", reports=False)
    report = outcome.report
    assert report.forecasts, report.warnings
    assert "org.interval.growth-forecast" in report.forecast_source
    assert "paediatric" in report.forecast_note
    days = [tp.days_from_baseline for tp in report.timeline.timepoints]
    gaps = sorted(b - a for a, b in zip(days, days[1:], strict=False))
    target = days[-1] + (gaps[0] + gaps[-1]) / 2  # the median of two intervals
    assert {f.target_day for f in report.forecasts} == {target}
    for track in report.tracks:
        mine = report.forecasts_of(track.lesion_id)
        if mine:
            assert mine[0].default and mine[0].kind == "network"
