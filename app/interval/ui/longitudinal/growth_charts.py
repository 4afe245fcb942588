"""Growth charts of the longitudinal workspace, drawn with pyqtgraph (Qt-native).

* :class:`LesionGrowthChart`: one lesion's volume and RECIST diameter over time (an X on
  the axis where it has no region of its own).  The diameter plot also shows the growth
  forecast: the default (network) method's median as a dashed line from the last
  measurement to the target day, its band (80 %) shaded and an error bar at the target day,
  and each classical method as a thin line of its own colour, with a legend.
* :class:`SumChart`: the sum of target diameters with the responses, the PR threshold
  (baseline -30 %) and the PD threshold at each follow-up (nadir +20 % and at least +5 mm).

The series come from :mod:`interval.longitudinal.chart_data` (the report's charts show the
same).  Lesion names and method labels are user / plugin text: every pyqtgraph label that
takes markup gets it escaped, value labels are plain-text items, tooltips are
:func:`~interval.ui.plain_text.plain_tooltip`.  :meth:`export_png` / :meth:`export_svg`
write the whole chart atomically.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph import exporters
from PySide6.QtCore import QBuffer, QIODevice, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QVBoxLayout, QWidget

from interval.core.atomic import atomic_open, atomic_path
from interval.core.errors import IntervalError
from interval.longitudinal.chart_data import (
    ForecastPoint,
    LesionSeries,
    SumSeries,
    lesion_series,
    sum_series,
)
from interval.longitudinal.model import LongitudinalReport
from interval.longitudinal.report_charts import BLUE, GREEN, GREY, ORANGE, PURPLE, RED
from interval.ui.plain_text import plain_label, plain_tooltip

BAND_ALPHA = 46  # the forecast band: PURPLE at 18 % opacity, as in the report
FIT_COLOURS = ("#2e8b57", "#8c564b", "#17a2b8", "#b8860b", "#d63384", "#556b2f", GREY)
TEXT = "#202020"


class ChartExportError(IntervalError):
    """A chart could not be written to a file."""


def band_colour() -> QColor:
    """The forecast band's brush colour (with its alpha)."""
    c = QColor(PURPLE)
    c.setAlpha(BAND_ALPHA)
    return c


def _esc(text: str) -> str:
    """Text for a pyqtgraph label that renders markup (LabelItem, legend): shown literally."""
    return html.escape(str(text))


def _mm(v: float) -> str:
    return f"{v:.3g} mm"


