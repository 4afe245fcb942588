"""Model packages: a folder with ``model.json`` and the network's weights.

:func:`load_model_spec` reads and validates ``model.json`` into a frozen
:class:`ModelSpec` (pure Python: no torch), collecting every problem it finds
(unknown keys, wrong types, out-of-range values, missing or escaping weight files)
into one :class:`~interval.ai.errors.InvalidModelPackage`.

Conventions: ``target_spacing`` is x-y-z in mm (ITK order, like ``Volume.spacing``);
``patch_size`` is z-y-x voxels (array order).  ``orientation`` is a three-letter code
naming where index axes i, j, k point ("LPS": i to the patient's left, j posterior,
k superior; "RAS" is NIfTI's), or null for "as stored".

Fields (``*`` required; unknown keys anywhere are an error)::

    format*          1
    name*, version*  strings;  task*: "segmentation";  description: string
    modality         ["CT", "MR", ...] or "any" (default any)
    labels*          [{"value": 1.., "name": str, "color": [r, g, b] (optional)}]
    target_spacing   [sx, sy, sz] mm or null (native)
    orientation      "LPS" / "RAS" / any axis code, or null (as stored)
    patch_size*      [pz, py, px]  (optional and ignored with inference.mode "whole")
    normalization    {"scheme": "ct", "clip": [lo, hi], "mean": m, "std": s}
                     {"scheme": "zscore_percentile", "lower": 0.5, "upper": 99.5,
                      "foreground": false}
                     {"scheme": "minmax_percentile", "lower", "upper", "b_min": 0,
                      "b_max": 1, "clip": true, "foreground"}
                     {"scheme": "none"} (default)
    network*         {"type": "builtin", "name": "unet3d", "params": {}, "weights": file}
                     {"type": "plugin", "entry": "module:function", "params": {},
                      "weights": file}   (called as function(**params); only in a model
                                          package declared by a plugin, and the module
                                          must be the plugin's own code (see
                                          interval.ai.networks.plugin_code); params plain
                                          JSON; weights optional: without them the
                                          builder loads what it needs)
                     {"type": "torchscript", "file": "model.pt"}
                     {"type": "onnx", "file": "model.onnx"}   (needs onnxruntime)
                     weights: .safetensors, or a plain .pt/.pth state dict
                     (weights_only loading)
    output*          {"activation": "softmax" | "sigmoid", "channels": N}
                     softmax: label = argmax channel; sigmoid: channel c -> label
                     c + 1 where its logit > 0 (probability > 0.5); every channel has
                     its label: softmax N = labels + 1 (values 1..N-1), sigmoid
                     N = labels (values 1..N)
    inference        {"mode": "sliding_window" | "whole", "overlap": 0.5, "batch_size": 4,
                      "mirror_tta": false, "blend": "gaussian" | "constant",
                      "pad_value": 0 | "min"}
                     (mode "whole": the network runs once on the whole reoriented,
                      resampled, normalised volume - no windows, no padding to a patch;
                      patch_size, overlap, batch_size, blend and pad_value are unused;
                      for networks that must see the whole image, e.g. deepbet)
                     (pad_value: normalised value around images smaller than a patch;
                      0 like MONAI / nnU-Net, "min" = the image's minimum, e.g. air;
                      "average": "logits" (MONAI, default) or "probabilities" (nnU-Net:
                      softmax / sigmoid of each window, then blended))
    postprocess      {"largest_component": [values], "min_island_mm3": {"value": mm3}}
    confidence       {"labels": [values], "equivocal_below": 0.62, "drop_below": 0.5}
                     (softmax only: the engine also returns a per-voxel confidence map, the
                      summed softmax probability of these declared labels (0-255 = 0-1);
                      each lesion's score is its mean.  equivocal_below (optional, in
                      (0, 1), or null): the calibrated score under which a NEW lesion is
                      marked equivocal instead of counted as progression.  drop_below
                      (optional, in (0, 1), at most equivocal_below, or null): the
                      calibrated score under which a region of these labels is removed
                      by the clean-up, a false-positive filter; see
                      :mod:`interval.ai.region_filter`)
    temporal         {"prior_timepoints": 2}
                     (the model reads earlier scans: it segments a scan from that scan
                      and up to prior_timepoints (1-8) earlier scans of the same patient,
                      registered and resampled onto its grid by the longitudinal core;
                      the network gets [earlier..., this] stacked along the channel
                      axis, oldest first, each normalised like the scan itself, and must
                      accept 1 to prior_timepoints + 1 such frames.  Outside a
                      longitudinal run, e.g. ``interval segment``, it gets one frame)

``model.json`` is at most :data:`MAX_MODEL_JSON_BYTES` and must be a regular file (a
FIFO or device is refused without being read).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.ai.errors import InvalidModelPackage
from interval.core.labels import LabelInfo, LabelTable, default_color

MODEL_JSON = "model.json"
MAX_MODEL_JSON_BYTES = 1_000_000  # like plugin manifests; real ones are a few kB
FORMAT_VERSION = 1
_MAX_PARAMS_DEPTH = 32
_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
_NETWORK_TYPES = ("builtin", "plugin", "torchscript", "onnx")
_AXIS_PAIRS = ({"L", "R"}, {"P", "A"}, {"S", "I"})


@dataclass(frozen=True)
class Normalization:
    """Intensity normalisation (``scheme``: ct, zscore_percentile, minmax_percentile, none)."""

    scheme: str = "none"
    clip: tuple[float, float] | None = None  # ct
    mean: float = 0.0  # ct
    std: float = 1.0  # ct
    lower: float = 0.5  # percentile schemes, in percent
    upper: float = 99.5
    foreground: bool = False  # percentile statistics over voxels above the minimum only
    b_min: float = 0.0  # minmax_percentile output range
    b_max: float = 1.0
    clip_output: bool = True  # minmax_percentile: clip to [b_min, b_max]


@dataclass(frozen=True)
class NetworkSpec:
    """How to build the network: builtin / plugin (+ weights), torchscript or onnx file."""

    type: str
    name: str | None = None  # builtin
    entry: str | None = None  # plugin: "module.path:function"
    params: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None  # builtin / plugin, relative to the package folder
    file: str | None = None  # torchscript / onnx, relative to the package folder


@dataclass(frozen=True)
class OutputSpec:
    """Logit channels and how they become labels (softmax: argmax; sigmoid: > 0.5)."""

    activation: str
    channels: int


@dataclass(frozen=True)
class InferenceSpec:
    """Inference defaults of the model (overridable per run).

    ``mode``: "sliding_window" (patches blended) or "whole" (one forward pass on the
    whole volume; the window fields are then unused).
    """

    mode: str = "sliding_window"
    overlap: float = 0.5
    batch_size: int = 4
    mirror_tta: bool = False
    blend: str = "gaussian"
    pad_value: float | str = 0.0  # normalised value padded around small images, or "min"
    average: str = "logits"  # blend window logits (MONAI) or probabilities (nnU-Net)


@dataclass(frozen=True)
class PostprocessSpec:
    """Label clean-up: keep the largest component / drop islands below a volume (mm³)."""

    largest_component: tuple[int, ...] = ()
    min_island_mm3: dict[int, float] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.largest_component and not self.min_island_mm3


@dataclass(frozen=True)
class ConfidenceSpec:
    """Which labels' softmax probabilities make the confidence map, the calibrated
    score below which a new lesion is equivocal, and the one below which a region is
    dropped by the clean-up (None: not calibrated)."""

    labels: tuple[int, ...]
    equivocal_below: float | None = None
    drop_below: float | None = None


@dataclass(frozen=True)
class TemporalSpec:
    """A model that reads earlier scans: how many at most (see the module notes)."""

    prior_timepoints: int


MAX_PRIOR_TIMEPOINTS = 8


@dataclass(frozen=True)
class ModelSpec:
    """A validated ``model.json`` (plus the folder it came from).

    ``code_path``: the code folder of the plugin that declares this package (given by
    the plugin registry, never read from model.json); None for a package on its own,
    which then cannot run a ``"plugin"`` network.
    """

    folder: Path
    name: str
    version: str
    task: str
    labels: tuple[LabelInfo, ...]
    patch_size: tuple[int, int, int] | None  # None only with inference.mode "whole"
    network: NetworkSpec
    output: OutputSpec
    description: str = ""
    modality: tuple[str, ...] = ()  # empty = any modality
    target_spacing: tuple[float, float, float] | None = None
    orientation: str | None = None
    normalization: Normalization = field(default_factory=Normalization)
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    postprocess: PostprocessSpec = field(default_factory=PostprocessSpec)
    confidence: ConfidenceSpec | None = None  # None: no confidence map
    temporal: TemporalSpec | None = None  # None: one scan at a time
    format: int = FORMAT_VERSION
    code_path: Path | None = None

    @property
    def label_table(self) -> LabelTable:
        """The output labels as a :class:`LabelTable` (a new object each call)."""
        return LabelTable(list(self.labels))

    def accepts_modality(self, modality: str | None) -> bool:
        """Whether the model takes images of DICOM ``modality`` (any when none declared)."""
        if not self.modality:
            return True
        return (modality or "").upper() in self.modality

    def file_path(self, relative: str) -> Path:
        """Absolute path of a file named in model.json."""
        return self.folder / relative

    @property
    def weights_path(self) -> Path | None:
        """The weights / network file, if the package has one (plugin networks may not)."""
        rel = self.network.weights or self.network.file
        return None if rel is None else self.file_path(rel)

    def missing_requirements(self) -> list[str]:
        """Python packages this model needs that are not installed (nothing is imported)."""
        needed = ["onnxruntime"] if self.network.type == "onnx" else []
        return [name for name in needed if importlib.util.find_spec(name) is None]

    def unavailable_reason(self) -> str | None:
        """Why this model cannot run here, in a sentence; None when it can."""
        missing = self.missing_requirements()
        if missing:
            plural = "s" if len(missing) > 1 else ""
            return (f"needs the Python package{plural} {', '.join(missing)}: "
                    f"pip install {' '.join(missing)}")
        if self.network.type == "plugin" and self.code_path is None:
            return ("names Python code (network type \"plugin\") but is not part of a "
                    "plugin; a model package on its own can only use a built-in "
                    "architecture, TorchScript, ONNX or safetensors weights")
        return None


# --- validation ----------------------------------------------------------------------


class _Checker:
    """Collects problems while reading a JSON object."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def keys(self, obj: dict[str, Any], where: str, allowed: set[str], required: set[str]) -> None:
        unknown = sorted(set(obj) - allowed)
        if unknown:
            self.add(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} "
                     f"(allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(obj))
        if missing:
            self.add(f"{where}: missing required key(s) {', '.join(map(repr, missing))}")

    def obj(self, value: Any, where: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(f"{where} must be a JSON object, got {_jtype(value)}")
            return None
        return value

    def string(self, value: Any, where: str, *, nonempty: bool = True) -> str | None:
        if not isinstance(value, str) or (nonempty and not value.strip()):
            self.add(f"{where} must be a non-empty string, got {_jtype(value)}")
            return None
        return value

    def number(self, value: Any, where: str, *, lo: float | None = None,
               hi: float | None = None, lo_open: bool = False, hi_open: bool = False
               ) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value
        ):
            self.add(f"{where} must be a finite number, got {_jtype(value)}")
            return None
        v = float(value)
        if lo is not None and (v < lo or (lo_open and v == lo)):
            self.add(f"{where} must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
            return None
        if hi is not None and (v > hi or (hi_open and v == hi)):
            self.add(f"{where} must be {'<' if hi_open else '<='} {hi:g}, got {v:g}")
            return None
        return v

    def integer(self, value: Any, where: str, *, lo: int | None = None,
                hi: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"{where} must be an integer, got {_jtype(value)}")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
            self.add(f"{where} must be in {rng}, got {value}")
            return None
        return value

    def boolean(self, value: Any, where: str) -> bool | None:
        if not isinstance(value, bool):
            self.add(f"{where} must be true or false, got {_jtype(value)}")
            return None
        return value

    def choice(self, value: Any, where: str, options: tuple[str, ...]) -> str | None:
        if value not in options:
            self.add(f"{where} must be one of {', '.join(map(repr, options))}, got {value!r}")
            return None
        return value  # type: ignore[no-any-return]


def _jtype(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_TOP_KEYS = {
    "format", "name", "version", "task", "description", "modality", "labels",
    "target_spacing", "orientation", "patch_size", "normalization", "network", "output",
    "inference", "postprocess", "confidence", "temporal",
}
_TOP_REQUIRED = {"format", "name", "version", "task", "labels", "network", "output"}
_INFERENCE_MODES = ("sliding_window", "whole")


def load_model_spec(folder: str | Path, *, code_path: str | Path | None = None) -> ModelSpec:
    """Read and validate ``folder/model.json``; raise ``InvalidModelPackage`` listing problems.

    ``code_path``: the code folder of the plugin declaring the package (see
    :attr:`ModelSpec.code_path`).
    """
    folder = Path(folder).resolve()
    path = folder / MODEL_JSON
    if not folder.is_dir():
        raise InvalidModelPackage("The model package folder does not exist.", path=folder)
    text = _read_model_json(path, folder)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidModelPackage(
            f"{MODEL_JSON} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            path=path,
        ) from None
    except RecursionError:
        raise InvalidModelPackage(
            f"{MODEL_JSON} is nested too deeply to be a model description.", path=path
        ) from None
    except ValueError:  # an integer of thousands of digits (Python's conversion limit)
        raise InvalidModelPackage(
            f"{MODEL_JSON} holds a number that cannot be read: it has more digits than any "
            "model setting needs.", path=path
        ) from None
    return parse_model_spec(data, folder, code_path=code_path)


def _read_model_json(path: Path, folder: Path) -> str:
    """The text of model.json: a regular file of at most MAX_MODEL_JSON_BYTES, else refused.

    Checked with ``stat`` before opening (a FIFO or device is never opened) and again on
    the open file, which is opened non-blocking and read no further than the limit.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InvalidModelPackage(f"The model package has no {MODEL_JSON}.", path=folder) from None
    except OSError as exc:
        raise InvalidModelPackage(f"{MODEL_JSON} cannot be read ({exc.strerror}).",
                                  path=path) from None
    _check_model_json_stat(info, path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as fh:
            _check_model_json_stat(os.fstat(fh.fileno()), path)  # the same file, still
            raw = fh.read(MAX_MODEL_JSON_BYTES + 1)
    except OSError as exc:
        raise InvalidModelPackage(f"{MODEL_JSON} cannot be read ({exc.strerror}).",
                                  path=path) from None
    if len(raw) > MAX_MODEL_JSON_BYTES:
        raise _too_large(len(raw), path)
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark (Windows editors) is dropped
    except UnicodeDecodeError as exc:
        raise InvalidModelPackage(f"{MODEL_JSON} is not UTF-8 text ({exc.reason} at byte "
                                  f"{exc.start}).", path=path) from None


def _check_model_json_stat(info: os.stat_result, path: Path) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise InvalidModelPackage(
            f"{MODEL_JSON} is not a regular file (it is a {_file_kind(info.st_mode)}); it was "
            "not read.", path=path)
    if info.st_size > MAX_MODEL_JSON_BYTES:
        raise _too_large(info.st_size, path)


def _too_large(size: int, path: Path) -> InvalidModelPackage:
    return InvalidModelPackage(
        f"{MODEL_JSON} is too large ({size:,} bytes; at most {MAX_MODEL_JSON_BYTES:,}): a model "
        "description is a few kilobytes, so this is not one.", path=path)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def parse_model_spec(data: Any, folder: str | Path, *,
                     code_path: str | Path | None = None) -> ModelSpec:
    """Validate an already parsed ``model.json`` object (see :func:`load_model_spec`)."""
    folder = Path(folder).resolve()
    c = _Checker()
    top = c.obj(data, MODEL_JSON)
    if top is None:
        _raise(c, folder)
    assert top is not None
    c.keys(top, MODEL_JSON, _TOP_KEYS, _TOP_REQUIRED)

    if "format" in top and c.integer(top["format"], "format") is not None \
            and top["format"] != FORMAT_VERSION:
        c.add(f"format {top['format']} is not supported (this Interval reads format "
              f"{FORMAT_VERSION})")
    name = c.string(top.get("name"), "name") if "name" in top else None
    version = c.string(top.get("version"), "version") if "version" in top else None
    task = None
    if "task" in top:
        task = c.choice(top["task"], "task", ("segmentation",))
    description = top.get("description", "")
    if not isinstance(description, str):
        c.add(f"description must be a string, got {_jtype(description)}")
        description = ""

    modality = _modality(c, top.get("modality", []))
    labels = _labels(c, top["labels"]) if "labels" in top else ()
    spacing = _spacing(c, top.get("target_spacing"))
    orientation = _orientation(c, top.get("orientation"))
    inference = _inference(c, top.get("inference", {}))
    whole = inference.mode == "whole"
    patch: tuple[int, int, int] | None = None
    if "patch_size" in top:
        patch = _patch(c, top["patch_size"])
    elif not whole:
        c.add(f"{MODEL_JSON}: missing required key(s) 'patch_size' (or set "
              '"inference": {"mode": "whole"} for a network that runs on the whole volume)')
    norm = _normalization(c, top.get("normalization", {"scheme": "none"}))
    network = _network(c, top["network"], folder) if "network" in top else None
    output = _output(c, top["output"]) if "output" in top else None
    post = _postprocess(c, top.get("postprocess", {}), labels)
    confidence = (_confidence(c, top["confidence"], labels, output)
                  if "confidence" in top else None)
    temporal = _temporal(c, top["temporal"]) if "temporal" in top else None

    if output is not None and labels:
        values = [li.value for li in labels]
        if output.activation == "softmax" and max(values) >= output.channels:
            c.add(f"labels: value {max(values)} has no output channel (softmax with "
                  f"{output.channels} channels gives values 0..{output.channels - 1})")
        if output.activation == "sigmoid" and max(values) > output.channels:
            c.add(f"labels: value {max(values)} has no output channel (sigmoid channel c "
                  f"gives value c+1; {output.channels} channel(s))")
        _channels_match_labels(c, output, len(values))
    if c.problems:
        _raise(c, folder)
    assert name and version and task and (patch or whole) and network and output
    return ModelSpec(
        folder=folder, name=name, version=version, task=task, labels=labels,
        patch_size=None if whole else patch, network=network, output=output,
        description=description,
        modality=modality, target_spacing=spacing, orientation=orientation,
        normalization=norm, inference=inference, postprocess=post, confidence=confidence,
        temporal=temporal, code_path=None if code_path is None else Path(code_path),
    )


def _channels_match_labels(c: _Checker, output: OutputSpec, n_labels: int) -> None:
    """Every output channel must have a declared label (no class silently dropped)."""
    softmax = output.activation == "softmax"
    needed = n_labels + 1 if softmax else n_labels
    if output.channels != needed:
        plural = "s" if n_labels != 1 else ""
        rule = ("softmax needs one channel per label plus one for background"
                if softmax else "sigmoid needs one channel per label")
        c.add(f"output.channels is {output.channels} but labels declares {n_labels} "
              f"label{plural}: {rule} ({needed} channels); declare a label for every "
              "class the network outputs")


def _raise(c: _Checker, folder: Path) -> None:
    n = len(c.problems)
    summary = "; ".join(c.problems)
    raise InvalidModelPackage(
        f"{MODEL_JSON} has {n} problem{'s' if n != 1 else ''}: {summary}",
        problems=c.problems, path=folder / MODEL_JSON,
    )


def _modality(c: _Checker, value: Any) -> tuple[str, ...]:
    if value is None or value == "any":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        c.add(f"modality must be a list of DICOM modality codes or \"any\", got {_jtype(value)}")
        return ()
    mods = tuple(v.strip().upper() for v in value)
    return () if "ANY" in mods else mods


def _labels(c: _Checker, value: Any) -> tuple[LabelInfo, ...]:
    if not isinstance(value, list) or not value:
        c.add(f"labels must be a non-empty array of {{value, name, color}}, got {_jtype(value)}")
        return ()
    out: list[LabelInfo] = []
    seen: set[int] = set()
    for n, item in enumerate(value):
        where = f"labels[{n}]"
        obj = c.obj(item, where)
        if obj is None:
            continue
        c.keys(obj, where, {"value", "name", "color"}, {"value", "name"})
        v = c.integer(obj.get("value"), f"{where}.value", lo=1, hi=65535)
        nm = c.string(obj.get("name"), f"{where}.name")
        color = default_color(v or 1)
        if "color" in obj:
            col = obj["color"]
            if (not isinstance(col, list) or len(col) != 3 or not all(
                    isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in col)):
                c.add(f"{where}.color must be three integers 0-255, got {col!r}")
            else:
                color = (col[0], col[1], col[2])
        if v is not None and v in seen:
            c.add(f"{where}.value {v} is used twice")
        if v is not None and nm is not None and v not in seen:
            seen.add(v)
            out.append(LabelInfo(v, nm, color))
    return tuple(sorted(out, key=lambda li: li.value))


def _spacing(c: _Checker, value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 3:
        c.add(f"target_spacing must be three numbers (mm, x-y-z) or null, got {_jtype(value)}")
        return None
    vals = [c.number(v, f"target_spacing[{i}]", lo=0.0, lo_open=True) for i, v in enumerate(value)]
    if any(v is None for v in vals):
        return None
    return (vals[0], vals[1], vals[2])  # type: ignore[return-value]


def _orientation(c: _Checker, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 3:
        c.add(f"orientation must be a three-letter code such as \"LPS\" or \"RAS\", or null, "
              f"got {_jtype(value)}")
        return None
    code = value.upper()
    if not all(any(ch in pair for ch in code) for pair in _AXIS_PAIRS) or not set(code) <= set(
        "LRAPSI"
    ):
        c.add(f"orientation {value!r} must name each of L/R, A/P and S/I once (e.g. \"LPS\")")
        return None
    return code


def _patch(c: _Checker, value: Any) -> tuple[int, int, int] | None:
    if not isinstance(value, list) or len(value) != 3:
        c.add(f"patch_size must be three integers (voxels, z-y-x), got {_jtype(value)}")
        return None
    vals = [c.integer(v, f"patch_size[{i}]", lo=1, hi=4096) for i, v in enumerate(value)]
    if any(v is None for v in vals):
        return None
    return (vals[0], vals[1], vals[2])  # type: ignore[return-value]


def _normalization(c: _Checker, value: Any) -> Normalization:
    obj = c.obj(value, "normalization")
    if obj is None:
        return Normalization()
    scheme = c.choice(obj.get("scheme"), "normalization.scheme",
                      ("ct", "zscore_percentile", "minmax_percentile", "none"))
    where = f"normalization ({scheme})"
    if scheme == "ct":
        c.keys(obj, where, {"scheme", "clip", "mean", "std"}, {"scheme", "clip", "mean", "std"})
        clip = obj.get("clip")
        lo_hi: tuple[float, float] | None = None
        if not isinstance(clip, list) or len(clip) != 2:
            if "clip" in obj:
                c.add(f"normalization.clip must be [low, high], got {_jtype(clip)}")
        else:
            lo = c.number(clip[0], "normalization.clip[0]")
            hi = c.number(clip[1], "normalization.clip[1]")
            if lo is not None and hi is not None:
                if lo >= hi:
                    c.add(f"normalization.clip low {lo:g} must be below high {hi:g}")
                lo_hi = (lo, hi)
        mean = c.number(obj.get("mean"), "normalization.mean") if "mean" in obj else 0.0
        std = (c.number(obj.get("std"), "normalization.std", lo=0.0, lo_open=True)
               if "std" in obj else 1.0)
        return Normalization("ct", clip=lo_hi, mean=mean or 0.0, std=std or 1.0)
    if scheme in ("zscore_percentile", "minmax_percentile"):
        allowed = {"scheme", "lower", "upper", "foreground"}
        if scheme == "minmax_percentile":
            allowed |= {"b_min", "b_max", "clip"}
        c.keys(obj, where, allowed, {"scheme"})
        lower = c.number(obj.get("lower", 0.5), "normalization.lower", lo=0.0, hi=100.0)
        upper = c.number(obj.get("upper", 99.5), "normalization.upper", lo=0.0, hi=100.0)
        if lower is not None and upper is not None and lower >= upper:
            c.add(f"normalization.lower {lower:g} must be below upper {upper:g}")
        fg = c.boolean(obj.get("foreground", False), "normalization.foreground")
        b_min = c.number(obj.get("b_min", 0.0), "normalization.b_min")
        b_max = c.number(obj.get("b_max", 1.0), "normalization.b_max")
        clip_out = c.boolean(obj.get("clip", True), "normalization.clip")
        return Normalization(
            scheme, lower=lower if lower is not None else 0.5,
            upper=upper if upper is not None else 99.5, foreground=bool(fg),
            b_min=b_min if b_min is not None else 0.0, b_max=b_max if b_max is not None else 1.0,
            clip_output=bool(clip_out) if clip_out is not None else True,
        )
    if scheme == "none":
        c.keys(obj, where, {"scheme"}, {"scheme"})
    return Normalization("none")


def _relative_file(c: _Checker, value: Any, where: str, folder: Path,
                   suffixes: tuple[str, ...] | None) -> str | None:
    rel = c.string(value, where)
    if rel is None:
        return None
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        c.add(f"{where} {rel!r} must be a path inside the model package folder")
        return None
    if suffixes is not None and not rel.lower().endswith(suffixes):
        c.add(f"{where} {rel!r} must end with one of {', '.join(suffixes)}")
        return None
    full = (folder / p).resolve()
    if not full.is_relative_to(folder):
        c.add(f"{where} {rel!r} points outside the model package folder")
        return None
    if not full.is_file():
        c.add(f"{where}: file {rel!r} is missing from the model package")
        return None
    return rel


def _network(c: _Checker, value: Any, folder: Path) -> NetworkSpec | None:
    obj = c.obj(value, "network")
    if obj is None:
        return None
    kind = c.choice(obj.get("type"), "network.type", _NETWORK_TYPES)
    if kind is None:
        return None
    where = f"network ({kind})"
    if kind in ("builtin", "plugin"):
        key = "name" if kind == "builtin" else "entry"
        required = {"type", key} if kind == "plugin" else {"type", key, "weights"}
        c.keys(obj, where, {"type", key, "params", "weights"}, required)
        ident = c.string(obj.get(key), f"network.{key}") if key in obj else None
        if kind == "plugin" and ident is not None:
            mod, sep, func = ident.partition(":")
            if not sep or not all(p.isidentifier() for p in mod.split(".")) or \
                    not func.isidentifier():
                c.add(f"network.entry {ident!r} must look like \"package.module:function\"")
                ident = None
        params = obj.get("params", {})
        if not isinstance(params, dict):
            c.add(f"network.params must be a JSON object, got {_jtype(params)}")
            params = {}
        elif not _plain_json(params):
            c.add("network.params must hold plain JSON values only (objects with string "
                  f"keys, arrays, strings, numbers, true/false, null; at most "
                  f"{_MAX_PARAMS_DEPTH} levels deep)")
            params = {}
        weights = (_relative_file(c, obj["weights"], "network.weights", folder, _WEIGHT_SUFFIXES)
                   if "weights" in obj else None)
        if ident is None or (weights is None and "weights" in obj) or (
                weights is None and kind == "builtin"):
            return None
        return NetworkSpec(kind, name=ident if kind == "builtin" else None,
                           entry=ident if kind == "plugin" else None, params=dict(params),
                           weights=weights)
    c.keys(obj, where, {"type", "file"}, {"type", "file"})
    suffix = (".onnx",) if kind == "onnx" else (".pt", ".pth", ".ts", ".torchscript", ".jit")
    rel = _relative_file(c, obj["file"], "network.file", folder, suffix) if "file" in obj else None
    return None if rel is None else NetworkSpec(kind, file=rel)


def _plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made of JSON's own types only (what json.loads gives)."""
    if depth > _MAX_PARAMS_DEPTH:
        return False
    kind = type(value)  # exact types: no subclass with behaviour of its own
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_plain_json(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _output(c: _Checker, value: Any) -> OutputSpec | None:
    obj = c.obj(value, "output")
    if obj is None:
        return None
    c.keys(obj, "output", {"activation", "channels"}, {"activation", "channels"})
    act = c.choice(obj.get("activation"), "output.activation", ("softmax", "sigmoid"))
    ch = c.integer(obj.get("channels"), "output.channels", lo=1, hi=65536)
    if act == "softmax" and ch is not None and ch < 2:
        c.add("output.channels must be at least 2 with softmax (background + labels)")
        return None
    if act is None or ch is None:
        return None
    return OutputSpec(act, ch)


def _inference(c: _Checker, value: Any) -> InferenceSpec:
    obj = c.obj(value, "inference")
    if obj is None:
        return InferenceSpec()
    c.keys(obj, "inference",
           {"mode", "overlap", "batch_size", "mirror_tta", "blend", "pad_value", "average"},
           set())
    d = InferenceSpec()
    mode = c.choice(obj.get("mode", d.mode), "inference.mode", _INFERENCE_MODES)
    overlap = c.number(obj.get("overlap", d.overlap), "inference.overlap", lo=0.0, hi=1.0,
                       hi_open=True)
    batch = c.integer(obj.get("batch_size", d.batch_size), "inference.batch_size", lo=1, hi=1024)
    tta = c.boolean(obj.get("mirror_tta", d.mirror_tta), "inference.mirror_tta")
    blend = c.choice(obj.get("blend", d.blend), "inference.blend", ("gaussian", "constant"))
    pad: float | str | None = obj.get("pad_value", d.pad_value)
    if pad != "min":
        pad = c.number(pad, "inference.pad_value (a number or \"min\")")
    average = c.choice(obj.get("average", d.average), "inference.average",
                       ("logits", "probabilities"))
    return InferenceSpec(
        mode=mode or d.mode,
        pad_value=d.pad_value if pad is None else pad,
        average=average or d.average,
        overlap=d.overlap if overlap is None else overlap,
        batch_size=batch or d.batch_size,
        mirror_tta=d.mirror_tta if tta is None else tta,
        blend=blend or d.blend,
    )


def _postprocess(c: _Checker, value: Any, labels: tuple[LabelInfo, ...]) -> PostprocessSpec:
    obj = c.obj(value, "postprocess")
    if obj is None:
        return PostprocessSpec()
    c.keys(obj, "postprocess", {"largest_component", "min_island_mm3"}, set())
    known = {li.value for li in labels}
    largest: list[int] = []
    lc = obj.get("largest_component", [])
    if not isinstance(lc, list):
        c.add(f"postprocess.largest_component must be a list of label values, got {_jtype(lc)}")
        lc = []
    for n, v in enumerate(lc):
        iv = c.integer(v, f"postprocess.largest_component[{n}]", lo=1)
        if iv is not None:
            if known and iv not in known:
                c.add(f"postprocess.largest_component: label {iv} is not in labels")
            else:
                largest.append(iv)
    islands: dict[int, float] = {}
    mi = obj.get("min_island_mm3", {})
    if not isinstance(mi, dict):
        c.add(f"postprocess.min_island_mm3 must be an object {{\"label\": mm3}}, got {_jtype(mi)}")
        mi = {}
    for key, mm3 in mi.items():
        try:
            iv = int(key)
        except ValueError:
            c.add(f"postprocess.min_island_mm3: key {key!r} is not a label value")
            continue
        if known and iv not in known:
            c.add(f"postprocess.min_island_mm3: label {iv} is not in labels")
            continue
        vol = c.number(mm3, f"postprocess.min_island_mm3[{key!r}]", lo=0.0)
        if vol is not None:
            islands[iv] = vol
    return PostprocessSpec(tuple(largest), islands)


def _temporal(c: _Checker, value: Any) -> TemporalSpec | None:
    """``{"prior_timepoints": 1..MAX_PRIOR_TIMEPOINTS}``."""
    obj = c.obj(value, "temporal")
    if obj is None:
        return None
    c.keys(obj, "temporal", {"prior_timepoints"}, {"prior_timepoints"})
    if "prior_timepoints" not in obj:
        return None
    n = c.integer(obj["prior_timepoints"], "temporal.prior_timepoints", lo=1,
                  hi=MAX_PRIOR_TIMEPOINTS)
    return None if n is None else TemporalSpec(n)


def _confidence(c: _Checker, value: Any, labels: tuple[LabelInfo, ...],
                output: OutputSpec | None) -> ConfidenceSpec | None:
    """``{"labels": [declared values], "equivocal_below": number in (0, 1) or null,
    "drop_below": number in (0, 1) and at most equivocal_below, or null}``."""
    obj = c.obj(value, "confidence")
    if obj is None:
        return None
    c.keys(obj, "confidence", {"labels", "equivocal_below", "drop_below"}, {"labels"})
    if output is not None and output.activation != "softmax":
        c.add("confidence needs a softmax output (the summed probability of its labels); "
              f"output.activation is {output.activation!r}")
    known = {li.value for li in labels}
    values: list[int] = []
    raw = obj.get("labels")
    if "labels" in obj and (not isinstance(raw, list) or not raw):
        c.add(f"confidence.labels must be a non-empty list of label values, got {_jtype(raw)}")
        raw = []
    for n, v in enumerate(raw or []):
        iv = c.integer(v, f"confidence.labels[{n}]", lo=1, hi=65535)
        if iv is None:
            continue
        if iv in values:
            c.add(f"confidence.labels: label {iv} is listed twice")
        elif known and iv not in known:
            c.add(f"confidence.labels: label {iv} is not in labels")
        else:
            values.append(iv)
    below: float | None = None
    if obj.get("equivocal_below") is not None:
        below = c.number(obj["equivocal_below"], "confidence.equivocal_below", lo=0.0,
                         hi=1.0, lo_open=True, hi_open=True)
    drop: float | None = None
    if obj.get("drop_below") is not None:
        drop = c.number(obj["drop_below"], "confidence.drop_below", lo=0.0, hi=1.0,
                        lo_open=True, hi_open=True)
        if drop is None:
            return None
        if below is not None and drop > below:
            c.add(f"confidence.drop_below ({drop:g}) must not be above equivocal_below "
                  f"({below:g}): a region is dropped before it could be held equivocal")
            return None
    if not values or (below is None and obj.get("equivocal_below") is not None):
        return None
    return ConfidenceSpec(tuple(sorted(values)), below, drop)
