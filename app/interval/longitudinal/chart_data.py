"""The series the growth charts plot, taken from a :class:`LongitudinalReport` (no Qt).

The same semantics as the report's charts (:mod:`interval.longitudinal.report_charts`), as
plain data any chart library can draw:

* the x axis is days from the baseline when every timepoint has a day, else the timepoint
  number (and then no forecast is placed, as it is given in days);
* a lesion's volume and RECIST diameter (short axis of a lymph node, else long axis; the
  parts of a split lesion added, the RECIST table's value for a target) at each timepoint,
  ``None`` where it has no region of its own (absent, not yet appeared, merged);
* its forecasts grouped by method, the default (network) method first;
* the sum of target diameters with the responses, the PR threshold (baseline -30 %) and
  the PD threshold at each follow-up (nadir +20 % and at least +5 mm).
"""

from __future__ import annotations

from dataclasses import dataclass

from interval.core.errors import IntervalError
from interval.longitudinal.model import LesionForecast, LongitudinalReport
from interval.longitudinal.report_common import lesion_at, lesion_title

DAYS_LABEL = "days from baseline"
INDEX_LABEL = "timepoint (0 = baseline)"
PR_FRACTION = 0.7  # partial response: at least 30 % below the baseline sum
PD_FRACTION = 1.2  # progression: at least 20 % above the nadir ...
PD_MIN_MM = 5.0  # ... and at least 5 mm more


class ChartDataError(IntervalError):
    """The chart cannot be made (e.g. the lesion is not in the report)."""


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast of one method: the median and band at a target day (a model estimate)."""

    target_day: float | None
    median_mm: float | None
    lower_mm: float | None
    upper_mm: float | None
    interval: float | None  # the band's central probability (0.8: 80 %)
    quantiles: dict[str, float]
    status: str  # "ok", "widened", "refused"
    message: str
    last_day: float | None

    @property
    def plottable(self) -> bool:
        """Whether it has a number at a day (not refused)."""
        return (self.status != "refused" and self.median_mm is not None
                and self.target_day is not None)

    @property
    def has_band(self) -> bool:
        return self.plottable and self.lower_mm is not None and self.upper_mm is not None


@dataclass(frozen=True)
class MethodForecasts:
    """The forecasts of one method for one lesion, by target day."""

    method: str
    label: str  # the name shown ("Recurrent network (GRU)"): plugin text, show as plain text
    kind: str  # "network" or "classical"
    default: bool
    points: tuple[ForecastPoint, ...]

    @property
    def plottable(self) -> tuple[ForecastPoint, ...]:
        return tuple(p for p in self.points if p.plottable)


@dataclass(frozen=True)
class LesionSeries:
    """One lesion over time: what its volume and diameter charts show."""

    lesion_id: str
    title: str  # "L1 liver": the reader's name (user text, show as plain text)
    role: str
    kind: str  # "long axis" or "short axis": which diameter is plotted
    x_label: str
    days: tuple[float, ...]  # x of each timepoint (days, or timepoint numbers)
    timepoint_labels: tuple[str, ...]  # "baseline", "follow-up 1", ...
    statuses: tuple[str, ...]  # present / absent / new / split / merged
    volumes_ml: tuple[float | None, ...]  # None where the lesion has no region of its own
    diameters_mm: tuple[float | None, ...]
    forecasts: tuple[MethodForecasts, ...]  # default (network) method first

    @property
    def on_days(self) -> bool:
        return self.x_label == DAYS_LABEL

    def measured(self, values: tuple[float | None, ...]) -> list[tuple[float, float]]:
        """``(x, value)`` where ``values`` has a value."""
        return [(x, v) for x, v in zip(self.days, values, strict=True) if v is not None]

    def missing_days(self, values: tuple[float | None, ...]) -> list[float]:
        """The x of each timepoint where ``values`` has none (drawn as an X)."""
        return [x for x, v in zip(self.days, values, strict=True) if v is None]

    def last_diameter(self) -> tuple[float, float] | None:
        """The last measured ``(x, mm)``: where a forecast line starts."""
        pts = self.measured(self.diameters_mm)
        return pts[-1] if pts else None

    def default_forecast(self) -> ForecastPoint | None:
        """The forecast drawn with a band: the default method's first plottable one, when the
        x axis is in days and the lesion has a measured diameter."""
        if not self.on_days or self.last_diameter() is None:
            return None
        for group in self.forecasts:
            if group.default:
                return group.plottable[0] if group.plottable else None
        return None

    def classical_forecasts(self) -> list[tuple[MethodForecasts, ForecastPoint]]:
        """The other methods' plottable forecasts (drawn as thin lines), on a days axis."""
        if not self.on_days or self.last_diameter() is None:
            return []
        return [(g, p) for g in self.forecasts if not g.default for p in g.plottable]


