"""How a file stores its pixels, and which array type holds the final values.

:class:`PixelFormat` is read from a :class:`DicomHeader` (no file access).
:func:`final_dtype` applies the house rule for the output array: colour ->
``uint8``; float pixel data or a non-integer rescale -> ``float32``; integer
data with an integer rescale -> the smallest integer type that holds every
value the declared stored range can map to; never ``float64``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from interval.core.errors import UnreadableFile, UnsupportedData
from interval.io.dicom.records import DicomHeader, FrameRef
from interval.io.dicom.transfer_syntax import EXPLICIT_BE, is_direct_readable, is_encapsulated

# Preferred order: uint8 for 8-bit images, signed before unsigned from 16 bits up
# (CT/MR arithmetic, VTK and torch friendliness).
_INT_CANDIDATES = tuple(
    np.dtype(t) for t in ("uint8", "int8", "int16", "uint16", "int32", "uint32")
)
_COLOUR = {
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_ICT",
    "YBR_RCT",
    "YBR_PARTIAL_420",
    "PALETTE COLOR",
}


@dataclass(frozen=True)
class PixelFormat:
    """Stored pixel layout of one file."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    is_float: bool
    photometric: str
    planar: int
    big_endian: bool

    @classmethod
    def of(cls, header: DicomHeader) -> PixelFormat:
        bits_allocated = header.bits_allocated
        bits_stored = header.bits_stored or bits_allocated
        if bits_allocated and not 0 < bits_stored <= bits_allocated:
            bits_stored = bits_allocated
        return cls(
            rows=header.rows,
            columns=header.columns,
            samples=header.samples_per_pixel or 1,
            bits_allocated=bits_allocated,
            bits_stored=bits_stored,
            signed=header.pixel_representation == 1,
            is_float=header.float_pixel_data,
            photometric=header.photometric_interpretation.strip().upper(),
            planar=header.planar_configuration,
            big_endian=header.transfer_syntax_uid == EXPLICIT_BE,
        )

    @property
    def is_colour(self) -> bool:
        return self.samples == 3 or self.photometric == "PALETTE COLOR"

    @property
    def inverted(self) -> bool:
        """MONOCHROME1: low values are bright; Interval flips them."""
        return self.photometric == "MONOCHROME1" and not self.is_colour

    @property
    def itemsize(self) -> int:
        return max(1, self.bits_allocated // 8)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one native frame (bit-packed 1-bit data excluded)."""
        return self.rows * self.columns * self.samples * self.itemsize

    @property
    def stored_dtype(self) -> np.dtype:
        """Type of the raw values as they lie in a native file (little endian)."""
        if self.is_float:
            return np.dtype(f"<f{self.itemsize}")
        return np.dtype(f"<{'i' if self.signed else 'u'}{self.itemsize}")

    def stored_range(self) -> tuple[int, int]:
        """Smallest and largest value the declared BitsStored can hold."""
        bits = self.bits_stored
        if self.signed:
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return 0, (1 << bits) - 1


def check_header(header: DicomHeader) -> PixelFormat:
    """The header's pixel format, or a typed error when it cannot be an image."""
    path = header.path
    if not header.has_pixel_data:
        raise UnreadableFile("holds no image data", path=path)
    fmt = PixelFormat.of(header)
    if fmt.rows <= 0 or fmt.columns <= 0:
        raise UnreadableFile("does not say how many rows and columns its image has", path=path)
    if fmt.samples not in (1, 3):
        raise UnsupportedData(
            f"images with {fmt.samples} samples per pixel are not supported", path=path
        )
    if fmt.is_float:
        if fmt.bits_allocated not in (32, 64):
            raise UnreadableFile(
                f"float image data with {fmt.bits_allocated} bits is invalid", path=path
            )
    elif fmt.bits_allocated not in (1, 8, 16, 32):
        raise UnsupportedData(
            f"images with {fmt.bits_allocated} bits allocated per pixel are not supported",
            path=path,
        )
    if fmt.samples == 3 and fmt.photometric not in _COLOUR:
        raise UnsupportedData(
            f"colour images in {fmt.photometric or 'an unknown'} colour space are not supported",
            path=path,
        )
    return fmt


def is_direct(header: DicomHeader, fmt: PixelFormat) -> bool:
    """Whether the frame bytes can be read straight from ``pixel_data_offset``."""
    if header.pixel_data_offset is None or header.pixel_data_length is None:
        return False
    ts = header.transfer_syntax_uid
    if not is_direct_readable(ts) or is_encapsulated(ts):
        return False
    if fmt.bits_allocated == 1:
        return False  # bit-packed, frames not byte aligned
    if fmt.big_endian and fmt.itemsize == 1:
        return False  # 8-bit data in OW words: let pydicom sort the byte order out
    if fmt.samples == 1:
        return fmt.photometric in ("MONOCHROME1", "MONOCHROME2", "")
    return fmt.photometric == "RGB" and fmt.bits_allocated == 8


def formats_of(frames: Sequence[FrameRef]) -> dict[str, PixelFormat]:
    """Check every file once; all frames must share size and colour kind."""
    if not frames:
        raise ValueError("read_pixels needs at least one frame")
    formats: dict[str, PixelFormat] = {}
    first: PixelFormat | None = None
    for ref in frames:
        header = ref.header
        if header.path in formats:
            fmt = formats[header.path]
        else:
            fmt = formats[header.path] = check_header(header)
        if not 0 <= ref.frame < max(1, header.number_of_frames):
            raise UnreadableFile(
                f"has {header.number_of_frames} frame(s); frame {ref.frame + 1} does not exist",
                path=header.path,
            )
        if first is None:
            first = fmt
        elif (fmt.rows, fmt.columns, fmt.is_colour) != (first.rows, first.columns, first.is_colour):
            raise UnsupportedData(
                f"images of different sizes cannot form one volume "
                f"({first.columns}x{first.rows} and {fmt.columns}x{fmt.rows})",
                path=header.path,
            )
    return formats


def final_dtype(frames: Sequence[FrameRef], formats: dict[str, PixelFormat]) -> np.dtype:
    """Output type for these frames (see module docstring)."""
    fmt0 = formats[frames[0].header.path]
    if fmt0.is_colour:
        return np.dtype(np.uint8)
    lo = hi = None
    seen: set[tuple] = set()
    for ref in frames:
        fmt = formats[ref.header.path]
        info = ref.header.frames[ref.frame] if ref.frame < len(ref.header.frames) else None
        slope = info.rescale_slope if info is not None else 1.0
        intercept = info.rescale_intercept if info is not None else 0.0
        key = (fmt.bits_stored, fmt.signed, fmt.is_float, slope, intercept)
        if key in seen:
            continue
        seen.add(key)
        if fmt.is_float or not (float(slope).is_integer() and float(intercept).is_integer()):
            return np.dtype(np.float32)
        s_lo, s_hi = fmt.stored_range()
        a, b = s_lo * int(slope) + int(intercept), s_hi * int(slope) + int(intercept)
        a, b = min(a, b), max(a, b)
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
    assert lo is not None and hi is not None
    for dtype in _INT_CANDIDATES:
        info_t = np.iinfo(dtype)
        if info_t.min <= lo and hi <= info_t.max:
            return dtype
    return np.dtype(np.float32)


def rescale_of(ref: FrameRef) -> tuple[float, float]:
    """(slope, intercept) of one frame."""
    frames = ref.header.frames
    if ref.frame < len(frames):
        info = frames[ref.frame]
        return info.rescale_slope, info.rescale_intercept
    return 1.0, 0.0
