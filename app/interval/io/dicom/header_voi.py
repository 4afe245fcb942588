"""Read the first VOI LUT Sequence table of a dataset (PS3.3 C.11.2.1.1), defensively."""

from __future__ import annotations

import struct
from typing import Any

from interval.core.metadata import VoiLut

_MAX_ENTRIES = 65536


def voi_lut_table(ds: Any) -> VoiLut | None:
    """The first VOI LUT table of ``ds`` as a :class:`VoiLut`, or ``None`` (absent or damaged).

    LUT Descriptor: number of entries (0 means 65536), first input value mapped
    (signed when PixelRepresentation is 1), bits per entry (8 to 16).  LUT Data
    may be US values or OW bytes; ``out_max`` is ``2**bits - 1``, or the largest
    entry when that is larger (writers that declare too few bits).
    """
    try:
        seq = ds.get("VOILUTSequence", None)
        if not seq:
            return None
        item = seq[0]
        descriptor = [int(v) for v in item.get("LUTDescriptor", None) or ()]
        if len(descriptor) != 3:
            return None
        count = descriptor[0] or _MAX_ENTRIES
        first = descriptor[1]
        if int(ds.get("PixelRepresentation", 0) or 0) == 1 and first >= 32768:
            first -= 65536  # SS stored, read as US
        bits = descriptor[2]
        data = _entries(item.get("LUTData", None), count, _little_endian(ds))
    except Exception:  # noqa: BLE001 - a damaged table is ignored, not fatal
        return None
    if not data or not 1 <= bits <= 16:
        return None
    explanation = str(item.get("LUTExplanation", "") or "").strip()
    return VoiLut(float(first), data, max((1 << bits) - 1, max(data)), explanation)


def _entries(value: Any, count: int, little: bool) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        n = min(count, len(value) // 2)
        return tuple(struct.unpack(f"{'<' if little else '>'}{n}H", bytes(value[: 2 * n])))
    if isinstance(value, int):
        return (value,)
    data = tuple(int(v) for v in value)
    return data[:count] if len(data) >= count else data


def _little_endian(ds: Any) -> bool:
    encoding = getattr(ds, "original_encoding", None)
    if encoding is not None and encoding[1] is not None:
        return bool(encoding[1])
    return bool(getattr(ds, "is_little_endian", True) in (True, None))
