"""``interval segment`` with misbehaving plugin models: its messages (no viewer to speak of)
and ``--memory-limit``."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from interval.cli import main as cli_main
from interval.core.volume import Volume
from interval.io.image_files import write_image

NET = '''
import numpy as np
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 2, kernel_size=1)

    def forward(self, x):
{forward}
        return self.conv(x)


def build(**params):
{build}
    return Net()
'''


def _plugin(root: Path, *, forward: str = "pass", build: str = "pass") -> Path:
    """A plugin folder with one model whose network runs ``forward`` / ``build`` first."""
    plugin = root / "plugins" / "misbehaving"
    code = plugin / "bad_code"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    (code / "net.py").write_text(NET.format(forward=textwrap.indent(forward, " " * 8),
                                            build=textwrap.indent(build, " " * 4)))
    model = plugin / "models" / "bad"
    model.mkdir(parents=True)
    (model / "model.json").write_text(json.dumps({
        "format": 1, "name": "bad", "version": "1.0.0", "task": "segmentation",
        "labels": [{"value": 1, "name": "x"}], "patch_size": [2, 4, 4],
        "normalization": {"scheme": "none"},
        "network": {"type": "plugin", "entry": "bad_code.net:build",
                    "weights": "weights.safetensors"},
        "output": {"activation": "softmax", "channels": 2},
    }))
    save_file({"conv.weight": np.ones((2, 1, 1, 1, 1), np.float32),
               "conv.bias": np.zeros(2, np.float32)}, str(model / "weights.safetensors"))
    (plugin / "interval-plugin.json").write_text(json.dumps({
        "id": "org.test.misbehaving", "name": "Misbehaving", "version": "1.0.0",
        "interval_api": ">=1.0,<2", "contributes": {"segmentation_models": ["models/bad"]},
        "python": {"path": ".", "module": "bad_code"},
    }))
    return root / "plugins"


def _segment(tmp_path: Path, plugins: Path, *extra: str) -> int:
    image = tmp_path / "image.nii.gz"
    if not image.exists():
        write_image(Volume(np.zeros((2, 4, 4), np.int16)), image)
    return cli_main.main(["segment", str(image), "--model", "bad", "-o",
                          str(tmp_path / "seg.nii.gz"), "--device", "cpu",
                          "--plugins-dir", str(plugins), *extra])


def test_a_failing_model_is_reported_without_speaking_of_a_viewer(tmp_path, capsys):
    plugins = _plugin(tmp_path, forward='raise ValueError("the window size must be odd")')
    assert _segment(tmp_path, plugins) == 1
    err = capsys.readouterr().err
    assert "The model failed: ValueError: the window size must be odd." in err
    assert "viewer" not in err and "Traceback" not in err


def test_a_model_giving_nan_is_refused_not_done(tmp_path, capsys):
    """All probabilities NaN: no empty label map reported as done (issue 9, item 8)."""
    plugins = _plugin(tmp_path, forward='return self.conv(x) * float("nan")')
    assert _segment(tmp_path, plugins) == 1
    err = capsys.readouterr().err
    assert ("The model produced invalid values (NaN) in all of the image (32 of 32 voxels at "
            "the model's resolution); no result was produced.") in err
    assert "viewer" not in err and "Traceback" not in err
    assert not (tmp_path / "seg.nii.gz").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
@pytest.mark.parametrize("where", ["build", "forward"])
def test_memory_limit_option(tmp_path, capsys, monkeypatch, where):
    """Building the network (numpy's MemoryError) or running it (torch's allocator
    failing) beyond the limit: the same clear message, with the option to change it."""
    from interval.ai import runner

    monkeypatch.setattr(runner, "_address_space_limit_works", lambda: True)  # even with a GPU
    allocate = {"build": "block = np.ones(2**30, np.uint8)",  # MemoryError
                "forward": "import torch\nblock = torch.ones(2**28)"}  # torch's allocator fails
    plugins = _plugin(tmp_path, **{where: allocate[where]})
    assert _segment(tmp_path, plugins, "--memory-limit", "300M") == 1
    err = capsys.readouterr().err
    assert "The model ran out of memory (limit 300 MiB) and was stopped." in err
    assert "hint: --memory-limit SIZE" in err and "viewer" not in err
    assert not (tmp_path / "seg.nii.gz").exists()
    assert _segment(tmp_path, plugins, "--memory-limit", "8") == 1
    assert "--memory-limit '8' is smaller than 1 MiB; did you mean 8G?" in capsys.readouterr().err
    assert _segment(tmp_path, plugins, "--memory-limit", "none") == 0  # 1 GiB is fine then
    captured = capsys.readouterr()
    assert "warning: the model runs without a memory limit" in captured.err
    assert (tmp_path / "seg.nii.gz").exists()
