"""Deterministic, DICOM-aware mutations of real files for the fuzz tests.

A small tag walker (:func:`parse_layout`) maps an original file's element
stream (file meta, data set, nested sequences and items, encapsulated pixel
fragments) to byte offsets, so mutations can target what matters: element
lengths, VRs, image-pixel values (Rows, Columns, BitsAllocated,
NumberOfFrames...), geometry strings, the transfer syntax, pixel data.
Blind byte flips and truncations complement them.

Every mutator is ``fn(data, layout, rng) -> (bytes, detail) | None``; ``None``
means "not applicable to this file" (e.g. a VR change in an implicit-VR
file).  The same input bytes and the same ``random.Random`` state always give
the same output.  Mutators work on bytes only: originals are never touched.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"

ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
ALL_VRS = sorted(LONG_VRS | {
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH",
    "SL", "SS", "ST", "TM", "UI", "UL", "US",
})

# tags the value mutators aim at
TAGS = {
    "TransferSyntaxUID": 0x00020010,
    "SOPClassUID": 0x00080016,
    "Modality": 0x00080060,
    "SliceThickness": 0x00180050,
    "SpacingBetweenSlices": 0x00180088,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "ImagePositionPatient": 0x00200032,
    "ImageOrientationPatient": 0x00200037,
    "SamplesPerPixel": 0x00280002,
    "PhotometricInterpretation": 0x00280004,
    "PlanarConfiguration": 0x00280006,
    "NumberOfFrames": 0x00280008,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "PixelSpacing": 0x00280030,
    "BitsAllocated": 0x00280100,
    "BitsStored": 0x00280101,
    "HighBit": 0x00280102,
    "PixelRepresentation": 0x00280103,
    "WindowCenter": 0x00281050,
    "WindowWidth": 0x00281051,
    "RescaleIntercept": 0x00281052,
    "RescaleSlope": 0x00281053,
}

Mutation = tuple[bytes, str]
Mutator = Callable[[bytes, "Layout", random.Random], Mutation | None]


# --- the tag walker -------------------------------------------------------------------


@dataclass
class Element:
    """Where one element (or item / delimiter / pixel fragment) sits in the file."""

    tag: int
    start: int  # offset of the tag
    vr: str  # "" for items, delimiters, and implicit VR tags not in the dictionary
    vr_offset: int | None  # offset of the two VR bytes (explicit VR only)
    length_offset: int
    length_size: int  # 2 or 4 bytes
    value_offset: int
    length: int  # raw length field (UNDEFINED for undefined length)
    depth: int
    in_meta: bool
    parents: tuple[int, ...]  # indices of enclosing SQ elements and items
    end: int = 0  # offset after the value (after the delimiter when undefined)
    fragment: bool = False  # an item of encapsulated pixel data

    @property
    def defined(self) -> bool:
        return self.length != UNDEFINED


@dataclass
class Layout:
    """The element map of one file, plus its encoding."""

    elements: list[Element]
    transfer_syntax: str
    little: bool
    explicit: bool
    data_start: int  # first byte of the data set (after the file meta)
    size: int

    @cached_property
    def pixel(self) -> Element | None:
        for el in self.elements:
            if el.tag in PIXEL_TAGS and el.depth == 0:
                return el
        return None

    @cached_property
    def header_end(self) -> int:
        """Offset where the pixel data element starts (file size without one)."""
        px = self.pixel
        return px.start if px is not None else self.size

    @property
    def endian(self) -> str:
        return "<" if self.little else ">"

    def find(self, tag: int, *, top_level: bool = False) -> list[Element]:
        return [
            el for el in self.elements
            if el.tag == tag and (el.depth == 0 or not top_level) and not el.fragment
        ]

    def data_elements(self) -> list[Element]:
        """Elements that carry a value (no items, delimiters or fragments)."""
        return [el for el in self.elements if el.tag >> 16 != 0xFFFE]


def _dictionary_vr(tag: int) -> str:
    try:
        from pydicom.datadict import dictionary_VR

        return str(dictionary_VR(tag))
    except Exception:  # noqa: BLE001 - private or unknown tag
        return ""


def parse_layout(data: bytes) -> Layout:
    """Walk the element stream of a (valid) DICOM file.

    Deflated data sets are mapped up to the end of the file meta only.  The
    walker stops quietly at the first thing it cannot parse.
    """
    elements: list[Element] = []
    pos = 0
    ts = ""
    if data[128:132] == b"DICM":
        pos = _walk(data, 132, len(data), True, True, 0, (), elements, True, None)
        for el in elements:
            if el.tag == TAGS["TransferSyntaxUID"]:
                raw = data[el.value_offset:el.value_offset + el.length]
                ts = raw.decode("ascii", "replace").strip("\x00 ")
    else:
        explicit = data[4:6].isalpha() and data[4:6].isupper()
        little = struct.unpack("<H", data[:2])[0] < 0x0100 if len(data) >= 2 else True
        ts = (EXPLICIT_LE if little else EXPLICIT_BE) if explicit else IMPLICIT_LE
    little = ts != EXPLICIT_BE
    explicit = ts != IMPLICIT_LE
    data_start = pos
    if ts != DEFLATED_LE:
        _walk(data, pos, len(data), little, explicit, 0, (), elements, False, None)
    return Layout(elements, ts, little, explicit, data_start, len(data))


def _walk(
    data: bytes, pos: int, end: int, little: bool, explicit: bool, depth: int,
    parents: tuple[int, ...], out: list[Element], in_meta: bool, until: int | None,
    fragments: bool = False,
) -> int:
    """Append the elements in ``data[pos:end]`` to ``out``; return where it stopped."""
    e = "<" if little else ">"
    while pos + 8 <= end:
        group, elem = struct.unpack(e + "HH", data[pos:pos + 4])
        tag = (group << 16) | elem
        if in_meta and group != 0x0002:
            break
        if group == 0xFFFE:
            (length,) = struct.unpack(e + "I", data[pos + 4:pos + 8])
            el = Element(tag, pos, "", None, pos + 4, 4, pos + 8, length, depth, in_meta, parents,
                         fragment=fragments and tag == ITEM)
            out.append(el)
            idx = len(out) - 1
            if tag in (ITEM_END, SEQ_END):
                el.end = pos + 8
                pos += 8
                if tag == until:
                    return pos
                continue
            if tag != ITEM:
                return end  # unknown FFFE tag: stop
            if fragments or length != UNDEFINED:
                if length == UNDEFINED or pos + 8 + length > end:
                    return end
                if not fragments:
                    _walk(data, pos + 8, pos + 8 + length, little, explicit, depth + 1,
                          parents + (idx,), out, False, None)
                pos = pos + 8 + length
            else:
                pos = _walk(data, pos + 8, end, little, explicit, depth + 1, parents + (idx,),
                            out, False, ITEM_END)
            el.end = pos
            continue
        if explicit or in_meta:
            raw_vr = data[pos + 4:pos + 6]
            if not (raw_vr.isalpha() and raw_vr.isupper()):
                return end
            vr = raw_vr.decode("ascii")
            if vr in LONG_VRS:
                if pos + 12 > end:
                    return end
                (length,) = struct.unpack(e + "I", data[pos + 8:pos + 12])
                el = Element(tag, pos, vr, pos + 4, pos + 8, 4, pos + 12, length, depth,
                             in_meta, parents)
            else:
                (length,) = struct.unpack(e + "H", data[pos + 6:pos + 8])
                el = Element(tag, pos, vr, pos + 4, pos + 6, 2, pos + 8, length, depth,
                             in_meta, parents)
        else:
            (length,) = struct.unpack(e + "I", data[pos + 4:pos + 8])
            vr = _dictionary_vr(tag)
            el = Element(tag, pos, vr, None, pos + 4, 4, pos + 8, length, depth, in_meta, parents)
        out.append(el)
        idx = len(out) - 1
        value = el.value_offset
        if length == UNDEFINED:
            is_pixels = tag in PIXEL_TAGS
            pos = _walk(data, value, end, little, explicit, depth + 1, parents + (idx,), out,
                        False, SEQ_END, fragments=is_pixels)
        else:
            if value + length > end:
                el.end = end
                return end
            if vr == "SQ":
                _walk(data, value, value + length, little, explicit, depth + 1,
                      parents + (idx,), out, False, None)
            pos = value + length
        el.end = pos
    return pos


# --- byte-level helpers ---------------------------------------------------------------


def set_uint(data: bytearray, offset: int, size: int, value: int, little: bool) -> None:
    """Write an unsigned 2- or 4-byte integer in place."""
    fmt = ("<" if little else ">") + ("H" if size == 2 else "I")
    data[offset:offset + size] = struct.pack(fmt, value & (0xFFFF if size == 2 else 0xFFFFFFFF))


def replace_value(data: bytes, layout: Layout, el: Element, value: bytes) -> bytes | None:
    """Replace an element's value, fixing its length and every enclosing defined length.

    The result is structurally valid DICOM carrying the new value.  ``None``
    when the value does not fit the element's length field.
    """
    if not el.defined:
        return None
    if len(value) % 2:
        value += b"\x00" if el.vr in ("UI", "OB", "UN", "") else b" "
    if el.length_size == 2 and len(value) > 0xFFFF:
        return None
    delta = len(value) - el.length
    out = bytearray(data[:el.value_offset]) + value + data[el.value_offset + el.length:]
    little = layout.little or el.in_meta
    set_uint(out, el.length_offset, el.length_size, len(value), little)
    for idx in el.parents:
        parent = layout.elements[idx]
        if parent.defined:
            set_uint(out, parent.length_offset, parent.length_size, parent.length + delta, little)
    if el.in_meta:
        for meta in layout.elements:
            if meta.tag == 0x00020000 and meta.length == 4:
                (old,) = struct.unpack("<I", data[meta.value_offset:meta.value_offset + 4])
                out[meta.value_offset:meta.value_offset + 4] = struct.pack("<I", old + delta)
    return bytes(out)


def encode_element(tag: int, vr: str, value: bytes, layout: Layout) -> bytes:
    """Bytes of a new element in the file's data set encoding."""
    e = layout.endian
    if len(value) % 2:
        value += b" "
    head = struct.pack(e + "HH", tag >> 16, tag & 0xFFFF)
    if not layout.explicit:
        return head + struct.pack(e + "I", len(value)) + value
    if vr in LONG_VRS:
        return head + vr.encode() + b"\x00\x00" + struct.pack(e + "I", len(value)) + value
    return head + vr.encode() + struct.pack(e + "H", len(value)) + value


