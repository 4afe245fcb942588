"""``report.pdf``: the longitudinal report on A4 pages (ReportLab).

The same content as ``report.html``: patient and timeline, warnings, the RECIST table and
the reasons, the lesion table, the growth forecasts (model estimates), charts, key images
(lesions x timepoints), matching events and segmentation sources.  Text is set in DejaVu
Sans (shipped with matplotlib; Latin, Greek and Cyrillic) when it can be found, else
Helvetica.

ReportLab's ``Paragraph`` parses a small XML markup (``<b>``, ``<font>``...): every text
from DICOM headers, files, plugins or the reader is escaped before it becomes a paragraph,
so it is always shown as typed.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from interval.core.atomic import atomic_path
from interval.longitudinal.key_images import KeyImage
from interval.longitudinal.model import LongitudinalReport
from interval.longitudinal.report_charts import Chart
from interval.longitudinal.report_common import (
    ReportError,
    fmt,
    fmt_pct,
    lesion_at,
    lesion_title,
    shown_tracks,
    timepoint_info,
)
from interval.longitudinal.report_text import (
    FORECAST_HEADER,
    NEW_CONFIRMED,
    NEW_EQUIVOCAL,
    READER_CHANGE_HEADER,
    SCORE_NOTE,
    correction_lines,
    equivocal_text,
    forecast_intro,
    forecast_rows,
    model_notice,
    new_lesion_state,
    new_lesions_text,
    patient_lines,
    reader_change_rows,
    registration_text,
    score_text,
    segmentation_rows,
    series_text,
    sign_off_line,
    warnings_of,
)

REPORT_PDF = "report.pdf"
COLUMNS_PER_ROW = 4  # timepoints per row of the lesion table and the key image grid
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_font_lock = threading.Lock()
_fonts: tuple[str, str] | None = None


def markup_text(text: object) -> str:
    """``text`` safe for a ReportLab paragraph: markup characters escaped, control
    characters removed, line breaks kept as ``<br/>``."""
    plain = _CONTROL.sub(" ", "" if text is None else str(text))
    return escape(plain).replace("\r\n", "\n").replace("\n", "<br/>")


def _dejavu_folder() -> str:
    """matplotlib's font folder, found without importing matplotlib (a third of a second)."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("matplotlib's fonts are not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "mpl-data", "fonts", "ttf")


def _register_fonts() -> tuple[str, str]:
    """(regular, bold) font names: DejaVu Sans from matplotlib when present."""
    global _fonts
    with _font_lock:
        if _fonts is not None:
            return _fonts
        _fonts = ("Helvetica", "Helvetica-Bold")
        try:
            from reportlab.pdfbase import pdfmetrics  # noqa: PLC0415
            from reportlab.pdfbase.ttfonts import TTFont  # noqa: PLC0415

            folder = _dejavu_folder()
            pdfmetrics.registerFont(TTFont("IntervalSans", os.path.join(folder, "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont("IntervalSans-Bold",
                                           os.path.join(folder, "DejaVuSans-Bold.ttf")))
            pdfmetrics.registerFontFamily("IntervalSans", normal="IntervalSans",
                                          bold="IntervalSans-Bold", italic="IntervalSans",
                                          boldItalic="IntervalSans-Bold")
            _fonts = ("IntervalSans", "IntervalSans-Bold")
        except Exception:  # noqa: BLE001 - any font problem: the built-in font will do
            pass
        return _fonts


def write_report_pdf(report: LongitudinalReport, path: str | Path, *,
                     charts: Sequence[Chart] = (), key_images: Sequence[KeyImage] = (),
                     compress: bool = True) -> int:
    """Write ``report.pdf`` atomically; returns the number of pages."""
    target = Path(path)
    data, pages = render_pdf(report, charts=charts, key_images=key_images, compress=compress)
    try:
        with atomic_path(target, suffix=".pdf") as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise ReportError(f"could not write the PDF report ({exc.strerror or exc})",
                          path=target) from exc
    return pages


def render_pdf(report: LongitudinalReport, *, charts: Sequence[Chart] = (),
               key_images: Sequence[KeyImage] = (), compress: bool = True) -> tuple[bytes, int]:
    """The PDF bytes and its page count."""
    from reportlab import rl_config  # noqa: PLC0415
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.platypus import SimpleDocTemplate  # noqa: PLC0415

    # Images as binary streams: ReportLab's ASCII85 text encoding runs in pure Python
    # without its optional C accelerator and triples the time of the whole PDF.
    rl_config.useA85 = 0
    regular, bold = _register_fonts()
    styles = _Styles(regular, bold)
    buf = io.BytesIO()
    tl = report.timeline
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=14 * mm,
        bottomMargin=16 * mm, title="Longitudinal lesion report", author="Interval",
        creator=f"Interval {report.interval_version}", pageCompression=1 if compress else 0,
        invariant=1,
    )
    footer = f"Interval longitudinal report - {tl.patient_name or ''} {tl.patient_id or ''}"

    def on_page(canvas, doc_) -> None:  # noqa: ANN001 - ReportLab callback
        canvas.saveState()
        canvas.setFont(regular, 7)
        canvas.setFillGray(0.4)
        canvas.drawString(14 * mm, 8 * mm, _CONTROL.sub(" ", footer)[:150])
        canvas.drawRightString(A4[0] - 14 * mm, 8 * mm, f"page {doc_.page}")
        canvas.restoreState()

    story = _story(report, styles, doc.width, charts, key_images)
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue(), int(doc.page)


