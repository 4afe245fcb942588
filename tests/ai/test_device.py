"""Device selection: auto falls back to the CPU here; explicit unavailable devices refuse."""

from __future__ import annotations

import pytest
import torch

from interval.ai.device import amp_dtype, autocast, is_out_of_memory, select_device
from interval.ai.errors import DeviceUnavailable


def test_auto_and_cpu() -> None:
    assert select_device("cpu") == torch.device("cpu")
    auto = select_device("auto")
    if not torch.cuda.is_available():
        assert auto.type in ("cpu", "mps")
    else:
        assert auto.type == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_is_an_error() -> None:
    with pytest.raises(DeviceUnavailable, match="No CUDA"):
        select_device("cuda")
    with pytest.raises(DeviceUnavailable):
        select_device("cuda:1")


def test_unknown_device() -> None:
    with pytest.raises(DeviceUnavailable, match="Unknown compute device"):
        select_device("tpu")
    with pytest.raises(DeviceUnavailable, match="Unknown compute device"):
        select_device("cuda:x")


def test_no_mixed_precision_on_cpu() -> None:
    cpu = torch.device("cpu")
    assert amp_dtype(cpu, True) is None
    with autocast(cpu, True):
        y = torch.nn.Linear(4, 4)(torch.ones(1, 4))
    assert y.dtype == torch.float32


def test_out_of_memory_detection() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
