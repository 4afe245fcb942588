"""Finding plugins: entry points and plugin folders, without running plugin code.

Search order (the first plugin with a given id wins, later ones are refused):

1. pip-installed distributions registering an entry point in group ``interval.plugins``
   whose value is the import name of a package holding ``interval-plugin.json`` (found with
   ``importlib`` *without* executing the package);
2. the user plugin folder (:func:`user_plugin_dir`);
3. the folders in ``INTERVAL_PLUGIN_PATH`` (``os.pathsep``-separated);
4. folders given with ``--plugins-dir`` (or :func:`set_session_plugin_dirs`), then ``extra_dirs``;
5. the first-party ``plugins/`` folder of a source checkout, or ``plugins/`` of a frozen
   (PyInstaller) build (``sys._MEIPASS/plugins`` and beside the executable).

Each searched folder may be a plugin folder itself or contain plugin folders. A plugin
folder holds ``interval-plugin.json``, or (the layout of a pip-installable plugin's source
tree) a Python package that holds it. Sub-folders whose name starts with ``.`` or ``_``
(rename a plugin folder to ``_name`` to disable it), ``build``, ``dist`` and ``*.egg-info``
are skipped.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interval.plugins.api import ENTRY_POINT_GROUP, MANIFEST_NAME

if TYPE_CHECKING:
    from interval.plugins.registry import PluginRegistry

ENV_VAR = "INTERVAL_PLUGIN_PATH"
APP_NAME = "Interval"

log = logging.getLogger(__name__)

_session_dirs: list[Path] = []


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin (or a search location) comes from, in words."""

    kind: str  # "entry point", "user folder", "INTERVAL_PLUGIN_PATH", "--plugins-dir", "built-in"
    location: str  # a folder, or "name = value (distribution version)" for an entry point

    def __str__(self) -> str:
        return f"{self.kind}: {self.location}"


@dataclass(frozen=True)
class Candidate:
    """A manifest to read (``manifest_path``) or a problem found while looking (``problem``)."""

    source: PluginSource
    manifest_path: Path | None
    name: str
    problem: str | None = None


# --- folders ------------------------------------------------------------------------------


