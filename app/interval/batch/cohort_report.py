"""The cohort report: ``cohort_report.json`` and a plain ``cohort_report.html``.

The JSON (``"schema": 1``) holds the run's counts and every case's record as
``case.json`` has it (status, reason, tasks, seconds, key numbers: RECIST 1.1 per
timepoint, lesion counts, volumes, each lesion's default growth forecast).  The HTML shows
the same as tables: an overview of all cases, then per patient its RECIST table, its
forecasts (model estimates, not measurements) and, for the ``segment`` task, the volume of
every label.  Every text taken from the data (case ids, reasons, dates, names) is
HTML-escaped; the page has no script and loads nothing.  Both files are written atomically.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interval.batch.out_folder import CASES_DIR, COHORT_HTML, COHORT_JSON
from interval.core.atomic import atomic_open

SCHEMA = 1
FORECAST_NOTE = ("Forecasts are model estimates of the growth-forecast plugin with their band, "
                 "not measurements, and not for clinical decisions.")
_STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0 1.5em}"
          "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}"
          "th{background:#eee}td.n{text-align:right}.failed{color:#a00}"
          ".note{color:#555;font-size:90%}")


def cohort_data(records: Sequence[dict[str, Any]], *, skipped: Sequence[str] = (),
                manifest: str = "", cancelled: bool = False) -> dict[str, Any]:
    """What ``cohort_report.json`` holds."""
    import interval

    earlier = set(skipped)
    cases = []
    for r in records:
        outputs = r.get("outputs") or {}
        report, page = outputs.get("report_json"), outputs.get("report_html")
        cases.append({
            "case_id": r.get("case_id"), "status": r.get("status"), "reason": r.get("reason", ""),
            "tasks": list(r.get("tasks") or []), "model": r.get("model"),
            "this_run": r.get("case_id") not in earlier, "seconds": r.get("seconds"),
            "started": r.get("started"), "worker": r.get("worker"),
            "numbers": r.get("numbers") or {}, "warnings": list(r.get("warnings") or []),
            "report": f"{CASES_DIR}/{r.get('case_id')}/{report}" if report else None,
            "report_html": f"{CASES_DIR}/{r.get('case_id')}/{page}" if page else None,
        })
    statuses = [c["status"] for c in cases]
    return {
        "schema": SCHEMA,
        "interval_version": str(interval.__version__),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "manifest": manifest,
        "cancelled": cancelled,
        "counts": {"cases": len(cases), "ok": statuses.count("ok"),
                   "failed": statuses.count("failed"), "not_run": statuses.count("not run"),
                   "finished_earlier": sum(1 for c in cases if not c["this_run"])},
        "cases": cases,
    }


def write_cohort_report(data: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write ``cohort_report.json`` and ``cohort_report.html`` into ``out`` atomically."""
    out = Path(out)
    json_path, html_path = out / COHORT_JSON, out / COHORT_HTML
    with atomic_open(json_path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, allow_nan=False)
    with atomic_open(html_path, "w", encoding="utf-8") as fh:
        fh.write(cohort_html(data))
    return json_path, html_path


def cohort_html(data: dict[str, Any]) -> str:
    """The report as one HTML page (all data text escaped)."""
    counts = data.get("counts") or {}
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
        "<title>Cohort report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Cohort report</h1>",
        f"<p>{_e(counts.get('cases', 0))} case(s): {_e(counts.get('ok', 0))} done, "
        f"{_e(counts.get('failed', 0))} failed, {_e(counts.get('not_run', 0))} not run. "
        f"Made {_e(data.get('created', ''))} by Interval {_e(data.get('interval_version', ''))}"
        f"{' from ' + _e(data['manifest']) if data.get('manifest') else ''}.</p>",
    ]
    if data.get("cancelled"):
        parts.append("<p class=\"failed\">The run was cancelled: some cases did not run.</p>")
    parts.append(_overview(data.get("cases") or []))
    for case in data.get("cases") or []:
        parts.append(_case_section(case))
    parts.append(f"<p class=\"note\">{_e(FORECAST_NOTE)}</p></body></html>\n")
    return "\n".join(parts)


