"""DICOM SR (TID 1500 Measurement Report) of the tracked lesions, written with highdicom.

Design
======

* **One SR per timepoint.**  A TID 1500 report belongs to one study (its Study Instance
  UID, its evidence), and each timepoint is its own study, so each gets its own
  Comprehensive 3D SR in that study, next to its own DICOM SEG.  The SRs of one patient are
  tied together by the lesions' **Tracking Unique Identifiers**, equal across timepoints
  for the same lesion (``Track.tracking_uid``), and each measurement group says which
  timepoint it is (TID 1502 Time Point Context: the label, baseline or post-treatment,
  the order, and the days since the baseline).  This is how OHIF and 3D Slicer's
  Quantitative Reporting follow a lesion from report to report.
* **One measurement group (TID 1411, volumetric ROI) per lesion and timepoint** where the
  lesion has its own region: Tracking Identifier (``"L1 liver"``) and Tracking Unique
  Identifier, the finding type (Lesion) and finding site (the organ, SNOMED CT, when
  known), the Referenced Segment (that timepoint's SEG, the lesion's segment number, and
  the source series), the algorithm when a model segmented it, and the measurements:

  ========================  =====================================  =========
  measurement               concept                                unit
  ========================  =====================================  =========
  volume                    (118565006, SCT, "Volume")             ml
  RECIST long axis          (103339001, SCT, "Long axis")          mm
  RECIST short axis         (103340004, SCT, "Short axis")         mm
  maximum 3-D diameter      (81827009, SCT, "Diameter"),           mm
                            derivation (56851009, SCT, "Maximum")
  mean intensity (CT)       (112031, DCM, "Attenuation             [hnsf'U]
                            Coefficient"), derivation Mean
  SD of intensity (CT)      same, derivation Standard Deviation    [hnsf'U]
  ========================  =====================================  =========

  The **growth forecast** (a model estimate, never a measurement) is written into the
  SR of the *last* timepoint only (it was made from the measurements up to that one), in
  the group of each lesion present there that has a network forecast with a number: one
  more measurement of the lesion's RECIST concept (Long axis; Short axis for a lymph
  node), in mm, with the derivation (121401, DCM, "Derivation") = (414135002, SCT,
  "Estimated") of DICOM CID 3627 "Measurement Type", and its Algorithm Identification
  (TID 4019: the method's name, the plugin's version, and as parameters the text "model
  estimate, not a measurement", the target date and day, and the band). A reader tells it
  from the measured long axis by the derivation "Estimated" (dcmqi: ``derivationModifier``).

  The lesion's **detection score** (when the segmentation gave one) and, for a new
  lesion RECIST held **equivocal** or counted as **confirmed** there, its new-lesion
  status are in the group too: (111012, DCM, "Certainty of Finding") in UCUM "1" (a
  fraction 0..1), and a qualitative evaluation (NEWLESION, 99ITV, "RECIST 1.1 new
  lesion") = (42425007, SCT, "Equivocal") or (410605003, SCT, "Confirmed present"); the
  local scheme 99ITV is declared in the Coding Scheme Identification Sequence.  See
  :mod:`.dicom_sr_confidence` for why these codes and when each is written.

  A lesion split into several components is one group whose values are added up as in
  :mod:`.report_common`; a lesion absent or merged into another at a timepoint has no
  group there; excluded lesions have none anywhere.
* The source images are referenced by every group (Source series for segmentation) and
  listed, with the SEG, in the evidence (Current Requested Procedure Evidence Sequence), so
  a PACS keeps the report with what it measured.  They are not repeated in an Image
  Library (TID 1600): optional, and its ~60 content items per slice made a 300-slice
  report take seconds to build.

Numbers are written rounded (volume to 0.0001 mL, lengths to 0.001 mm, intensities to
0.01, the score to 0.001) and :class:`WrittenMeasurement` records exactly what was written;
:attr:`SrWritten.new_lesion_status` the new-lesion statuses.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interval.core.atomic import atomic_path
from interval.core.errors import IntervalError
from interval.longitudinal.dicom_sr_confidence import (
    SCORE_UNIT,
    coding_scheme_item,
    new_lesion_evaluation,
    new_lesion_status,
    score_measurement,
)
from interval.longitudinal.model import LongitudinalReport, Track
from interval.longitudinal.report_common import (
    LesionAtTimepoint,
    ReportError,
    lesion_at,
    lesion_title,
    shown_tracks,
    timepoint_info,
)
from interval.longitudinal.report_seg import TimepointSeg, algorithm_for

SR_SERIES_NUMBER = 902
FORECAST_TEXT = "model estimate, not a measurement"  # the forecast's first algorithm parameter
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"

# Organ names (as the lesion extraction writes them) -> SNOMED CT keyword in pydicom's codes.
_SITES = {
    "liver": "Liver", "lung": "Lung", "kidney": "Kidney", "lymph node": "LymphNode",
    "spleen": "Spleen", "bone": "Bone", "brain": "Brain", "pancreas": "Pancreas",
    "adrenal gland": "AdrenalGland", "adrenal": "AdrenalGland", "stomach": "Stomach",
    "heart": "Heart", "aorta": "Aorta", "skin": "Skin", "pleura": "Pleura",
}


@dataclass(frozen=True)
class WrittenMeasurement:
    """One number as written into the SR."""

    lesion_id: str
    tracking_uid: str
    quantity: str  # "volume", "long axis", "short axis", "max 3d diameter", "mean", "sd",
    # "forecast" (the growth forecast's median: a model estimate), "score" (the detection
    # score, 0..1)
    value: float
    unit: str  # UCUM code


@dataclass(frozen=True)
class SrWritten:
    """What :func:`write_timepoint_sr` wrote."""

    timepoint: int
    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    seg_sop_instance_uid: str
    measurements: list[WrittenMeasurement] = field(default_factory=list)
    # lesion id -> its new-lesion status written here: "equivocal" or "confirmed"
    # (dicom_sr_confidence.STATUS_*); lesions without one are not listed
    new_lesion_status: dict[str, str] = field(default_factory=dict)


def finding_site(organ: str) -> Any | None:
    """The SNOMED CT code of an organ name (a known name, or an anatomical structure of
    DICOM CID 7151 by its name), or None ("unknown", or no such structure)."""
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    name = organ.strip().lower()
    key = _SITES.get(name)
    if key is None:
        key = "".join(w.capitalize() for w in name.replace("-", " ").split())
        if not key or key not in dir(codes.cid7151):
            return None
    return getattr(codes.SCT, key)


def write_timepoint_sr(report: LongitudinalReport, timepoint: int, seg: TimepointSeg,
                       path: str | Path) -> SrWritten:
    """Write the TID 1500 SR of ``timepoint`` referencing its SEG ``seg`` and the source
    images the SEG references."""
    import highdicom as hd  # noqa: PLC0415 - heavy, only when writing SR

    import interval  # noqa: PLC0415

    path = Path(path)
    images = list(seg.sources)
    if not images:
        raise ReportError("the DICOM files of this timepoint are not known, so no DICOM SR "
                          "can reference them")
    seg_ds = _seg_evidence(seg, images[0])
    groups, written, statuses = [], [], {}
    series_uid = str(images[0].SeriesInstanceUID)
    modality = str(getattr(images[0], "Modality", "")).upper()
    for track in shown_tracks(report):
        number = seg.segment_of.get(track.lesion_id)
        if number is None:
            continue
        item = lesion_at(report, track, timepoint)
        group, values, status = _group(hd, report, track, item, seg_ds, number, series_uid,
                                       modality)
        groups.append(group)
        written.extend(values)
        if status:
            statuses[track.lesion_id] = status
    if not groups:
        raise ReportError("no lesion has a segment at this timepoint; no SR was written")
    observer = hd.sr.ObserverContext(
        observer_type=_code(hd, "121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="Interval", manufacturer_name="Interval",
            model_name="Interval longitudinal tracking"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # highdicom's notes are not for users
        measurement_report = hd.sr.MeasurementReport(
            observation_context=hd.sr.ObservationContext(observer_device_context=observer),
            procedure_reported=_procedure(modality),
            imaging_measurements=groups,
        )
        sr = _build_sr(hd, images + [seg_ds], measurement_report, interval.__version__, report,
                       timepoint)
    if statuses:  # the local code of the new-lesion status: declare its coding scheme
        sr.CodingSchemeIdentificationSequence = [
            *sr.get("CodingSchemeIdentificationSequence", []), coding_scheme_item()]
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise IntervalError(f"the folder {folder} does not exist", path=path)
    try:
        with atomic_path(path, suffix=".dcm") as tmp:
            sr.save_as(tmp, enforce_file_format=True)
    except OSError as exc:
        raise IntervalError(f"could not write the file ({exc.strerror or exc})", path=path) from exc
    return SrWritten(timepoint, path, str(sr.SOPInstanceUID), str(sr.SeriesInstanceUID),
                     str(sr.StudyInstanceUID), str(seg_ds.SOPInstanceUID), written, statuses)


def _build_sr(hd: Any, evidence: list[Any], content: Any, version: str,
              report: LongitudinalReport, timepoint: int) -> Any:
    try:
        sr = hd.sr.Comprehensive3DSR(
            evidence=evidence, content=content, series_instance_uid=hd.UID(),
            series_number=SR_SERIES_NUMBER, sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="Interval", is_complete=True, is_final=False, is_verified=False,
        )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ReportError(f"a DICOM SR cannot be made for these images ({detail})") from exc
    tp = timepoint_info(report, timepoint)
    label = tp.label if tp else f"timepoint {timepoint}"
    sr.SeriesDescription = f"Interval lesion measurements ({label})"[:64]
    sr.SoftwareVersions = f"Interval {version}"[:64]
    # Lesion names are the reader's text (any language): UTF-8 keeps every character,
    # where the source images' character set (often Latin-1) would turn some into "?".
    sr.SpecificCharacterSet = "ISO_IR 192"
    return sr


def _seg_evidence(seg: TimepointSeg, source: Any) -> Any:
    """What the SR's evidence needs of the SEG (its identity; the SEG is not read again)."""
    from pydicom.dataset import Dataset  # noqa: PLC0415

    ds = Dataset()
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
                    "AccessionNumber", "ReferringPhysicianName"):
        if keyword in source:
            setattr(ds, keyword, source.data_element(keyword).value)
    ds.SOPClassUID = SEG_SOP_CLASS
    ds.SOPInstanceUID = seg.written.sop_instance_uid
    ds.SeriesInstanceUID = seg.written.series_instance_uid
    ds.Modality = "SEG"
    return ds


