"""Group parsed headers into patient -> study -> series -> image stacks.

One DICOM series can hold several volumes.  As dcm2niix and 3D Slicer do,
the frames of a series are split into separate :class:`ImageStack` s when
they differ in (in this order):

1. image size (rows x columns, samples per pixel),
2. orientation (ImageOrientationPatient beyond ``ORIENTATION_TOLERANCE``),
3. pixel spacing (beyond a relative ``SPACING_TOLERANCE``),
4. image type: magnitude / phase / real / imaginary / field map,
5. echo (EchoNumbers, else echo time),
6. diffusion b-value, then gradient direction (DiffusionGradientOrientation),
7. enhanced multi-frame StackID,
8. Siemens MOSAIC: every file is one volume (the loader de-mosaics it),
9. multi-frame files without per-frame positions (cine loops, classic
   multi-frame): one stack per file, never split further,
10. repeated slice positions (fMRI, multi-phase, DWI directions...): one stack
    per volume, told apart by temporal position, enhanced dimension indices,
    trigger time, acquisition number or time, and else by instance order --
    except when every frame lies at one single position: that is a time series
    of one slice, kept as one stack (loaded as frames in time, see
    :mod:`interval.io.dicom.time_frames`).

A stack's ``uid`` is the series UID when the series is not split, else the
series UID plus ``#`` and a suffix per split (``1.2.3#echo2-vol3``); its
``label`` says why in words ("echo 2 (TE 30 ms), volume 3").  All orders are
derived from header values and paths, so the same files always give the same
uids.

Non-image objects (SEG, RTSTRUCT, SR, PR, ...) are attached to the series they
reference (``SeriesRecord.attached``), found through referenced series UIDs or
referenced SOP instance UIDs; unresolved ones stay in their own series'
``objects`` with a warning.  Files repeating a SOP Instance UID already seen
are reported as skipped duplicates.
"""

from __future__ import annotations

import filecmp
import hashlib
import math
import os
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import date

from interval.io.dicom.records import (
    DicomHeader,
    FrameInfo,
    FrameRef,
    ImageStack,
    NonImageObject,
    PatientRecord,
    SeriesRecord,
    SkippedFile,
    StudyRecord,
)

ORIENTATION_TOLERANCE = 1e-3  # max difference of direction cosines within one stack
SPACING_TOLERANCE = 1e-3  # relative pixel spacing difference within one stack
POSITION_TOLERANCE_MM = 0.01  # slices closer than this along the normal share a position
DIRECTION_TOLERANCE = 0.01  # diffusion gradient directions closer than this are one direction

_Split = tuple[str, str, list[FrameRef]]  # (uid suffix, label, frames)


# --- the patient tree ---------------------------------------------------------------


