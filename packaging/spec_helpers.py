"""Helpers for packaging/interval.spec: icons, data trees, trimming and licence texts.

Plain Python (no PyInstaller import), so the trimming rules can be read and checked on
their own.  TOC entries are PyInstaller 6's ``(dest_name, src_path, typecode)`` tuples.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

EDITIONS = ("full", "viewer-only")

# never in a bundle: test and development tools, GUI toolkits Interval does not use
_COMMON_EXCLUDES = [
    "tkinter", "_tkinter", "matplotlib", "pytest", "_pytest", "IPython", "jedi", "nibabel",
    "monai", "deepbet", "dcm2niix", "dcmqi", "PyInstaller", "setuptools", "pip", "sphinx",
    "pydicom_data", "xdist", "pytestqt", "pandas", "PySide6.QtTest",
]
# the model runtime: left out of the viewer-only edition
TORCH_MODULES = [
    "torch", "torchvision", "torchaudio", "functorch", "triton", "safetensors.torch",
    "sympy", "mpmath", "networkx",
]
# modules the first-party plugins import that Interval itself may not (plugins are loaded
# from files at run time: the import analysis never sees them)
PLUGIN_IMPORTS = ["statistics", "hashlib", "tempfile", "dataclasses", "json", "warnings"]
# loaded through entry points / by name (pydicom's pixel decoders via pylibjpeg)
ENTRY_POINT_MODULES = ["libjpeg", "openjpeg", "rle", "pylibjpeg"]
ENTRY_POINT_DISTS = ["pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle",
                     "interval"]
# plugin sub-folders that are not needed to run a plugin
PLUGIN_SKIP = {"training", "screenshots", "__pycache__", "build", "dist", ".pytest_cache"}

# Qt plugin folders a desktop viewer never loads (designer, QML, SQL, wayland
# compositor-side integrations, network information/TLS backends ...)
_QT_PLUGIN_DROP = {
    "designer", "qmltooling", "qmllint", "sqldrivers", "networkinformation", "tls",
    "egldeviceintegrations", "generic", "platforminputcontexts", "vectorimageformats",
    "wayland-graphics-integration-server", "printsupport",
}
_DROP_SUFFIXES = (".h", ".hpp", ".cuh", ".hxx", ".a", ".lib", ".pyi", ".cmake", ".pc")
_DROP_SEGMENTS = {"tests", "test", "include", "__pycache__", "cmake", "pkgconfig"}
_TORCH_KEEP = ("torch/bin/torch_shm_manager",)  # torch.multiprocessing's sharing helper
_TORCH_DROP_PREFIXES = ("torch/bin", "torch/share", "torch/test", "torch/include",
                        "torch/utils/benchmark", "torch/_inductor/codegen/cuda",
                        "torch/_inductor/codegen/rocm", "torch/_inductor/kernel",
                        "torch/testing/_internal/opinfo")
_TORCH_DROP_LIBS = ("libtorchbind_test", "libaoti_custom_ops", "libbackend_with_compiler",
                    "libjitbackend_test", "libshm_windows")


def package_version(root: Path) -> str:
    """The version in ``pyproject.toml`` (the same as ``interval.__version__``)."""
    with open(root / "pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def make_icons(png: Path, out_dir: Path) -> dict[str, str]:
    """``{platform: icon path}``: .ico (win32) and .icns (darwin) made from ``png`` with
    Pillow; empty where Pillow is missing (the bundles then get PyInstaller's icon)."""
    try:
        from PIL import Image
    except ImportError:
        print("interval.spec: Pillow is missing: no .ico/.icns icons", file=sys.stderr)
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    icons: dict[str, str] = {}
    with Image.open(png) as image:
        image = image.convert("RGBA")
        ico = out_dir / "interval.ico"
        image.save(ico, sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128),
                               (256, 256)])
        icons["win32"] = str(ico)
        try:
            icns = out_dir / "interval.icns"
            image.resize((512, 512)).save(icns)
            icons["darwin"] = str(icns)
        except (OSError, ValueError) as exc:  # an old Pillow cannot write .icns
            print(f"interval.spec: no .icns icon: {exc}", file=sys.stderr)
    return icons


