"""GDCM (SimpleITK) decodes what pydicom's decoders cannot; otherwise a clear reason.

Oracles: pydicom/pylibjpeg on the same or a sibling file (JPEG-lossy.dcm and
JPGExtended.dcm hold the same 12-bit JPEG Extended image; libjpeg refuses the
former's scan header), and dcm_qa_ts's lossless files decoded by pydicom.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import RLELossless

from interval.core.errors import UnreadableFile, UnsupportedData
from interval.io.dicom import _codec_read, sitk_decode
from interval.io.dicom.header import read_header
from interval.io.dicom.pixels import read_pixels
from interval.io.dicom.records import FrameRef
from tests.conftest import shared

ALL_FAILED = "Unable to decode as exceptions were raised by all available plugins:\n"


def pydicom_file(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} missing"
    return str(path)


def read_file(path: str | Path, frames: list[int] | None = None) -> np.ndarray:
    header = read_header(path)
    indices = range(header.number_of_frames) if frames is None else frames
    return read_pixels([FrameRef(header, i) for i in indices])


def pydicom_pixels(path: str | Path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


@pytest.fixture
def primary_fails(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """pydicom's decoders give up on every file (as libjpeg does on JPEG-lossy.dcm)."""
    calls: list[str] = []

    def refuse(ds, indices=None, **_kw):
        calls.append("pydicom")
        raise RuntimeError(ALL_FAILED + "  pylibjpeg: libjpeg error: A misplaced marker segment")
        yield  # pragma: no cover - a generator, as iter_pixels

    monkeypatch.setattr(_codec_read, "iter_pixels", refuse)
    return calls


@pytest.fixture
def fallback_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = sitk_decode.read_stored

    def spy(path, ds=None):
        calls.append(path)
        return real(path, ds)

    monkeypatch.setattr(sitk_decode, "read_stored", spy)
    return calls


# --- 12-bit JPEG Extended that pylibjpeg refuses ------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_12bit_jpeg_extended_libjpeg_refuses_is_decoded(fallback_calls: list[str]) -> None:
    lossy = pydicom_file("JPEG-lossy.dcm")
    header = read_header(lossy)
    assert header.transfer_syntax_uid == "1.2.840.10008.1.2.4.51" and header.bits_stored == 12
    with pytest.raises(RuntimeError, match="all available plugins"):
        pydicom_pixels(lossy)  # the situation the fallback is for
    arr = read_file(lossy)
    assert fallback_calls == [lossy]
    assert arr.shape == (1, 1024, 256) and arr.dtype == np.int16
    # the same image as JPGExtended.dcm, which libjpeg decodes: equal up to IDCT rounding
    ref = pydicom_pixels(pydicom_file("JPGExtended.dcm")).astype(np.int16)
    diff = np.abs(arr[0].astype(np.int32) - ref)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.95
    assert arr.max() == 264


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fallback_used_only_when_pydicom_fails(fallback_calls: list[str]) -> None:
    arr = read_file(pydicom_file("JPGExtended.dcm"))
    assert fallback_calls == []
    np.testing.assert_array_equal(arr[0], pydicom_pixels(pydicom_file("JPGExtended.dcm")))


# --- forced failure of the primary decoder: the fallback gives the reference pixels --------


@pytest.mark.parametrize("name", ["5.dcm", "7.dcm", "9.dcm", "4.dcm"])  # JPEG LL, JPEG-LS, J2K, RLE
def test_fallback_equals_pydicom_on_lossless_files(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared("dcm_qa_ts", "In", name)
    ref = read_file(path)
    monkeypatch.setattr(_codec_read, "iter_pixels", _refusing)
    np.testing.assert_array_equal(read_file(path), ref)


def _refusing(ds, indices=None, **_kw):
    raise RuntimeError(ALL_FAILED + "  pylibjpeg: refused")
    yield  # pragma: no cover


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_signed_jpeg2000_through_fallback(primary_fails: list[str]) -> None:
    path = pydicom_file("MR_small_jp2klossless.dcm")
    arr = read_file(path)
    assert primary_fails and arr.dtype == np.int16
    np.testing.assert_array_equal(arr[0], pydicom_pixels(path))


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_fallback_applies_rescale_and_inversion_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photometric: str
) -> None:
    """GDCM rescales and inverts by itself: the values must not be transformed twice."""
    ds = pydicom.dcmread(shared("dcm_qa_ts", "In", "5.dcm"))  # JPEG lossless, 12 bits stored
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1000
    ds.PhotometricInterpretation = photometric
    path = tmp_path / "rescaled.dcm"
    ds.save_as(path)
    stored = pydicom_pixels(path).astype(np.int32)
    expected = (4095 - stored if photometric == "MONOCHROME1" else stored) * 2 - 1000
    np.testing.assert_array_equal(read_file(path)[0], expected)  # pydicom's path
    monkeypatch.setattr(_codec_read, "iter_pixels", _refusing)
    np.testing.assert_array_equal(read_file(path)[0], expected)  # GDCM's path


