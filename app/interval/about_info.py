"""What Help > About shows: version, build date, edition, capabilities and the licences
of the bundled components, read from package metadata (never typed by hand).

* :func:`collect_licences` walks the requirements of the ``interval`` distribution
  (recursively, following the extras a requirement asks for; the ``test`` extra and
  build tools are left out) and reads each installed distribution's licence
  identifier, homepage and the licence files it ships.
* :func:`write_build_info` writes all of it as ``build_info.json`` at build time
  (the installer's build script puts it into the bundle).
* :func:`build_info` returns, at run time, the bundled file in a frozen build, else
  the same information computed live for a ``"development"`` checkout.

No Qt here; the dialog is :mod:`interval.ui.about_dialog`.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import importlib.util
import json
import platform
import re
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import interval
from interval.core.atomic import atomic_open

APP_NAME = "Interval"
DIST_NAME = "interval"
BUILD_INFO_NAME = "build_info.json"
EDITIONS = ("full", "viewer-only", "development")
NOT_BUILT = "not a built bundle"
# never bundled: installers, build backends, linters and test runners
BUILD_TOOLS = frozenset(
    canonicalize_name(n)
    for n in (
        "pip", "setuptools", "wheel", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph",
        "pytest", "pytest-qt", "pytest-xdist", "pytest-timeout", "execnet", "iniconfig",
        "pluggy", "ruff", "build", "twine",
    )
)
LICENCE_FILE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
MAX_FILE_CHARS = 100_000  # one licence file (longer ones are cut, with a note)
MAX_DIST_CHARS = 400_000  # all licence files of one distribution
MAX_DIST_FILES = 200
# distributions a viewer-only bundle leaves out (with what only they need)
EDITION_EXCLUDES = {"viewer-only": frozenset({"torch"})}
_BINARY_SUFFIXES = frozenset({".py", ".pyc", ".pyi", ".so", ".pyd", ".dll", ".dylib", ".qml"})


def app_version() -> str:
    """The installed ``interval`` distribution's version (else ``interval.__version__``)."""
    try:
        return md.version(DIST_NAME)
    except md.PackageNotFoundError:
        return interval.__version__


