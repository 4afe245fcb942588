"""A small longitudinal case for the report writers: a synthetic patient written as real CT
DICOM, its ground-truth lesions measured here (independently of the tracking engine) and
assembled into a :class:`LongitudinalReport` by hand, with the volumes, component maps,
label maps and source files the writers need.

The measuring here is deliberately plain (brute force over voxel centres) and only has to
be consistent: the report writers are tested against these numbers, not the engine.
"""

from __future__ import annotations

import atexit
import copy
import datetime as dt
import functools
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.io.dicom.load import load_dicom
from interval.io.synthetic.dicom_writer import make_uid
from interval.io.synthetic.patient import SyntheticPatient, generate_patient
from interval.io.synthetic.phantom import label_table
from interval.longitudinal.model import (
    EVENT_MATCH,
    EVENT_NEW,
    EVENT_VANISHED,
    NE,
    PD,
    PR,
    REG_IDENTITY,
    REG_OK,
    ROLE_NEW,
    ROLE_NON_TARGET,
    ROLE_TARGET,
    SD,
    Axis,
    LesionMeasurement,
    LongitudinalReport,
    MatchEvent,
    RecistTimepoint,
    RegistrationResult,
    SegmentationSource,
    SeriesChoice,
    Timeline,
    TimepointInfo,
    Track,
)


@dataclass
class ReportCase:
    """Everything :func:`write_reports` takes, plus the patient it came from."""

    report: LongitudinalReport
    volumes: list[Volume]
    component_maps: list[np.ndarray]
    label_volumes: list[Volume]
    series_files: list[list[Path]]
    patient: SyntheticPatient


def make_case(root: Path, *, seed: int = 7, n_lesions: int | None = 5,
              shape: tuple[int, int, int] = (40, 64, 64), n_timepoints: int = 3) -> ReportCase:
    """Write synthetic patient ``seed`` under ``root`` and build its report by hand.

    The default (seed 7, 5 lesions) has a lesion that vanishes after the baseline and two
    that appear at the first follow-up, so absent and new lesions are exercised.
    """
    patient = generate_patient(root / "patient", seed, n_timepoints=n_timepoints, shape=shape,
                               n_lesions=n_lesions)
    assert patient.phantoms is not None
    volumes, comps, labels, files = [], [], [], []
    per_tp: list[dict[int, LesionMeasurement]] = []  # truth id -> measurement
    for rec, ph in zip(patient.timepoints, patient.phantoms, strict=True):
        vol = load_dicom(rec.series_dir)
        assert np.array_equal(vol.array, ph.ct), "the loaded CT differs from the phantom"
        volumes.append(vol)
        files.append(sorted(rec.series_dir.glob("*.dcm")))
        labels.append(vol.with_array(ph.labels, labels=label_table()))
        ids = [t.id for t in ph.lesions if t.present and np.any(ph.lesion_ids == t.id)]
        comp = np.zeros(ph.lesion_ids.shape, np.int32)
        found = {}
        to_base = np.linalg.inv(rec.from_baseline_matrix)
        for n, lid in enumerate(ids, start=1):
            mask = ph.lesion_ids == lid
            comp[mask] = n
            organ = next(t.organ for t in ph.lesions if t.id == lid)
            found[lid] = measure(mask, vol, rec.index, n, organ, to_base)
        comps.append(comp)
        per_tp.append(found)
    report = _report(patient, volumes, per_tp)
    return ReportCase(report, volumes, comps, labels, files, patient)


# --- measuring (plain brute force) -------------------------------------------------------


def _edge(mask: np.ndarray) -> np.ndarray:
    inner = mask.copy()
    for axis in range(mask.ndim):
        for shift in (1, -1):
            inner &= np.roll(mask, shift, axis=axis)
    return mask & ~inner if mask.sum() > 8 else mask


