"""A stand-in growth-forecast plugin for the host's tests (written into a temporary folder).

Its analyzer follows the contract of ``plugins/README.md`` (plugin API 1.1) with a rule
simple enough to check by hand: the "network" row extrapolates the line through the
lesion's last two observations to the target day (never below 0), with the band
[0.8, 1.25] x median; carry-forward repeats the last value with [0.9, 1.1] x. A lesion with
one observation gets a refused network row. The options it received are echoed in its
summary, so tests can see what the host passed.
"""

from __future__ import annotations

import json
from pathlib import Path

PLUGIN_ID = "org.test.fake-forecast"
ANALYZER = f"{PLUGIN_ID}:growth-forecast"

_CODE = '''
import statistics
from interval.plugins.api import LongitudinalResult


class FakeForecaster:
    def analyze(self, timepoints, *, progress=None, cancel=None, options=None):
        options = dict(options or {})
        first = timepoints[0].date
        hist = {}
        for tp in timepoints:
            day = tp.day if tp.day is not None else float((tp.date - first).days)
            assert tp.volume is None or hasattr(tp.volume, "array")
            for les in tp.lesions:
                if les.diameter_mm is not None:
                    hist.setdefault(les.lesion_id, []).append((day, les.diameter_mm))
        rows, warnings = [], []
        for lid, pts in hist.items():
            last_day, last = pts[-1]
            if "target_day" in options:
                target = float(options["target_day"])
            elif "horizon_days" in options:
                target = last_day + float(options["horizon_days"])
            else:
                gaps = [b[0] - a[0] for a, b in zip(pts, pts[1:])]
                target = last_day + statistics.median(gaps) if gaps else None
            base = {"lesion": lid, "model_estimate": True, "last_day": last_day,
                    "target_day": target, "interval": 0.8,
                    "horizon_days": None if target is None else target - last_day}
            net = {**base, "method": "gru", "method_label": "Recurrent network (GRU)",
                   "kind": "network", "default": True}
            if len(pts) < 2 or target is None:
                rows.append({**net, "diameter_mm": None, "lower_mm": None, "upper_mm": None,
                             "quantiles": {}, "status": "refused",
                             "message": "a single visit: no trend to forecast from"})
                warnings.append(f"{lid}: a single visit, no network forecast")
            else:
                (d0, v0), (d1, v1) = pts[-2], pts[-1]
                slope = (v1 - v0) / (d1 - d0) if d1 > d0 else 0.0
                med = max(0.0, v1 + slope * (target - d1))
                rows.append({**net, "diameter_mm": med, "lower_mm": 0.8 * med,
                             "upper_mm": 1.25 * med,
                             "quantiles": {"0.1": 0.8 * med, "0.5": med, "0.9": 1.25 * med},
                             "status": "ok", "message": ""})
            rows.append({**base, "method": "carry_forward", "method_label": "Last value",
                         "kind": "classical", "default": False, "diameter_mm": last,
                         "lower_mm": 0.9 * last, "upper_mm": 1.1 * last,
                         "quantiles": {"0.1": 0.9 * last, "0.5": last, "0.9": 1.1 * last},
                         "status": "ok", "message": ""})
        summary = ("Fake forecaster for tests, trained on nothing. Not validated for "
                   "paediatric patients, non-solid tumours, other response criteria or "
                   "synthetic patients. options=" + repr(sorted(options.items())))
        return LongitudinalResult(summary=summary, table=rows, warnings=warnings)
'''


def write_fake_forecast_plugin(root: Path, *, code: str = _CODE,
                               plugin_id: str = PLUGIN_ID) -> Path:
    """Write the plugin folder ``root/fake_forecast`` and return it (module name unique per
    plugin id, so several variants can be imported in one test session)."""
    module = "fake_forecast_" + plugin_id.replace(".", "_").replace("-", "_")
    folder = root / "fake_forecast"
    (folder / module).mkdir(parents=True, exist_ok=True)
    (folder / module / "__init__.py").write_text("", encoding="utf-8")
    (folder / module / "analyzer.py").write_text(code, encoding="utf-8")
    manifest = {
        "id": plugin_id, "name": "Fake growth forecast", "version": "0.0.1",
        "interval_api": ">=1.1,<2",
        "contributes": {"longitudinal_analyzers": [{
            "id": "growth-forecast", "name": "Fake growth forecast",
            "entry": f"{module}.analyzer:FakeForecaster"}]},
        "python": {"module": module, "path": "."},
    }
    (folder / "interval-plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def fake_registry(root: Path, **kwargs):
    """A registry holding only the fake plugin (no bundled, user or installed plugins)."""
    from interval.plugins.registry import discover_plugins

    folder = write_fake_forecast_plugin(root, **kwargs)
    registry = discover_plugins([folder], include_entry_points=False, include_user_dir=False,
                                include_env=False, include_session=False,
                                include_first_party=False)
    assert registry.refused == [], registry.refused
    return registry


def expected_linear(days, diams, target):
    """What the fake network forecasts for one lesion's history."""
    (d0, v0), (d1, v1) = (days[-2], diams[-2]), (days[-1], diams[-1])
    slope = (v1 - v0) / (d1 - d0) if d1 > d0 else 0.0
    return max(0.0, v1 + slope * (target - d1))
