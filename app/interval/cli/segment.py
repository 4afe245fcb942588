"""``interval segment PATH --model NAME -o seg.nii.gz [--dicom-seg seg.dcm]``: run a model.

Loads one series (as ``interval convert`` does), runs the segmentation model in a
separate process (a crash, hang or out-of-memory there cannot take this command
down with a traceback), and writes the label map as NIfTI/NRRD/MetaImage with its
label names beside it (``<stem>.labels.json``) and, for DICOM input, as a DICOM SEG
referencing the source series.  Prints where the time went.  Outputs are written
atomically and never over an input file.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.cli.progress import ProgressBar, progress_wanted
from interval.core.errors import IntervalError

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
# engine timing keys, in pipeline order, and how the table names them
_STAGES = (
    ("find_model", "find model"),
    ("read", "read"),
    ("load_model", "load model"),
    ("reorient", "reorient"),
    ("resample", "resample"),
    ("normalise", "normalise"),
    ("normalize", "normalise"),
    ("pad", "pad"),
    ("window_setup", "window setup"),
    ("network", "network"),
    ("stitch", "stitch"),
    ("check_finite", "check finite"),
    ("argmax", "argmax"),
    ("resample_back", "resample back"),
    ("postprocess", "postprocess"),
    ("engine_other", "engine, other"),
    ("process", "model process"),
    ("write", "write"),
    ("write_seg", "write SEG"),
    ("other", "other"),
)


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``segment`` subcommand."""
    p = subparsers.add_parser(
        "segment",
        parents=parents,
        help="segment a series with an AI model and save the label map (NIfTI, DICOM SEG)",
        description=(
            "Load one image stack from PATH (DICOM folder or file, or an image file), run the "
            "segmentation model NAME on it in a separate process, and save the label map to OUT "
            "(format from the extension) with its label names in OUT's .labels.json. With "
            "--dicom-seg (DICOM input only) also save a DICOM SEG that references the source "
            "series. 'interval plugins' lists the models."
        ),
    )
    p.add_argument("path", metavar="PATH", help="DICOM folder, DICOM file, or NIfTI/NRRD/MHA file")
    p.add_argument("--model", metavar="NAME", required=True,
                   help="model name (or plugin_id:name) from 'interval plugins', or the path "
                   "of a model package folder (holding model.json)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="label map to write: .nii.gz, .nii, .nrrd or .mha")
    p.add_argument("--dicom-seg", metavar="SEG", default=None,
                   help="also write a DICOM SEG file referencing the source series")
    p.add_argument("--series", metavar="UID", default=None,
                   help="stack uid, series instance UID or series number (needed when PATH "
                   "holds several)")
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="auto (default: CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--overlap", type=float, default=None, metavar="F",
                   help="sliding-window overlap, 0 <= F < 1 (default: the model's)")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="mirror test-time augmentation (slower; default: the model's setting)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop the model after S seconds")
    p.add_argument("--memory-limit", metavar="SIZE", default=None,
                   help="the most memory the model may use, e.g. 8G or 512M, or 'none' "
                   "(default: $INTERVAL_MODEL_MEMORY_LIMIT, else three quarters of this "
                   "computer's memory, leaving at least 2 GiB)")
    p.add_argument("--in-process", action="store_true",
                   help="run the model in this process (for debugging; a crash then ends the "
                   "command)")
    p.add_argument("--force", action="store_true", help="replace output files that exist")
    p.set_defaults(func=run_segment)


@dataclass
class _Model:
    """The model to run: its package folder, parsed spec, and where it came from."""

    folder: Path
    spec: Any
    plugin_id: str = ""
    code_path: Path | None = None
    label: str = ""


@dataclass
class _Timer:
    stages: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + float(seconds)