@dataclass(frozen=True)
class SumSeries:
    """The sum of target diameters over time, with the RECIST thresholds."""

    x_label: str
    days: tuple[float, ...]
    timepoint_labels: tuple[str, ...]
    sums_mm: tuple[float | None, ...]  # None: not evaluable (or no RECIST row)
    responses: tuple[str, ...]  # overall response; "baseline" at the baseline; "" if none
    pr_threshold_mm: float | None  # baseline sum x 0.7
    pd_thresholds: tuple[tuple[float, float], ...]  # (x, mm) per follow-up with a nadir

    def measured(self) -> list[tuple[float, float, str]]:
        """``(x, sum, response)`` where the sum is known."""
        return [(x, s, r) for x, s, r in zip(self.days, self.sums_mm, self.responses,
                                             strict=True) if s is not None]


def x_axis(report: LongitudinalReport) -> tuple[tuple[float, ...], str]:
    """The x of each timepoint and the axis title (days when every timepoint has one)."""
    tps = report.timeline.timepoints
    days = [tp.days_from_baseline for tp in tps]
    if tps and all(d is not None for d in days):
        return tuple(float(d) for d in days), DAYS_LABEL  # type: ignore[arg-type]
    return tuple(float(tp.index) for tp in tps), INDEX_LABEL


def pd_threshold_mm(nadir_mm: float) -> float:
    """The smallest sum that is progression against ``nadir_mm`` (+20 % and +5 mm)."""
    return max(PD_FRACTION * nadir_mm, nadir_mm + PD_MIN_MM)


def lesion_series(report: LongitudinalReport, lesion_id: str) -> LesionSeries:
    """What the growth charts of ``lesion_id`` plot; :class:`ChartDataError` if unknown."""
    track = report.track(lesion_id)
    if track is None:
        raise ChartDataError(f"the report has no lesion {lesion_id!r}")
    xs, label = x_axis(report)
    items = [lesion_at(report, track, tp.index) for tp in report.timeline.timepoints]
    return LesionSeries(
        lesion_id=track.lesion_id, title=lesion_title(track), role=track.role,
        kind="short axis" if track.is_lymph_node else "long axis", x_label=label, days=xs,
        timepoint_labels=tuple(tp.label for tp in report.timeline.timepoints),
        statuses=tuple(it.status for it in items),
        volumes_ml=tuple(it.volume_ml if it.seen else None for it in items),
        diameters_mm=tuple(it.recist_diameter_mm if it.seen else None for it in items),
        forecasts=_grouped(report.forecasts_of(track.lesion_id)),
    )


def _grouped(forecasts: list[LesionForecast]) -> tuple[MethodForecasts, ...]:
    """Forecasts grouped by method, in first-seen order (``forecasts_of`` puts the default
    first); each group's points by target day (unknown days last)."""
    groups: dict[str, list[LesionForecast]] = {}
    for f in forecasts:
        groups.setdefault(f.method, []).append(f)
    out = []
    for method, fs in groups.items():
        points = sorted((_point(f) for f in fs),
                        key=lambda p: (p.target_day is None, p.target_day or 0.0))
        out.append(MethodForecasts(method, fs[0].method_label or method, fs[0].kind,
                                   any(f.default for f in fs), tuple(points)))
    return tuple(sorted(out, key=lambda g: not g.default))


def _point(f: LesionForecast) -> ForecastPoint:
    return ForecastPoint(
        target_day=_num(f.target_day), median_mm=_num(f.median_mm), lower_mm=_num(f.lower_mm),
        upper_mm=_num(f.upper_mm), interval=_num(f.interval), quantiles=dict(f.quantiles),
        status=f.status, message=f.message, last_day=_num(f.last_day),
    )


def _num(value: float | None) -> float | None:
    """A finite float, else None (a NaN from a damaged report is not a value)."""
    if value is None:
        return None
    v = float(value)
    return v if v == v and abs(v) != float("inf") else None


def sum_series(report: LongitudinalReport) -> SumSeries:
    """The RECIST sum of target diameters per timepoint, responses and thresholds."""
    xs, label = x_axis(report)
    by_tp = {r.timepoint: r for r in report.recist}
    rows = [(x, by_tp.get(tp.index)) for x, tp in zip(xs, report.timeline.timepoints,
                                                      strict=True)]
    sums = tuple(r.sum_mm if r is not None else None for _, r in rows)
    responses = tuple("" if r is None else ("baseline" if r.timepoint == 0
                                            else r.overall_response) for _, r in rows)
    base = by_tp.get(0)
    pr = PR_FRACTION * base.sum_mm if base is not None and base.sum_mm else None
    pd = tuple((x, pd_threshold_mm(r.nadir_mm)) for x, r in rows
               if r is not None and r.timepoint > 0 and r.nadir_mm is not None)
    return SumSeries(label, xs, tuple(tp.label for tp in report.timeline.timepoints), sums,
                     responses, pr, pd)
