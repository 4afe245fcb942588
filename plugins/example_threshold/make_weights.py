"""Write the example model's weights (``models/bone_threshold/weights.safetensors``).

Run ``python make_weights.py`` from this folder; the output is committed. The "network" is
one 1x1x1 convolution: ``logit = HU / SCALE - THRESHOLD / SCALE``, so the sigmoid is 0.5 at
``THRESHOLD`` HU. numpy + safetensors only (no torch needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

THRESHOLD_HU = 300.0
SCALE_HU = 50.0
OUT = Path(__file__).resolve().parent / "interval_example_threshold" / "models" / "bone_threshold"


def main() -> None:
    tensors = {
        "conv.weight": np.full((1, 1, 1, 1, 1), 1.0 / SCALE_HU, dtype=np.float32),
        "conv.bias": np.array([-THRESHOLD_HU / SCALE_HU], dtype=np.float32),
    }
    save_file(tensors, str(OUT / "weights.safetensors"), metadata={"format": "pt"})
    print(f"wrote {OUT / 'weights.safetensors'}")


if __name__ == "__main__":
    main()
