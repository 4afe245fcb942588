"""Label descriptions read beside label maps: Slicer .seg.nrrd, ITK-SNAP, Slicer colour
tables, Interval's JSON; precedence; damaged files never stop a label map from loading."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from interval.core.errors import UnsupportedData
from interval.core.labels import LabelInfo, LabelTable, default_color
from interval.core.volume import Volume
from interval.io.image_files import write_image
from interval.io.label_tables import (
    MalformedLabelTable,
    describe_labels,
    json_sidecar_path,
    label_stem,
    read_label_file,
    read_label_json,
    read_nrrd_header,
    sidecar_candidates,
    write_label_json,
)
from interval.io.segmentation import load_segmentation, load_segmentation_groups

SPACING = (0.5, 0.75, 2.0)
ORIGIN = (-10.0, 20.0, 30.0)


def _labels_array() -> np.ndarray:
    a = np.zeros((4, 5, 6), np.uint8)  # z, y, x
    a[1, 1:3, 1:3] = 1
    a[2, 2:4, 3:5] = 2
    a[3, 0, 0] = 5
    return a


def _nifti(tmp_path: Path, name: str = "seg.nii.gz", array: np.ndarray | None = None) -> Path:
    arr = _labels_array() if array is None else array
    vol = Volume(arr, SPACING, ORIGIN, np.eye(3), labels=LabelTable.for_values([1, 2, 5]))
    return write_image(vol, tmp_path / name)


def _nrrd(path: Path, array: np.ndarray, pairs: dict[str, str], layers: int = 0) -> Path:
    """A raw NRRD written by hand (array z,y,x or z,y,x,layer), with key:=value pairs."""
    nz, ny, nx = array.shape[:3]
    lines = ["NRRD0004", "# a comment", "type: unsigned char", "space: left-posterior-superior"]
    if layers:
        lines += ["dimension: 4", f"sizes: {layers} {nx} {ny} {nz}",
                  f"space directions: none ({SPACING[0]},0,0) (0,{SPACING[1]},0) "
                  f"(0,0,{SPACING[2]})", "kinds: list domain domain domain"]
    else:
        lines += ["dimension: 3", f"sizes: {nx} {ny} {nz}",
                  f"space directions: ({SPACING[0]},0,0) (0,{SPACING[1]},0) (0,0,{SPACING[2]})",
                  "kinds: domain domain domain"]
    lines += ["encoding: raw",
              "space origin: ({},{},{})".format(*ORIGIN)]
    lines += [f"{k}:={v}" for k, v in pairs.items()]
    path.write_bytes(("\n".join(lines) + "\n\n").encode() + np.ascontiguousarray(
        array, np.uint8).tobytes())
    return path


def _segment(i: int, name: str, value: int, color: str = "0.2 0.4 0.6", layer: int = 0
             ) -> dict[str, str]:
    p = f"Segment{i}_"
    return {p + "ID": f"Segment_{i}", p + "Name": name, p + "Color": color,
            p + "LabelValue": str(value), p + "Layer": str(layer),
            p + "Tags": "TerminologyEntry:x~SCT^1^y|"}


ITKSNAP = """################################################
# ITK-SnAP Label Description File
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
################################################
    0     0    0    0        0  0  0    "Clear Label"
    1   255    0    0        1  1  1    "liver"
    2     0  255    0     0.50  0  1    "right kidney"
    7     0    0  255        1  1  1    "not in the map"