def run_segment(args: argparse.Namespace) -> int:
    """Load, segment (in a child process), write; 0 on success."""
    from interval.ai.model_runtime import require_model_runtime
    from interval.cli.convert import _check_target, load_series
    from interval.io.dicom.policy import DEFAULT_POLICY
    from interval.io.image_files import SUPPORTED_TEXT, image_extension

    src = Path(args.path)
    out = Path(args.output)
    seg_out = Path(args.dicom_seg) if args.dicom_seg else None
    require_model_runtime()  # the viewer-only edition: a plain message, no import error
    _check_options(args)
    if image_extension(out) is None:
        raise IntervalError(f"cannot tell the output format of {out.name}; use {SUPPORTED_TEXT}")
    if seg_out is not None and _same_path(seg_out, out):
        raise IntervalError("the label map and the DICOM SEG need different file names")
    if seg_out is not None and image_extension(src) is not None:
        raise IntervalError("--dicom-seg needs DICOM input (the SEG references the source images)")
    sidecar = _sidecar_path(out)
    for target in (out, seg_out, sidecar):
        if target is not None:
            _check_target(target, {src}, force=args.force)
    t_start = time.perf_counter()
    timer = _Timer()
    show = progress_wanted(getattr(args, "progress", False))
    process = None
    if not args.in_process:  # the child imports torch and the engine while we read
        from interval.ai.runner import start_segmentation_process

        process = start_segmentation_process()
    try:
        t0 = time.perf_counter()
        model = find_model(args)
        timer.add("find_model", time.perf_counter() - t0)
        t0 = time.perf_counter()
        targets = [t for t in (out, seg_out, sidecar) if t is not None]

        def check_sources(files: set[Path]) -> None:  # before any pixel is read
            for target in targets:
                _check_target(target, files | {src}, force=args.force)

        volume, files = load_series(
            src, args.series, DEFAULT_POLICY, show, check_sources=check_sources
        )
        sources = sorted(files)
        timer.add("read", time.perf_counter() - t0)
        if seg_out is not None and not sources:
            raise IntervalError(
                "--dicom-seg needs DICOM input (the SEG references the source images)")
        _check_modality(model, volume)
        t_run = time.perf_counter()
        result = _segment(volume, model, args, show, process)
        engine_total = time.perf_counter() - t_run
    finally:
        if process is not None:
            process.close()
    timings = {k: float(v) for k, v in (getattr(result, "timings", None) or {}).items()
               if k != "total"}
    for key, seconds in timings.items():
        timer.add(key, seconds)
    timer.add("process", max(engine_total - sum(timings.values()), 0.0))

    labels = result.labels
    written = write_outputs(labels, out, sidecar, seg_out, sources, model, timer)

    for warning in getattr(result, "warnings", None) or ():
        sys.stderr.write(f"warning: {warning}\n")
    text = summary(labels, model, getattr(result, "device", ""))
    timer.add("other", max(time.perf_counter() - t_start - sum(timer.stages.values()), 0.0))
    sys.stdout.write(text)
    sys.stdout.write(timing_table(timer.stages))
    for path in written:
        sys.stdout.write(f"Wrote {path}\n")
    return 0


def _check_options(args: argparse.Namespace) -> None:
    if not _DEVICE.match(str(args.device).strip().lower()):
        raise IntervalError(f"unknown device {args.device!r}; use auto, cpu, cuda, cuda:N or mps")
    if args.overlap is not None and not 0.0 <= args.overlap < 1.0:
        raise IntervalError("--overlap must be at least 0 and below 1 (e.g. 0.5)")
    if args.timeout is not None and args.timeout <= 0:
        raise IntervalError("--timeout must be a positive number of seconds")
    args.memory_limit_bytes = None  # the runner's default
    if getattr(args, "memory_limit", None) is not None:
        from interval.ai.memory_limit import NO_LIMIT, parse_size

        args.memory_limit_bytes = parse_size(args.memory_limit, what="--memory-limit")
        if args.memory_limit_bytes == NO_LIMIT:
            sys.stderr.write("warning: the model runs without a memory limit\n")


def find_model(args: argparse.Namespace) -> _Model:
    """The model named by ``--model``: a model package folder, or a registered model.

    A folder's ``"plugin"`` network may only run the code of a *loaded* plugin that
    declares the folder among its models (found by discovery, e.g. with
    ``--plugins-dir``); any other package is data and runs without plugin code.
    """
    name = str(args.model)
    folder = Path(name).expanduser()
    if (folder / "model.json").is_file():
        return _model_from_folder(folder, args)
    if folder.is_dir():
        raise IntervalError(f"{folder} is a folder without a model.json; it is not a model package")
    entry = _registry(args).find_segmentation_model(name)
    return _model_from_entry(entry)


def _registry(args: argparse.Namespace) -> Any:
    from interval.plugins.discovery import plugin_dirs_from_args, session_plugin_dirs
    from interval.plugins.registry import discover_plugins

    extra = [d for d in plugin_dirs_from_args(args) if d not in session_plugin_dirs()]
    return discover_plugins(extra)


