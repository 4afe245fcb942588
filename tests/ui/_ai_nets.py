"""Networks of the AI-panel tests' plugin (imported only in the model's child process)."""

from __future__ import annotations

import os
import signal
import time

from tests.ai._nets import ThresholdNet


class SlowNet(ThresholdNet):
    """ThresholdNet that takes ``delay`` seconds per forward pass (cancel tests)."""

    def __init__(self, threshold: float = 50.0, delay: float = 0.2) -> None:
        super().__init__(threshold)
        self.delay = delay

    def forward(self, x):  # noqa: ANN001, ANN201
        time.sleep(self.delay)
        return super().forward(x)


def build_slow(threshold: float = 50.0, delay: float = 0.2) -> SlowNet:
    return SlowNet(threshold, delay)


def build_segfault(**_params: object) -> ThresholdNet:
    """A plugin whose native code crashes: the process dies of SIGSEGV."""
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(30)
    raise AssertionError("unreachable")


def build_broken(**_params: object) -> ThresholdNet:
    """A plugin with a bug: it raises."""
    raise RuntimeError("deliberately broken plugin")
