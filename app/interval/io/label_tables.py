"""Label descriptions: the names and colours that go with a NIfTI/NRRD/MetaImage label map.

A label map file holds integers only; what they mean is read, in this order:

1. **A description inside the file**:

   * 3D Slicer segmentation (``.seg.nrrd``, or any NRRD whose header has them):
     the header keys ``SegmentN_Name``, ``SegmentN_Color`` (three 0-1 floats),
     ``SegmentN_LabelValue`` (default 1) and ``SegmentN_Layer`` (default 0).  A
     single-layer file is one label map; a multi-layer file (4-D, one layer per
     voxel component) is split into one label map per layer by
     :func:`interval.io.segmentation.load_segmentation_groups`;
   * NIfTI label table extension (Caret/CIFTI ``<LabelTable><Label Key= Red= Green=
     Blue=>name</Label>``), as TotalSegmentator writes.  Its colours are used only
     when no two labels share one (TotalSegmentator cycles a dozen colours over
     117 labels - a reading hazard); otherwise the default distinct colours are.
2. **A sidecar file** beside the image, ``<stem>`` being the file name without its
   image extension (``tp1_labels.nii.gz`` -> ``tp1_labels``); the first that exists:

   * ``<stem>.labels.json`` - Interval's own (written by :func:`write_label_json`)::

         {"format": "interval-labels", "version": 1,
          "labels": [{"value": 1, "name": "liver", "color": [221, 130, 101],
                      "visible": true}, ...]}

     (``color`` 0-255 and ``visible`` are optional);
   * ``<stem>.ctbl`` or ``<stem>_ColorTable.txt`` - a 3D Slicer colour table:
     ``value name r g b a`` lines (0-255), ``#`` comments;
   * ``<stem>_labels.txt``, ``<stem>.txt`` or ``label_description.txt`` - an ITK-SNAP
     label description: ``IDX R G B A VIS MSH "LABEL"`` lines, ``#`` comments
     (a ``.txt`` laid out as a Slicer colour table is read as one).

3. Otherwise each value present is ``"Label N"`` with a default colour
   (:func:`interval.core.labels.default_color`).

A Slicer header and a JSON sidecar describe *this* label map, so every label they
list is kept (also one with no voxels); a colour table, an ITK-SNAP file or a
NIfTI label table is often a shared dictionary (TotalSegmentator lists its 117
classes in every output), so only values present in the map are kept.  Values
present but not described get ``"Label N"``.  A damaged description never stops
the label map from loading: :func:`describe_labels` returns a warning sentence
instead (shown to the user; not logged, as it names a file).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from interval.core.atomic import atomic_open
from interval.core.errors import UnsupportedData
from interval.core.labels import LabelInfo, LabelTable, default_color
from interval.io.image_files import image_extension

JSON_SUFFIX = ".labels.json"
JSON_FORMAT = "interval-labels"
_MAX_HEADER_BYTES = 4 << 20  # a NRRD header longer than this is not a header
_MAX_TABLE_BYTES = 16 << 20  # a label description larger than this is not one
_MAX_LINE_BYTES = 1 << 20  # read header lines in pieces of at most this size


class MalformedLabelTable(UnsupportedData):
    """A label description file exists but cannot be understood."""


@dataclass(frozen=True)
class SlicerSegment:
    """One segment of a 3D Slicer ``.seg.nrrd``: its name, colour, label value and layer."""

    index: int
    name: str
    color: tuple[int, int, int]
    label_value: int
    layer: int


@dataclass(frozen=True)
class LabelDescription:
    """What :func:`describe_labels` found: the table, where it came from, and warnings."""

    table: LabelTable
    source: str  # "slicer-seg", "nifti", "json", "slicer-ctbl", "itk-snap" or "default"
    path: Path | None = None
    warnings: tuple[str, ...] = field(default=())


# --- finding ---------------------------------------------------------------------------------
def label_stem(image_path: str | Path) -> str:
    """The image file name without its image extension (``a.nii.gz`` -> ``a``)."""
    name = Path(image_path).name
    ext = image_extension(name)
    return name[: -len(ext)] if ext and len(name) > len(ext) else name


def json_sidecar_path(image_path: str | Path) -> Path:
    """Where Interval's JSON label description of ``image_path`` lives."""
    path = Path(image_path)
    return path.with_name(label_stem(path) + JSON_SUFFIX)


