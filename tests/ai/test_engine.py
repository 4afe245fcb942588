"""The engine end to end with tiny networks whose right answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interval.ai.engine import argmax_channels, logits_to_labels, segment
from interval.ai.engine_bridge import child_kwargs, result_from_child
from interval.ai.engine_child import segment_arrays
from interval.ai.options import InferenceOptions
from interval.core.errors import Cancelled
from interval.core.metadata import VolumeMetadata
from interval.core.volume import Volume
from tests.ai import _nets
from tests.ai._packages import TEST_CODE_PATH, base_json, load_spec, write_package

# i -> S, j -> R, k -> A (axes permuted and flipped relative to LPS)
DIRECTION = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def _volume(shape=(20, 24, 28), spacing=(0.9, 3.0, 0.8), direction=DIRECTION,
            seed: int = 0) -> Volume:
    arr = (np.random.default_rng(seed).random(shape) > 0.5).astype(np.int16) * 100
    return Volume(arr, spacing, (10.0, 20.0, 30.0), direction, VolumeMetadata(modality="CT"))


@pytest.mark.parametrize("target", [
    None,  # native spacing
    [3.0, 0.8, 0.9],  # the reoriented spacing itself: resampling is the identity
    [1.0, 0.8, 0.3],  # odd-integer upsampling (x3 along x and z)
])
def test_threshold_model_gives_the_thresholded_input(tmp_path: Path, target) -> None:
    spec = load_spec(write_package(
        tmp_path / "p", base_json(orientation="RAS", target_spacing=target)))
    vol = _volume()
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    lab = res.labels
    assert lab.same_grid(vol) and lab.array.dtype == np.uint8
    assert np.array_equal(lab.array, (vol.array > 50).astype(np.uint8))
    assert lab.labels is not None and lab.labels[1].name == "bright"
    for phase in ("reorient", "resample", "normalise", "network", "stitch", "resample_back"):
        assert phase in res.timings and res.timings[phase] >= 0
    assert res.device == "cpu" and res.warnings == []


def test_downsampled_model_labels_follow_the_anatomy(tmp_path: Path) -> None:
    # a ball of radius 12 mm; model at 2.5 mm, input at 0.7 x 0.7 x 1.5 mm, oblique-free
    shape = (32, 64, 64)
    spacing = (0.7, 0.7, 1.5)
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing[::-1], strict=True)],
                          indexing="ij")
    c = [n * s / 2 for n, s in zip(shape, spacing[::-1], strict=True)]
    ball = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= 12.0**2
    vol = Volume(np.where(ball, 100, 0).astype(np.int16), spacing)
    spec = load_spec(write_package(tmp_path / "p", base_json(target_spacing=[2.5] * 3)))
    lab = segment(vol, spec, InferenceOptions(device="cpu")).labels.array
    dice = 2 * np.sum((lab == 1) & ball) / (np.sum(lab == 1) + np.sum(ball))
    assert dice > 0.9  # 0.92 measured: a 24 mm ball is ~10 model voxels across
    shift = np.argwhere(lab == 1).mean(axis=0) - np.argwhere(ball).mean(axis=0)
    assert np.all(np.abs(shift) < 0.5), "no systematic shift between the grids"
    centre = tuple(int(v) for v in np.argwhere(ball).mean(axis=0).round())
    assert lab[centre] == 1 and lab[0, 0, 0] == 0


def test_sigmoid_and_three_class_softmax(tmp_path: Path) -> None:
    vol = _volume(direction=np.eye(3))
    data = base_json(output={"activation": "sigmoid", "channels": 1})
    data["network"]["entry"] = "tests.ai._nets:build_sigmoid"
    spec = load_spec(write_package(tmp_path / "s", data))
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    assert np.array_equal(res.labels.array, (vol.array > 50).astype(np.uint8))

    # three softmax channels: background and the two declared labels
    band = base_json(output={"activation": "softmax", "channels": 3},
                     labels=[{"value": 1, "name": "low"}, {"value": 2, "name": "high"}])
    band["network"] = {"type": "plugin", "entry": "tests.ai._nets:build_band",
                       "params": {"low": 20.0, "high": 60.0}, "weights": "weights.safetensors"}
    spec = load_spec(write_package(tmp_path / "b", band, module=_nets.BandNet()))
    arr = np.full((18, 18, 18), 40, np.int16)
    arr[:6] = 0  # band 1
    arr[12:] = 100  # band 2
    res = segment(Volume(arr), spec, InferenceOptions(device="cpu"))
    expect = np.zeros_like(arr, dtype=np.uint8)
    expect[:6] = 1
    expect[12:] = 2
    assert np.array_equal(res.labels.array, expect)


def test_normalisation_is_applied_before_the_network(tmp_path: Path) -> None:
    # CT clip [0, 200], mean 100, std 50: intensity 150 HU -> +1; threshold at 0.5 normalised
    data = base_json(normalization={"scheme": "ct", "clip": [0, 200], "mean": 100, "std": 50})
    data["network"]["params"] = {}
    spec = load_spec(write_package(tmp_path / "p", data, module=_nets.ThresholdNet(0.5)))
    arr = np.array([100, 120, 130, 150, 1000], np.int16)[:, None, None] * np.ones((1, 4, 4),
                                                                                  np.int16)
    lab = segment(Volume(arr), spec, InferenceOptions(device="cpu")).labels.array
    assert lab[:, 0, 0].tolist() == [0, 0, 1, 1, 1]


def test_modality_mismatch_is_a_warning(tmp_path: Path) -> None:
    spec = load_spec(write_package(tmp_path / "p"))
    vol = _volume(direction=np.eye(3)).with_metadata(modality="MR")
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    assert any("expects CT" in w for w in res.warnings)


def test_mirror_tta_option_and_postprocess(tmp_path: Path) -> None:
    arr = np.zeros((20, 30, 30), np.int16)
    arr[2:12, 2:12, 2:12] = 100  # 1000 voxels
    arr[15:17, 20:22, 20:22] = 100  # 8 voxels
    arr[15:19, 2:6, 20:24] = 100  # 64 voxels
    data = base_json(postprocess={"largest_component": [1]})
    spec = load_spec(write_package(tmp_path / "p", data))
    vol = Volume(arr, (2.0, 2.0, 2.0))
    res = segment(vol, spec, InferenceOptions(device="cpu", mirror_tta=True))
    assert int(res.labels.array.sum()) == 1000 and "postprocess" in res.timings
    raw = segment(vol, spec, InferenceOptions(device="cpu", cleanup=False))
    assert int(raw.labels.array.sum()) == 1072
    islands = base_json(postprocess={"min_island_mm3": {"1": 100.0}})  # 8 mm³ voxels
    spec = load_spec(write_package(tmp_path / "q", islands))
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    assert int(res.labels.array.sum()) == 1064  # the 8-voxel (64 mm³) island is gone


def test_cancel_stops_the_run(tmp_path: Path) -> None:
    spec = load_spec(write_package(tmp_path / "p"))
    calls: list[int] = []
    with pytest.raises(Cancelled):
        segment(_volume(), spec, InferenceOptions(device="cpu"),
                progress=lambda d, t: calls.append(d), cancel=lambda: len(calls) >= 1)
    assert 1 <= len(calls) <= 2  # batches already running in the worker threads finish


def test_child_entry_and_bridge_round_trip(tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p", base_json(orientation="RAS"))
    vol = _volume()
    arrays, kwargs = child_kwargs(vol, pkg, InferenceOptions(device="cpu", threads=1))
    import json

    json.dumps(kwargs)  # plain JSON-able values only
    outputs, info = segment_arrays(arrays, **kwargs, code_path=str(TEST_CODE_PATH))
    assert set(outputs) == {"labels"} and outputs["labels"].shape == vol.shape
    assert info["device"] == "cpu" and "network" in info["timings"]
    res = result_from_child(vol, pkg, outputs, info)
    assert res.labels.same_grid(vol)
    assert np.array_equal(res.labels.array, (vol.array > 50).astype(np.uint8))


def test_options_from_dict_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown inference option"):
        InferenceOptions.from_dict({"device": "cpu", "turbo": True})
    assert InferenceOptions.from_dict(None) == InferenceOptions()


def test_argmax_channels_matches_torch_including_ties() -> None:
    import torch

    g = torch.Generator().manual_seed(0)
    logits = torch.randint(0, 3, (5, 6, 7, 8), generator=g).float()  # many ties
    assert torch.equal(argmax_channels(logits).long(), torch.argmax(logits, dim=0))


def test_multilabel_sigmoid_picks_the_strongest_positive(tmp_path: Path) -> None:
    import torch

    data = base_json(output={"activation": "sigmoid", "channels": 2},
                     labels=[{"value": 1, "name": "a"}, {"value": 2, "name": "b"}])
    spec = load_spec(write_package(tmp_path / "p", data))
    logits = torch.tensor([[-1.0, 2.0, 3.0, 0.0], [-2.0, 1.0, 4.0, 0.0]]).view(2, 1, 1, 4)
    assert logits_to_labels(logits, spec).ravel().tolist() == [0, 1, 2, 0]


def test_pad_value_for_images_smaller_than_the_patch(tmp_path: Path) -> None:
    # 4 slices of 60 padded to the 16-slice patch; a 3x3x3 mean > 50 labels the first and
    # last slice only if the padding is bright enough (0 -> mean 40; 100 -> mean 73)
    arr = np.full((4, 20, 20), 60, np.int16)
    for pad, edge in ((0.0, 0), (100.0, 1), ("min", 1)):  # "min" is 60 here
        data = base_json(inference={"pad_value": pad})
        data["network"]["entry"] = "tests.ai._nets:build_box"
        spec = load_spec(write_package(tmp_path / f"p{pad}", data, module=_nets.BoxNet()))
        assert spec.inference.pad_value == pad
        lab = segment(Volume(arr), spec, InferenceOptions(device="cpu")).labels.array
        assert lab[0, 5, 5] == edge and lab[3, 5, 5] == edge and lab[1, 5, 5] == 1


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_probability_averaging(tmp_path: Path, activation: str) -> None:
    data = base_json(inference={"average": "probabilities", "mirror_tta": True},
                     target_spacing=[0.9, 1.0, 0.8])  # x3 upsampling along j
    if activation == "sigmoid":
        data["output"] = {"activation": "sigmoid", "channels": 1}
        data["network"]["entry"] = "tests.ai._nets:build_sigmoid"
    spec = load_spec(write_package(tmp_path / "p", data))
    assert spec.inference.average == "probabilities"
    vol = _volume(direction=np.eye(3))
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    assert np.array_equal(res.labels.array, (vol.array > 50).astype(np.uint8))


def test_probability_blend_matches_manual_softmax_average() -> None:
    import torch

    from interval.ai.sliding_window import gaussian_importance_map, sliding_window_inference

    net = _nets.SkewNet().eval()
    x = torch.randn(1, 24, 16, 16)
    out = sliding_window_inference(x, net, (16, 16, 16), overlap=0.5, activation="softmax",
                                   workers=1)
    w = gaussian_importance_map((16, 16, 16))
    with torch.no_grad():
        a = torch.softmax(net(x[None, :, :16]), 1)[0] * w
        b = torch.softmax(net(x[None, :, 8:]), 1)[0] * w
    acc = torch.zeros(2, 24, 16, 16)
    ws = torch.zeros(24, 16, 16)
    acc[:, :16] += a
    acc[:, 8:] += b
    ws[:16] += w
    ws[8:] += w
    assert torch.allclose(out, acc / ws, atol=1e-5)


def test_network_output_that_does_not_fit_is_a_clear_error(tmp_path: Path) -> None:
    from interval.ai.errors import InvalidModelPackage

    data = base_json(output={"activation": "softmax", "channels": 3},
                     labels=[{"value": 1, "name": "a"}, {"value": 2, "name": "b"}])
    spec = load_spec(write_package(tmp_path / "p", data))  # the net gives 2 channels
    calls: list[int] = []
    with pytest.raises(InvalidModelPackage, match="gives 2 output channel.*declares 3"):
        segment(_volume(direction=np.eye(3)), spec, InferenceOptions(device="cpu"),
                progress=lambda d, t: calls.append(d))
    assert calls == [], "refused at the first batch, before any progress"

    def half_size(x):
        import torch

        return torch.zeros((x.shape[0], 2, *(n // 2 for n in x.shape[2:])))

    spec = load_spec(write_package(tmp_path / "q"))
    with pytest.raises(InvalidModelPackage, match="must return"):
        segment(_volume(direction=np.eye(3)), spec, InferenceOptions(device="cpu"),
                network=half_size)


class ShapeRecorder(torch.nn.Module):
    """ThresholdNet that records the shape of every input it is given."""

    shapes: list[tuple[int, ...]] = []

    def __init__(self) -> None:
        super().__init__()
        self.net = _nets.ThresholdNet(50.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ShapeRecorder.shapes.append(tuple(x.shape))
        return self.net(x)


def build_shape_recorder() -> ShapeRecorder:
    return ShapeRecorder()


@pytest.mark.parametrize("tta", [False, True])
def test_whole_mode_runs_the_network_once_on_the_whole_volume(tmp_path: Path,
                                                               tta: bool) -> None:
    data = base_json(orientation="RAS", inference={"mode": "whole", "mirror_tta": tta})
    del data["patch_size"]
    data["network"] = {"type": "plugin", "entry": "tests.ai.test_engine:build_shape_recorder"}
    spec = load_spec(write_package(tmp_path / "w", data))
    vol = _volume(shape=(7, 30, 45))  # larger and smaller than the default 16³ patch
    ShapeRecorder.shapes.clear()
    done: list[tuple[int, int]] = []
    res = segment(vol, spec, InferenceOptions(device="cpu", batch_size=4, overlap=0.9),
                  progress=lambda d, t: done.append((d, t)))
    # reoriented to RAS (i -> S, j -> R, k -> A): (k, j, i) = (7, 30, 45) -> (45, 7, 30)
    assert ShapeRecorder.shapes == [(1, 1, 45, 7, 30)] * (8 if tta else 1)
    assert res.labels.same_grid(vol)
    assert np.array_equal(res.labels.array, (vol.array > 50).astype(np.uint8))
    assert done[-1] == (1, 1) and "pad" not in res.timings and "network" in res.timings
    with pytest.raises(Cancelled):
        segment(vol, spec, InferenceOptions(device="cpu"), cancel=lambda: True)


# --- confidence map (issue 13) -----------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _graded_volume(shape=(20, 24, 28), direction=DIRECTION, spacing=(0.9, 3.0, 0.8)) -> Volume:
    """Intensities 0-100 (a spread of probabilities under a soft threshold at 50)."""
    arr = np.random.default_rng(3).integers(0, 101, shape).astype(np.int16)
    return Volume(arr, spacing, (10.0, 20.0, 30.0), direction, VolumeMetadata(modality="CT"))


def _soft_threshold_package(folder: Path, scale: float = 0.1, **over) -> Path:
    data = base_json(confidence={"labels": [1], "equivocal_below": 0.5}, **over)
    data["network"]["params"] = {"threshold": 50.0, "scale": scale}
    return write_package(folder, data, module=_nets.ThresholdNet(50.0, scale))


def test_confidence_map_is_the_softmax_probability_on_the_input_grid(tmp_path: Path) -> None:
    # reoriented (RAS), padded (shape below the 16^3 patch along i) and blended with
    # overlapping Gaussian windows: every window gives a voxel the same logits here, so the
    # blended (weighted mean) logit is 0.1 * (x - 50) and the probability its sigmoid
    spec = load_spec(_soft_threshold_package(tmp_path / "p", orientation="RAS"))
    vol = _graded_volume(shape=(20, 24, 12))
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    conf = res.confidence
    assert conf is not None and conf.same_grid(vol)
    assert conf.array.dtype == np.uint8 and conf.labels is None
    expect = np.rint(255 * _sigmoid(0.1 * (vol.array.astype(np.float64) - 50)))
    assert np.abs(conf.array.astype(int) - expect).max() <= 1
    assert conf.array.min() < 5 and conf.array.max() > 250  # the whole range is used
    assert np.array_equal(res.labels.array, (vol.array > 50).astype(np.uint8))
    assert "confidence" in res.timings and "confidence_back" in res.timings
    # asked not to: no map, the same labels
    off = segment(vol, spec, InferenceOptions(device="cpu", confidence=False))
    assert off.confidence is None and "confidence" not in off.timings
    assert np.array_equal(off.labels.array, res.labels.array)
    # a model without the section gives none
    plain = load_spec(write_package(tmp_path / "q", base_json()))
    assert segment(vol, plain, InferenceOptions(device="cpu")).confidence is None


def test_drop_below_removes_unsure_regions_even_without_the_map(tmp_path: Path) -> None:
    # two blobs over the soft threshold: a sure one (90: p 0.98) and an unsure one
    # (55: p 0.62); drop_below 0.8 removes the unsure one, unless clean-up is off
    data = base_json(confidence={"labels": [1], "equivocal_below": 0.9, "drop_below": 0.8})
    data["network"]["params"] = {"threshold": 50.0, "scale": 0.1}
    spec = load_spec(write_package(tmp_path / "p", data, module=_nets.ThresholdNet(50.0, 0.1)))
    assert spec.confidence is not None and spec.confidence.drop_below == 0.8
    arr = np.zeros((20, 24, 28), np.int16)
    arr[3:9, 3:9, 3:9] = 90
    arr[12:18, 14:20, 18:24] = 55
    vol = Volume(arr, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), DIRECTION, VolumeMetadata(modality="CT"))
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    assert res.labels.array[5, 5, 5] == 1 and not res.labels.array[12:18, 14:20, 18:24].any()
    assert "region_filter" in res.timings and res.confidence is not None
    quiet = segment(vol, spec, InferenceOptions(device="cpu", confidence=False))
    assert quiet.confidence is None  # computed for the filter, not returned
    assert np.array_equal(quiet.labels.array, res.labels.array)
    raw = segment(vol, spec, InferenceOptions(device="cpu", cleanup=False))
    assert raw.labels.array[15, 17, 21] == 1 and "region_filter" not in raw.timings


def test_confidence_of_a_spatial_network_is_the_softmax_of_the_blended_mean(
        tmp_path: Path) -> None:
    """SkewNet's logits depend on the window (zero padding at its edges): the map is the
    softmax of the weighted MEAN of the windows' logits, as a normalising sliding window
    gives them (the engine itself blends without dividing)."""
    import torch

    from interval.ai.sliding_window import sliding_window_inference

    net = _nets.SkewNet().eval()
    data = base_json(confidence={"labels": [1]}, inference={"overlap": 0.5, "batch_size": 2,
                                                             "blend": "gaussian"})
    spec = load_spec(write_package(tmp_path / "p", data))
    arr = np.random.default_rng(5).normal(0, 1, (24, 20, 28)).astype(np.float32)
    res = segment(Volume(arr), spec, InferenceOptions(device="cpu"), network=net)
    with torch.no_grad():
        mean = sliding_window_inference(torch.from_numpy(arr)[None], net, (16, 16, 16),
                                        overlap=0.5, workers=1, optimize=False)
    expect = np.rint(255 * torch.softmax(mean, 0)[1].numpy())
    assert res.confidence is not None
    diff = np.abs(res.confidence.array.astype(int) - expect)
    assert diff.max() <= 1 and diff.mean() < 0.05
    # the weights matter: the softmax of the weighted SUM would differ
    assert not np.array_equal(np.rint(255 * torch.softmax(mean * 3, 0)[1].numpy()), expect)


def test_confidence_is_resampled_back_linearly(tmp_path: Path) -> None:
    """Model grid 2 x 2 x 2 mm, input 0.9 x 3.0 x 0.8 mm: the probability computed at model
    resolution and brought back by trilinear interpolation (torch's own, as a check)."""
    import torch
    import torch.nn.functional as F

    from interval.ai.transforms import Grid, Resample

    spec = load_spec(_soft_threshold_package(tmp_path / "p", target_spacing=[2.0, 2.0, 2.0]))
    vol = _graded_volume(direction=np.eye(3))
    res = segment(vol, spec, InferenceOptions(device="cpu"))
    resample = Resample(Grid.of(vol), (2.0, 2.0, 2.0))
    model_image = resample.apply(vol.array)  # what the network saw
    prob = _sigmoid(0.1 * (model_image.astype(np.float64) - 50)).astype(np.float32)
    back = F.interpolate(torch.from_numpy(prob)[None, None], size=vol.shape, mode="trilinear",
                         align_corners=False)[0, 0].numpy()
    expect = np.rint(255 * back)
    assert res.confidence is not None and res.confidence.array.shape == vol.shape
    assert np.abs(res.confidence.array.astype(int) - expect).max() <= 1
    # not nearest neighbour (what labels get): that would differ from it by far more
    nearest = resample.invert_labels(np.rint(255 * prob).astype(np.uint8))
    assert np.abs(nearest.astype(int) - expect).max() > 20


def test_confidence_sums_the_named_labels(tmp_path: Path) -> None:
    import torch

    band = base_json(output={"activation": "softmax", "channels": 3},
                     labels=[{"value": 1, "name": "low"}, {"value": 2, "name": "high"}])
    band["network"] = {"type": "plugin", "entry": "tests.ai._nets:build_band",
                       "params": {"low": 20.0, "high": 60.0}, "weights": "weights.safetensors"}
    arr = np.random.default_rng(1).integers(0, 80, (18, 18, 18)).astype(np.int16)
    x = torch.from_numpy(arr.astype(np.float32))
    probs = torch.softmax(torch.stack([torch.zeros_like(x), 20.0 - x, x - 60.0]), 0).numpy()
    for labels, expect in (([1, 2], probs[1] + probs[2]), ([2], probs[2])):
        data = {**band, "confidence": {"labels": labels}}
        spec = load_spec(write_package(tmp_path / f"b{len(labels)}", data,
                                       module=_nets.BandNet()))
        conf = segment(Volume(arr), spec, InferenceOptions(device="cpu")).confidence
        assert conf is not None
        assert np.abs(conf.array.astype(int) - np.rint(255 * expect)).max() <= 1


@pytest.mark.parametrize("mode", ["probabilities", "whole"])
def test_confidence_with_probability_averaging_and_whole_mode(tmp_path: Path, mode: str) -> None:
    inference = ({"average": "probabilities", "mirror_tta": True} if mode == "probabilities"
                 else {"mode": "whole"})
    spec = load_spec(_soft_threshold_package(tmp_path / "p", inference=inference))
    vol = _graded_volume(direction=np.eye(3))
    conf = segment(vol, spec, InferenceOptions(device="cpu")).confidence
    expect = np.rint(255 * _sigmoid(0.1 * (vol.array.astype(np.float64) - 50)))
    assert conf is not None and np.abs(conf.array.astype(int) - expect).max() <= 1


def test_confidence_map_function_uses_no_second_channel_tensor() -> None:
    """The helper on its own: logits, weighted sums and probabilities."""
    import torch

    from interval.ai.engine import confidence_map

    logits = torch.randn(5, 4, 6, 7) * 4
    expect = torch.softmax(logits, 0)[[1, 3]].sum(0)
    assert torch.allclose(confidence_map(logits, [1, 3]), expect, atol=1e-6)
    weights = torch.rand(4, 6, 7) + 0.5
    assert torch.allclose(confidence_map(logits * weights, [3, 1], scale=1 / weights), expect,
                          atol=1e-5)
    far = torch.zeros(3, 2, 2, 2)  # logits far apart: no NaN, no overflow
    far[1] = 1e4
    far[2, 0] = -1e4
    assert torch.equal(confidence_map(far, [1]), torch.ones(2, 2, 2))
    assert bool((confidence_map(far, [0, 2]) < 1e-30).all())
    blended = torch.softmax(logits, 0) * weights  # weighted probabilities
    assert torch.allclose(confidence_map(blended, [1, 3], probabilities=True), expect, atol=1e-6)
    view = logits[:, 1:3, :, 2:]  # a crop (non-contiguous view) is read as it is
    assert torch.allclose(confidence_map(view, [1, 3]), expect[1:3, :, 2:], atol=1e-6)
    import interval.ai.engine as engine

    big = torch.randn(4, 9, 5, 6)
    scale = torch.rand(9, 5, 6) + 0.5
    whole = confidence_map(big, [2], scale=scale)
    whole_p = confidence_map(big.softmax(0), [2], probabilities=True)
    chunk = engine._CONFIDENCE_CHUNK
    engine._CONFIDENCE_CHUNK = 60  # two slices (5 x 6 voxels each) at a time: the same values
    try:
        assert torch.equal(confidence_map(big, [2], scale=scale), whole)
        assert torch.equal(confidence_map(big.softmax(0), [2], probabilities=True), whole_p)
    finally:
        engine._CONFIDENCE_CHUNK = chunk


def test_child_entry_and_bridge_carry_the_confidence_map(tmp_path: Path) -> None:
    pkg = _soft_threshold_package(tmp_path / "p", orientation="RAS")
    vol = _graded_volume()
    arrays, kwargs = child_kwargs(vol, pkg, InferenceOptions(device="cpu", threads=1))
    outputs, info = segment_arrays(arrays, **kwargs, code_path=str(TEST_CODE_PATH))
    assert set(outputs) == {"labels", "confidence"}
    assert outputs["confidence"].dtype == np.uint8 and outputs["confidence"].shape == vol.shape
    res = result_from_child(vol, pkg, outputs, info)
    assert res.confidence is not None and res.confidence.same_grid(vol)
    assert np.array_equal(res.confidence.array, outputs["confidence"])
    arrays, kwargs = child_kwargs(vol, pkg, {"device": "cpu", "confidence": False})
    outputs, _info = segment_arrays(arrays, **kwargs, code_path=str(TEST_CODE_PATH))
    assert set(outputs) == {"labels"}
