"""Training sequences for the temporal (CNN + RNN) model, drawn from the synthetic patient generator.

A *sequence* is scan ``t`` of synthetic patient ``seed`` together with up to
``priors`` earlier scans of the same patient, every one of them resampled into
scan ``t``'s space.  At run time the longitudinal core's registration does that
resampling; here the generator renders each earlier timepoint directly with
timepoint ``t``'s pose and deformation (the patient lying exactly as at ``t``:
perfect registration), and :func:`jitter` adds the residual misalignment a real
registration leaves.  Lesions, noise and texture are those of the earlier
timepoint.  CT is rendered on a scanner grid and resampled linearly to the model
grid as in :mod:`phantom_data`; the labels of scan ``t`` are rendered on the model
grid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import phantom_data as pdata  # sits beside this script

from interval.io.synthetic.phantom import render, sample_patient


@dataclass
class Sequence:
    """Frames (oldest first, the scan to segment last) as HU [T, z, y, x] and its labels."""

    seed: int
    timepoint: int
    frames: np.ndarray  # float32 HU on the model grid
    labels: np.ndarray  # uint8, labels of the last frame


def make_sequence(seed: int, timepoint: int, priors: int, draw: pdata.PatientDraw,
                  source_shape: tuple[int, int, int]) -> Sequence:
    """Render scan ``timepoint`` and up to ``priors`` earlier scans in its space."""
    model = sample_patient(seed, **draw.kwargs())
    n = model.n_timepoints
    as_t = dataclasses.replace(
        model, poses=(model.poses[timepoint],) * n,
        deformations=(model.deformations[timepoint],) * n if model.deformations else ())
    src_grid = model.default_grid(source_shape)
    model_grid = model.default_grid(pdata.MODEL_SHAPE, pdata.MODEL_SPACING)
    frames = []
    for k in range(max(timepoint - priors, 0), timepoint + 1):
        scan = render(as_t if k != timepoint else model, k, src_grid)
        frames.append(pdata.resample_linear(scan.ct, pdata.MODEL_SHAPE))
    if tuple(source_shape) == pdata.MODEL_SHAPE:
        labels = scan.labels
    else:
        labels = render(model, timepoint, model_grid, noise=False).labels
    return Sequence(seed, timepoint, np.stack(frames), labels)


def cached_sequence(cache: Path, seed: int, timepoint: int, priors: int,
                    draw: pdata.PatientDraw, source_shape: tuple[int, int, int]) -> Sequence:
    """:func:`make_sequence`, kept in ``cache`` as .npz (HU as int16)."""
    key = (f"seq-{seed}-{timepoint}-p{priors}-{'x'.join(map(str, source_shape))}{draw.key()}"
           f"-{pdata._grid_key()}")
    path = cache / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return Sequence(seed, timepoint, z["frames"].astype(np.float32), z["labels"])
    seq = make_sequence(seed, timepoint, priors, draw, source_shape)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    frames = np.rint(seq.frames).astype(np.int16)
    np.savez(tmp, frames=frames, labels=seq.labels)
    tmp.replace(path)
    seq.frames = frames.astype(np.float32)
    return seq


def jitter(frame: np.ndarray, shift: tuple[int, int, int], fill: float) -> np.ndarray:
    """``frame`` moved by whole voxels (a registration error), the gap filled with ``fill``."""
    out = np.full_like(frame, fill)
    src = tuple(slice(max(-s, 0), n - max(s, 0)) for s, n in zip(shift, frame.shape, strict=True))
    dst = tuple(slice(max(s, 0), n - max(-s, 0)) for s, n in zip(shift, frame.shape, strict=True))
    out[dst] = frame[src]
    return out
