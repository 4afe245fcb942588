"""Reading and validating ``interval-plugin.json`` - before any plugin code is imported.

:func:`read_manifest` returns a :class:`~interval.plugins.api.PluginManifest` or raises
:class:`InvalidManifest` whose message lists every problem in words (unknown keys by
name, an incompatible ``interval_api``, a model folder without ``model.json`` ...).
Nothing here imports or executes plugin code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from interval.plugins.api import (
    API_VERSION,
    MANIFEST_NAME,
    AnalyzerDeclaration,
    PluginError,
    PluginManifest,
)
from interval.plugins.untrusted_files import (
    MAX_QUOTED,
    UntrustedFileError,
    file_problem,
    load_json_file,
    path_kind,
    quoted,
)

MAX_MANIFEST_BYTES = 1_000_000
MODEL_FILE = "model.json"

# lower-case letters/digits, segments joined by ".", "-" or "_"; reverse-DNS recommended
ID_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ID_MAX = 100
# https://semver.org (MAJOR.MINOR.PATCH[-prerelease][+build])
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
MODULE_RE = re.compile(rf"^{_IDENT}(?:\.{_IDENT})*$")
ENTRY_RE = re.compile(rf"^{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*$")

TOP_KEYS = {
    "id", "name", "version", "interval_api", "description", "author", "license", "homepage",
    "contributes", "python", "requires",
}
REQUIRED_KEYS = ("id", "name", "version", "interval_api")
CONTRIBUTES_KEYS = {"segmentation_models", "longitudinal_analyzers"}
ANALYZER_KEYS = {"id", "name", "entry", "description"}
PYTHON_KEYS = {"module", "path"}
MAX_TITLE = 200
MAX_LISTED_KEYS = 10


class InvalidManifest(PluginError):
    """A manifest that cannot be accepted; ``problems`` lists each finding."""

    def __init__(self, problems: list[str], *, path: Path | None = None) -> None:
        super().__init__("; ".join(problems), path=None)
        self.problems = list(problems)
        self.manifest_path = path
        # what could be read of the plugin's identity, to name it in a refusal
        self.plugin_id: str | None = None
        self.plugin_name: str | None = None
        self.plugin_version: str | None = None


def read_manifest(path: str | Path) -> PluginManifest:
    """Read and validate the manifest file ``path`` (no plugin code is run)."""
    path = Path(path)
    data = load_manifest_json(path)
    manifest, problems = validate_manifest(data, path)
    if problems or manifest is None:
        error = InvalidManifest(problems or ["manifest is invalid"], path=path)
        if isinstance(data, dict):
            error.plugin_id = _valid_or_none(data.get("id"), ID_RE, ID_MAX)
            error.plugin_name = _title_or_none(data.get("name"))
            error.plugin_version = _valid_or_none(data.get("version"), SEMVER_RE, 100)
        raise error
    return manifest


def manifest_file_problem(path: str | Path) -> str | None:
    """Why the manifest ``path`` cannot be read, found with ``stat`` alone (None: looks fine).

    The file is not opened: a FIFO, a device or a socket named ``interval-plugin.json`` is
    refused without blocking on it or touching the device.
    """
    path = Path(path)
    return file_problem(path, "the manifest", MAX_MANIFEST_BYTES,
                        missing=f"no {MANIFEST_NAME} in {path.parent}")


def load_manifest_json(path: Path) -> Any:
    """The parsed JSON of ``path``; :class:`InvalidManifest` with a clear reason otherwise."""
    try:
        return load_json_file(path, "the manifest", MAX_MANIFEST_BYTES,
                              missing=f"no {MANIFEST_NAME} in {path.parent}")
    except UntrustedFileError as exc:
        raise InvalidManifest([str(exc)], path=path) from None


def validate_manifest(data: Any, path: Path) -> tuple[PluginManifest | None, list[str]]:
    """Check the parsed manifest ``data`` read from ``path``; returns (manifest, problems)."""
    if not isinstance(data, dict):
        return None, [f"manifest must be a JSON object, not {_json_type(data)}"]
    problems: list[str] = []
    _unknown(data, TOP_KEYS, "in the manifest", problems)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        problems.append("missing required field" + ("s " if len(missing) > 1 else " ")
                        + ", ".join(repr(k) for k in missing))
    folder = path.parent
    pid = _check_id(data.get("id"), "id", problems) if "id" in data else ""
    name = _text(data, "name", problems, required=True)
    version = _check_version(data.get("version"), problems) if "version" in data else ""
    api = _check_api(data.get("interval_api"), problems) if "interval_api" in data else ""
    description = _text(data, "description", problems)
    author = _text(data, "author", problems)
    license_ = _text(data, "license", problems)
    homepage = _text(data, "homepage", problems)
    models, analyzers = _check_contributes(data.get("contributes", {}), folder, problems)
    module, code_path = _check_python(data.get("python"), folder, problems)
    requires = _check_requires(data.get("requires", []), problems)
    if problems:
        return None, problems
    manifest = PluginManifest(
        id=pid, name=name, version=version, interval_api=api, manifest_path=path,
        description=description, author=author, license=license_, homepage=homepage,
        segmentation_models=models, longitudinal_analyzers=analyzers,
        python_module=module, code_path=code_path, requires=requires,
    )
    return manifest, []


def api_compatible(specifier: str, api_version: str = API_VERSION) -> bool:
    """Whether the PEP 440 ``specifier`` admits ``api_version``."""
    return SpecifierSet(specifier).contains(Version(api_version), prereleases=True)


def default_code_path(folder: Path) -> Path:
    """Where a plugin's Python code is imported from when ``python.path`` is not given.

    A manifest inside a Python package (a folder with ``__init__.py``, the layout of a
    pip-installable plugin) is imported from the package's parent; otherwise from the
    manifest's folder.
    """
    return folder.parent if path_kind(folder / "__init__.py") == "file" else folder


def code_path_for_model(model_folder: str | Path, max_levels: int = 6) -> Path | None:
    """The ``sys.path`` folder of the plugin owning ``model_folder`` (None if not in a plugin).

    Walks up from the model folder to the nearest ``interval-plugin.json`` and applies its
    ``python.path`` rule. Reads the manifest only; raises :class:`InvalidManifest` if broken.
    """
    folder = Path(model_folder).resolve()
    for candidate in [folder, *folder.parents][: max_levels + 1]:
        manifest_file = candidate / MANIFEST_NAME
        if path_kind(manifest_file) == "file":
            return read_manifest(manifest_file).code_path
    return None


# --- field checks -------------------------------------------------------------------------


def _valid_or_none(value: Any, pattern: re.Pattern[str], limit: int) -> str | None:
    """``value`` when it is text matching ``pattern`` (an id or version fit to show)."""
    if isinstance(value, str) and len(value) <= limit and pattern.match(value):
        return value
    return None


def _title_or_none(value: Any) -> str | None:
    """A manifest's ``name`` to show in a refusal: stripped, shortened, None if absent."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(value.split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "\u2026"


