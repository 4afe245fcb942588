"""Charts for the reports (PNG bytes): each lesion's volume and diameter over time, and the
RECIST sum of diameters with the response thresholds.

The x axis is days from the baseline when every timepoint has a date, else the timepoint
number.  Matplotlib draws through its object API (``Figure`` + ``FigureCanvasAgg``), never
``pyplot``: no global state, so charts can be drawn in a worker thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from interval.longitudinal.model import LongitudinalReport, Track
from interval.longitudinal.report_common import lesion_at, lesion_title, shown_tracks

DPI = 96
_BLUE, _ORANGE, _GREY, _RED, _GREEN = "#1f5fa8", "#d9731a", "#6b6b6b", "#c0392b", "#2e8b57"


@dataclass(frozen=True)
class Chart:
    """One chart: what it shows and the PNG."""

    key: str  # "sum" or a lesion id
    title: str
    png: bytes


def _x_axis(report: LongitudinalReport) -> tuple[list[float], str]:
    tps = report.timeline.timepoints
    days = [tp.days_from_baseline for tp in tps]
    if tps and all(d is not None for d in days):
        return [float(d) for d in days], "days from baseline"  # type: ignore[arg-type]
    return [float(tp.index) for tp in tps], "timepoint (0 = baseline)"


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    """The figure as an RGB PNG (drawn by Agg, encoded by Pillow at a fast setting)."""
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _style(ax, xlabel: str, ylabel: str, xs: Sequence[float]) -> None:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if xs:
        span = max(xs) - min(xs) or 1.0
        ax.set_xlim(min(xs) - 0.05 * span, max(xs) + 0.05 * span)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{x:g}" for x in xs])
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_ylim(bottom=0)


class _LesionFigure:
    """One lesion chart layout (two panels) drawn again for every lesion: building the
    axes costs as much as drawing them, so they are built once per report."""

    def __init__(self, xs: Sequence[float], xlabel: str) -> None:
        self.xs = list(xs)
        self.fig = _figure(6.2, 2.3)
        self.axes = self.fig.subplots(1, 2)
        self.lines, self.missing = [], []
        for ax, color, marker in zip(self.axes, (_BLUE, _ORANGE), ("o", "s"), strict=True):
            (line,) = ax.plot([], [], color=color, marker=marker, markersize=4, linewidth=1.5)
            (gone,) = ax.plot([], [], linestyle="none", marker="x", color=_GREY, markersize=5,
                              clip_on=False)
            self.lines.append(line)
            self.missing.append(gone)
            _style(ax, xlabel, "", xs)
        self.axes[0].set_ylabel("volume (mL)", fontsize=8)
        self.axes[0].set_title("volume", fontsize=9, y=1.02)
        self.title = self.fig.suptitle("", fontsize=9, x=0.01, ha="left")
        self.fig.subplots_adjust(left=0.09, right=0.98, bottom=0.2, top=0.8, wspace=0.3)
        self.notes: list = []

    def draw(self, title: str, kind: str, vols: Sequence[float | None],
             diams: Sequence[float | None]) -> bytes:
        for note in self.notes:
            note.remove()
        self.notes = []
        self.axes[1].set_ylabel(f"diameter (mm, {kind})", fontsize=8)
        self.axes[1].set_title(f"RECIST diameter ({kind})", fontsize=9, y=1.02)
        self.title.set_text(title)
        for n, ys in enumerate((vols, diams)):
            ax, color = self.axes[n], (_BLUE, _ORANGE)[n]
            pts = [(x, y) for x, y in zip(self.xs, ys, strict=True) if y is not None]
            self.lines[n].set_data([p[0] for p in pts], [p[1] for p in pts])
            gone = [x for x, y in zip(self.xs, ys, strict=True) if y is None]
            self.missing[n].set_data(gone, [0.0] * len(gone))
            for x, y in pts:
                self.notes.append(ax.annotate(f"{y:.3g}", (x, y), textcoords="offset points",
                                              xytext=(0, 5), ha="center", fontsize=7,
                                              color=color))
            top = max((p[1] for p in pts), default=0.0)
            ax.set_ylim(0, top * 1.25 if top > 0 else 1.0)
        return _png(self.fig)


def lesion_chart(report: LongitudinalReport, track: Track,
                 figure: _LesionFigure | None = None) -> Chart:
    """Volume (mL) and RECIST diameter (mm) of one lesion over time; an X on the axis where
    it was not seen (absent, or merged into another)."""
    if figure is None:
        figure = _LesionFigure(*_x_axis(report))
    items = [lesion_at(report, track, tp.index) for tp in report.timeline.timepoints]
    vols = [it.volume_ml if it.seen else None for it in items]
    diams = [it.recist_diameter_mm if it.seen else None for it in items]
    kind = "short axis" if track.is_lymph_node else "long axis"
    title = f"{lesion_title(track)} ({track.role})"
    return Chart(track.lesion_id, title, figure.draw(title, kind, vols, diams))


def sum_chart(report: LongitudinalReport) -> Chart:
    """Sum of target diameters over time, with the PR threshold (baseline -30 %) and the
    PD threshold at each follow-up (nadir +20 % and at least +5 mm), and the responses."""
    xs, xlabel = _x_axis(report)
    by_tp = {r.timepoint: r for r in report.recist}
    rows = [(x, by_tp.get(tp.index)) for x, tp in zip(xs, report.timeline.timepoints, strict=True)]
    pts = [(x, r.sum_mm, r) for x, r in rows if r is not None and r.sum_mm is not None]
    fig = _figure(6.2, 2.6)
    ax = fig.subplots(1, 1)
    base = by_tp.get(0)
    top = max((p[1] for p in pts), default=0.0)
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=_BLUE, marker="o",
                markersize=5, linewidth=1.8, label="sum of diameters")
        for x, y, r in pts:
            label = r.overall_response if r.timepoint > 0 else "baseline"
            ax.annotate(f"{y:.1f} mm\n{label}", (x, y), textcoords="offset points",
                        xytext=(0, 7), ha="center", fontsize=7)
    if base is not None and base.sum_mm:
        pr = 0.7 * base.sum_mm
        ax.axhline(pr, color=_GREEN, linestyle="--", linewidth=1,
                   label=f"PR threshold: baseline -30 % ({pr:.1f} mm)")
        top = max(top, pr)
    pd_x, pd_y = [], []
    for x, r in rows:
        if r is not None and r.timepoint > 0 and r.nadir_mm is not None:
            pd_x.append(x)
            pd_y.append(max(1.2 * r.nadir_mm, r.nadir_mm + 5.0))
    if pd_x:
        ax.plot(pd_x, pd_y, color=_RED, linestyle="none", marker="_", markersize=16,
                markeredgewidth=2, label="PD threshold: nadir +20 % and at least +5 mm")
        top = max(top, max(pd_y))
    _style(ax, xlabel, "sum of diameters (mm)", xs)
    ax.set_ylim(0, top * 1.3 if top > 0 else 1.0)
    ax.set_title("RECIST 1.1: sum of target lesion diameters", fontsize=9, y=1.02)
    if ax.get_legend_handles_labels()[0]:  # nothing to explain when there is no target
        ax.legend(fontsize=7, loc="lower left", frameon=False)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.17, top=0.88)
    return Chart("sum", "RECIST sum of diameters", _png(fig))


def render_charts(report: LongitudinalReport, *, include_non_targets: bool = True) -> list[Chart]:
    """The sum chart first (when RECIST was assessed), then one chart per shown lesion."""
    charts = [sum_chart(report)] if report.recist else []
    tracks = shown_tracks(report, include_non_targets=include_non_targets)
    if tracks:
        figure = _LesionFigure(*_x_axis(report))
        charts += [lesion_chart(report, t, figure) for t in tracks]
    return charts
