"""report.html: self-contained (data: images, inline CSS, no script, no network), every
text from DICOM/files/plugins escaped, and the content the issue asks for."""

from __future__ import annotations

import base64
import dataclasses
import re
from html.parser import HTMLParser

import pytest

from interval.longitudinal.key_images import render_key_images
from interval.longitudinal.model import REG_FAILED, SegmentationSource
from interval.longitudinal.report_charts import render_charts
from interval.longitudinal.report_common import as_component_volume, shown_tracks
from interval.longitudinal.report_html import render_html, write_report_html
from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, UNSCORED_ID, equivocal_report
from tests.longitudinal._report_fixture import fresh_report, shared_case

EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def case():
    return shared_case()


@pytest.fixture(scope="module")
def pictures(case):
    comps = [as_component_volume(c, v) for c, v in zip(case.component_maps, case.volumes,
                                                       strict=True)]
    return render_charts(case.report), render_key_images(case.report, case.volumes, comps)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[dict[str, str]] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]
        if tag == "img":
            self.imgs.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _hostile(case) -> object:
    report = fresh_report(case)
    tl = report.timeline
    tl.patient_name = EVIL
    tl.patient_id = EVIL_ATTR
    tl.warnings.append(f"series {EVIL} skipped")
    report.tracks[0].name = EVIL_ATTR
    report.tracks[0].organ = "<b>liver</b>"
    report.timeline.timepoints[1] = dataclasses.replace(
        tl.timepoints[1], study_description=EVIL, label="follow-up <1>",
        series=dataclasses.replace(tl.timepoints[1].series, description=EVIL_ATTR, reason=EVIL))
    report.segmentations[0] = SegmentationSource(0, "model", f"model {EVIL}", model="m")
    report.recist[1] = dataclasses.replace(report.recist[1], reason=EVIL)
    return report


def test_text_from_files_is_escaped(case, pictures):
    charts, images = pictures
    html = render_html(_hostile(case), charts=charts, key_images=images)
    assert "<script" not in html.lower()
    assert "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")
    assert "<b>liver</b>" not in html
    page = _parse(html)
    assert "script" not in page.tags and page.tags.count("img") == len(page.imgs)
    assert all(k not in ("onerror", "onload", "onclick") for k, _ in page.attrs)
    text = "".join(page.text)
    assert EVIL in text and EVIL_ATTR in text and "<b>liver</b>" in text  # shown as typed
    assert "follow-up <1>" in text


