"""``report.html``: the longitudinal report as one self-contained page.

Everything is inside the file: CSS inline, every image a ``data:`` URI, no script at all,
and a Content-Security-Policy that forbids scripts and any network access, so the page
opens offline from disk and shows the same thing anywhere.

All text that comes from DICOM headers, files, plugins or the reader (patient name,
descriptions, lesion names, messages, a forecasting plugin's summary...) is HTML-escaped:
it is shown as plain text, never interpreted.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from interval.core.atomic import atomic_open
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

REPORT_HTML = "report.html"

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:14px;color:#1d1d1f;
margin:24px auto;max-width:1200px;padding:0 16px;line-height:1.4}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccc;
padding-bottom:3px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d0d0;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f0f2f5}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.notice{background:#fff4e5;border:1px solid #f0b35a;padding:8px 12px;margin:10px 0;font-weight:600}
.warn{color:#8a4b00}.muted{color:#666}.resp{font-weight:700}
.scroll{overflow-x:auto}.grid td{padding:3px;border:none;text-align:center}
.grid th{background:none;border:none;text-align:center;font-weight:600}
img{display:block;max-width:100%}
.status-absent,.status-merged{color:#888}.status-new{color:#b03000;font-weight:600}
.equivocal{color:#8a4b00;font-style:italic}
@media print{body{margin:0}.scroll{overflow:visible}h2{page-break-after:avoid}}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def e(value: object) -> str:
    """``value`` as HTML text (quotes escaped too)."""
    return html.escape("" if value is None else str(value), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(report: LongitudinalReport, *, charts: Sequence[Chart] = (),
                key_images: Sequence[KeyImage] = ()) -> str:
    """The whole page as text."""
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>Longitudinal report - {e(report.timeline.patient_name or report.timeline.patient_id)}"
        "</title>",
        f"<style>{_CSS}</style></head><body>",
        *_header(report),
        *_timeline(report),
        *_warnings(report),
        *_recist(report),
        *_lesions(report),
        *_forecasts(report),
        *_charts(charts),
        *_key_images(report, key_images),
        *_events(report),
        *_corrections(report),
        *_segmentations(report),
        f"<p class=\"muted\">Made by Interval {e(report.interval_version)}"
        f"{' on ' + e(report.created) if report.created else ''}. Report schema "
        f"{e(report.schema)}.</p>",
        "</body></html>\n",
    ]
    return "\n".join(parts)


def write_report_html(report: LongitudinalReport, path: str | Path, *,
                      charts: Sequence[Chart] = (),
                      key_images: Sequence[KeyImage] = ()) -> Path:
    """Write ``report.html`` atomically; returns the path."""
    target = Path(path)
    text = render_html(report, charts=charts, key_images=key_images)
    try:
        with atomic_open(target, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except OSError as exc:
        raise ReportError(f"could not write the HTML report ({exc.strerror or exc})",
                          path=target) from exc
    return target


# --- sections -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Num:
    """A table cell holding a number (right aligned); ``html`` is already escaped."""

    html: str


def _n(text: str) -> _Num:
    return _Num(e(text))


def _table(header: Iterable[str], rows: Iterable[Iterable[str | _Num]], cls: str = "") -> str:
    """A table; ``header`` and ``rows`` cells are already HTML (escape before!)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    klass = f" class=\"{cls}\"" if cls else ""
    return (f"<div class=\"scroll\"><table{klass}><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def _cell(cell: str | _Num) -> str:
    if isinstance(cell, _Num):
        return f"<td class=\"n\">{cell.html}</td>"
    return f"<td>{cell}</td>"


def _header(report: LongitudinalReport) -> list[str]:
    out = ["<h1>Longitudinal lesion report</h1>"]
    out += [f"<div>{e(line)}</div>" for line in patient_lines(report)]
    notice = model_notice(report)
    if notice:
        out.append(f"<div class=\"notice\">{e(notice)}</div>")
    return out


def _timeline(report: LongitudinalReport) -> list[str]:
    regs = {r.timepoint: r for r in report.registrations}
    rows = []
    for tp in report.timeline.timepoints:
        reg = regs.get(tp.index)
        rows.append([
            e(tp.label), e(tp.study_date.isoformat() if tp.study_date else "unknown"),
            _n("" if tp.days_from_baseline is None else str(tp.days_from_baseline)),
            e(tp.study_description) + (f"<br><span class=\"muted\">accession "
                                       f"{e(tp.accession_number)}</span>"
                                       if tp.accession_number else ""),
            e(series_text(tp)) + f"<br><span class=\"muted\">{e(tp.series.reason)}</span>",
            e(registration_text(reg)) if reg else "<span class=\"muted\">none</span>",
        ])
    return ["<h2>Timeline</h2>",
            _table(["Timepoint", "Date", "Days", "Study", "Series used (and why)",
                    "Registration"], rows)]


def _warnings(report: LongitudinalReport) -> list[str]:
    items = warnings_of(report)
    if not items:
        return []
    return ["<h2>Warnings</h2><ul class=\"warn\">",
            *(f"<li>{e(w)}</li>" for w in items), "</ul>"]


def _recist(report: LongitudinalReport) -> list[str]:
    if not report.recist:
        return ["<h2>RECIST 1.1</h2><p class=\"muted\">Not assessed.</p>"]
    rows = []
    for r in report.recist:
        tp = timepoint_info(report, r.timepoint)
        targets = ", ".join(f"{lid} {fmt(mm)}" for lid, mm in r.target_diameters.items())
        rows.append([
            e(tp.label if tp else r.timepoint), _n(fmt(r.sum_mm, 1, "mm")),
            _n(fmt_pct(r.change_from_baseline_pct)), _n(fmt(r.nadir_mm, 1, "mm")),
            _Num(e(fmt_pct(r.change_from_nadir_pct)) + (
                f"<br>{e(fmt(r.change_from_nadir_mm, 1, 'mm'))}"
                if r.change_from_nadir_mm is not None else "")),
            e(targets or "-"), e(r.target_response), e(r.non_target_response),
            e(new_lesions_text(report, r)), e(equivocal_text(r)),
            f"<span class=\"resp\">{e(r.overall_response)}</span>", e(r.reason),
            _n(fmt(r.total_volume_ml, 2, "mL")), _n(fmt_pct(r.volume_change_pct)),
        ])
    return ["<h2>RECIST 1.1</h2>",
            _table(["Timepoint", "Sum of diameters", "vs baseline", "Nadir", "vs nadir",
                    "Target diameters (mm)", "Target", "Non-target", "New lesions",
                    "Equivocal new lesions", "Overall", "Reason", "Total volume",
                    "Volume change"], rows)]


def _lesions(report: LongitudinalReport) -> list[str]:
    tps = report.timeline.timepoints
    header = ["Lesion", "Organ", "Role"] + [e(tp.label) for tp in tps]
    rows = []
    for track in report.tracks:
        cells = [e(lesion_title(track)), e(track.organ + (" (lymph node)" if track.is_lymph_node
                                                          and track.organ != "lymph node"
                                                          else "")),
                 e(track.role) + (f"<br><span class=\"muted\">{e(track.role_reason)}</span>"
                                  if track.role_reason else "")]
        for tp in tps:
            item = lesion_at(report, track, tp.index)
            status = f"<span class=\"status-{e(item.status)}\">{e(item.status)}</span>"
            if item.merged_into:
                status += f" into {e(item.merged_into)}"
            if item.seen:
                status += (f"<br>{e(fmt(item.recist_diameter_mm, 1, 'mm'))}, "
                           f"{e(fmt(item.volume_ml, 2, 'mL'))}<br>confidence "
                           f"{e(score_text(report.score_of(track, tp.index)))}")
            state = new_lesion_state(report, track.lesion_id, tp.index)
            if state in (NEW_EQUIVOCAL, NEW_CONFIRMED):
                status += f"<br><span class=\"equivocal\">{e(state)} new lesion</span>"
            cells.append(status)
        rows.append(cells)
    return ["<h2>Lesions</h2>",
            "<p class=\"muted\">Per timepoint: status, RECIST diameter (short axis for lymph "
            f"nodes, else long axis), volume, confidence. {e(SCORE_NOTE)}</p>",
            _table(header, rows)]


def _forecasts(report: LongitudinalReport) -> list[str]:
    if not report.forecasts:
        return []
    intro = forecast_intro(report)
    rows = []
    for f, (name, method, when, median, band, status) in zip(
            report.forecasts, forecast_rows(report), strict=True):
        cls = "" if f.default else " class=\"muted\""
        rows.append([f"<span{cls}>{e(name)}</span>", f"<span{cls}>{e(method)}</span>",
                     e(when), _n(median), _n(band), e(status)])
    return ["<h2>Growth forecast (model estimate)</h2>",
            f"<div class=\"notice\">{e(intro[0])}</div>",
            *(f"<p class=\"muted\">{e(line)}</p>" for line in intro[1:]),
            _table([e(h) for h in FORECAST_HEADER], rows)]


def _charts(charts: Sequence[Chart]) -> list[str]:
    if not charts:
        return []
    out = ["<h2>Charts</h2>"]
    for c in charts:
        svg = base64.b64encode(c.svg().encode("utf-8")).decode("ascii")
        out.append(f"<figure style=\"margin:8px 0\"><img src=\"data:image/svg+xml;base64,"
                   f"{svg}\" width=\"{c.width:.0f}\" height=\"{c.height:.0f}\" "
                   f"alt=\"{e(c.title)}\"></figure>")
    return out


def _key_images(report: LongitudinalReport, images: Sequence[KeyImage]) -> list[str]:
    if not images:
        return []
    by_key = {(k.lesion_id, k.timepoint): k for k in images}
    tps = report.timeline.timepoints
    header = ["Lesion"] + [e(tp.label) for tp in tps]
    rows = []
    for track in shown_tracks(report):
        if not any((track.lesion_id, tp.index) in by_key for tp in tps):
            continue
        cells = [f"<b>{e(lesion_title(track))}</b><br>{e(track.role)}"]
        for tp in tps:
            k = by_key.get((track.lesion_id, tp.index))
            cells.append(f"<img src=\"{data_uri(k.png)}\" width=\"{k.width}\" "
                         f"alt=\"{e(k.caption)}\" title=\"{e(k.caption)}\">" if k else "")
        rows.append(cells)
    return ["<h2>Key images</h2>",
            "<p class=\"muted\">Orange: lesion outline; yellow: RECIST long axis; cyan: short "
            "axis. Patient left is on the image right.</p>",
            _table(header, rows, cls="grid")]


def _events(report: LongitudinalReport) -> list[str]:
    if not report.events:
        return []
    rows = [[e(ev.kind),
             e("-" if ev.from_timepoint is None else ev.from_timepoint) + " &rarr; "
             + e(ev.to_timepoint),
             e(", ".join(ev.lesions)), _n(fmt(ev.overlap, 2)), _n(fmt(ev.distance_mm, 1, "mm")),
             e(ev.source)] for ev in report.events]
    return ["<h2>Matching</h2>",
            _table(["Event", "Timepoints", "Lesions", "Overlap (Dice)", "Distance",
                    "Source"], rows)]


def _corrections(report: LongitudinalReport) -> list[str]:
    out: list[str] = []
    changes = reader_change_rows(report)
    if changes:
        out += ["<h2>Values changed by the reader</h2>",
                _table(READER_CHANGE_HEADER, [[e(c) for c in row] for row in changes])]
    lines = correction_lines(report)
    if lines:
        out += ["<h2>Reader corrections applied</h2><ul>",
                *(f"<li>{e(x)}</li>" for x in lines), "</ul>"]
    signed = sign_off_line(report)
    if signed:
        out.append(f"<p><strong>{e(signed)}</strong></p>")
    return out


def _segmentations(report: LongitudinalReport) -> list[str]:
    rows = [[e(label), e(kind), e(text)] for label, kind, text in segmentation_rows(report)]
    if not rows:
        return []
    return ["<h2>Segmentation</h2>", _table(["Timepoint", "Source", "Description"], rows)]
