"""Volume-rendering presets: colour and opacity transfer functions in Hounsfield units.

The CT tables follow the shape of 3D Slicer's VolumeRendering presets (``presets.xml``:
CT-Bone, CT-Muscle, CT-Lung, CT-AAA): piecewise-linear points ``(HU, value)`` plus the
shading coefficients.  Non-CT images get :func:`ramp_preset`, a grey ramp over a window
(e.g. the automatic percentile window of an MR series).
"""

from __future__ import annotations

from dataclasses import dataclass

from interval.core.metadata import WindowLevel

Rgb = tuple[float, float, float]


@dataclass(frozen=True)
class VolumePreset:
    """A transfer function: ``colors`` are ``(HU, (r, g, b))`` with r, g, b in 0-1;
    ``opacity`` are ``(HU, alpha)``; ``gradient_opacity`` ``(gradient HU/mm, alpha)``
    (empty: none); the rest are Phong shading coefficients."""

    name: str
    colors: tuple[tuple[float, Rgb], ...]
    opacity: tuple[tuple[float, float], ...]
    gradient_opacity: tuple[tuple[float, float], ...] = ()
    shade: bool = True
    ambient: float = 0.1
    diffuse: float = 0.9
    specular: float = 0.2
    specular_power: float = 10.0

    def color_at(self, hu: float) -> Rgb:
        """The unshaded colour at ``hu`` (linear between points, clamped at the ends)."""
        pts = self.colors
        if hu <= pts[0][0]:
            return pts[0][1]
        for (x0, c0), (x1, c1) in zip(pts, pts[1:], strict=False):
            if hu <= x1:
                t = 0.0 if x1 == x0 else (hu - x0) / (x1 - x0)
                return tuple(a + t * (b - a) for a, b in zip(c0, c1, strict=True))  # type: ignore[return-value]
        return pts[-1][1]

    def opacity_at(self, hu: float) -> float:
        """Scalar opacity at ``hu`` (linear between points, clamped at the ends)."""
        pts = self.opacity
        if hu <= pts[0][0]:
            return pts[0][1]
        for (x0, a0), (x1, a1) in zip(pts, pts[1:], strict=False):
            if hu <= x1:
                t = 0.0 if x1 == x0 else (hu - x0) / (x1 - x0)
                return a0 + t * (a1 - a0)
        return pts[-1][1]


CT_BONE = VolumePreset(
    "CT bone",
    colors=(
        (-3024.0, (0.0, 0.0, 0.0)),
        (-16.4, (0.73, 0.25, 0.30)),
        (641.4, (0.91, 0.82, 0.55)),
        (3071.0, (1.0, 1.0, 1.0)),
    ),
    opacity=((-3024.0, 0.0), (-16.4, 0.0), (641.4, 0.72), (3071.0, 0.71)),
)

CT_SOFT_TISSUE = VolumePreset(
    "CT soft tissue",
    colors=(
        (-3024.0, (0.0, 0.0, 0.0)),
        (-155.4, (0.55, 0.25, 0.15)),
        (217.6, (0.88, 0.60, 0.29)),
        (419.7, (1.0, 0.94, 0.95)),
        (3071.0, (0.83, 0.66, 1.0)),
    ),
    opacity=((-3024.0, 0.0), (-155.4, 0.0), (217.6, 0.68), (419.7, 0.83), (3071.0, 0.80)),
    specular=0.0,
    specular_power=1.0,
)

CT_LUNG = VolumePreset(
    "CT lung",
    colors=(
        (-1000.0, (0.3, 0.3, 1.0)),
        (-600.0, (0.0, 0.0, 1.0)),
        (-530.0, (0.13, 0.78, 0.07)),
        (-460.0, (0.93, 1.0, 0.11)),
        (-400.0, (0.89, 0.25, 0.02)),
        (2952.0, (1.0, 0.3, 0.3)),
    ),
    opacity=(
        (-1000.0, 0.0),
        (-600.0, 0.0),
        (-599.0, 0.15),
        (-400.0, 0.15),
        (-399.0, 0.0),
        (2952.0, 0.0),
    ),
    ambient=0.2,
    diffuse=1.0,
    specular=0.0,
    specular_power=1.0,
)

CT_ANGIO = VolumePreset(
    "CT angio/vessels",
    colors=(
        (-3024.0, (0.0, 0.0, 0.0)),
        (143.6, (0.62, 0.36, 0.18)),
        (166.2, (0.88, 0.60, 0.29)),
        (214.4, (1.0, 1.0, 1.0)),
        (419.7, (1.0, 0.94, 0.95)),
        (3071.0, (0.83, 0.66, 1.0)),
    ),
    opacity=(
        (-3024.0, 0.0),
        (143.6, 0.0),
        (166.2, 0.69),
        (214.4, 0.70),
        (419.7, 0.83),
        (3071.0, 0.80),
    ),
)

CT_PRESETS: dict[str, VolumePreset] = {
    p.name: p for p in (CT_BONE, CT_SOFT_TISSUE, CT_LUNG, CT_ANGIO)
}
DEFAULT_CT_PRESET = CT_BONE.name


def ct_preset(name: str) -> VolumePreset:
    """The CT preset called ``name`` (case-insensitive); KeyError lists the known names."""
    for key, value in CT_PRESETS.items():
        if key.lower() == name.strip().lower():
            return value
    raise KeyError(f"unknown volume preset {name!r}; expected one of {tuple(CT_PRESETS)}")


def ramp_preset(window: WindowLevel, name: str = "Grey ramp") -> VolumePreset:
    """A grey ramp over ``window`` for images without Hounsfield units (MR, PET...):
    transparent below the window, opacity rising to 0.6 across it."""
    lo = window.center - window.width / 2.0
    hi = window.center + window.width / 2.0
    if hi <= lo:
        hi = lo + 1.0
    return VolumePreset(
        name,
        colors=((lo, (0.0, 0.0, 0.0)), (hi, (1.0, 1.0, 1.0))),
        opacity=((lo, 0.0), (lo + 0.15 * (hi - lo), 0.0), (hi, 0.6)),
        specular=0.0,
        specular_power=1.0,
    )