def build_patients(
    headers: Iterable[DicomHeader],
) -> tuple[list[PatientRecord], list[SkippedFile]]:
    """Group headers into sorted patients; also returns duplicates as skipped files."""
    unique, duplicates = _drop_duplicates(headers)
    tree: dict[str, dict[str, dict[str, list[DicomHeader]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for h in unique:
        tree[_patient_key(h)][h.study_instance_uid][_series_key(h)].append(h)

    patients: list[PatientRecord] = []
    all_series: list[SeriesRecord] = []
    for studies in tree.values():
        first_patient = _first(h for st in studies.values() for se in st.values() for h in se)
        patient = PatientRecord(
            patient_id=first_patient.patient_id,
            patient_name=first_patient.patient_name,
            patient_birth_date=first_patient.patient_birth_date,
            patient_sex=first_patient.patient_sex,
        )
        for study_uid, series_map in studies.items():
            members = [h for se in series_map.values() for h in se]
            study = StudyRecord(
                study_instance_uid=study_uid,
                study_date=_pick(members, lambda h: h.study_date),
                study_time=_pick(members, lambda h: h.study_time) or "",
                study_description=_pick(members, lambda h: h.study_description) or "",
                accession_number=_pick(members, lambda h: h.accession_number) or "",
            )
            for key, series_headers in series_map.items():
                record = build_series(key, series_headers)
                study.series.append(record)
                all_series.append(record)
            patient.studies.append(study)
        patients.append(patient)

    attach_objects(all_series)
    for patient in patients:
        for study in patient.studies:
            study.series = [s for s in study.series if s.stacks or s.objects or s.attached]
            study.series.sort(key=_series_order)
        patient.studies = [st for st in patient.studies if st.series]
        patient.studies.sort(key=_study_order)
    patients = [p for p in patients if p.studies]
    patients.sort(key=lambda p: (p.patient_name, p.patient_id))
    return patients, duplicates


def build_series(key: str, headers: Sequence[DicomHeader]) -> SeriesRecord:
    """One series record: image stacks split as described above, non-image objects kept."""
    headers = sorted(headers, key=_header_order)
    images = [h for h in headers if h.kind == "image" and h.frames]
    others = [h for h in headers if not (h.kind == "image" and h.frames)]
    ref = images[0] if images else headers[0]
    record = SeriesRecord(
        series_instance_uid=key,
        modality=ref.modality,
        series_number=ref.series_number,
        series_description=ref.series_description,
    )
    if not ref.series_instance_uid:
        record.warnings.append(
            "These files have no Series Instance UID; they were grouped by folder."
        )
    record.stacks = split_stacks(key, images)
    record.objects = [NonImageObject(h) for h in others]
    return record


def attach_objects(series: Sequence[SeriesRecord]) -> None:
    """Move non-image objects to the series they reference (``attached``)."""
    by_uid: dict[str, SeriesRecord] = {}
    by_sop: dict[str, SeriesRecord] = {}
    for record in series:
        by_uid.setdefault(record.series_instance_uid, record)
        for stack in record.stacks:
            for ref in stack.frames:
                if ref.header.sop_instance_uid:
                    by_sop.setdefault(ref.header.sop_instance_uid, record)
        for obj in record.objects:
            if obj.header.sop_instance_uid:
                by_sop.setdefault(obj.header.sop_instance_uid, record)
    for record in series:
        keep: list[NonImageObject] = []
        for obj in record.objects:
            h = obj.header
            targets: list[SeriesRecord] = []
            refers_to_own = False
            found = [by_uid.get(uid) for uid in h.referenced_series_uids]
            found += [by_sop.get(sop) for sop in h.referenced_sop_uids]
            for target in found:
                if target is record:
                    refers_to_own = True
                elif target is not None and target not in targets:
                    targets.append(target)
            if targets:
                for target in targets:
                    target.attached.append(obj)
                continue
            keep.append(obj)
            if not refers_to_own and (h.referenced_series_uids or h.referenced_sop_uids):
                what = _object_name(h)
                record.warnings.append(
                    f"{what} refers to images that are not in this folder; it is listed on its own."
                )
        record.objects = keep


# --- splitting a series into stacks ----------------------------------------------------


def split_stacks(series_uid: str, images: Sequence[DicomHeader]) -> list[ImageStack]:
    """Split the frames of one series' image headers into stacks (see module doc)."""
    frames = [FrameRef(h, i) for h in sorted(images, key=_header_order) for i in range(len(h.frames))]
    if not frames:
        return []
    leaves: list[tuple[list[str], list[str], list[FrameRef], list[str]]] = []
    _split_recursive(frames, 0, [], [], leaves)
    stacks = []
    for suffixes, labels, members, warnings in leaves:
        uid = series_uid if not suffixes else f"{series_uid}#{'-'.join(suffixes)}"
        stacks.append(
            ImageStack(uid=uid, frames=_sort_frames(members), label=", ".join(labels), warnings=warnings)
        )
    return stacks


def _split_recursive(
    frames: list[FrameRef],
    level: int,
    suffixes: list[str],
    labels: list[str],
    leaves: list[tuple[list[str], list[str], list[FrameRef], list[str]]],
) -> None:
    if level == len(_SPLITTERS):
        leaves.append((suffixes, labels, frames, []))
        return
    parts, warnings = _SPLITTERS[level](frames)
    if len(parts) <= 1:
        before = len(leaves)
        _split_recursive(frames, level + 1, suffixes, labels, leaves)
        for leaf in leaves[before:]:
            leaf[3].extend(warnings)
        return
    for suffix, label, members in parts:
        before = len(leaves)
        _split_recursive(members, level + 1, [*suffixes, suffix], [*labels, label], leaves)
        for leaf in leaves[before:]:
            leaf[3].extend(warnings)


def _by_matrix(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    def key(f: FrameRef) -> tuple[int, int, int]:
        return (f.header.rows, f.header.columns, f.header.samples_per_pixel)

    def label(k: int, v: tuple[int, int, int]) -> str:
        colour = " colour" if v[2] > 1 else ""
        return f"image size {k} ({v[1]}x{v[0]}{colour})"

    return _categorical(frames, key, "size", label), []


def _by_orientation(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    clusters: list[tuple[float, ...] | None] = []

    def key(f: FrameRef) -> int:
        o = f.info.orientation
        for i, c in enumerate(clusters):
            if c is None or o is None:
                if c is None and o is None:
                    return i
                continue
            if max(abs(a - b) for a, b in zip(c, o, strict=True)) <= ORIENTATION_TOLERANCE:
                return i
        clusters.append(o)
        return len(clusters) - 1

    def label(k: int, v: int) -> str:
        plane = _plane_name(clusters[v])
        return f"orientation {k}" + (f" ({plane})" if plane else "")

    return _categorical(frames, key, "ori", label, order_by_first=True), []


def _by_spacing(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    clusters: list[tuple[float, float] | None] = []

    def key(f: FrameRef) -> int:
        s = f.info.pixel_spacing
        for i, c in enumerate(clusters):
            if c is None or s is None:
                if c is None and s is None:
                    return i
                continue
            if all(abs(a - b) <= SPACING_TOLERANCE * max(abs(a), abs(b), 1e-6) for a, b in zip(c, s, strict=True)):
                return i
        clusters.append(s)
        return len(clusters) - 1

    def label(k: int, v: int) -> str:
        s = clusters[v]
        return f"pixel spacing {k}" + (f" ({s[0]:g} x {s[1]:g} mm)" if s else " (unknown)")

    return _categorical(frames, key, "px", label, order_by_first=True), []


_TYPE_ORDER = {"magnitude": 0, "": 1, "real": 2, "imaginary": 3, "phase": 4, "field map": 5}
_TYPE_SUFFIX = {"magnitude": "mag", "": "other", "real": "real", "imaginary": "imag", "phase": "phase", "field map": "fieldmap"}


def image_type_class(image_type: str) -> str:
    """'magnitude', 'phase', 'real', 'imaginary', 'field map' or '' from an ImageType value."""
    values = [v.strip().upper() for v in image_type.split("\\")][2:]
    for v in values:
        if v in ("P", "PHASE", "PHASE MAP") or v.startswith("P_"):
            return "phase"
        if v in ("R", "REAL") or v.startswith("R_"):
            return "real"
        if v in ("I", "IMAGINARY") or v.startswith("I_"):
            return "imaginary"
        if v in ("FIELD_MAP", "FIELDMAP", "B0_MAP", "B0 MAP"):
            return "field map"
    for v in values:
        if v in ("M", "MAGNITUDE") or v.startswith("M_"):
            return "magnitude"
    return ""


def _by_image_type(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    groups = _categorical(
        frames,
        lambda f: image_type_class(f.info.image_type),
        lambda i, v: _TYPE_SUFFIX.get(v, f"type{i}"),  # type: ignore[arg-type]
        lambda i, v: v or "other image type",  # type: ignore[return-value]
        sort_key=lambda v: _TYPE_ORDER.get(v, 9),  # type: ignore[arg-type]
    )
    return groups, []


def _by_echo(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    numbers = {f.info.echo_number for f in frames}
    if len(numbers) > 1:
        times: dict[int | None, list[float]] = defaultdict(list)
        for f in frames:
            if f.info.echo_time is not None:
                times[f.info.echo_number].append(f.info.echo_time)

        def label_n(k: int, v: int | None) -> str:
            te = times.get(v)
            return f"echo {k}" + (f" (TE {_median(te):g} ms)" if te else "")

        return _categorical(frames, lambda f: f.info.echo_number, "echo", label_n), []

    def key_te(f: FrameRef) -> float | None:
        te = f.info.echo_time
        return None if te is None else round(te, 2)

    def label_te(k: int, v: float | None) -> str:
        return f"echo {k}" + (f" (TE {v:g} ms)" if v is not None else "")

    return _categorical(frames, key_te, "echo", label_te), []


def _by_b_value(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    """Split by b-value, and within a b-value (b > 0) by gradient direction.

    Shells come in b-value order; directions of one shell in acquisition order,
    numbered from 1 ("b=1000 dir 3 (0.71, 0.00, 0.71)"); isotropic (trace)
    images read "b=1000 isotropic".  Frames without a direction keep "b=1000".
    """

    def b_key(f: FrameRef) -> float | None:
        b = f.info.b_value
        return None if b is None else round(b, 1)

    shells: dict[float | None, list[FrameRef]] = {}
    for f in sorted(frames, key=_frame_order):
        shells.setdefault(b_key(f), []).append(f)
    out: list[_Split] = []
    for b in sorted(shells, key=_sortable):
        b_suffix = "bnone" if b is None else "b" + f"{b:g}".replace(".", "p")
        b_label = "no b-value" if b is None else f"b={b:g}"
        for d_suffix, d_label, members in _by_direction(shells[b]):
            out.append((b_suffix + d_suffix, b_label + d_label, members))
    if len(out) <= 1:
        return [("", "", frames)], []
    return out, []


def _by_direction(frames: list[FrameRef]) -> list[_Split]:
    """Frames of one b-value by gradient direction: (suffix, label tail, frames)."""
    if frames[0].info.b_value is None or round(frames[0].info.b_value, 1) == 0:
        return [("", "", frames)]  # b=0 (and no b-value): a direction means nothing
    directions: list[tuple[float, float, float]] = []
    groups: dict[int | str | None, list[FrameRef]] = {}
    for f in frames:  # in acquisition order
        groups.setdefault(_direction_key(f.info, directions), []).append(f)
    if len(groups) <= 1 and None in groups:
        return [("", "", frames)]
    out: list[_Split] = []
    for key, members in groups.items():
        if isinstance(key, int):
            x, y, z = (_tidy(c) for c in directions[key])
            out.append((f"-dir{key + 1}", f" dir {key + 1} ({x:.2f}, {y:.2f}, {z:.2f})", members))
        elif key == "iso":
            out.append(("-iso", " isotropic", members))
        else:
            out.append(("", "", members))
    return out


def _direction_key(info: FrameInfo, directions: list[tuple[float, float, float]]) -> int | str | None:
    """``"iso"``, the index of the frame's direction in ``directions`` (added if new), or None."""
    if info.diffusion_directionality == "ISOTROPIC":
        return "iso"
    d = info.diffusion_direction
    if d is None or info.diffusion_directionality == "NONE" or max(abs(c) for c in d) < DIRECTION_TOLERANCE:
        return None
    for i, known in enumerate(directions):
        if max(abs(a - b) for a, b in zip(known, d, strict=True)) <= DIRECTION_TOLERANCE:
            return i
    directions.append(d)
    return len(directions) - 1


def _tidy(value: float) -> float:
    """Round for display, without a minus sign on zero."""
    return round(value, 2) + 0.0


def _by_stack_id(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    groups = _categorical(
        frames, lambda f: f.info.stack_id, "stack", lambda k, v: f"stack {v or '?'}",
        sort_key=_natural_key,
    )
    return groups, []


def _by_mosaic_file(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    if not all("MOSAIC" in f.info.image_type.upper().split("\\") for f in frames):
        return [("", "", frames)], []
    return _per_file(frames, "vol", "volume"), []


def _by_cine_file(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    """Several multi-frame files without per-frame positions (cine loops): one stack each."""
    if not all(_replicated(f.header) for f in frames):
        return [("", "", frames)], []
    return _per_file(frames, "file", "file"), []


def _replicated(h: DicomHeader) -> bool:
    """A multi-frame file whose frames all share one position (or none): not a slice stack."""
    return h.number_of_frames > 1 and len({f.position for f in h.frames}) <= 1


def _by_volume(frames: list[FrameRef]) -> tuple[list[_Split], list[str]]:
    """Split frames whose slice positions repeat into one group per volume."""
    replicated = {id(f.header): _replicated(f.header) for f in frames}
    placed = [f for f in frames if f.info.position is not None and not replicated[id(f.header)]]
    unplaced = [f for f in frames if f.info.position is None or replicated[id(f.header)]]
    if not placed:
        return [("", "", frames)], []
    slot = _position_slots(placed)
    if not unplaced and len(set(slot.values())) == 1:
        return [("", "", frames)], []  # all at one position: a time series of one slice
    counts: dict[int, int] = defaultdict(int)
    for f in placed:
        counts[slot[id(f)]] += 1
    n_volumes = max(counts.values())
    if n_volumes <= 1:
        return [("", "", frames)], []

    volumes = None
    for candidate in _volume_keys(placed):
        volumes = _try_volume_key(placed, slot, n_volumes, candidate)
        if volumes is not None:
            break
    if volumes is None:
        volumes = _volumes_by_occurrence(placed, slot)
    out: list[_Split] = [(f"vol{i}", f"volume {i}", members) for i, members in enumerate(volumes, 1)]
    warnings: list[str] = []
    if unplaced:
        out.append(("nopos", "without position", unplaced))
        warnings.append(f"{len(unplaced)} frame(s) of this series have no position.")
    return out, warnings


_SPLITTERS: tuple[Callable[[list[FrameRef]], tuple[list[_Split], list[str]]], ...] = (
    _by_matrix,
    _by_orientation,
    _by_spacing,
    _by_image_type,
    _by_echo,
    _by_b_value,
    _by_stack_id,
    _by_mosaic_file,
    _by_cine_file,
    _by_volume,
)


# --- volumes (repeated positions) -----------------------------------------------------


def _normal(info: FrameInfo) -> tuple[float, float, float] | None:
    o = info.orientation
    if o is None:
        return None
    n = (o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3])
    norm = math.sqrt(sum(c * c for c in n))
    if norm < 1e-6:
        return None
    return (n[0] / norm, n[1] / norm, n[2] / norm)


def _distance(f: FrameRef, normal: tuple[float, float, float] | None) -> float:
    p = f.info.position
    assert p is not None
    if normal is None:
        return p[2]
    return p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2]


def _position_slots(frames: list[FrameRef]) -> dict[int, int]:
    """id(frame) -> index of its slice position (positions within tolerance share one)."""
    normal = next((n for n in (_normal(f.info) for f in frames) if n is not None), None)
    if normal is None:
        # no orientation: positions must match in all three coordinates
        keys = {}
        out = {}
        for f in frames:
            p = f.info.position
            assert p is not None
            k = tuple(round(c / POSITION_TOLERANCE_MM) for c in p)
            out[id(f)] = keys.setdefault(k, len(keys))
        return out
    ordered = sorted(frames, key=lambda f: _distance(f, normal))
    out = {}
    slot = -1
    last = None
    for f in ordered:
        d = _distance(f, normal)
        if last is None or d - last > POSITION_TOLERANCE_MM:
            slot += 1
        last = d
        out[id(f)] = slot
    return out


def _volume_keys(frames: list[FrameRef]) -> Iterable[Callable[[FrameRef], Hashable]]:
    yield lambda f: f.info.temporal_position
    n_dims = {len(f.info.dimension_index) for f in frames}
    if len(n_dims) == 1:
        n = n_dims.pop()
        for c in range(n):
            yield lambda f, c=c: f.info.dimension_index[:c] + f.info.dimension_index[c + 1 :] or None
    yield lambda f: f.info.trigger_time
    yield lambda f: f.header.acquisition_number
    yield lambda f: f.info.acquisition_time or None
    yield lambda f: f.header.path if f.header.number_of_frames > 1 else None


def _try_volume_key(
    frames: list[FrameRef], slot: dict[int, int], n_volumes: int, key: Callable[[FrameRef], Hashable]
) -> list[list[FrameRef]] | None:
    groups: dict[Hashable, list[FrameRef]] = {}
    for f in frames:
        k = key(f)
        if k is None:
            return None
        groups.setdefault(k, []).append(f)
    if len(groups) != n_volumes:
        return None
    for members in groups.values():
        slots = [slot[id(f)] for f in members]
        if len(set(slots)) != len(slots):
            return None
    return [groups[k] for k in sorted(groups, key=_sortable)]


def _volumes_by_occurrence(frames: list[FrameRef], slot: dict[int, int]) -> list[list[FrameRef]]:
    """k-th frame (in acquisition order) at each position goes to volume k."""
    seen: dict[int, int] = defaultdict(int)
    volumes: list[list[FrameRef]] = []
    for f in sorted(frames, key=_frame_order):
        s = slot[id(f)]
        k = seen[s]
        seen[s] += 1
        while len(volumes) <= k:
            volumes.append([])
        volumes[k].append(f)
    return volumes


# --- helpers ----------------------------------------------------------------------------


def _categorical(
    frames: list[FrameRef],
    key: Callable[[FrameRef], Hashable],
    suffix: str | Callable[[int, Hashable], str],
    label: Callable[[int, Hashable], str],
    *,
    order_by_first: bool = False,
    sort_key: Callable[[Hashable], object] | None = None,
) -> list[_Split]:
    """Group frames by ``key``; one group means no split.

    Groups are ordered by key (or by first appearance in acquisition order)
    and numbered from 1; ``suffix`` is a prefix for that number or a function
    of (number, key).
    """
    groups: dict[Hashable, list[FrameRef]] = {}
    for f in sorted(frames, key=_frame_order) if order_by_first else frames:
        groups.setdefault(key(f), []).append(f)
    if len(groups) <= 1:
        return [("", "", frames)]
    keys = list(groups) if order_by_first else sorted(groups, key=sort_key or _sortable)
    out = []
    for i, k in enumerate(keys, 1):
        sfx = suffix(i, k) if callable(suffix) else f"{suffix}{i}"
        out.append((sfx, label(i, k), groups[k]))
    return out


def _per_file(frames: list[FrameRef], suffix: str, word: str) -> list[_Split]:
    by_file: dict[str, list[FrameRef]] = {}
    for f in sorted(frames, key=_frame_order):
        by_file.setdefault(f.header.path, []).append(f)
    if len(by_file) <= 1:
        return [("", "", frames)]
    return [(f"{suffix}{i}", f"{word} {i}", members) for i, members in enumerate(by_file.values(), 1)]


def _sortable(value: Hashable) -> tuple:
    """Sort key that orders None last and mixed types without errors."""
    if value is None:
        return (2, "")
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, tuple):
        return (1, tuple(_sortable(v) for v in value))
    return (1, str(value))


def _natural_key(value: Hashable) -> tuple:
    text = "" if value is None else str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


def _header_order(h: DicomHeader) -> tuple:
    return (
        h.instance_number is None,
        h.instance_number if h.instance_number is not None else 0,
        h.path,
    )


def _frame_order(f: FrameRef) -> tuple:
    h = f.header
    return (
        h.acquisition_number is None,
        h.acquisition_number or 0,
        h.instance_number is None,
        h.instance_number if h.instance_number is not None else 0,
        h.path,
        f.frame,
    )


def _sort_frames(frames: list[FrameRef]) -> list[FrameRef]:
    """Along the slice normal when every frame has a position, else in acquisition order."""
    if frames and all(f.info.position is not None for f in frames):
        normal = _normal(frames[0].info)
        return sorted(frames, key=lambda f: (round(_distance(f, normal), 4), _frame_order(f)))
    return sorted(frames, key=_frame_order)


def _plane_name(orientation: tuple[float, ...] | None) -> str:
    if orientation is None:
        return ""
    n = _normal(FrameInfo(position=None, orientation=orientation, pixel_spacing=None))  # type: ignore[arg-type]
    if n is None:
        return ""
    axis = max(range(3), key=lambda i: abs(n[i]))
    name = ("sagittal", "coronal", "axial")[axis]
    return name if abs(n[axis]) > 0.9 else f"oblique {name}"


def _median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2]


def _object_name(h: DicomHeader) -> str:
    names = {"seg": "A segmentation", "rtstruct": "A structure set", "sr": "A report",
             "pr": "A presentation state", "raw": "A raw data object", "waveform": "A waveform"}
    base = names.get(h.kind, "A non-image object")
    return f"{base} ({h.description})" if h.description else base


def _drop_duplicates(headers: Iterable[DicomHeader]) -> tuple[list[DicomHeader], list[SkippedFile]]:
    """Drop second copies of the same object (the same file reached twice, or copied).

    Two files are copies only when they share the SOP Instance UID *and* hold the
    same bytes (compared only on a UID collision, which is rare). Files that reuse
    a UID for different images (seen in the wild, e.g. dcm_qa_12bit) are all
    kept, as dcm2niix does.
    """
    seen: dict[str, list[str]] = {}
    unique: list[DicomHeader] = []
    skipped: list[SkippedFile] = []
    for h in sorted(headers, key=lambda h: h.path):
        uid = h.sop_instance_uid
        if uid:
            original = next((p for p in seen.get(uid, ()) if _same_file_content(p, h.path)), None)
            if original is not None:
                skipped.append(
                    SkippedFile(h.path, f"duplicate of {original} (same SOP Instance UID); not indexed twice")
                )
                continue
            seen.setdefault(uid, []).append(h.path)
        unique.append(h)
    return unique, skipped


def _same_file_content(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def _patient_key(h: DicomHeader) -> str:
    if h.patient_id:
        return "id:" + h.patient_id
    if h.patient_name:
        return "name:" + h.patient_name
    return ""


def _series_key(h: DicomHeader) -> str:
    if h.series_instance_uid:
        return h.series_instance_uid
    raw = "\0".join(
        (os.path.dirname(h.path), str(h.series_number), h.modality, h.frame_of_reference_uid)
    )
    return "no-series-uid-" + hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _first(items: Iterable[DicomHeader]) -> DicomHeader:
    return next(iter(items))


def _pick(headers: Sequence[DicomHeader], get: Callable[[DicomHeader], object]):  # noqa: ANN202
    for h in headers:
        value = get(h)
        if value:
            return value
    return None


def _series_order(s: SeriesRecord) -> tuple:
    return (
        s.series_number is None,
        s.series_number if s.series_number is not None else 0,
        s.series_description,
        s.series_instance_uid,
    )


def _study_order(st: StudyRecord) -> tuple:
    return (
        st.study_date is None,
        st.study_date or date.min,
        st.study_time,
        st.study_instance_uid,
    )
