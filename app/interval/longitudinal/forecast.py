"""Growth forecasts of tracked lesions, made by the growth-forecast plugin's analyzer.

Interval does not forecast itself: it gives each lesion's measurements to a longitudinal
analyzer found through the plugin registry (by default ``growth-forecast`` of the plugin
``org.interval.growth-forecast``; the contract is in ``plugins/README.md``) and turns the
rows it returns into :class:`~interval.longitudinal.model.LesionForecast` objects.

* A lesion's history is its RECIST diameter (short axis for a lymph node, else long axis;
  the sum of the parts of a split lesion, as the reports show it) at every timepoint where
  it has its own region, on the day axis of the timeline (days from the baseline). A
  timepoint where it is absent or merged into another is left out; excluded lesions are
  not forecast.
* The horizon: by default the next expected visit, i.e. the last visit plus the median
  interval between the visits so far; with ``horizon_days`` that many days after the
  last visit. Every lesion of a report is forecast at the same day.
* A missing or refused plugin, a failing analyzer or one returning unusable rows becomes
  a warning in the report, never a failure of the tracking.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, ProgressFn
from interval.longitudinal.model import ROLE_EXCLUDED, LesionForecast, LongitudinalReport

FORECAST_PLUGIN_ID = "org.interval.growth-forecast"
FORECAST_ANALYZER_ID = "growth-forecast"
STATUSES = ("ok", "widened", "refused")
MAX_HORIZON_DAYS = 3650.0
_TEXT_LIMIT = 500
_DAY0 = dt.date(2000, 1, 1)  # the date of day 0 for a table given in days only


class ForecastUnavailable(IntervalError):
    """No growth-forecast analyzer can be used (not installed, refused, or failing)."""


@dataclass(frozen=True)
class LesionHistory:
    """One lesion's measurements, oldest first (days from the baseline)."""

    lesion_id: str
    days: tuple[float, ...]
    diameters_mm: tuple[float, ...]
    volumes_ml: tuple[float | None, ...] = ()
    organ: str = ""
    is_lymph_node: bool = False
    intensities: tuple[float | None, ...] = ()


@dataclass
class ForecastRun:
    """What one run of the analyzer gave: forecasts, its summary, where it came from."""

    forecasts: list[LesionForecast] = field(default_factory=list)
    note: str = ""
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    version: str = ""  # of the plugin


# --- histories and horizon ------------------------------------------------------------------


def lesion_histories(report: LongitudinalReport) -> list[LesionHistory]:
    """Each tracked (not excluded) lesion's RECIST diameters at the timepoints where it has
    its own region and the day is known, in track order."""
    from interval.longitudinal.report_common import lesion_at  # noqa: PLC0415

    out = []
    for track in report.tracks:
        if track.role == ROLE_EXCLUDED:
            continue
        days, diams, vols, hus = [], [], [], []
        for tp in report.timeline.timepoints:
            if tp.days_from_baseline is None:
                continue
            item = lesion_at(report, track, tp.index)
            if not item.seen or item.recist_diameter_mm is None:
                continue
            days.append(float(tp.days_from_baseline))
            diams.append(float(item.recist_diameter_mm))
            vols.append(item.volume_ml)
            hus.append(item.mean_intensity)
        out.append(LesionHistory(track.lesion_id, tuple(days), tuple(diams), tuple(vols),
                                 track.organ, track.is_lymph_node, tuple(hus)))
    return out


def visit_days(report: LongitudinalReport) -> list[float]:
    """The days from the baseline of the timepoints whose date is known, in order."""
    return [float(tp.days_from_baseline) for tp in report.timeline.timepoints
            if tp.days_from_baseline is not None]


def check_horizon(horizon_days: float | None) -> float | None:
    """``horizon_days`` as a float, or IntervalError when it is not a positive number of at
    most ten years."""
    if horizon_days is None:
        return None
    h = float(horizon_days)
    if not math.isfinite(h) or h <= 0 or h > MAX_HORIZON_DAYS:
        raise IntervalError(f"the forecast horizon must be a number of days above 0 and at "
                            f"most {MAX_HORIZON_DAYS:.0f}, not {horizon_days!r}")
    return h


def default_target_day(days: Sequence[float], horizon_days: float | None = None) -> float | None:
    """The day to forecast at: the last visit + ``horizon_days``, or + the median interval
    between the visits (the next expected visit); None with fewer than two distinct days
    and no horizon."""
    if not days:
        return None
    last = max(days)
    if horizon_days is not None:
        return last + float(horizon_days)
    ordered = sorted(set(days))
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    if not gaps:
        return None
    return last + float(statistics.median(gaps))


# --- the analyzer -----------------------------------------------------------------------------


