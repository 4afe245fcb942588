"""Slow path: frames decoded by pydicom (compressed, deflated, bit-packed, YBR, palette).

pydicom picks a decoder for the transfer syntax (pylibjpeg plugins: JPEG
baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K, RLE); each decoded
frame is converted into its slice of the output array, so only one frame of
decoded data exists at a time beside the output.

When pydicom's decoders give up on data whose encapsulation is sound (or no
pydicom decoder exists for the syntax), SimpleITK's GDCM decodes the whole
file instead (:mod:`interval.io.dicom.sitk_decode`), e.g. 12-bit JPEG
Extended streams libjpeg refuses.  Data no decoder reads is reported as
"unsupported compression <syntax>" when every decoder said it lacks the
feature, otherwise as probably damaged.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import apply_color_lut, get_decoder, iter_pixels

from interval.core.errors import TooLarge, UnreadableFile, UnsupportedData
from interval.io.dicom import pydicom_log, sitk_decode
from interval.io.dicom._decode_failure import inside_decoders, not_decoded
from interval.io.dicom._pixel_convert import ValuesDoNotFit, colour_to_uint8, to_final
from interval.io.dicom._pixel_format import PixelFormat
from interval.io.dicom.records import DicomHeader
from interval.io.dicom.transfer_syntax import describe

GetSlice = Callable[[int], np.ndarray]
log = logging.getLogger(__name__)


def check_decodable(header: DicomHeader) -> None:
    """Raise :class:`UnsupportedData` when no installed decoder handles the file's syntax.

    pydicom's decoders come first; SimpleITK's GDCM (:mod:`sitk_decode`) covers
    some syntaxes they lack.
    """
    ts = header.transfer_syntax_uid
    if not ts or _pydicom_decodes(ts) or _fallback_fits(header):
        return
    raise UnsupportedData(
        f"unsupported compression {describe(ts)}: no installed decoder reads these images",
        path=header.path,
    )


def _pydicom_decodes(ts: str) -> bool:
    try:
        return bool(get_decoder(ts).is_available)
    except Exception:  # noqa: BLE001 - NotImplementedError, or a malformed UID
        return False


def _fallback_fits(header: DicomHeader) -> bool:
    photometric = header.photometric_interpretation.strip().upper()
    return sitk_decode.can_decode(header.transfer_syntax_uid) and sitk_decode.handles_format(
        header.samples_per_pixel or 1, photometric
    )


# A decoded frame may be far larger than its compressed bytes (flat images compress
# extremely well), but not without bound: above this size a frame must come from
# at least 1/_MAX_RATIO of its size in compressed data, or the header is damaged.
_ALWAYS_PLAUSIBLE_FRAME_BYTES = 64 * 1024 * 1024
_MAX_RATIO = 2000


def check_plausible(header: DicomHeader, fmt: PixelFormat) -> None:
    """Refuse a header whose image size cannot come from the data in the file.

    Decoders allocate from Rows x Columns before decoding, so a damaged header
    claiming 60000 x 60000 would allocate gigabytes from a few kilobytes.
    """
    frame_bytes = header.rows * header.columns * max(1, header.samples_per_pixel)
    frame_bytes *= max(1, (header.bits_allocated + 7) // 8)
    if frame_bytes <= _ALWAYS_PLAUSIBLE_FRAME_BYTES:
        return
    try:
        file_bytes = os.path.getsize(header.path)
    except OSError:
        return  # reported when the file is opened
    per_frame = file_bytes / max(1, header.number_of_frames)
    if frame_bytes > per_frame * _MAX_RATIO:
        raise UnreadableFile(
            f"the header claims {header.rows} x {header.columns} pixels per image, but the "
            f"file holds only {file_bytes} bytes of data: the header is probably damaged",
            path=header.path,
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def _open(header: DicomHeader) -> pydicom.Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom also logs them (see pydicom_log)
            ds = pydicom.dcmread(header.path, force=True)
    except FileNotFoundError as exc:
        raise UnreadableFile("file not found (moved or deleted?)", path=header.path) from exc
    except OSError as exc:
        raise UnreadableFile(
            f"could not be read ({exc.strerror or exc})", path=header.path
        ) from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on corrupt input
        raise UnreadableFile(f"damaged DICOM file ({_short(exc)})", path=header.path) from exc
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if not meta.get("TransferSyntaxUID") and header.transfer_syntax_uid:
        meta.TransferSyntaxUID = header.transfer_syntax_uid
    return ds


def read_file(
    header: DicomHeader,
    fmt: PixelFormat,
    targets: Sequence[tuple[int, int, float, float]],
    get_slice: GetSlice,
) -> None:
    """Decode ``(out_index, frame_index, slope, intercept)`` targets of one file.

    ``get_slice(i)`` returns the output slice for output index ``i`` (the
    caller allocates the output on the first call, i.e. after the first frame
    decoded successfully).  When pydicom's decoders lack what the file needs,
    SimpleITK's GDCM decodes it (:mod:`sitk_decode`); data neither can decode
    is reported as damaged, or as unsupported compression when every decoder
    said so.
    """
    pydicom_log.route_pydicom_logging()
    ds = _open(header)
    ts = header.transfer_syntax_uid
    if ts and not _pydicom_decodes(ts):
        _read_with_fallback(header, fmt, targets, get_slice, ds, None)
        return
    try:
        _read_with_pydicom(header, fmt, targets, get_slice, ds)
    except _DecoderGaveUp as gave_up:
        if not _fallback_fits(header):
            raise not_decoded(header, gave_up.cause) from gave_up.cause
        _read_with_fallback(header, fmt, targets, get_slice, ds, gave_up.cause)


class _DecoderGaveUp(Exception):  # noqa: N818 - a signal between two functions
    """pydicom's decoders could not decode the data (``cause`` says why)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _read_with_pydicom(
    header: DicomHeader,
    fmt: PixelFormat,
    targets: Sequence[tuple[int, int, float, float]],
    get_slice: GetSlice,
    ds: pydicom.Dataset,
) -> None:
    wanted = sorted({frame for _o, frame, _s, _i in targets})
    by_frame = _by_frame(targets)
    palette = fmt.photometric == "PALETTE COLOR"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = iter_pixels(ds, indices=wanted)
            for frame, arr in zip(wanted, frames, strict=True):
                if palette:
                    arr = apply_color_lut(arr, ds)
                for out_idx, slope, intercept in by_frame[frame]:
                    _store(arr, get_slice(out_idx), fmt, slope, intercept, palette, header.path)
    except (UnreadableFile, UnsupportedData, ValuesDoNotFit):
        raise
    except MemoryError as exc:
        raise TooLarge(
            "decoding this image needs more memory than the system could provide",
            path=header.path,
        ) from exc
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - decoders raise many types on corrupt data,
        # including Rust panics (pyo3 PanicException derives from BaseException)
        if inside_decoders(exc):
            raise _DecoderGaveUp(exc) from exc
        raise not_decoded(header, exc) from exc


