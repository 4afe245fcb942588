"""Self-test steps with the model and the longitudinal pipeline.

* ``model``: the bundled U-Net (``phantom-unet``) segments scan 1 in its own child
  process on the CPU, as ``interval segment`` runs it; its liver must overlap the
  generator's truth (Dice at least :data:`MIN_LIVER_DICE`).
* ``tracking``: the pipeline of ``interval track`` (segmentation, registration, lesion
  matching, RECIST 1.1, reports) on both scans; segmented by the same model, or, in an
  edition without the model runtime, from the generator's label maps (as ``interval demo
  --no-segment``).
* ``report``: every file the run wrote is there and readable: report.json read back,
  HTML, PDF, CSV, DICOM SR and SEG.
"""

from __future__ import annotations

import numpy as np

from interval.diagnostics.checks import NO_MODEL_RUNTIME, SelfTestContext, StepSkipped, check
from interval.diagnostics.data_steps import N_TIMEPOINTS

MODEL = "org.interval.unet-phantom:phantom-unet"  # the bundled U-Net, whatever else is installed
MODEL_TIMEOUT_S = 300.0  # one small scan takes a few seconds on a CPU
MIN_LIVER_DICE = 0.5  # a trained model, not noise (tests/cli/test_demo.py asks the same)
LIVER = 1  # the generator's label value (interval.io.synthetic.phantom.LIVER)


def step_model(ctx: SelfTestContext) -> str:
    """Segment scan 1 with the bundled model in a child process; check its liver."""
    if not ctx.model_runtime:
        raise StepSkipped(NO_MODEL_RUNTIME)
    from interval.ai.runner import run_segmentation
    from interval.longitudinal.model_lookup import find_segmentation_model

    entry = find_segmentation_model(MODEL, modality="CT")
    ctx.model_entry = entry
    volume = ctx.scan_volume
    result = run_segmentation(volume, entry.folder, {"device": "cpu"},
                              code_path=entry.code_path, timeout=MODEL_TIMEOUT_S)
    labels = result.labels
    check(labels.array.shape == volume.array.shape,
          f"the label map is {labels.array.shape}, not the scan's {volume.array.shape}")
    liver = [int(i.value) for i in (labels.labels or ()) if i.name.strip().lower() == "liver"]
    check(liver, "the model's label map names no liver")
    dice = _dice(labels.array == liver[0], ctx.patient.phantoms[0].labels == LIVER)
    check(dice >= MIN_LIVER_DICE,
          f"the model's liver overlaps the truth with Dice {dice:.2f} (at least "
          f"{MIN_LIVER_DICE} expected)")
    return (f"{entry.spec.name} {entry.spec.version} in a child process on the "
            f"{result.device or 'cpu'}: liver Dice {dice:.2f} against the truth")


def step_tracking(ctx: SelfTestContext) -> str:
    """Track both scans end to end into the temporary folder."""
    from interval.longitudinal.pipeline import TrackingOptions, run_tracking
    from interval.longitudinal.segmentation_source import FileLabels, ModelLabels
    from interval.longitudinal.timeline import build_timeline

    patient = ctx.patient
    if ctx.model_runtime:
        entry = ctx.model_entry
        if entry is None:
            from interval.longitudinal.model_lookup import find_segmentation_model

            entry = find_segmentation_model(MODEL, modality="CT")
        labels = ModelLabels(entry, device="cpu", describe="self-test, not for clinical use")
        source = f"segmented by {entry.spec.name}"
    else:
        labels = FileLabels([tp.labels_path for tp in patient.timepoints])
        source = f"with the generator's label maps ({NO_MODEL_RUNTIME})"
    try:
        selection = build_timeline([patient.dicom_dir])
        ctx.outcome = run_tracking(selection, labels, ctx.work / "tracking",
                                   TrackingOptions(force=True), inputs=(patient.dicom_dir,))
    finally:
        labels.close()
    report = ctx.outcome.report
    n = len(report.timeline.timepoints)
    check(n == N_TIMEPOINTS, f"the timeline has {n} timepoints, not {N_TIMEPOINTS}")
    check(ctx.outcome.ok, "a follow-up scan could not be registered to the baseline")
    kinds = {s.kind for s in report.segmentations}
    want = "model" if ctx.model_runtime else "file"
    check(kinds == {want}, f"the scans were segmented by {sorted(kinds)}, not {want!r}")
    if not ctx.model_runtime:  # the truth holds lesions in this field of view
        check(report.tracks, "no lesion was tracked in the generator's label maps")
    return (f"{n} scans {source}, registered; {len(report.tracks)} lesions tracked, "
            f"RECIST 1.1 assessed, {len(report.forecasts)} growth forecasts")


def step_report(ctx: SelfTestContext) -> str:
    """Every output of the tracking run exists and reads back as what it claims to be."""
    import pydicom

    from interval.longitudinal.report_json import read_report

    outputs = ctx.outcome.outputs
    for name in ("report_json", "report_html", "report_pdf", "lesions_csv"):
        check(name in outputs, f"the run wrote no {name.replace('_', '.')}")
    for name, path in outputs.items():
        check(path.is_file() and path.stat().st_size > 0, f"{name}: {path.name} is missing or empty")
    back = read_report(outputs["report_json"])
    check(len(back.timeline.timepoints) == N_TIMEPOINTS
          and len(back.tracks) == len(ctx.outcome.report.tracks),
          "report.json does not read back as the report written")
    check(outputs["report_pdf"].read_bytes()[:5] == b"%PDF-", "report.pdf is not a PDF")
    html = outputs["report_html"].read_text(encoding="utf-8", errors="replace")[:2000].lower()
    check("<html" in html, "report.html is not HTML")
    lines = outputs["lesions_csv"].read_text(encoding="utf-8").splitlines()
    check(len(lines) >= 1 and "," in lines[0], "lesions.csv has no header row")
    dicom = {"sr": "SR", "seg": "SEG"}
    count = 0
    for name, path in outputs.items():
        modality = dicom.get(name.split("_tp")[0])
        if modality is None:
            continue
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        check(ds.Modality == modality, f"{path.name} is {ds.Modality}, not DICOM {modality}")
        count += 1
    return (f"{len(outputs)} files: report.json read back, HTML, PDF, CSV, "
            f"{count} DICOM SR/SEG objects")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total