def sidecar_candidates(image_path: str | Path) -> list[Path]:
    """The sidecar names looked for beside ``image_path``, in order of precedence."""
    path = Path(image_path)
    stem = label_stem(path)
    return [
        path.with_name(stem + JSON_SUFFIX),
        path.with_name(stem + ".ctbl"),
        path.with_name(stem + "_ColorTable.txt"),
        path.with_name(stem + "_labels.txt"),
        path.with_name(stem + ".txt"),
        path.with_name("label_description.txt"),
    ]


def describe_labels(image_path: str | Path, present: Iterable[int],
                    header: dict[str, str] | None = None) -> LabelDescription:
    """The label table of the label map ``image_path`` whose non-zero values are ``present``.

    ``header`` is the file's NRRD header (:func:`read_nrrd_header`) when already
    read; otherwise it is read for NRRD files.  Never raises for a damaged
    description: the problem becomes a warning and the next source is tried.
    """
    path = Path(image_path)
    values = sorted({int(v) for v in present if int(v) != 0})
    notes: list[str] = []
    if header is None and (image_extension(path) or "") in (".nrrd", ".nhdr"):
        try:
            header = read_nrrd_header(path)
        except MalformedLabelTable as exc:
            notes.append(exc.message)
    if header is not None and has_slicer_segments(header):
        try:
            segments, seg_notes = slicer_segments(header)
            notes += seg_notes
            table = merge_with_present(segments_table(segments), values, keep_all=True,
                                       source_name=path.name, notes=notes)
            return LabelDescription(table, "slicer-seg", path, tuple(notes))
        except MalformedLabelTable as exc:
            notes.append(f"the segment names in {path.name} could not be read ({exc.message})")
    if (image_extension(path) or "") in (".nii", ".nii.gz"):
        try:
            embedded = read_nifti_label_table(path)
        except MalformedLabelTable as exc:
            embedded = None
            notes.append(f"the label names inside {path.name} could not be read "
                         f"({exc.message})")
        if embedded is not None:
            table = merge_with_present(embedded, values, keep_all=False,
                                       source_name=path.name, notes=notes)
            return LabelDescription(table, "nifti", path, tuple(notes))
    for candidate in sidecar_candidates(path):
        if not candidate.is_file():
            continue
        try:
            kind, described = read_label_file(candidate)
        except MalformedLabelTable as exc:
            notes.append(
                f"the label description {candidate.name} could not be read ({exc.message}); "
                "it was ignored"
            )
            continue
        table = merge_with_present(described, values, keep_all=kind == "json",
                                   source_name=candidate.name, notes=notes)
        return LabelDescription(table, kind, candidate, tuple(notes))
    return LabelDescription(LabelTable.for_values(values), "default", None, tuple(notes))


def merge_with_present(described: LabelTable, values: Iterable[int], *, keep_all: bool,
                       source_name: str, notes: list[str]) -> LabelTable:
    """``described`` restricted to (unless ``keep_all``) and completed by the ``values``
    present in the map; a note is appended to ``notes`` for present values not described."""
    values = sorted({int(v) for v in values if int(v) != 0})
    present = set(values)
    infos = [i for i in described if keep_all or i.value in present]
    missing = [v for v in values if v not in described]
    if missing:
        shown = ", ".join(str(v) for v in missing[:10]) + (" ..." if len(missing) > 10 else "")
        notes.append(f"label values {shown} are not named in {source_name}; "
                     "they are shown as 'Label N'")
    infos += [LabelInfo(v, f"Label {v}", default_color(v)) for v in missing]
    return LabelTable(infos)