def _code(hd: Any, value: str, scheme: str, meaning: str) -> Any:
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _procedure(modality: str) -> Any:
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    if modality == "CT":
        return codes.cid100.CTUnspecifiedBodyRegion
    if modality == "MR":
        return codes.cid100.MRIUnspecifiedBodyRegion
    return codes.cid100.ImagingProcedure


def _time_point(hd: Any, report: LongitudinalReport, timepoint: int) -> Any:
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    tp = timepoint_info(report, timepoint)
    label = tp.label if tp else f"timepoint {timepoint}"
    if tp is not None and tp.study_date is not None:
        label = f"{label} {tp.study_date.isoformat()}"
    offset = None
    if tp is not None and tp.days_from_baseline is not None:
        offset = hd.sr.LongitudinalTemporalOffsetFromEvent(
            value=float(tp.days_from_baseline), unit=codes.UCUM.Day,
            event_type=codes.cid6146.Baseline)
    return hd.sr.TimePointContext(
        time_point=label[:64],
        time_point_type=codes.cid6146.Baseline if timepoint == 0 else codes.cid6146.Posttreatment,
        time_point_order=timepoint + 1,
        temporal_offset_from_event=offset,
    )


def _group(hd: Any, report: LongitudinalReport, track: Track, item: LesionAtTimepoint,
           seg_ds: Any, segment_number: int, series_uid: str,
           modality: str) -> tuple[Any, list[WrittenMeasurement], str]:
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    mm = hd.sr.CodedConcept("mm", "UCUM", "millimeter")
    ml = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
    hu = hd.sr.CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit")
    attenuation = _code(hd, "112031", "DCM", "Attenuation Coefficient")
    rows: list[tuple[str, Any, float | None, Any, Any, int]] = [
        ("volume", codes.SCT.Volume, item.volume_ml, ml, None, 4),
        ("long axis", codes.SCT.LongAxis, item.long_axis_mm, mm, None, 3),
        ("short axis", codes.SCT.ShortAxis, item.short_axis_mm, mm, None, 3),
        ("max 3d diameter", codes.SCT.Diameter, item.max_diameter_3d_mm, mm,
         codes.SCT.Maximum, 3),
    ]
    if modality == "CT":
        rows += [("mean", attenuation, item.mean_intensity, hu, codes.SCT.Mean, 2),
                 ("sd", attenuation, item.sd_intensity, hu, codes.SCT.StandardDeviation, 2)]
    measurements, written = [], []
    for quantity, name, value, unit, derivation, digits in rows:
        if value is None or not math.isfinite(value):
            continue
        v = round(float(value), digits)
        measurements.append(hd.sr.Measurement(name=name, value=v, unit=unit,
                                              derivation=derivation))
        written.append(WrittenMeasurement(track.lesion_id, track.tracking_uid, quantity, v,
                                          unit.value))
    estimate = _forecast_measurement(hd, report, track, item.timepoint, mm)
    if estimate is not None:
        measurements.append(estimate[0])
        written.append(WrittenMeasurement(track.lesion_id, track.tracking_uid, "forecast",
                                          estimate[1], "mm"))
    score = score_measurement(hd, report, track, item.timepoint)
    if score is not None:
        measurements.append(score[0])
        written.append(WrittenMeasurement(track.lesion_id, track.tracking_uid, "score",
                                          score[1], SCORE_UNIT[0]))
    status = new_lesion_status(report, track, item.timepoint)
    evaluation = new_lesion_evaluation(hd, status)
    site = finding_site(track.organ)
    algorithm = algorithm_for(report, item.timepoint)
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=track.tracking_uid, identifier=lesion_title(track)[:64]),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=SEG_SOP_CLASS, sop_instance_uid=str(seg_ds.SOPInstanceUID),
            segment_number=int(segment_number),
            source_series=hd.sr.SourceSeriesForSegmentation(series_uid)),
        time_point_context=_time_point(hd, report, item.timepoint),
        finding_type=codes.SCT.Lesion,
        finding_sites=[hd.sr.FindingSite(site)] if site is not None else None,
        algorithm_id=(hd.sr.AlgorithmIdentification(name=algorithm.name,
                                                     version=algorithm.version)
                      if algorithm is not None else None),
        measurements=measurements,
        qualitative_evaluations=[evaluation] if evaluation is not None else None,
    )
    return group, written, status


