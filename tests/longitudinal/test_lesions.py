"""Lesions of one timepoint: components, volumes, axes, organ, node flag, geometry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from interval.core.labels import LabelTable
from interval.core.volume import Volume
from interval.longitudinal.lesions import (
    LesionError,
    extract_lesions,
    is_lymph_node_name,
    lesion_label_values,
)

TABLE = LabelTable.from_names({1: "liver", 2: "spleen", 4: "lung", 9: "lesion",
                               10: "lymph node"})


def _ball(shape: tuple[int, int, int], centre: tuple[float, float, float], radius: float,
          scale: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    k, j, i = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (((k - centre[0]) * scale[0]) ** 2 + ((j - centre[1]) * scale[1]) ** 2
            + ((i - centre[2]) * scale[2]) ** 2) <= radius ** 2


def _volume(array: np.ndarray, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
            direction=None) -> Volume:
    return Volume(array, spacing, origin, np.eye(3) if direction is None else direction,
                  labels=TABLE)


def test_label_values_by_name() -> None:
    table = LabelTable.from_names({1: "liver", 2: "Liver tumor", 3: "kidney_cyst",
                                   4: "Lymph nodes", 5: "lung nodule", 6: "metastasis",
                                   7: "mass", 8: "massive organ"})
    assert lesion_label_values(table) == {2: "Liver tumor", 4: "Lymph nodes",
                                          5: "lung nodule", 6: "metastasis", 7: "mass"}
    assert is_lymph_node_name("Lymph nodes") and is_lymph_node_name("node")
    assert not is_lymph_node_name("lung nodule")


def test_components_volume_and_numbering() -> None:
    a = np.zeros((30, 40, 50), np.uint8)
    a[5:25, 5:35, 5:45] = 1
    a[_ball(a.shape, (15, 20, 15), 5)] = 9
    a[_ball(a.shape, (10, 12, 35), 3)] = 9
    # Two voxels touching only at a corner are one lesion (26-connectivity).
    a[20, 30, 30] = a[21, 31, 31] = 9
    spacing = (0.7, 0.8, 2.5)
    ex = extract_lesions(_volume(a, spacing), timepoint=3)
    assert [m.component for m in ex.measurements] == [1, 2, 3]
    assert ex.components.dtype == np.uint16 and ex.components.shape == a.shape  # half of int32
    counts = [int((ex.components == c).sum()) for c in (1, 2, 3)]
    assert [m.voxel_count for m in ex.measurements] == counts
    assert sorted(counts) == sorted([int(_ball(a.shape, (15, 20, 15), 5).sum()),
                                     int(_ball(a.shape, (10, 12, 35), 3).sum()), 2])
    voxel_ml = 0.7 * 0.8 * 2.5 / 1000.0
    for m in ex.measurements:
        assert m.volume_ml == pytest.approx(m.voxel_count * voxel_ml, rel=1e-12)
        assert m.timepoint == 3 and m.label_value == 9 and m.label_name == "lesion"
        lo, hi = np.array(m.bbox_lo), np.array(m.bbox_hi)
        sub = ex.components[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] == m.component
        assert sub.sum() == m.voxel_count  # the box holds the whole component
        assert sub.any(axis=(1, 2))[[0, -1]].all()  # ... and is tight
    # Raster order of the first voxel: the ball starting on slice 7 comes first.
    assert ex.measurements[0].bbox_lo[0] == 7


def test_organ_from_the_shell_node_flag_and_unknown() -> None:
    a = np.zeros((30, 60, 60), np.uint8)
    a[:, :30, :] = 1  # liver
    a[:, 30:, :30] = 2  # spleen
    a[_ball(a.shape, (15, 12, 15), 4)] = 9  # inside the liver
    lesion = _ball(a.shape, (15, 28, 45), 4)  # mostly liver, a little outside (j >= 30)
    a[lesion] = 9
    a[_ball(a.shape, (15, 45, 15), 3)] = 10  # a lymph node inside the spleen region
    a[:, 30:, 30:] = 0
    a[_ball(a.shape, (15, 50, 50), 3)] = 9  # surrounded by background
    ex = extract_lesions(_volume(a), timepoint=0)
    by_pos = {tuple(int(round(v)) for v in m.centroid_lps): m for m in ex.measurements}
    organ = {k[::-1]: m.organ for k, m in by_pos.items()}  # (k, j, i)
    assert organ[(15, 12, 15)] == "liver"
    assert organ[(15, 50, 50)] == "unknown"
    node = next(m for m in ex.measurements if m.label_value == 10)
    assert node.is_lymph_node and node.organ == "lymph node" and node.label_name == "lymph node"
    assert node.recist_diameter_mm == node.short_axis.length_mm
    border = next(m for m in ex.measurements
                  if abs(m.centroid_lps[1] - 28) < 2 and abs(m.centroid_lps[0] - 45) < 2)
    assert border.organ == "liver" and not border.is_lymph_node


def test_organ_from_the_label_name_when_no_organ_is_segmented() -> None:
    a = np.zeros((20, 20, 20), np.uint8)
    a[_ball(a.shape, (10, 10, 10), 4)] = 3
    vol = Volume(a, labels=LabelTable.from_names({3: "Kidney tumour"}))
    (m,) = extract_lesions(vol, timepoint=0).measurements
    assert m.organ == "kidney"


def test_geometry_centroid_axes_and_end_points_in_lps() -> None:
    a = np.zeros((12, 40, 50), np.uint8)
    ellipse = _ball(a.shape, (6, 20, 25), 1.0, scale=(1 / 2.0, 1 / 6.0, 1 / 12.0))
    a[ellipse] = 9
    flip = np.diag([-1.0, 1.0, -1.0])  # a non-trivial orientation
    vol = _volume(a, (0.6, 0.9, 3.0), origin=(100.0, -50.0, 20.0), direction=flip)
    image = vol.with_array(np.where(ellipse, 40, -100).astype(np.int16))
    (m,) = extract_lesions(vol, image, timepoint=1).measurements
    kji = np.argwhere(ellipse).mean(axis=0)
    expected = vol.index_to_lps(kji[::-1])
    assert np.allclose(m.centroid_lps, expected)
    assert m.mean_intensity == pytest.approx(40.0) and m.sd_intensity == pytest.approx(0.0)
    for axis in (m.long_axis, m.short_axis):
        assert axis.slice_index == 6 and axis.start_voxel[0] == axis.end_voxel[0] == 6
        s = vol.index_to_lps(np.array(axis.start_voxel)[::-1])
        e = vol.index_to_lps(np.array(axis.end_voxel)[::-1])
        assert np.allclose(axis.start_lps, s) and np.allclose(axis.end_lps, e)
        assert np.linalg.norm(e - s) == pytest.approx(axis.length_mm, abs=1e-6)
    # The long axis runs along i (12 voxels of 0.6 mm each side): edge to edge.
    widest = ellipse[6]
    cols = np.flatnonzero(widest.any(axis=0))
    assert m.long_axis.length_mm >= (cols[-1] - cols[0] + 1) * 0.6 - 1e-9
    assert m.max_diameter_3d_mm >= m.long_axis.length_mm
    assert not m.touches_border


def _brute_slice_diameter(mask2d: np.ndarray, sx: float, sy: float) -> float:
    jj, ii = np.nonzero(mask2d)
    pts = np.concatenate([np.stack([(ii + di) * sx, (jj + dj) * sy], 1)
                          for di, dj in itertools.product((-0.5, 0.5), repeat=2)])
    return float(np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max())


@pytest.mark.parametrize("seed", range(3))
def test_long_axis_is_the_largest_over_all_slices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = np.zeros((14, 30, 30), np.uint8)
    for _ in range(3):
        c = rng.uniform([4, 10, 10], [10, 20, 20])
        a[_ball(a.shape, tuple(c), 1.0, scale=tuple(1 / rng.uniform(2, 7, 3)))] = 9
    spacing = (0.7, 0.9, 2.0)
    ex = extract_lesions(_volume(a, spacing), timepoint=0)
    for m in ex.measurements:
        comp = ex.components == m.component
        per_slice = [_brute_slice_diameter(comp[k], 0.7, 0.9) for k in range(comp.shape[0])
                     if comp[k].any()]
        assert m.long_axis.length_mm == pytest.approx(max(per_slice), abs=1e-9)
        k = m.long_axis.slice_index
        assert _brute_slice_diameter(comp[k], 0.7, 0.9) == pytest.approx(max(per_slice))


def test_border_no_lesion_and_bad_input() -> None:
    a = np.zeros((10, 20, 20), np.uint8)
    assert extract_lesions(_volume(a), timepoint=0).measurements == []
    a[0:3, 5:9, 5:9] = 9
    (m,) = extract_lesions(_volume(a), timepoint=0).measurements
    assert m.touches_border
    with pytest.raises(LesionError, match="different grids"):
        extract_lesions(_volume(a), Volume(np.zeros((10, 20, 21), np.int16)), timepoint=0)
    with pytest.raises(LesionError, match="no label table"):
        extract_lesions(Volume(a), timepoint=0)
    explicit = extract_lesions(Volume(a), timepoint=0, lesion_values={9: "tumour"})
    assert len(explicit.measurements) == 1 and explicit.measurements[0].organ == "unknown"


def test_separate_lesions_far_apart_are_found_in_a_large_map() -> None:
    """Work per bounding box: a sparse 200x256x256 map with lesions in every corner."""
    a = np.zeros((200, 256, 256), np.uint8)
    centres = [(10, 10, 10), (10, 245, 245), (190, 10, 245), (190, 245, 10), (100, 128, 128)]
    for c in centres:
        a[_ball(a.shape, c, 6)] = 9
    ex = extract_lesions(_volume(a), timepoint=0)
    assert len(ex.measurements) == len(centres)
    found = sorted(tuple(int(round(v)) for v in m.centroid_lps[::-1]) for m in ex.measurements)
    assert found == sorted(centres)


def test_generated_scan_volumes_and_diameters_match_the_truth() -> None:
    """Against the synthetic generator's truth (its own caliper measure, outer pixel edges)."""
    from interval.io.synthetic import generate_phantom
    from interval.longitudinal.match_eval import component_identities

    scan = generate_phantom(seed=2, shape=(64, 112, 112), timepoint=1, noise=False)
    labels = scan.label_volume()
    ex = extract_lesions(labels, timepoint=1)
    identities = component_identities(ex.components, scan.lesion_ids)
    truth = {t.id: t for t in scan.present_lesions()}
    checked = 0
    for m in ex.measurements:
        ids = identities[m.component]
        if len(ids) != 1:
            continue
        t = truth[next(iter(ids))]
        if t.n_components != 1 or t.volume_ml < 1.0:
            continue
        assert m.volume_ml == pytest.approx(t.volume_ml, rel=0.05)
        assert m.is_lymph_node == (t.organ == "lymph node")
        voxel = max(labels.spacing[:2])
        assert abs(m.long_axis.length_mm - t.longest_diameter_mm) <= voxel
        checked += 1
    assert checked >= 3


