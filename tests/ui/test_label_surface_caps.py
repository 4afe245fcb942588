"""3-D label surfaces close where a label touches the volume's edge (no hollow ends)."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkFiltersCore import vtkFeatureEdges

from interval.core.volume import Volume
from interval.ui.view_3d_prep import label_surfaces, touches_edge


def _open_edges(poly) -> int:
    edges = vtkFeatureEdges()
    edges.SetInputData(poly)
    edges.BoundaryEdgesOn()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.NonManifoldEdgesOff()
    edges.Update()
    return edges.GetOutput().GetNumberOfCells()


def _labels(touching: bool) -> Volume:
    a = np.zeros((20, 24, 28), np.uint8)
    start = 0 if touching else 4
    a[start:12, 6:18, 6:20] = 1  # a box; from the first slice when ``touching``
    return Volume(a, spacing=(1.0, 1.5, 2.0))


def test_touches_edge() -> None:
    assert touches_edge(_labels(True).array)
    assert not touches_edge(_labels(False).array)


def test_surface_touching_the_edge_is_closed_and_in_place() -> None:
    vol = _labels(True)
    surface = label_surfaces(vol, [1])[1]
    assert surface.GetNumberOfPolys() > 0
    assert _open_edges(surface) == 0  # capped: no boundary edges
    # the cap lies at the volume's first slice (z = 0 mm, within a voxel), not shifted
    zmin = surface.GetBounds()[4]
    assert -vol.spacing[2] <= zmin <= 0.5 * vol.spacing[2], zmin


def test_interior_surface_unchanged() -> None:
    surface = label_surfaces(_labels(False), [1])[1]
    assert _open_edges(surface) == 0
    assert 4 * 2.0 - 2.0 <= surface.GetBounds()[4] <= 4 * 2.0
