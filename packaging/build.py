"""Build Interval's one-folder bundles with PyInstaller (packaging/interval.spec).

    python packaging/build.py [--edition full|viewer-only|both] [--no-archive]

Uses the Python that runs it (the project's .venv in a checkout): PyInstaller is
pip-installed into it when missing (the ``packaging`` extra of pyproject.toml).  For each
edition it writes ``build_info.json`` (version, date, edition, licences), runs PyInstaller,
adds a Linux ``.desktop`` file and icon, packs ``dist/interval-<edition>.tar.gz`` and
prints the sizes.  Output: ``dist/interval-<edition>/`` (macOS: also ``dist/Interval.app``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "interval.spec"
ICON = ROOT / "packaging" / "icons" / "interval.png"
EDITIONS = ("full", "viewer-only")
DESKTOP = """[Desktop Entry]
Type=Application
Name=Interval
GenericName=DICOM viewer
Comment=Clinical imaging viewer with AI plugins ({edition} edition)
TryExec=interval
Exec=interval view %f
Icon=interval
Terminal=false
Categories=Graphics;MedicalSoftware;Science;
"""


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symbolic links not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(dirpath, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def ensure_pyinstaller() -> None:
    """pip-install PyInstaller into this interpreter's environment when it is missing."""
    if importlib.util.find_spec("PyInstaller") is not None:
        return
    print("build: installing PyInstaller (the 'packaging' extra)", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "pyinstaller>=6.0"], check=True)


def write_build_info(work: Path, edition: str) -> Path | None:
    """build_info.json for ``edition`` (None, with a note, where interval cannot write it)."""
    sys.path.insert(0, str(ROOT / "app"))
    try:
        from interval.about_info import write_build_info as write
    except ImportError as exc:
        print(f"build: WARNING no build_info.json ({exc})", flush=True)
        return None
    work.mkdir(parents=True, exist_ok=True)
    return write(work / "build_info.json", edition)


def run_pyinstaller(edition: str, dist: Path, work: Path, build_info: Path | None) -> None:
    env = dict(os.environ, INTERVAL_EDITION=edition,
               INTERVAL_BUILD_INFO=str(build_info or ""))
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    print("build:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)


def add_desktop_file(bundle: Path, edition: str) -> None:
    """interval.desktop, interval.png and install-desktop-entry.sh in the bundle (Linux).

    The .desktop file names ``interval`` and icon ``interval`` (a package installs them
    on PATH and in the icon theme); ``install-desktop-entry.sh`` writes a per-user copy
    with this folder's absolute paths instead.
    """
    shutil.copy2(ICON, bundle / "interval.png")
    (bundle / "interval.desktop").write_text(DESKTOP.format(edition=edition), encoding="utf-8")
    script = bundle / "install-desktop-entry.sh"
    shutil.copy2(ROOT / "packaging" / "install-desktop-entry.sh", script)
    script.chmod(0o755)


# libraries built with their symbol tables (stripping saves about a third of VTK); never
# the auditwheel-patched ones in *.libs/ (strip breaks their ELF layout)
STRIP_GLOBS = ("_internal/vtkmodules/*.so", "_internal/vtkmodules/*.so.*",
               "_internal/torch/lib/*.so", "_internal/torch/lib/*.so.*")


def strip_libraries(bundle: Path) -> float:
    """``strip --strip-unneeded`` the libraries in :data:`STRIP_GLOBS` (Linux, when
    ``strip`` is installed); returns the MB saved."""
    tool = shutil.which("strip")
    if tool is None or not sys.platform.startswith("linux"):
        return 0.0
    saved = 0
    for pattern in STRIP_GLOBS:
        for lib in sorted(bundle.glob(pattern)):
            if lib.is_symlink() or not lib.is_file():
                continue
            before = lib.stat().st_size
            tmp = lib.with_name(lib.name + ".strip")
            done = subprocess.run([tool, "--strip-unneeded", "-o", str(tmp), str(lib)],
                                  capture_output=True)
            if done.returncode == 0 and tmp.is_file():
                tmp.replace(lib)
                saved += before - lib.stat().st_size
            else:
                tmp.unlink(missing_ok=True)
    return saved / 1e6


def make_archive(bundle: Path) -> Path:
    archive = bundle.with_name(bundle.name + ".tar.gz")
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=bundle.name)
    return archive


def build(edition: str, archive: bool, strip: bool = True) -> dict[str, float]:
    """Build one edition; returns its sizes in MB and the build time in seconds."""
    start = time.monotonic()
    dist = ROOT / "dist"
    work = ROOT / "build" / edition
    info = write_build_info(work, edition)
    run_pyinstaller(edition, dist, work, info)
    bundle = dist / f"interval-{edition}"
    sizes = {"pyinstaller_mb": folder_bytes(bundle) / 1e6}
    if strip:
        sizes["stripped_mb"] = strip_libraries(bundle)
    if sys.platform.startswith("linux"):
        add_desktop_file(bundle, edition)
    sizes["unpacked_mb"] = folder_bytes(bundle) / 1e6
    if archive:
        sizes["archive_mb"] = make_archive(bundle).stat().st_size / 1e6
    sizes["seconds"] = time.monotonic() - start
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", choices=(*EDITIONS, "both"), default="both")
    parser.add_argument("--no-archive", action="store_true", help="skip the .tar.gz")
    parser.add_argument("--no-strip", action="store_true",
                        help="keep the symbol tables of VTK's and torch's libraries")
    args = parser.parse_args(argv)
    ensure_pyinstaller()
    editions = EDITIONS[::-1] if args.edition == "both" else (args.edition,)
    results = {e: build(e, not args.no_archive, not args.no_strip) for e in editions}
    for edition, sizes in results.items():
        text = ", ".join(f"{k} {v:.1f}" for k, v in sizes.items())
        print(f"build: interval-{edition}: {text}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