def _model_from_entry(entry: Any) -> _Model:
    """A registered model, its spec parsed fully with its plugin's code folder."""
    spec = entry.spec
    if not hasattr(spec, "network") or getattr(spec, "code_path", None) != entry.code_path:
        from interval.ai.model_package import load_model_spec

        spec = load_model_spec(entry.folder, code_path=entry.code_path)
    _check_available(spec, Path(entry.folder))
    return _Model(Path(entry.folder), spec, entry.plugin_id, entry.code_path,
                  label=f"{spec.name} {spec.version} from {entry.plugin_id}")


def _model_from_folder(folder: Path, args: argparse.Namespace) -> _Model:
    """``--model PATH``: the package, with its plugin's code only when that plugin is loaded."""
    from interval.ai.model_package import load_model_spec

    spec = load_model_spec(folder)  # validated as data first: no code path yet
    plugin_dir = _plugin_folder_above(spec.folder)
    if plugin_dir is None:
        _check_available(spec, spec.folder)
        return _Model(spec.folder, spec, label=f"{spec.name} {spec.version} ({spec.folder})")
    registry = _registry(args)
    entry = next((m for m in registry.segmentation_models()
                  if _real(Path(m.folder)) == _real(spec.folder)), None)
    if entry is not None:
        model = _model_from_entry(entry)
        model.label = f"{model.spec.name} {model.spec.version} from {entry.plugin_id} " \
                      f"({spec.folder})"
        return model
    if spec.network.type == "plugin":
        raise IntervalError(_not_loaded_reason(spec.folder, plugin_dir, registry))
    _check_available(spec, spec.folder)  # no plugin code needed: runs as a package on its own
    return _Model(spec.folder, spec, label=f"{spec.name} {spec.version} ({spec.folder})")


def _check_available(spec: Any, folder: Path) -> None:
    """Refuse, before any image is read, a model that cannot run here (missing package,
    plugin code without a plugin)."""
    unavailable = getattr(spec, "unavailable_reason", None)
    reason = unavailable() if callable(unavailable) else None
    if reason:
        raise IntervalError(f"the model package {folder} {reason}")


def _plugin_folder_above(model_folder: Path, max_levels: int = 6) -> Path | None:
    """The nearest folder at or above ``model_folder`` holding a plugin manifest."""
    from interval.plugins.api import MANIFEST_NAME
    from interval.plugins.untrusted_files import path_kind

    for candidate in [model_folder, *model_folder.parents][: max_levels + 1]:
        if path_kind(candidate / MANIFEST_NAME) != "missing":
            return candidate
    return None


def _not_loaded_reason(folder: Path, plugin_dir: Path, registry: Any) -> str:
    """Why a package inside ``plugin_dir`` may not run its ``"plugin"`` network code."""
    start = (f"the model package {folder} names Python code (network type \"plugin\"), "
             f"which only a loaded plugin may bring")
    manifest = _real(plugin_dir / "interval-plugin.json")
    refused = next((r for r in registry.refused
                    if r.manifest_path is not None and _real(Path(r.manifest_path)) == manifest),
                   None)
    if refused is not None:
        return (f"{start}; the plugin in {plugin_dir} was refused: {refused.reason} "
                "(see `interval plugins`)")
    loaded = next((p for p in registry.plugins if _real(Path(p.path)) == _real(plugin_dir)),
                  None)
    if loaded is not None:
        return (f"{start}; the plugin {loaded.id} in {plugin_dir} does not declare this "
                "folder in contributes.segmentation_models of its interval-plugin.json")
    return (f"{start}; the plugin folder {plugin_dir} is not among the plugins Interval "
            f"found: pass --plugins-dir {plugin_dir} (or install the plugin) to use its code")


def _real(path: Path) -> Path:
    from interval.plugins.discovery import real_path

    return real_path(path)


def _check_modality(model: _Model, volume: Any) -> None:
    modality = volume.metadata.modality
    accepts = getattr(model.spec, "accepts_modality", None)
    if modality and accepts is not None and not accepts(modality):
        wanted = ", ".join(model.spec.modality)
        raise IntervalError(
            f"the model {model.spec.name} is made for {wanted} images; this series is {modality}"
        )


