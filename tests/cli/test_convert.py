"""``interval convert``: one stack to NIfTI/NRRD/MetaImage, safely."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from interval.cli.main import main
from interval.core.volume import Volume
from interval.io.image_files import read_image, write_image
from tests.cli.dicom_factory import WrittenSeries, write_ct_series
from tests.conftest import shared


def expected_ras_affine(series: WrittenSeries) -> np.ndarray:
    """Axial slices: i along +x (L), j along +y (P), k along +z (S), in RAS."""
    lps = np.eye(4)
    lps[:3, :3] = np.diag(series.spacing)
    lps[:3, 3] = series.origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


@pytest.fixture
def ct(tmp_path: Path) -> WrittenSeries:
    return write_ct_series(tmp_path / "ct", n=6)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, WrittenSeries, WrittenSeries]:
    root = tmp_path / "two"
    study = "1.2.826.0.1.3680043.8.498.2"
    a = write_ct_series(root / "a", n=5, series_number=3, description="Axial", study_uid=study)
    b = write_ct_series(
        root / "b", n=4, rows=6, cols=7, series_number=4, description="Thin",
        study_uid=study, seed=2,
    )
    return root, a, b


def test_dicom_folder_to_nifti(
    ct: WrittenSeries, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "ct.nii.gz"
    out.parent.mkdir()
    assert main(["convert", str(ct.paths[0].parent), "-o", str(out)]) == 0
    assert "Wrote" in capsys.readouterr().out
    img = nib.load(str(out))
    data = np.asarray(img.dataobj)
    assert data.dtype.kind == "i"  # HU kept as integers, not float64
    np.testing.assert_array_equal(data.transpose(2, 1, 0), ct.array)
    np.testing.assert_allclose(img.affine, expected_ras_affine(ct), atol=1e-4)
    assert sorted(p.name for p in out.parent.iterdir()) == ["ct.nii.gz"]  # no temp files


@pytest.mark.parametrize("ext", [".nrrd", ".mha", ".nii"])
def test_other_formats(ct: WrittenSeries, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"ct{ext}"
    assert main(["convert", str(ct.paths[0].parent), "-o", str(out)]) == 0
    vol = read_image(out)
    np.testing.assert_array_equal(vol.array, ct.array)
    np.testing.assert_allclose(vol.spacing, ct.spacing, atol=1e-5)
    np.testing.assert_allclose(vol.origin, ct.origin, atol=1e-4)


def test_several_stacks_need_a_choice(
    two: tuple[Path, WrittenSeries, WrittenSeries], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, a, b = two
    out = tmp_path / "x.nii.gz"
    assert main(["convert", str(root), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "2 image stacks found" in err
    assert a.series_uid in err and b.series_uid in err
    assert '"Axial"' in err and '"Thin"' in err and "10x8x5" in err and "7x6x4" in err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("how", ["number", "series_uid", "stack_uid"])
def test_choose_a_series(
    how: str, two: tuple[Path, WrittenSeries, WrittenSeries], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, _a, b = two
    key = {"number": "4", "series_uid": b.series_uid}.get(how)
    if key is None:  # a stack uid as `interval info --json` lists it
        import json

        assert main(["info", str(root), "--json"]) == 0
        tree = json.loads(capsys.readouterr().out)
        series = tree["patients"][0]["studies"][0]["series"]
        key = next(s for s in series if s["series_number"] == 4)["stacks"][0]["uid"]
    out = tmp_path / "b.mha"
    assert main(["convert", str(root), key, "-o", str(out)]) == 0
    np.testing.assert_array_equal(read_image(out).array, b.array)


def test_unknown_series(
    two: tuple[Path, WrittenSeries, WrittenSeries], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, a, _b = two
    assert main(["convert", str(root), "99", "-o", str(tmp_path / "x.nii.gz")]) == 1
    err = capsys.readouterr().err
    assert "no series or stack matches '99'" in err and a.series_uid in err


def test_never_overwrites_an_input_file(
    ct: WrittenSeries, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = ct.paths[2]
    before = victim.read_bytes()
    # even with --force, and even with an image extension on a DICOM file name
    renamed = victim.with_name("slice.nii")
    victim.rename(renamed)
    assert main(["convert", str(renamed.parent), "-o", str(renamed), "--force"]) == 1
    assert "overwrite an input file" in capsys.readouterr().err
    assert renamed.read_bytes() == before


def test_image_file_cannot_be_written_onto_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_image(Volume(np.ones((2, 3, 4), dtype=np.uint8)), tmp_path / "a.nii.gz")
    before = src.read_bytes()
    assert main(["convert", str(src), "-o", str(src), "--force"]) == 1
    assert "input file" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_existing_output_needs_force(
    ct: WrittenSeries, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ct.nrrd"
    out.write_text("old")
    assert main(["convert", str(ct.paths[0].parent), "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "old"
    assert main(["convert", str(ct.paths[0].parent), "-o", str(out), "--force"]) == 0
    np.testing.assert_array_equal(read_image(out).array, ct.array)


def test_unknown_output_format(ct: WrittenSeries, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(ct.paths[0].parent), "-o", str(tmp_path / "ct.png")]) == 1
    assert "output format" in capsys.readouterr().err


def test_irregular_spacing_refused_then_as_is_then_resampled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gap = write_ct_series(tmp_path / "gap", positions_z=[0.0, 2.0, 4.0, 8.0, 10.0])
    folder = str(gap.paths[0].parent)
    out = tmp_path / "gap.mha"
    assert main(["convert", folder, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "missing" in err and "--irregular" in err and "Traceback" not in err
    assert not out.exists()

    assert main(["convert", folder, "-o", str(out), "--irregular", "as-is"]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err
    as_is = read_image(out)
    assert as_is.shape == (5, 8, 10)
    np.testing.assert_array_equal(as_is.array, gap.array)

    out2 = tmp_path / "resampled.mha"
    assert main(["convert", folder, "-o", str(out2), "--irregular", "resample"]) == 0
    resampled = read_image(out2)
    assert resampled.shape[1:] == (8, 10) and resampled.shape[0] >= 5
    k_span = resampled.spacing[2] * (resampled.shape[0] - 1)
    assert k_span == pytest.approx(10.0, abs=resampled.spacing[2])


def test_image_file_to_other_format(tmp_path: Path) -> None:
    vol = Volume(np.arange(60, dtype=np.float32).reshape(3, 4, 5), (0.5, 0.5, 2.0), (1, 2, 3))
    src = write_image(vol, tmp_path / "a.nii.gz")
    out = tmp_path / "a.nhdr"
    assert main(["convert", str(src), "-o", str(out)]) == 0
    back = read_image(out)
    np.testing.assert_array_equal(back.array, vol.array)
    assert back.array.dtype == np.float32


def test_image_file_with_series_uid_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_image(Volume(np.ones((2, 3, 4), dtype=np.uint8)), tmp_path / "a.nii.gz")
    assert main(["convert", str(src), "3", "-o", str(tmp_path / "b.mha")]) == 1
    assert "single image" in capsys.readouterr().err


def test_folder_without_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello")
    assert main(["convert", str(tmp_path / "in"), "-o", str(tmp_path / "x.nii.gz")]) == 1
    err = capsys.readouterr().err
    assert "no DICOM image" in err and "Traceback" not in err


# --- real data ------------------------------------------------------------------------


def assert_same_in_space(ours: Volume, ref: Volume, n: int = 3000) -> None:
    """Voxels of ``ref`` and the voxel of ``ours`` at the same LPS point hold the same value."""
    rng = np.random.default_rng(0)
    ijk = rng.integers(0, ref.size_ijk, size=(n, 3))
    continuous = ours.lps_to_index(ref.index_to_lps(ijk))
    mine = np.rint(continuous).astype(int)
    np.testing.assert_allclose(continuous, mine, atol=0.02)  # same grid points
    assert np.all(mine >= 0) and np.all(mine < np.array(ours.size_ijk))
    got = ours.array[mine[:, 2], mine[:, 1], mine[:, 0]].astype(np.float64)
    want = ref.array[ijk[:, 2], ijk[:, 1], ijk[:, 0]].astype(np.float64)
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_real_enhanced_mr_matches_dcm2niix(tmp_path: Path) -> None:
    src_dir = shared("dcm_qa_xa30", "In")
    ref_dir = shared("dcm_qa_xa30", "Ref")
    series = sorted(p for p in src_dir.iterdir() if p.name.startswith("5_"))[0]
    refs = [ref_dir / f"{series.name}.nii"]
    out = tmp_path / "t1.nii.gz"
    assert main(["convert", str(series), "-o", str(out)]) == 0
    ours = read_image(out)
    ref = read_image(refs[0])
    assert sorted(ours.shape) == sorted(ref.shape)
    assert_same_in_space(ours, ref)


def test_real_gantry_tilt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = str(shared("dicom2nifti_testdata", "tests", "data", "failing", "gantrytilting"))
    assert main(["convert", src, "-o", str(tmp_path / "t.nii.gz")]) == 1
    err = capsys.readouterr().err
    assert "gantry tilt" in err and "hint: '--irregular as-is'" in err
    # as-is keeps the sheared grid: NIfTI cannot hold it, NRRD can
    assert main(["convert", src, "-o", str(tmp_path / "t.nii.gz"), "--irregular", "as-is"]) == 1
    assert "NRRD" in capsys.readouterr().err
    assert main(["convert", src, "-o", str(tmp_path / "t.nrrd"), "--irregular", "as-is"]) == 0
    sheared = read_image(tmp_path / "t.nrrd")
    d = sheared.direction
    assert abs(float(d[:, 1] @ d[:, 2])) > 0.1  # slice axis leans: not perpendicular
    assert main(["convert", src, "-o", str(tmp_path / "r.nii.gz"), "--irregular", "resample"]) == 0
    resampled = read_image(tmp_path / "r.nii.gz")
    np.testing.assert_allclose(resampled.direction.T @ resampled.direction, np.eye(3), atol=1e-4)
    assert "Resampled" in capsys.readouterr().err
