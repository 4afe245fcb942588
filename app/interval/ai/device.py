"""Compute device selection and mixed precision (torch is imported by this module).

``select_device("auto")`` takes CUDA, then Apple MPS, then the CPU; an explicit
request ("cuda", "cuda:1", "mps", "cpu") that cannot be met raises
:class:`~interval.ai.errors.DeviceUnavailable` instead of silently falling back.
Mixed precision (autocast) is used on CUDA only: bf16 where the GPU supports it,
else fp16.  On the CPU the network runs in float32 (bf16 changes labels).
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator

import torch

from interval.ai.errors import DeviceUnavailable

_CHOICES = "auto, cpu, cuda, cuda:N, mps"
_ALLOCATOR_TUNED = False


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(preference: str = "auto") -> torch.device:
    """The torch device for ``preference`` (auto: cuda, then mps, then cpu)."""
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref == "mps":
        if not _mps_available():
            raise DeviceUnavailable("Apple GPU (MPS) computing is not available on this computer.")
        return torch.device("mps")
    if pref == "cuda" or pref.startswith("cuda:"):
        index = 0
        if ":" in pref:
            try:
                index = int(pref.split(":", 1)[1])
            except ValueError:
                raise DeviceUnavailable(
                    f"Unknown compute device {preference!r} (choose {_CHOICES})."
                ) from None
        if not torch.cuda.is_available():
            raise DeviceUnavailable("No CUDA (NVIDIA) GPU is available on this computer.")
        count = torch.cuda.device_count()
        if index < 0 or index >= count:
            raise DeviceUnavailable(
                f"GPU {index} does not exist: this computer has {count} CUDA GPU(s)."
            )
        return torch.device(pref)
    raise DeviceUnavailable(f"Unknown compute device {preference!r} (choose {_CHOICES}).")


def amp_dtype(device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The autocast dtype used on ``device`` (None: full float32)."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device, amp: bool = True) -> Iterator[None]:
    """Mixed precision on CUDA when ``amp``; a no-op elsewhere."""
    dtype = amp_dtype(device, amp)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type="cuda", dtype=dtype):
        yield


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device out-of-memory error (CUDA or MPS)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def empty_cache(device: torch.device) -> None:
    """Give cached device memory back (after an out-of-memory error)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        with contextlib.suppress(Exception):
            torch.mps.empty_cache()


def tune_cpu_allocator() -> bool:
    """Keep freed memory for reuse instead of handing it back to the OS (glibc only).

    A 3-D network allocates activations of 100+ MB per layer; glibc serves such
    blocks with fresh ``mmap`` pages, so every layer of every window pays page faults
    and the kernel zeroing the pages (measured: ~15% of the CPU time of a MONAI
    UNet forward at batch 4).  Raising the mmap and trim thresholds makes freed
    blocks reusable.  Process-wide and idempotent; the engine runs in its own child
    process.  Returns whether the setting is active.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = libc.mallopt(m_mmap_threshold, 1 << 30) == 1
        ok = libc.mallopt(m_trim_threshold, (1 << 31) - 1) == 1 and ok
    except (OSError, AttributeError):
        return False
    _ALLOCATOR_TUNED = ok
    return ok
