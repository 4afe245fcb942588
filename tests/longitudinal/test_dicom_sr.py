"""DICOM SEG + SR (TID 1500) per timepoint: valid for dciodvfy, read back by highdicom and
by dcmqi's tid1500reader with every number equal to what was written, tracking UIDs equal
across timepoints, segments that are the lesions' voxels; the detection score and the
RECIST new-lesion status (equivocal / confirmed) where they are known.

dciodvfy (Debian package dicom3tools) and tid1500reader (``pip install dcmqi``) are required:
the tests fail, never skip, without them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from interval.io.segmentation import load_segmentation, place_on_grid
from interval.longitudinal.dicom_sr import finding_site, write_timepoint_sr
from interval.longitudinal.report_common import as_component_volume, lesion_at
from interval.longitudinal.report_seg import segment_label, write_timepoint_seg
from tests.longitudinal._report_fixture import require_tool, shared_case

DCIODVFY = ("dciodvfy", "apt-get install dicom3tools")
TID1500READER = ("tid1500reader", "pip install dcmqi")
QUANTITY = {  # (concept code, derivation code) -> the writer's quantity name
    ("118565006", None): "volume", ("103339001", None): "long axis",
    ("103340004", None): "short axis", ("81827009", "56851009"): "max 3d diameter",
    ("112031", "373098007"): "mean", ("112031", "386136009"): "sd",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    case = shared_case()
    out = tmp_path_factory.mktemp("dicom")
    result = []
    for tp in case.report.timeline.timepoints:
        t = tp.index
        comps = as_component_volume(case.component_maps[t], case.volumes[t])
        seg = write_timepoint_seg(case.report, t, comps, case.volumes[t], case.series_files[t],
                                  out / f"tp{t + 1}_seg.dcm")
        sr = write_timepoint_sr(case.report, t, seg, out / f"tp{t + 1}_sr.dcm")
        result.append((seg, sr))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"tp{t}_{k}.dcm" for t in range(1, len(result) + 1) for k in ("seg", "sr")])
    return case, result


def test_dciodvfy_finds_no_error(written):
    tool = require_tool(*DCIODVFY)
    _, result = written
    for seg, sr in result:
        for path in (seg.path, sr.path):
            run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120,
                                 check=False)
            lines = (run.stdout + run.stderr).splitlines()
            errors = [line for line in lines if line.startswith("Error")]
            assert not errors, f"{path.name}: " + "\n".join(lines)


def test_sr_belongs_to_the_timepoint_study_and_references_its_seg(written):
    case, result = written
    for (seg, sr), tp in zip(result, case.report.timeline.timepoints, strict=True):
        ds = pydicom.dcmread(sr.path)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
        assert ds.StudyInstanceUID == tp.study_instance_uid == sr.study_instance_uid
        assert ds.PatientID == case.report.timeline.patient_id
        assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
        evidence = {item.ReferencedSOPInstanceUID
                    for study in ds.CurrentRequestedProcedureEvidenceSequence
                    for series in study.ReferencedSeriesSequence
                    for item in series.ReferencedSOPSequence}
        assert seg.written.sop_instance_uid in evidence
        assert set(seg.written.referenced_sop_instance_uids) <= evidence
        assert set(seg.written.referenced_sop_instance_uids) <= set(
            case.volumes[tp.index].metadata.sop_instance_uids)


def test_highdicom_reads_back_every_number(written):
    import highdicom as hd

    case, result = written
    report = case.report
    for seg, sr in result:
        t = sr.timepoint
        doc = hd.sr.srread(sr.path)
        groups = doc.content.get_volumetric_roi_measurement_groups()
        assert len(groups) == len(seg.segment_of) > 0
        expected = {(w.lesion_id, w.quantity): w.value for w in sr.measurements}
        seen = set()
        for g in groups:
            track = next(tr for tr in report.tracks if tr.tracking_uid == g.tracking_uid)
            assert g.tracking_identifier == track.name
            assert g.finding_type.value == "52988006"
            site = finding_site(track.organ)
            assert [s.value.value for s in g.finding_sites] == ([site.value] if site else [])
            ref = g.referenced_segment
            assert ref.referenced_sop_instance_uid == seg.written.sop_instance_uid
            assert ref.referenced_segment_numbers == [seg.segment_of[track.lesion_id]]
            assert ref.source_series_for_segmentation.value == \
                report.timeline.timepoints[t].series.series_instance_uid
            item = lesion_at(report, track, t)
            model = {"volume": item.volume_ml, "long axis": item.long_axis_mm,
                     "short axis": item.short_axis_mm,
                     "max 3d diameter": item.max_diameter_3d_mm, "mean": item.mean_intensity,
                     "sd": item.sd_intensity}
            found = {}
            for m in g.get_measurements():
                code = m.name.value
                if code in ("126073", "128740"):  # time point order / offset (TID 1502)
                    want = t + 1 if code == "126073" else \
                        report.timeline.timepoints[t].days_from_baseline
                    assert float(m.value) == want
                    continue
                derivation = m.derivation.value if m.derivation is not None else None
                quantity = QUANTITY[(code, derivation)]
                found[quantity] = float(m.value)
                assert float(m.value) == expected[(track.lesion_id, quantity)]  # exact
                assert float(m.value) == pytest.approx(model[quantity], abs=6e-3)
            assert set(found) == set(QUANTITY.values())
            seen.add(track.lesion_id)
        assert seen == set(seg.segment_of)


def test_segments_are_the_lesions(written):
    case, result = written
    report = case.report
    for seg, _ in result:
        t = seg.timepoint
        volume = case.volumes[t]
        back = place_on_grid(load_segmentation(seg.path), volume)
        names = {info.value: info.name for info in back.labels}
        comps = case.component_maps[t]
        for lesion_id, number in seg.segment_of.items():
            track = report.track(lesion_id)
            assert names[number] == segment_label(track.name)
            want = np.isin(comps, track.components_at(t))
            np.testing.assert_array_equal(back.array == number, want)
        gone = [tr for tr in report.tracks if tr.lesion_id not in seg.segment_of]
        assert all(not tr.components_at(t) for tr in gone)  # only absent lesions lack one


def _tid1500(path: Path, tmp: Path) -> dict:
    tool = require_tool(*TID1500READER)
    out = tmp / (path.stem + ".json")
    run = subprocess.run([tool, "--inputDICOM", str(path), "--outputMetadata", str(out)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text())


def test_dcmqi_reads_back_every_number_and_tracking_uids(written, tmp_path):
    case, result = written
    report = case.report
    uid_timepoints: dict[str, set[int]] = {}
    for seg, sr in result:
        data = _tid1500(sr.path, tmp_path)
        expected = {(w.tracking_uid, w.quantity): w.value for w in sr.measurements}
        assert len(data["Measurements"]) == len(seg.segment_of)
        for group in data["Measurements"]:
            uid = group["TrackingUniqueIdentifier"]
            track = next(tr for tr in report.tracks if tr.tracking_uid == uid)
            assert group["TrackingIdentifier"] == track.name
            assert group["segmentationSOPInstanceUID"] == seg.written.sop_instance_uid
            assert group["ReferencedSegment"] == seg.segment_of[track.lesion_id]
            assert group["Finding"]["CodeValue"] == "52988006"
            values = 0
            for item in group["measurementItems"]:
                code = item["quantity"]["CodeValue"]
                if code in ("126073", "128740"):
                    continue
                derivation = item.get("derivationModifier", {}).get("CodeValue")
                quantity = QUANTITY[(code, derivation)]
                assert float(item["value"]) == expected[(uid, quantity)]
                values += 1
            assert values == len(QUANTITY)
            uid_timepoints.setdefault(uid, set()).add(sr.timepoint)
    for track in report.tracks:  # the same UID at every timepoint the lesion was seen
        present = {t for t in range(len(result)) if lesion_at(report, track, t).seen}
        assert uid_timepoints.get(track.tracking_uid, set()) == present
    assert any(len(v) == len(result) for v in uid_timepoints.values())


@pytest.mark.parametrize(("organ", "code"), [
    ("liver", "10200004"), ("lung", "39607008"), ("kidney", "64033007"),
    ("lymph node", "59441001"), ("Spleen", "78961009"), ("adrenal gland", "23451007"),
    ("pleura", "3120008"), ("unknown", None), ("", None), ("left upper something", None),
])
def test_finding_sites(organ, code):
    site = finding_site(organ)
    assert (site.value if site is not None else None) == code
    if site is not None:
        assert site.scheme_designator == "SCT"


def test_model_segmentation_is_credited(tmp_path):
    """A model's output: SEG segments AUTOMATIC with its name and version, SR groups carry
    the algorithm identification, and both files stay valid."""
    import highdicom as hd

    from interval.longitudinal.model import SegmentationSource
    from tests.longitudinal._report_fixture import fresh_report

    case = shared_case()
    report = fresh_report(case)
    report.segmentations = [SegmentationSource(t.index, "model", "phantom-unet 1.0.0 (demo)",
                                               model="phantom-unet", model_version="1.0.0",
                                               plugin_id="interval.unet")
                            for t in report.timeline.timepoints]
    comps = as_component_volume(case.component_maps[1], case.volumes[1])
    seg = write_timepoint_seg(report, 1, comps, case.volumes[1], case.series_files[1],
                              tmp_path / "seg.dcm")
    sr = write_timepoint_sr(report, 1, seg, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(seg.path)
    for item in ds.SegmentSequence:
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        assert item.SegmentAlgorithmName == "phantom-unet"
        assert item.SegmentedPropertyTypeCodeSequence[0].CodeValue == "52988006"  # Lesion
    groups = hd.sr.srread(sr.path).content.get_volumetric_roi_measurement_groups()

    def names(items):  # every Algorithm Name (DCM 111001) below ``items``
        for item in items:
            concept = item.get("ConceptNameCodeSequence")
            if concept and concept[0].CodeValue == "111001":
                yield item.TextValue
            yield from names(item.get("ContentSequence", []))

    assert [list(names(g)) for g in groups] == [["phantom-unet"]] * len(groups)
    tool = require_tool(*DCIODVFY)
    for path in (seg.path, sr.path):
        run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120,
                             check=False)
        assert not [x for x in (run.stdout + run.stderr).splitlines() if x.startswith("Error")]


def test_any_language_in_lesion_names_survives_the_sr(tmp_path):
    """The SR is UTF-8 whatever the source images' character set (Latin-1 here)."""
    import highdicom as hd

    from tests.longitudinal._report_fixture import fresh_report

    case = shared_case()
    report = fresh_report(case)
    for track in report.tracks:
        track.name = f"{track.lesion_id} Läsion Ωμέγα очаг <b>&"
    comps = as_component_volume(case.component_maps[1], case.volumes[1])
    seg = write_timepoint_seg(report, 1, comps, case.volumes[1], case.series_files[1],
                              tmp_path / "seg.dcm")
    sr = write_timepoint_sr(report, 1, seg, tmp_path / "sr.dcm")
    assert pydicom.dcmread(sr.path).SpecificCharacterSet == "ISO_IR 192"
    names = {g.tracking_identifier for g in
             hd.sr.srread(sr.path).content.get_volumetric_roi_measurement_groups()}
    want = {report.track(lid).name + ", " + report.track(lid).organ for lid in seg.segment_of}
    assert names == want
    data = _tid1500(sr.path, tmp_path)
    assert {g["TrackingIdentifier"] for g in data["Measurements"]} == want


