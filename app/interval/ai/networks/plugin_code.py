"""A ``"plugin"`` network's code: resolved inside the declaring plugin, checked before import.

A model.json is data: its ``"entry": "module:function"`` may only name code that the
plugin declaring the model brings itself.  :func:`resolve_entry`

* refuses a model package that is not part of a plugin (``code_path`` None): on its own
  a package may only use a built-in architecture, TorchScript, ONNX or weights files;
* finds each module of the dotted path with :class:`importlib.machinery.PathFinder`
  searching only the plugin's code folder (never the whole ``sys.path``), and checks
  that the file it would load from (symbolic links resolved) lies inside the plugin
  *before* executing it; a module already imported must be that same file;
* executes the module from exactly that file, and checks that the named function is
  defined by the plugin's own code (not re-exported from ``os``, ``subprocess``...).

The folder a plugin's code must lie in is its code path; when that path is the folder
*above* the plugin (a plugin that is a Python package: its manifest sits in the
package, and the code path is e.g. ``site-packages``) it is narrowed to the package.
When the plugin's code first runs, its code path is appended to ``sys.path`` (for its
own imports of its other modules; never in front of installed packages).  Importing this
module does not import torch.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

from interval.ai.errors import InvalidModelPackage

# the plugin manifest's file name (interval.plugins.manifest.MANIFEST_NAME; not imported
# from there: the model runtime does not depend on the plugin layer)
PLUGIN_MANIFEST = "interval-plugin.json"

__all__ = ["PLUGIN_MANIFEST", "code_root", "resolve_entry"]


def code_root(code_path: str | Path, model_folder: str | Path) -> Path:
    """The folder (real path) whose files a plugin network of ``model_folder`` may run.

    ``code_path`` itself, or, when it is the folder above the plugin's own package
    (the package holding both the plugin manifest and the model), that package.
    """
    code = Path(os.path.realpath(code_path))
    model = Path(os.path.realpath(model_folder))
    if model != code and model.is_relative_to(code):
        top = code / model.relative_to(code).parts[0]
        if (top / PLUGIN_MANIFEST).is_file():
            return top
    return code


def resolve_entry(entry: str, code_path: str | Path | None,
                  model_folder: str | Path) -> Callable[..., Any]:
    """The callable named by ``"package.module:function"``, from the plugin's own code only.

    Raises :class:`InvalidModelPackage` (nothing of the module executed) when the entry
    is not inside the plugin, and when the package has no plugin at all.
    """
    if code_path is None:
        raise InvalidModelPackage(
            f"model.json names Python code ({entry}), but this model package is not part of "
            "a plugin. A model package on its own may only use a built-in architecture, "
            "TorchScript, ONNX or safetensors weights; network code must come with the "
            "plugin that declares the model."
        )
    mod_name, _, func_name = entry.partition(":")
    root = code_root(code_path, model_folder)
    search = os.path.realpath(code_path)
    module = _load_module(mod_name, search, root, entry)
    func = getattr(module, func_name, None)
    if func is None or not callable(func):
        raise InvalidModelPackage(f"The plugin's module {mod_name!r} has no function "
                                  f"{func_name!r} (model.json network.entry {entry}).")
    defined_in = getattr(func, "__module__", None)
    owner = sys.modules.get(defined_in) if isinstance(defined_in, str) else None
    files = _module_files(owner) if owner is not None else []
    if not files or not all(_inside(f, root) for f in files):
        raise _outside(entry, f"{func_name} is defined in {defined_in or 'unknown code'}, "
                              "not in the plugin's own code")
    return func  # type: ignore[no-any-return]


def _load_module(name: str, search: str, root: Path, entry: str) -> ModuleType:
    """Import ``name`` part by part from ``search`` only, each file checked before it runs."""
    parts = name.split(".")
    locations: list[str] = [search]
    parent: ModuleType | None = None
    module: ModuleType | None = None
    for i, part in enumerate(parts):
        full = ".".join(parts[: i + 1])
        spec = PathFinder.find_spec(full, locations)
        if spec is None:
            where = "code folder" if parent is None else f"package {parent.__name__}"
            raise _outside(entry, f"there is no module {full} in the plugin's {where} ({root})")
        files = _spec_files(spec)
        if not files or not all(_inside(f, root) for f in files):
            outside = next((f for f in files if not _inside(f, root)), full)
            raise _outside(entry, f"{full} would be loaded from {outside}, outside the "
                                  f"plugin folder {root}")
        cached = sys.modules.get(full)
        if cached is not None:
            cached_spec = getattr(cached, "__spec__", None)
            if cached_spec is None or _origin(cached_spec) != _origin(spec):
                raise _outside(entry, f"a module named {full} is already loaded from "
                                      "elsewhere; the plugin's module must have its own name")
            module = cached
        else:
            if search not in sys.path:
                # for the plugin's own imports of its other modules (only once its code is
                # about to run); appended: a plugin folder never shadows an installed module
                sys.path.append(search)
            module = _execute(spec, full, entry)
            if parent is not None:
                setattr(parent, part, module)
        locations = list(getattr(module, "__path__", None) or [])
        if i < len(parts) - 1 and not locations:
            raise InvalidModelPackage(f"The plugin's module {full} is not a package, so "
                                      f"{name} cannot be found (model.json network.entry "
                                      f"{entry}).")
        parent = module
    assert module is not None
    return module


def _execute(spec: ModuleSpec, name: str, entry: str) -> ModuleType:
    """Run the module's code from the file ``spec`` names (registered under ``name``)."""
    if spec.loader is None:  # a namespace package: a folder without __init__.py
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        return module
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        sys.modules.pop(name, None)
        raise InvalidModelPackage(
            f"The plugin's network code {name} cannot be imported ({exc}) "
            f"(model.json network.entry {entry})."
        ) from None
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _spec_files(spec: ModuleSpec) -> list[str]:
    files = list(spec.submodule_search_locations or [])
    if spec.has_location and spec.origin:
        files.append(spec.origin)
    return files


def _module_files(module: ModuleType) -> list[str]:
    spec = getattr(module, "__spec__", None)
    if spec is not None:
        return _spec_files(spec)
    file = getattr(module, "__file__", None)
    return [file] if isinstance(file, str) else []


def _origin(spec: ModuleSpec | None) -> str | None:
    """The real path of the file a module is (or would be) loaded from; None: a folder."""
    if spec is None or not spec.has_location or not spec.origin:
        return None
    return _real(spec.origin)


def _real(path: str) -> str:
    return os.path.realpath(path)


def _inside(path: str, root: Path) -> bool:
    return Path(_real(path)).is_relative_to(root)


def _outside(entry: str, why: str) -> InvalidModelPackage:
    return InvalidModelPackage(f"model.json names code outside its plugin: {entry} ({why}).")