def _distribution(name: str) -> md.Distribution | None:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def _marker_holds(marker: Marker | None, extras: set[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def dependency_distributions(
    root: str = DIST_NAME, exclude: Iterable[str] = ()
) -> list[md.Distribution]:
    """The installed distributions ``root`` needs, recursively (``root`` itself, build
    tools and ``exclude`` left out, as is what only they need; extras only where a
    requirement asks for them, e.g. ``pkg[x]``)."""
    skip = BUILD_TOOLS | {canonicalize_name(n) for n in exclude}
    root_dist = _distribution(root)
    if root_dist is None:
        return []
    found: dict[str, md.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[md.Distribution, frozenset[str]]] = [(root_dist, frozenset())]
    while todo:
        dist, extras = todo.pop()
        for line in dist.requires or ():
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if not _marker_holds(req.marker, set(extras)):
                continue
            key = canonicalize_name(req.name)
            if key in skip or key == canonicalize_name(root):
                continue
            child = _distribution(req.name)
            if child is None:  # optional or platform-specific, not installed here
                continue
            found.setdefault(key, child)
            state = (key, frozenset(req.extras))
            if state not in seen:
                seen.add(state)
                todo.append((child, frozenset(req.extras)))
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"] or ""))


def licence_identifier(meta: Any) -> str:
    """License-Expression, else a short License field, else the License classifiers."""
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 120 and field.upper() != "UNKNOWN":
        return field
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or ()
        if c.startswith("License ::")
    ]
    if classifiers:
        return " OR ".join(dict.fromkeys(classifiers))
    return field.splitlines()[0][:120] if field else "unknown"


def _homepage(meta: Any) -> str:
    """The Home-page, else the Project-URL labelled home page / source / repository."""
    home = (meta.get("Home-page") or "").strip()
    if home and home.upper() != "UNKNOWN":
        return home
    urls: list[tuple[str, str]] = []
    for entry in meta.get_all("Project-URL") or ():
        label, _, url = entry.partition(",")
        urls.append((re.sub(r"[^a-z]", "", label.lower()), url.strip()))
    for wanted in ("homepage", "home", "source", "sourcecode", "code", "repository"):
        for label, url in urls:
            if label == wanted and url:
                return url
    return urls[0][1] if urls else ""


def is_licence_file(path: PurePosixPath) -> bool:
    """Whether a file a distribution installs (path as in its RECORD) is a licence text."""
    if path.suffix.lower() in _BINARY_SUFFIXES:
        return False
    in_licences = any(p.endswith(".dist-info") for p in path.parts[:1]) and "licenses" in path.parts
    return in_licences or path.name.upper().startswith(LICENCE_FILE_PREFIXES)


def _read_capped(path: Path, limit: int) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(limit + 1)
    except OSError:
        return None
    if len(text) > limit:
        text = text[:limit] + "\n\n[… cut: the full text is in the file named above]"
    return text


def licence_files(dist: md.Distribution) -> list[dict[str, str]]:
    """The licence files ``dist`` ships (name and text, sizes capped)."""
    out: list[dict[str, str]] = []
    budget = MAX_DIST_CHARS
    candidates = [
        (PurePosixPath(str(entry).replace("\\", "/")), entry) for entry in dist.files or ()
    ]
    candidates = [(pure, entry) for pure, entry in candidates if is_licence_file(pure)]
    for n, (pure, entry) in enumerate(candidates):
        if len(out) >= MAX_DIST_FILES or budget <= 0:
            rest = "\n".join(str(p) for p, _ in candidates[n:])
            out.append({"name": f"({len(candidates) - n} more licence files)",
                        "text": "Not included here; they are installed with the package:\n"
                                + rest})
            break
        text = _read_capped(Path(entry.locate()), min(MAX_FILE_CHARS, budget))
        if text is None or "\x00" in text:
            continue
        budget -= len(text)
        out.append({"name": str(pure), "text": text})
    return out


def licence_entry(dist: md.Distribution) -> dict[str, Any]:
    """One component: name, version, licence identifier, homepage, licence files."""
    meta = dist.metadata
    files = licence_files(dist)
    field = (meta.get("License") or "").strip()
    if not files and "\n" in field:  # the whole licence text in the metadata
        files = [{"name": "License (package metadata)", "text": field[:MAX_FILE_CHARS]}]
    return {
        "name": meta["Name"] or "",
        "version": dist.version,
        "licence": licence_identifier(meta),
        "homepage": _homepage(meta),
        "licence_files": files,
    }


def _python_entry() -> dict[str, Any]:
    """The interpreter itself (its LICENSE.txt from the standard library folder)."""
    path = Path(sysconfig.get_path("stdlib")) / "LICENSE.txt"
    text = _read_capped(path, MAX_FILE_CHARS) if path.is_file() else None
    return {
        "name": "Python",
        "version": platform.python_version(),
        "licence": "PSF-2.0",
        "homepage": "https://www.python.org",
        "licence_files": [{"name": "LICENSE.txt", "text": text}] if text else [],
    }


def collect_licences(exclude: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every bundled component (the Python interpreter and each distribution Interval
    needs, less ``exclude``) with its version, licence identifier, homepage and licence
    texts."""
    return [_python_entry()] + [licence_entry(d) for d in dependency_distributions(
        exclude=exclude)]


def _torch_capability() -> str | None:
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        version = md.version("torch")
    except md.PackageNotFoundError:
        version = "unknown version"
    base, _, local = version.partition("+")
    cuda = re.fullmatch(r"cu(\d+)(\d)", local)
    if local == "cpu":
        devices = "CPU"
    elif cuda:
        devices = f"CPU/CUDA {cuda.group(1)}.{cuda.group(2)}"
    elif any((d.metadata["Name"] or "").lower().startswith("nvidia-cuda-runtime")
             for d in md.distributions()):
        devices = "CPU/CUDA"
    elif sys.platform == "darwin":
        devices = "CPU/Apple MPS"
    else:
        devices = "CPU"
    return f"AI models (PyTorch {base}, {devices}): segmentation plugins and growth forecasts"


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def capabilities(with_ai: bool = True) -> list[str]:
    """What this installation can do, as plain sentences (from what is importable; no
    AI line when ``with_ai`` is false or torch is not importable)."""
    caps = ["Command line: DICOM reading, indexing and conversion (NIfTI, NRRD, MetaImage)"]
    if _has("PySide6") and _has("vtk"):
        caps.append("Viewer: study browser, 2-D, MPR and 3-D views, measurements, "
                    "segmentation overlays")
    if _has("SimpleITK"):
        caps.append("Longitudinal tracking and workspace: registration, lesion matching, "
                    "RECIST 1.1")
    if _has("reportlab") and _has("highdicom"):
        caps.append("Reports: HTML, PDF, JSON, CSV, DICOM SEG and SR")
    ai = _torch_capability() if with_ai else None
    if ai:
        caps.append(ai)
    return caps


def _app_licence() -> str:
    dist = _distribution(DIST_NAME)
    return licence_identifier(dist.metadata) if dist is not None else "Apache-2.0"


def compute_build_info(
    edition: str, build_date: str | None, exclude: Iterable[str] = ()
) -> dict[str, Any]:
    """The build information of this environment (what :func:`write_build_info` writes);
    the edition's own exclusions (torch for ``"viewer-only"``) are added to ``exclude``."""
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {', '.join(EDITIONS)}, not {edition!r}")
    excluded = {canonicalize_name(n) for n in (*exclude, *EDITION_EXCLUDES.get(edition, ()))}
    return {
        "app": APP_NAME,
        "version": app_version(),
        "build_date": build_date,
        "edition": edition,
        "app_licence": _app_licence(),
        "capabilities": capabilities(with_ai="torch" not in excluded),
        "licences": collect_licences(excluded),
    }


def write_build_info(path: str | Path, edition: str, exclude: Iterable[str] = ()) -> Path:
    """Write ``build_info.json`` (``path``: the file, or a folder to hold it) atomically,
    dated now (UTC); the build script calls this and bundles the file.  ``exclude``:
    distributions the bundle leaves out (besides the edition's own, see
    :data:`EDITION_EXCLUDES`)."""
    path = Path(path)
    if path.is_dir():
        path = path / BUILD_INFO_NAME
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    info = compute_build_info(edition, now, exclude)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    return path


def is_frozen() -> bool:
    """True in a bundled (PyInstaller) build."""
    return bool(getattr(sys, "frozen", False))


def bundle_dirs() -> list[Path]:
    """The folders of a frozen build where bundled files lie (``_MEIPASS``, the executable's)."""
    dirs: list[Path] = []
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        dirs.append(Path(meipass))
    exe_dir = Path(sys.executable).resolve().parent
    dirs += [exe_dir, exe_dir / "_internal"]
    return list(dict.fromkeys(dirs))


def bundled_file(name: str) -> Path | None:
    """``name`` in a frozen build's folders (None when not frozen or not there)."""
    if not is_frozen():
        return None
    for folder in bundle_dirs():
        if (folder / name).is_file():
            return folder / name
    return None


_live_cache: dict[str, Any] | None = None


def build_info() -> dict[str, Any]:
    """The bundled ``build_info.json`` in a frozen build; else (or when it is missing or
    unreadable) the information computed live, edition ``"development"``, no build date."""
    global _live_cache
    path = bundled_file(BUILD_INFO_NAME)
    if path is not None:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(info, dict):
                return info
        except (OSError, ValueError):
            pass
    if _live_cache is None:
        _live_cache = compute_build_info("development", None)
    return _live_cache


def build_date_text(info: dict[str, Any]) -> str:
    """The build date to show ("not a built bundle" for a development checkout)."""
    return str(info.get("build_date") or NOT_BUILT)


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


USER_GUIDE_HEADINGS = ("user guide", "getting started")


def user_guide_anchor(readme: Path) -> str:
    """The anchor of the README's user-guide section ("" when it has none)."""
    try:
        lines = readme.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    headings = [ln.lstrip("#").strip() for ln in lines if re.match(r"#{1,3} ", ln)]
    for wanted in USER_GUIDE_HEADINGS:
        for heading in headings:
            if wanted in heading.lower():
                return _slug(heading)
    return ""


def _project_url() -> str:
    dist = _distribution(DIST_NAME)
    return _homepage(dist.metadata) if dist is not None else ""


def user_guide_location() -> tuple[Path | str, str] | None:
    """Where the user guide is: (README path, section anchor), or (project URL, "")
    when no README is at hand; None when neither is known.

    A frozen build's bundled README.md, else the repository's README beside ``app/``.
    """
    readme = bundled_file("README.md")
    if readme is None and not is_frozen():
        candidate = Path(interval.__file__).resolve().parents[2] / "README.md"
        readme = candidate if candidate.is_file() else None
    if readme is not None:
        return readme, user_guide_anchor(readme)
    url = _project_url()
    return (url, "") if url else None


def about_text(info: dict[str, Any]) -> str:
    """The About information as plain text (what the dialog's Copy button copies)."""
    lines = [
        f"{info.get('app', APP_NAME)} {info.get('version', '')}",
        f"Build date: {build_date_text(info)}",
        f"Edition: {info.get('edition', '')}",
        f"Licence: {info.get('app_licence', '')}",
        f"Platform: {platform.platform()}",
        "",
        "Capabilities:",
        *(f"- {c}" for c in info.get("capabilities", [])),
        "",
        "Components:",
        *(f"- {c.get('name', '')} {c.get('version', '')}: {c.get('licence', '')}"
          for c in info.get("licences", [])),
    ]
    return "\n".join(lines)