def test_the_growth_forecast_is_an_estimated_value_in_the_last_sr(tmp_path):
    """The network's forecast: in the last timepoint's SR only, a Long/Short axis with the
    derivation "Estimated", its algorithm and the text "model estimate"; valid for
    dciodvfy, read back by highdicom and dcmqi; the measured values are unchanged."""
    import highdicom as hd

    from interval.longitudinal.dicom_sr import FORECAST_TEXT, sr_forecast
    from interval.longitudinal.forecast import add_forecasts
    from tests.longitudinal._forecast_plugin import fake_registry
    from tests.longitudinal._report_fixture import fresh_report

    case = shared_case()
    report = fresh_report(case)
    add_forecasts(report, registry=fake_registry(tmp_path / "plugin"))
    last = report.timeline.timepoints[-1].index
    written = {}
    for t in (last - 1, last):
        comps = as_component_volume(case.component_maps[t], case.volumes[t])
        seg = write_timepoint_seg(report, t, comps, case.volumes[t], case.series_files[t],
                                  tmp_path / f"seg{t}.dcm")
        written[t] = (seg, write_timepoint_sr(report, t, seg, tmp_path / f"sr{t}.dcm"))
    assert not [w for w in written[last - 1][1].measurements if w.quantity == "forecast"]
    seg, sr = written[last]
    estimates = {w.lesion_id: w.value for w in sr.measurements if w.quantity == "forecast"}
    want = {lid: round(sr_forecast(report, lid, last).median_mm, 3) for lid in seg.segment_of
            if sr_forecast(report, lid, last) is not None}
    assert estimates == want and len(want) >= 3
    tool = require_tool(*DCIODVFY)
    run = subprocess.run([tool, str(sr.path)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert not [x for x in (run.stdout + run.stderr).splitlines() if x.startswith("Error")]
    estimated = "414135002"
    for g in hd.sr.srread(sr.path).content.get_volumetric_roi_measurement_groups():
        track = next(tr for tr in report.tracks if tr.tracking_uid == g.tracking_uid)
        found = [m for m in g.get_measurements()
                 if m.derivation is not None and m.derivation.value == estimated]
        if track.lesion_id not in want:
            assert not found
            continue
        (m,) = found
        axis = "103340004" if track.is_lymph_node else "103339001"
        assert m.name.value == axis and float(m.value) == want[track.lesion_id]
        measured = [x for x in g.get_measurements()
                    if x.name.value == axis and x.derivation is None]
        assert len(measured) == 1  # the measurement itself, unchanged and unmarked
        item = lesion_at(report, track, last)
        want_axis = item.short_axis_mm if track.is_lymph_node else item.long_axis_mm
        assert float(measured[0].value) == pytest.approx(want_axis, abs=1e-3)
    data = _tid1500(sr.path, tmp_path)
    seen = 0
    for group in data["Measurements"]:
        uid = group["TrackingUniqueIdentifier"]
        track = next(tr for tr in report.tracks if tr.tracking_uid == uid)
        for item in group["measurementItems"]:
            if item.get("derivationModifier", {}).get("CodeValue") != estimated:
                continue
            seen += 1
            assert float(item["value"]) == want[track.lesion_id]
            algorithm = item["measurementAlgorithmIdentification"]
            assert algorithm["AlgorithmParameters"][0] == FORECAST_TEXT
            f = sr_forecast(report, track.lesion_id, last)
            assert f"day {f.target_day:g}" in algorithm["AlgorithmParameters"][1]
            assert algorithm["AlgorithmVersion"] == report.forecast_version
    assert seen == len(want)


SCORE = "111012"  # (DCM, "Certainty of Finding")
NEW_LESION = "NEWLESION"  # (99ITV, "RECIST 1.1 new lesion")
EQUIVOCAL, CONFIRMED = "42425007", "410605003"  # SCT "Equivocal", "Confirmed present"


def _scored_report(case):
    """The case with a model-like score per lesion and timepoint, and its first new lesion
    held equivocal at follow-up 1 (its score below the threshold) and confirmed at follow-up
    2, as RECIST would record it; the other new lesion of follow-up 1 is counted outright."""
    import dataclasses

    from tests.longitudinal._report_fixture import fresh_report

    report = fresh_report(case)
    report.measurements = [dataclasses.replace(m, score=0.1 + 0.07 * m.component
                                               + 0.011 * m.timepoint)
                           for m in report.measurements]
    first = report.recist[1]
    doubtful, *counted = first.new_lesions
    assert counted, "the fixture has two new lesions at follow-up 1"
    report.recist[1] = dataclasses.replace(first, new_lesions=tuple(counted),
                                           equivocal_new_lesions=(doubtful,))
    report.recist[2] = dataclasses.replace(report.recist[2], new_lesions=(doubtful,),
                                           confirmed_new_lesions={doubtful: 1})
    report.equivocal_below = 0.5
    return report, doubtful, counted[0]


def _write_sr(case, report, t, tmp_path):
    comps = as_component_volume(case.component_maps[t], case.volumes[t])
    seg = write_timepoint_seg(report, t, comps, case.volumes[t], case.series_files[t],
                              tmp_path / f"seg{t}.dcm")
    return seg, write_timepoint_sr(report, t, seg, tmp_path / f"sr{t}.dcm")


def _statuses(path: Path) -> dict[str, list[str]]:
    """Tracking UID -> the values of its RECIST new-lesion evaluations, read by highdicom."""
    import highdicom as hd

    out = {}
    for g in hd.sr.srread(path).content.get_volumetric_roi_measurement_groups():
        out[g.tracking_uid] = [e.value.value for e in g.get_qualitative_evaluations()
                               if e.name.value == NEW_LESION]
    return out


def test_the_score_and_the_equivocal_new_lesion_are_in_the_sr(tmp_path):
    """Every lesion's score is a "Certainty of Finding" (0..1, UCUM "1"); the new lesion
    RECIST held equivocal says "Equivocal" where it was, "Confirmed present" where a later
    scan confirmed it, and no other lesion carries a status; valid for dciodvfy, read back
    by highdicom and dcmqi."""
    import highdicom as hd

    case = shared_case()
    report, doubtful, _ = _scored_report(case)
    tool = require_tool(*DCIODVFY)
    for t, want_status in ((1, {doubtful: "equivocal"}), (2, {doubtful: "confirmed"})):
        seg, sr = _write_sr(case, report, t, tmp_path)
        scores = {w.lesion_id: (w.value, w.unit) for w in sr.measurements
                  if w.quantity == "score"}
        want = {lid: (round(report.score_of(report.track(lid), t), 3), "1")
                for lid in seg.segment_of}
        assert scores == want and len(set(want.values())) > 2
        assert sr.new_lesion_status == want_status
        uid = report.track(doubtful).tracking_uid
        statuses = _statuses(sr.path)
        assert statuses.pop(uid) == [EQUIVOCAL if t == 1 else CONFIRMED]
        assert statuses and not any(statuses.values())  # the counted new lesion too
        ds = pydicom.dcmread(sr.path)
        assert [x.CodingSchemeDesignator for x in ds.CodingSchemeIdentificationSequence] \
            == ["99ITV"]
        for g in hd.sr.srread(sr.path).content.get_volumetric_roi_measurement_groups():
            lid = next(tr.lesion_id for tr in report.tracks if tr.tracking_uid == g.tracking_uid)
            (m,) = [m for m in g.get_measurements() if m.name.value == SCORE]
            assert (float(m.value), m.unit.value) == want[lid]
        run = subprocess.run([tool, str(sr.path)], capture_output=True, text=True, timeout=120,
                             check=False)
        assert not [x for x in (run.stdout + run.stderr).splitlines() if x.startswith("Error")]
        data = _tid1500(sr.path, tmp_path)
        for group in data["Measurements"]:
            track = next(tr for tr in report.tracks
                         if tr.tracking_uid == group["TrackingUniqueIdentifier"])
            (item,) = [i for i in group["measurementItems"]
                       if i["quantity"]["CodeValue"] == SCORE]
            assert float(item["value"]) == want[track.lesion_id][0]
            assert item["units"]["CodeValue"] == "1"
            found = [e["conceptValue"]["CodeValue"] for e in group.get("qualitativeEvaluations", [])
                     if e["conceptCode"]["CodeValue"] == NEW_LESION]
            assert found == ([EQUIVOCAL if t == 1 else CONFIRMED]
                             if track.lesion_id == doubtful else [])


def test_a_new_lesion_the_reader_confirmed_says_so(tmp_path):
    case = shared_case()
    report, doubtful, counted = _scored_report(case)
    report.track(counted).role_source = "reader"  # RECIST counts it: the reader's call
    _, sr = _write_sr(case, report, 1, tmp_path)
    assert sr.new_lesion_status == {doubtful: "equivocal", counted: "confirmed"}
    statuses = _statuses(sr.path)
    assert statuses[report.track(counted).tracking_uid] == [CONFIRMED]
    assert statuses[report.track(doubtful).tracking_uid] == [EQUIVOCAL]


def test_a_label_file_run_writes_no_score_and_no_status(written):
    """Label files have no score and RECIST held nothing equivocal: neither item is written,
    nor the local coding scheme."""
    import highdicom as hd

    _, result = written
    for _, sr in result:
        assert not [w for w in sr.measurements if w.quantity == "score"]
        assert sr.new_lesion_status == {}
        assert "CodingSchemeIdentificationSequence" not in pydicom.dcmread(sr.path)
        for g in hd.sr.srread(sr.path).content.get_volumetric_roi_measurement_groups():
            assert not [m for m in g.get_measurements() if m.name.value == SCORE]
            assert not [e for e in g.get_qualitative_evaluations()
                        if e.name.value == NEW_LESION]
