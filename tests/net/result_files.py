"""Real DICOM SEG and SR (TID 1500) as a tracking run writes them, for the PACS tests."""

from __future__ import annotations

from pathlib import Path

from interval.longitudinal.dicom_sr import write_timepoint_sr
from interval.longitudinal.report_common import as_component_volume
from interval.longitudinal.report_seg import write_timepoint_seg
from tests.longitudinal._report_fixture import shared_case


def write_tracking_dicom(out: Path, timepoints: int = 1) -> list[tuple[Path, Path]]:
    """``out/dicom/tp<n>_seg.dcm`` and ``tp<n>_sr.dcm`` as a tracking run writes them;
    returns (SEG, SR) per timepoint."""
    case = shared_case()
    folder = out / "dicom"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for t in range(timepoints):
        comps = as_component_volume(case.component_maps[t], case.volumes[t])
        seg = write_timepoint_seg(case.report, t, comps, case.volumes[t], case.series_files[t],
                                  folder / f"tp{t + 1}_seg.dcm")
        sr = write_timepoint_sr(case.report, t, seg, folder / f"tp{t + 1}_sr.dcm")
        written.append((Path(seg.path), Path(sr.path)))
    return written
