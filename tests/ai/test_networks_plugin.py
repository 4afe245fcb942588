"""The first-party phantom U-Net plugin: its package is valid and its weights segment a phantom."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT

torch = pytest.importorskip("torch")  # a hard dependency; present in CI

PLUGIN = REPO_ROOT / "plugins" / "interval_unet"
MODEL = PLUGIN / "models" / "phantom-ct"
# Floors well below what the shipped weights score here (see the plugin README).
LIVER_MIN, LUNG_MIN, LESION_MIN = 0.85, 0.9, 0.4  # measured: 0.963, 0.989, 0.800 (lesion min over 10 validation patients 0.444)


def test_manifest_is_accepted_and_names_the_model() -> None:
    from interval.plugins import read_manifest

    manifest = read_manifest(PLUGIN / "interval-plugin.json")
    assert manifest.id == "org.interval.unet-phantom"
    assert manifest.segmentation_models == ("models/phantom-ct",)


def test_model_json_matches_the_phantom_labels_and_network() -> None:
    from interval.ai.model_package import load_model_spec
    from interval.io.synthetic.phantom import label_table

    spec = load_model_spec(MODEL)
    # the model was trained before the generator gained lymph nodes (label 10): it
    # predicts the nine labels it was trained on, with the phantom's values and colours
    trained = [i for i in label_table() if i.name != "lymph node"]
    assert len(trained) == 9
    assert [(i.value, i.name, tuple(i.color)) for i in spec.label_table] == \
        [(i.value, i.name, tuple(i.color)) for i in trained]
    assert spec.network.type == "builtin" and spec.network.name == "unet3d"
    assert spec.modality == ("CT",)
    assert spec.normalization.scheme == "ct"
    raw = json.loads((MODEL / "model.json").read_text())
    assert raw["output"]["channels"] == raw["network"]["params"]["out_channels"] == 10


def test_weights_are_small_and_fit_the_network_exactly() -> None:
    from safetensors.torch import load_file

    from interval.ai.networks import build_network

    path = MODEL / "weights.safetensors"
    assert path.stat().st_size < 20 * 1024 * 1024
    params = json.loads((MODEL / "model.json").read_text())["network"]["params"]
    net = build_network("unet3d", params)
    state = load_file(str(path))
    assert set(state) == set(net.state_dict())
    net.load_state_dict(state, strict=True)
    assert all(torch.isfinite(t).all() for t in state.values())


def test_segments_a_held_out_phantom_through_the_engine() -> None:
    """Held-out patient 1000 with the phantom's whole field of view (the one the model was
    trained and validated on; a narrow crop gives it too little context), at the model's
    spacing so the test stays fast."""
    from interval.ai.engine import segment
    from interval.ai.model_package import load_model_spec
    from interval.ai.options import InferenceOptions
    from interval.io.synthetic.phantom import LESION, LIVER, LUNG, generate_phantom

    spec = load_model_spec(MODEL)
    ph = generate_phantom(1000, shape=(140, 192, 192), spacing=spec.target_spacing)
    result = segment(ph.ct_volume(), spec, InferenceOptions(device="cpu", overlap=0.25))
    pred = result.labels.array
    assert pred.shape == ph.labels.shape

    def dice(v: int) -> float:
        p, t = pred == v, ph.labels == v
        return 2 * float((p & t).sum()) / max(float(p.sum() + t.sum()), 1.0)

    assert min(int((ph.labels == v).sum()) for v in (LIVER, LUNG, LESION)) > 300
    assert dice(LIVER) > LIVER_MIN, dice(LIVER)
    assert dice(LUNG) > LUNG_MIN, dice(LUNG)
    assert dice(LESION) > LESION_MIN, dice(LESION)