class _Styles:
    def __init__(self, regular: str, bold: str) -> None:
        from reportlab.lib import colors  # noqa: PLC0415
        from reportlab.lib.styles import ParagraphStyle  # noqa: PLC0415

        self.regular, self.bold = regular, bold
        self.body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=11.5)
        self.small = ParagraphStyle("small", fontName=regular, fontSize=7.5, leading=9)
        self.muted = ParagraphStyle("muted", parent=self.small, textColor=colors.grey)
        self.h1 = ParagraphStyle("h1", fontName=bold, fontSize=16, leading=20, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", fontName=bold, fontSize=12, leading=15, spaceBefore=10,
                                 spaceAfter=4)
        self.notice = ParagraphStyle("notice", parent=self.body, fontName=bold,
                                     backColor=colors.HexColor("#fff4e5"),
                                     borderColor=colors.HexColor("#f0b35a"), borderWidth=0.8,
                                     borderPadding=5, spaceBefore=6, spaceAfter=8)
        self.warn = ParagraphStyle("warn", parent=self.body,
                                   textColor=colors.HexColor("#8a4b00"))


def _p(text: object, style) -> object:  # noqa: ANN001
    from reportlab.platypus import Paragraph  # noqa: PLC0415

    return Paragraph(markup_text(text), style)


def _table(rows: list[list[object]], widths: list[float] | None, styles: _Styles,
           *, header: bool = True, grid: bool = True) -> object:
    from reportlab.lib import colors  # noqa: PLC0415
    from reportlab.platypus import Table, TableStyle  # noqa: PLC0415

    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    if grid:
        commands.append(("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c8c8c8")))
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef0f4")))
    return Table(rows, colWidths=widths, style=TableStyle(commands), repeatRows=1 if header else 0,
                 hAlign="LEFT")


def _story(report: LongitudinalReport, s: _Styles, width: float, charts: Sequence[Chart],
           key_images: Sequence[KeyImage]) -> list[object]:
    from reportlab.platypus import Spacer  # noqa: PLC0415

    story: list[object] = [_p("Longitudinal lesion report", s.h1)]
    story += [_p(line, s.body) for line in patient_lines(report)]
    notice = model_notice(report)
    if notice:
        story.append(_p(notice, s.notice))
    story += _timeline(report, s, width)
    warnings = warnings_of(report)
    if warnings:
        story.append(_p("Warnings", s.h2))
        story += [_p("- " + w, s.warn) for w in warnings]
    story += _recist(report, s, width)
    story += _lesions(report, s, width)
    story += _forecasts(report, s, width)
    story += _charts(charts, s, width)
    story += _key_images(report, key_images, s, width)
    story += _events(report, s, width)
    changes = reader_change_rows(report)
    if changes:
        story.append(_p("Values changed by the reader", s.h2))
        story.append(_table([[_p(h, s.small) for h in READER_CHANGE_HEADER]]
                            + [[_p(c, s.small) for c in row] for row in changes],
                            [0.14 * width, 0.2 * width, 0.22 * width, 0.22 * width,
                             0.22 * width], s))
    corrections = correction_lines(report)
    if corrections:
        story.append(_p("Reader corrections applied", s.h2))
        story += [_p("- " + line, s.small) for line in corrections]
    signed = sign_off_line(report)
    if signed:
        story.append(_p(signed, s.h2))
    rows = segmentation_rows(report)
    if rows:
        story.append(_p("Segmentation", s.h2))
        story.append(_table([[_p(h, s.small) for h in ("Timepoint", "Source", "Description")]]
                            + [[_p(a, s.small), _p(b, s.small), _p(c, s.small)]
                               for a, b, c in rows],
                            [0.16 * width, 0.1 * width, 0.74 * width], s))
    story.append(Spacer(1, 8))
    story.append(_p(f"Made by Interval {report.interval_version}"
                    + (f" on {report.created}" if report.created else "")
                    + f". Report schema {report.schema}.", s.muted))
    return story


