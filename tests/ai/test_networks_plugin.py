"""The first-party phantom U-Net plugin: its package is valid and its weights segment a phantom."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT

torch = pytest.importorskip("torch")  # a hard dependency; present in CI

PLUGIN = REPO_ROOT / "plugins" / "interval_unet"
MODEL = PLUGIN / "models" / "phantom-ct"
TEMPORAL = PLUGIN / "models" / "phantom-ct-temporal"
# Floors well below what the shipped weights score (see the plugin README: over the 60
# benchmark scans, lesion Dice 0.77 mean per scan, organs 0.90-0.98).
LIVER_MIN, LUNG_MIN, LESION_MIN = 0.85, 0.9, 0.4


def test_manifest_is_accepted_and_names_the_model() -> None:
    from interval.plugins import read_manifest

    manifest = read_manifest(PLUGIN / "interval-plugin.json")
    assert manifest.id == "org.interval.unet-phantom"
    assert manifest.segmentation_models == ("models/phantom-ct", "models/phantom-ct-temporal")


@pytest.mark.parametrize(("folder", "network"), [(MODEL, "unet3d"), (TEMPORAL, "unet3d_convgru")])
def test_model_json_matches_the_phantom_labels_and_network(folder, network) -> None:
    from interval.ai.model_package import load_model_spec
    from interval.io.synthetic.phantom import label_table

    spec = load_model_spec(folder)
    # every phantom label (lymph nodes included since 1.1.0), same values and colours
    assert [(i.value, i.name, tuple(i.color)) for i in spec.label_table] == \
        [(i.value, i.name, tuple(i.color)) for i in label_table()]
    assert spec.network.type == "builtin" and spec.network.name == network
    assert spec.modality == ("CT",)
    assert spec.normalization.scheme == "ct"
    raw = json.loads((folder / "model.json").read_text())
    assert raw["output"]["channels"] == raw["network"]["params"]["out_channels"] == 11
    assert spec.confidence is not None and spec.confidence.labels == (9, 10)
    assert spec.confidence.equivocal_below is not None
    assert 0.3 < spec.confidence.equivocal_below < 0.95
    assert (spec.temporal is not None) == (network == "unet3d_convgru")


@pytest.mark.parametrize("folder", [MODEL, TEMPORAL])
def test_weights_are_small_and_fit_the_network_exactly(folder) -> None:
    from safetensors.torch import load_file

    from interval.ai.networks import build_network

    path = folder / "weights.safetensors"
    assert path.stat().st_size < 20 * 1024 * 1024
    network = json.loads((folder / "model.json").read_text())["network"]
    net = build_network(network["name"], network["params"])
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
