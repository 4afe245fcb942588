"""report.pdf: a valid PDF with the pages ReportLab laid out, the report's text (read back
with pdftotext), and text from files shown as typed (ReportLab markup escaped)."""

from __future__ import annotations

import re
import subprocess

import pytest

from interval.longitudinal.key_images import render_key_images
from interval.longitudinal.report_charts import render_charts
from interval.longitudinal.report_common import as_component_volume
from interval.longitudinal.report_pdf import markup_text, render_pdf, write_report_pdf
from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, equivocal_report
from tests.longitudinal._report_fixture import fresh_report, require_tool, shared_case


@pytest.fixture(scope="module")
def case():
    return shared_case()


@pytest.fixture(scope="module")
def pictures(case):
    comps = [as_component_volume(c, v) for c, v in zip(case.component_maps, case.volumes,
                                                       strict=True)]
    return render_charts(case.report), render_key_images(case.report, case.volumes, comps)


def _pdf_text(path) -> str:
    tool = require_tool("pdftotext", "apt-get install poppler-utils")
    run = subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_markup_is_escaped():
    assert markup_text("<b>x</b> & <font color=red>y</font>") == \
        "&lt;b&gt;x&lt;/b&gt; &amp; &lt;font color=red&gt;y&lt;/font&gt;"
    assert markup_text("a\x00b\x1bc\nd") == "a b c<br/>d"
    assert markup_text(None) == ""


def test_structure_and_page_count(case, pictures, tmp_path):
    charts, images = pictures
    path = tmp_path / "report.pdf"
    pages = write_report_pdf(case.report, path, charts=charts, key_images=images,
                             compress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]
    data = path.read_bytes()
    assert data.startswith(b"%PDF-1.")
    assert data.rstrip().endswith(b"%%EOF")
    assert pages >= 2
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) == pages
    assert re.search(rb"/Count %d\b" % pages, data)
    n_images = len(images)  # the charts are vector drawings, not images
    assert len(re.findall(rb"/Subtype /Image", data)) == n_images
    compressed, pages2 = render_pdf(case.report, charts=charts, key_images=images)
    assert pages2 == pages and len(compressed) < len(data)


def test_text_content_and_escaping(case, pictures, tmp_path):
    charts, images = pictures
    report = fresh_report(case)
    report.timeline.patient_name = "<script>alert(1)</script>"
    report.tracks[0].name = "L1 <b>liver</b> & <i>co</i>"
    path = tmp_path / "report.pdf"
    write_report_pdf(report, path, charts=charts, key_images=images)
    text = _pdf_text(path)
    flat = re.sub(r"\s+", " ", text)
    assert "<script>alert(1)</script>" in flat  # as typed, not interpreted
    assert "L1 <b>liver</b> & <i>co</i>" in flat
    for heading in ("Longitudinal lesion report", "Timeline", "RECIST 1.1", "Lesions",
                    "Charts", "Key images", "Matching", "Segmentation"):
        assert heading in flat
    for track in report.tracks:
        assert track.lesion_id in flat
    for r in report.recist:
        assert r.overall_response in flat
    for tp in report.timeline.timepoints:
        assert tp.study_date.isoformat() in flat
    assert report.warnings[0] in flat
    assert "RECIST 1.1: sum of target lesion diameters" in flat  # charts are vector: text
    assert "volume (mL)" in flat


def test_unicode_names(case, tmp_path):
    report = fresh_report(case)
    report.timeline.patient_name = "Müller^Zoë Ωμέγα Дмитрий"
    path = tmp_path / "report.pdf"
    write_report_pdf(report, path)
    assert "Müller^Zoë Ωμέγα Дмитрий" in _pdf_text(path)


def test_sign_off_and_reader_changes_in_the_pdf(case, tmp_path):
    report = fresh_report(case)
    report.signed_off_by = "Dr <i>Who</i>"
    report.reader_changes = [{"lesion_id": report.tracks[0].lesion_id, "timepoint": 1,
                              "value": "long axis", "auto": 23.4, "reader": 21.0}]
    path = tmp_path / "report.pdf"
    write_report_pdf(report, path)
    flat = re.sub(r"\s+", " ", _pdf_text(path))
    assert "Values changed by the reader" in flat
    assert "Signed off by Dr <i>Who</i>." in flat
    assert "23.4" in flat and "21.0" in flat


def test_scores_and_equivocal_new_lesions_in_the_pdf(case, tmp_path):
    path = tmp_path / "report.pdf"
    write_report_pdf(equivocal_report(case), path)
    flat = re.sub(r"\s+", " ", _pdf_text(path))
    assert "Equivocal" in flat  # the RECIST table's column of equivocal new lesions
    assert "confidence 0.41" in flat and "equivocal new lesion" in flat
    assert "confidence 0.85" in flat and "confirmed new lesion" in flat
    assert "confidence 0.90" in flat and "confidence -" in flat
    assert f"{EQUIVOCAL_ID} (new, confidence 0.41, below 0.62): equivocal" in flat
    assert "(confirmed," in flat  # the confirming new lesion (its column wraps the rest)
