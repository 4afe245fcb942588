"""``report.json``: the whole longitudinal analysis as documented, versioned JSON.

:func:`write_report_json` writes :meth:`LongitudinalReport.to_dict` (keys sorted,
indented, UTF-8, atomically); :func:`read_report` reads it back into a
:class:`~interval.longitudinal.model.LongitudinalReport`.

Schema, version 1
=================

Conventions: positions are DICOM patient coordinates (LPS, mm); voxel indices are
``[k, j, i]`` (slice, row, column) of that timepoint's own grid; timepoints are numbered
from 0 (the baseline) in date order; dates are ISO ``YYYY-MM-DD``; an unknown value is
``null``; a number that is not finite is written as ``null``; ``tp`` keys of objects are
timepoint indices written as text (``"0"``, ``"1"``...).

Top level
---------
``schema``             1 (this version; a reader refuses a newer one)
``interval_version``   Interval version that wrote the file
``created``            ISO 8601 time the report was made
``timeline``           the patient and the examinations (below)
``registrations[]``    how each timepoint was aligned (below)
``measurements[]``     every lesion region found at every timepoint (below)
``tracks[]``           lesions followed across the timeline (below)
``events[]``           decisions of the matcher or the reader (below)
``recist[]``           RECIST 1.1 per timepoint (below)
``segmentations[]``    where each timepoint's lesion segmentation came from (below)
``corrections[]``      the reader's corrections as applied (operations of the corrections
                       sidecar, each an object with at least ``op``)
``warnings[]``         sentences for the reader about the whole analysis
``timings``            phase name -> seconds ("forecast" when a growth forecast was made)
``outputs``            what -> file path relative to the output folder: "report_json",
                       "lesions_csv", "report_html", "report_pdf", "seg_tpN", "sr_tpN",
                       "key_image_<lesion>_tpN", "transform_tpN", "labels_tpN" (N numbers
                       timepoints from 1, the baseline, as the file names do),
                       "forecasts_csv"
``forecasts[]``        growth forecasts of the lesions: model estimates, never
                       measurements (below; empty when none was made)
``forecast_note``      the forecasting plugin's own statement: what its model was trained
                       on and what it is not validated for (plain text)
``forecast_source``    the analyzer and its plugin (name, id, version, source)
``forecast_version``   the version of that plugin
``signed_off_by``      the name the reader typed to sign the report off (workspace export;
                       "" when not signed off)
``signed_off_at``      ISO 8601 time of the sign-off ("" when not signed off)
``reader_changes[]``   values the reader changed: ``lesion_id``, ``timepoint`` (null: the whole
                       lesion or a RECIST row), ``value``, ``auto`` (what Interval found),
                       ``reader`` (what the reader set), ``component`` (axis changes)
``equivocal_below``    the segmentation model's calibrated score (0..1) below which RECIST
                       held a new lesion equivocal (see ``recist[]``); null: no such rule

``timeline``
------------
``patient_id``, ``patient_name``, ``patient_sex``  as in the DICOM headers
``patient_birth_date``  ISO date or null
``warnings[]``          about building the timeline (series dropped, IDs merged...)
``timepoints[]``        oldest first, each:

  ``index`` (0 = baseline), ``label`` ("baseline", "follow-up 1"...),
  ``study_instance_uid``, ``study_date`` (ISO or null), ``study_time`` (DICOM TM text),
  ``days_from_baseline`` (int or null), ``accession_number``, ``study_description``,
  ``source`` (folder or file it was read from, as given), ``series`` (the series used):

    ``series_instance_uid``, ``stack_uid`` (Interval's stack uid), ``series_number``,
    ``modality``, ``description``, ``dimensions`` [columns, rows, slices],
    ``spacing`` [x, y, z] mm, ``orientation`` ("axial", "sagittal oblique"...),
    ``reason`` (why it was chosen), ``candidates`` (series considered),
    ``frame_of_reference_uid``

``registrations[]``
-------------------
``timepoint`` (the moving one), ``reference`` (the fixed one: baseline, or the previous
timepoint when chained), ``method`` ("identity", "rigid", "affine", "deformable"),
``status`` ("identity", "ok", "questionable", "failed": a failed registration is never
used), ``message`` (one sentence), ``metric`` (final Mattes mutual information, lower is
better), ``body_overlap`` (Dice of the body masks, 0..1), ``matrix`` (4x4 rows: reference
LPS -> this timepoint's LPS, linear part), ``translation_mm`` [x, y, z],
``rotation_deg``, ``transform_file`` (relative to the output folder: ``.tfm`` or ``.h5``),
``seconds``

``measurements[]``
------------------
One connected lesion region (a *component*) at one timepoint:
``timepoint``, ``component`` (id 1..n in that timepoint's component map),
``label_value`` and ``label_name`` (the segmentation label it came from), ``organ``
("liver", "lung", "lymph node", "unknown"...), ``is_lymph_node``, ``voxel_count``,
``volume_ml``, ``long_axis`` and ``short_axis`` (RECIST axes on one slice; each:
``length_mm``, ``slice_index`` k, ``start_voxel`` and ``end_voxel`` [k, j, i] (sub-voxel),
``start_lps`` and ``end_lps``), ``max_diameter_3d_mm``, ``centroid_lps`` (this
timepoint's space), ``centroid_baseline_lps`` (mapped into baseline space, or null),
``mean_intensity`` and ``sd_intensity`` (HU for CT; SD with ddof = 0), ``bbox_lo``
(inclusive) and ``bbox_hi`` (exclusive) [k, j, i], ``touches_border`` (cut by the image
edge: size unreliable), ``score`` (the segmentation's confidence in this region, 0..1,
e.g. its mean foreground probability; null when the segmentation gave none, e.g. a label
file)

``tracks[]``
------------
``lesion_id`` ("L1"...: stable for the same input and corrections), ``tracking_uid``
(DICOM UID, the SR's Tracking Unique Identifier), ``name`` (shown to the reader),
``organ``, ``is_lymph_node``, ``role`` ("target", "non-target", "new", "excluded"),
``role_reason``, ``role_source`` ("auto" or "reader"), ``members`` (tp -> component ids;
several when split, empty when not seen), ``first_seen`` (timepoint index),
``merged_into`` (tp -> lesion_id of the lesion it merged into)

``events[]``
------------
``kind`` ("match", "new", "vanished", "merge", "split"), ``from_timepoint`` (null for
"new"), ``to_timepoint``, ``lesions[]`` (lesion ids involved), ``components_from[]``,
``components_to[]``, ``overlap`` (Dice in baseline space), ``distance_mm`` (centroid
distance in baseline space), ``source`` ("auto" or "reader")

``recist[]``
------------
``timepoint``, ``sum_mm`` (sum of target diameters; null when a target is not
evaluable), ``target_diameters`` (lesion_id -> mm counted), ``change_from_baseline_pct``,
``nadir_mm`` (smallest sum before this timepoint, baseline included),
``change_from_nadir_pct``, ``change_from_nadir_mm``, ``target_response`` ("CR", "PR",
"SD", "PD", "NE"; "baseline" at the baseline), ``non_target_response`` ("CR",
"Non-CR/Non-PD", "PD", "NE", "none"), ``new_lesions[]`` (lesion ids counted as
unequivocal new lesions here), ``overall_response``, ``reason`` (why, in words),
``total_volume_ml`` (all lesions not excluded), ``volume_change_pct`` (against the
baseline total), ``equivocal_new_lesions[]`` (new lesions seen here whose score is below
``equivocal_below``: equivocal, not counted, no progression from them until a later scan
confirms them; RECIST 1.1 section 4.3.2), ``confirmed_new_lesions`` (of ``new_lesions``,
those confirming an earlier equivocal finding: lesion_id -> the timepoint it was first
seen at, which the progression dates from)

``score``, ``equivocal_below``, ``equivocal_new_lesions`` and ``confirmed_new_lesions``
were added without a schema change: an older file without them reads as "score unknown,
no equivocal rule".

``forecasts[]``
---------------
One lesion and one forecasting method (added without a schema change: an
older file without these keys reads as "no forecast"): ``lesion_id``, ``method`` ("gru",
"carry_forward", "gompertz"...), ``method_label`` (shown), ``kind`` ("network" or
"classical"), ``default`` (the one to show first: the network's), ``last_day`` (the
lesion's last observed visit) and ``target_day`` (the day forecast at), days from the
baseline, ``target_date`` (ISO), ``horizon_days``, ``median_mm`` (forecast RECIST
diameter; null when refused), ``lower_mm`` and ``upper_mm`` (the central band, probability
``interval``, e.g. 0.8), ``quantiles`` (level text -> mm), ``status`` ("ok", "widened",
"refused") and ``message`` (why)

``segmentations[]``
-------------------
``timepoint``, ``kind`` ("model" or "file"), ``description`` (shown as is in the
reports), ``model``, ``model_version``, ``plugin_id``, ``plugin_version``,
``plugin_source``, ``path`` (the label file, when given)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from interval.core.atomic import atomic_open
from interval.core.errors import UnreadableFile
from interval.longitudinal.model import (
    SCHEMA_VERSION,
    LongitudinalReport,
    report_from_dict,
)
from interval.longitudinal.report_common import ReportError

REPORT_JSON = "report.json"


def report_json_text(report: LongitudinalReport) -> str:
    """The ``report.json`` text: sorted keys, 1-space indent, non-finite numbers as null."""
    return json.dumps(_finite(report.to_dict()), indent=1, sort_keys=True,
                      ensure_ascii=False, allow_nan=False) + "\n"


def write_report_json(report: LongitudinalReport, path: str | Path) -> Path:
    """Write ``report.json`` atomically; returns the path."""
    target = Path(path)
    text = report_json_text(report)
    try:
        with atomic_open(target, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except OSError as exc:
        raise ReportError(f"could not write the report ({exc.strerror or exc})",
                          path=target) from exc
    return target


def read_report(path: str | Path) -> LongitudinalReport:
    """Read a ``report.json``; a damaged, foreign or newer file raises a clear error."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"the report cannot be read ({_why(exc)})", path=source) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"the report is damaged: not valid JSON (line {exc.lineno}, "
                          f"column {exc.colno}: {exc.msg})", path=source) from exc
    if not isinstance(data, dict) or "timeline" not in data:
        raise ReportError("this is not an Interval longitudinal report (no timeline)",
                          path=source)
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise ReportError("the report is damaged: its schema version is missing", path=source)
    if schema > SCHEMA_VERSION:
        raise ReportError(f"the report uses schema {schema}, newer than this Interval reads "
                          f"({SCHEMA_VERSION}); update Interval", path=source)
    try:
        return report_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ReportError(f"the report is damaged: a value is missing or of the wrong kind "
                          f"({type(exc).__name__}: {str(exc)[:160]})", path=source) from exc


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _why(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return getattr(exc, "strerror", None) or str(exc)