def test_fallback_reads_the_wanted_frames_of_a_multiframe_file(
    tmp_path: Path, primary_fails: list[str]
) -> None:
    frames, refs = [], []
    for name in ("5.dcm", "6.dcm"):  # both JPEG lossless 384 x 384, different images
        ds = pydicom.dcmread(shared("dcm_qa_ts", "In", name))
        frames.append(next(generate_frames(ds.PixelData, number_of_frames=1)))
        refs.append(ds.pixel_array)
    ds.PixelData = encapsulate(frames)
    ds.NumberOfFrames = 2
    path = tmp_path / "two.dcm"
    ds.save_as(path)
    arr = read_file(path, [1, 0])
    np.testing.assert_array_equal(arr[0], refs[1])
    np.testing.assert_array_equal(arr[1], refs[0])


def test_syntax_without_pydicom_decoder_goes_straight_to_gdcm(
    monkeypatch: pytest.MonkeyPatch, fallback_calls: list[str]
) -> None:
    path = shared("dcm_qa_ts", "In", "5.dcm")
    ref = read_file(path)
    monkeypatch.setattr(_codec_read, "_pydicom_decodes", lambda ts: False)
    np.testing.assert_array_equal(read_file(path), ref)
    assert fallback_calls == [str(path)]


# --- what is not decoded: damaged, or unsupported compression ------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corrupt_12bit_jpeg_is_damaged_not_patched(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_file("JPEG-lossy.dcm"))
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    for i in range(len(frame) // 2, len(frame) // 2 + 400):
        frame[i] ^= 0x5A
    ds.PixelData = encapsulate([bytes(frame)])
    path = tmp_path / "garbled.dcm"
    ds.save_as(path)
    with pytest.raises(UnreadableFile, match="probably damaged") as err:
        read_file(path)
    assert "GDCM" in str(err.value) and "JPEG Extended" in str(err.value)


def test_structural_errors_never_reach_the_fallback(
    monkeypatch: pytest.MonkeyPatch, fallback_calls: list[str]
) -> None:
    def broken(ds, indices=None, **_kw):
        raise ValueError("Unable to determine the frame boundaries")
        yield  # pragma: no cover

    monkeypatch.setattr(_codec_read, "iter_pixels", broken)
    with pytest.raises(UnreadableFile, match="probably damaged"):
        read_file(shared("dcm_qa_ts", "In", "5.dcm"))
    assert fallback_calls == []


def test_made_up_compressed_syntax_is_unsupported_compression(tmp_path: Path) -> None:
    ds = pydicom.dcmread(shared("dcm_qa_ts", "In", "5.dcm"))
    uid = "1.2.826.0.1.3680043.8.498.77.1"
    ds.file_meta.TransferSyntaxUID = uid
    ds.PixelData = encapsulate([b"\x00\x01junk" * 64])
    path = tmp_path / "madeup.dcm"
    ds.save_as(path, implicit_vr=False, little_endian=True)
    with pytest.raises(UnsupportedData) as err:
        read_file(path)
    assert err.value.message.startswith(f"unsupported compression {uid}")
    assert "damaged" not in err.value.message


def test_every_decoder_lacking_the_feature_is_unsupported_compression(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def lacking(ds, indices=None, **_kw):
        raise RuntimeError(ALL_FAILED + "  pillow: Pillow does not support 'JPEG Lossless'")
        yield  # pragma: no cover

    def gdcm_lacking(path, ds=None):
        raise sitk_decode.FallbackFailed("unsupported JPEG process")

    monkeypatch.setattr(_codec_read, "iter_pixels", lacking)
    monkeypatch.setattr(sitk_decode, "read_stored", gdcm_lacking)
    with pytest.raises(UnsupportedData) as err:
        read_file(shared("dcm_qa_ts", "In", "5.dcm"))
    assert err.value.message.startswith("unsupported compression JPEG Lossless")


def test_gdcm_notes_do_not_reach_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    arr = sitk_decode.read_stored(pydicom_file("JPEG-lossy.dcm"))
    assert arr.shape == (1, 1024, 256)
    err = capfd.readouterr().err
    assert "JPEG data precision" not in err and "SOS" not in err


def test_fallback_on_enhanced_file_with_rescale_in_functional_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDCM rescales from the functional groups too: still applied exactly once."""
    ds = pydicom.dcmread(shared("dcm_qa_enh", "In", "Philips", "IM_0027_fMAP.dcm"))
    ds.compress(RLELossless, generate_instance_uid=False)  # pydicom's own RLE encoder
    path = tmp_path / "enhanced_rle.dcm"
    ds.save_as(path)
    frames = [0, 31, 63]
    ref = read_file(path, frames)
    assert ref.dtype == np.float32  # slope 1.2798...: non-integer rescale
    monkeypatch.setattr(_codec_read, "iter_pixels", _refusing)
    np.testing.assert_array_equal(read_file(path, frames), ref)
