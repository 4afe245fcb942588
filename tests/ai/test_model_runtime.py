"""The viewer-only edition (no torch): a plain message instead of an import error."""

from __future__ import annotations

import pytest

from interval.ai import model_runtime
from interval.ai.model_runtime import NO_MODEL_RUNTIME, require_model_runtime
from interval.cli.main import main
from interval.core.errors import IntervalError


def test_torch_present_here():
    model_runtime.model_runtime_available.cache_clear()
    assert model_runtime.model_runtime_available()
    require_model_runtime()  # no error


def test_without_torch_the_message_says_what_the_edition_can_do(no_torch):
    with pytest.raises(IntervalError, match=r"no model runtime \(PyTorch\); it can open results"):
        require_model_runtime()


@pytest.mark.parametrize("argv", [
    ["segment", "IN", "-o", "out.nii.gz", "--model", "phantom-unet"],
    ["track", "IN", "-o", "OUT"],
])
def test_segment_and_track_say_so_without_torch(no_torch, tmp_path, capsys, argv):
    argv = [str(tmp_path / a) if a.isupper() or a.endswith(".gz") else a for a in argv]
    assert main(argv) == 1
    assert NO_MODEL_RUNTIME in capsys.readouterr().err


def test_track_with_label_maps_does_not_need_torch(no_torch, tmp_path, capsys):
    main(["track", str(tmp_path / "missing"), "-o", str(tmp_path / "out"),
          "--labels", str(tmp_path / "a.nii.gz")])
    assert NO_MODEL_RUNTIME not in capsys.readouterr().err