def measure(mask: np.ndarray, vol: Volume, tp: int, component: int, organ: str,
            to_base: np.ndarray) -> LesionMeasurement:
    """RECIST axes, volume, centroid and HU of one lesion mask on ``vol``'s grid."""
    idx = np.argwhere(mask)  # (k, j, i)
    lps_of = lambda kji: vol.index_to_lps(np.asarray(kji, float)[..., ::-1])  # noqa: E731
    best = None
    for k in np.unique(idx[:, 0]):
        pts = idx[idx[:, 0] == k]
        xyz = lps_of(pts)
        d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
        a, b = np.unravel_index(np.argmax(d), d.shape)
        if best is None or d[a, b] > best[0]:
            best = (float(d[a, b]), pts, xyz, a, b)
    length, pts, xyz, a, b = best
    direction = xyz[b] - xyz[a]
    norm = np.linalg.norm(direction)
    s0, s1 = a, a
    if norm > 0:
        u = direction / norm
        vec = xyz[:, None] - xyz[None]
        dist = np.linalg.norm(vec, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.abs(vec @ u) / dist
        ok = np.nan_to_num(cos, nan=1.0) < 0.2
        if ok.any():
            flat = np.where(ok, dist, -1.0)
            s0, s1 = np.unravel_index(np.argmax(flat), flat.shape)

    def axis(p: int, q: int) -> Axis:
        return Axis(float(np.linalg.norm(xyz[q] - xyz[p])), int(pts[p][0]),
                    tuple(float(v) for v in pts[p]), tuple(float(v) for v in pts[q]),
                    tuple(float(v) for v in xyz[p]), tuple(float(v) for v in xyz[q]))

    edge = lps_of(np.argwhere(_edge(mask)))
    d3 = float(np.linalg.norm(edge[:, None] - edge[None], axis=-1).max()) if len(edge) > 1 else 0.0
    centre = lps_of(idx).mean(axis=0)
    base = to_base[:3, :3] @ centre + to_base[:3, 3]
    values = vol.array[mask].astype(np.float64)
    lymph = organ == "lymph node"
    return LesionMeasurement(
        timepoint=tp, component=component, label_value=9, label_name="lesion", organ=organ,
        is_lymph_node=lymph, voxel_count=int(mask.sum()),
        volume_ml=float(mask.sum() * vol.voxel_volume_mm3() / 1000.0),
        long_axis=axis(a, b), short_axis=axis(s0, s1), max_diameter_3d_mm=d3,
        centroid_lps=tuple(float(v) for v in centre),
        centroid_baseline_lps=tuple(float(v) for v in base),
        mean_intensity=float(values.mean()), sd_intensity=float(values.std()),
        bbox_lo=tuple(int(v) for v in idx.min(axis=0)),
        bbox_hi=tuple(int(v) + 1 for v in idx.max(axis=0)),
    )


# --- the report -----------------------------------------------------------------------------


def _timeline(patient: SyntheticPatient, volumes: list[Volume]) -> Timeline:
    tps = []
    for rec, vol in zip(patient.timepoints, volumes, strict=True):
        choice = SeriesChoice(
            series_instance_uid=rec.series_instance_uid, stack_uid=rec.series_instance_uid,
            series_number=rec.series_number, modality="CT",
            description=vol.metadata.series_description, dimensions=vol.size_ijk,
            spacing=vol.spacing, orientation="axial",
            reason="the only axial CT series", candidates=1,
            frame_of_reference_uid=rec.frame_of_reference_uid,
        )
        tps.append(TimepointInfo(
            index=rec.index, label="baseline" if rec.index == 0 else f"follow-up {rec.index}",
            study_instance_uid=rec.study_instance_uid, study_date=rec.study_date,
            study_time="101500", days_from_baseline=rec.day, series=choice,
            accession_number=rec.accession_number,
            study_description="CT chest abdomen (synthetic)", source=str(rec.series_dir),
        ))
    return Timeline(patient.patient_id, patient.patient_name, tps,
                    patient_birth_date=patient.patient_birth_date,
                    patient_sex=patient.patient_sex)


def _registrations(patient: SyntheticPatient) -> list[RegistrationResult]:
    out = []
    for rec in patient.timepoints:
        if rec.index == 0:
            out.append(RegistrationResult(0, 0, "identity", REG_IDENTITY, "the baseline"))
            continue
        m = rec.from_baseline_matrix
        out.append(RegistrationResult(
            rec.index, 0, "affine", REG_OK, "body overlap 0.98 after affine", metric=-0.61,
            body_overlap=0.98, matrix=tuple(tuple(float(v) for v in row) for row in m),
            translation_mm=tuple(float(v) for v in m[:3, 3]), rotation_deg=rec.rotation_deg,
            transform_file=f"transforms/tp{rec.index}.tfm", seconds=1.5,
        ))
    return out


def _report(patient: SyntheticPatient, volumes: list[Volume],
            per_tp: list[dict[int, LesionMeasurement]]) -> LongitudinalReport:
    timeline = _timeline(patient, volumes)
    truth_ids = sorted({lid for found in per_tp for lid in found})
    tracks, measurements, events = [], [], []
    for found in per_tp:
        measurements.extend(found.values())
    for n, lid in enumerate(truth_ids, start=1):
        first = min(t for t, found in enumerate(per_tp) if lid in found)
        m0 = per_tp[first][lid]
        members = {t: ([found[lid].component] if lid in found else [])
                   for t, found in enumerate(per_tp)}
        measurable = first == 0 and m0.long_axis.length_mm >= 10.0
        role = ROLE_NEW if first > 0 else (ROLE_TARGET if measurable else ROLE_NON_TARGET)
        reason = ("first seen at a follow-up" if first > 0 else
                  f"measurable (long axis {m0.long_axis.length_mm:.0f} mm)" if measurable
                  else f"not measurable (long axis {m0.long_axis.length_mm:.0f} mm < 10 mm)")
        tracks.append(Track(
            lesion_id=f"L{n}", tracking_uid=make_uid(patient.seed, "track", lid),
            name=f"L{n} {m0.organ}", organ=m0.organ, is_lymph_node=m0.is_lymph_node,
            role=role, role_reason=reason, members=members, first_seen=first,
        ))
    for t in range(1, len(per_tp)):
        for track in tracks:
            before, now = track.members[t - 1], track.members[t]
            if before and now:
                events.append(MatchEvent(EVENT_MATCH, t - 1, t, (track.lesion_id,),
                                         tuple(before), tuple(now), 0.7, 3.2))
            elif now and t == track.first_seen:
                events.append(MatchEvent(EVENT_NEW, None, t, (track.lesion_id,), (), tuple(now)))
            elif before:
                events.append(MatchEvent(EVENT_VANISHED, t - 1, t, (track.lesion_id,),
                                         tuple(before), ()))
    report = LongitudinalReport(
        timeline=timeline, registrations=_registrations(patient), measurements=measurements,
        tracks=tracks, events=events,
        segmentations=[SegmentationSource(t.index, "file", f"ground-truth label map {t.labels_path}",
                                          path=str(t.labels_path)) for t in patient.timepoints],
        warnings=["lesion L9 touches the image border at follow-up 2: its size is unreliable"],
        timings={"read": 0.4, "register": 3.1}, interval_version="0.1.0",
        created=dt.datetime(2024, 5, 6, 10, 15, tzinfo=dt.UTC).isoformat(),
    )
    report.recist = _recist(report)
    return report


def _recist(report: LongitudinalReport) -> list[RecistTimepoint]:
    """Plain RECIST sums for the fixture (enough for the writers; the engine does it right)."""
    targets = [t for t in report.tracks if t.role == ROLE_TARGET]
    out: list[RecistTimepoint] = []
    sums: list[float] = []
    for tp in report.timeline.timepoints:
        t = tp.index
        diam = {}
        for track in targets:
            ms = report.measurements_of(track, t)
            diam[track.lesion_id] = sum(m.recist_diameter_mm for m in ms)
        total = float(sum(diam.values()))
        volume = float(sum(m.volume_ml for m in report.measurements if m.timepoint == t))
        new = tuple(tr.lesion_id for tr in report.tracks if tr.first_seen == t and t > 0)
        if t == 0:
            out.append(RecistTimepoint(0, total, diam, None, None, None, None, "baseline",
                                       "Non-CR/Non-PD", (), "baseline", "the baseline",
                                       volume, None))
            sums.append(total)
            continue
        nadir = min(sums)
        base = sums[0]
        ch_base = 100.0 * (total - base) / base if base else None
        ch_nadir = 100.0 * (total - nadir) / nadir if nadir else None
        if ch_nadir is not None and ch_nadir >= 20 and total - nadir >= 5:
            target = PD
        elif ch_base is not None and ch_base <= -30:
            target = PR
        else:
            target = SD if targets else NE
        overall = PD if new else target
        reason = (f"new lesion(s) {', '.join(new)}" if new else
                  f"sum {total:.1f} mm, {ch_base or 0:+.1f} % from baseline")
        out.append(RecistTimepoint(
            t, total, diam, ch_base, nadir, ch_nadir, total - nadir, target, "Non-CR/Non-PD",
            new, overall, reason, volume,
            100.0 * (volume - out[0].total_volume_ml) / out[0].total_volume_ml,
        ))
        sums.append(total)
    return out


def label_table_for(case: ReportCase) -> LabelTable:
    return case.label_volumes[0].labels or LabelTable()


@functools.lru_cache(maxsize=2)
def shared_case(seed: int = 7) -> ReportCase:
    """One case per test session (built once, about a second): treat it as read-only and
    :func:`fresh_report` before changing the report."""
    root = Path(tempfile.mkdtemp(prefix="interval-report-case-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return make_case(root, seed=seed, shape=(40, 128, 128))


def fresh_report(case: ReportCase) -> LongitudinalReport:
    """A deep copy of the case's report, free to change."""
    return copy.deepcopy(case.report)


def require_tool(name: str, install: str) -> str:
    """The path of command-line tool ``name``; the test FAILS (never skips) without it, so
    CI cannot hide a missing validator."""
    for candidate in (shutil.which(name), Path(sys.executable).parent / name):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail(f"{name} is not installed: {install}", pytrace=False)


def report_inputs(case: ReportCase) -> dict[str, Any]:
    """The per-timepoint inputs of ``write_reports`` for ``case``."""
    return {"volumes": case.volumes, "component_maps": case.component_maps,
            "series_files": case.series_files, "label_volumes": case.label_volumes}
