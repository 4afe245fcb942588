"""Lesion scores through the pipeline (issue 13): the model's confidence map gives each
region its score, the model's calibrated threshold reaches RECIST, and a rerun that
reuses the label maps keeps both."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from interval.core.volume import Volume
from interval.io.synthetic.patient import generate_patient
from interval.longitudinal import recist as recist_mod
from interval.longitudinal.model import SegmentationSource
from interval.longitudinal.pipeline import TrackingOptions, run_tracking
from interval.longitudinal.recist import RecistRules
from interval.longitudinal.segmentation_source import FileLabels, ModelLabels
from interval.longitudinal.timeline import build_timeline

SHAPE = (40, 80, 80)
N = 3
LEVELS = (230, 150, 60)  # confidence (0-255) inside the lesions at each timepoint


class ScoringModel:
    """A label provider that behaves like a model with a confidence section: the truth
    label maps, a confidence map of LEVELS[i] inside every lesion voxel (255 elsewhere,
    never counted), and the calibrated threshold 0.5."""

    writes_label_maps = True
    equivocal_below = 0.5

    def __init__(self, patient, levels: tuple[int, ...] = LEVELS) -> None:
        self.files = FileLabels([tp.labels_path for tp in patient.timepoints])
        self.levels = levels
        self.calls: list[int] = []
        self.released: list[int] = []
        self.maps: dict[int, Volume] = {}
        self.warnings: list[str] = []

    def label_map(self, index, volume, *, progress=None, cancel=None):
        self.calls.append(index)
        labels = self.files.label_map(index, volume)
        conf = np.where(np.isin(labels.array, (9, 10)), self.levels[index], 255).astype(np.uint8)
        self.maps[index] = volume.with_array(conf)
        return labels

    def confidence_map(self, index, *, release=False):
        if release:
            self.released.append(index)
            return self.maps.pop(index, None)
        return self.maps.get(index)

    def source(self, index: int) -> SegmentationSource:
        return SegmentationSource(index, "model", "scoring 1.0", model="scoring",
                                  model_version="1.0")

    def close(self) -> None:
        return None


def _run(patient, out: Path, labels, **options):
    options = {"registration": "rigid", "reports": False, "forecast": False, **options}
    selection = build_timeline([patient.dicom_dir])
    return run_tracking(selection, labels, out, TrackingOptions(**options),
                        inputs=(patient.dicom_dir,))


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    root = tmp_path_factory.mktemp("scores")
    patient = generate_patient(root / "p", 11, N, SHAPE, keep_arrays=False)
    model = ScoringModel(patient)
    outcome = _run(patient, root / "out", model)
    return patient, outcome, root / "out", model


@pytest.fixture
def rules_seen(monkeypatch):
    """The RecistRules each assess() call got."""
    seen: list[RecistRules | None] = []
    real = recist_mod.assess

    def spy(*args, **kwargs):
        seen.append(kwargs.get("rules"))
        return real(*args, **kwargs)

    monkeypatch.setattr(recist_mod, "assess", spy)
    return seen


def test_every_region_is_scored_from_its_timepoints_confidence(first) -> None:
    _patient, outcome, _out, model = first
    report = outcome.report
    assert report.measurements
    for m in report.measurements:
        assert m.score == round(LEVELS[m.timepoint] / 255, 3), m
    assert sorted(model.released) == list(range(N)) and model.maps == {}  # nothing kept
    assert report.equivocal_below == 0.5


def test_the_models_threshold_reaches_recist_unless_the_rules_are_given(
        first, tmp_path, rules_seen) -> None:
    patient, _outcome, _out, _model = first
    _run(patient, tmp_path / "a", ScoringModel(patient))
    assert rules_seen[-1] is not None and rules_seen[-1].equivocal_below == 0.5
    own = RecistRules(min_long_axis_mm=12.0)
    outcome = _run(patient, tmp_path / "b", ScoringModel(patient), recist_rules=own)
    assert rules_seen[-1] is own and outcome.report.equivocal_below is None
    files = FileLabels([tp.labels_path for tp in patient.timepoints])
    outcome = _run(patient, tmp_path / "c", files)
    assert rules_seen[-1] == RecistRules()  # a label file knows no threshold
    assert all(m.score is None for m in outcome.report.measurements)


def test_a_new_lesion_scored_below_the_threshold_is_equivocal(first, tmp_path) -> None:
    """With the scores of the first run (0.588 at timepoint 2) a new lesion counts there;
    scored 0.235 instead it is held equivocal, and confirmed at timepoint 3 (0.588)."""
    patient, before, _out, _model = first
    counted = [row.new_lesions for row in before.report.recist]
    assert counted[1] and not before.report.recist[1].equivocal_new_lesions
    after = _run(patient, tmp_path / "low", ScoringModel(patient, levels=(230, 60, 150)))
    rows = after.report.recist
    assert rows[1].equivocal_new_lesions == counted[1] and not rows[1].new_lesions
    assert set(counted[1]) <= set(rows[2].new_lesions)


def test_a_rerun_that_reuses_the_label_maps_keeps_the_scores(first, tmp_path,
                                                             rules_seen) -> None:
    patient, before, out, _model = first
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    model = ScoringModel(patient)
    after = _run(patient, copy, model)
    assert model.calls == []  # every label map reused: no confidence map this time
    assert [m.score for m in after.report.measurements] == \
        [m.score for m in before.report.measurements]
    assert rules_seen[-1].equivocal_below == 0.5


def test_saved_label_maps_take_the_earlier_reports_scores_and_threshold(
        first, tmp_path, rules_seen) -> None:
    """A provider that cannot say (retrack's saved label maps): the earlier report's
    scores for the same regions and its threshold."""
    patient, before, out, _model = first
    copy = tmp_path / "out"
    shutil.copytree(out, copy)

    class Saved:
        writes_label_maps = True

        def __init__(self) -> None:
            self.files = FileLabels([tp.labels_path for tp in patient.timepoints])
            self.warnings: list[str] = []

        def label_map(self, index, volume, *, progress=None, cancel=None):
            return self.files.label_map(index, volume)

        def source(self, index):
            return SegmentationSource(index, "model", "scoring 1.0", model="scoring",
                                      model_version="1.0")

        def close(self):
            return None

    # timepoints 1 and 3 are reused; timepoint 2's saved map is damaged, so it is read
    # again through the provider, which has no confidence map
    (copy / "segmentation" / "tp2_labels.nii.gz").write_bytes(b"damaged")
    after = _run(patient, copy, Saved())
    assert any("tp2_labels.nii.gz" in w for w in after.report.warnings)  # read again
    assert [m.score for m in after.report.measurements] == \
        [m.score for m in before.report.measurements]
    assert rules_seen[-1].equivocal_below == 0.5 and after.report.equivocal_below == 0.5


def test_a_region_that_changed_gets_no_score_from_the_earlier_report(first, tmp_path) -> None:
    """Scores are carried only to the same region (same voxel count and box)."""
    import dataclasses

    from interval.longitudinal.pipeline import _EarlierScores, _region_key

    _patient, before, _out, _model = first
    m = before.report.measurements[0]
    earlier = _EarlierScores({m.key: (_region_key(m), 0.9)}, 0.5)
    grown = dataclasses.replace(m, voxel_count=m.voxel_count + 1, score=None)
    moved = dataclasses.replace(m, bbox_hi=(9, 9, 9), score=None)
    same = dataclasses.replace(m, score=None)
    assert [x.score for x in earlier.scored([grown, moved, same])] == [None, None, 0.9]


def test_model_labels_keep_each_timepoints_confidence_map(monkeypatch) -> None:
    import interval.ai.runner as runner
    from interval.ai.model_package import ConfidenceSpec
    from interval.ai.options import SegmentationResult

    volume = Volume(np.zeros((4, 5, 6), np.int16))
    conf = volume.with_array(np.full((4, 5, 6), 77, np.uint8))

    def fake(vol, folder, options, **kwargs):
        return SegmentationResult(vol.with_array(np.zeros(vol.shape, np.uint8)),
                                  confidence=conf if folder == "with" else None)

    monkeypatch.setattr(runner, "run_segmentation", fake)

    class Spec:
        name, version, confidence = "m", "1", ConfidenceSpec((9,), 0.62)

    class Entry:
        folder, code_path, spec = "with", None, Spec()
        accepts_modality = staticmethod(lambda _m: True)

    labels = ModelLabels(Entry())
    labels._next = object()  # no process started ahead in this test
    labels.label_map(1, volume)
    assert labels.confidence_map(1) is conf and labels.confidence_map(0) is None
    assert labels.confidence_map(1, release=True) is conf
    assert labels.confidence_map(1) is None
    assert labels.equivocal_below == 0.62
    Entry.folder = "without"
    Spec.confidence = None
    labels._next = object()
    labels.label_map(2, volume)
    assert labels.confidence_map(2) is None and labels.equivocal_below is None
    files = FileLabels([])
    assert files.confidence_map(0) is None and files.equivocal_below is None