def insert_top_level(data: bytes, layout: Layout, tag: int, vr: str, value: bytes) -> bytes:
    """Insert a new top-level element in tag order (before pixel data at the latest)."""
    new = encode_element(tag, vr, value, layout)
    at = layout.header_end
    for el in layout.elements:
        if el.depth == 0 and not el.in_meta and el.tag > tag:
            at = el.start
            break
    return data[:at] + new + data[at:]


def set_top_value(data: bytes, layout: Layout, name: str, value: bytes, vr: str) -> bytes | None:
    """Set a top-level attribute to ``value`` (replacing or inserting it)."""
    tag = TAGS[name]
    found = layout.find(tag, top_level=True)
    if found:
        return replace_value(data, layout, found[0], value)
    if layout.transfer_syntax == DEFLATED_LE:
        return None
    return insert_top_level(data, layout, tag, vr, value)


def _header_elements(layout: Layout) -> list[Element]:
    return [el for el in layout.data_elements() if el.start < layout.header_end]


def _us_value(value: int, layout: Layout) -> bytes:
    return struct.pack(layout.endian + "H", value & 0xFFFF)


# --- blind mutators -------------------------------------------------------------------


def truncate_random(data: bytes, layout: Layout, rng: random.Random) -> Mutation:
    cut = rng.randrange(0, len(data))
    return data[:cut], f"truncate at byte {cut} of {len(data)}"


