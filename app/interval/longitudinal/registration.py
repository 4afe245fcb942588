"""Registration of a follow-up scan to its reference (pipeline step 2), with a verdict.

:func:`register` aligns ``moving`` (a follow-up) to ``fixed`` (the baseline, or the previous
timepoint when the reader chains them) with SimpleITK: rigid, then affine, then optionally a
B-spline deformation, by Mattes mutual information on the body, multi-resolution, on coarse
working copies (:mod:`.registration_images`: about 3 mm voxels, so a 512 x 512 x 300 CT
registers in about 2-3 s).  Same inputs, same result (fixed sampling seed; multi-threaded
sums may differ in the last digits, below 1e-6 mm).

A later stage is kept only when it improves the match on validation samples by 1 %
(``RegistrationOptions.min_gain``): an affine that only fits noise or breathing, or a
B-spline that adds nothing, is dropped and ``result.method`` names what was used, the
message says why.

The result says whether it can be trusted (:mod:`.registration_quality`): ``ok``,
``questionable`` (usable; the reader should look) or ``failed`` (never used to map lesions:
:meth:`Registration.to_moving`, :meth:`~Registration.to_reference` and
:meth:`~Registration.resample_labels` refuse a failed registration unless ``force=True``).
A registration that fails is returned with status ``failed`` and a message, never raised.

Chained mode (each follow-up registered to the previous timepoint): :func:`compose` joins
``reference <- previous`` and ``previous <- this`` into one ``reference <- this`` registration
(exact matrix product for linear ones; a flat composite transform when one is deformable),
so lesions are resampled once, never through a chain of interpolations.

Conventions: transforms map reference (fixed) LPS points to the moving timepoint's LPS
(ITK's convention, as in the saved ``.tfm``/``.h5`` files: resampling the moving image with
it puts it on the reference grid).  ``result.matrix`` is that 4x4 (linear part);
``translation_mm`` is how far it moves the centre of the reference body, ``rotation_deg``
the angle of its rotation part.
"""


from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, ProgressFn, check_cancel
from interval.core.volume import Volume
from interval.io.sitk_bridge import to_sitk
from interval.longitudinal.model import (
    REG_FAILED,
    REG_IDENTITY,
    REG_OK,
    REG_QUESTIONABLE,
    RegistrationResult,
)
from interval.longitudinal.registration_images import WorkingImage, working_image
from interval.longitudinal.registration_quality import assess
from interval.longitudinal.registration_stages import (
    LINEAR_STAGES,
    RegistrationOptions,
    StageRunner,
)
from interval.longitudinal.registration_transforms import (
    affine_transform,
    apply_matrix,
    as_points,
    invert_displacement,
    linear_matrix,
    rotation_angle_deg,
    save_transform,
    transform_points,
)

log = logging.getLogger(__name__)

METHODS = ("rigid", "affine", "deformable")
MIN_BODY_ML = 20.0  # less body than this in a scan: nothing to register
_STATUS_RANK = {REG_IDENTITY: 0, REG_OK: 1, REG_QUESTIONABLE: 2, REG_FAILED: 3}


class RegistrationError(IntervalError):
    """A registration cannot be used or asked for (unknown method, failed result used)."""