def _timeline(report: LongitudinalReport, s: _Styles, width: float) -> list[object]:
    regs = {r.timepoint: r for r in report.registrations}
    rows = [[_p(h, s.small) for h in ("Timepoint", "Date", "Days", "Series used (and why)",
                                      "Registration")]]
    for tp in report.timeline.timepoints:
        reg = regs.get(tp.index)
        study = tp.study_description + (f" (accession {tp.accession_number})"
                                         if tp.accession_number else "")
        rows.append([
            _p(tp.label, s.small),
            _p(tp.study_date.isoformat() if tp.study_date else "unknown", s.small),
            _p("" if tp.days_from_baseline is None else tp.days_from_baseline, s.small),
            _p(f"{series_text(tp)}\n{tp.series.reason}\n{study}".strip(), s.small),
            _p(registration_text(reg) if reg else "none", s.small),
        ])
    return [_p("Timeline", s.h2),
            _table(rows, [0.13 * width, 0.11 * width, 0.06 * width, 0.38 * width,
                          0.32 * width], s)]


def _recist(report: LongitudinalReport, s: _Styles, width: float) -> list[object]:
    out: list[object] = [_p("RECIST 1.1", s.h2)]
    if not report.recist:
        return [*out, _p("Not assessed.", s.body)]
    head = ("Timepoint", "Sum", "vs baseline", "Nadir", "vs nadir", "Target", "Non-target",
            "New", "Equivocal", "Overall", "Volume")
    rows = [[_p(h, s.small) for h in head]]
    for r in report.recist:
        tp = timepoint_info(report, r.timepoint)
        nadir_change = fmt_pct(r.change_from_nadir_pct)
        if r.change_from_nadir_mm is not None:
            nadir_change += f"\n{fmt(r.change_from_nadir_mm, 1, 'mm')}"
        rows.append([_p(x, s.small) for x in (
            tp.label if tp else r.timepoint, fmt(r.sum_mm, 1, "mm"),
            fmt_pct(r.change_from_baseline_pct), fmt(r.nadir_mm, 1, "mm"), nadir_change,
            r.target_response, r.non_target_response, new_lesions_text(report, r),
            equivocal_text(r), r.overall_response,
            f"{fmt(r.total_volume_ml, 2, 'mL')}\n{fmt_pct(r.volume_change_pct)}",
        )])
    widths = [0.12, 0.08, 0.09, 0.08, 0.09, 0.07, 0.11, 0.1, 0.1, 0.07, 0.09]
    out.append(_table(rows, [w * width for w in widths], s))
    for r in report.recist:
        tp = timepoint_info(report, r.timepoint)
        targets = ", ".join(f"{lid} {fmt(mm)} mm" for lid, mm in r.target_diameters.items())
        text = f"{tp.label if tp else r.timepoint}: {r.overall_response} - {r.reason}"
        if targets:
            text += f" (targets: {targets})"
        out.append(_p(text, s.small))
    return out


def _chunks(items: Sequence, n: int) -> list[Sequence]:
    return [items[i:i + n] for i in range(0, len(items), n)] or [items]


def _lesions(report: LongitudinalReport, s: _Styles, width: float) -> list[object]:
    out: list[object] = [_p("Lesions", s.h2),
                         _p("Per timepoint: status, RECIST diameter (short axis for lymph "
                            "nodes, else long axis), volume, confidence. " + SCORE_NOTE,
                            s.muted)]
    for tps in _chunks(report.timeline.timepoints, COLUMNS_PER_ROW):
        rows = [[_p(h, s.small) for h in ("Lesion", "Role", *(tp.label for tp in tps))]]
        for track in report.tracks:
            cells = [_p(f"{lesion_title(track)}", s.small),
                     _p(track.role + (f"\n{track.role_reason}" if track.role_reason else ""),
                        s.small)]
            for tp in tps:
                item = lesion_at(report, track, tp.index)
                text = item.status + (f" into {item.merged_into}" if item.merged_into else "")
                if item.seen:
                    text += (f"\n{fmt(item.recist_diameter_mm, 1, 'mm')}, "
                             f"{fmt(item.volume_ml, 2, 'mL')}\nconfidence "
                             f"{score_text(report.score_of(track, tp.index))}")
                state = new_lesion_state(report, track.lesion_id, tp.index)
                if state in (NEW_EQUIVOCAL, NEW_CONFIRMED):
                    text += f"\n{state} new lesion"
                cells.append(_p(text, s.small))
            rows.append(cells)
        rest = 0.62 * width / max(len(tps), 1)
        out.append(_table(rows, [0.18 * width, 0.2 * width] + [rest] * len(tps), s))
    return out