def user_plugin_dir() -> Path:
    """The per-user plugin folder (``<user data dir>/Interval/plugins``; may not exist yet)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "plugins"


def env_plugin_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders named by ``INTERVAL_PLUGIN_PATH``."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def first_party_plugin_dirs() -> list[Path]:
    """``plugins/`` of the source checkout or of the frozen build (existing folders only)."""
    dirs: list[Path] = []
    if getattr(sys, "frozen", False):
        meipass = getattr(sys, "_MEIPASS", None)
        if meipass:
            dirs.append(Path(meipass) / "plugins")
        dirs.append(Path(sys.executable).resolve().parent / "plugins")
    else:
        repo = Path(__file__).resolve().parents[3]  # app/interval/plugins/discovery.py
        if (repo / "pyproject.toml").is_file() and (repo / "app" / "interval").is_dir():
            dirs.append(repo / "plugins")
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d not in out:
            out.append(d)
    return out


def set_session_plugin_dirs(dirs: Iterable[str | Path]) -> None:
    """Folders (``--plugins-dir``) every later :func:`discover_plugins` call searches."""
    _session_dirs[:] = [Path(d).expanduser() for d in dirs]


def session_plugin_dirs() -> list[Path]:
    """The folders set by :func:`set_session_plugin_dirs`."""
    return list(_session_dirs)


def plugin_dirs_from_args(args: Any) -> list[Path]:
    """The ``--plugins-dir`` folders of parsed CLI arguments (empty list if none)."""
    return [Path(d).expanduser() for d in (getattr(args, "plugins_dir", None) or [])]


def registry_from_args(args: Any) -> PluginRegistry:
    """Discover plugins for a CLI command, honouring its ``--plugins-dir`` options."""
    from interval.plugins.registry import discover_plugins

    return discover_plugins(plugin_dirs_from_args(args))


def manifests_in_folder(folder: Path) -> list[Path]:
    """Manifests of the plugin folder ``folder``: its own, or those of its packages."""
    own = folder / MANIFEST_NAME
    if own.is_file():
        return [own]
    found: list[Path] = []
    for child in _subfolders(folder):
        if (child / "__init__.py").is_file() and (child / MANIFEST_NAME).is_file():
            found.append(child / MANIFEST_NAME)
    return found


def scan_folder(folder: Path, source: PluginSource) -> list[Candidate]:
    """Candidates in ``folder``: the folder as one plugin, or each plugin folder inside it."""
    if not folder.exists():
        return [Candidate(source, None, str(folder), f"folder {folder} does not exist")]
    if not folder.is_dir():
        return [Candidate(source, None, str(folder), f"{folder} is not a folder")]
    manifests = manifests_in_folder(folder)
    if not manifests:
        for child in _subfolders(folder):
            manifests.extend(manifests_in_folder(child))
    return [Candidate(source, m, _folder_name(m)) for m in manifests]


def _folder_name(manifest: Path) -> str:
    folder = manifest.parent
    if (folder / "__init__.py").is_file():  # a package inside a plugin's source tree
        return f"{folder.parent.name}/{folder.name}"
    return folder.name


def _subfolders(folder: Path) -> list[Path]:
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        c for c in children
        if c.is_dir() and not c.name.startswith((".", "_")) and not c.name.endswith(".egg-info")
        and c.name not in ("build", "dist")
    ]


# --- entry points -------------------------------------------------------------------------


def entry_point_candidates(paths: Sequence[str | Path] | None = None) -> list[Candidate]:
    """Candidates from the ``interval.plugins`` entry points.

    ``paths``: look only at distributions installed in these folders (tests, a plugin
    folder installed with ``pip --target``); default: ``sys.path``.
    """
    search = None if paths is None else [str(p) for p in paths]
    try:
        dists = list(
            importlib.metadata.distributions()
            if search is None else importlib.metadata.distributions(path=search)
        )
    except Exception as exc:  # noqa: BLE001 - a broken site-packages must not stop the app
        source = PluginSource("entry point", "installed packages")
        return [Candidate(source, None, "entry points", f"installed packages unreadable: {exc}")]
    out: list[Candidate] = []
    seen: set[tuple[str, str]] = set()
    for dist in dists:
        try:
            eps = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
            dist_name = dist.metadata["Name"] or "?"
            dist_version = dist.version or "?"
        except Exception:  # noqa: BLE001 - broken metadata of one distribution
            continue
        for ep in eps:
            key = (dist_name.lower(), ep.name)
            if key in seen:  # the same distribution visible twice on the path
                continue
            seen.add(key)
            source = PluginSource(
                "entry point", f"{ep.name} = {ep.value} ({dist_name} {dist_version})"
            )
            out.append(_entry_point_candidate(ep.name, ep.value, source, search))
    return out


def _entry_point_candidate(
    name: str, value: str, source: PluginSource, search: list[str] | None
) -> Candidate:
    module = value.split(":", 1)[0].strip()
    try:
        locations = package_locations(module, search)
    except Exception as exc:  # noqa: BLE001 - importlib may raise anything on odd packages
        return Candidate(source, None, name, f"package {module!r} cannot be located ({exc})")
    if locations is None:
        return Candidate(source, None, name, f"package {module!r} is not installed")
    if not locations:
        return Candidate(
            source, None, name,
            f"entry point must name a package holding {MANIFEST_NAME}; {module!r} is a module",
        )
    for loc in locations:
        manifest = Path(loc) / MANIFEST_NAME
        if manifest.is_file():
            return Candidate(source, manifest, name)
    return Candidate(source, None, name, f"package {module!r} holds no {MANIFEST_NAME}")


def package_locations(module: str, search: list[str] | None = None) -> list[str] | None:
    """Folders of package ``module`` found without executing it (None: not found).

    An empty list means ``module`` is a plain module, not a package.
    """
    parts = module.split(".")
    path: list[str] | None = search
    spec = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        if path is None:  # top level: find_spec never executes a top-level package
            spec = importlib.util.find_spec(name)
        else:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or [])
        if not path and i < len(parts) - 1:
            return None
    return path if spec is not None else None


def all_candidates(
    extra_dirs: Iterable[str | Path] = (),
    *,
    include_entry_points: bool = True,
    entry_point_paths: Sequence[str | Path] | None = None,
    include_user_dir: bool = True,
    include_env: bool = True,
    include_session: bool = True,
    include_first_party: bool = True,
    environ: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """Every candidate in search order (see the module notes); the same manifest once."""
    out: list[Candidate] = []
    if include_entry_points:
        out.extend(entry_point_candidates(entry_point_paths))
    if include_user_dir:
        user = user_plugin_dir()
        if user.is_dir():  # a missing user folder is normal: nothing installed there
            out.extend(scan_folder(user, PluginSource("user folder", str(user))))
    if include_env:
        for d in env_plugin_dirs(environ):
            out.extend(scan_folder(d, PluginSource(ENV_VAR, str(d))))
    explicit = (session_plugin_dirs() if include_session else []) + [
        Path(d).expanduser() for d in extra_dirs
    ]
    for d in explicit:
        out.extend(scan_folder(d, PluginSource("--plugins-dir", str(d))))
    if include_first_party:
        for d in first_party_plugin_dirs():
            out.extend(scan_folder(d, PluginSource("built-in", str(d))))
    return _dedupe(out)


def _dedupe(candidates: list[Candidate]) -> list[Candidate]:
    seen: set[Path] = set()
    out: list[Candidate] = []
    for c in candidates:
        if c.manifest_path is not None:
            try:
                key = c.manifest_path.resolve()
            except OSError:
                key = c.manifest_path
            if key in seen:
                continue
            seen.add(key)
        out.append(c)
    return out