def find_forecast_analyzer(registry: Any = None, name: str | None = None) -> Any:
    """The :class:`~interval.plugins.api.LongitudinalAnalyzerEntry` to forecast with (its
    code is not imported here: it runs in a model process, see :func:`run_forecast`).

    ``name`` picks an analyzer by ``plugin_id:analyzer_id`` or ``analyzer_id``; by default
    the ``growth-forecast`` analyzer of :data:`FORECAST_PLUGIN_ID`, else the only analyzer
    called ``growth-forecast``. :class:`ForecastUnavailable` says why none can be used.
    """
    if registry is None:
        from interval.plugins.registry import discover_plugins  # noqa: PLC0415

        registry = discover_plugins()
    entries = list(registry.longitudinal_analyzers())
    if name:
        found = [e for e in entries if name in (e.qualified_id, e.analyzer_id)]
    else:
        found = [e for e in entries if e.qualified_id ==
                 f"{FORECAST_PLUGIN_ID}:{FORECAST_ANALYZER_ID}"]
        found = found or [e for e in entries if e.analyzer_id == FORECAST_ANALYZER_ID]
    wanted = name or FORECAST_ANALYZER_ID
    if not found:
        refused = [r for r in registry.refused
                   if r.plugin_id == FORECAST_PLUGIN_ID or wanted in r.name]
        why = f" (refused: {refused[0].reason})" if refused else ""
        raise ForecastUnavailable(
            f"no growth forecast: the analyzer {wanted!r} is not installed{why}; run "
            "`interval plugins` to see the installed plugins")
    if len(found) > 1:
        raise ForecastUnavailable(
            f"several plugins provide an analyzer called {wanted!r}; name one of: "
            + ", ".join(e.qualified_id for e in found))
    return found[0]


def run_forecast(
    timepoints: Sequence[Any],
    lesion_ids: Iterable[str],
    *,
    options: Mapping[str, Any] | None = None,
    base_date: dt.date | None = None,
    registry: Any = None,
    analyzer_name: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    timeout: float | None = None,
) -> ForecastRun:
    """Run the forecasting analyzer on API timepoints, in a model process, and read its rows.

    ``lesion_ids`` are the lesions asked for (rows about others are dropped);
    ``base_date`` the date of day 0 (for ``target_date``). Raises
    :class:`ForecastUnavailable` when no analyzer can be used or it fails (crash, hang
    beyond ``timeout`` seconds, out of memory, an unusable result).
    """
    from interval.longitudinal.analyzer_process import (  # noqa: PLC0415
        DEFAULT_TIMEOUT_S,
        run_analyzer_in_child,
    )
    from interval.plugins.analyzer_runner import AnalyzerRefused  # noqa: PLC0415

    entry = find_forecast_analyzer(registry, analyzer_name)
    try:
        result = run_analyzer_in_child(entry, timepoints, options=options, progress=progress,
                                       cancel=cancel,
                                       timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout)
    except AnalyzerRefused as exc:
        raise ForecastUnavailable(f"no growth forecast: {exc}") from None
    forecasts, dropped = forecasts_from_rows(result.table, list(lesion_ids), base_date)
    warnings = list(result.warnings)
    if dropped:
        warnings.append(f"the forecast plugin returned {dropped} row(s) Interval could not "
                        "read; they are left out")
    provenance = entry.provenance
    source = f"{entry.name} ({entry.qualified_id}" + (
        f", plugin {provenance.version}, {provenance.source_kind})" if provenance else ")")
    return ForecastRun(forecasts, result.summary, source, warnings,
                       provenance.version if provenance else "")


# --- rows -> forecasts ----------------------------------------------------------------------


class _BadRow(Exception):
    pass


def forecasts_from_rows(rows: Sequence[Mapping[str, Any]], lesion_ids: Sequence[str],
                        base_date: dt.date | None = None) -> tuple[list[LesionForecast], int]:
    """Forecasts from the analyzer's (already plain) rows, in ``lesion_ids`` order with each
    lesion's default first; and how many rows were dropped (unknown lesion, wrong types,
    a band that does not contain its median...). At most one default per lesion."""
    order = {lid: i for i, lid in enumerate(lesion_ids)}
    out: list[tuple[int, int, LesionForecast]] = []
    dropped = 0
    has_default: set[str] = set()
    for n, row in enumerate(rows):
        try:
            f = _forecast(row, base_date)
        except _BadRow:
            dropped += 1
            continue
        if f.lesion_id not in order:
            dropped += 1
            continue
        if f.default:
            if f.lesion_id in has_default:
                f = _replace(f, default=False)
            has_default.add(f.lesion_id)
        out.append((order[f.lesion_id], n, f))
    out.sort(key=lambda t: (t[0], not t[2].default, t[1]))
    return [f for _, _, f in out], dropped


def _replace(f: LesionForecast, **changes: Any) -> LesionForecast:
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(f, **changes)


