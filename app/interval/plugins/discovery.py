"""Finding plugins: bundled first-party plugins, entry points and plugin folders, without
running plugin code.

Search order (see :data:`SEARCH_ORDER`). The first plugin with a given id is used; a later
plugin with the same id is refused with a reason naming both locations:

1. **bundled** - the first-party ``plugins/`` folder of a source checkout, or ``plugins/`` of
   a frozen (PyInstaller) build (``sys._MEIPASS/plugins``, then beside the executable).
   Searched first so that nothing installed later can replace a first-party plugin: its id
   stays reserved even when the bundled plugin itself is refused (e.g. a missing package);
2. pip-installed distributions registering an **entry point** in group ``interval.plugins``
   whose value is the import name of a package holding ``interval-plugin.json`` (found with
   ``importlib`` *without* executing the package);
3. the **user folder** (:func:`user_plugin_dir`);
4. the folders in **INTERVAL_PLUGIN_PATH** (``os.pathsep``-separated), in order;
5. folders given with **--plugins-dir** (or :func:`set_session_plugin_dirs`), then
   ``extra_dirs``.

Each searched folder may be a plugin folder itself or contain plugin folders. A plugin
folder holds ``interval-plugin.json``, or (the layout of a pip-installable plugin's source
tree) a Python package that holds it. Sub-folders whose name starts with ``.`` or ``_``
(rename a plugin folder to ``_name`` to disable it), ``build``, ``dist`` and ``*.egg-info``
are skipped. Any file-system entry called ``interval-plugin.json`` makes a candidate - a
FIFO, a folder or a broken symbolic link of that name is refused with the reason, never
skipped in silence.

Nothing here keeps mutable state shared between calls except the ``--plugins-dir`` folders
(:func:`set_session_plugin_dirs`, replaced as a whole): discovery may run in a worker thread.
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
from interval.plugins.untrusted_files import path_kind

if TYPE_CHECKING:
    from interval.plugins.registry import PluginRegistry

ENV_VAR = "INTERVAL_PLUGIN_PATH"
APP_NAME = "Interval"

# where a plugin comes from (PluginSource.kind), in search order
BUNDLED = "bundled"
ENTRY_POINT = "entry point"
USER_FOLDER = "user folder"
ENV_PATH = ENV_VAR
PLUGINS_DIR = "--plugins-dir"
SEARCH_ORDER = (BUNDLED, ENTRY_POINT, USER_FOLDER, ENV_PATH, PLUGINS_DIR)

log = logging.getLogger(__name__)

_session_dirs: tuple[Path, ...] = ()  # replaced as a whole, never mutated in place


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin (or a search location) comes from, in words."""

    kind: str  # one of SEARCH_ORDER
    location: str  # a folder, or "name = value (distribution version)" for an entry point

    @property
    def bundled(self) -> bool:
        """Whether this is Interval's own first-party ``plugins/`` folder."""
        return self.kind == BUNDLED

    def __str__(self) -> str:
        return f"{self.kind}: {self.location}"


@dataclass(frozen=True)
class Candidate:
    """A manifest to read (``manifest_path``) or a problem found while looking (``problem``).

    ``manifest_path`` is the path where the manifest was found (it may pass through
    symbolic links); :attr:`real_path` is where it really is.
    """

    source: PluginSource
    manifest_path: Path | None
    name: str
    problem: str | None = None

    @property
    def real_path(self) -> Path | None:
        """``manifest_path`` with every symbolic link resolved (``os.path.realpath``)."""
        return None if self.manifest_path is None else real_path(self.manifest_path)


