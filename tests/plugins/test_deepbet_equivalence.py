"""deepbet's independently trained brain-extraction networks run through Interval's engine
(first-party plugin ``plugins/deepbet_brain``) give the same mask as deepbet's own code.

Interval: the Siemens XA30 T1 DICOM series (sagittal, stored P-I-R) read by
``interval.io``, reoriented to RAS by the engine, labels back on the DICOM grid.
deepbet: its own ``BrainExtraction.run`` on dcm2niix's NIfTI of the same series (the
reference conversion shipped with the data set, stored R-A-S), so the two inputs come
through independent readers.  The masks are compared voxel by voxel after mapping the
NIfTI's voxels onto the DICOM grid through both affines (RAS vs LPS).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from interval.ai.options import SegmentationResult
from interval.ai.transforms import Grid
from interval.core.volume import Volume
from interval.plugins import PluginError, SegmentationModelEntry, discover_plugins
from tests.conftest import shared

MODEL = "deepbet-brain"
PLUGIN_ID = "org.interval.deepbet-brain"
SERIES = "5_anat-T1w_acq-tfl"


@pytest.fixture(scope="module")
def entry() -> Iterator[SegmentationModelEntry]:
    """The deepbet model as the plugin registry lists it (first-party folder plugin)."""
    reg = discover_plugins(include_entry_points=False, include_user_dir=False,
                           include_env=False)
    refused = {r.name: r.reason for r in reg.refused}
    assert PLUGIN_ID not in refused, refused.get(PLUGIN_ID)
    found = reg.find_segmentation_model(MODEL)
    assert found.plugin_id == PLUGIN_ID
    path = list(sys.path)
    sys.path.insert(0, str(found.code_path))  # as the runner does in the child process
    yield found
    sys.path[:] = path


def _nifti_to_volume_index(nifti_affine: np.ndarray, volume: Volume) -> np.ndarray:
    """Integer 4x4 map from NIfTI voxel (i, j, k) to the volume's voxel (i, j, k)."""
    ras_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    m = np.linalg.inv(Grid.of(volume).affine) @ ras_to_lps @ nifti_affine
    p = np.round(m)
    # same grid up to axis order and flips (tolerance: dcm2niix rounds the origin)
    assert np.allclose(m, p, atol=0.01), m
    assert sorted(np.abs(p[:3, :3]).sum(axis=0)) == [1, 1, 1]
    return p.astype(np.int64)


def _on_nifti_grid(array_zyx: np.ndarray, index_map: np.ndarray,
                   shape: tuple[int, ...]) -> np.ndarray:
    """``array_zyx`` (a volume's array) sampled at every voxel of a NIfTI of ``shape``."""
    ijk = np.indices(shape).reshape(3, -1)
    mapped = index_map[:3, :3] @ ijk + index_map[:3, 3:4]
    for axis, n in enumerate(array_zyx.shape[::-1]):
        assert mapped[axis].min() >= 0 and mapped[axis].max() < n
    return array_zyx[mapped[2], mapped[1], mapped[0]].reshape(shape)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