def _segment(volume: Any, model: _Model, args: argparse.Namespace, show: bool,
             process: Any = None) -> Any:
    options = {
        "device": str(args.device).strip().lower(),
        "overlap": args.overlap,
        "mirror_tta": args.tta,
        "confidence": False,  # nothing here shows the map (a model's region filter
        # still computes it for itself)
    }
    with ProgressBar("Segmenting", enabled=show) as bar:
        if args.in_process:
            from interval.ai.engine import segment
            from interval.ai.options import InferenceOptions

            # a "plugin" network's code comes from model.spec.code_path only (checked
            # before it is imported: interval.ai.networks.plugin_code)
            return segment(volume, model.spec, InferenceOptions(**options), progress=bar)
        from interval.ai.runner import ModelOutOfMemory, run_segmentation

        try:
            return run_segmentation(volume, model.folder, options, progress=bar,
                                    timeout=args.timeout, code_path=model.code_path,
                                    process=process,
                                    memory_limit_bytes=getattr(args, "memory_limit_bytes", None))
        except ModelOutOfMemory as exc:
            exc.hint = ("--memory-limit SIZE (e.g. --memory-limit 16G, or 'none') changes the "
                        "limit; a smaller image or closing other programs also helps")
            raise


def write_outputs(labels: Any, out: Path, sidecar: Path | None, seg_out: Path | None,
                  sources: list[Path], model: _Model, timer: _Timer | None = None) -> list[Path]:
    """Write the DICOM SEG (first: it checks the geometry), the label map and its names."""
    from interval.io.image_files import write_image

    timer = timer or _Timer()
    written = []
    if seg_out is not None:
        from interval.io.seg_writer import AlgorithmInfo, write_dicom_seg

        t0 = time.perf_counter()
        algorithm = AlgorithmInfo(model.spec.name, model.spec.version, model.plugin_id)
        write_dicom_seg(labels, seg_out, sources, algorithm=algorithm,
                        series_description=f"{model.spec.name} segmentation")
        timer.add("write_seg", time.perf_counter() - t0)
    t0 = time.perf_counter()
    written.append(write_image(labels, out))
    if sidecar is not None and labels.labels is not None:
        from interval.io.label_tables import write_label_json

        written.append(write_label_json(labels.labels, sidecar))
    timer.add("write", time.perf_counter() - t0)
    if seg_out is not None:
        written.append(seg_out)
    return written


def _sidecar_path(out: Path) -> Path | None:
    try:
        from interval.io.label_tables import json_sidecar_path
    except ImportError:  # pragma: no cover - label tables not available
        return None
    return json_sidecar_path(out)


def summary(labels: Any, model: _Model, device: str) -> str:
    """``Model ... on cpu`` and one line per label: voxels and volume in mL."""
    import numpy as np

    array = labels.array
    top = int(array.max()) if array.size else 0
    counts = np.zeros(top + 1, np.int64)
    for plane in array:  # slice by slice: no full-size int64 copy
        counts += np.bincount(plane.ravel(), minlength=top + 1)
    voxel_ml = labels.voxel_volume_mm3() / 1000.0
    lines = [f"Model {model.label}" + (f" on {device}" if device else "")]
    for info in labels.labels or ():
        n = int(counts[info.value]) if info.value < counts.size else 0
        lines.append(f"  {info.value:>3}  {info.name:<24} {n:>10} voxels  {n * voxel_ml:10.2f} mL")
    return "\n".join(lines) + "\n"


def timing_table(stages: dict[str, float]) -> str:
    """Where the time went: one line per stage with seconds and share of the total."""
    merged: dict[str, float] = {}
    known = dict(_STAGES)
    order = [label for _k, label in _STAGES]
    for key, seconds in stages.items():
        if key == "total":
            continue
        label = known.get(key, key.replace("_", " "))
        merged[label] = merged.get(label, 0.0) + seconds
    total = sum(merged.values())
    rows = sorted(merged.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order
                  else len(order) - 1)
    lines = ["Time:"]
    for label, seconds in rows:
        share = seconds / total if total > 0 else 0.0
        lines.append(f"  {label:<15} {seconds:8.2f} s  {share:6.1%}")
    lines.append(f"  {'total':<15} {total:8.2f} s")
    return "\n".join(lines) + "\n"


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a.absolute() == b.absolute()