def sr_forecast(report: LongitudinalReport, lesion_id: str, timepoint: int) -> Any | None:
    """The forecast the SR of ``timepoint`` carries for a lesion: its default (network)
    forecast with a number, in the SR of the last timepoint only."""
    last = max((tp.index for tp in report.timeline.timepoints), default=None)
    if timepoint != last:
        return None
    for f in report.forecasts_of(lesion_id):
        if f.default and f.kind == "network" and f.status != "refused" \
                and f.median_mm is not None and math.isfinite(f.median_mm):
            return f
    return None


def _forecast_measurement(hd: Any, report: LongitudinalReport, track: Track, timepoint: int,
                          mm: Any) -> tuple[Any, float] | None:
    """The growth forecast as an estimated measurement (see the module docstring)."""
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    f = sr_forecast(report, track.lesion_id, timepoint)
    if f is None:
        return None
    value = round(float(f.median_mm), 3)
    when = ", ".join(x for x in (f.target_date.isoformat() if f.target_date else "",
                                 f"day {f.target_day:g}" if f.target_day is not None else "")
                     if x)
    parameters = [FORECAST_TEXT, f"forecast for {when or 'an unknown day'}"]
    if f.lower_mm is not None and f.upper_mm is not None:
        level = f"{(f.interval or 0.8) * 100:.0f} %"
        parameters.append(f"{level} interval {f.lower_mm:.1f}-{f.upper_mm:.1f} mm")
    name = codes.SCT.ShortAxis if track.is_lymph_node else codes.SCT.LongAxis
    algorithm = hd.sr.AlgorithmIdentification(
        name=(f.method_label or f.method)[:64],
        version=(report.forecast_version or "unknown")[:64], parameters=parameters)
    measurement = hd.sr.Measurement(name=name, value=value, unit=mm,
                                    derivation=codes.cid3627.Estimated, algorithm_id=algorithm)
    return measurement, value
