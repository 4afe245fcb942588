"""The longitudinal analyzer: the host contract's rows, options, refusals, plugin loading."""

from __future__ import annotations

import datetime
import json

import pytest
from interval_growth_forecast.analyzer import GrowthForecastAnalyzer

from interval.plugins.api import LesionObservation, Timepoint
from tests.conftest import REPO_ROOT

D0 = datetime.date(2024, 3, 1)
METHODS = {"carry_forward", "exponential", "gompertz", "bertalanffy"}
KEYS = {"lesion", "method", "method_label", "kind", "default", "model_estimate", "last_day",
        "target_day", "horizon_days", "diameter_mm", "lower_mm", "upper_mm", "interval",
        "quantiles", "status", "message"}


def timepoints(series: dict[str, list[float | None]], step: int = 56,
               days: list[float] | None = None) -> list[Timepoint]:
    n = max(len(v) for v in series.values())
    out = []
    for k in range(n):
        lesions = tuple(LesionObservation(lid, values[k]) for lid, values in series.items()
                        if k < len(values))
        out.append(Timepoint(D0 + datetime.timedelta(days=k * step), None, lesions=lesions,
                             day=None if days is None else days[k]))
    return out


@pytest.fixture(scope="module")
def analyzer():
    return GrowthForecastAnalyzer()


def rows_of(result, lesion):
    return [r for r in result.table if r["lesion"] == lesion]


def test_rows_follow_the_contract(analyzer):
    result = analyzer.analyze(timepoints({"L1": [30, 27, 25, 24], "L2": [10, 12, 15, 19]}))
    json.dumps(result.table)  # plain JSON values
    for lesion in ("L1", "L2"):
        rows = rows_of(result, lesion)
        assert all(set(r) == KEYS for r in rows)
        defaults = [r for r in rows if r["default"]]
        assert len(defaults) == 1 and defaults[0]["kind"] == "network"
        assert defaults[0]["method"] in {"gru", "lstm", "gru_attention"}
        assert {r["method"] for r in rows if r["kind"] == "classical"} == METHODS
        net = defaults[0]
        assert net["status"] == "ok" and net["interval"] == 0.8
        assert net["lower_mm"] <= net["diameter_mm"] <= net["upper_mm"]
        assert net["quantiles"]["0.5"] == net["diameter_mm"]
        # default horizon: the median interval between the lesion's visits
        assert net["last_day"] == 168.0 and net["horizon_days"] == 56.0
        assert net["target_day"] == 224.0
        assert all(r["model_estimate"] for r in rows)
    assert "Not validated for paediatric" in result.summary
    assert "non-solid" in result.summary and "synthetic" in result.summary
    assert "Laleh" in result.summary
    assert result.warnings == []


def test_growing_lesion_is_forecast_larger_than_a_shrinking_one(analyzer):
    result = analyzer.analyze(timepoints({"up": [10, 13, 17, 22], "down": [40, 30, 23, 18]}))
    up = next(r for r in rows_of(result, "up") if r["default"])
    down = next(r for r in rows_of(result, "down") if r["default"])
    assert up["diameter_mm"] > 22.0
    assert down["diameter_mm"] < 19.0


def test_horizon_and_target_day_options(analyzer):
    tps = timepoints({"L1": [20, 21, 22]}, days=[-7.0, 50.0, 110.0])
    by_h = analyzer.analyze(tps, options={"horizon_days": 90.0})
    assert all(r["target_day"] == 200.0 and r["horizon_days"] == 90.0 for r in by_h.table)
    by_t = analyzer.analyze(tps, options={"target_day": 300.0})
    assert all(r["target_day"] == 300.0 for r in by_t.table)
    bad = analyzer.analyze(tps, options={"horizon_days": "soon"})
    assert any("horizon_days" in w for w in bad.warnings)


def test_single_visit_and_unevaluable_visits(analyzer):
    result = analyzer.analyze(timepoints({"L1": [20, 22, 25], "L9": [15]}),
                              options={"horizon_days": 60.0})
    rows = rows_of(result, "L9")
    net = next(r for r in rows if r["default"])
    assert net["status"] == "refused" and net["diameter_mm"] is None and net["message"]
    cf = next(r for r in rows if r["method"] == "carry_forward")
    assert cf["status"] == "ok" and cf["diameter_mm"] == 15.0
    assert any(w.startswith("Lesion L9") for w in result.warnings)
    missing = analyzer.analyze(timepoints({"L1": [20, None, 22, 23]}))
    assert any("not evaluable" in w for w in missing.warnings)
    assert next(r for r in missing.table if r["default"])["status"] == "ok"


def test_a_vanished_lesion_gets_a_widened_band_and_a_warning(analyzer):
    result = analyzer.analyze(timepoints({"L3": [12, 6, 0]}))
    net = next(r for r in result.table if r["default"])
    assert net["status"] == "widened" and "0 mm" in net["message"]
    assert net["upper_mm"] > net["lower_mm"] == 0.0
    assert any(w.startswith("Lesion L3") and "0 mm" in w for w in result.warnings)


def test_no_lesions_no_rows(analyzer):
    result = analyzer.analyze([Timepoint(D0, None)])
    assert result.table == [] and "0 lesion" in result.summary


def test_plugin_is_discovered_and_its_analyzer_loads():
    from interval.plugins import discover_plugins

    folder = REPO_ROOT / "plugins" / "growth_forecast"
    registry = discover_plugins([folder], include_entry_points=False, include_user_dir=False,
                                include_env=False, include_session=False,
                                include_first_party=False)
    assert [p.manifest.id for p in registry.plugins] == ["org.interval.growth-forecast"]
    analyzer = registry.load_longitudinal_analyzer("growth-forecast")
    assert analyzer is not None and hasattr(analyzer, "analyze")