def _forecast(row: Mapping[str, Any], base_date: dt.date | None) -> LesionForecast:
    lesion = _str(row.get("lesion"), required=True)
    method = _str(row.get("method"), required=True)
    status = _str(row.get("status")) or "ok"
    if status not in STATUSES:
        raise _BadRow
    median, lower, upper = (_num(row.get(k)) for k in ("diameter_mm", "lower_mm", "upper_mm"))
    if status != "refused":
        if median is None or median < 0:
            raise _BadRow
        if (lower is None) != (upper is None):
            raise _BadRow
        if lower is not None and not (0 <= lower <= median <= upper):  # type: ignore[operator]
            raise _BadRow
    quantiles = _quantiles(row.get("quantiles"))
    target_day = _num(row.get("target_day"))
    target_date = None
    if base_date is not None and target_day is not None and abs(target_day) < 100_000:
        target_date = base_date + dt.timedelta(days=round(target_day))
    default = row.get("default", False)
    if not isinstance(default, bool):
        raise _BadRow
    interval = _num(row.get("interval"))
    if interval is not None and not 0 < interval < 1:
        raise _BadRow
    return LesionForecast(
        lesion_id=lesion, method=method,
        method_label=_str(row.get("method_label")) or method,
        kind=_str(row.get("kind")) or "other", default=default,
        target_day=target_day, target_date=target_date,
        horizon_days=_num(row.get("horizon_days")),
        median_mm=median, lower_mm=lower, upper_mm=upper, quantiles=quantiles,
        status=status, message=_str(row.get("message")),
        last_day=_num(row.get("last_day")), interval=interval,
    )


def _str(value: object, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _BadRow
    return " ".join(value.split())[:_TEXT_LIMIT]


def _num(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadRow
    v = float(value)
    if not math.isfinite(v):
        raise _BadRow
    return v


def _quantiles(value: object) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _BadRow
    out = {}
    for key, mm in value.items():
        try:
            level = float(key)
        except (TypeError, ValueError):
            raise _BadRow from None
        v = _num(mm)
        if not 0 < level < 1 or v is None or v < 0:
            raise _BadRow
        out[f"{level:g}"] = v
    return dict(sorted(out.items(), key=lambda kv: float(kv[0])))


# --- the report -------------------------------------------------------------------------------


def report_timepoints(report: LongitudinalReport,
                      histories: Sequence[LesionHistory] | None = None) -> list[Any]:
    """Plugin-API timepoints (no images) holding each lesion's observation, for the
    timepoints with a known day."""
    from interval.longitudinal.report_common import lesion_at  # noqa: PLC0415
    from interval.plugins.api import LesionObservation, Timepoint  # noqa: PLC0415

    wanted = {h.lesion_id for h in (histories or lesion_histories(report))}
    tracks = [t for t in report.tracks if t.lesion_id in wanted]
    out = []
    for tp in report.timeline.timepoints:
        if tp.days_from_baseline is None:
            continue
        lesions = []
        for track in tracks:
            item = lesion_at(report, track, tp.index)
            if not item.seen or item.recist_diameter_mm is None:
                continue
            lesions.append(LesionObservation(
                track.lesion_id, float(item.recist_diameter_mm), volume_ml=item.volume_ml,
                organ=track.organ, is_lymph_node=track.is_lymph_node,
                mean_intensity=item.mean_intensity))
        date = tp.study_date or (_DAY0 + dt.timedelta(days=int(tp.days_from_baseline)))
        out.append(Timepoint(date=date, volume=None, label=tp.label, lesions=tuple(lesions),
                             day=float(tp.days_from_baseline)))
    return out


def add_forecasts(report: LongitudinalReport, *, horizon_days: float | None = None,
                  registry: Any = None, analyzer_name: str | None = None,
                  cancel: CancelFn | None = None) -> None:
    """Forecast every tracked lesion of ``report`` at one day (see the module docstring)
    and store the result in ``report.forecasts``, ``forecast_note``, ``forecast_source``;
    problems become ``report.warnings``."""
    horizon = check_horizon(horizon_days)
    histories = [h for h in lesion_histories(report) if h.days]
    if not histories:
        return
    days = visit_days(report)
    target = default_target_day(days, horizon)
    if target is None:
        report.warnings.append("No growth forecast: it needs at least two visits on "
                               "different days (or a horizon: --horizon DAYS).")
        return
    base = report.timeline.timepoints[0]
    base_date = base.study_date if base.days_from_baseline == 0 else None
    try:
        run = run_forecast(report_timepoints(report, histories),
                           [h.lesion_id for h in histories],
                           options={"target_day": target}, base_date=base_date,
                           registry=registry, analyzer_name=analyzer_name, cancel=cancel)
    except ForecastUnavailable as exc:
        report.warnings.append(_sentence(str(exc)))
        return
    report.forecasts = run.forecasts
    report.forecast_note = run.note
    report.forecast_source = run.source
    report.forecast_version = run.version
    report.warnings.extend(f"Forecast: {w}" for w in run.warnings)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
