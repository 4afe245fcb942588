"""A model that reads earlier scans gets them from the pipeline, registered into each scan's space."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interval.io.synthetic.patient import generate_patient
from interval.longitudinal.model import SegmentationSource
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.segmentation_source import FileLabels
from interval.longitudinal.timeline import build_timeline

SHAPE = (40, 80, 80)


class TemporalProvider:
    """Truth label maps, recording the earlier scans it is given (as a temporal model)."""

    writes_label_maps = True
    prior_timepoints = 2

    def __init__(self, patient) -> None:
        self.files = FileLabels([tp.labels_path for tp in patient.timepoints])
        self.seen: dict[int, tuple[np.ndarray, list[np.ndarray], bool]] = {}
        self.warnings: list[str] = []

    def label_map(self, index, volume, *, progress=None, cancel=None, priors=()):
        self.seen[index] = (volume.array.astype(np.float32), [p.array for p in priors],
                            all(p.same_grid(volume) for p in priors))
        return self.files.label_map(index, volume)

    def source(self, index: int) -> SegmentationSource:
        return SegmentationSource(index, "model", "temporal 1.0", model="temporal",
                                  model_version="1.0")

    def close(self) -> None:
        return None


def test_each_scan_gets_its_earlier_scans_aligned(tmp_path: Path) -> None:
    patient = generate_patient(tmp_path / "p", 12, 4, SHAPE, keep_arrays=False)
    provider = TemporalProvider(patient)
    selection = build_timeline([patient.dicom_dir])
    outcome = run_tracking(selection, provider, tmp_path / "out",
                           TrackingOptions(registration="rigid", reports=False, forecast=False),
                           inputs=(patient.dicom_dir,))
    assert len(outcome.report.recist) == 4
    assert [len(provider.seen[i][1]) for i in range(4)] == [0, 1, 2, 2]  # at most 2
    raw = {i: provider.seen[i][0] for i in range(4)}
    aligned = unaligned = 0.0
    for i in range(1, 4):
        current, priors, on_grid = provider.seen[i]
        assert on_grid
        body = current > -500
        for k, prior in zip(range(i - len(priors), i), priors, strict=True):
            # the earlier scan moved into this scan's space vs as it was acquired (the
            # slices are 8.75 mm thick here, so interpolation alone costs some agreement)
            aligned += float(np.abs(prior[body] - current[body]).mean())
            unaligned += float(np.abs(raw[k][body] - current[body]).mean())
    assert aligned < 0.8 * unaligned, (aligned, unaligned)
    # timepoint 3 reads timepoints 1 and 2 (oldest first), not the baseline
    oldest = provider.seen[3][1][0]
    assert np.abs(oldest - provider.seen[2][1][-1]).mean() > 0  # different scans
