"""Model runtime: model packages, the segmentation engine, devices and transforms.

Importing this package (and :mod:`interval.ai.model_package`) never imports torch, so
the viewer starts without it; the modules that run a network import torch themselves.
"""

from __future__ import annotations
