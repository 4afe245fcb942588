"""One load-benchmark contender, run in its own fresh process by ``bench_load.py``.

Usage: ``python _bench_contenders.py NAME FOLDER``.  Imports the contender's
libraries, notes the resident memory (the baseline: interpreter + imports),
runs the contender once, and prints one ``RESULT {json}`` line: wall time of
the work itself (imports excluded), peak RSS above the baseline, phases, and
a checksum of the volume (sum/min/max in Hounsfield units) so the driver can
check that everybody read the same values.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_series import series_files  # noqa: E402


def _rss() -> int:
    with open("/proc/self/statm") as fp:
        return int(fp.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak(who: int = resource.RUSAGE_SELF) -> int:
    return resource.getrusage(who).ru_maxrss * 1024  # KiB on Linux


def _checksum(volume: np.ndarray) -> dict:
    return {
        "shape": list(volume.shape),
        "dtype": str(volume.dtype),
        "sum": float(volume.sum(dtype=np.float64)),
        "min": float(volume.min()),
        "max": float(volume.max()),
    }


# --- contenders: each returns (result dict, volume or None) ----------------------------


def run_raw(folder: str) -> dict:
    """Floor: pixel bytes at the end of each file read into one preallocated array."""
    files = series_files(Path(folder))
    first = pydicom_rows_cols(files[0])
    rows, cols = first
    frame = rows * cols * 2
    t0 = time.perf_counter()
    out = np.empty((len(files), rows, cols), dtype=np.uint16)
    for i, path in enumerate(files):
        with open(path, "rb", buffering=0) as fp:
            fp.seek(-frame, os.SEEK_END)
            fp.readinto(memoryview(out[i]).cast("B"))
    t1 = time.perf_counter()
    hu = _checksum(out)
    hu.update(
        sum=hu["sum"] - 1024.0 * out.size,
        min=hu["min"] - 1024,
        max=hu["max"] - 1024,
        dtype="uint16 (stored)",
    )
    return {"time": t1 - t0, "check": hu, "note": "no header parse, no sort, no rescale"}


def pydicom_rows_cols(path: str) -> tuple[int, int]:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return int(ds.Rows), int(ds.Columns)


def run_interval(folder: str) -> dict:
    from interval.io.dicom import index as index_module

    try:
        from interval.io.dicom.load import choose_stack, load_stack

        mode = "index_folder + load_stack (load_dicom)"
    except ImportError:  # loader not written yet
        choose_stack = load_stack = None
        mode = "index_folder + read_pixels of frames sorted by z (load.py missing)"
    from interval.io.dicom.pixels import read_pixels

    base = _rss()
    t0 = time.perf_counter()
    idx = index_module.index_folder(folder)
    t1 = time.perf_counter()
    if load_stack is not None:
        stack = choose_stack(idx, None, folder)
        volume = load_stack(stack)
        array = volume.array
    else:
        stack = next(idx.iter_stacks())
        frames = sorted(stack.frames, key=lambda f: f.info.position[2])
        array = read_pixels(frames)
    t2 = time.perf_counter()
    peak = _peak() - base
    check = _checksum(array)
    n_files = sum(1 for _ in idx.iter_stacks() for _f in _.frames)
    del array
    index_module.shutdown_workers()
    import multiprocessing

    deadline = time.time() + 5
    while multiprocessing.active_children() and time.time() < deadline:
        time.sleep(0.05)
    workers = _peak(resource.RUSAGE_CHILDREN)
    return {
        "time": t2 - t0,
        "phases": {"index": t1 - t0, "pixels": t2 - t1},
        "peak": peak,
        "workers_peak": workers,
        "check": check,
        "note": f"{mode}; {n_files} frames indexed",
    }


def run_interval_index(folder: str) -> dict:
    from interval.io.dicom import index as index_module

    base = _rss()
    t0 = time.perf_counter()
    idx = index_module.index_folder(folder)
    t1 = time.perf_counter()
    peak = _peak() - base
    n = sum(len(s.frames) for s in idx.iter_stacks())
    index_module.shutdown_workers()
    return {
        "time": t1 - t0,
        "peak": peak,
        "note": f"index_folder, {n} frames, {len(idx.skipped)} skipped",
    }


def run_pydicom_headers(folder: str) -> dict:
    import pydicom

    base = _rss()
    t0 = time.perf_counter()
    files = series_files(Path(folder))
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    t1 = time.perf_counter()
    return {
        "time": t1 - t0,
        "peak": _peak() - base,
        "note": f"listdir + dcmread(stop_before_pixels=True) x {len(headers)}",
    }


def run_pydicom(folder: str) -> dict:
    import pydicom

    base = _rss()
    t0 = time.perf_counter()
    files = series_files(Path(folder))
    datasets = [pydicom.dcmread(f) for f in files]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    volume = np.stack(
        [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets]
    )
    t1 = time.perf_counter()
    return {
        "time": t1 - t0,
        "peak": _peak() - base,
        "check": _checksum(volume),
        "note": "dcmread all, sort by z, np.stack(pixel_array*slope+intercept)",
    }


def run_sitk(folder: str) -> dict:
    import SimpleITK as sitk

    base = _rss()
    t0 = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(folder)
    t1 = time.perf_counter()
    reader.SetFileNames(names)
    image = reader.Execute()
    volume = sitk.GetArrayViewFromImage(image)
    t2 = time.perf_counter()
    return {
        "time": t2 - t0,
        "phases": {"names": t1 - t0, "read": t2 - t1},
        "peak": _peak() - base,
        "check": _checksum(volume),
        "note": f"GetGDCMSeriesFileNames + ImageSeriesReader ({image.GetPixelIDTypeAsString()})",
    }


def run_dcm2niix(folder: str) -> dict:
    exe = shutil.which("dcm2niix")
    if exe is None:
        return {"skip": "dcm2niix not installed"}
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [exe, "-z", "n", "-b", "n", "-o", out, "-f", "vol", folder],
            capture_output=True,
            text=True,
        )
        t1 = time.perf_counter()
        if proc.returncode != 0:
            return {"skip": f"dcm2niix failed ({proc.returncode})"}
        check = None
        try:
            import nibabel as nib

            img = nib.load(next(Path(out).glob("*.nii")))
            check = _checksum(np.asarray(img.dataobj))  # nibabel applies scl_slope/inter
            check["dtype"] = f"{img.get_data_dtype()} on disk"
        except Exception:  # noqa: BLE001 - checksum is a courtesy
            pass
    return {
        "time": t1 - t0,
        "peak": _peak(resource.RUSAGE_CHILDREN),
        "check": check,
        "note": "separate process: DICOM -> NIfTI file (writes 200 MB; peak is its own RSS)",
    }


CONTENDERS = {
    "raw": run_raw,
    "interval": run_interval,
    "interval-index": run_interval_index,
    "pydicom-headers": run_pydicom_headers,
    "pydicom": run_pydicom,
    "sitk": run_sitk,
    "dcm2niix": run_dcm2niix,
}

# libraries a contender imports before its baseline is taken
_IMPORTS = {
    "interval": ["interval.io.dicom.index", "interval.io.dicom.load", "interval.io.dicom.pixels"],
    "interval-index": ["interval.io.dicom.index"],
    "pydicom": ["pydicom", "pydicom.pixels"],
    "pydicom-headers": ["pydicom"],
    "raw": ["pydicom"],
    "sitk": ["SimpleITK"],
}


def main() -> None:
    name, folder = sys.argv[1], sys.argv[2]
    import importlib

    for module in _IMPORTS.get(name, []):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    base = _rss()
    result = CONTENDERS[name](folder)
    result.setdefault("peak", _peak() - base)
    result["baseline"] = base
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