def _shown(text: str) -> str:
    """A short, printable manifest text as it is; anything else quoted by :func:`_brief`."""
    return text if len(text) <= MAX_QUOTED and text.isprintable() else quoted(text)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _unknown(data: dict, allowed: set[str], where: str, problems: list[str]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        listed = ", ".join(quoted(k) for k in unknown[:MAX_LISTED_KEYS])
        if len(unknown) > MAX_LISTED_KEYS:
            listed += f" and {len(unknown) - MAX_LISTED_KEYS} more"
        problems.append(
            f"unknown key{'s' if len(unknown) > 1 else ''} {where}: {listed}"
            + f" (allowed: {', '.join(sorted(allowed))})"
        )


def _text(data: dict, key: str, problems: list[str], *, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        problems.append(f"{key!r} must be text, not {_json_type(value)}")
        return ""
    if required and key in data and not value.strip():
        problems.append(f"{key!r} must not be empty")
    return value.strip()


def _check_id(value: Any, what: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not ID_RE.match(value) or len(value) > ID_MAX:
        problems.append(
            f"{what} {quoted(value)} is not a valid id (lower-case letters, digits and single "
            f"'.', '-' or '_' between them, at most {ID_MAX} characters, e.g. "
            "'org.example.liver-seg')"
        )
        return ""
    return value


def _check_version(value: Any, problems: list[str]) -> str:
    if not isinstance(value, str) or not SEMVER_RE.match(value):
        problems.append(
            f"version {quoted(value)} is not a semantic version (MAJOR.MINOR.PATCH, e.g. '1.2.0')"
        )
        return ""
    return value


def _check_api(value: Any, problems: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(
            "'interval_api' must name the Interval API versions the plugin supports, "
            "e.g. '>=1.0,<2'"
        )
        return ""
    try:
        spec = SpecifierSet(value)
    except InvalidSpecifier:
        problems.append(
            f"'interval_api' {quoted(value)} is not a version specifier (write e.g. '>=1.0,<2')"
        )
        return ""
    if not spec.contains(Version(API_VERSION), prereleases=True):
        problems.append(f"requires Interval API {value} but this is {API_VERSION}")
    return value


def _relative_inside(value: Any, folder: Path, what: str, problems: list[str]) -> Path | None:
    """``folder / value`` when ``value`` is a relative path staying inside ``folder``."""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{what} must be a relative path, not {_json_type(value)}")
        return None
    if "\0" in value:
        problems.append(f"{what} {quoted(value)} holds a NUL character")
        return None
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or (
        PureWindowsPath(value).drive
    ):
        problems.append(f"{what} {quoted(value)} must be relative to the plugin folder")
        return None
    target = folder / value
    try:
        inside = target.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        problems.append(f"{what} {quoted(value)} leaves the plugin folder")
        return None
    return target


def _check_contributes(
    value: Any, folder: Path, problems: list[str]
) -> tuple[tuple[str, ...], tuple[AnalyzerDeclaration, ...]]:
    if not isinstance(value, dict):
        problems.append(f"'contributes' must be an object, not {_json_type(value)}")
        return (), ()
    _unknown(value, CONTRIBUTES_KEYS, "in 'contributes'", problems)
    return (
        _check_models(value.get("segmentation_models", []), folder, problems),
        _check_analyzers(value.get("longitudinal_analyzers", []), problems),
    )


def _check_models(value: Any, folder: Path, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        problems.append(
            "'segmentation_models' must be a list of model folders, not " + _json_type(value)
        )
        return ()
    models: list[str] = []
    for item in value:
        target = _relative_inside(item, folder, "model folder", problems)
        if target is None:
            continue
        kind = path_kind(target)
        model_file = path_kind(target / MODEL_FILE) if kind == "folder" else "missing"
        if kind == "missing":
            problems.append(f"model folder {_shown(item)} does not exist")
        elif kind == "unreadable":
            problems.append(f"model folder {_shown(item)} cannot be read")
        elif kind != "folder":
            problems.append(f"model folder {_shown(item)} is not a folder")
        elif model_file == "missing":
            problems.append(f"model folder {_shown(item)} has no {MODEL_FILE}")
        elif model_file != "file":
            problems.append(f"{MODEL_FILE} of model folder {_shown(item)} is not a regular file")
        elif item in models:
            problems.append(f"model folder {_shown(item)} is listed twice")
        else:
            models.append(item)
    return tuple(models)


def _check_analyzers(value: Any, problems: list[str]) -> tuple[AnalyzerDeclaration, ...]:
    if not isinstance(value, list):
        problems.append(
            "'longitudinal_analyzers' must be a list of objects, not " + _json_type(value)
        )
        return ()
    out: list[AnalyzerDeclaration] = []
    for n, item in enumerate(value, 1):
        where = f"longitudinal analyzer {n}"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object, not {_json_type(item)}")
            continue
        before = len(problems)
        _unknown(item, ANALYZER_KEYS, f"in {where}", problems)
        for key in ("id", "name", "entry"):
            if key not in item:
                problems.append(f"{where} has no {key!r}")
        aid = _check_id(item["id"], f"{where} id", problems) if "id" in item else ""
        name = _text(item, "name", problems, required=True)
        description = _text(item, "description", problems)
        entry = item.get("entry")
        if "entry" in item and (not isinstance(entry, str) or not ENTRY_RE.match(entry)):
            problems.append(f"{where} entry {quoted(entry)} is not 'package.module:Attribute'")
        if aid and any(a.id == aid for a in out):
            problems.append(f"longitudinal analyzer id {quoted(aid)} is used twice")
        if len(problems) == before:
            out.append(AnalyzerDeclaration(aid, name, str(entry), description))
    return tuple(out)


def _check_requires(value: Any, problems: list[str]) -> tuple[str, ...]:
    """``requires``: top-level import names (e.g. ``["deepbet"]``), each once."""
    if not isinstance(value, list):
        problems.append(f"'requires' must be a list of Python package import names, "
                        f"not {_json_type(value)}")
        return ()
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(_IDENT, item):
            problems.append(f"'requires' item {quoted(item)} is not a top-level import name "
                            "(e.g. 'deepbet')")
        elif item not in out:
            out.append(item)
    return tuple(out)


def missing_requirements(names: tuple[str, ...] | list[str]) -> list[str]:
    """The names in ``names`` that cannot be imported (checked without importing them)."""
    import importlib.util

    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def requirements_reason(missing: list[str]) -> str:
    """The refusal text for missing packages, naming all of them.  In the bundled app
    (frozen: no pip) it says that this build does not include them instead."""
    plural = "s" if len(missing) > 1 else ""
    names = ", ".join(missing)
    if getattr(sys, "frozen", False):
        return (f"needs the Python package{plural} {names}, which this build of Interval "
                "does not include")
    return f"needs the Python package{plural} {names}: pip install {' '.join(missing)}"


def _check_python(value: Any, folder: Path, problems: list[str]) -> tuple[str | None, Path]:
    default = default_code_path(folder)
    if value is None:
        return None, default
    if not isinstance(value, dict):
        problems.append(f"'python' must be an object, not {_json_type(value)}")
        return None, default
    _unknown(value, PYTHON_KEYS, "in 'python'", problems)
    module = value.get("module")
    if module is not None and (not isinstance(module, str) or not MODULE_RE.match(module)):
        problems.append(f"python module {quoted(module)} is not a Python module name")
        module = None
    code_path = default
    if "path" in value:
        target = _relative_inside(value["path"], folder, "python path", problems)
        if target is not None:
            if path_kind(target) != "folder":
                problems.append(f"python path {quoted(value['path'])} is not a folder")
            else:
                code_path = target
    return module, code_path