def _by_frame(
    targets: Sequence[tuple[int, int, float, float]],
) -> dict[int, list[tuple[int, float, float]]]:
    by_frame: dict[int, list[tuple[int, float, float]]] = {}
    for out_idx, frame, slope, intercept in targets:
        by_frame.setdefault(frame, []).append((out_idx, slope, intercept))
    return by_frame


def _read_with_fallback(
    header: DicomHeader,
    fmt: PixelFormat,
    targets: Sequence[tuple[int, int, float, float]],
    get_slice: GetSlice,
    ds: pydicom.Dataset,
    cause: BaseException | None,
) -> None:
    """Decode the file with SimpleITK's GDCM and store the wanted frames."""
    try:
        stored = sitk_decode.read_stored(header.path, ds)
    except sitk_decode.FallbackFailed as exc:
        raise not_decoded(header, cause, str(exc)) from (cause or exc)
    except MemoryError as exc:
        raise TooLarge(
            "decoding this image needs more memory than the system could provide",
            path=header.path,
        ) from exc
    log.debug("decoded with GDCM (pydicom could not): %s", describe(header.transfer_syntax_uid))
    for frame, places in _by_frame(targets).items():
        if not 0 <= frame < stored.shape[0]:
            raise UnreadableFile(
                f"GDCM decoded {stored.shape[0]} frames; frame {frame + 1} is missing",
                path=header.path,
            )
        for out_idx, slope, intercept in places:
            arr = stored[frame] if len(places) == 1 else stored[frame].copy()  # converted in place
            _store(arr, get_slice(out_idx), fmt, slope, intercept, False, header.path)


def _store(
    arr: np.ndarray,
    dst: np.ndarray,
    fmt: PixelFormat,
    slope: float,
    intercept: float,
    palette: bool,
    path: str,
) -> None:
    if dst.ndim == 3:  # colour output
        if arr.ndim == 2:  # grey decoded for a colour stack: repeat into the channels
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.shape != dst.shape:
            raise UnreadableFile(
                f"decoded image has shape {arr.shape}, expected {dst.shape}", path=path
            )
        bits = 16 if palette and arr.dtype.itemsize == 2 else fmt.bits_stored
        colour_to_uint8(arr, dst, bits)
        return
    if arr.shape != dst.shape:
        raise UnreadableFile(
            f"decoded image has shape {arr.shape}, expected {dst.shape}", path=path
        )
    if not arr.flags.writeable or arr.dtype.byteorder not in ("=", "|", "<"):
        arr = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    to_final(arr, dst, fmt, slope, intercept)