def _overview(cases: list[dict[str, Any]]) -> str:
    head = ("Case", "Status", "Timepoints", "Lesions", "Baseline sum (mm)", "Last response",
            "Change from baseline (%)", "Last volume (mL)", "Forecast date",
            "Forecast target sum (mm)", "Reason")
    rows = []
    for c in cases:
        n = c.get("numbers") or {}
        recist = n.get("recist") or []
        base = recist[0] if recist else {}
        last = recist[-1] if len(recist) > 1 else {}
        status_class = " class=\"failed\"" if c.get("status") == "failed" else ""
        rows.append("<tr>" + "".join([
            f"<td><a href=\"#case-{_e(c.get('case_id'))}\">{_e(c.get('case_id'))}</a></td>",
            f"<td{status_class}>{_e(c.get('status'))}</td>",
            _num_cell(n.get("timepoints"), 0), _num_cell(n.get("lesions"), 0),
            _num_cell(base.get("sum_mm"), 1), f"<td>{_e(last.get('overall_response'))}</td>",
            _num_cell(last.get("change_from_baseline_pct"), 1),
            _num_cell(last.get("total_volume_ml"), 2), f"<td>{_e(n.get('forecast_date'))}</td>",
            _num_cell(n.get("forecast_target_sum_mm"), 1), f"<td>{_e(c.get('reason'))}</td>",
        ]) + "</tr>")
    return _table(head, rows)


def _case_section(case: dict[str, Any]) -> str:
    n = case.get("numbers") or {}
    case_id = case.get("case_id")
    parts = [f"<h2 id=\"case-{_e(case_id)}\">{_e(case_id)}</h2>"]
    if case.get("status") != "ok":
        parts.append(f"<p class=\"failed\">{_e(case.get('status'))}: {_e(case.get('reason'))}</p>")
        return "\n".join(parts)
    links = [f"<a href=\"{_e(case[k])}\">{_e(case[k])}</a>" for k in ("report_html", "report")
             if case.get(k)]
    parts.append(f"<p>Tasks: {_e(', '.join(case.get('tasks') or []))}"
                 f"{'; report: ' + ', '.join(links) if links else ''}</p>")
    recist = n.get("recist") or []
    if recist:
        head = ("Timepoint", "Date", "Days", "Overall", "Target", "Non-target", "Sum (mm)",
                "Change from baseline (%)", "Change from nadir (%)", "Volume (mL)",
                "New lesions")
        rows = ["<tr>" + "".join([
            _num_cell(r.get("timepoint"), 0), f"<td>{_e(r.get('date'))}</td>",
            _num_cell(r.get("days"), 0), f"<td>{_e(r.get('overall_response'))}</td>",
            f"<td>{_e(r.get('target_response'))}</td>",
            f"<td>{_e(r.get('non_target_response'))}</td>", _num_cell(r.get("sum_mm"), 1),
            _num_cell(r.get("change_from_baseline_pct"), 1),
            _num_cell(r.get("change_from_nadir_pct"), 1), _num_cell(r.get("total_volume_ml"), 2),
            _num_cell(r.get("new_lesions"), 0)]) + "</tr>" for r in recist]
        parts.append("<h3>RECIST 1.1</h3>" + _table(head, rows))
    forecasts = n.get("forecasts") or []
    if forecasts:
        head = ("Lesion", "Method", "Status", "Date", "Median (mm)", "Band (mm)", "Note")
        rows = []
        for f in forecasts:
            band = ("" if f.get("lower_mm") is None or f.get("upper_mm") is None
                    else f"{f['lower_mm']:.1f} - {f['upper_mm']:.1f}")
            rows.append("<tr>" + "".join([
                f"<td>{_e(f.get('lesion_id'))}</td>", f"<td>{_e(f.get('method'))}</td>",
                f"<td>{_e(f.get('status'))}</td>", f"<td>{_e(f.get('target_date'))}</td>",
                _num_cell(f.get("median_mm"), 1), f"<td class=\"n\">{_e(band)}</td>",
                f"<td>{_e(f.get('message'))}</td>"]) + "</tr>")
        parts.append("<h3>Growth forecast (model estimate)</h3>" + _table(head, rows))
    volumes = n.get("label_volumes_ml") or []
    if volumes:
        names = list(dict.fromkeys(name for v in volumes for name in (v.get("volumes_ml") or {})))
        head = ("Timepoint", "Date", *(f"{name} (mL)" for name in names))
        rows = ["<tr>" + "".join([_num_cell(v.get("timepoint"), 0),
                                  f"<td>{_e(v.get('date'))}</td>",
                                  *(_num_cell((v.get("volumes_ml") or {}).get(name), 1)
                                    for name in names)]) + "</tr>" for v in volumes]
        parts.append("<h3>Label volumes</h3>" + _table(head, rows))
    for warning in case.get("warnings") or []:
        parts.append(f"<p class=\"note\">Warning: {_e(warning)}</p>")
    return "\n".join(parts)


def _table(head: Sequence[str], rows: list[str]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><tr>{header}</tr>\n" + "\n".join(rows) + "</table>"


def _num_cell(value: Any, digits: int) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "<td class=\"n\"></td>"
    return f"<td class=\"n\">{float(value):.{digits}f}</td>"


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)
