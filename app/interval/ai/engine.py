"""The segmentation engine: a Volume and a model package in, a label Volume on its grid out.

Pipeline (every phase timed in ``SegmentationResult.timings``)::

    reorient -> resample (linear, to target spacing) -> normalise -> pad to the patch
    -> sliding window (Gaussian blending, optional mirror TTA) -> every value finite
    -> argmax / sigmoid > 0.5 AT MODEL RESOLUTION -> unpad -> nearest-neighbour labels back onto the exact input
    grid (float logits are never resampled) -> reorient back -> post-process

With model.json's ``confidence`` section (softmax models) the blended logits also give
a confidence map at model resolution - the summed softmax probability of its labels,
channel by channel (:func:`confidence_map`) - brought back onto the input grid linearly
(:meth:`~interval.ai.transforms.Resample.invert_values`) as ``uint8`` 0-255
(``SegmentationResult.confidence``; off with ``InferenceOptions.confidence=False``).
With a calibrated ``confidence.drop_below`` the clean-up then removes the lesion regions
scored below it (:mod:`interval.ai.region_filter`; computed even when the caller does not
want the map, skipped with ``cleanup=False``).

With ``inference.mode == "whole"`` there is no padding and no tiling: the network runs
once on the whole reoriented, resampled, normalised array (one window of the array's
size, so timings, progress, cancel, mirror TTA, device and out-of-memory handling are
the sliding window's).

The network must give model.json's number of output channels (checked on its first
batch) and finite values over the image (NaN or infinite values anywhere in it raise
:class:`~interval.ai.errors.InvalidModelOutput` instead of a partial or empty label map).

The result is ``uint8`` (``uint16`` when a label value exceeds 255) on the input grid,
with model.json's label table.  This module imports torch; the viewer runs it in a
child process (:mod:`interval.ai.engine_child`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from interval.ai.device import select_device
from interval.ai.errors import InvalidModelOutput
from interval.ai.model_package import ModelSpec
from interval.ai.optimize import prepare_network
from interval.ai.options import InferenceOptions, SegmentationResult
from interval.ai.postprocess import apply_postprocess
from interval.ai.region_filter import drop_unsure_regions
from interval.ai.sliding_window import Network, SlidingWindowStats, sliding_window_inference
from interval.ai.transforms import Grid, PadToPatch, Reorient, Resample, normalize
from interval.ai.weights import build_model
from interval.core.errors import UnsupportedData
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.volume import Volume

__all__ = ["InferenceOptions", "SegmentationResult", "check_finite", "confidence_map",
           "logits_to_labels", "segment"]


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


def label_dtype(spec: ModelSpec) -> np.dtype:
    """uint8, or uint16 when a label value does not fit in a byte."""
    top = max((li.value for li in spec.labels), default=1)
    return np.dtype(np.uint8 if top <= 255 else np.uint16)


def argmax_channels(logits: torch.Tensor) -> torch.Tensor:
    """``argmax`` over dim 0 as uint8 (first maximum wins, like ``torch.argmax``).

    Channel by channel (a compare, a masked fill and a running maximum per channel),
    5x faster than ``torch.argmax`` over the outer dimension of a large volume.
    """
    c = logits.shape[0]
    if c > 255:
        return torch.argmax(logits, dim=0).to(torch.int32)
    lab = torch.zeros(logits.shape[1:], dtype=torch.uint8)
    best = logits[0].clone()
    for ch in range(1, c):
        lab.masked_fill_(torch.gt(logits[ch], best), ch)
        if ch < c - 1:
            torch.maximum(best, logits[ch], out=best)
    return lab


def check_finite(values: torch.Tensor) -> None:
    """Raise :class:`InvalidModelOutput` when ``values`` ``(C, Z, Y, X)`` hold NaN or ±inf.

    One summation decides in the usual case (a finite sum means every value is finite:
    0.07 s for 2 GB); only then is the share of affected voxels counted, per channel.
    """
    if values.numel() == 0 or bool(torch.isfinite(values.sum())):
        return
    shape = tuple(values.shape[1:])
    nan = np.zeros(shape, bool)
    inf = np.zeros(shape, bool)
    scratch = np.empty(shape, bool)
    for channel in values:
        if bool(torch.isfinite(channel.sum())):
            continue  # this channel is clean: no per-voxel pass over it
        array = channel.numpy()  # numpy's isnan / isinf: 4-20x torch's on the CPU
        nan |= np.isnan(array, out=scratch)
        inf |= np.isinf(array, out=scratch)
    bad = int(np.count_nonzero(nan | inf))
    if bad == 0:  # the sum overflowed, the values are fine
        return
    kinds = [k for k, m in (("NaN", nan), ("infinite", inf)) if m.any()]
    total = nan.size
    share = 100.0 * bad / total
    amount = "all" if bad == total else f"{share:.0f}%" if share >= 1 else "less than 1%"
    raise InvalidModelOutput(
        f"The model produced invalid values ({' and '.join(kinds)}) in {amount} of the image "
        f"({bad:,} of {total:,} voxels at the model's resolution); no result was produced."
    )


def logits_to_labels(logits: torch.Tensor, spec: ModelSpec,
                     threshold: float = 0.0) -> np.ndarray:
    """Label values from blended logits ``(C, Z, Y, X)`` (softmax: argmax; sigmoid: > 0).

    ``threshold`` is the sigmoid decision value: 0 for logits, 0.5 for probabilities.
    """
    dtype = label_dtype(spec)
    known = {li.value for li in spec.labels}
    if spec.output.activation == "softmax":
        idx = argmax_channels(logits)
        values = np.arange(logits.shape[0])
    elif logits.shape[0] == 1:
        idx = torch.gt(logits[0], threshold).to(torch.uint8)
        values = np.array([0, 1])
    else:  # multi-label sigmoid: the strongest channel above 0.5, else background
        with_bg = torch.cat([torch.full_like(logits[:1], threshold), logits])
        idx = argmax_channels(with_bg)
        values = np.arange(logits.shape[0] + 1)
    lab = idx.numpy()
    lut = np.array([v if v in known else 0 for v in values], dtype=dtype)
    if np.array_equal(lut, np.arange(len(values))) and lab.dtype == dtype:
        return lab
    return lut[lab]


_CONFIDENCE_CHUNK = 1 << 23  # voxels per step of confidence_map: bounded buffers, and few
# large torch calls (each parallel call waits for all its threads: many small ones are slow
# on a busy machine)
_EXP_FLOOR = -80.0  # exp(-80) ~ 2e-35: nothing next to the largest term's exp(0) = 1


def confidence_map(values: torch.Tensor, channels: Iterable[int], *,
                   probabilities: bool = False,
                   scale: torch.Tensor | None = None) -> torch.Tensor:
    """The summed softmax probability of ``channels``, float32 ``(Z, Y, X)``, from blended
    values ``(C, Z, Y, X)`` (a view is fine: it is only read).

    From logits: ``exp(z_c - max)`` summed over ``channels`` and over all channels, in
    slabs of at most :data:`_CONFIDENCE_CHUNK` voxels (three slab buffers besides the
    result; no second C-channel tensor).  ``scale`` ``(Z, Y, X)``: the logits are
    multiplied by it first - the inverse of the summed blending weights when ``values``
    are the weighted SUM of the windows' logits (the engine skips that division for
    argmax), so the softmax is taken of their weighted mean.  ``probabilities``: the
    values are blended window probabilities (a weighted sum), so the share of
    ``channels`` in their sum (the weights cancel).
    """
    wanted = {int(c) for c in channels}
    n = values.shape[0]
    shape = tuple(values.shape[1:])
    out = torch.empty(shape, dtype=torch.float32)
    plane = max(1, int(np.prod(shape[1:])))
    step = max(1, _CONFIDENCE_CHUNK // plane)
    buffers = [torch.empty((min(step, shape[0]), *shape[1:]), dtype=torch.float32)
               for _ in range(3)]
    for z0 in range(0, shape[0], step):
        z1 = min(z0 + step, shape[0])
        block = values[:, z0:z1]
        result = out[z0:z1]
        num, den, term = (b[:z1 - z0] for b in buffers)
        num.zero_()
        if probabilities:
            torch.sum(block, dim=0, out=den)
            for ch in sorted(wanted):
                num.add_(block[ch])
            den.clamp_(min=torch.finfo(torch.float32).tiny)
        else:
            shift = result  # minus the (scaled) maximum; replaced by the result below
            torch.amax(block, dim=0, out=shift)
            factor = None if scale is None else scale[z0:z1]
            if factor is not None:  # (z_c - max) * s: the same maximum, s > 0
                shift.mul_(factor)
            shift.neg_()
            den.zero_()
            for ch in range(n):
                if factor is None:
                    torch.add(shift, block[ch], out=term)
                else:
                    torch.addcmul(shift, block[ch], factor, out=term)
                term.clamp_(min=_EXP_FLOOR).exp_()  # far-out inputs are slow in exp
                den.add_(term)  # >= 1: the largest term is exp(0)
                if ch in wanted:
                    num.add_(term)
        torch.div(num, den, out=result).clamp_(0.0, 1.0)
    return out


def blend_weight_sum(shape: tuple[int, ...], patch: tuple[int, ...], overlap: float,
                     blend: str) -> torch.Tensor:
    """The summed blending weights of the sliding window over ``shape`` (what
    :func:`~interval.ai.sliding_window.sliding_window_inference` divides by when it
    normalises; the image is at least one patch large here)."""
    from interval.ai.sliding_window import gaussian_importance_map, window_positions

    weight = (gaussian_importance_map(patch) if blend == "gaussian"
              else torch.ones(patch, dtype=torch.float32))
    total = torch.zeros(shape, dtype=torch.float32)
    for z, y, x in window_positions(shape, patch, overlap):
        total[z:z + patch[0], y:y + patch[1], x:x + patch[2]] += weight
    return total


def _confidence_on_input_grid(prob: torch.Tensor, resample: Resample | None,
                              reorient: Reorient | None) -> np.ndarray:
    """The (cropped) model-grid probability as uint8 0-255 on the input grid."""
    if resample is not None and not resample.is_identity:
        out = resample.invert_values(prob.numpy(), scale=255.0, dtype=np.uint8)
    else:
        out = prob.mul_(255.0).round_().to(torch.uint8).numpy()
    if reorient is not None:
        out = reorient.invert_labels(out)  # an exact permutation of the voxels
    return np.ascontiguousarray(out)


def checked_priors(volume: Volume, spec: ModelSpec, priors: Sequence[Volume]) -> list[np.ndarray]:
    """The earlier scans' arrays a temporal model gets (the latest ``prior_timepoints``),
    float32; ``ValueError`` when the model reads none or one lies on another grid."""
    if not priors:
        return []
    if spec.temporal is None:
        raise ValueError(f"the model {spec.name} segments one scan at a time; it was given "
                         f"{len(priors)} earlier scan(s)")
    out = []
    for prior in list(priors)[-spec.temporal.prior_timepoints:]:
        if not isinstance(prior, Volume) or not prior.same_grid(volume):
            raise ValueError("an earlier scan given to a temporal model must lie on the "
                             "scan's own voxel grid (registered and resampled onto it)")
        out.append(np.asarray(prior.array, dtype=np.float32))
    return out


def segment(
    volume: Volume,
    spec: ModelSpec,
    options: InferenceOptions | None = None,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    network: Network | None = None,
    priors: Sequence[Volume] = (),
) -> SegmentationResult:
    """Segment ``volume`` with the model ``spec``; labels on the input grid.

    ``network`` replaces the package's network (tests, benchmarks, a cached model);
    it is then used on the device it is on (``options.device`` still names it).
    ``priors``: for a model with a ``temporal`` section, earlier scans of the patient
    already on ``volume``'s grid (registered), oldest first; the latest
    ``temporal.prior_timepoints`` are used, each transformed like ``volume``, and the
    network gets them stacked before it along the channel axis.
    """
    if volume.is_rgb:
        raise UnsupportedData(
            "this model needs a greyscale image; this series is a colour image "
            "(a screenshot, secondary capture or ultrasound picture)"
        )
    opts = options or InferenceOptions()
    timer = _Timer()
    warnings: list[str] = []
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    if spec.modality and not spec.accepts_modality(volume.metadata.modality):
        warnings.append(
            f"The model expects {'/'.join(spec.modality)} images; this series is "
            f"{volume.metadata.modality or 'of unknown modality'}."
        )
    device = select_device(opts.device)
    check_cancel(cancel)
    with timer.phase("load_model"):
        if network is not None:
            net = network
        else:  # our own module: rewritten in place for the device (no copy)
            net = prepare_network(build_model(spec, device), device, copy_module=False)

    frames = checked_priors(volume, spec, priors)
    grid = Grid.of(volume)
    array = volume.array
    with timer.phase("reorient"):
        reorient = Reorient(grid, spec.orientation) if spec.orientation else None
        if reorient is not None and not reorient.is_identity:
            array = reorient.apply(array)
            frames = [reorient.apply(f) for f in frames]
            grid = reorient.grid_out
        if volume.is_oblique and spec.orientation:
            warnings.append("The series is oblique: it was given to the model along its "
                            "nearest patient axes, without resampling.")
    check_cancel(cancel)
    with timer.phase("resample"):
        resample = Resample(grid, spec.target_spacing) if spec.target_spacing else None
        if resample is not None and not resample.is_identity:
            array = resample.apply(array)
            frames = [resample.apply(f) for f in frames]
            grid = resample.grid_out
    check_cancel(cancel)
    with timer.phase("normalise"):
        array = normalize(array, spec.normalization)
        frames = [normalize(f, spec.normalization) for f in frames]
    inf = spec.inference
    whole = inf.mode == "whole"
    pad: PadToPatch | None = None
    if whole:  # one window: the whole array, no padding, no blending weights
        patch: tuple[int, ...] = tuple(int(n) for n in array.shape)
        overlap, batch_size, blend = 0.0, 1, "constant"
    else:
        assert spec.patch_size is not None  # validated by load_model_spec
        with timer.phase("pad"):
            pad_value = inf.pad_value
            value = float(array.min()) if pad_value == "min" else float(pad_value)
            pad = PadToPatch(grid, spec.patch_size, value)
            array = pad.apply(array)
            frames = [pad.apply(f) for f in frames]
        patch = spec.patch_size
        overlap = inf.overlap if opts.overlap is None else opts.overlap
        batch_size = opts.batch_size if opts.batch_size is not None else (
            None if device.type == "cpu" else inf.batch_size)
        blend = inf.blend

    probabilities = inf.average == "probabilities"
    stats = SlidingWindowStats()
    if frames:  # [earlier..., this] along the channel axis
        array = np.stack([*frames, array])
        del frames
    logits = sliding_window_inference(
        torch.from_numpy(np.ascontiguousarray(array)), net, patch,
        overlap=overlap, batch_size=batch_size, blend=blend,
        mirror_tta=inf.mirror_tta if opts.mirror_tta is None else opts.mirror_tta,
        device=device, amp=opts.amp,
        # argmax and the sign of logits do not change with the (positive) weight sum;
        # a probability threshold (sigmoid, 0.5) needs the weighted mean
        normalize=probabilities and spec.output.activation == "sigmoid",
        activation=spec.output.activation if probabilities else None,
        progress=progress, cancel=cancel, stats=stats,
        optimize=network is not None,  # a caller's module is prepared on a copy
        channels=spec.output.channels,
    )
    del array
    with timer.phase("check_finite"):  # over the image only, not the padding around it
        check_finite(logits if pad is None else logits[(slice(None), *pad.crop_slices())])
    timer.timings["window_setup"] = stats.setup_s
    timer.timings["network"] = stats.network_s
    timer.timings["stitch"] = stats.stitch_s
    warnings.extend(stats.warnings)

    confidence: np.ndarray | None = None
    wanted = spec.confidence
    # the calibrated region filter (confidence.drop_below) needs the map even when the
    # caller does not
    drop_below = (wanted.drop_below if wanted is not None and opts.cleanup else None)
    if ((opts.confidence or drop_below is not None) and wanted is not None
            and spec.output.activation == "softmax"):
        with timer.phase("confidence"):
            crop = (slice(None), slice(None), slice(None)) if pad is None else pad.crop_slices()
            scale = None
            if not probabilities and not whole:  # the logits are a weighted sum
                scale = blend_weight_sum(tuple(logits.shape[1:]), patch, overlap,
                                         blend).reciprocal_()[crop]
            prob = confidence_map(logits[(slice(None), *crop)], wanted.labels,
                                  probabilities=probabilities, scale=scale)
            del scale
        with timer.phase("confidence_back"):
            confidence = _confidence_on_input_grid(prob, resample, reorient)
            del prob
    with timer.phase("argmax"):
        labels = logits_to_labels(logits, spec, 0.5 if probabilities else 0.0)
        del logits
    with timer.phase("resample_back"):
        if pad is not None:
            labels = pad.invert_labels(labels)
        if resample is not None:
            labels = resample.invert_labels(labels)
        if reorient is not None:
            labels = reorient.invert_labels(labels)
        labels = np.ascontiguousarray(labels)
    if opts.cleanup and not spec.postprocess.is_empty:
        with timer.phase("postprocess"):
            apply_postprocess(labels, spec.postprocess, volume.voxel_volume_mm3())
    if drop_below is not None and confidence is not None and wanted is not None:
        with timer.phase("region_filter"):
            drop_unsure_regions(labels, confidence, wanted.labels, drop_below)
        if not opts.confidence:
            confidence = None
    out = volume.with_array(labels, labels=spec.label_table)
    conf = None if confidence is None else volume.with_array(confidence)
    return SegmentationResult(out, timer.timings, str(device), warnings, confidence=conf)