# --- NRRD header / 3D Slicer segmentation ----------------------------------------------------
def read_nrrd_header(path: str | Path) -> dict[str, str] | None:
    """The text header of a NRRD file: fields and ``key:=value`` pairs, or None if not NRRD.

    Fields are stored under their lower-case name (``"sizes"``, ``"kinds"``);
    key/value pairs under their key as written (``"Segment0_Name"``).  Only the
    header is read, never the voxels.  Raises :class:`MalformedLabelTable` when
    the header cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            magic = fh.readline(64)
            if not magic.startswith(b"NRRD000"):
                return None
            header: dict[str, str] = {}
            size = len(magic)
            while raw := fh.readline(_MAX_LINE_BYTES):
                size += len(raw)
                if size > _MAX_HEADER_BYTES:
                    raise MalformedLabelTable("the NRRD header does not end")
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if not line.strip():
                    break
                if line.startswith("#"):
                    continue
                kv, fv = line.find(":="), line.find(": ")
                if kv > 0 and (fv < 0 or kv < fv or line[:fv].lower() not in _NRRD_FIELDS):
                    header[line[:kv]] = _unescape(line[kv + 2:])
                elif fv > 0:
                    header[line[:fv].strip().lower()] = line[fv + 2:].strip()
            return header
    except OSError as exc:
        raise MalformedLabelTable(f"the file could not be read ({exc.strerror or exc})") from exc


# NRRD field names (format.html); a line "name: value" with one of these is a field.
_NRRD_FIELDS = frozenset([
    "dimension", "type", "encoding", "endian", "content", "sizes", "spacings", "kinds",
    "centers", "centerings", "labels", "units", "axis mins", "axismins", "axis maxs",
    "axismaxs", "thicknesses", "space", "space dimension", "space directions", "space origin",
    "space units", "measurement frame", "data file", "datafile", "line skip", "lineskip",
    "byte skip", "byteskip", "block size", "blocksize", "min", "max", "old min", "oldmin",
    "old max", "oldmax", "sample units", "number",
])


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


_SEGMENT_KEY = re.compile(r"^Segment(\d+)_(\w+)$")


def has_slicer_segments(header: dict[str, str]) -> bool:
    """Whether a NRRD header describes 3D Slicer segments (``SegmentN_...`` keys)."""
    return any(_SEGMENT_KEY.match(k) for k in header)


def slicer_segments(header: dict[str, str]) -> tuple[list[SlicerSegment], list[str]]:
    """The segments a ``.seg.nrrd`` header describes (by segment index) and warnings.

    A segment with an unreadable colour gets a default colour (with a warning); one
    with an unreadable label value or layer is left out (with a warning).  Raises
    :class:`MalformedLabelTable` when no segment can be read.
    """
    fields: dict[int, dict[str, str]] = {}
    n_layers = slicer_layers(header)
    for key, value in header.items():
        m = _SEGMENT_KEY.match(key)
        if m:
            fields.setdefault(int(m.group(1)), {})[m.group(2)] = value.strip()
    # Slicer before 4.11 wrote one layer per segment without Layer/LabelValue keys.
    legacy = n_layers > 1 and n_layers == len(fields) and not any(
        "Layer" in f for f in fields.values())
    notes: list[str] = []
    segments: list[SlicerSegment] = []
    taken: dict[tuple[int, int], str] = {}
    for position, index in enumerate(sorted(fields)):
        f = fields[index]
        name = f.get("Name") or f.get("ID") or f"Segment {index}"
        try:
            value = int(f.get("LabelValue", "1"))
            layer = position if legacy else int(f.get("Layer", "0"))
            if value <= 0 or layer < 0:
                raise ValueError
        except ValueError:
            notes.append(f"segment '{name}' has an unreadable label value or layer; it is "
                         "not named")
            continue
        if (layer, value) in taken:
            notes.append(f"segments '{taken[(layer, value)]}' and '{name}' share label value "
                         f"{value}; the first name is shown")
            continue
        color = _unit_color(f.get("Color"))
        if color is None:
            if "Color" in f:
                notes.append(f"segment '{name}' has an unreadable colour; a default one is used")
            color = default_color(value)
        taken[(layer, value)] = name
        segments.append(SlicerSegment(index, name, color, value, layer))
    if not segments:
        raise MalformedLabelTable("no segment could be read")
    return segments, notes


def slicer_layers(header: dict[str, str]) -> int:
    """How many label layers a NRRD holds: the size of its leading 'list' axis, else 1."""
    kinds = header.get("kinds", "").split()
    sizes = header.get("sizes", "").split()
    if len(kinds) == 4 and kinds[0].lower() == "list" and len(sizes) == 4:
        try:
            return max(int(sizes[0]), 1)
        except ValueError:
            return 1
    return 1


def segments_table(segments: Sequence[SlicerSegment], layer: int | None = None) -> LabelTable:
    """The label table of ``layer`` of a ``.seg.nrrd`` (None: every segment, one layer)."""
    infos: dict[int, LabelInfo] = {}
    for s in segments:
        if (layer is None or s.layer == layer) and s.label_value not in infos:
            infos[s.label_value] = LabelInfo(s.label_value, s.name, s.color)
    return LabelTable(list(infos.values()))


def _unit_color(text: str | None) -> tuple[int, int, int] | None:
    if not text:
        return None
    try:
        parts = [float(p) for p in text.replace(",", " ").split()]
    except ValueError:
        return None
    if len(parts) != 3 or not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in parts):
        return None
    return tuple(int(round(p * 255)) for p in parts)  # type: ignore[return-value]


# --- NIfTI header extension (Caret / CIFTI label table) --------------------------------------
def read_nifti_label_table(path: str | Path) -> LabelTable | None:
    """The label table in a NIfTI file's header extensions, or None when it has none.

    Reads only the header and extensions (never the voxels).  Colours are kept when
    all labels have different ones, else replaced by the default distinct colours.
    Raises :class:`MalformedLabelTable` when a label table is there but unreadable.
    """
    for _code, data in _nifti_extensions(Path(path)):
        if b"<LabelTable" in data:
            return _parse_caret(data)
    return None


def _nifti_extensions(path: Path) -> list[tuple[int, bytes]]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(544)
            if len(head) < 352:
                return []
            for order in "<>":
                size = struct.unpack(order + "i", head[:4])[0]
                if size in (348, 540):
                    break
            else:
                return []
            if size == 348:
                vox_offset = int(struct.unpack(order + "f", head[108:112])[0])
            else:
                vox_offset = int(struct.unpack(order + "q", head[168:176])[0])
            if len(head) < size + 4 or head[size] == 0:
                return []  # no extensions
            length = min(vox_offset, _MAX_TABLE_BYTES) - size - 4
            blob = head[size + 4:] + fh.read(max(length - (len(head) - size - 4), 0))
    except (OSError, EOFError, zlib.error, struct.error):
        return []  # the image reader reports unreadable files
    out, pos = [], 0
    while pos + 8 <= len(blob):
        esize, ecode = struct.unpack(order + "ii", blob[pos:pos + 8])
        if esize < 8 or pos + esize > len(blob):
            break
        out.append((ecode, blob[pos + 8:pos + esize]))
        pos += esize
    return out


def _parse_caret(data: bytes) -> LabelTable:
    text = data.rstrip(b"\x00 \t\r\n")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MalformedLabelTable(f"its label table is not valid XML ({exc})") from exc
    infos: dict[int, LabelInfo] = {}
    colors: dict[int, tuple[int, int, int]] = {}
    for item in root.iter("Label"):
        try:
            value = int(item.get("Key", ""))
            rgb = tuple(float(item.get(c, "nan")) for c in ("Red", "Green", "Blue"))
        except ValueError as exc:
            raise MalformedLabelTable("a label's key or colour is not a number") from exc
        if value <= 0:
            continue  # background ("???")
        name = (item.text or "").strip() or f"Label {value}"
        infos[value] = LabelInfo(value, name, default_color(value))
        if all(math.isfinite(c) and 0.0 <= c <= 1.0 for c in rgb):
            colors[value] = tuple(int(round(c * 255)) for c in rgb)  # type: ignore[assignment]
    if not infos:
        raise MalformedLabelTable("its label table lists no labels")
    if len(colors) == len(infos) and len(set(colors.values())) == len(colors):
        infos = {v: LabelInfo(v, i.name, colors[v]) for v, i in infos.items()}
    return LabelTable(list(infos.values()))


# --- sidecar files ---------------------------------------------------------------------------
def read_label_file(path: str | Path) -> tuple[str, LabelTable]:
    """Read a sidecar label description: ``(kind, table)`` with kind ``"json"``,
    ``"slicer-ctbl"`` or ``"itk-snap"`` (a ``.txt`` is recognised by its lines).

    Raises :class:`MalformedLabelTable` with a reason (and line number) when the
    file cannot be understood.
    """
    path = Path(path)
    text = _read_text(path)
    name = path.name.lower()
    if name.endswith(".json"):
        return "json", parse_label_json(text)
    lines = _data_lines(text)
    if name.endswith(".ctbl") or name.endswith("_colortable.txt"):
        return "slicer-ctbl", _parse_slicer(lines)
    if lines and '"' not in lines[0][1]:
        return "slicer-ctbl", _parse_slicer(lines)
    return "itk-snap", _parse_itksnap(lines)


def read_label_json(path: str | Path) -> LabelTable:
    """Read an Interval ``.labels.json`` (raises :class:`MalformedLabelTable`)."""
    return parse_label_json(_read_text(Path(path)))


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_TABLE_BYTES:
            raise MalformedLabelTable("the file is too large to be a label description")
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedLabelTable("the file is not text (UTF-8)") from exc
    except OSError as exc:
        raise MalformedLabelTable(f"the file could not be read ({exc.strerror or exc})") from exc


def _data_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of the non-empty, non-comment lines."""
    return [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1)
            if ln.strip() and not ln.lstrip().startswith("#")]