def real_path(path: Path) -> Path:
    """``path`` absolute, with symbolic links resolved; never raises."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return Path(os.path.abspath(path))


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
        if path_kind(repo / "pyproject.toml") == "file" and path_kind(
                repo / "app" / "interval") == "folder":
            dirs.append(repo / "plugins")
    out: list[Path] = []
    for d in dirs:
        if path_kind(d) == "folder" and real_path(d) not in {real_path(o) for o in out}:
            out.append(d)
    return out


def set_session_plugin_dirs(dirs: Iterable[str | Path]) -> None:
    """Folders (``--plugins-dir``) every later :func:`discover_plugins` call searches."""
    global _session_dirs
    _session_dirs = tuple(Path(d).expanduser() for d in dirs)


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
    """Manifests of the plugin folder ``folder``: its own, or those of its packages.

    Any entry called ``interval-plugin.json`` counts (a FIFO or a broken link too: reading
    it is refused with the reason); nothing is opened here.
    """
    own = folder / MANIFEST_NAME
    if _lexists(own):
        return [own]
    found: list[Path] = []
    for child in _subfolders(folder):
        if path_kind(child / "__init__.py") == "file" and _lexists(child / MANIFEST_NAME):
            found.append(child / MANIFEST_NAME)
    return found


def scan_folder(folder: Path, source: PluginSource) -> list[Candidate]:
    """Candidates in ``folder``: the folder as one plugin, or each plugin folder inside it."""
    kind = path_kind(folder)
    if kind == "missing":
        return [Candidate(source, None, str(folder), f"folder {folder} does not exist")]
    if kind == "unreadable":
        return [Candidate(source, None, str(folder), f"folder {folder} cannot be read")]
    if kind != "folder":
        return [Candidate(source, None, str(folder), f"{folder} is not a folder")]
    manifests = manifests_in_folder(folder)
    if not manifests:
        for child in _subfolders(folder):
            manifests.extend(manifests_in_folder(child))
    return [Candidate(source, m, _folder_name(m)) for m in manifests]


def _lexists(path: Path) -> bool:
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _folder_name(manifest: Path) -> str:
    folder = manifest.parent
    if path_kind(folder / "__init__.py") == "file":  # a package inside a plugin's source tree
        return f"{folder.parent.name}/{folder.name}"
    return folder.name


def _subfolders(folder: Path) -> list[Path]:
    try:
        children = sorted(folder.iterdir())
    except (OSError, ValueError):
        return []
    return [
        c for c in children
        if not c.name.startswith((".", "_")) and not c.name.endswith(".egg-info")
        and c.name not in ("build", "dist") and path_kind(c) == "folder"
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
        source = PluginSource(ENTRY_POINT, "installed packages")
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
                ENTRY_POINT, f"{ep.name} = {ep.value} ({dist_name} {dist_version})"
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
        if _lexists(manifest):
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
    """Every candidate in search order (:data:`SEARCH_ORDER`); never raises.

    A manifest reached twice through the *same* path (a folder searched twice) is listed
    once; one reached through different paths (a symbolic link) is kept, so that the
    registry can report the second sighting.
    """
    out: list[Candidate] = []
    if include_first_party:
        for d in first_party_plugin_dirs():
            out.extend(scan_folder(d, PluginSource(BUNDLED, str(d))))
    if include_entry_points:
        out.extend(entry_point_candidates(entry_point_paths))
    if include_user_dir:
        user = user_plugin_dir()
        if path_kind(user) != "missing":  # a missing user folder is normal: nothing there
            out.extend(scan_folder(user, PluginSource(USER_FOLDER, str(user))))
    if include_env:
        for d in env_plugin_dirs(environ):
            out.extend(scan_folder(d, PluginSource(ENV_PATH, str(d))))
    explicit = (session_plugin_dirs() if include_session else []) + [
        Path(d).expanduser() for d in extra_dirs
    ]
    for d in explicit:
        out.extend(scan_folder(d, PluginSource(PLUGINS_DIR, str(d))))
    return _same_path_once(out)


def _same_path_once(candidates: list[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    out: list[Candidate] = []
    for c in candidates:
        if c.manifest_path is not None:
            key = os.path.normcase(os.path.abspath(c.manifest_path))
            if key in seen:
                continue
            seen.add(key)
        out.append(c)
    return out
