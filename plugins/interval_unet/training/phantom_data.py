"""Training and validation cases drawn from Interval's synthetic patient generator.

A case is one scan of synthetic patient ``seed`` at ``timepoint``, rendered in
memory by :func:`interval.io.synthetic.phantom.generate_phantom` (no DICOM is
written).  The CT is rendered on a scanner grid (by default the demo patient's
140 x 256 x 256 grid at 1.5 x 1.5 x 2.5 mm) and resampled linearly onto the
model grid, as the segmentation engine resamples a user's series; the labels
are rendered directly on the model grid (exact labels at the model's voxel
centres).  Both grids cover the same centred field of view, so the linear
resampling is ``torch.nn.functional.interpolate(..., align_corners=False)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interval.io.synthetic.phantom import DEFAULT_FOV_MM, LABELS, generate_phantom

# The model grid: the default field of view (384 x 384 x 350 mm) at 2 x 2 x 2.5 mm.
MODEL_SPACING = (2.0, 2.0, 2.5)  # x, y, z (mm)
MODEL_SHAPE = (140, 192, 192)  # z, y, x
# Scanner grids the CT is rendered on before resampling (nz, ny, nx); all cover the same FOV.
SOURCE_SHAPES = ((140, 256, 256), (117, 240, 240), (140, 192, 192), (175, 288, 288))
TRAIN_SEEDS = range(0, 1000)  # validation uses 1000 and up: the two never overlap
VALIDATION_SEEDS = tuple(range(1000, 1010))
CT_CLIP = (-1000.0, 1000.0)
N_CLASSES = 1 + len(LABELS)


@dataclass
class Case:
    """One case on the model grid: HU (float32, resampled) and labels (uint8), [z, y, x]."""

    seed: int
    timepoint: int
    source_shape: tuple[int, int, int]
    hu: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class PatientDraw:
    """Which synthetic patient a case comes from: the generator's patient options.

    ``n_timepoints`` and ``n_lesions`` change the patient drawn for a seed (more scans,
    more lesions per scan); None keeps the generator's defaults (3 scans, random count).
    ``hard_lesions`` is the chance that an organ lesion is drawn hard (low contrast and/or
    on its organ's border; 0, the default, draws the usual patient).
    """

    n_timepoints: int = 3
    n_lesions: int | None = None
    hard_lesions: float = 0.0

    def kwargs(self) -> dict:
        return {"n_timepoints": self.n_timepoints, "n_lesions": self.n_lesions,
                "hard_lesions": self.hard_lesions}

    def key(self) -> str:
        if self == PatientDraw():
            return ""
        hard = f"h{self.hard_lesions:g}" if self.hard_lesions else ""
        return f"-n{self.n_timepoints}l{self.n_lesions}{hard}"


def resample_linear(array: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Trilinear point resampling of a centred grid onto another covering the same FOV."""
    import torch

    if tuple(array.shape) == tuple(shape):
        return array.astype(np.float32)
    t = torch.from_numpy(array.astype(np.float32))[None, None]
    out = torch.nn.functional.interpolate(t, size=tuple(shape), mode="trilinear",
                                          align_corners=False)
    return out[0, 0].numpy()


def make_case(seed: int, timepoint: int, source_shape: tuple[int, int, int],
              draw: PatientDraw = PatientDraw()) -> Case:
    """Render case ``seed``/``timepoint`` with its CT acquired on ``source_shape``."""
    src = generate_phantom(seed, shape=source_shape, timepoint=timepoint, **draw.kwargs())
    if tuple(source_shape) == MODEL_SHAPE:
        labels = src.labels
    else:
        labels = generate_phantom(seed, shape=MODEL_SHAPE, spacing=MODEL_SPACING,
                                  timepoint=timepoint, noise=False, **draw.kwargs()).labels
    hu = resample_linear(src.ct, MODEL_SHAPE)
    return Case(seed, timepoint, tuple(source_shape), hu, labels)


def cached_case(cache: Path, seed: int, timepoint: int,
                source_shape: tuple[int, int, int], draw: PatientDraw = PatientDraw()) -> Case:
    """:func:`make_case`, stored in ``cache`` as .npz (HU as int16 after rounding)."""
    key = f"{seed}-{timepoint}-{'x'.join(map(str, source_shape))}{draw.key()}-{_grid_key()}"
    path = cache / f"case-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return Case(seed, timepoint, tuple(source_shape), z["hu"].astype(np.float32),
                        z["labels"])
    case = make_case(seed, timepoint, source_shape, draw)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, hu=np.rint(case.hu).astype(np.int16), labels=case.labels)
    tmp.replace(path)
    case.hu = np.rint(case.hu).astype(np.float32)
    return case


def _grid_key() -> str:
    return hashlib.sha1(repr((MODEL_SPACING, MODEL_SHAPE, DEFAULT_FOV_MM)).encode()).hexdigest()[:8]


def normalize(hu: np.ndarray, mean: float, std: float) -> np.ndarray:
    """The model.json "ct" scheme: clip to :data:`CT_CLIP`, subtract ``mean``, divide by ``std``."""
    out = np.clip(hu, *CT_CLIP).astype(np.float32)
    out -= np.float32(mean)
    out /= np.float32(std)
    return out


def foreground_stats(cases: list[Case]) -> tuple[float, float]:
    """Mean and standard deviation of the clipped HU inside labelled voxels (nnU-Net's CT scheme)."""
    values = np.concatenate([np.clip(c.hu[c.labels > 0], *CT_CLIP)[::7] for c in cases])
    return float(values.mean()), float(values.std())
