"""The optimisation stages of a registration (SimpleITK), on the coarse working images.

Each stage is one ``sitk.ImageRegistrationMethod``: Mattes mutual information on a fixed
number of random points of the fixed body mask per level, drawn with a FIXED seed (same
inputs, same result), linear interpolation with image gradients by central differences, a
multi-resolution pyramid and a regular-step gradient descent.  Stages:

* rigid (``Euler3DTransform``), started by :mod:`.registration_start` (centres of mass of
  the bodies, or a better head-foot offset), steps scaled by the physical shift they cause
  (so millimetres and radians are weighed fairly), shrink 4-2-1;
* affine (12 parameters) from the rigid result, shrink 2-1;
* B-spline (control points every ``bspline_spacing_mm``) on top of the linear result,
  a few small steps at shrink 2-1.

Whether a later stage is kept is decided by the caller with :meth:`StageRunner.evaluate`
(validation samples).

Cancellation: SimpleITK's registration cannot be interrupted by an exception from a
Python command (it is printed, then reported as a generic error), so the iteration command
asks the optimiser to stop (``StopRegistration``) as soon as ``cancel()`` is true, every
remaining level then ends after one iteration, and :class:`StageRunner` raises
:class:`~interval.core.errors.Cancelled` when ``Execute`` returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from interval.core.errors import Cancelled
from interval.core.jobs import CancelFn, ProgressFn, report
from interval.longitudinal.body_mask import dilate6
from interval.longitudinal.registration_images import WorkingImage
from interval.longitudinal.registration_start import start_transform


@dataclass(frozen=True)
class RegistrationOptions:
    """Parameters of :func:`interval.longitudinal.registration.register` (defaults tested)."""

    working_spacing_mm: float = 3.0  # registration runs on copies averaged to about this
    histogram_bins: int = 32
    samples: int = 20000  # metric samples per level (random, in the fixed body mask)
    validation_samples: int = 40000  # other samples, to check that a stage improved anything
    min_gain: float = 0.01  # a later stage must improve the validation metric by 1 % to be kept
    seed: int = 20240601  # the sampling's seed: registration is deterministic
    rigid_shrink: tuple[int, ...] = (4, 2, 1)
    rigid_smoothing: tuple[float, ...] = (2.0, 1.0, 0.0)  # voxels of each level
    affine_shrink: tuple[int, ...] = (2, 1)
    affine_smoothing: tuple[float, ...] = (1.0, 0.0)
    bspline_shrink: tuple[int, ...] = (2, 1)
    bspline_smoothing: tuple[float, ...] = (1.0, 0.0)
    bspline_spacing_mm: float = 120.0  # distance between B-spline control points
    iterations: int = 200  # per level, linear stages
    rigid_step_mm: float = 2.0  # first step of the rigid optimiser (largest shift it causes)
    affine_step_mm: float = 1.0  # first step of the affine optimiser
    min_step_mm: float = 3e-4  # rigid: 1e-3 stopped 0.5-1 mm short on a rotated head (measured)
    affine_min_step_mm: float = 1e-3  # affine: 3e-4 took 7 times the iterations for nothing
    relaxation: float = 0.5  # the step shrinks by this when the direction turns back
    bspline_iterations: int = 20  # per level
    bspline_samples: int = 10000  # metric samples per level of the B-spline stage
    bspline_step_mm: float = 1.0  # first step: the largest control-point move (mm)
    mask_dilation_voxels: int = 1  # the metric mask reaches this far beyond the body (the skin edge)
    # quality verdict
    dice_failed: float = 0.70  # body-mask Dice below this: failed
    dice_questionable: float = 0.85  # below this: questionable
    specificity_failed: float = 0.05  # match specificity below this: failed
    specificity_questionable: float = 0.08
    interior_margin_mm: float = 20.0  # the specificity is measured this far inside the body
    probe_shift_mm: float = 15.0  # ... against the solution shifted this far along each axis
    min_overlap_fraction: float = 0.25  # of the fixed body that the moving scan must cover
    max_scale: float = 1.5  # affine scalings outside [1/max, max]: failed


LINEAR_STAGES = {"rigid": ("rigid",), "affine": ("rigid", "affine"),
                 "deformable": ("rigid", "affine", "bspline")}


class StageRunner:
    """Runs the stages of one registration with shared progress (one step per level) and cancel."""

    def __init__(self, stages: Sequence[str], options: RegistrationOptions,
                 progress: ProgressFn | None, cancel: CancelFn | None) -> None:
        self.options = options
        self.progress = progress
        self.cancel = cancel
        self.total = sum(len(self._shrink(s)) for s in stages)
        self.done = 0
        self.metric: float | None = None  # the last stage's final metric value
        self._masks: dict[int, tuple[WorkingImage, sitk.Image]] = {}

    def _shrink(self, stage: str) -> tuple[int, ...]:
        o = self.options
        return {"rigid": o.rigid_shrink, "affine": o.affine_shrink, "bspline": o.bspline_shrink}[stage]

    # --- stages ------------------------------------------------------------------------

    def rigid(self, fixed: WorkingImage, moving: WorkingImage) -> sitk.Euler3DTransform:
        """Euler (rotation + translation), started by :func:`.registration_start.start_transform`."""
        o = self.options
        initial = start_transform(fixed, moving, shrink=o.rigid_shrink[0],
                                  smoothing=o.rigid_smoothing[0], bins=o.histogram_bins)
        out = self._run(fixed, moving, initial, o.rigid_shrink, o.rigid_smoothing,
                        step=o.rigid_step_mm, min_step=o.min_step_mm)
        return out  # type: ignore[return-value]

    def affine(self, fixed: WorkingImage, moving: WorkingImage,
               rigid: sitk.Euler3DTransform) -> sitk.AffineTransform:
        """12-parameter affine started from ``rigid`` (same centre)."""
        initial = sitk.AffineTransform(3)
        initial.SetCenter(rigid.GetCenter())
        initial.SetMatrix(rigid.GetMatrix())
        initial.SetTranslation(rigid.GetTranslation())
        o = self.options
        out = self._run(fixed, moving, initial, o.affine_shrink, o.affine_smoothing,
                        step=o.affine_step_mm, min_step=o.affine_min_step_mm)
        return out  # type: ignore[return-value]

    def bspline(self, fixed: WorkingImage, moving: WorkingImage,
                linear: sitk.Transform) -> sitk.BSplineTransform:
        """Free-form deformation in the fixed space, applied before ``linear``."""
        o = self.options
        extent = np.asarray(fixed.image.GetSize()) * np.asarray(fixed.image.GetSpacing())
        mesh = [max(1, int(round(e / o.bspline_spacing_mm))) for e in extent]
        initial = sitk.BSplineTransformInitializer(fixed.image, mesh, order=3)
        out = self._run(fixed, moving, initial, o.bspline_shrink, o.bspline_smoothing,
                        step=None, moving_initial=linear)
        return out  # type: ignore[return-value]

    def evaluate(self, fixed: WorkingImage, moving: WorkingImage, transform: sitk.Transform,
                 moving_initial: sitk.Transform | None = None) -> float:
        """The metric of ``transform`` on validation samples (another seed, full resolution)."""
        o = self.options
        method = sitk.ImageRegistrationMethod()
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=o.histogram_bins)
        method.SetMetricSamplingStrategy(method.RANDOM)
        voxels = int(sitk.GetArrayViewFromImage(fixed.mask).sum(dtype=np.int64))
        method.SetMetricSamplingPercentage(min(1.0, o.validation_samples / max(voxels, 1)),
                                           o.seed + 1)
        method.SetMetricFixedMask(fixed.mask)
        method.SetInterpolator(sitk.sitkLinear)
        method.MetricUseMovingImageGradientFilterOff()
        method.MetricUseFixedImageGradientFilterOff()
        if moving_initial is not None:
            method.SetMovingInitialTransform(moving_initial)
        method.SetInitialTransform(transform)
        return float(method.MetricEvaluate(fixed.image, moving.image))

    # --- the work ----------------------------------------------------------------------

    def _metric_mask(self, fixed: WorkingImage) -> sitk.Image:
        """The fixed body mask grown by ``mask_dilation_voxels`` (computed once per image)."""
        key = id(fixed)
        if key not in self._masks:
            self._masks[key] = (fixed, _dilated(fixed.mask, self.options.mask_dilation_voxels))
        return self._masks[key][1]

    def _method(self, fixed: WorkingImage, shrink: Sequence[int], smoothing: Sequence[float],
                step: float | None, min_step: float = 0.0,
                n_parameters: int = 0) -> sitk.ImageRegistrationMethod:
        o = self.options
        method = sitk.ImageRegistrationMethod()
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=o.histogram_bins)
        method.SetMetricSamplingStrategy(method.RANDOM)
        metric_mask = self._metric_mask(fixed)
        voxels = int(sitk.GetArrayViewFromImage(metric_mask).sum(dtype=np.int64))
        samples = o.samples if step is not None else o.bspline_samples
        # the same number of samples at every level (a level shrunk by f has f**3 fewer voxels)
        method.SetMetricSamplingPercentagePerLevel(
            [min(1.0, samples * f**3 / max(voxels, 1)) for f in shrink], o.seed)
        method.SetMetricFixedMask(metric_mask)
        method.SetInterpolator(sitk.sitkLinear)
        # image gradients by central differences at each sample, consistent with the linear
        # interpolation of the values (the default, a Gaussian-smoothed gradient image, is
        # not: the optimiser then drifts uphill near the optimum, measured)
        method.MetricUseMovingImageGradientFilterOff()
        method.MetricUseFixedImageGradientFilterOff()
        if step is not None:  # linear: steps measured by the shift they cause (mm)
            method.SetOptimizerAsRegularStepGradientDescent(
                learningRate=step, minStep=min_step, numberOfIterations=o.iterations,
                relaxationFactor=o.relaxation, gradientMagnitudeTolerance=1e-8)
            method.SetOptimizerScalesFromPhysicalShift()
        else:
            # B-spline: every parameter is a control point's displacement in mm, and moving
            # one moves tissue by at most that much, so unit scales are the physical-shift
            # scales (without their estimate, which took half the stage's time); a few small
            # steps, no more, keep the deformation smooth where the images differ in content
            # (LBFGSB and longer runs distorted the body wall by centimetres, measured)
            method.SetOptimizerAsRegularStepGradientDescent(
                learningRate=o.bspline_step_mm, minStep=0.01,
                numberOfIterations=o.bspline_iterations, relaxationFactor=0.5)
            method.SetOptimizerScales([1.0] * n_parameters)
        method.SetShrinkFactorsPerLevel(list(shrink))
        method.SetSmoothingSigmasPerLevel(list(smoothing))
        method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        return method

    def _run(self, fixed: WorkingImage, moving: WorkingImage, initial: sitk.Transform,
             shrink: Sequence[int], smoothing: Sequence[float], *, step: float | None,
             min_step: float = 0.0, moving_initial: sitk.Transform | None = None
             ) -> sitk.Transform:
        method = self._method(fixed, shrink, smoothing, step, min_step,
                              initial.GetNumberOfParameters())
        if moving_initial is not None:
            method.SetMovingInitialTransform(moving_initial)
        method.SetInitialTransform(initial, inPlace=True)  # ``initial`` is optimised
        cancelled = [False]
        first_level = [True]

        def on_iteration() -> None:
            if cancelled[0] or (self.cancel is not None and self.cancel()):
                cancelled[0] = True
                method.StopRegistration()

        def on_level() -> None:
            if first_level[0]:
                first_level[0] = False
            else:
                self.done += 1
                report(self.progress, self.done, self.total)

        method.AddCommand(sitk.sitkIterationEvent, on_iteration)
        method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)
        if self.cancel is not None and self.cancel():
            raise Cancelled()
        method.Execute(fixed.image, moving.image)
        if cancelled[0]:
            raise Cancelled()
        self.done += 1  # the last level
        report(self.progress, self.done, self.total)
        self.metric = float(method.GetMetricValue())
        return initial


def _dilated(mask: sitk.Image, radius: int) -> sitk.Image:
    return dilate6(mask, radius) if radius > 0 else mask