class _ChartWidget(QWidget):
    """A pyqtgraph layout on white with a plain-text note below; exports itself."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget(self)
        self.view.setBackground("w")
        self.note = plain_label("", self)
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.view, 1)
        box.addWidget(self.note)
        self.title = self.view.addLabel("", row=0, col=0, colspan=2, color=TEXT, size="10pt")
        # one legend below the plots (inside a plot it would hide the forecast)
        self.legend = pg.LegendItem(colCount=1, labelTextColor=TEXT, labelTextSize="8pt",
                                    verSpacing=-4)
        self.view.addItem(self.legend, row=2, col=0, colspan=2)

    def _new_plot(self, row: int, col: int, colspan: int = 1) -> pg.PlotItem:
        plot = self.view.addPlot(row=row, col=col, colspan=colspan)
        plot.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(TEXT))
            axis.setTextPen(pg.mkPen(TEXT))
        plot.setMenuEnabled(False)
        return plot

    def _add(self, plot: pg.PlotItem, item: Any, legend: str | None = None) -> Any:
        """Add ``item`` to ``plot``, and to the legend as ``legend`` (plain text)."""
        plot.addItem(item)
        if legend is not None:
            self.legend.addItem(item, _esc(legend))
        return item

    def legend_texts(self) -> list[str]:
        """The legend's entries as shown (plain text)."""
        return [label.item.toPlainText() for _, label in self.legend.items]

    def _set_title(self, text: str) -> None:
        self.title.setText(_esc(text), color=TEXT, size="10pt")

    def title_text(self) -> str:
        """The chart's title as shown (plain text)."""
        return self.title.item.toPlainText()

    def _set_note(self, lines: list[str]) -> None:
        self.note.setText("\n".join(lines))
        self.note.setVisible(bool(lines))

    # --- export -------------------------------------------------------------------------
    def export_png(self, path: str | Path, *, width: int | None = None) -> Path:
        """Write the chart as a PNG (``width`` pixels wide, default its size on screen)."""
        path = Path(path)
        exporter = exporters.ImageExporter(self.view.ci)
        if width:
            exporter.parameters()["width"] = int(width)
        image = exporter.export(toBytes=True)
        try:
            with atomic_path(path, suffix=".png") as tmp:
                if image is None or image.isNull() or not image.save(str(tmp), "PNG"):
                    raise OSError("the image could not be encoded or written")
        except OSError as exc:
            raise ChartExportError(f"could not write the chart: {exc.strerror or exc}",
                                   path=path) from exc
        return path

    def export_svg(self, path: str | Path) -> Path:
        """Write the chart as an SVG document (vector; text as text)."""
        path = Path(path)
        data = self.svg_bytes()
        try:
            with atomic_open(path, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise ChartExportError(f"could not write the chart: {exc.strerror or exc}",
                                   path=path) from exc
        return path

    def svg_bytes(self) -> bytes:
        """The chart as SVG, drawn by Qt's SVG generator.

        pyqtgraph 0.14.0's ``SVGExporter`` fails on the closed paths that Qt 6 writes
        ("Z"; pyqtgraph issue #3495), so the scene is rendered into a
        :class:`QSvgGenerator` directly; every range is set to hold its data, so nothing
        relies on clipping.
        """
        source = self.view.ci.sceneBoundingRect()
        size = QSize(max(1, round(source.width())), max(1, round(source.height())))
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        generator = QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setSize(size)
        generator.setViewBox(QRect(0, 0, size.width(), size.height()))
        generator.setTitle(self.title_text() or "Interval chart")
        generator.setDescription("Interval growth chart")
        painter = QPainter(generator)
        try:
            painter.fillRect(QRectF(0, 0, size.width(), size.height()), QColor("white"))
            self.view.scene().render(painter, QRectF(0, 0, size.width(), size.height()),
                                     source)
        finally:
            painter.end()
        return bytes(buffer.data())


def _limits(xs: list[float]) -> tuple[float, float]:
    if not xs:
        return 0.0, 1.0
    span = (max(xs) - min(xs)) or 1.0
    return min(xs) - 0.1 * span, max(xs) + 0.1 * span


def _points(xs: list[float], ys: list[float], colour: str, symbol: str, tips: list[str],
            size: float = 8, pen_width: float = 1.0) -> pg.ScatterPlotItem:
    """Markers with a plain-text tooltip each (shown on hover)."""
    item = pg.ScatterPlotItem(
        x=np.asarray(xs, float), y=np.asarray(ys, float), symbol=symbol, size=size,
        pen=pg.mkPen(colour, width=pen_width), brush=pg.mkBrush(colour), hoverable=True,
        antialias=True,
        data=list(tips), tip=lambda x, y, data: plain_tooltip(data),
    )
    return item


def _value_text(plot: pg.PlotItem, x: float, y: float, text: str, colour: str) -> pg.TextItem:
    item = pg.TextItem(text, color=colour, anchor=(0.5, 1.15))  # plain text
    item.setPos(x, y)
    plot.addItem(item)
    return item


class LesionGrowthChart(_ChartWidget):
    """Volume and RECIST diameter of one lesion over time, with its forecast."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesion-growth-chart")
        self.volume_plot = self._new_plot(1, 0)
        self.diameter_plot = self._new_plot(1, 1)
        self.series: LesionSeries | None = None
        self.volume_curve: pg.PlotDataItem | None = None
        self.diameter_curve: pg.PlotDataItem | None = None
        self.absent_markers: dict[str, pg.ScatterPlotItem] = {}  # "volume"/"diameter"
        self.band: pg.FillBetweenItem | None = None
        self.error_bar: pg.ErrorBarItem | None = None
        self.median_line: pg.PlotDataItem | None = None
        self.fit_lines: dict[str, pg.PlotDataItem] = {}  # method -> line
        self.value_texts: list[pg.TextItem] = []
        self.clear()

    def clear(self) -> None:
        """Show nothing (no lesion)."""
        for plot in (self.volume_plot, self.diameter_plot):
            plot.clear()
        self.legend.clear()
        self.series = None
        self.volume_curve = self.diameter_curve = None
        self.absent_markers = {}
        self.band = self.error_bar = self.median_line = None
        self.fit_lines = {}
        self.value_texts = []
        self._set_title("")
        self._set_note([])

    def set_lesion(self, report: LongitudinalReport, lesion_id: str) -> None:
        """Show ``lesion_id`` of ``report`` (:class:`ChartDataError` if it is not there)."""
        self.show_series(lesion_series(report, lesion_id))

    def show_series(self, series: LesionSeries) -> None:
        self.clear()
        self.series = series
        self._set_title(f"{series.title} ({series.role})")
        forecast = series.default_forecast()
        fits = series.classical_forecasts()
        extra_x = ([forecast.target_day] if forecast else []) + [p.target_day for _, p in fits]
        xs = list(series.days) + [x for x in extra_x if x is not None]
        self.volume_curve = self._measured(self.volume_plot, "volume", series,
                                           series.volumes_ml, "volume (mL)", BLUE, "o", " mL")
        self.diameter_curve = self._measured(
            self.diameter_plot, "diameter", series, series.diameters_mm,
            f"diameter (mm, {series.kind})", ORANGE, "s", " mm")
        tops = [v for v in series.diameters_mm if v is not None]
        if forecast is not None:
            tops += self._draw_forecast(series, forecast)
        for n, (group, point) in enumerate(fits):
            tops.append(self._draw_fit(series, group.method, group.label, point,
                                       FIT_COLOURS[n % len(FIT_COLOURS)]))
        vols = [v for v in series.volumes_ml if v is not None]
        self.volume_plot.setXRange(*_limits(list(series.days)), padding=0)
        self.volume_plot.setYRange(0.0, (max(vols, default=0.0) or 1.0) * 1.3, padding=0)
        self.diameter_plot.setXRange(*_limits(xs), padding=0)
        self.diameter_plot.setYRange(0.0, (max(tops, default=0.0) or 1.0) * 1.3, padding=0)
        self._set_note(self._notes(series))

    def _measured(self, plot: pg.PlotItem, name: str, series: LesionSeries,
                  values: tuple[float | None, ...], ylabel: str, colour: str, symbol: str,
                  unit: str) -> pg.PlotDataItem:
        plot.setLabel("bottom", _esc(series.x_label), color=TEXT)
        plot.setLabel("left", _esc(ylabel), color=TEXT)
        plot.setTitle(_esc(name if name == "volume" else f"RECIST diameter ({series.kind})"),
                      color=TEXT, size="9pt")
        labels = dict(zip(series.days, series.timepoint_labels, strict=True))
        pts = series.measured(values)
        curve = self._add(plot, pg.PlotDataItem([p[0] for p in pts], [p[1] for p in pts],
                                                pen=pg.mkPen(colour, width=2), antialias=True),
                          name)
        if pts:
            plot.addItem(_points([p[0] for p in pts], [p[1] for p in pts], colour, symbol,
                                 [f"{labels[x]}: {y:.3g}{unit}" for x, y in pts]))
            for x, y in pts:
                self.value_texts.append(_value_text(plot, x, y, f"{y:.3g}", colour))
        missing = series.missing_days(values)
        if missing:
            status = dict(zip(series.days, series.statuses, strict=True))
            marks = _points(missing, [0.0] * len(missing), GREY, "x", [
                f"{labels[x]}: not measured ({status[x]})" for x in missing], size=11)
            plot.addItem(marks)
            self.absent_markers[name] = marks
        return curve

    def _draw_forecast(self, series: LesionSeries, f: ForecastPoint) -> list[float]:
        """Median dashed from the last measurement, band shaded, error bar; the y values."""
        plot = self.diameter_plot
        x0, y0 = series.last_diameter()  # type: ignore[misc]  (default_forecast checked it)
        x1, med = float(f.target_day), float(f.median_mm)  # type: ignore[arg-type]
        label = next(g.label for g in series.forecasts if g.default)
        text = f"{label}: model estimate {_mm(med)}"
        values = [med]
        if f.has_band:
            lo, hi = float(f.lower_mm), float(f.upper_mm)  # type: ignore[arg-type]
            values += [lo, hi]
            edge = pg.mkPen(None)
            lower = pg.PlotCurveItem([x0, x1], [y0, lo], pen=edge, antialias=True)
            upper = pg.PlotCurveItem([x0, x1], [y0, hi], pen=edge, antialias=True)
            self.band = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(band_colour()))
            for item in (lower, upper, self.band):
                plot.addItem(item)
            beam = 0.025 * ((max([*series.days, x1]) - min(series.days)) or 1.0)
            self.error_bar = pg.ErrorBarItem(x=np.array([x1]), y=np.array([med]),
                                             top=np.array([hi - med]),
                                             bottom=np.array([med - lo]), beam=beam,
                                             pen=pg.mkPen(PURPLE, width=1.5))
            plot.addItem(self.error_bar)
            text += f" ({lo:.3g}-{hi:.3g}, {(f.interval or 0.8) * 100:.0f} %)"
        if f.status == "widened":
            text += ", widened"
        self.median_line = self._add(plot, pg.PlotDataItem(
            [x0, x1], [y0, med], antialias=True,
            pen=pg.mkPen(PURPLE, width=1.5, style=Qt.PenStyle.DashLine)), text)
        plot.addItem(_points([x1], [med], PURPLE, "o", [self._forecast_tip(label, f)], size=7))
        return values

    def _draw_fit(self, series: LesionSeries, method: str, label: str, f: ForecastPoint,
                  colour: str) -> float:
        """A classical method's forecast: a thin line from the last measurement."""
        x0, y0 = series.last_diameter()  # type: ignore[misc]
        x1, med = float(f.target_day), float(f.median_mm)  # type: ignore[arg-type]
        line = self._add(self.diameter_plot, pg.PlotDataItem(
            [x0, x1], [y0, med], pen=pg.mkPen(colour, width=1), antialias=True),
            f"{label}: {_mm(med)}")
        self.diameter_plot.addItem(_points([x1], [med], colour, "t",
                                           [self._forecast_tip(label, f)], size=7))
        self.fit_lines.setdefault(method, line)
        return med

    @staticmethod
    def _forecast_tip(label: str, f: ForecastPoint) -> str:
        text = f"{label}, day {f.target_day:g}: {_mm(f.median_mm)}"  # type: ignore[arg-type]
        if f.has_band:
            text += f" ({f.lower_mm:.3g}-{f.upper_mm:.3g})"
        text += " - a model estimate, not a measurement"
        if f.status != "ok":
            text += f"\n{f.status}: {f.message}" if f.message else f"\n{f.status}"
        return text

    @staticmethod
    def _notes(series: LesionSeries) -> list[str]:
        """Why a forecast is missing or widened (plugin text, shown as plain text)."""
        notes = []
        for group in series.forecasts:
            for p in group.points:
                if p.status != "ok" or not p.plottable:
                    why = p.message or ("no number" if not p.plottable else p.status)
                    notes.append(f"{group.label}: {p.status} - {why}")
        if series.forecasts and not series.on_days:
            notes.append("The forecast is not drawn: the timepoints have no dates.")
        return notes


class SumChart(_ChartWidget):
    """The RECIST sum of target diameters with the PR and PD thresholds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recist-sum-chart")
        self.plot = self._new_plot(1, 0, colspan=2)
        self.series: SumSeries | None = None
        self.sum_curve: pg.PlotDataItem | None = None
        self.pr_line: pg.PlotDataItem | None = None
        self.pd_marks: pg.ScatterPlotItem | None = None
        self.texts: list[pg.TextItem] = []
        self.clear()

    def clear(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.series = None
        self.sum_curve = self.pr_line = self.pd_marks = None
        self.texts = []
        self._set_title("")
        self._set_note([])

    def set_report(self, report: LongitudinalReport) -> None:
        """Show the sum of target diameters of ``report``."""
        self.show_series(sum_series(report))

    def show_series(self, series: SumSeries) -> None:
        self.clear()
        self.series = series
        plot = self.plot
        self._set_title("RECIST 1.1: sum of target lesion diameters")
        plot.setLabel("bottom", _esc(series.x_label), color=TEXT)
        plot.setLabel("left", "sum of diameters (mm)", color=TEXT)
        x_lo, x_hi = _limits(list(series.days))
        margin = 0.08 * (x_hi - x_lo)  # room for the first and last point's labels
        x_lo, x_hi = x_lo - margin, x_hi + margin
        pts = series.measured()
        labels = dict(zip(series.days, series.timepoint_labels, strict=True))
        self.sum_curve = self._add(plot, pg.PlotDataItem(
            [p[0] for p in pts], [p[1] for p in pts], pen=pg.mkPen(BLUE, width=2),
            antialias=True), "sum of diameters")
        if pts:
            plot.addItem(_points([p[0] for p in pts], [p[1] for p in pts], BLUE, "o",
                                 [f"{labels[x]}: {s:.1f} mm, {r}" for x, s, r in pts]))
        for x, s, r in pts:
            self.texts.append(_value_text(plot, x, s, f"{s:.1f} mm  {r}", TEXT))
        tops = [p[1] for p in pts]
        if series.pr_threshold_mm is not None:
            pr = series.pr_threshold_mm
            self.pr_line = self._add(plot, pg.PlotDataItem(
                [x_lo, x_hi], [pr, pr], pen=pg.mkPen(GREEN, width=1.5, style=Qt.PenStyle.DashLine)),
                f"PR threshold: baseline -30 % ({pr:.1f} mm)")
            tops.append(pr)
        if series.pd_thresholds:
            xs = [p[0] for p in series.pd_thresholds]
            ys = [p[1] for p in series.pd_thresholds]
            self.pd_marks = _points(xs, ys, RED, "_", [
                f"{labels[x]}: PD from {y:.1f} mm (nadir +20 % and at least +5 mm)"
                for x, y in zip(xs, ys, strict=True)], size=22, pen_width=2.5)
            self._add(plot, self.pd_marks, "PD threshold: nadir +20 % and at least +5 mm")
            tops += ys
        unknown = [x for x, s, r in zip(series.days, series.sums_mm, series.responses,
                                        strict=True) if s is None and r]
        if unknown:
            plot.addItem(_points(unknown, [0.0] * len(unknown), GREY, "x",
                                 [f"{labels[x]}: sum not evaluable" for x in unknown], size=11))
        plot.setXRange(x_lo, x_hi, padding=0)
        plot.setYRange(0.0, (max(tops, default=0.0) or 1.0) * 1.3, padding=0)
        self._set_note([] if pts else ["No RECIST sum in this report."])


def chart_items(plot: pg.PlotItem, kind: type) -> list[Any]:
    """The items of ``kind`` in ``plot`` (for tests and callers that inspect a chart)."""
    return [item for item in plot.items if isinstance(item, kind)]
