"""NIfTI / NRRD / MetaImage reading and atomic writing."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from interval.core.errors import IntervalError, UnreadableFile, UnsupportedData
from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.io import image_files
from interval.io.image_files import (
    image_extension,
    read_image,
    read_image_info,
    write_image,
)
from tests.conftest import shared
from tests.io.test_sitk_bridge import make_volume, oblique_direction

EXTENSIONS = [".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"]


@pytest.mark.parametrize("dtype", ["int16", "uint8", "float32"])
@pytest.mark.parametrize("ext", EXTENSIONS)
def test_round_trip(tmp_path: Path, ext: str, dtype: str) -> None:
    vol = make_volume(dtype)
    path = write_image(vol, tmp_path / f"vol{ext}")
    back = read_image(path)
    assert back.array.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.array, vol.array)
    # MetaImage and NRRD keep doubles; NIfTI stores geometry as float32
    tol = 1e-5 if ext.startswith(".nii") else 1e-12
    np.testing.assert_allclose(back.spacing, vol.spacing, atol=tol)
    np.testing.assert_allclose(back.origin, vol.origin, atol=tol)
    np.testing.assert_allclose(back.direction, vol.direction, atol=tol)
    if ext == ".mha":
        assert back.spacing == vol.spacing and back.origin == vol.origin
        np.testing.assert_array_equal(back.direction, vol.direction)
    assert back.metadata.source == str(path)


@pytest.mark.parametrize("ext", [".nii.gz", ".nii"])
def test_nifti_affine_seen_by_nibabel_is_the_ras_affine(tmp_path: Path, ext: str) -> None:
    vol = make_volume("int16")
    path = write_image(vol, tmp_path / f"vol{ext}")
    img = nib.load(str(path))
    np.testing.assert_allclose(img.affine, vol.affine_ras, atol=1e-5)
    # nibabel's array is [i, j, k]; ours is [k, j, i]
    np.testing.assert_array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), vol.array)
    assert img.get_data_dtype() == np.int16


def test_reads_real_nifti_like_nibabel() -> None:
    path = shared("totalsegmentator_ref", "tests", "reference_files", "example_seg_dicom.nii.gz")
    vol = read_image(path)
    img = nib.load(str(path))
    assert vol.size_ijk == img.shape
    np.testing.assert_allclose(vol.affine_ras, img.affine, atol=1e-4)
    np.testing.assert_array_equal(vol.array, np.asarray(img.dataobj).transpose(2, 1, 0))


def test_reads_real_nrrd_label_map_as_labels() -> None:
    path = shared("dcmqi_data", "data", "segmentations", "liver_seg.nrrd")
    vol = read_image(path, as_labels=True)
    assert vol.is_label_map and vol.array.dtype.kind in "iu"
    values = sorted(int(v) for v in np.unique(vol.array) if v != 0)
    assert values and [i.value for i in vol.labels] == values  # type: ignore[union-attr]


def test_header_info_without_voxels(tmp_path: Path) -> None:
    vol = make_volume("uint8")
    path = write_image(vol, tmp_path / "v.nrrd")
    info = read_image_info(path)
    assert info.format == "NRRD"
    assert info.size == vol.size_ijk
    assert info.dtype == "uint8" and info.components == 1
    np.testing.assert_allclose(np.reshape(info.direction, (3, 3)), oblique_direction(), atol=1e-12)


def test_label_map_is_written_as_integers(tmp_path: Path) -> None:
    arr = np.zeros((3, 4, 5), dtype=np.float32)
    arr[1, 2, 3] = 2.0
    arr[0, 0, 0] = 7.0
    labels = Volume(arr, labels=LabelTable.for_values([2, 7]))
    back = read_image(write_image(labels, tmp_path / "labels.nii.gz"))
    assert back.array.dtype == np.uint8
    assert back.array[1, 2, 3] == 2 and back.array[0, 0, 0] == 7


def test_label_map_with_fractions_is_refused(tmp_path: Path) -> None:
    arr = np.full((2, 2, 2), 0.5, dtype=np.float32)
    with pytest.raises(UnsupportedData):
        write_image(Volume(arr, labels=LabelTable()), tmp_path / "l.nii.gz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_write_leaves_no_temporary_files(tmp_path: Path, ext: str) -> None:
    write_image(make_volume("int16"), tmp_path / f"v{ext}")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert all(not n.startswith(".") for n in names), names
    expected = {".nhdr": 2, ".mhd": 2}.get(ext, 1)  # header + data file
    assert len(names) == expected


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "v.nii.gz"
    write_image(make_volume("int16"), target)
    before = target.read_bytes()

    def broken_write(image, path, compress):  # type: ignore[no-untyped-def]
        Path(path).write_bytes(b"half a file")
        raise IntervalError("disk full")

    monkeypatch.setattr(image_files, "_itk_write", broken_write)
    with pytest.raises(IntervalError, match="disk full"):
        write_image(make_volume("uint8"), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v.nii.gz"]


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "v.mha"
    write_image(make_volume("int16"), target)
    write_image(make_volume("uint8"), target)
    assert read_image(target).array.dtype == np.uint8


def test_unknown_extension_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedData, match="NIfTI"):
        write_image(make_volume("int16"), tmp_path / "v.png")
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(UnsupportedData, match="unknown file type"):
        read_image(tmp_path / "x.jpg")


def test_damaged_and_missing_files_raise_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"this is not gzip at all" * 10)
    with pytest.raises(UnreadableFile) as err:
        read_image(bad)
    assert "bad.nii.gz" in str(err.value) and "Traceback" not in str(err.value)
    with pytest.raises(UnreadableFile):
        read_image_info(bad)
    with pytest.raises(UnreadableFile, match="not found"):
        read_image(tmp_path / "missing.nrrd")
    folder = tmp_path / "folder.nii"
    folder.mkdir()
    with pytest.raises(UnreadableFile, match="folder"):
        read_image(folder)


def test_sheared_grid_kept_exactly_or_refused(tmp_path: Path) -> None:
    tilt = np.radians(14.0)  # a gantry tilt loaded as-is: the slice axis leans
    shear = np.array([[1, 0, 0], [0, 1, np.sin(tilt)], [0, 0, np.cos(tilt)]])
    vol = Volume(np.arange(120, dtype=np.int16).reshape(4, 5, 6), (0.4, 0.4, 5.0), (1, 2, 3), shear)
    for ext in (".nrrd", ".mha"):
        back = read_image(write_image(vol, tmp_path / f"tilt{ext}"))
        np.testing.assert_allclose(back.direction, shear, atol=1e-12)
        np.testing.assert_array_equal(back.array, vol.array)
    with pytest.raises(UnsupportedData, match="NRRD"):
        write_image(vol, tmp_path / "tilt.nii.gz")
    assert not (tmp_path / "tilt.nii.gz").exists()


def test_missing_output_folder(tmp_path: Path) -> None:
    with pytest.raises(IntervalError, match="does not exist"):
        write_image(make_volume("int16"), tmp_path / "nope" / "v.nii.gz")


def test_itk_write_failure_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("Exception thrown in SimpleITK WriteImage:\nITK ERROR: Could not open file")

    monkeypatch.setattr(image_files.sitk, "WriteImage", failing)
    with pytest.raises(IntervalError, match="could not write the file") as err:
        write_image(make_volume("int16"), tmp_path / "v.nii.gz")
    assert "Could not open file" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_extension_detection() -> None:
    assert image_extension("a/b/SCAN.NII.GZ") == ".nii.gz"
    assert image_extension("x.nii") == ".nii"
    assert image_extension("x.mhd") == ".mhd"
    assert image_extension("x.dcm") is None
    assert image_extension("x.gz") is None


# --- label maps: values present, NIfTI inflated into one array -------------------------


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "uint32", "int64"])
def test_present_values_equal_numpy_unique(dtype: str) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    for low, high in ((0, 6), (max(int(info.min), -4), 5), (int(info.min), int(info.max))):
        array = rng.integers(low, high, size=(3, 40, 1100), dtype=dtype, endpoint=True)
        array[0] = low  # whole chunks of one value are skipped, not lost
        assert image_files.present_values(array) == np.unique(array).tolist()
    assert image_files.present_values(np.zeros((0, 2, 2), dtype)) == []


def _itk_read(path: Path) -> Volume:
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    return Volume(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(),
                  np.array(image.GetDirection()).reshape(3, 3))


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32"])
@pytest.mark.parametrize("ext", [".nii.gz", ".nii"])
def test_nifti_label_map_read_directly_matches_itk(tmp_path: Path, ext: str, dtype: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    array = (np.abs(make_volume(dtype, (6, 7, 9)).array.astype(np.int64)) % 7).astype(dtype)
    vol = Volume(array, (0.5, 0.7, 2.5), (10.0, -20.0, 30.0), oblique_direction(),
                 labels=LabelTable.for_values(list(range(1, 7))))
    path = write_image(vol, tmp_path / f"labels{ext}")
    monkeypatch.setattr(image_files, "_read_with_itk", _no_itk)  # the direct path must serve
    back = read_image(path, as_labels=True)
    ref = _itk_read(path)
    assert back.array.dtype == np.dtype(dtype) and back.array.flags.writeable
    np.testing.assert_array_equal(back.array, ref.array)
    assert back.spacing == ref.spacing and back.origin == ref.origin
    np.testing.assert_array_equal(back.direction, ref.direction)
    assert [i.value for i in back.labels or []] == sorted(set(np.unique(ref.array)) - {0})


def _no_itk(*args: object) -> Volume:
    raise AssertionError("read with ITK, not directly")


def test_nifti_label_map_of_several_gzip_members(tmp_path: Path) -> None:
    from interval.io.gzip_members import gzip_stream

    vol = make_volume("uint8", (10, 20, 30))
    vol = vol.with_array(vol.array % 5, labels=LabelTable.for_values([1, 2, 3, 4]))
    plain = write_image(vol, tmp_path / "labels.nii")
    members = tmp_path / "labels.nii.gz"
    with open(plain, "rb") as src, open(members, "wb") as dst:
        gzip_stream(src, dst, chunk_bytes=1000, threads=2)
    assert members.read_bytes().count(b"\x1f\x8b\x08") > 3
    back = read_image(members, as_labels=True)
    np.testing.assert_array_equal(back.array, vol.array)
    # a truncated file is refused with a reason, never half-read (ITK would read it)
    whole = members.read_bytes()
    for cut in (whole[:-200], whole[: len(whole) // 2 + 7]):  # at / inside a member
        members.write_bytes(cut)
        with pytest.raises(UnreadableFile, match="incomplete"):
            read_image(members, as_labels=True)


def test_scaled_nifti_label_map_is_left_to_itk(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4) % 3
    img = nib.Nifti1Image(array.T, np.diag([1.0, 1.0, 1.0, 1.0]))
    img.header.set_slope_inter(2.0, 0.0)
    path = tmp_path / "scaled.nii.gz"
    nib.save(img, str(path))
    assert image_files._read_nifti_direct(path, ".nii.gz", image_files.VolumeMetadata()) is None
    back = read_image(path, as_labels=True)
    np.testing.assert_array_equal(back.array, _itk_read(path).array)