@pytest.fixture(scope="module")
def interval_run(entry: SegmentationModelEntry) -> tuple[Volume, SegmentationResult]:
    """(a) Interval's engine (in this process) on the DICOM series: (volume, result)."""
    from interval.ai.engine import segment
    from interval.ai.options import InferenceOptions
    from interval.io.dicom.load import load_dicom

    volume = load_dicom(shared("dcm_qa_xa30", "In", SERIES))
    assert volume.metadata.modality == "MR" and entry.spec.accepts_modality("MR")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
        result = segment(volume, entry.spec, InferenceOptions(device="cpu"))
    return volume, result


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_interval_engine_gives_deepbets_mask_on_a_real_t1(
        interval_run: tuple[Volume, SegmentationResult]) -> None:
    import nibabel as nib
    from deepbet import BrainExtraction

    volume, result = interval_run
    labels = result.labels
    assert labels.shape == volume.shape and labels.array.dtype == np.uint8
    assert np.allclose(Grid.of(labels).affine, Grid.of(volume).affine)
    assert labels.labels is not None and labels.labels.get(1).name == "brain"
    assert set(np.unique(labels.array)) == {0, 1}

    # (b) deepbet's own code on dcm2niix's NIfTI of the same series
    nifti = shared("dcm_qa_xa30", "Ref", f"{SERIES}.nii")
    image = nib.load(str(nifti))
    _, mask_img, tiv_cm3 = BrainExtraction(no_gpu=True).run(str(nifti))
    theirs = np.asarray(mask_img.dataobj).astype(bool)
    assert theirs.shape == image.shape
    assert np.allclose(mask_img.affine, image.affine)

    # same input voxels, then the same mask, compared on the NIfTI's grid
    index_map = _nifti_to_volume_index(image.affine, volume)
    assert np.array_equal(_on_nifti_grid(volume.array, index_map, image.shape),
                          np.asarray(image.dataobj))
    ours = _on_nifti_grid(labels.array, index_map, image.shape) == 1
    d = dice(ours, theirs)
    brain_cm3 = ours.sum() * volume.voxel_volume_mm3() / 1000.0
    print(f"\ndeepbet vs Interval on {SERIES}: Dice {d:.6f}, {int(ours.sum())} vs "
          f"{int(theirs.sum())} voxels, {int((ours ^ theirs).sum())} differ; brain "
          f"{brain_cm3:.0f} cm3 (deepbet TIV {tiv_cm3:.0f} cm3); Interval timings "
          + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    assert d >= 0.98
    assert 900 < brain_cm3 < 2200  # an adult brain, not the head or an empty mask
    assert abs(brain_cm3 - tiv_cm3) < 1.0


@pytest.mark.slow
def test_interval_segment_cli_runs_deepbet_in_a_child_process(
        entry: SegmentationModelEntry, interval_run: tuple[Volume, SegmentationResult],
        tmp_path: Path) -> None:
    """`interval segment` (model in a child process, NIfTI + label names written)."""
    from interval.cli.main import main
    from interval.io.image_files import read_image

    volume, result = interval_run
    out = tmp_path / "brain.nii.gz"
    # by name, as a user runs it: the first-party plugin folder's packaged model.json
    assert main(["segment", str(shared("dcm_qa_xa30", "In", SERIES)), "--model", MODEL,
                 "--device", "cpu", "-o", str(out)]) == 0
    written = read_image(out)
    assert written.shape == volume.shape
    assert np.allclose(Grid.of(written).affine, Grid.of(volume).affine, atol=1e-4)
    np.testing.assert_array_equal(written.array, result.labels.array)
    names = json.loads(out.with_name("brain.labels.json").read_text())
    assert "brain" in json.dumps(names)


def test_without_deepbet_the_model_says_how_to_install_it(
        entry: SegmentationModelEntry, monkeypatch: pytest.MonkeyPatch) -> None:
    import interval_deepbet
    import torch

    from interval.ai.weights import build_model

    monkeypatch.setattr(interval_deepbet, "find_spec", lambda name: None)
    with pytest.raises(PluginError, match=r"needs the Python package deepbet.*pip install"):
        build_model(entry.spec, torch.device("cpu"))


def test_the_packaged_model_runs_whole_volumes_without_weights(
        entry: SegmentationModelEntry) -> None:
    import torch

    from interval.ai.optimize import prepare_network
    from interval.ai.weights import build_model

    spec = entry.spec
    assert spec.inference.mode == "whole" and spec.patch_size is None
    assert spec.network.type == "plugin" and spec.weights_path is None
    net = build_model(spec, torch.device("cpu"))
    # TorchScript inside, nothing to rewrite: used as it is, not deep-copied
    assert prepare_network(net, torch.device("cpu")) is net


def test_without_deepbet_the_plugin_is_refused_with_the_install_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "deepbet" else real(name, *a))
    reg = discover_plugins(include_entry_points=False, include_user_dir=False,
                           include_env=False)
    refused = {r.name: r.reason for r in reg.refused}
    assert refused[PLUGIN_ID] == "needs the Python package deepbet: pip install deepbet"
    assert reg.get(PLUGIN_ID) is None


def test_adapter_clean_up_matches_deepbets_libraries(entry: SegmentationModelEntry) -> None:
    """SimpleITK's 26-connected largest component and hole filling = cc3d / fill_voids."""
    import cc3d  # deepbet's own dependencies
    import fill_voids
    import interval_deepbet as adapter

    rng = np.random.default_rng(3)
    for _ in range(4):
        mask = rng.random((40, 36, 30)) < 0.45
        labels = cc3d.connected_components(mask)  # 26-connectivity, like deepbet
        counts = np.bincount(labels[labels != 0])
        if (counts == counts.max()).sum() > 1:
            continue  # a size tie: either component is right
        expected = labels == counts.argmax()
        np.testing.assert_array_equal(adapter.largest_component(mask), expected)
        np.testing.assert_array_equal(adapter.fill_holes(expected), fill_voids.fill(expected))
    closed = np.zeros((20, 20, 20), bool)
    closed[3:17, 3:17, 3:17] = True
    closed[6:14, 6:14, 6:14] = False  # a closed void is filled ...
    assert adapter.fill_holes(closed)[10, 10, 10]
    np.testing.assert_array_equal(adapter.fill_holes(closed), fill_voids.fill(closed))
    opened = closed.copy()
    opened[9:11, 9:11, 0:8] = False  # ... a void with a channel to the border is not
    assert not adapter.fill_holes(opened)[10, 10, 10]
    np.testing.assert_array_equal(adapter.fill_holes(opened), fill_voids.fill(opened))
    assert adapter.largest_component(np.zeros((3, 3, 3), bool)).sum() == 0


def test_plugin_folder_holds_no_copy_of_deepbets_networks() -> None:
    folder = Path(__file__).resolve().parents[2] / "plugins" / "deepbet_brain"
    sizes = {p.name: p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    assert "model.pt" not in sizes and "bbox_model.pt" not in sizes
    assert max(sizes.values()) < 100_000, sizes