def _forecasts(report: LongitudinalReport, s: _Styles, width: float) -> list[object]:
    if not report.forecasts:
        return []
    intro = forecast_intro(report)
    out: list[object] = [_p("Growth forecast (model estimate)", s.h2), _p(intro[0], s.notice)]
    out += [_p(line, s.small) for line in intro[1:]]
    rows = [[_p(h, s.small) for h in FORECAST_HEADER]]
    rows += [[_p(x, s.small if f.default else s.muted) for x in row]
             for f, row in zip(report.forecasts, forecast_rows(report), strict=True)]
    widths = [0.15, 0.2, 0.17, 0.12, 0.14, 0.22]
    out.append(_table(rows, [w * width for w in widths], s))
    return out


def _image(png: bytes, width: float, px_width: int, px_height: int) -> object:
    from reportlab.platypus import Image  # noqa: PLC0415

    return Image(io.BytesIO(png), width=width, height=width * px_height / max(px_width, 1))


def _charts(charts: Sequence[Chart], s: _Styles, width: float) -> list[object]:
    if not charts:
        return []
    font = _register_fonts()[0]
    out: list[object] = [_p("Charts", s.h2)]
    for c in charts:
        drawing = c.draw(font)  # vector: sharp at any zoom
        scale = min(1.0, width / max(c.width, 1.0))
        if scale < 1.0:
            drawing.scale(scale, scale)
            drawing.width, drawing.height = c.width * scale, c.height * scale
        out.append(drawing)
    return out


def _key_images(report: LongitudinalReport, images: Sequence[KeyImage], s: _Styles,
                width: float) -> list[object]:
    if not images:
        return []
    from reportlab.platypus import CondPageBreak  # noqa: PLC0415

    by_key = {(k.lesion_id, k.timepoint): k for k in images}
    out: list[object] = [CondPageBreak(80 * 72 / 25.4), _p("Key images", s.h2),
                         _p("Orange: lesion outline; yellow: RECIST long axis; cyan: short "
                            "axis. Patient left is on the image right.", s.muted)]
    tracks = [t for t in shown_tracks(report)
              if any((t.lesion_id, tp.index) in by_key for tp in report.timeline.timepoints)]
    label_w = 0.14 * width
    for tps in _chunks(report.timeline.timepoints, COLUMNS_PER_ROW):
        cell_w = (width - label_w) / COLUMNS_PER_ROW
        rows = [[_p("", s.small)] + [_p(tp.label, s.small) for tp in tps]]
        for track in tracks:
            row: list[object] = [_p(f"{lesion_title(track)}\n{track.role}", s.small)]
            for tp in tps:
                k = by_key.get((track.lesion_id, tp.index))
                row.append(_image(k.png, cell_w - 6, k.width, k.height) if k
                           else _p("", s.small))
            rows.append(row)
        out.append(_table(rows, [label_w] + [cell_w] * len(tps), s, grid=False))
    return out


def _events(report: LongitudinalReport, s: _Styles, width: float) -> list[object]:
    if not report.events:
        return []
    rows = [[_p(h, s.small) for h in ("Event", "Timepoints", "Lesions", "Overlap (Dice)",
                                      "Distance", "Source")]]
    for ev in report.events:
        frm = "-" if ev.from_timepoint is None else str(ev.from_timepoint)
        rows.append([_p(x, s.small) for x in (
            ev.kind, f"{frm} -> {ev.to_timepoint}", ", ".join(ev.lesions), fmt(ev.overlap, 2),
            fmt(ev.distance_mm, 1, "mm"), ev.source)])
    return [_p("Matching", s.h2),
            _table(rows, [w * width for w in (0.14, 0.14, 0.3, 0.14, 0.14, 0.14)], s)]