@dataclass(eq=False)
class Registration:
    """One timepoint aligned to its reference: the verdict and the transform."""

    result: RegistrationResult
    transform: sitk.Transform  # reference (fixed) LPS -> this timepoint (moving) LPS
    linear: np.ndarray  # 4x4 of the linear part
    deformation: sitk.Transform | None = None  # applied before ``linear``; None if linear
    chain: tuple[Registration, Registration] | None = None  # (base <- prev, prev <- this)

    @property
    def usable(self) -> bool:
        """Whether lesions may be mapped with it (not failed)."""
        return self.result.status != REG_FAILED

    # --- points and labels ---------------------------------------------------------------

    def to_moving(self, points_lps: np.ndarray, *, force: bool = False) -> np.ndarray:
        """Reference LPS points ``(N, 3)`` -> the same anatomy in this timepoint's LPS."""
        self._check(force)
        p = as_points(points_lps)
        if self.chain is not None:
            first, second = self.chain
            return second.to_moving(first.to_moving(p, force=True), force=True)
        if self.deformation is not None:
            p = transform_points(self.deformation, p)
        return apply_matrix(self.linear, p)

    def to_reference(self, points_lps: np.ndarray, *, force: bool = False) -> np.ndarray:
        """This timepoint's LPS points ``(N, 3)`` -> reference LPS (the inverse).

        Exact (a matrix inverse) for linear registrations; for deformable ones the linear
        part is inverted exactly and the B-spline by fixed-point iteration to 1e-4 mm.
        """
        self._check(force)
        if self.chain is not None:
            first, second = self.chain
            return first.to_reference(second.to_reference(points_lps, force=True), force=True)
        p = apply_matrix(np.linalg.inv(self.linear), as_points(points_lps))
        if self.deformation is not None:
            p = invert_displacement(self.deformation, p)
        return p

    def resample_labels(self, labels: Volume, reference: Volume, *,
                        force: bool = False) -> np.ndarray:
        """``labels`` (this timepoint's label or component map) on ``reference``'s grid.

        Nearest neighbour, same dtype, 0 outside this timepoint's field of view; the array is
        indexed ``[k, j, i]`` like ``reference.array``.
        """
        self._check(force)
        image = to_sitk(labels)
        f = sitk.ResampleImageFilter()
        f.SetSize([int(n) for n in reference.size_ijk])
        f.SetOutputSpacing(reference.spacing)
        f.SetOutputOrigin(reference.origin)
        f.SetOutputDirection(tuple(float(v) for v in np.asarray(reference.direction).ravel()))
        f.SetTransform(self.transform)
        f.SetInterpolator(sitk.sitkNearestNeighbor)
        f.SetDefaultPixelValue(0)
        f.SetOutputPixelType(image.GetPixelID())
        out = sitk.GetArrayFromImage(f.Execute(image))
        return out.astype(labels.array.dtype, copy=False)

    # --- files ---------------------------------------------------------------------------

    @property
    def file_suffix(self) -> str:
        """``.h5`` for a deformable transform (composite), ``.tfm`` for a linear one."""
        return ".tfm" if self.deformation is None and self.chain is None else ".h5"

    def save(self, path: str | Path, *, relative_to: str | Path | None = None) -> Path:
        """Write the transform atomically; returns the path written.

        The suffix is forced to :attr:`file_suffix`.  ``result.transform_file`` becomes the
        path relative to ``relative_to`` (the output folder) when given, else the full path.
        """
        target = Path(path)
        if target.suffix.lower() != self.file_suffix:
            target = target.with_name(target.name + self.file_suffix) if not target.suffix \
                else target.with_suffix(self.file_suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_transform(self.transform, target)
        shown = str(target)
        if relative_to is not None:
            try:
                shown = target.resolve().relative_to(Path(relative_to).resolve()).as_posix()
            except ValueError:
                shown = str(target)
        self.result = replace(self.result, transform_file=shown)
        return target

    def _check(self, force: bool) -> None:
        if not force and not self.usable:
            raise RegistrationError(
                f"The registration of timepoint {self.result.timepoint} failed and is not used "
                f"to map positions ({self.result.message})")


# --- public functions --------------------------------------------------------------------


def prepare_reference(volume: Volume, options: RegistrationOptions | None = None) -> WorkingImage:
    """The reduced-resolution copy (and body mask) :func:`register` works on, made once for
    a reference used by several follow-ups; the full scan can then be released."""
    opts = options or RegistrationOptions()
    return working_image(volume, opts.working_spacing_mm)


def register(
    fixed: Volume | WorkingImage,
    moving: Volume,
    *,
    method: str = "affine",
    timepoint: int,
    reference: int,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    options: RegistrationOptions | None = None,
) -> Registration:
    """Align ``moving`` (timepoint ``timepoint``) to ``fixed`` (timepoint ``reference``;
    a scan, or its :func:`prepare_reference` copy).

    ``method``: ``"rigid"``, ``"affine"`` (rigid then affine) or ``"deformable"`` (rigid,
    affine, then B-spline).  ``progress(done, total)`` counts resolution levels over all
    stages; ``cancel()`` is checked at every optimiser iteration (raises
    :class:`~interval.core.errors.Cancelled`).  A registration that does not work is
    returned with status ``failed`` and a message (never raised), so the pipeline can go on
    without it; an unknown ``method`` raises :class:`RegistrationError`.
    """
    if method not in METHODS:
        raise RegistrationError(f"Unknown registration method {method!r}; "
                                f"choose one of {', '.join(METHODS)}.")
    start = time.perf_counter()
    opts = options or RegistrationOptions()
    check_cancel(cancel)
    fixed_w = (fixed if isinstance(fixed, WorkingImage)
               else working_image(fixed, opts.working_spacing_mm))
    check_cancel(cancel)
    moving_w = working_image(moving, opts.working_spacing_mm)
    check_cancel(cancel)
    empty = _empty_scan(fixed_w, moving_w)
    if empty:
        return _failed(timepoint, reference, method, empty, start)
    runner = StageRunner(LINEAR_STAGES[method], opts, progress, cancel)
    try:
        linear, used, notes = _linear_stages(runner, fixed_w, moving_w, method)
        deformation = None
        if method == "deformable":
            deformation, note = _deformable_stage(runner, fixed_w, moving_w, linear)
            used = "deformable" if deformation is not None else used
            notes.append(note)
    except RuntimeError as exc:  # SimpleITK: e.g. every sample mapped outside the moving scan
        return _failed(timepoint, reference, method,
                       f"Registration failed: the optimiser stopped ({_itk_reason(exc)}).", start)
    matrix = linear_matrix(linear)
    transform = (sitk.CompositeTransform([linear, deformation]) if deformation is not None
                 else affine_transform(matrix, linear.GetCenter()))
    quality = assess(fixed_w, moving_w, transform, matrix, used, opts)
    message = " ".join([quality.message, *[n for n in notes if n]])
    centre = _body_centre(fixed_w)
    result = RegistrationResult(
        timepoint=timepoint, reference=reference, method=used, status=quality.status,
        message=message, metric=runner.metric, body_overlap=quality.body_overlap,
        matrix=_rows(matrix), translation_mm=_vec(apply_matrix(matrix, centre[None])[0] - centre),
        rotation_deg=round(rotation_angle_deg(matrix), 4),
        seconds=round(time.perf_counter() - start, 3),
    )
    log.info("registration %s (%s used): %s in %.2f s", method, used, quality.status,
             result.seconds)
    return Registration(result, transform, matrix, deformation)


def identity_registration(volume: Volume | None, timepoint: int) -> Registration:
    """The reference timepoint's own 'registration' (identity, status ``identity``)."""
    del volume  # the grid does not matter for the identity
    matrix = np.eye(4)
    result = RegistrationResult(
        timepoint=timepoint, reference=timepoint, method="identity", status=REG_IDENTITY,
        message="The reference timepoint itself.", metric=None, body_overlap=1.0,
        matrix=_rows(matrix), translation_mm=(0.0, 0.0, 0.0), rotation_deg=0.0,
    )
    return Registration(result, affine_transform(matrix), matrix, None)


def compose(reg_prev_to_base: Registration, reg_this_to_prev: Registration) -> Registration:
    """Chained mode: ``base <- prev`` and ``prev <- this`` as one ``base <- this`` registration.

    ``reg_prev_to_base`` maps baseline points into the previous timepoint, ``reg_this_to_prev``
    previous-timepoint points into this one; the result maps baseline points into this one.
    Its status is the worse of the two, its message names both, ``body_overlap`` is the
    smaller, ``metric`` is that of the last step.
    """
    a, b = reg_prev_to_base, reg_this_to_prev
    if a.result.timepoint != b.result.reference:
        raise RegistrationError(
            f"Cannot chain: the first registration ends at timepoint {a.result.timepoint}, the "
            f"second starts from timepoint {b.result.reference}.")
    matrix = b.linear @ a.linear
    chain: tuple[Registration, Registration] | None = None
    if a.deformation is None and b.deformation is None and a.chain is None and b.chain is None:
        transform: sitk.Transform = affine_transform(matrix)
    else:
        # base -> prev (a), then prev -> this (b): CompositeTransform applies the last first;
        # flat (an HDF5 file cannot hold a composite inside a composite)
        transform = sitk.CompositeTransform(_parts(b.transform) + _parts(a.transform))
        chain = (a, b)
    status = max(a.result.status, b.result.status, key=lambda s: _STATUS_RANK.get(s, 3))
    overlaps = [r.result.body_overlap for r in (a, b) if r.result.body_overlap is not None]
    result = RegistrationResult(
        timepoint=b.result.timepoint, reference=a.result.reference,
        method=b.result.method, status=status,
        message=(f"Chained through timepoint {a.result.timepoint}: "
                 f"{a.result.message} / {b.result.message}"),
        metric=b.result.metric, body_overlap=min(overlaps) if overlaps else None,
        matrix=_rows(matrix), translation_mm=None,
        rotation_deg=round(rotation_angle_deg(matrix), 4),
        seconds=round(a.result.seconds + b.result.seconds, 3),
    )
    return Registration(result, transform, matrix, None, chain)


# --- helpers -----------------------------------------------------------------------------


def _linear_stages(runner: StageRunner, fixed: WorkingImage, moving: WorkingImage,
                   method: str) -> tuple[sitk.Transform, str, list[str]]:
    """Rigid, then (unless ``method`` is rigid) affine, kept only if it matches better.

    The affine stage is kept when it improves the metric on validation samples (another
    random set than the optimiser saw) by ``min_gain`` (1 %): a real change of scale (2 %)
    gains 10 % and more, while on scans that differ by a rigid motion plus breathing the
    affine's extra freedom gains under 0.5 % and fits noise and organ motion, moving the
    body away from the rigid truth (measured on generated patients).
    """
    rigid = runner.rigid(fixed, moving)
    if method == "rigid":
        return rigid, "rigid", []
    rigid_metric = runner.metric
    try:
        affine = runner.affine(fixed, moving, rigid)
    except RuntimeError as exc:
        runner.metric = rigid_metric
        return rigid, "rigid", [f"The affine stage stopped ({_itk_reason(exc)}): the rigid "
                                "result is used."]
    before = runner.evaluate(fixed, moving, rigid)
    after = runner.evaluate(fixed, moving, affine)
    gain = (before - after) / abs(before) if before else 0.0
    if gain >= runner.options.min_gain:
        return affine, "affine", []
    runner.metric = rigid_metric  # the metric reported is that of the transform used
    note = (f"The affine stage improved the match by only {max(gain, 0.0):.1%} "
            f"(needs {runner.options.min_gain:.0%}): the rigid result is used.")
    return rigid, "rigid", [note]


def _deformable_stage(runner: StageRunner, fixed: WorkingImage, moving: WorkingImage,
                      linear: sitk.Transform) -> tuple[sitk.Transform | None, str]:
    """The B-spline on top of ``linear``, kept only if it improves the validation metric."""
    linear_metric = runner.metric
    try:
        bspline = runner.bspline(fixed, moving, linear)
    except RuntimeError as exc:
        runner.metric = linear_metric
        return None, f"The deformable stage stopped ({_itk_reason(exc)}): the linear result is used."
    before = runner.evaluate(fixed, moving, linear)
    after = runner.evaluate(fixed, moving, bspline, moving_initial=linear)
    gain = (before - after) / abs(before) if before else 0.0
    if gain >= runner.options.min_gain:
        return bspline, f"The deformable stage improved the match by {gain:.1%}."
    runner.metric = linear_metric
    return None, (f"The deformable stage improved the match by only {max(gain, 0.0):.1%}: "
                  "the linear result is used.")


def _parts(transform: sitk.Transform) -> list[sitk.Transform]:
    """The transforms of a composite, in its order (a single transform as a list of one)."""
    if isinstance(transform, sitk.CompositeTransform) or transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        return [composite.GetNthTransform(i) for i in range(composite.GetNumberOfTransforms())]
    return [transform]


def _empty_scan(fixed: WorkingImage, moving: WorkingImage) -> str:
    for name, w in (("reference", fixed), ("follow-up", moving)):
        if w.body_voxels * w.voxel_volume_mm3 / 1000.0 < MIN_BODY_ML:
            return f"Registration failed: no body was found in the {name} scan."
    return ""


def _failed(timepoint: int, reference: int, method: str, message: str,
            start: float) -> Registration:
    matrix = np.eye(4)
    result = RegistrationResult(
        timepoint=timepoint, reference=reference, method=method, status=REG_FAILED,
        message=message, seconds=round(time.perf_counter() - start, 3))
    log.info("registration %s: failed", method)
    return Registration(result, affine_transform(matrix), matrix, None)


def _body_centre(w: WorkingImage) -> np.ndarray:
    mask = sitk.GetArrayViewFromImage(w.mask)
    kji = np.argwhere(mask)
    if kji.size == 0:
        return np.zeros(3)
    ijk = kji.mean(axis=0)[::-1]
    return np.asarray(w.image.TransformContinuousIndexToPhysicalPoint(
        tuple(float(v) for v in ijk)), dtype=np.float64)


def _itk_reason(exc: RuntimeError) -> str:
    """SimpleITK's error in a few words (no build paths, no object addresses)."""
    text = str(exc)
    if "outside moving image buffer" in text or "samples map outside" in text.lower():
        return "the scans do not overlap enough"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    last = last.split("):", 1)[-1] if "):" in last else last
    return last.replace("ITK ERROR:", "").replace("sitk::ERROR:", "").strip()[:160]


def _rows(m: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(round(v, 9)) for v in row) for row in m)


def _vec(v: Sequence[float]) -> tuple[float, float, float]:
    return (round(float(v[0]), 4), round(float(v[1]), 4), round(float(v[2]), 4))
