"""How a file stores its pixels, and which array type holds the final values.

:class:`PixelFormat` is read from a :class:`DicomHeader` (no file access).
Two output types are derived from the headers alone:

* :func:`final_dtype` -- the *worst case*: colour -> ``uint8``; float pixel
  data or a non-integer rescale -> ``float32``; integer data with an integer
  rescale -> the smallest integer type that holds every value the declared
  stored range can map to; never ``float64``.  It always holds every value,
  so it is the upper bound for memory estimates and the fallback type.
* :func:`optimistic_dtype` -- the *optimistic* type the reader tries first.
  It differs from the worst case only when an integer rescale pushes the
  declared range out of the stored width, e.g. GE-style CT (signed 16 bits,
  intercept -1024: declared -33792..31743 -> ``int32``) whose real values
  (-1024..3071 HU) fit ``int16``.  Then it is the integer type of the stored
  width (signed when the declared results can be negative) -- provided it
  holds the intercept, i.e. the result of stored value 0; the reader checks
  the actual values of every such frame (:func:`declared_fits` says which
  need it) and falls back to :func:`final_dtype` when one does not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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


def _declared_ranges(
    frames: Sequence[FrameRef], formats: dict[str, PixelFormat]
) -> list[tuple[int, int, int]] | None:
    """(lowest, highest, intercept) result per distinct format/rescale; None -> float32."""
    ranges: list[tuple[int, int, int]] = []
    seen: set[tuple] = set()
    for ref in frames:
        fmt = formats[ref.header.path]
        slope, intercept = rescale_of(ref)
        key = (fmt.bits_stored, fmt.signed, fmt.is_float, slope, intercept)
        if key in seen:
            continue
        seen.add(key)
        if fmt.is_float or not (float(slope).is_integer() and float(intercept).is_integer()):
            return None
        lo, hi = result_range(fmt, int(slope), int(intercept))
        ranges.append((lo, hi, int(intercept)))
    return ranges


def result_range(fmt: PixelFormat, slope: int, intercept: int) -> tuple[int, int]:
    """Lowest and highest result the declared stored range maps to (integer rescale)."""
    s_lo, s_hi = fmt.stored_range()
    a, b = s_lo * slope + intercept, s_hi * slope + intercept
    return min(a, b), max(a, b)


def fits(dtype: np.dtype, lo: int, hi: int) -> bool:
    """Whether the integer ``dtype`` holds every value of ``lo..hi``."""
    info = np.iinfo(dtype)
    return info.min <= lo and hi <= info.max


@lru_cache(maxsize=256)
def declared_fits(fmt: PixelFormat, slope: float, intercept: float, dtype: np.dtype) -> bool:
    """Whether every value the declared stored range maps to fits the integer ``dtype``.

    When it does not, a frame written into ``dtype`` must have its actual
    values checked (see :func:`optimistic_dtype`).
    """
    if fmt.is_float or not (float(slope).is_integer() and float(intercept).is_integer()):
        return False
    return fits(dtype, *result_range(fmt, int(slope), int(intercept)))


def final_dtype(frames: Sequence[FrameRef], formats: dict[str, PixelFormat]) -> np.dtype:
    """Worst-case output type for these frames: holds every declared value (module docstring)."""
    fmt0 = formats[frames[0].header.path]
    if fmt0.is_colour:
        return np.dtype(np.uint8)
    ranges = _declared_ranges(frames, formats)
    if ranges is None:
        return np.dtype(np.float32)
    lo = min(r[0] for r in ranges)
    hi = max(r[1] for r in ranges)
    for dtype in _INT_CANDIDATES:
        if fits(dtype, lo, hi):
            return dtype
    return np.dtype(np.float32)


def optimistic_dtype(frames: Sequence[FrameRef], formats: dict[str, PixelFormat]) -> np.dtype:
    """Optimistic output type: what the reader returns when the actual values fit.

    Equal to :func:`final_dtype` except when an integer rescale pushes the
    declared range out of the stored width (module docstring).
    """
    worst = final_dtype(frames, formats)
    if worst.kind not in "iu" or formats[frames[0].header.path].is_colour:
        return worst
    width = max(formats[ref.header.path].itemsize for ref in frames)
    if worst.itemsize <= width:
        return worst
    ranges = _declared_ranges(frames, formats)
    assert ranges is not None  # an integer worst case means integer data and rescale
    signed = any(lo < 0 for lo, _hi, _i in ranges)
    narrow = np.dtype(f"{'i' if signed else 'u'}{width}")
    if all(fits(narrow, intercept, intercept) for _lo, _hi, intercept in ranges):
        return narrow
    return worst


def rescale_of(ref: FrameRef) -> tuple[float, float]:
    """(slope, intercept) of one frame."""
    frames = ref.header.frames
    if ref.frame < len(frames):
        info = frames[ref.frame]
        return info.rescale_slope, info.rescale_intercept
    return 1.0, 0.0
