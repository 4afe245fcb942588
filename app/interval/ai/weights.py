"""Building a model package's network and loading its weights, never unpickling code.

* safetensors: :func:`safetensors.torch.load_file` (a flat tensor file, no code);
* ``.pt``/``.pth``/``.bin`` state dicts: ``torch.load(..., weights_only=True)`` only,
  so a pickle that would run code or build arbitrary objects is refused;
* TorchScript: ``torch.jit.load(map_location=...)`` (from trusted plugin folders);
* ONNX: onnxruntime when it is installed (an optional dependency).

``builtin`` networks come from :func:`interval.ai.networks.build_network`;
``plugin`` networks from ``module:function`` called with ``**params`` (only ever
inside the model's child process), resolved inside the declaring plugin's code folder
(``ModelSpec.code_path``) and checked before anything is imported
(:mod:`interval.ai.networks.plugin_code`); a model package outside a plugin cannot name
code.  A plugin network without ``weights`` in model.json is used as its builder
returns it (the builder loads what it needs).  Errors raised by a plugin's own code are
its own: they are not reported as problems of model.json.
"""

from __future__ import annotations

import inspect
import pickle
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interval.ai.errors import InvalidModelPackage, describe_value
from interval.ai.model_package import ModelSpec

Network = Callable[[torch.Tensor], torch.Tensor]


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a plain ``.pt`` state dict (weights_only)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidModelPackage("The weights file is missing.", path=path)
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise InvalidModelPackage(
                f"The weights file is not a valid safetensors file ({_first_line(exc)}).",
                path=path,
            ) from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InvalidModelPackage(_pickle_refusal(path, exc)) from None  # names the file
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise InvalidModelPackage(
            f"The weights file cannot be read ({_torch_detail(exc)}).", path=path
        ) from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise InvalidModelPackage(
            "The weights file does not hold a state dict (names -> tensors).", path=path
        )
    return dict(obj)


def load_torchscript(path: str | Path, device: torch.device | str = "cpu") -> torch.nn.Module:
    """A TorchScript network mapped onto ``device``, in eval mode."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; it still loads
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=torch.device(device))
    except (RuntimeError, OSError, ValueError) as exc:
        raise InvalidModelPackage(
            f"The TorchScript network cannot be loaded ({_first_line(exc)}).", path=path
        ) from None
    return module.eval()


class OnnxNetwork:
    """An ONNX model run by onnxruntime, called like a torch module (tensor in, tensor out)."""

    def __init__(self, path: str | Path, device: torch.device) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise InvalidModelPackage(
                "This model is an ONNX network and needs the onnxruntime package, which is "
                "not installed (pip install onnxruntime).",
                path=path,
            ) from None
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InvalidModelPackage(
                f"The ONNX network cannot be loaded ({_first_line(exc)}).", path=path
            ) from None
        self.input_name = self.session.get_inputs()[0].name
        self.device = device

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        out = self.session.run(None, {self.input_name: arr})[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32)).to(x.device)

    def eval(self) -> OnnxNetwork:
        return self


def _construct(spec: ModelSpec) -> torch.nn.Module:
    net = spec.network
    if net.type == "builtin":
        from interval.ai.networks import build_network

        try:
            module = build_network(net.name or "", dict(net.params))
        except (KeyError, ValueError, TypeError) as exc:  # our own checks of model.json
            raise InvalidModelPackage(
                f"The network cannot be built from model.json ({_first_line(exc)}).",
                path=spec.folder / "model.json",
            ) from None
        return module
    from interval.ai.networks.plugin_code import resolve_entry

    entry = net.entry or ""
    builder = resolve_entry(entry, spec.code_path, spec.folder)
    _check_params_fit(builder, net.params, entry, spec.folder)
    module = builder(**net.params)  # the plugin's own exceptions stay its own
    if not isinstance(module, torch.nn.Module):
        raise InvalidModelPackage(
            f"The plugin's network builder {entry} returned {describe_value(module)}, not a torch "
            "module (torch.nn.Module)."
        )
    return module


def _check_params_fit(builder: Any, params: Mapping[str, Any], entry: str,
                      folder: Path) -> None:
    """model.json's ``network.params`` must be arguments ``builder`` accepts (checked
    without calling it: a mismatch is model.json's problem, not the plugin's)."""
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):  # no signature to check (a C function): the call decides
        return
    try:
        signature.bind(**params)
    except TypeError as exc:
        raise InvalidModelPackage(
            f"network.params do not fit the plugin's builder {entry} ({exc}).",
            path=folder / "model.json",
        ) from None


def load_weights_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor],
                      path: Path | None = None) -> None:
    """Load ``state`` strictly; mismatches become one clear ``InvalidModelPackage``."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s) (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s) (e.g. "
                        f"{', '.join(unexpected[:3])})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es) (e.g. {'; '.join(shapes[:3])})")
    if problems:
        raise InvalidModelPackage(
            "The weights do not fit the network described in model.json: "
            + "; ".join(problems) + ".", problems=problems, path=path,
        )
    module.load_state_dict(dict(state), strict=True)


def build_model(spec: ModelSpec, device: torch.device) -> Network:
    """The ready network of ``spec`` on ``device`` in eval mode (weights loaded)."""
    net = spec.network
    path = spec.weights_path
    if net.type == "torchscript":
        assert path is not None
        return load_torchscript(path, device)
    if net.type == "onnx":
        assert path is not None
        return OnnxNetwork(path, device)
    module = _construct(spec)
    if path is not None:  # a plugin network without weights loads what it needs itself
        load_weights_into(module, load_state_dict(path), path)
    return module.to(device).eval()


def _pickle_refusal(path: Path, exc: BaseException) -> str:
    """Our own sentence for a pickle that ``weights_only`` loading refused (never torch's
    advice, which suggests loading it unsafely)."""
    found = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", str(exc))
    what = f" (it refers to {found.group(1)})" if found else ""
    return (f"The weights file {path.name} contains code or Python objects{what}, not only "
            "tensors, which Interval never unpickles or runs. Convert it to safetensors (or "
            "save a plain state dict of tensors).")


def _torch_detail(exc: BaseException) -> str:
    """The first line of a torch loading error, unless it advises loading unsafely."""
    text = _first_line(exc)
    return "the file is not a plain state dict of tensors" if "weights_only" in text else text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