def test_self_contained_and_offline(case, pictures, tmp_path):
    charts, images = pictures
    path = write_report_html(case.report, tmp_path / "report.html", charts=charts,
                             key_images=images)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    html = path.read_text(encoding="utf-8")
    page = _parse(html)
    srcs = [img["src"] for img in page.imgs]
    assert len(srcs) == len(charts) + len(images)
    assert sum(s.startswith("data:image/svg+xml;base64,") for s in srcs) == len(charts)
    assert sum(s.startswith("data:image/png;base64,") for s in srcs) == len(images)
    for s in srcs[:len(charts)]:  # the charts' SVG: no script, no link out of the page
        svg = base64.b64decode(s.split(",", 1)[1]).decode("utf-8")
        assert "<script" not in svg and "href" not in svg.replace("xmlns:xlink", "")
        assert not re.search(r"(?i)(https?:|file:)(?!//www\.w3\.org/)", svg)
    assert not re.search(r"(?i)(src|href)\s*=\s*[\"']?(https?:|//|file:)", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "script" not in page.tags


def test_content(case, pictures):
    charts, images = pictures
    report = case.report
    html = render_html(report, charts=charts, key_images=images)
    text = " ".join(_parse(html).text)
    for heading in ("Timeline", "RECIST 1.1", "Lesions", "Charts", "Key images", "Matching",
                    "Segmentation", "Warnings"):
        assert heading in text
    assert report.timeline.patient_name in text and report.timeline.patient_id in text
    for tp in report.timeline.timepoints:
        assert tp.study_date.isoformat() in text and tp.series.reason in text
    for r in report.recist:
        assert r.reason in text and r.overall_response in text
    for t in report.tracks:
        assert t.lesion_id in text
    assert report.warnings[0] in text
    assert "affine to timepoint 0: ok" in text  # registration verdicts
    # key images grid: a row per shown lesion, a column per timepoint
    assert html.count("<img") == len(charts) + len(shown_tracks(report)) * len(
        report.timeline.timepoints)


def test_model_notice_and_failed_registration_warning(case):
    report = fresh_report(case)
    assert "Not for clinical use" not in render_html(report)  # label files given: no notice
    report.segmentations[1] = SegmentationSource(
        1, "model", "phantom-unet 1.0.0: a demonstration model, not for clinical use",
        model="phantom-unet", model_version="1.0.0")
    reg = report.registrations[2]
    report.registrations[2] = dataclasses.replace(reg, status=REG_FAILED,
                                                  message="body overlap 0.31")
    text = " ".join(_parse(render_html(report)).text)
    assert "Not for clinical use: the lesions were segmented automatically by phantom-unet " \
           "1.0.0: a demonstration model, not for clinical use" in text
    assert "Registration of timepoint 2 failed: body overlap 0.31" in text


def test_reader_corrections_are_listed(case):
    report = fresh_report(case)
    report.corrections = [{"op": "rename", "lesion_id": "L2", "name": "<i>segment 7</i>"},
                          {"op": "set_role", "lesion_id": "L3", "role": "target"}]
    page = _parse(render_html(report))
    text = " ".join(page.text)
    assert "Reader corrections applied" in text
    assert "rename: lesion_id=L2, name=<i>segment 7</i>" in text
    assert "set_role: lesion_id=L3, role=target" in text
    assert "i" not in page.tags


def test_sign_off_and_reader_changes_are_shown_as_text(case):
    report = fresh_report(case)
    report.signed_off_by = "Dr <b>Who</b>"
    report.signed_off_at = "2026-12-07T12:00:00+00:00"
    lesion = report.tracks[0].lesion_id
    report.reader_changes = [{"lesion_id": lesion, "timepoint": 1, "value": "long axis",
                              "auto": 23.4, "reader": 21.0}]
    html = render_html(report)
    assert "Values changed by the reader" in html
    assert "Signed off by Dr &lt;b&gt;Who&lt;/b&gt; on 2026-12-07T12:00:00+00:00." in html
    assert "<b>Who</b>" not in html
    assert "23.4" in html and "21.0" in html


def _section_table(html: str, heading: str) -> list[list[str]]:
    """The cells (tags stripped, line breaks as " | ") of the table under ``heading``."""
    part = html.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", part, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        rows.append([re.sub(r"<[^>]+>", "", c.replace("<br>", " | ")) for c in cells])
    return rows


def test_scores_and_equivocal_new_lesions_are_shown(case):
    report = equivocal_report(case)
    html = render_html(report)
    recist = _section_table(html, "RECIST 1.1")
    head = recist[0]
    new, equivocal = head.index("New lesions"), head.index("Equivocal new lesions")
    assert [row[new] for row in recist[1:]] == [
        "none", UNSCORED_ID, f"{EQUIVOCAL_ID} (confirmed, first seen follow-up 1)"]
    assert [row[equivocal] for row in recist[1:]] == ["none", EQUIVOCAL_ID, "none"]
    lesions = {row[0].split(" ")[0]: row for row in _section_table(html, "Lesions")[1:]}
    first, later = lesions[EQUIVOCAL_ID][4], lesions[EQUIVOCAL_ID][5]  # follow-ups 1, 2
    assert "confidence 0.41" in first and "equivocal new lesion" in first
    assert "confidence 0.85" in later and "confirmed new lesion" in later
    assert "confidence -" in lesions[UNSCORED_ID][4]  # no score: "-"
    assert "confidence 0.90" in lesions["L2"][3] and "new lesion" not in lesions["L2"][3]
    assert "equivocal: it makes no progression until a later scan confirms it" in html
