"""Built-in network architectures that a model.json can name (``"type": "builtin"``).

``build_network("unet3d", params)`` returns a freshly initialised ``torch.nn.Module``;
the engine then loads the weights (safetensors) into it.  Importing this package
does not import torch: each architecture module is imported only when built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

# name -> "module:function" (the function takes the params mapping and returns a Module)
BUILTIN_NETWORKS: dict[str, str] = {
    "unet3d": "interval.ai.networks.unet3d:build",
    "unet3d_convgru": "interval.ai.networks.unet3d_convgru:build",
}


def available_networks() -> list[str]:
    """Names accepted by :func:`build_network`."""
    return sorted(BUILTIN_NETWORKS)


def build_network(name: str, params: Mapping[str, Any] | None = None) -> nn.Module:
    """A new, randomly initialised built-in network ``name`` configured by ``params``.

    Raises ``KeyError`` for an unknown name and ``ValueError`` for bad parameters
    (both with a message naming what is wrong).
    """
    target = BUILTIN_NETWORKS.get(name)
    if target is None:
        raise KeyError(f"unknown built-in network {name!r} (available: "
                       f"{', '.join(available_networks())})")
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(f"network params must be a JSON object, got {type(params).__name__}")
    module_name, func = target.split(":")
    return getattr(importlib.import_module(module_name), func)(dict(params or {}))


__all__ = ["BUILTIN_NETWORKS", "available_networks", "build_network"]