_ITKSNAP_LINE = re.compile(
    r"^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s+(\d+)\s+(\d+)\s+\"(.*)\"$"
)


def _parse_itksnap(lines: list[tuple[int, str]]) -> LabelTable:
    infos: dict[int, LabelInfo] = {}
    for number, line in lines:
        m = _ITKSNAP_LINE.match(line)
        if not m:
            raise MalformedLabelTable(
                f'line {number} is not \'IDX R G B A VIS MSH "LABEL"\'')
        value = int(m.group(1))
        color = _byte_color(m.group(2, 3, 4), number)
        if value == 0:
            continue  # ITK-SNAP's "Clear Label" (background)
        infos[value] = LabelInfo(value, m.group(8).strip() or f"Label {value}", color,
                                 visible=m.group(6) != "0")
    return _non_empty(infos)


def _parse_slicer(lines: list[tuple[int, str]]) -> LabelTable:
    infos: dict[int, LabelInfo] = {}
    for number, line in lines:
        parts = line.split()
        if len(parts) < 6:
            raise MalformedLabelTable(f"line {number} is not 'value name r g b a'")
        try:
            value = int(parts[0])
        except ValueError as exc:
            raise MalformedLabelTable(f"line {number}: the value is not a whole number") from exc
        color = _byte_color(parts[-4:-1], number)
        name = " ".join(parts[1:-4])
        if value == 0 or not name:
            continue  # background
        if value < 0:
            raise MalformedLabelTable(f"line {number}: negative label value")
        infos[value] = LabelInfo(value, name, color)
    return _non_empty(infos)