def tree_datas(folder: Path, dest: str, skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``(file, dest folder)`` pairs for every file under ``folder``, leaving out
    sub-folders named in ``skip``, ``*.egg-info`` and compiled Python files."""
    skip = set(skip) | {"__pycache__"}
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in skip and not d.endswith(".egg-info"))
        rel = Path(dirpath).relative_to(folder)
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            out.append((str(Path(dirpath) / name), str(PurePosixPath(dest, *rel.parts))))
    return out


def common_excludes() -> list[str]:
    """Modules left out of every edition."""
    return list(_COMMON_EXCLUDES)


def package_datas(excludes: Iterable[str]) -> list[tuple[str, str]]:
    """Data files and metadata PyInstaller's hooks do not collect by themselves."""
    from PyInstaller.utils.hooks import collect_data_files, copy_metadata

    out: list[tuple[str, str]] = []
    for dist in ENTRY_POINT_DISTS:  # entry points (pixel decoders) and versions
        try:
            out += copy_metadata(dist)
        except Exception as exc:  # noqa: BLE001 - not installed: that decoder is missing
            print(f"interval.spec: no metadata for {dist}: {exc}", file=sys.stderr)
    for pkg in ("reportlab", "highdicom"):
        out += collect_data_files(pkg, excludes=["**/tests/**", "**/*.py"])
    out += _dejavu_fonts()
    return out


def _dejavu_fonts() -> list[tuple[str, str]]:
    """DejaVu Sans for the PDF report, from matplotlib, without matplotlib's code.

    interval.longitudinal.report_pdf finds the fonts with ``find_spec("matplotlib")``; a
    ``matplotlib/mpl-data/fonts/ttf`` folder in the bundle (no ``__init__``: a namespace
    package) answers that lookup.
    """
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    ttf = Path(list(spec.submodule_search_locations)[0], "mpl-data", "fonts", "ttf")
    names = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LICENSE_DEJAVU")
    return [(str(ttf / n), "matplotlib/mpl-data/fonts/ttf") for n in names if (ttf / n).is_file()]


def _dest_parts(dest: str) -> tuple[str, ...]:
    return PurePosixPath(dest.replace("\\", "/")).parts


def keep_entry(dest: str, with_torch: bool) -> bool:
    """Whether a bundled file (its path inside the bundle) is kept."""
    parts = _dest_parts(dest)
    posix = "/".join(parts)
    name = parts[-1] if parts else ""
    if posix.startswith("licenses/") or posix.startswith("plugins/"):
        return True
    if name.endswith(_DROP_SUFFIXES):
        return False
    if any(p in _DROP_SEGMENTS for p in parts[:-1]):
        return False
    if posix.startswith("PySide6/Qt/translations") or posix.startswith("PySide6/Qt/qml"):
        return False
    if posix.startswith(("PySide6/typesystems", "PySide6/glue", "PySide6/include",
                         "PySide6/scripts")):
        return False
    if posix.startswith("PySide6/Qt/plugins/"):
        group = parts[3] if len(parts) > 3 else ""
        if group in _QT_PLUGIN_DROP:
            return False
    if posix.startswith("torch/"):
        if not with_torch:
            return False
        if posix.startswith(_TORCH_KEEP):
            return True
        if posix.startswith(_TORCH_DROP_PREFIXES):
            return False
        if name.startswith(_TORCH_DROP_LIBS):
            return False
    return True


def trim(binaries: list, datas: list, with_torch: bool) -> tuple[list, list]:
    """The TOCs without what :func:`keep_entry` drops; prints the bytes saved."""
    saved = 0
    kept_out = []
    for toc in (binaries, datas):
        kept = []
        for entry in toc:
            if keep_entry(entry[0], with_torch):
                kept.append(entry)
            else:
                with contextlib.suppress(OSError):
                    saved += os.path.getsize(entry[1])
        kept_out.append(kept)
    print(f"interval.spec: trimmed {saved / 1e6:.1f} MB (tests, headers, unused Qt "
          f"plugins and translations, torch test/dev parts)", file=sys.stderr)
    return kept_out[0], kept_out[1]


def _metadata_notice(dist: md.Distribution, out_dir: Path) -> Path:
    """A text file with the licence a distribution declares in its metadata (for those
    that ship no licence file, e.g. PySide6: LGPL-3.0 / GPL)."""
    from interval.about_info import licence_identifier

    meta = dist.metadata
    lines = [f"{meta.get('Name')} {meta.get('Version')}",
             f"License: {licence_identifier(meta)}"]
    for key in ("Home-page", "Project-URL"):
        lines += [f"{key}: {v}" for v in meta.get_all(key) or []]
    lines.append("(no licence file in the distribution: see its home page for the full text)")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "LICENSE-from-metadata.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def license_datas(pure: list, binaries: list, datas: list,
                  work_dir: Path) -> list[tuple[str, str, str]]:
    """Licence texts of the distributions whose code is in the bundle, as DATA entries
    ``licenses/<distribution>/<file>``, plus Python's own licence; a distribution with
    no licence file gets the licence its metadata declares (written under ``work_dir``)."""
    from interval.about_info import is_licence_file

    tops = {entry[0].split(".")[0] for entry in pure}
    for entry in list(binaries) + list(datas):
        parts = _dest_parts(entry[0])
        if parts:
            tops.add(parts[0].split(".")[0])
    by_top = md.packages_distributions()
    dists = sorted({d for top in tops for d in by_top.get(top, ())})
    out: list[tuple[str, str, str]] = []
    for name in dists:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for f in dist.files or ():
            rel = PurePosixPath(str(f).replace("\\", "/"))
            if not is_licence_file(rel):  # the About dialog's rule, so both list the same
                continue
            base = rel.name
            src = Path(str(dist.locate_file(f)))
            if src.is_file():
                out.append((f"licenses/{name}/{base}", str(src), "DATA"))
        if not any(e[0].startswith(f"licenses/{name}/") for e in out):
            notice = _metadata_notice(dist, work_dir / "licenses" / name)
            out.append((f"licenses/{name}/{notice.name}", str(notice), "DATA"))
    for cand in (Path(sys.base_prefix, "LICENSE.txt"),
                 Path(sys.base_prefix, "lib", f"python{sys.version_info[0]}."
                      f"{sys.version_info[1]}", "LICENSE.txt")):
        if cand.is_file():
            out.append(("licenses/Python/LICENSE.txt", str(cand), "DATA"))
            break
    print(f"interval.spec: licence texts of {len(dists)} distributions", file=sys.stderr)
    return out
