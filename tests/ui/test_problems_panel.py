"""Problems dock: skipped files and refused/irregular series with reload actions."""

from __future__ import annotations

from interval.io.dicom.policy import DicomReadPolicy
from interval.io.dicom.records import SkippedFile
from interval.ui.plain_text import tooltip_text
from interval.ui.problems_panel import ProblemsPanel


def test_lists_skipped_files_with_reasons(qtbot) -> None:
    panel = ProblemsPanel()
    qtbot.addWidget(panel)
    panel.add_skipped(
        [SkippedFile("/data/x/junk.txt", "not a DICOM file"),
         SkippedFile("/data/x/sub/cut.dcm", "file is truncated")],
        root="/data/x",
    )
    assert panel.entries() == [
        ("skipped", "junk.txt", "not a DICOM file"),
        ("skipped", "sub/cut.dcm", "file is truncated"),
    ]
    assert panel.summary.text().startswith("2 problem")
    panel.clear()
    assert panel.entries() == [] and panel.summary.text() == "No problems."


def test_irregular_series_offers_reload_with_policy(qtbot) -> None:
    panel = ProblemsPanel()
    qtbot.addWidget(panel)
    base = DicomReadPolicy(spacing_tolerance=0.1)
    panel.add_series_problem("1.2.3", "#3 Chest", ["1 slice missing between 10 mm and 20 mm"],
                             irregular=True, policy=base)
    requests: list[tuple[str, DicomReadPolicy]] = []
    panel.reload_requested.connect(lambda uid, pol: requests.append((uid, pol)))
    panel.action_buttons[("1.2.3", "resample")].click()
    panel.action_buttons[("1.2.3", "as-is")].click()
    assert [(u, p.irregular) for u, p in requests] == [("1.2.3", "resample"), ("1.2.3", "as-is")]
    assert all(p.spacing_tolerance == 0.1 for _u, p in requests)  # the rest of the policy kept
    assert panel.series_problems() == {"1.2.3": "1 slice missing between 10 mm and 20 mm"}


def test_refused_series_has_no_actions_and_entries_replace(qtbot) -> None:
    panel = ProblemsPanel()
    qtbot.addWidget(panel)
    panel.add_series_problem("9", "#1 Head", ["several orientations"], irregular=True)
    panel.add_series_problem("9", "#1 Head", ["This stack holds no images."], irregular=False)
    assert panel.entries() == [("refused", "#1 Head", "This stack holds no images.")]
    assert not any(k[0] == "9" for k in panel.action_buttons)
    panel.remove_series_problem("9")
    assert panel.entries() == []


def test_messages(qtbot) -> None:
    panel = ProblemsPanel()
    qtbot.addWidget(panel)
    panel.add_message("Folder", "The folder is empty.")
    assert panel.entries() == [("warning", "Folder", "The folder is empty.")]


def test_each_reason_is_shown_once_and_long_texts_have_tooltips(qtbot) -> None:
    panel = ProblemsPanel()
    qtbot.addWidget(panel)
    one = "1 slice missing between 28.1 mm and 38.1 mm"
    item = panel.add_series_problem("1", "#2 CT (2016-07-22)", [one], irregular=True)
    texts = [item.text(1)] + [item.child(i).text(1) for i in range(item.childCount())]
    assert sum(one in t for t in texts) == 1
    assert tooltip_text(item.toolTip(0)) == "#2 CT (2016-07-22)"
    assert tooltip_text(item.toolTip(1)) == one
    two = ["gantry tilt 15.5°", "1 slice missing between -51.1 mm and -49.6 mm"]
    item = panel.add_series_problem("2", "#3 CT", two, irregular=True)
    texts = [item.text(1)] + [item.child(i).text(1) for i in range(item.childCount())]
    assert all(sum(r in t for t in texts) == 1 for r in two)
    assert panel.series_problems()["2"] == "; ".join(two)
    # the newest entry is selected, its buttons scrolled into view
    assert panel.tree.currentItem() is item and panel.selected_series() == "2"
    panel.tree.setCurrentItem(None)
    assert panel.focus_series("1") and panel.selected_series() == "1"
    assert not panel.focus_series("nope")
    long = "x" * 300
    msg = panel.add_message("Folder " + "y" * 100, long)
    assert tooltip_text(msg.toolTip(1)) == long
    assert tooltip_text(msg.toolTip(0)).startswith("Folder")


def test_series_messages_go_when_the_series_loads_again(qtbot) -> None:
    """A warning of an earlier load ("Resampled...") does not outlive that load."""
    panel = ProblemsPanel()
    qtbot.addWidget(panel)
    panel.add_message("Other", "index warning")
    panel.add_message("#3 Chest", "Resampled onto a regular grid", series="1.2.3")
    panel.add_message("#4 Abdomen", "Gantry tilt", series="4.5.6")
    assert len(panel.entries()) == 3
    panel.remove_series_problem("1.2.3")  # the series loads again (e.g. as-is)
    assert [e[2] for e in panel.entries()] == ["index warning", "Gantry tilt"]
    assert panel.summary.text().startswith("2 problem")
    panel.clear()
    panel.remove_series_problem("4.5.6")  # already cleared: nothing happens
    assert panel.entries() == []
