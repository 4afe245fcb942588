"""Charts for the reports: each lesion's volume and diameter over time, and the RECIST sum
of diameters with the response thresholds.

Charts are vector drawings made with ReportLab's graphics (:mod:`reportlab.graphics`): the
PDF embeds the drawing itself (sharp at any zoom), the HTML page an SVG of it.  Nothing is
rasterised and no global state is used, so charts can be drawn in a worker thread.  The
x axis is days from the baseline when every timepoint has a date, else the timepoint
number.  Text from the report (lesion names) is escaped by the SVG writer.

When the report holds a growth forecast for a lesion (on a days axis), its diameter panel
also shows the default (network) forecast at the target day, in purple: a dashed line from
the last measurement to the median, the band as a shaded wedge and an error bar, and a
legend line "model estimate 21 mm (17-26, 80 %)".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from interval.longitudinal.chart_axes import Axes, nice_ticks
from interval.longitudinal.model import LesionForecast, LongitudinalReport, Track
from interval.longitudinal.report_common import lesion_at, lesion_title, shown_tracks

BLUE, ORANGE, GREY, RED, GREEN = "#1f5fa8", "#d9731a", "#6b6b6b", "#c0392b", "#2e8b57"
PURPLE = "#7b3fa0"  # model estimates (growth forecasts)
WIDTH_PT = 480.0  # about 170 mm: the PDF's text width; the SVG is drawn at 1 pt = 1 px
SVG_FONT = "Helvetica"


@dataclass(frozen=True)
class Chart:
    """One chart: what it shows and how to draw it.

    ``draw(font)`` builds a fresh ReportLab ``Drawing`` (a PDF flowable) with its text in
    ``font`` (a registered ReportLab font name); :meth:`svg` is the same drawing as SVG.
    """

    key: str  # "sum" or a lesion id
    title: str
    width: float
    height: float
    draw: Callable[[str], Any]

    def svg(self) -> str:
        """The chart as an SVG document (text escaped; no scripts, no external links)."""
        from reportlab.graphics import renderSVG  # noqa: PLC0415

        return renderSVG.drawToString(self.draw(SVG_FONT))


def _x_axis(report: LongitudinalReport) -> tuple[list[float], str]:
    tps = report.timeline.timepoints
    days = [tp.days_from_baseline for tp in tps]
    if tps and all(d is not None for d in days):
        return [float(d) for d in days], "days from baseline"  # type: ignore[arg-type]
    return [float(tp.index) for tp in tps], "timepoint (0 = baseline)"


def _x_limits(xs: Sequence[float]) -> tuple[float, float]:
    if not xs:
        return 0.0, 1.0
    span = max(xs) - min(xs) or 1.0
    return min(xs) - 0.05 * span, max(xs) + 0.05 * span


def _panel(drawing: Any, font: str, box: tuple[float, float, float, float], xs: Sequence[float],
           xlabel: str, ylabel: str, top: float, title: str) -> Axes:
    """Axes with a grid, x ticks at the timepoints, y ticks from 0 to ``top``."""
    ax = Axes(drawing, box, _x_limits(xs), (0.0, top if top > 0 else 1.0), font)
    ax.grid_and_ticks(list(xs), nice_ticks(0.0, top if top > 0 else 1.0, 4))
    ax.labels(xlabel, ylabel, title)
    return ax


def _lesion_drawing(font: str, title: str, kind: str, xs: Sequence[float], xlabel: str,
                    vols: Sequence[float | None], diams: Sequence[float | None],
                    forecast: LesionForecast | None = None) -> Any:
    from reportlab.graphics.shapes import Drawing, String  # noqa: PLC0415

    height = 175.0
    d = Drawing(WIDTH_PT, height)
    d.add(String(4, height - 12, title, fontName=font, fontSize=9))
    panels = (
        ((44, 34, 185, 104), vols, "volume (mL)", "volume", BLUE, "circle"),
        ((290, 34, 185, 104), diams, f"diameter (mm, {kind})", f"RECIST diameter ({kind})",
         ORANGE, "square"),
    )
    for n, (box, ys, ylabel, panel_title, color, marker) in enumerate(panels):
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        extra = forecast if n == 1 and pts else None
        panel_xs = [*xs, float(extra.target_day)] if extra else list(xs)  # type: ignore[arg-type]
        top = max([p[1] for p in pts] + _forecast_values(extra), default=0.0) * 1.25
        ax = _panel(d, font, box, panel_xs, xlabel, ylabel, top, panel_title)
        if extra is not None:
            _draw_forecast(ax, pts[-1], extra)
        ax.line(pts, color, width=1.5, marker=marker)
        for x, y in pts:
            ax.text(x, y, f"{y:.3g}", color=color, dy=5)
        ax.crosses([x for x, y in zip(xs, ys, strict=True) if y is None], GREY)
    return d


def _forecast_values(f: LesionForecast | None) -> list[float]:
    if f is None:
        return []
    return [v for v in (f.median_mm, f.lower_mm, f.upper_mm) if v is not None]


def _draw_forecast(ax: Any, last: tuple[float, float], f: LesionForecast) -> None:
    """The forecast from the last measurement ``last`` (x, mm) to (target day, median)."""
    x0, y0 = last
    x1, y1 = float(f.target_day), float(f.median_mm)  # type: ignore[arg-type]
    text = f"model estimate {y1:.3g} mm"
    if f.lower_mm is not None and f.upper_mm is not None:
        lo, hi = float(f.lower_mm), float(f.upper_mm)
        ax.band(x0, x1, y0, y0, lo, hi, PURPLE, opacity=0.18)
        ax.line([(x1, lo), (x1, hi)], PURPLE, width=1.0)
        ax.ticks_at([(x1, lo), (x1, hi)], PURPLE, half_width=3, width=1.0)
        text += f" ({lo:.3g}-{hi:.3g}, {(f.interval or 0.8) * 100:.0f} %)"
    ax.line([(x0, y0), (x1, y1)], PURPLE, width=1.2, dash=(3, 2))
    ax.line([(x1, y1)], PURPLE, marker="circle", size=4.5)
    ax.legend([(PURPLE, "dash", text)])


def chart_forecast(report: LongitudinalReport, lesion_id: str) -> LesionForecast | None:
    """The forecast a lesion's chart draws: its default (network) one, when it has a number
    and a target day."""
    for f in report.forecasts_of(lesion_id):
        if f.default:
            usable = (f.status != "refused" and f.median_mm is not None
                      and f.target_day is not None)
            return f if usable else None
    return None


def lesion_chart(report: LongitudinalReport, track: Track) -> Chart:
    """Volume (mL) and RECIST diameter (mm) of one lesion over time; an X on the axis where
    it was not seen (absent, or merged into another)."""
    xs, xlabel = _x_axis(report)
    items = [lesion_at(report, track, tp.index) for tp in report.timeline.timepoints]
    vols = [it.volume_ml if it.seen else None for it in items]
    diams = [it.recist_diameter_mm if it.seen else None for it in items]
    kind = "short axis" if track.is_lymph_node else "long axis"
    title = f"{lesion_title(track)} ({track.role})"
    forecast = chart_forecast(report, track.lesion_id) if xlabel.startswith("days") else None

    def draw(font: str) -> Any:
        return _lesion_drawing(font, title, kind, xs, xlabel, vols, diams, forecast)

    return Chart(track.lesion_id, title, WIDTH_PT, 175.0, draw)


def sum_chart(report: LongitudinalReport) -> Chart:
    """Sum of target diameters over time, with the PR threshold (baseline -30 %) and the
    PD threshold at each follow-up (nadir +20 % and at least +5 mm), and the responses."""
    xs, xlabel = _x_axis(report)
    by_tp = {r.timepoint: r for r in report.recist}
    rows = [(x, by_tp.get(tp.index)) for x, tp in zip(xs, report.timeline.timepoints, strict=True)]
    pts = [(x, r.sum_mm, r.overall_response if r.timepoint > 0 else "baseline")
           for x, r in rows if r is not None and r.sum_mm is not None]
    base = by_tp.get(0)
    pr = 0.7 * base.sum_mm if base is not None and base.sum_mm else None
    pd = [(x, max(1.2 * r.nadir_mm, r.nadir_mm + 5.0)) for x, r in rows
          if r is not None and r.timepoint > 0 and r.nadir_mm is not None]
    top = max([p[1] for p in pts] + ([pr] if pr else []) + [p[1] for p in pd], default=0.0)
    height = 195.0

    def draw(font: str) -> Any:
        from reportlab.graphics.shapes import Drawing  # noqa: PLC0415

        d = Drawing(WIDTH_PT, height)
        ax = _panel(d, font, (44, 34, 426, 128), xs, xlabel, "sum of diameters (mm)",
                    top * 1.3, "RECIST 1.1: sum of target lesion diameters")
        legend = []
        if pts:
            ax.line([(x, y) for x, y, _ in pts], BLUE, width=1.8, marker="circle", size=5)
            for x, y, label in pts:
                ax.text(x, y, f"{y:.1f} mm", dy=15)
                ax.text(x, y, label, dy=6)
            legend.append((BLUE, "solid", "sum of diameters"))
        if pr is not None:
            ax.hline(pr, GREEN, dash=(4, 3))
            legend.append((GREEN, "dash", f"PR threshold: baseline -30 % ({pr:.1f} mm)"))
        if pd:
            ax.ticks_at(pd, RED, half_width=7, width=2)
            legend.append((RED, "tick", "PD threshold: nadir +20 % and at least +5 mm"))
        ax.legend(legend)
        return d

    return Chart("sum", "RECIST sum of diameters", WIDTH_PT, height, draw)


def render_charts(report: LongitudinalReport, *, include_non_targets: bool = True) -> list[Chart]:
    """The sum chart first (when RECIST was assessed), then one chart per shown lesion."""
    charts = [sum_chart(report)] if report.recist else []
    tracks = shown_tracks(report, include_non_targets=include_non_targets)
    return charts + [lesion_chart(report, t) for t in tracks]

