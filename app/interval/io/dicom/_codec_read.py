"""Slow path: frames decoded by pydicom (compressed, deflated, bit-packed, YBR, palette).

pydicom picks a decoder for the transfer syntax (pylibjpeg plugins: JPEG
baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K, RLE); each decoded
frame is converted into its slice of the output array, so only one frame of
decoded data exists at a time beside the output.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import apply_color_lut, get_decoder, iter_pixels

from interval.core.errors import TooLarge, UnreadableFile, UnsupportedData
from interval.io.dicom._pixel_convert import ValuesDoNotFit, colour_to_uint8, to_final
from interval.io.dicom._pixel_format import PixelFormat
from interval.io.dicom.records import DicomHeader
from interval.io.dicom.transfer_syntax import describe

GetSlice = Callable[[int], np.ndarray]


def check_decodable(header: DicomHeader) -> None:
    """Raise :class:`UnsupportedData` when no installed decoder handles the file's syntax."""
    ts = header.transfer_syntax_uid
    if not ts:
        return
    try:
        decoder = get_decoder(ts)
    except NotImplementedError as exc:
        raise UnsupportedData(
            f"images stored as {describe(ts)} cannot be decoded by Interval", path=header.path
        ) from exc
    except Exception as exc:  # noqa: BLE001 - malformed UID
        raise UnsupportedData(
            f"unknown transfer syntax {describe(ts)}; its images cannot be decoded",
            path=header.path,
        ) from exc
    if not decoder.is_available:
        raise UnsupportedData(
            f"images stored as {describe(ts)} need a decoder that is not installed "
            "(pylibjpeg and its plugins)",
            path=header.path,
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
    decoded successfully).
    """
    ds = _open(header)
    wanted = sorted({frame for _o, frame, _s, _i in targets})
    by_frame: dict[int, list[tuple[int, float, float]]] = {}
    for out_idx, frame, slope, intercept in targets:
        by_frame.setdefault(frame, []).append((out_idx, slope, intercept))
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
        raise UnreadableFile(
            f"its {describe(header.transfer_syntax_uid)} image data could not be decoded; "
            f"the file is probably damaged ({_short(exc)})",
            path=header.path,
        ) from exc


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