def _byte_color(parts: Sequence[str], number: int) -> tuple[int, int, int]:
    try:
        rgb = tuple(int(p) for p in parts)
    except ValueError as exc:
        raise MalformedLabelTable(f"line {number}: the colour is not three whole numbers") from exc
    if not all(0 <= c <= 255 for c in rgb):
        raise MalformedLabelTable(f"line {number}: colour values must be 0-255")
    return rgb  # type: ignore[return-value]


def _non_empty(infos: dict[int, LabelInfo]) -> LabelTable:
    if not infos:
        raise MalformedLabelTable("it lists no labels")
    return LabelTable(list(infos.values()))


def parse_label_json(text: str) -> LabelTable:
    """An Interval label table from JSON text (raises :class:`MalformedLabelTable`)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MalformedLabelTable(f"not valid JSON ({exc})") from exc
    items = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise MalformedLabelTable("no \"labels\" list")
    infos: dict[int, LabelInfo] = {}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise MalformedLabelTable(f"entry {n} is not an object")
        value = item.get("value")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise MalformedLabelTable(f"entry {n}: \"value\" must be a positive whole number")
        if value in infos:
            raise MalformedLabelTable(f"entry {n}: value {value} is listed twice")
        name = item.get("name", f"Label {value}")
        if not isinstance(name, str):
            raise MalformedLabelTable(f"entry {n}: \"name\" must be text")
        color = item.get("color")
        if color is None:
            rgb = default_color(value)
        elif (isinstance(color, list) and len(color) == 3
              and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255
                      for c in color)):
            rgb = (color[0], color[1], color[2])
        else:
            raise MalformedLabelTable(f"entry {n}: \"color\" must be three whole numbers 0-255")
        visible = item.get("visible", True)
        if not isinstance(visible, bool):
            raise MalformedLabelTable(f"entry {n}: \"visible\" must be true or false")
        infos[value] = LabelInfo(value, name.strip() or f"Label {value}", rgb, visible)
    return LabelTable(list(infos.values()))


# --- writing ---------------------------------------------------------------------------------
def label_json_text(table: LabelTable) -> str:
    """The JSON text :func:`write_label_json` writes."""
    return json.dumps({"format": JSON_FORMAT, "version": 1, "labels": table.to_dict()},
                      indent=1, ensure_ascii=False) + "\n"


def write_label_json(table: LabelTable, path: str | Path) -> Path:
    """Write ``table`` as an Interval label description, atomically.

    ``path`` is either the JSON file itself (``*.labels.json``) or the label map it
    describes (the sidecar name is then :func:`json_sidecar_path`).  Returns the
    path written.
    """
    path = Path(path)
    if image_extension(path) is not None:
        path = json_sidecar_path(path)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(label_json_text(table))
    return path
