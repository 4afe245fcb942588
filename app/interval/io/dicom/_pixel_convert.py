"""Turn stored pixel values into final values, writing into the output slice.

Everything works in place on one frame (or a run of frames) at a time, so no
full-size temporary is ever made:

1. keep only the ``BitsStored`` low bits (garbage in the unused high bits is
   common) and sign-extend them when ``PixelRepresentation`` is 1;
2. invert MONOCHROME1 over the stored range (``min + max - v``, as ITK does),
   so that higher always means brighter;
3. apply rescale slope / intercept.  For an integer output type the rescale
   runs in that type with wrap-around arithmetic, which is exact whenever
   the true result fits the type.  It always does when the type holds every
   result of the declared stored range (``final_dtype``); when it does not
   (``optimistic_dtype``), the frame's actual stored minimum and
   maximum are checked first and :class:`ValuesDoNotFit` is raised instead of
   writing wrapped-around values.
"""

from __future__ import annotations

import numpy as np

from interval.io.dicom._pixel_format import PixelFormat, declared_fits, fits


class ValuesDoNotFit(Exception):  # noqa: N818 - a signal, not an error a user sees
    """A frame's actual values do not fit the optimistic output type (read again wider)."""


def _wrapped(value: float, dtype: np.dtype) -> np.generic:
    """``value`` (an integer) as a scalar of ``dtype``, modulo 2**bits."""
    bits = dtype.itemsize * 8
    return np.array([int(value) & ((1 << bits) - 1)], dtype=f"u{dtype.itemsize}").view(dtype)[0]


def normalise_stored(raw: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """Mask / sign-extend / invert integer ``raw`` in place; return the signed or unsigned view."""
    size = raw.dtype.itemsize
    unsigned = raw.view(f"u{size}")
    signed = raw.view(f"i{size}")
    nbits = size * 8
    bits = min(fmt.bits_stored, nbits)
    if bits < nbits:
        if fmt.signed:
            shift = nbits - bits
            np.left_shift(unsigned, shift, out=unsigned)
            np.right_shift(signed, shift, out=signed)  # arithmetic: sign extension
        else:
            np.bitwise_and(unsigned, unsigned.dtype.type((1 << bits) - 1), out=unsigned)
    values = signed if fmt.signed else unsigned
    if fmt.inverted:
        if fmt.signed:
            np.invert(signed, out=signed)  # (-2**(b-1)) + (2**(b-1) - 1) - v == -1 - v
        else:
            np.subtract(unsigned.dtype.type((1 << bits) - 1), unsigned, out=unsigned)
    return values


def to_final(
    raw: np.ndarray, dst: np.ndarray, fmt: PixelFormat, slope: float, intercept: float
) -> None:
    """Write the final values of stored grey ``raw`` into ``dst`` (same shape).

    ``raw`` is modified; it may be ``dst``'s own memory seen as the stored type.
    """
    if raw.dtype.kind == "f":
        values = raw
        if values is not dst and not np.shares_memory(values, dst):
            np.copyto(dst, values, casting="unsafe")
        elif values.dtype != dst.dtype:
            np.copyto(dst, values.copy(), casting="unsafe")  # one frame only
        if slope != 1.0:
            np.multiply(dst, dst.dtype.type(slope), out=dst)
        if intercept != 0.0:
            np.add(dst, dst.dtype.type(intercept), out=dst)
        return
    values = normalise_stored(raw, fmt)
    if dst.dtype.kind == "f":
        if slope == 1.0 and intercept == 0.0:
            np.copyto(dst, values, casting="unsafe")
        else:
            # float64 intermediate only when values are 32-bit (exactness), per frame
            work = np.float64 if values.dtype.itemsize >= 4 else np.float32
            np.multiply(values, work(slope), out=dst, casting="unsafe")
            np.add(dst, dst.dtype.type(intercept), out=dst)
        return
    # integer output: bring the values into dst (exact or modulo 2**bits), then rescale
    if not declared_fits(fmt, slope, intercept, dst.dtype):
        _check_actual_fit(values, dst.dtype, slope, intercept)
    if not (values.dtype.itemsize == dst.dtype.itemsize and np.shares_memory(values, dst)):
        np.copyto(dst, values, casting="unsafe")
    if slope != 1.0:
        np.multiply(dst, _wrapped(slope, dst.dtype), out=dst)
    if intercept != 0.0:
        np.add(dst, _wrapped(intercept, dst.dtype), out=dst)


def _check_actual_fit(values: np.ndarray, dtype: np.dtype, slope: float, intercept: float) -> None:
    """Raise :class:`ValuesDoNotFit` unless every ``v * slope + intercept`` fits ``dtype``."""
    if values.size == 0:
        return
    s, b = int(slope), int(intercept)
    a, z = int(values.min()) * s + b, int(values.max()) * s + b  # affine: extremes at the ends
    if not fits(dtype, min(a, z), max(a, z)):
        raise ValuesDoNotFit()


def colour_to_uint8(rgb: np.ndarray, dst: np.ndarray, bits_stored: int) -> None:
    """Write an RGB array of any unsigned depth into the ``uint8`` slice ``dst``."""
    if rgb.dtype == np.uint8:
        np.copyto(dst, rgb)
        return
    bits = max(8, min(bits_stored or rgb.dtype.itemsize * 8, rgb.dtype.itemsize * 8))
    shift = bits - 8
    values = rgb.astype(rgb.dtype.newbyteorder("="), copy=False)
    if values.dtype.kind == "i":
        values = np.clip(values, 0, None)
    np.copyto(dst, np.right_shift(values, shift) if shift else values, casting="unsafe")