def test_components_equal_a_full_volume_labelling_per_value() -> None:
    """Box-by-box labelling finds exactly the components of labelling each value whole."""
    from scipy import ndimage

    rng = np.random.default_rng(5)
    for _ in range(5):
        array = (rng.random((18, 24, 20)) < 0.06) * rng.integers(1, 11, (18, 24, 20))
        array = array.astype(np.uint8)
        array[rng.integers(0, 18), :, :] = 0  # an empty plane to cut along
        result = extract_lesions(_volume(array), timepoint=0)
        expected = set()
        for value in (9, 10):
            lab, n = ndimage.label(array == value, structure=np.ones((3, 3, 3)))
            expected |= {(value, frozenset(np.flatnonzero(lab == c).tolist()))
                         for c in range(1, n + 1)}
        got = {(m.label_value, frozenset(np.flatnonzero(result.components == m.component)
                                         .tolist())) for m in result.measurements}
        assert got == expected and len(result.measurements) == len(expected)
        firsts = [min(v) for _, v in sorted(got, key=lambda g: min(g[1]))]
        ordered = [int(np.flatnonzero(result.components == m.component)[0])
                   for m in result.measurements]
        assert ordered == sorted(ordered) == firsts


def test_score_is_the_mean_confidence_over_the_component() -> None:
    a = np.zeros((20, 30, 30), np.uint8)
    big = _ball(a.shape, (10, 10, 10), 4)
    small = _ball(a.shape, (10, 22, 22), 2)
    a[big] = 9
    a[small] = 10
    labels = _volume(a, spacing=(0.8, 0.8, 2.0))
    conf = np.zeros(a.shape, np.uint8)
    rng = np.random.default_rng(0)
    conf[big] = rng.integers(100, 256, int(big.sum()))
    conf[small] = 40
    conf[~(big | small)] = 255  # outside the lesions: never counted
    ex = extract_lesions(labels, timepoint=0, confidence=labels.with_array(conf))
    by_value = {m.label_value: m for m in ex.measurements}
    assert by_value[9].score == round(float(conf[big].mean()) / 255, 3)
    assert by_value[10].score == round(40 / 255, 3) == 0.157
    # a float map is a probability already
    prob = labels.with_array(conf.astype(np.float32) / 255)
    floats = {m.label_value: m.score for m in extract_lesions(labels, timepoint=0,
                                                              confidence=prob).measurements}
    assert floats == {9: by_value[9].score, 10: by_value[10].score}
    # without a map there is no score
    assert all(m.score is None for m in extract_lesions(labels, timepoint=0).measurements)


def test_a_confidence_map_must_fit_the_label_map() -> None:
    a = np.zeros((10, 10, 10), np.uint8)
    a[3:6, 3:6, 3:6] = 9
    labels = _volume(a)
    with pytest.raises(LesionError, match="confidence map and the label map are on different"):
        extract_lesions(labels, timepoint=0,
                        confidence=_volume(np.zeros((10, 10, 11), np.uint8)))
    with pytest.raises(LesionError, match="uint8 .0-255. or floating point"):
        extract_lesions(labels, timepoint=0, confidence=labels.with_array(a.astype(np.int16)))
