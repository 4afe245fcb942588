"""Every image series of the real public data against its reference conversion.

The data (``../shared/data/dicom``, see its README) ships NIfTI references
made by dcm2niix (``Ref/`` of the ``dcm_qa_*`` sets) and by dicom2nifti
(``*_ground_truth*.nii.gz``); series without one are converted here with
``dcm2niix`` as an oracle.  Each folder is indexed once with the real
pipeline (``index_folder``), every stack is loaded with ``load_stack`` and
compared with its reference:

* geometry: our voxel grid is mapped into the reference's index space
  through both affines (NIfTI is RAS, we are LPS); that map must be a
  permutation/flip of the axes, and the world positions of the grid corners
  must agree within 1e-3 mm;
* values: identical after the same permutation (nibabel applies the NIfTI
  scaling; dcm2niix's Philips "floating point" values are converted back to
  the DICOM rescaled values with the slopes in its JSON sidecar).

A reference holding a 4-D series (fMRI, multi-echo, repeated EPI) is one
volume per stack: stacks and reference volumes must pair up one to one.
Series that must be refused are checked for the right error and words.
``EXPECTED`` lists every series and its outcome; a series found in the data
that is not listed (or listed but not found) fails the coverage test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from interval.core.errors import IrregularGeometry, UnsupportedData
from interval.core.volume import Volume
from interval.io.dicom.index import index_files, index_folder
from interval.io.dicom.load import load_stack
from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.records import DicomIndex, ImageStack
from tests.conftest import DICOM_DATA

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
RESAMPLE = DicomReadPolicy(irregular="resample")
D2N = "dicom2nifti_testdata/tests/data"


# --- the table: every series and its expected outcome ------------------------------------


@dataclass(frozen=True)
class Ref:
    """Matches shipped reference volumes exactly (``volumes``: which volumes of a 4-D file)."""

    files: tuple[str, ...]
    volumes: tuple[int, ...] | None = None
    stacks: int = 1
    philips_fp: bool = False
    outcome: str = "matched"


@dataclass(frozen=True)
class Oracle:
    """Matches what dcm2niix makes of the same files (``grid``: a file it must share its grid with)."""

    stacks: int = 1
    grid: str | None = None
    nominal: bool = False  # no patient geometry: values only, up to in-plane flips
    inverted: bool = False  # MONOCHROME1: we invert, dcm2niix keeps stored values
    time_frames: bool = False  # frames in time at one position: each frame is one volume
    outcome: str = "matched dcm2niix"


@dataclass(frozen=True)
class Refused:
    """Refused with ``error`` whose message contains every string of ``words``."""

    error: type[Exception]
    words: tuple[str, ...]
    stacks: int = 1
    outcome: str = "refused"


@dataclass(frozen=True)
class Colour:
    """Loads as an RGB Volume; its channels match the ground truth (a test of its own)."""

    stacks: int = 1
    outcome: str = "RGB volume: geometry + R, G, B match the ground truth"


def _ref(*files: str, **kw) -> Ref:
    return Ref(tuple(files), **kw)


def _d2n(folder: str, name: str, **kw) -> Ref:
    """A dicom2nifti ground truth and its reoriented twin (same data, other voxel order)."""
    base = f"{D2N}/{folder}/{name}"
    return Ref((f"{base}_ground_truth.nii.gz", f"{base}_ground_truth_reoriented.nii.gz"), **kw)


EXPECTED: dict[str, Ref | Oracle | Refused | Colour] = {
    # dcm_qa_12bit: 12 bits stored with garbage in the high bits, Siemens mosaics
    "dcm_qa_12bit/In/12bitUnsigned.dcm": _ref("dcm_qa_12bit/Ref/2.nii"),
    "dcm_qa_12bit/In/12bitUnsigned_0x0F0F.dcm": _ref("dcm_qa_12bit/Ref/3.nii"),
    "dcm_qa_12bit/In/12bitSigned_0x0F0F.dcm": _ref("dcm_qa_12bit/Ref/4.nii"),
    # dcm_qa_enh: enhanced multi-frame
    "dcm_qa_enh/In/Philips/IM_0027_fMAP.dcm": _ref(
        "dcm_qa_enh/Ref/Philips_WIP_B0_NS_801_e1.nii",
        "dcm_qa_enh/Ref/Philips_WIP_B0_NS_801_e2_fieldmaphz.nii",
        stacks=2,
        philips_fp=True,
        outcome="matched (magnitude + field map; dcm2niix's Philips FP values converted back)",
    ),
    **{
        f"dcm_qa_enh/In/Siemens/XA10/6_{t + 1}.dcm": _ref(
            "dcm_qa_enh/Ref/Siemens_REST1_w_SMS_PF7-8_6.nii", volumes=(t,), outcome=f"matched volume {t}"
        )
        for t in range(4)
    },
    # dcm_qa_nih: GE EPI runs (10 volumes of 15 slices in 150 files), Siemens mosaics
    **{
        f"dcm_qa_nih/In/20180918GE/mr_000{s}/*": _ref(
            f"dcm_qa_nih/Ref/DCM2NIIX_regression_test_{s}.nii", stacks=10, outcome="matched 10 volumes"
        )
        for s in (4, 5, 6, 7)
    },
    **{
        f"dcm_qa_nih/In/20180918Si/mr_000{s}/epi_pe_{pe.lower()}-0000{t + 1}.dcm": _ref(
            f"dcm_qa_nih/Ref/EPI_PE={pe}_{s}.nii", volumes=(t,), outcome=f"matched volume {t} (mosaic)"
        )
        for s, pe in ((3, "AP"), (4, "PA"), (5, "RL"), (6, "LR"))
        for t in (0, 1)
    },
    # dcm_qa_ts: one mosaic in 9 transfer syntaxes
    **{
        f"dcm_qa_ts/In/{n}.dcm": _ref(f"dcm_qa_ts/Ref/{n}.nii", outcome="matched (mosaic)")
        for n in range(1, 10)
    },
    # dcm_qa_xa30: enhanced 3-D T1
    **{
        f"dcm_qa_xa30/In/{s}_anat-T1w_acq-tfl/{name}": _ref(f"dcm_qa_xa30/Ref/{s}_anat-T1w_acq-tfl.nii")
        for s, name in (
            (5, "0001_1.3.12.2.1107.5.2.43.67093.2022071112080825794102791.dcm"),
            (6, "0001_1.3.12.2.1107.5.2.43.67093.2022071112080827673202793.dcm"),
        )
    },
    # dcmqi_data: CT (single- and multi-frame) on the grid of the shipped NRRD label maps
    "dcmqi_data/data/paramaps/pm-example-slice.dcm": Oracle(
        grid="dcmqi_data/data/paramaps/pm-example.nrrd",
        outcome="matched dcm2niix; values = slice 0 of pm-example.nrrd",
    ),
    "dcmqi_data/data/segmentations/23x38x3/image/*": Oracle(grid="dcmqi_data/data/segmentations/23x38x3/nrrd/label.nrrd"),
    "dcmqi_data/data/segmentations/23x38x3/multiframe/mf.dcm": Oracle(grid="dcmqi_data/data/segmentations/23x38x3/nrrd/label.nrrd"),
    "dcmqi_data/data/segmentations/24x38x3/image/*": Oracle(grid="dcmqi_data/data/segmentations/24x38x3/nrrd/label.nrrd"),
    "dcmqi_data/data/segmentations/24x38x3/multiframe/mf.dcm": Oracle(grid="dcmqi_data/data/segmentations/24x38x3/nrrd/label.nrrd"),
    "dcmqi_data/data/segmentations/ct-3slice/*": Oracle(grid="dcmqi_data/data/segmentations/liver_seg.nrrd"),
    # dicom2nifti test data
    f"{D2N}/anatomical/001/*": _d2n("anatomical", "001"),
    f"{D2N}/anatomical/001_implicit/*": _d2n("anatomical", "001_implicit"),
    f"{D2N}/ge/anatomical/001/*": _d2n("ge/anatomical", "001"),
    f"{D2N}/ge/anatomical/001_implicit/*": _d2n("ge/anatomical", "001_implicit"),
    f"{D2N}/ge/anatomical/001_single_slice/IM-0001-0112-0001.dcm": _d2n("ge/anatomical", "001_single_slice"),
    f"{D2N}/generic/anatomical/001/*": _d2n("generic/anatomical", "001"),
    f"{D2N}/generic/anatomical/001_implicit/*": _d2n("generic/anatomical", "001_implicit"),
    f"{D2N}/generic/anatomical/002_non_isotropic/*": _d2n("generic/anatomical", "002_non_isotropic"),
    f"{D2N}/generic/compressed/001/*": _d2n("generic/compressed", "001"),
    f"{D2N}/generic/compressed_j2k/001/*": _d2n("generic/compressed_j2k", "001"),
    f"{D2N}/generic/compressed_jpeg/001/*": _d2n("generic/compressed_jpeg", "001"),
    f"{D2N}/generic/compressed_jpegls/001/*": _d2n("generic/compressed_jpegls", "001"),
    f"{D2N}/generic/compressed_rle/001/*": _d2n("generic/compressed_rle", "001"),
    f"{D2N}/generic/rgb/001/*": Colour(),
    f"{D2N}/hitachi/anatomical/001/*": _d2n("hitachi/anatomical", "001"),
    f"{D2N}/hitachi/anatomical/001_implicit/*": _d2n("hitachi/anatomical", "001_implicit"),
    f"{D2N}/hyperfine/anatomical/001/001.dcm": _d2n("hyperfine/anatomical", "001"),
    f"{D2N}/philips/anatomical/001/*": _d2n("philips/anatomical", "001"),
    f"{D2N}/philips/anatomical/001_implicit/*": _d2n("philips/anatomical", "001_implicit"),
    f"{D2N}/philips_enhanced/anatomical/001/IM-0001-0170-0001.dcm": _d2n("philips_enhanced/anatomical", "001"),
    f"{D2N}/philips_enhanced/anatomical/001_implicit/IM1.dcm": _d2n("philips_enhanced/anatomical", "001_implicit"),
    f"{D2N}/siemens/anatomical/001/*": _d2n("siemens/anatomical", "001"),
    f"{D2N}/siemens/anatomical/001_implicit/*": _d2n("siemens/anatomical", "001_implicit"),
    f"{D2N}/siemens_multiframe/anatomical/001/IM-0001-0001-0001.dcm": _d2n("siemens_multiframe/anatomical", "001"),
    # dicom2nifti "failing": what a converter must refuse (or handle)
    f"{D2N}/failing/gantrytilting/001/*": Refused(
        IrregularGeometry, ("gantry tilt 14.0°",),
        outcome="refused (gantry tilt 14.0°); resample = dcm2niix tilt correction exactly",
    ),
    f"{D2N}/failing/sliceincrement/001/*": Refused(
        IrregularGeometry, ("1 slice missing between 28.1 mm and 38.1 mm",),
        outcome="refused (1 slice missing); resample fills it by interpolation",
    ),
    f"{D2N}/failing/sliceincrement/002/*": Refused(
        IrregularGeometry, ("gantry tilt 15.5°", "1 slice missing between -51.1 mm and -49.6 mm"),
        outcome="refused (tilt + missing slice); resample = dcm2niix tilt+equalised output (interior, ±1)",
    ),
    f"{D2N}/failing/slicecount/001/*": _d2n(
        "failing/slicecount", "001",
        outcome="matched (a regular 2-slice volume; dicom2nifti refuses < 3 slices only by policy)",
    ),
    f"{D2N}/failing/notavolume/001/*": Oracle(
        time_frames=True,
        outcome="one stack of 4 frames in time (bolus tracking at one position); "
        "each frame matched dcm2niix's volume",
    ),
    f"{D2N}/failing/sliceorientation/001/*": Oracle(
        stacks=2,
        outcome="split into 2 stacks by orientation, each matched dcm2niix; as one stack: refused (2 orientations)",
    ),
    # highdicom test files: a CT slice, a projection X-ray, slide-microscopy tiles
    "highdicom_test_files/data/test_files/ct_image.dcm": Oracle(),
    "highdicom_test_files/data/test_files/dx_image.dcm": Oracle(
        nominal=True,
        inverted=True,
        outcome="loaded with nominal geometry + warning; values = dcm2niix's inverted (MONOCHROME1)",
    ),
    **{
        f"highdicom_test_files/data/test_files/{name}.dcm": Refused(
            UnsupportedData, (), outcome="refused: slide-microscopy tiles are not a volume"
        )
        for name in (
            "sm_image", "sm_image_control", "sm_image_dots", "sm_image_grayscale",
            "sm_image_grayscale_reversed", "sm_image_jpegls", "sm_image_jpegls_nobot", "sm_image_numbers",
        )
    },
    # TotalSegmentator's reference CT (JPEG 2000) and the segmentation made on its grid
    "totalsegmentator_ref/tests/reference_files/example_ct_dicom/*": Oracle(
        grid="totalsegmentator_ref/tests/reference_files/example_seg_dicom.nii.gz"
    ),
}


# --- discovery through the real pipeline ---------------------------------------------------


INDEX_POLICY = DicomReadPolicy(workers=1)  # small folders: no worker processes


def case_folders() -> list[Path]:
    """Every folder of the data that directly holds files (one test case each, as upstream)."""
    if not DICOM_DATA.is_dir():
        pytest.fail(f"shared test data missing: {DICOM_DATA}")
    out = []
    for folder, dirs, files in os.walk(DICOM_DATA):
        dirs.sort()
        if files:
            out.append(Path(folder))
    return sorted(out)


@cache
def _index(folder: Path) -> DicomIndex:
    """A leaf folder through ``index_folder``; a folder with subfolders through its own files only."""
    if not any(p.is_dir() for p in folder.iterdir()):
        return index_folder(folder, INDEX_POLICY)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return index_files(files, root=folder, policy=INDEX_POLICY)


@cache
def _discovered() -> dict[str, tuple[ImageStack, ...]]:
    """Every stack of the data, keyed by the file (one file) or folder (``/*``) it comes from.

    Each case folder is indexed on its own: the upstream test sets copy the
    same images (same UIDs) into several folders.  dcm_qa_12bit reuses one
    SOPInstanceUID for three different images: the indexer must keep all three.
    """
    found: dict[str, list[ImageStack]] = {}
    for folder in case_folders():
        index = _index(folder)
        stacks = list(index.iter_stacks())
        for stack in stacks:
            found.setdefault(stack_key(stack), []).append(stack)
    return {k: tuple(v) for k, v in found.items()}


def stack_key(stack: ImageStack) -> str:
    files = sorted({Path(f.header.path).resolve() for f in stack.frames})
    rel = [p.relative_to(DICOM_DATA.resolve()) for p in files]
    if len(rel) == 1:
        return rel[0].as_posix()
    common = Path(os.path.commonpath([r.parent.as_posix() for r in rel]))
    return common.as_posix() + ("/*" if all(r.parent == common for r in rel) else "/**")


_VOLUMES: dict[tuple[str, int], Volume] = {}


def _volume(key: str, i: int, policy: DicomReadPolicy | None = None) -> Volume:
    if policy is not None:
        return load_stack(_stacks(key)[i], policy)
    if (key, i) not in _VOLUMES:
        _VOLUMES[key, i] = load_stack(_stacks(key)[i])
    return _VOLUMES[key, i]


def _stacks(key: str) -> tuple[ImageStack, ...]:
    stacks = _discovered().get(key)
    if not stacks:
        pytest.fail(f"{key}: not found by index_folder")
    return stacks


# --- comparison -----------------------------------------------------------------------------


@dataclass
class RefVolume:
    name: str
    affine_ras: np.ndarray
    data: np.ndarray  # 3-D, in the reference's own index order (x, y, z)


def reference_volumes(path: Path, volumes: tuple[int, ...] | None = None, scale: float = 1.0) -> list[RefVolume]:
    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj)
    if data.ndim == 3:
        data = data[..., None]
    data = data.reshape(data.shape[:3] + (-1,))
    picks = range(data.shape[3]) if volumes is None else volumes
    return [
        RefVolume(f"{path.name}[{t}]", img.affine, data[..., t] * scale if scale != 1.0 else data[..., t])
        for t in picks
    ]


def to_reference_grid(vol: Volume, affine_ras: np.ndarray, shape: tuple[int, ...], tol_mm: float = 1e-3) -> np.ndarray:
    """Our array reordered into the reference's (x, y, z) index space; AssertionError if grids differ."""
    ref = LPS @ np.asarray(affine_ras, dtype=np.float64)
    m = np.linalg.inv(ref) @ vol.affine
    p = np.rint(m[:3, :3])
    if not (np.all(np.abs(p).sum(axis=0) == 1) and np.all(np.abs(p).sum(axis=1) == 1)):
        raise AssertionError(f"axes are not a permutation/flip of the reference's: {np.round(m[:3, :3], 4).tolist()}")
    t = np.rint(m[:3, 3])
    ni, nj, nk = vol.size_ijk
    corners = np.array([[i, j, k, 1.0] for i in (0, ni - 1) for j in (0, nj - 1) for k in (0, nk - 1)])
    ours = corners @ vol.affine.T
    theirs = np.c_[corners[:, :3] @ p.T + t, np.ones(8)] @ ref.T
    err = float(np.max(np.linalg.norm(ours[:, :3] - theirs[:, :3], axis=1)))
    if err > tol_mm:
        raise AssertionError(f"voxel positions differ by up to {err:.4g} mm")
    arr = vol.array.transpose(2, 1, 0)
    axes = [int(np.argmax(np.abs(p[r]))) for r in range(3)]
    arr = arr.transpose(axes)
    start = []
    for r in range(3):
        if p[r, axes[r]] < 0:
            arr = np.flip(arr, axis=r)
            start.append(t[r] - (arr.shape[r] - 1))
        else:
            start.append(t[r])
    if any(start) or arr.shape != tuple(shape[:3]):
        raise AssertionError(f"grid starts at reference index {start} with shape {arr.shape}, reference {tuple(shape[:3])}")
    return arr


def compare(
    vol: Volume, ref: RefVolume, *, rtol: float = 0.0, nominal: bool = False, inverted: bool = False
) -> str | None:
    """``None`` when ``vol`` equals ``ref`` (grid and values), else what differs.

    ``inverted``: our values are the reference's mirrored (``c - ref``), as
    MONOCHROME1 is shown inverted while dcm2niix keeps the stored values.
    """
    if inverted:
        data = np.asarray(ref.data, dtype=np.float64)
        flipped = float(vol.array.max()) + float(data.min()) - data
        ref = RefVolume(ref.name + " inverted", ref.affine_ras, flipped)
    try:
        if nominal:
            arr = _nominal_match(vol, ref.data)
        else:
            arr = to_reference_grid(vol, ref.affine_ras, ref.data.shape)
    except AssertionError as exc:
        return f"{ref.name}: {exc}"
    a = arr.astype(np.float64)
    b = np.asarray(ref.data, dtype=np.float64)
    if a.shape != b.shape:
        return f"{ref.name}: shape {a.shape} vs {b.shape}"
    diff = np.abs(a - b)
    floating = np.issubdtype(arr.dtype, np.floating) or np.issubdtype(ref.data.dtype, np.floating)
    tol = rtol * float(np.max(np.abs(b))) if rtol else (1e-6 * max(1.0, float(np.max(np.abs(b)))) if floating else 0.0)
    worst = float(diff.max()) if diff.size else 0.0
    if worst > tol:
        return f"{ref.name}: values differ by up to {worst:.6g} ({int((diff > tol).sum())} voxels)"
    return None


def _nominal_match(vol: Volume, data: np.ndarray) -> np.ndarray:
    """No patient geometry: the reference's in-plane axes may be flipped/swapped arbitrarily."""
    arr = vol.array.transpose(2, 1, 0)
    for swap in (False, True):
        base = arr.transpose(1, 0, 2) if swap else arr
        for fx in (False, True):
            for fy in (False, True):
                cand = base[::-1 if fx else 1, ::-1 if fy else 1]
                if cand.shape == data.shape[:3] and np.array_equal(cand, data):
                    return cand
    return arr  # let the value comparison report the difference


def match_one_to_one(vols: list[Volume], refs: list[RefVolume], *, all_refs: bool, **kw) -> None:
    """Pair every volume with a distinct equal reference volume (and cover every reference if asked)."""
    ok = [[compare(v, r, **kw) for r in refs] for v in vols]
    pairs: dict[int, int] = {}

    def augment(v: int, seen: set[int]) -> bool:
        for r in range(len(refs)):
            if ok[v][r] is None and r not in seen:
                seen.add(r)
                if r not in pairs or augment(pairs[r], seen):
                    pairs[r] = v
                    return True
        return False

    unmatched = [v for v in range(len(vols)) if not augment(v, set())]
    problems = []
    for v in unmatched:
        problems.append(f"stack {v}: no equal reference volume; " + "; ".join(str(x) for x in ok[v][:3]))
    if all_refs and len(pairs) < len(refs):
        missing = [refs[r].name for r in range(len(refs)) if r not in pairs]
        problems.append(f"reference volumes without an equal stack: {missing}")
    assert not problems, "\n".join(problems)


# --- dcm2niix oracle ---------------------------------------------------------------------------


def dcm2niix_volumes(files: list[str], out: Path, *extra: str) -> list[RefVolume]:
    """Convert ``files`` (linked into a fresh folder) with dcm2niix; every volume it wrote."""
    exe = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    if not Path(exe).exists():
        pytest.fail("dcm2niix is not installed (pip install dcm2niix): it is the oracle of this test")
    src, dst = out / "in", out / "out"
    src.mkdir(parents=True)
    dst.mkdir()
    for n, f in enumerate(sorted(set(files))):
        (src / f"{n:05d}_{Path(f).name}").symlink_to(f)
    run = subprocess.run(
        [exe, "-o", str(dst), "-f", "%s_%p_%t", "-z", "n", "-b", "n", *extra, str(src)],
        capture_output=True, text=True, timeout=120,
    )
    made = sorted(dst.glob("*.nii"))
    assert made, f"dcm2niix made nothing (exit {run.returncode}): {run.stdout[-500:]} {run.stderr[-500:]}"
    return [v for p in made for v in reference_volumes(p)]


def _files(key: str) -> list[str]:
    return sorted({f.header.path for s in _stacks(key) for f in s.frames})


# --- the tests ----------------------------------------------------------------------------------


def test_every_series_in_the_data_is_in_the_table():
    found = _discovered()
    unlisted = sorted(set(found) - set(EXPECTED))
    missing = sorted(set(EXPECTED) - set(found))
    assert not unlisted, f"series in the data without an expected outcome: {unlisted}"
    assert not missing, f"series listed but not found by index_folder: {missing}"
    wrong = {k: (len(found[k]), EXPECTED[k].stacks) for k in found if len(found[k]) != EXPECTED[k].stacks}
    assert not wrong, f"stack counts (found, expected): {wrong}"


REF_KEYS = sorted(k for k, v in EXPECTED.items() if isinstance(v, Ref))
ORACLE_KEYS = sorted(k for k, v in EXPECTED.items() if isinstance(v, Oracle))
REFUSED_KEYS = sorted(k for k, v in EXPECTED.items() if isinstance(v, Refused))


@pytest.mark.parametrize("key", REF_KEYS)
def test_matches_shipped_reference(key):
    """Stack ``t`` of a split series (in index order) equals reference volume ``t``."""
    expect = EXPECTED[key]
    assert isinstance(expect, Ref)
    vols = [_volume(key, i) for i in range(len(_stacks(key)))]
    if len(expect.files) == 2 and expect.files[0].startswith(D2N):
        # dicom2nifti: the ground truth and its reoriented copy must both match
        groups = [reference_volumes(DICOM_DATA / f, expect.volumes) for f in expect.files]
    else:
        refs: list[RefVolume] = []
        for f in expect.files:
            scale = _philips_fp_scale(DICOM_DATA / f) if expect.philips_fp else 1.0
            refs.extend(reference_volumes(DICOM_DATA / f, expect.volumes, scale))
        groups = [refs]
    for refs in groups:
        assert len(refs) == len(vols), f"{len(vols)} stacks for {len(refs)} reference volumes"
        problems = [
            f"stack {t} ({_stacks(key)[t].label or 'unsplit'}): {why}"
            for t, (vol, ref) in enumerate(zip(vols, refs, strict=True))
            if (why := compare(vol, ref, rtol=2e-5 if expect.philips_fp else 0.0)) is not None
        ]
        assert not problems, "\n".join(problems)


def _philips_fp_scale(nii: Path) -> float:
    """dcm2niix stores Philips FP = DV / (RS * SS); this factor gives back DV (the rescaled value)."""
    side = json.loads(nii.with_suffix(".json").read_text())
    return float(side["PhilipsRescaleSlope"]) * float(side["PhilipsScaleSlope"])


@pytest.mark.parametrize("key", ORACLE_KEYS)
def test_matches_dcm2niix(key, tmp_path):
    expect = EXPECTED[key]
    assert isinstance(expect, Oracle)
    vols = [_volume(key, i) for i in range(len(_stacks(key)))]
    if expect.time_frames:  # frames in time: each frame against a one-slice volume
        assert all(v.metadata.frame_axis == "time" for v in vols)
        vols = [
            Volume(v.array[k : k + 1], v.spacing, v.origin, v.direction, v.metadata)
            for v in vols for k in range(v.shape[0])
        ]
    refs = dcm2niix_volumes(_files(key), tmp_path)
    match_one_to_one(vols, refs, all_refs=False, nominal=expect.nominal, inverted=expect.inverted)
    if expect.nominal:
        assert all(any("no position in the patient" in w for w in v.metadata.warnings) for v in vols)
    if expect.grid:
        _assert_on_grid(vols[0], DICOM_DATA / expect.grid)


def _assert_on_grid(vol: Volume, path: Path) -> None:
    """``vol`` samples exactly the points of the image at ``path`` (NRRD via SimpleITK or NIfTI)."""
    if path.suffix == ".nrrd":
        img = sitk.ReadImage(str(path))
        size = img.GetSize()
        affine = np.eye(4)
        affine[:3, :3] = np.asarray(img.GetDirection()).reshape(3, 3) * np.asarray(img.GetSpacing())
        affine[:3, 3] = img.GetOrigin()
        if size[2] != vol.shape[0]:  # a single slice of a longer map: its first slice
            size = (size[0], size[1], vol.shape[0])
        # NRRD directions are orthonormalised from DICOM's 6-digit cosines: 0.01 mm
        to_reference_grid(vol, LPS @ affine, (size[0], size[1], size[2]), tol_mm=0.01)
    else:
        img = nib.load(str(path))
        to_reference_grid(vol, img.affine, img.shape)


@pytest.mark.parametrize("key", REFUSED_KEYS)
def test_refused_with_a_clear_reason(key):
    expect = EXPECTED[key]
    assert isinstance(expect, Refused)
    for stack in _stacks(key):
        with pytest.raises(expect.error) as err:
            load_stack(stack)
        message = str(err.value)
        for words in expect.words:
            assert words in message
        assert len(message) > 40  # a sentence, not a code
        if isinstance(err.value, IrregularGeometry):
            assert err.value.problems and all(p in message for p in err.value.problems)


# --- what the refused series become when resampled ----------------------------------------------


def test_gantry_tilt_resampled_equals_dcm2niix_tilt_correction(tmp_path):
    key = f"{D2N}/failing/gantrytilting/001/*"
    vol = _volume(key, 0, RESAMPLE)
    np.testing.assert_allclose(vol.direction.T @ vol.direction, np.eye(3), atol=1e-9)
    assert any("Resampled" in w and "gantry tilt 14.0°" in w for w in vol.metadata.warnings)
    refs = [r for r in dcm2niix_volumes(_files(key), tmp_path) if "Tilt" in r.name]
    assert len(refs) == 1
    assert compare(vol, refs[0]) is None


def test_missing_slice_resampled_by_interpolation():
    key = f"{D2N}/failing/sliceincrement/001/*"
    vol = _volume(key, 0, RESAMPLE)
    src = _volume(key, 0, DicomReadPolicy(irregular="as-is")).array.astype(np.float64)
    assert vol.shape[0] == 5 and vol.spacing[2] == pytest.approx(5.0, abs=1e-4)
    for k_out, k_in in ((0, 0), (1, 1), (2, 2), (4, 3)):
        np.testing.assert_array_equal(vol.array[k_out], src[k_in])
    assert np.max(np.abs(vol.array[3] - (src[2] + src[3]) / 2)) <= 0.5 + 1e-3
    np.testing.assert_allclose(vol.index_to_lps((0, 0, 3)), (-123.5, -115.199997, 33.1075), atol=1e-3)


def test_tilt_with_missing_slice_resampled_like_dcm2niix(tmp_path):
    key = f"{D2N}/failing/sliceincrement/002/*"
    vol = _volume(key, 0, RESAMPLE)
    refs = [r for r in dcm2niix_volumes(_files(key), tmp_path) if "Tilt_Eq" in r.name]
    assert len(refs) == 1
    arr = to_reference_grid(vol, refs[0].affine_ras, refs[0].data.shape).astype(np.float64)
    # compare away from each slice's data edge (half-pixel boundary conventions differ there)
    fill = vol.array.min()
    inside = np.zeros(vol.shape, dtype=bool)
    for k in range(vol.shape[0]):
        rows = np.nonzero(np.any(vol.array[k] != fill, axis=1))[0]
        inside[k, rows.min() + 1 : rows.max(), 1:-1] = True
    mask = to_reference_grid(vol.with_array(inside.astype(np.uint8)), refs[0].affine_ras, refs[0].data.shape) > 0
    assert mask.sum() > 0.9 * mask.size
    diff = np.abs(arr - refs[0].data)[mask]
    assert diff.max() <= 1.0, f"interior differs by up to {diff.max()}"  # rounding of interpolated values


def test_stacks_that_are_not_a_volume_are_refused_when_merged():
    notavolume = _stacks(f"{D2N}/failing/notavolume/001/*")
    assert len(notavolume) == 1  # one position: a time series, loaded as frames in time
    assert _volume(f"{D2N}/failing/notavolume/001/*", 0).shape[0] == 4
    orient = [f for s in _stacks(f"{D2N}/failing/sliceorientation/001/*") for f in s.frames]
    with pytest.raises(UnsupportedData, match="2 different orientations"):
        load_stack(ImageStack("merged", orient))


def test_rgb_geometry_and_pixels_match_the_ground_truth():
    rgb = _volume(f"{D2N}/generic/rgb/001/*", 0)
    assert rgb.is_rgb and rgb.array.shape == (4, 77, 52, 3)
    gt = nib.load(str(DICOM_DATA / D2N / "generic/rgb/001_ground_truth.nii.gz"))
    data = np.asanyarray(gt.dataobj)
    for c, name in enumerate("RGB"):
        channel = np.ascontiguousarray(rgb.array[..., c])
        vol = Volume(channel, rgb.spacing, rgb.origin, rgb.direction)
        arr = to_reference_grid(vol, gt.affine, data.shape)
        np.testing.assert_array_equal(arr, data[name])


# --- cross-checks between series -------------------------------------------------------------------


def test_transfer_syntax_copies_load_to_identical_arrays():
    arrays = [_volume(f"dcm_qa_ts/In/{n}.dcm", 0).array for n in range(1, 10)]
    for n, a in enumerate(arrays[1:], 2):
        assert a.dtype == arrays[0].dtype
        np.testing.assert_array_equal(a, arrays[0], err_msg=f"dcm_qa_ts/In/{n}.dcm")


def test_single_and_multi_frame_ct_are_the_same_volume():
    for size in ("23x38x3", "24x38x3"):
        single = _volume(f"dcmqi_data/data/segmentations/{size}/image/*", 0)
        multi = _volume(f"dcmqi_data/data/segmentations/{size}/multiframe/mf.dcm", 0)
        assert single.same_grid(multi, tol=1e-4)
        np.testing.assert_array_equal(single.array, multi.array)


def test_parametric_map_slice_equals_the_first_slice_of_its_nrrd():
    vol = _volume("dcmqi_data/data/paramaps/pm-example-slice.dcm", 0)
    nrrd = sitk.GetArrayFromImage(sitk.ReadImage(str(DICOM_DATA / "dcmqi_data/data/paramaps/pm-example.nrrd")))
    np.testing.assert_array_equal(vol.array[0], nrrd[0])


def test_totalsegmentator_ct_is_hu_on_the_grid_of_its_segmentation():
    vol = _volume("totalsegmentator_ref/tests/reference_files/example_ct_dicom/*", 0)
    seg = nib.load(str(DICOM_DATA / "totalsegmentator_ref/tests/reference_files/example_seg_dicom.nii.gz"))
    labels = to_reference_grid(vol, seg.affine, seg.shape)  # our CT in the segmentation's voxel order
    mask = np.asanyarray(seg.dataobj) > 0
    assert vol.metadata.units == "HU" and vol.metadata.modality == "CT"
    # labelled organs are tissue, not air: the segmentation overlays our voxels where it should
    assert float(np.median(labels[mask])) > -200
    assert float(np.median(labels[~mask])) < float(np.median(labels[mask]))