def truncate_header(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    elems = _header_elements(layout)
    if not elems:
        return None
    el = rng.choice(elems)
    cut = max(0, min(len(data) - 1, rng.choice([el.start, el.value_offset, el.start + 3, el.end - 1])))
    return data[:cut], f"truncate inside the header at byte {cut} (element {el.tag:08X})"


def truncate_pixels(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    px = layout.pixel
    if px is None:
        return None
    span = max(1, px.end - px.value_offset)
    cut = px.value_offset + int(span * rng.choice([0.0, 0.01, 0.3, 0.5, 0.9, 0.999]))
    return data[:cut], f"truncate pixel data at byte {cut} ({cut - px.value_offset} of {span})"


def flip_bytes(data: bytes, layout: Layout, rng: random.Random) -> Mutation:
    out = bytearray(data)
    n = rng.choice([1, 2, 4, 16, 64])
    spots = sorted(rng.randrange(0, len(out)) for _ in range(n))
    for at in spots:
        out[at] ^= rng.randrange(1, 256)
    return bytes(out), f"xor {n} random bytes at {spots[:8]}{'...' if n > 8 else ''}"


def flip_header_bytes(data: bytes, layout: Layout, rng: random.Random) -> Mutation:
    out = bytearray(data)
    lo, hi = min(layout.data_start, layout.header_end - 1), max(1, layout.header_end)
    n = rng.choice([1, 2, 3, 8])
    spots = sorted(rng.randrange(lo, hi) for _ in range(n))
    for at in spots:
        out[at] ^= rng.randrange(1, 256)
    return bytes(out), f"xor {n} header bytes at {spots}"


def zero_fill(data: bytes, layout: Layout, rng: random.Random) -> Mutation:
    size = rng.choice([4, 16, 256, 4096])
    at = rng.randrange(0, max(1, len(data) - size))
    return data[:at] + b"\x00" * size + data[at + size:], f"zero {size} bytes at {at}"


def duplicate_chunk(data: bytes, layout: Layout, rng: random.Random) -> Mutation:
    size = rng.choice([2, 7, 64, 1000])
    src = rng.randrange(0, max(1, len(data) - size))
    dst = rng.randrange(0, len(data))
    return data[:dst] + data[src:src + size] + data[dst:], f"insert copy of {size} bytes from {src} at {dst}"


def junk_body(data: bytes, layout: Layout, rng: random.Random) -> Mutation:
    """Keep preamble and file meta; replace the data set with random bytes."""
    keep = layout.data_start
    junk = rng.randbytes(max(16, min(len(data) - keep, rng.choice([64, 4096, 65536]))))
    return data[:keep] + junk, f"data set replaced by {len(junk)} random bytes after byte {keep}"


# --- structure-aware mutators ---------------------------------------------------------


_WEIRD_LENGTHS = ["zero", "one", "odd", "double", "max16", "undefined", "huge", "past_eof", "random"]


def bad_length(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    candidates = [el for el in layout.elements if not el.in_meta or rng.random() < 0.2]
    if not candidates:
        return None
    header = [el for el in candidates if el.start < layout.header_end]
    el = rng.choice(header if header and rng.random() < 0.8 else candidates)
    kind = rng.choice(_WEIRD_LENGTHS)
    limit = 0xFFFF if el.length_size == 2 else 0xFFFFFFFF
    value = {
        "zero": 0,
        "one": 1,
        "odd": (el.length | 1) if el.defined else 3,
        "double": min(limit, el.length * 2 + 2) if el.defined else 2,
        "max16": 0xFFFF,
        "undefined": limit,
        "huge": min(limit, 0x7FFFFFF0),
        "past_eof": min(limit, len(data) - el.value_offset + rng.randrange(1, 5000)),
        "random": rng.randrange(0, limit + 1),
    }[kind]
    if value == el.length:
        value = (value + 1) & limit
    out = bytearray(data)
    set_uint(out, el.length_offset, el.length_size, value, layout.little or el.in_meta)
    return bytes(out), (
        f"length of element {el.tag:08X} ({el.vr or '-'}, depth {el.depth}) "
        f"set from {el.length} to {value} ({kind})"
    )


def bogus_vr(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    elems = [el for el in layout.data_elements() if el.vr_offset is not None]
    if not elems:
        return None
    el = rng.choice(elems)
    kind = rng.choice(["letters", "lower", "nul", "other_vr", "swap_long_short"])
    if kind == "letters":
        new = rng.choice([b"QQ", b"ZX", b"XX", b"AA"])
    elif kind == "lower":
        new = el.vr.lower().encode()
    elif kind == "nul":
        new = b"\x00\x00"
    elif kind == "other_vr":
        new = rng.choice([v for v in ALL_VRS if v != el.vr]).encode()
    else:  # short <-> long form changes how the length is read
        new = (b"US" if el.vr in LONG_VRS else rng.choice([b"OB", b"SQ", b"UN"]))
    out = bytearray(data)
    out[el.vr_offset:el.vr_offset + 2] = new
    return bytes(out), f"VR of element {el.tag:08X} changed from {el.vr} to {new!r} ({kind})"


def missing_pixel_data(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    px = layout.pixel
    if px is None:
        return None
    kind = rng.choice(["remove", "retag_private", "empty"])
    if kind == "remove":
        return data[:px.start] + data[px.end:], "pixel data element removed"
    if kind == "retag_private":
        out = bytearray(data)
        out[px.start:px.start + 4] = struct.pack(layout.endian + "HH", 0x7FE1, 0x0010)
        return bytes(out), "pixel data element retagged as private (7FE1,0010)"
    if not px.defined:
        return data[:px.start] + data[px.end:], "encapsulated pixel data element removed"
    return replace_value(data, layout, px, b""), "pixel data emptied (length 0)"


def pixel_length(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    """Pixel data whose length disagrees with the image, or broken fragments."""
    px = layout.pixel
    if px is None:
        return None
    out = bytearray(data)
    if px.defined:
        kind = rng.choice(["half", "minus_two", "double", "plus_two"])
        value = {"half": px.length // 2, "minus_two": max(0, px.length - 2),
                 "double": px.length * 2, "plus_two": px.length + 2}[kind]
        if kind == "half" and rng.random() < 0.5:  # also drop the bytes: a consistent short file
            short = replace_value(data, layout, px, data[px.value_offset:px.value_offset + value])
            return short, f"native pixel data shortened to {value} of {px.length} bytes"
        set_uint(out, px.length_offset, px.length_size, value, layout.little)
        return bytes(out), f"native pixel data length field {px.length} -> {value} ({kind})"
    frags = [el for el in layout.elements if el.fragment]
    if not frags:
        return None
    kind = rng.choice(["frag_length", "frag_garbage", "no_delimiter", "bot_garbage", "drop_frags"])
    if kind == "frag_length":
        el = rng.choice(frags)
        value = rng.choice([0, 1, el.length + 8, el.length // 3, 0xFFFFFFF0])
        set_uint(out, el.length_offset, 4, value, layout.little)
        return bytes(out), f"fragment at {el.start} length {el.length} -> {value}"
    if kind == "frag_garbage":
        data_frags = [el for el in frags if el.length > 16] or frags
        el = rng.choice(data_frags)
        start = el.value_offset + rng.randrange(0, max(1, el.length // 2))
        size = min(el.value_offset + el.length - start, rng.choice([8, 64, 100000]))
        out[start:start + size] = rng.randbytes(size)
        return bytes(out), f"{size} random bytes written into the fragment at {el.start}"
    if kind == "no_delimiter":
        return data[:px.end - 8] + data[px.end:], "sequence delimiter of encapsulated pixel data removed"
    if kind == "bot_garbage":
        bot = frags[0]
        if bot.length < 4:
            out[bot.length_offset:bot.length_offset + 4] = struct.pack(layout.endian + "I", 0)
            return bytes(out), "empty basic offset table kept (no-op variant)"
        for i in range(bot.length // 4):
            at = bot.value_offset + 4 * i
            out[at:at + 4] = struct.pack(layout.endian + "I", rng.randrange(0, 0xFFFFFFFF))
        return bytes(out), "basic offset table filled with random offsets"
    keep = frags[:1]
    end = keep[0].end
    return data[:end] + struct.pack(layout.endian + "HHI", 0xFFFE, 0xE0DD, 0) + data[px.end:], (
        "all frame fragments dropped (only the offset table left)"
    )


_DIMENSIONS: list[tuple[str, list[int]]] = [
    ("Rows", [60000, 65535, 0, 1, 3]),
    ("Columns", [60000, 65535, 0, 1, 3]),
    ("BitsAllocated", [0, 1, 7, 12, 24, 32, 64, 255]),
    ("BitsStored", [0, 17, 33, 255]),
    ("HighBit", [0, 31, 200]),
    ("SamplesPerPixel", [0, 2, 3, 4, 255]),
    ("PixelRepresentation", [2, 255]),
    ("PlanarConfiguration", [1, 7]),
]
_FRAME_COUNTS = [b"1000000", b"0", b"-5", b"2147483647", b"99999999999999", b"abc", b"2", b"1.5"]


def absurd_dimensions(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    """Rows/Columns/bits/samples/frames set to absurd or inconsistent values."""
    if layout.transfer_syntax == DEFLATED_LE:
        return None
    if rng.random() < 0.3:
        frames = rng.choice(_FRAME_COUNTS)
        out = set_top_value(data, layout, "NumberOfFrames", frames, "IS")
        return None if out is None else (out, f"NumberOfFrames set to {frames.decode()}")
    if rng.random() < 0.2:
        return huge_image(data, layout, rng)
    name, values = rng.choice(_DIMENSIONS)
    value = rng.choice(values)
    out = set_top_value(data, layout, name, _us_value(value, layout), "US")
    return None if out is None else (out, f"{name} set to {value}")


_DS_JUNK = [
    b"abc", b"nan", b"inf", b"-inf", b"1e308", b"0", b"-1", b"", b"1\\2",
    b"0\\0", b"-1\\-1", b"0\\0\\0\\0\\0\\0", b"1\\0\\0\\1\\0\\0", b"1\\0\\0\\0\\1",
    b"1e-300\\1e-300", b"1,5\\1,5", b"NaN\\NaN\\NaN",
]
_VALUE_TARGETS = [
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
    "SpacingBetweenSlices", "RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth",
]
_PHOTOMETRIC = [b"FOO", b"PALETTE COLOR", b"RGB", b"YBR_FULL_422", b"MONOCHROME1", b"", b"\x00\x01"]
_TS_SWAPS = [
    b"1.2.840.10008.1.2", b"1.2.840.10008.1.2.1", b"1.2.840.10008.1.2.2",
    b"1.2.840.10008.1.2.1.99", b"1.2.840.10008.1.2.4.50", b"1.2.840.10008.1.2.4.90",
    b"1.2.840.10008.1.2.5", b"1.2.840.10008.1.2.4.100", b"1.2.3.4", b"", b"garbage",
]
_SOP_SWAPS = [
    b"1.2.840.10008.5.1.4.1.1.66.4",  # SEG
    b"1.2.840.10008.5.1.4.1.1.88.22",  # SR
    b"1.2.840.10008.5.1.4.1.1.481.3",  # RTSTRUCT
    b"1.2.840.10008.5.1.4.1.1.104.1",  # encapsulated PDF
    b"", b"9.9.9",
]


def bogus_values(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    """Well-formed elements holding nonsense: geometry, photometric, syntax, identity."""
    kind = rng.choice(["geometry", "geometry", "geometry", "photometric", "syntax", "sop", "uids"])
    if kind == "geometry":
        name = rng.choice(_VALUE_TARGETS)
        found = layout.find(TAGS[name])  # top level or inside functional groups
        value = rng.choice(_DS_JUNK)
        if not found:
            out = set_top_value(data, layout, name, value, "DS")
            return None if out is None else (out, f"{name} inserted as {value!r}")
        el = rng.choice(found)
        out = replace_value(data, layout, el, value)
        return None if out is None else (out, f"{name} (depth {el.depth}) set to {value!r}")
    if kind == "photometric":
        value = rng.choice(_PHOTOMETRIC)
        out = set_top_value(data, layout, "PhotometricInterpretation", value, "CS")
        return None if out is None else (out, f"PhotometricInterpretation set to {value!r}")
    if kind == "syntax":
        found = layout.find(TAGS["TransferSyntaxUID"])
        if not found:
            return None
        value = rng.choice([v for v in _TS_SWAPS if v.decode() != layout.transfer_syntax])
        out = replace_value(data, layout, found[0], value)
        return None if out is None else (out, f"TransferSyntaxUID changed to {value!r}")
    if kind == "sop":
        value = rng.choice(_SOP_SWAPS)
        out = set_top_value(data, layout, "SOPClassUID", value, "UI")
        return None if out is None else (out, f"SOPClassUID changed to {value!r}")
    name = rng.choice(["StudyInstanceUID", "SeriesInstanceUID", "Modality"])
    value = rng.choice([b"", b"\x00" * 8, b"1.2.3", b"../../etc", b"\xff\xfe\xfd"])
    out = set_top_value(data, layout, name, value, "UI" if name != "Modality" else "CS")
    return None if out is None else (out, f"{name} set to {value!r}")


def huge_image(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    """The classic: a header claiming a 60000 x 60000 image (pixel data unchanged)."""
    out: bytes | None = data
    for name in ("Rows", "Columns"):
        current = parse_layout(out)
        out = set_top_value(out, current, name, _us_value(60000, current), "US")
        if out is None:
            return None
    return out, "Rows and Columns set to 60000"


def million_frames(data: bytes, layout: Layout, rng: random.Random) -> Mutation | None:
    """A header claiming a million frames (pixel data unchanged)."""
    out = set_top_value(data, layout, "NumberOfFrames", b"1000000", "IS")
    return None if out is None else (out, "NumberOfFrames set to 1000000")


MUTATORS: dict[str, Mutator] = {
    "truncate_random": truncate_random,
    "truncate_header": truncate_header,
    "truncate_pixels": truncate_pixels,
    "flip_bytes": flip_bytes,
    "flip_header_bytes": flip_header_bytes,
    "zero_fill": zero_fill,
    "duplicate_chunk": duplicate_chunk,
    "junk_body": junk_body,
    "bad_length": bad_length,
    "bogus_vr": bogus_vr,
    "missing_pixel_data": missing_pixel_data,
    "pixel_length": pixel_length,
    "absurd_dimensions": absurd_dimensions,
    "bogus_values": bogus_values,
    "huge_image": huge_image,
    "million_frames": million_frames,
}


def mutate(data: bytes, name: str, rng: random.Random) -> Mutation:
    """Apply mutator ``name``; fall back to a byte flip when it does not apply.

    Deterministic for the same ``data``, ``name`` and ``rng`` state.
    """
    layout = parse_layout(data)
    result = MUTATORS[name](data, layout, rng)
    if result is None or result[0] == data:
        out, detail = flip_bytes(data, layout, rng)
        return out, f"({name} not applicable) {detail}"
    return result