"""

CTBL = """# Color table file GenericAnatomyColors.ctbl
# 4 values
0 Background 0 0 0 0
1 tissue 128 174 128 255
2 bone 241 214 145 255
3 skin 177 122 101 255
"""


# --- the formats ------------------------------------------------------------------------------
def test_no_description_gives_label_n_with_default_colours(tmp_path) -> None:
    vol = load_segmentation(_nifti(tmp_path))
    assert [(i.value, i.name, i.color) for i in vol.labels] == [
        (v, f"Label {v}", default_color(v)) for v in (1, 2, 5)]
    assert vol.metadata.warnings == ()


def test_interval_json_sidecar(tmp_path) -> None:
    image = _nifti(tmp_path)
    table = LabelTable([LabelInfo(1, "liver", (221, 130, 101)),
                        LabelInfo(2, "lesion", (255, 30, 30), visible=False),
                        LabelInfo(5, "spleen", (157, 108, 162)),
                        LabelInfo(9, "empty but described", (1, 2, 3))])
    written = write_label_json(table, image)  # given the image, writes its sidecar
    assert written == tmp_path / "seg.labels.json" == json_sidecar_path(image)
    assert json.loads(written.read_text())["labels"][0] == {
        "value": 1, "name": "liver", "color": [221, 130, 101], "visible": True}
    vol = load_segmentation(image)
    assert vol.labels == table  # all four (the JSON describes this map), visibility kept
    assert vol.metadata.warnings == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.labels.json", "seg.nii.gz"]


def test_json_colour_is_optional(tmp_path) -> None:
    image = _nifti(tmp_path)
    json_sidecar_path(image).write_text(json.dumps(
        {"labels": [{"value": 1, "name": "liver"}, {"value": 2, "name": "kidney"},
                    {"value": 5, "name": "aorta", "color": [1, 2, 3]}]}))
    vol = load_segmentation(image)
    assert [i.name for i in vol.labels] == ["liver", "kidney", "aorta"]
    assert vol.labels[2].color == default_color(2) and vol.labels[5].color == (1, 2, 3)


@pytest.mark.parametrize("sidecar", ["seg_labels.txt", "seg.txt", "label_description.txt"])
def test_itksnap_label_description(tmp_path, sidecar) -> None:
    image = _nifti(tmp_path)
    (tmp_path / sidecar).write_text(ITKSNAP)
    vol = load_segmentation(image)
    by_value = {i.value: i for i in vol.labels}
    assert set(by_value) == {1, 2, 5}  # only values in the map; 7 is not, 0 is background
    assert by_value[1] == LabelInfo(1, "liver", (255, 0, 0), True)
    assert by_value[2] == LabelInfo(2, "right kidney", (0, 255, 0), False)  # VIS 0
    assert by_value[5] == LabelInfo(5, "Label 5", default_color(5))
    (note,) = vol.metadata.warnings
    assert "5" in note and sidecar in note and "Label N" in note


@pytest.mark.parametrize("sidecar", ["seg.ctbl", "seg_ColorTable.txt", "seg.txt"])
def test_slicer_colour_table(tmp_path, sidecar) -> None:
    arr = _labels_array()
    arr[arr == 5] = 3
    image = _nifti(tmp_path, array=arr)
    (tmp_path / sidecar).write_text(CTBL)
    vol = load_segmentation(image)
    assert [(i.value, i.name, i.color) for i in vol.labels] == [
        (1, "tissue", (128, 174, 128)), (2, "bone", (241, 214, 145)), (3, "skin", (177, 122, 101))]
    kind, _ = read_label_file(tmp_path / sidecar)
    assert kind == "slicer-ctbl"


def test_slicer_seg_nrrd_single_layer(tmp_path) -> None:
    pairs = {**_segment(0, "liver", 1, "0.866667 0.509804 0.396078"),
             **_segment(1, "tumor: core", 2, "1 0 0"),
             **_segment(2, "vessel", 5, "0 0 1"),
             **_segment(3, "empty segment", 7, "0 1 0")}
    path = _nrrd(tmp_path / "Segmentation.seg.nrrd", _labels_array(), pairs)
    vol = load_segmentation(path)
    assert [(i.value, i.name, i.color) for i in vol.labels] == [
        (1, "liver", (221, 130, 101)), (2, "tumor: core", (255, 0, 0)), (5, "vessel", (0, 0, 255)),
        (7, "empty segment", (0, 255, 0))]  # a Slicer segment with no voxels is kept
    np.testing.assert_array_equal(vol.array, _labels_array())
    assert vol.spacing == pytest.approx(SPACING) and vol.origin == pytest.approx(ORIGIN)
    assert vol.metadata.warnings == ()
    only = load_segmentation(path, segments=[2])
    assert [i.name for i in only.labels] == ["tumor: core"]
    assert set(np.unique(only.array)) == {0, 2}


def test_slicer_seg_nrrd_multi_layer_is_split_into_layers(tmp_path) -> None:
    arr = np.zeros((4, 5, 6, 2), np.uint8)
    arr[1, 1:3, 1:3, 0] = 1  # layer 0: liver (1)
    arr[1, 2:4, 2:4, 1] = 1  # layer 1: tumour (1) overlapping the liver
    arr[3, 0, 0, 1] = 2  # layer 1: vessel (2)
    pairs = {**_segment(0, "liver", 1, "1 0 0", layer=0),
             **_segment(1, "tumour", 1, "0 1 0", layer=1),
             **_segment(2, "vessel", 2, "0 0 1", layer=1)}
    path = _nrrd(tmp_path / "two.seg.nrrd", arr, pairs, layers=2)
    with pytest.raises(UnsupportedData, match="2 overlapping layers"):
        load_segmentation(path)
    first, second = load_segmentation_groups(path)
    assert [i.name for i in first.labels] == ["liver"]
    assert [(i.value, i.name) for i in second.labels] == [(1, "tumour"), (2, "vessel")]
    np.testing.assert_array_equal(first.array, arr[..., 0])
    np.testing.assert_array_equal(second.array, arr[..., 1])
    assert second.spacing == pytest.approx(SPACING) and second.origin == pytest.approx(ORIGIN)


def test_old_slicer_seg_nrrd_one_layer_per_segment(tmp_path) -> None:
    arr = np.zeros((4, 5, 6, 2), np.uint8)
    arr[0, 0, 0, 0] = 1
    arr[0, 0, 0, 1] = 1
    pairs = {"Segment0_Name": "a", "Segment0_Color": "1 0 0",
             "Segment1_Name": "b", "Segment1_Color": "0 1 0"}  # no LabelValue / Layer
    groups = load_segmentation_groups(_nrrd(tmp_path / "old.seg.nrrd", arr, pairs, layers=2))
    assert [[(i.value, i.name) for i in g.labels] for g in groups] == [[(1, "a")], [(1, "b")]]


# --- precedence -------------------------------------------------------------------------------
def test_precedence_header_then_json_then_ctbl_then_itksnap(tmp_path) -> None:
    pairs = {**_segment(0, "from header", 1), **_segment(1, "h2", 2), **_segment(2, "h5", 5)}
    path = _nrrd(tmp_path / "seg.nrrd", _labels_array(), pairs)
    write_label_json(LabelTable.from_names({1: "from json", 2: "j2", 5: "j5"}), path)
    (tmp_path / "seg.ctbl").write_text("1 from_ctbl 1 2 3 255\n2 c2 1 2 3 255\n5 c5 1 2 3 255\n")
    (tmp_path / "seg_labels.txt").write_text(ITKSNAP)
    assert load_segmentation(path).labels[1].name == "from header"
    plain = _nrrd(tmp_path / "seg.nrrd", _labels_array(), {})  # no Segment keys now
    assert load_segmentation(plain).labels[1].name == "from json"
    json_sidecar_path(plain).unlink()
    assert load_segmentation(plain).labels[1].name == "from_ctbl"
    (tmp_path / "seg.ctbl").unlink()
    assert load_segmentation(plain).labels[1].name == "liver"  # ITK-SNAP
    assert [p.name for p in sidecar_candidates(plain)] == [
        "seg.labels.json", "seg.ctbl", "seg_ColorTable.txt", "seg_labels.txt", "seg.txt",
        "label_description.txt"]


def test_stem_strips_only_the_image_extension() -> None:
    assert label_stem("a/tp1_labels.nii.gz") == "tp1_labels"
    assert label_stem("Segmentation.seg.nrrd") == "Segmentation.seg"
    assert json_sidecar_path("x/ct.mha") == Path("x/ct.labels.json")


# --- damaged descriptions ---------------------------------------------------------------------
@pytest.mark.parametrize("text,reason", [
    ("{not json", "not valid JSON"),
    ('{"labels": [{"value": 0, "name": "x"}]}', "positive whole number"),
    ('{"labels": [{"value": 1, "name": "x", "color": [300, 0, 0]}]}', "0-255"),
    ('{"labels": [{"value": 1}, {"value": 1}]}', "listed twice"),
    ('{"names": []}', "\"labels\" list"),
])
def test_damaged_json_warns_and_the_map_still_loads(tmp_path, text, reason) -> None:
    image = _nifti(tmp_path)
    json_sidecar_path(image).write_text(text)
    vol = load_segmentation(image)
    assert [i.name for i in vol.labels] == ["Label 1", "Label 2", "Label 5"]
    (note,) = vol.metadata.warnings
    assert "seg.labels.json" in note and reason in note and "ignored" in note
    with pytest.raises(MalformedLabelTable, match=reason.replace("\"", ".")):
        read_label_json(json_sidecar_path(image))


def test_damaged_sidecar_falls_through_to_the_next_one(tmp_path) -> None:
    image = _nifti(tmp_path)
    (tmp_path / "seg.ctbl").write_text("1 liver 255 0\n")  # too few columns
    (tmp_path / "label_description.txt").write_text(ITKSNAP)
    vol = load_segmentation(image)
    assert vol.labels[1].name == "liver" and vol.labels[1].color == (255, 0, 0)
    assert any("seg.ctbl" in w and "line 1" in w for w in vol.metadata.warnings)


@pytest.mark.parametrize("content", [
    b'    1   255    0    0        1  1  1    liver without quotes\n',
    b'    1   999    0    0        1  1  1    "colour out of range"\n',
    b"\x00\xff\xfe binary \x00 garbage",
    b"# only comments\n",
])
def test_damaged_itksnap_file_warns(tmp_path, content) -> None:
    image = _nifti(tmp_path)
    (tmp_path / "seg_labels.txt").write_bytes(content)
    vol = load_segmentation(image)
    assert [i.name for i in vol.labels] == ["Label 1", "Label 2", "Label 5"]
    assert len(vol.metadata.warnings) == 1 and "seg_labels.txt" in vol.metadata.warnings[0]


def test_damaged_slicer_segment_fields_warn(tmp_path) -> None:
    pairs = {**_segment(0, "liver", 1, "not a colour"), **_segment(1, "bad", 2),
             "Segment1_LabelValue": "two", **_segment(2, "vessel", 5, "0 0 1.5")}
    vol = load_segmentation(_nrrd(tmp_path / "s.seg.nrrd", _labels_array(), pairs))
    assert [(i.value, i.name) for i in vol.labels] == [(1, "liver"), (2, "Label 2"), (5, "vessel")]
    assert vol.labels[1].color == default_color(1) and vol.labels[5].color == default_color(5)
    text = " | ".join(vol.metadata.warnings)
    assert "'liver' has an unreadable colour" in text and "'bad'" in text
    assert "'vessel' has an unreadable colour" in text


def test_describe_labels_never_raises_on_an_unreadable_sidecar(tmp_path) -> None:
    image = _nifti(tmp_path)
    (tmp_path / "seg.labels.json").mkdir()  # a folder where a file should be: not a file
    (tmp_path / "seg.txt").write_text("x" * 10)
    found = describe_labels(image, [1, 2])
    assert found.source == "default" and [i.name for i in found.table] == ["Label 1", "Label 2"]
    assert len(found.warnings) == 1


# --- NRRD header and writing ------------------------------------------------------------------
def test_nrrd_header_fields_and_pairs(tmp_path) -> None:
    path = _nrrd(tmp_path / "h.nrrd", _labels_array(),
                 {"Segment0_Name": r"a\nb \\ c", "Key: with colon": "v := w"})
    header = read_nrrd_header(path)
    assert header["sizes"] == "6 5 4" and header["encoding"] == "raw"
    assert header["Segment0_Name"] == "a\nb \\ c"
    assert header["Key: with colon"] == "v := w"
    assert read_nrrd_header(_nifti(tmp_path)) is None  # not NRRD


def test_write_label_json_is_atomic_and_round_trips(tmp_path) -> None:
    table = LabelTable([LabelInfo(3, "lésion", (1, 2, 3), visible=False)])
    target = tmp_path / "x.labels.json"
    assert write_label_json(table, target) == target
    assert read_label_json(target) == table
    write_label_json(LabelTable.from_names({1: "new"}), target)  # replaces
    assert read_label_json(target)[1].name == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.labels.json"]  # no temporary files


def test_no_file_names_in_logs(tmp_path, caplog) -> None:
    image = _nifti(tmp_path, name="PATIENT_DOE_labels.nii.gz")
    (tmp_path / "PATIENT_DOE_labels.labels.json").write_text("{bad")
    with caplog.at_level(logging.DEBUG):
        vol = load_segmentation(image)
    assert "PATIENT_DOE" in vol.metadata.warnings[0]  # shown to the user...
    assert not any("PATIENT_DOE" in r.getMessage() for r in caplog.records)  # ...never logged


# --- NIfTI label table extension (TotalSegmentator) -------------------------------------------
def _caret(labels: list[tuple[int, str, tuple[float, float, float]]]) -> bytes:
    rows = "\n".join(
        f'<Label Key="{k}" Red="{r}" Green="{g}" Blue="{b}" Alpha="1"><![CDATA[{n}]]></Label>'
        for k, n, (r, g, b) in labels)
    return ('<?xml version="1.0" encoding="UTF-8"?> <CaretExtension> <VolumeInformation '
            f'Index="0"> <LabelTable>\n{rows}\n</LabelTable> </VolumeInformation>'
            '</CaretExtension>\n    ').encode()


def _nifti_with_extension(path: Path, content: bytes, code: int = 0) -> Path:
    import nibabel as nib

    img = nib.Nifti1Image(np.transpose(_labels_array()), np.diag([*SPACING, 1.0]))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(code, content))
    nib.save(img, str(path))
    return path


@pytest.mark.parametrize("name", ["ts.nii.gz", "ts.nii"])
def test_nifti_label_table_extension_names_and_distinct_colours(tmp_path, name) -> None:
    path = _nifti_with_extension(tmp_path / name, _caret(
        [(1, "spleen", (0.0, 1.0, 0.0)), (2, "kidney_right", (0.0, 0.0, 1.0)),
         (3, "not in the map", (1.0, 1.0, 0.0)), (5, "liver", (1.0, 0.5019607843137255, 0.0))]))
    vol = load_segmentation(path)
    assert [(i.value, i.name, i.color) for i in vol.labels] == [
        (1, "spleen", (0, 255, 0)), (2, "kidney_right", (0, 0, 255)), (5, "liver", (255, 128, 0))]
    assert vol.metadata.warnings == ()
    # a sidecar does not override what the file itself says
    write_label_json(LabelTable.from_names({1: "sidecar"}), path)
    assert load_segmentation(path).labels[1].name == "spleen"


def test_nifti_label_table_with_repeated_colours_gets_distinct_ones(tmp_path) -> None:
    path = _nifti_with_extension(tmp_path / "ts.nii.gz", _caret(
        [(1, "spleen", (0.0, 1.0, 0.0)), (2, "kidney", (0.0, 1.0, 0.0)), (5, "liver", (1, 0, 0))]))
    vol = load_segmentation(path)
    assert [i.name for i in vol.labels] == ["spleen", "kidney", "liver"]
    assert [i.color for i in vol.labels] == [default_color(v) for v in (1, 2, 5)]


def test_damaged_nifti_label_table_warns_and_a_sidecar_is_used(tmp_path) -> None:
    path = _nifti_with_extension(tmp_path / "ts.nii.gz", b"<LabelTable><Label Key='1'>")
    write_label_json(LabelTable.from_names({1: "liver", 2: "kidney", 5: "aorta"}), path)
    vol = load_segmentation(path)
    assert vol.labels[1].name == "liver"
    assert len(vol.metadata.warnings) == 1 and "not valid XML" in vol.metadata.warnings[0]


def test_other_nifti_extensions_are_ignored(tmp_path) -> None:
    path = _nifti_with_extension(tmp_path / "x.nii.gz", b'{"some": "json"}', code=44)
    vol = load_segmentation(path)
    assert [i.name for i in vol.labels] == ["Label 1", "Label 2", "Label 5"]
    assert vol.metadata.warnings == ()


def test_nrrd_header_without_an_end_is_refused_in_words(tmp_path) -> None:
    path = tmp_path / "broken.nrrd"
    path.write_bytes(b"NRRD0004\ntype: uchar\n" + b"x" * (5 << 20))  # no blank line, no newline
    with pytest.raises(MalformedLabelTable, match="does not end"):
        read_nrrd_header(path)
    found = describe_labels(path, [1])
    assert found.source == "default" and "does not end" in found.warnings[0]
