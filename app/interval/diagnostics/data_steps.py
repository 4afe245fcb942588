"""Self-test steps on the data: generate DICOM, index it, load it back voxel for voxel.

Two things are written: a synthetic patient (two small CT scans with their ground-truth
label maps, :func:`interval.io.synthetic.patient.generate_patient`) and a test pattern,
one CT series whose every voxel is known (:func:`test_pattern`), both by the same DICOM
writer the demo uses.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from interval.diagnostics.checks import CheckFailed, SelfTestContext, check

PATIENT_SEED = 0
N_TIMEPOINTS = 2
# The segmentation model's own grid (2 x 2 x 2.5 mm) on a small field of view: the model
# runs in a few seconds on a CPU (the same scans as tests/cli/test_demo.py's SEG_SHAPE).
SCAN_SHAPE = (48, 96, 96)  # (nz, ny, nx)
SCAN_SPACING = (2.0, 2.0, 2.5)  # (x, y, z) mm

PATTERN_SHAPE = (8, 64, 64)
PATTERN_SPACING = (1.0, 1.0, 2.0)
PATTERN_ORIGIN = (-31.5, -31.5, -7.0)
BACKGROUND_HU = 0
# (HU, rows j, columns i): a bright square at the patient's right front, a grey one at the
# left back (rows grow to the back, columns to the patient's left)
SQUARES = ((1000, (8, 24), (8, 24)), (100, (40, 56), (40, 56)))
CT_STORED_RANGE = (-1024, 3071)  # HU the writer's 12-bit pixels hold


def test_pattern() -> np.ndarray:
    """The test pattern's HU, ``[k, j, i]``: background, the :data:`SQUARES` through every
    slice, and one voxel per slice whose value is the slice number (checks the order)."""
    ct = np.full(PATTERN_SHAPE, BACKGROUND_HU, dtype=np.int16)
    for hu, (j0, j1), (i0, i1) in SQUARES:
        ct[:, j0:j1, i0:i1] = hu
    for k in range(PATTERN_SHAPE[0]):
        ct[k, 60, 2] = 10 * (k + 1)
    return ct


def step_generate(ctx: SelfTestContext) -> str:
    """Write the synthetic patient and the test pattern as DICOM."""
    from interval.io.synthetic.dicom_writer import SeriesTags, make_uid, write_ct_series
    from interval.io.synthetic.grid import Grid
    from interval.io.synthetic.patient import generate_patient

    ctx.patient = generate_patient(ctx.work / "patient", PATIENT_SEED, N_TIMEPOINTS,
                                   SCAN_SHAPE, SCAN_SPACING, keep_arrays=True)
    ctx.pattern = test_pattern()
    ctx.pattern_dir = ctx.work / "pattern"
    tags = SeriesTags(
        patient_name="SELFTEST^PATTERN", patient_id="SELFTEST", patient_birth_date=date(1970, 1, 1),
        patient_sex="O", study_instance_uid=make_uid("self-test", "study"),
        study_date=date(2020, 1, 1), study_time="120000", study_id="1",
        study_description="Interval self-test pattern", accession_number="SELFTEST",
        series_instance_uid=make_uid("self-test", "series"), series_number=1,
        series_description="Test pattern", frame_of_reference_uid=make_uid("self-test", "for"),
    )
    files = write_ct_series(ctx.pattern, Grid(PATTERN_SHAPE, PATTERN_SPACING, PATTERN_ORIGIN),
                            ctx.pattern_dir, tags)
    nz, ny, nx = SCAN_SHAPE
    return (f"{N_TIMEPOINTS} synthetic CT scans of {nx} x {ny} x {nz} voxels and a test "
            f"pattern of {len(files)} slices written as DICOM")


def step_index(ctx: SelfTestContext) -> str:
    """Index both folders (headers only): every file found, the series as written."""
    from interval.io.open_path import index_path

    patient = ctx.patient
    index = index_path(patient.dicom_dir)
    if index.skipped:
        raise CheckFailed(f"{len(index.skipped)} of the synthetic patient's files were "
                          f"skipped ({index.skipped[0].reason})")
    by_series = {se.series_instance_uid: se.stacks for _p, _st, se in index.iter_series()}
    check(len(by_series) == N_TIMEPOINTS
          and all(len(by_series.get(tp.series_instance_uid, ())) == 1
                  for tp in patient.timepoints),
          f"found {len(by_series)} series in the synthetic patient's folder, not the "
          f"{N_TIMEPOINTS} written, one stack each")
    stacks = [by_series[tp.series_instance_uid][0] for tp in patient.timepoints]
    for tp, stack in zip(patient.timepoints, stacks, strict=True):
        check(stack.n_frames == tp.n_files,
              f"scan {tp.index + 1}: {stack.n_frames} images indexed, {tp.n_files} written")
    ctx.scan_stacks = stacks
    pattern = index_path(ctx.pattern_dir)
    found = list(pattern.iter_stacks())
    check(not pattern.skipped and len(found) == 1 and found[0].n_frames == PATTERN_SHAPE[0],
          f"the test pattern's folder indexed as {len(found)} stacks and "
          f"{len(pattern.skipped)} skipped files, not one stack of {PATTERN_SHAPE[0]} images")
    ctx.pattern_stack = found[0]
    images = sum(s.n_frames for s in stacks) + found[0].n_frames
    return f"{N_TIMEPOINTS + 1} series, {images} images, nothing skipped"


def step_load(ctx: SelfTestContext) -> str:
    """Load the test pattern and the first scan: geometry and every voxel as written."""
    from interval.io.dicom.load import load_stack

    pattern = load_stack(ctx.pattern_stack)
    _check_volume("the test pattern", pattern, ctx.pattern, PATTERN_SPACING, PATTERN_ORIGIN)
    check(pattern.metadata.modality == "CT",
          f"the test pattern loaded as modality {pattern.metadata.modality!r}, not CT")
    ctx.pattern_volume = pattern
    patient = ctx.patient
    scan = load_stack(ctx.scan_stacks[0])
    written = np.clip(patient.phantoms[0].ct, *CT_STORED_RANGE)
    _check_volume("scan 1", scan, written, patient.spacing, patient.origin)
    ctx.scan_volume = scan
    return "the test pattern and scan 1 read back voxel for voxel (HU), geometry as written"


def _check_volume(what: str, volume: object, expected: np.ndarray,
                  spacing: tuple[float, ...], origin: tuple[float, ...]) -> None:
    array = volume.array  # type: ignore[attr-defined]
    check(array.shape == expected.shape,
          f"{what} loaded as {_dims(array.shape)} voxels, not {_dims(expected.shape)}")
    check(np.allclose(volume.spacing, spacing, atol=1e-4),  # type: ignore[attr-defined]
          f"{what} loaded with spacing {tuple(volume.spacing)}, not {spacing}")  # type: ignore[attr-defined]
    check(np.allclose(volume.origin, origin, atol=1e-3),  # type: ignore[attr-defined]
          f"{what} loaded at origin {tuple(volume.origin)}, not {origin}")  # type: ignore[attr-defined]
    check(np.allclose(volume.direction, np.eye(3), atol=1e-6),  # type: ignore[attr-defined]
          f"{what} loaded with a turned or flipped direction")
    wrong = int(np.count_nonzero(array != expected))
    check(wrong == 0, f"{what}: {wrong} voxels differ from the values written")


def _dims(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape[::-1])
