"""The lesion table: one row per lesion with its role, numeric sorting with blanks last,
the RECIST band, activation by click / Enter, plain-text names, refresh keeping the
selection."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from interval.longitudinal.lesion_rows import build_lesion_rows
from interval.longitudinal.model import ROLE_EXCLUDED
from interval.ui.longitudinal.lesion_table import LESION_ID_ROLE, LesionTableView
from interval.ui.plain_text import tooltip_text
from tests.longitudinal._equivocal_fixture import EQUIVOCAL_ID, UNSCORED_ID, equivocal_report
from tests.longitudinal._report_fixture import fresh_report, shared_case

DISPLAY = Qt.ItemDataRole.DisplayRole


@pytest.fixture(scope="module")
def case():
    return shared_case()


@pytest.fixture
def report(case):
    return fresh_report(case)


@pytest.fixture
def view(qtbot, report):
    v = LesionTableView()
    qtbot.addWidget(v)
    v.resize(1400, 400)
    v.set_report(report)
    v.show()
    qtbot.waitExposed(v)
    return v


def _col(view, field, timepoint=None):
    return next(c for c, col in enumerate(view.model.columns())
                if col.field == field and col.timepoint == timepoint)


def _cell(view, lesion_id, column, role=DISPLAY):
    row = view.model.row_of(lesion_id)
    return view.model.index(row, column).data(role)


def test_one_row_per_lesion_with_its_role(view, report):
    model = view.model
    assert model.rowCount() == len(report.tracks)
    assert [model.index(r, 0).data(LESION_ID_ROLE) for r in range(model.rowCount())] == [
        t.lesion_id for t in report.tracks]
    role_col = _col(view, "role")
    words = {"target": "Target", "non-target": "Non-target", "new": "New"}
    for t in report.tracks:
        assert _cell(view, t.lesion_id, role_col) == words[t.role]
        assert _cell(view, t.lesion_id, 0) == t.name
    # roles are coloured differently
    target = next(t.lesion_id for t in report.tracks if t.role == "target")
    new = next(t.lesion_id for t in report.tracks if t.role == "new")
    bg = Qt.ItemDataRole.BackgroundRole
    assert _cell(view, target, role_col, bg).color() != _cell(view, new, role_col, bg).color()
    # 3 fixed columns + 4 at the baseline + 6 per follow-up, two-line headers
    assert model.columnCount() == 3 + 4 + 6 * (len(report.timeline.timepoints) - 1)
    la1 = _col(view, "long", 1)
    assert model.headerData(la1, Qt.Orientation.Horizontal) == "follow-up 1\nLA mm"
    # values as the row builder computed them
    rows = build_lesion_rows(report)
    lid = report.tracks[4].lesion_id
    assert _cell(view, lid, la1) == f"{rows.row(lid).cells[1].long_axis_mm:.1f}"


def test_band_shows_the_response_per_follow_up_aligned_with_its_columns(view, report):
    texts = view.band_texts()
    assert len(texts) == 1 + len(report.timeline.timepoints)
    for text, r in zip(texts[2:], report.recist[1:], strict=True):
        assert f": {r.overall_response} " in text
        assert f"{r.sum_mm:.1f} mm" in text
    # each timepoint's band cell spans its columns and has the table's column widths
    first = _col(view, "long", 1)
    assert view.band.columnSpan(0, first) == 6
    header = view.table.horizontalHeader()
    header.resizeSection(first, 150)
    assert view.band.columnWidth(first) == 150
    assert all(view.band.columnWidth(c) == header.sectionSize(c)
               for c in range(view.model.columnCount()))


def _numbers(view, column):
    out = []
    for lid in view.shown_order():
        value = view.model.sort_value(view.model.row_of(lid), column)
        out.append(value)
    return out


def test_numeric_sort_with_blanks_last_in_both_orders(view, report):
    # make one long axis 3 digits: sorting the text would put "105.0" before "12.0"
    lid = report.tracks[3].lesion_id
    comp = report.tracks[3].components_at(0)[0]
    i = next(n for n, m in enumerate(report.measurements) if m.key == (0, comp))
    m = report.measurements[i]
    report.measurements[i] = dataclasses.replace(
        m, long_axis=dataclasses.replace(m.long_axis, length_mm=105.0))
    view.set_report(report)
    la0 = _col(view, "long", 0)
    blanks = {t.lesion_id for t in report.tracks if not t.components_at(0)}
    assert blanks  # the fixture has lesions absent at baseline

    view.table.sortByColumn(la0, Qt.SortOrder.AscendingOrder)
    values = _numbers(view, la0)
    n = len(values) - len(blanks)
    assert values[:n] == sorted(values[:n]) and None not in values[:n]
    assert values[n - 1] == 105.0 and view.shown_order()[n - 1] == lid
    assert set(view.shown_order()[n:]) == blanks

    view.table.sortByColumn(la0, Qt.SortOrder.DescendingOrder)
    values = _numbers(view, la0)
    assert values[:n] == sorted(values[:n], reverse=True) and values[0] == 105.0
    assert set(view.shown_order()[n:]) == blanks

    # percentages sort as numbers too (negative before positive)
    d1 = _col(view, "d_base", 1)
    view.table.sortByColumn(d1, Qt.SortOrder.AscendingOrder)
    values = [v for v in _numbers(view, d1) if v is not None]
    assert values == sorted(values) and values[0] < 0 < values[-1]


def test_click_and_enter_emit_the_lesion_id(view, qtbot, report):
    view.table.sortByColumn(_col(view, "long", 2), Qt.SortOrder.DescendingOrder)
    shown = view.shown_order()
    index = view.proxy.index(2, 0)
    rect = view.table.visualRect(index)
    with qtbot.waitSignal(view.lesionActivated, timeout=1000) as blocker:
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                         pos=rect.center())
    assert blocker.args == [shown[2]]
    assert view.selected_lesion() == shown[2]
    view.table.setFocus()
    view.table.setCurrentIndex(view.proxy.index(4, 1))
    with qtbot.waitSignal(view.lesionActivated, timeout=1000) as blocker:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert blocker.args == [shown[4]]


def test_hostile_name_is_plain_text(view, report):
    report.tracks[0].name = "<b>x</b>"
    report.tracks[0].organ = "<img src=/etc/passwd>"
    view.set_report(report)
    lid = report.tracks[0].lesion_id
    assert _cell(view, lid, 0) == "<b>x</b>"
    assert _cell(view, lid, 1) == "<img src=/etc/passwd>"
    tip = _cell(view, lid, 0, Qt.ItemDataRole.ToolTipRole)
    assert "<b>x</b>" not in tip and "&lt;b&gt;x&lt;/b&gt;" in tip
    assert "<b>x</b>" in tooltip_text(tip)
    # the standard delegate draws the text as it is (no rich-text delegate installed)
    delegate = view.table.itemDelegate()
    assert type(delegate).__name__ == "QStyledItemDelegate"


def test_set_report_updates_cells_and_keeps_the_selection(view, qtbot, report):
    view.table.sortByColumn(_col(view, "volume", 1), Qt.SortOrder.AscendingOrder)
    target = next(t for t in report.tracks if t.role == "target")
    assert view.select_lesion(target.lesion_id)
    order = view.shown_order()
    target.role = ROLE_EXCLUDED
    target.role_source = "reader"
    with qtbot.assertNotEmitted(view.lesionActivated):
        view.set_report(report)
    role_col = _col(view, "role")
    assert _cell(view, target.lesion_id, role_col) == "Excluded (reader)"
    grey = _cell(view, target.lesion_id, 0, Qt.ItemDataRole.ForegroundRole).color()
    other = report.tracks[1] if report.tracks[0] is target else report.tracks[0]
    assert _cell(view, other.lesion_id, 0, Qt.ItemDataRole.ForegroundRole) is None
    assert grey.red() == grey.green() == grey.blue()  # grey
    assert _cell(view, target.lesion_id, 0, Qt.ItemDataRole.FontRole).italic()
    assert view.selected_lesion() == target.lesion_id
    assert view.shown_order() == order  # still sorted the same way
    # a lesion that disappears leaves no selection
    report.tracks.remove(target)
    view.set_report(report)
    assert view.model.rowCount() == len(report.tracks)
    assert view.selected_lesion() is None


def test_confidence_column_and_equivocal_marks(view, case):
    report = equivocal_report(case)
    view.set_report(report)
    conf0, conf1, conf2 = (_col(view, "score", t) for t in (0, 1, 2))
    assert view.model.headerData(conf1, Qt.Orientation.Horizontal) == "follow-up 1\nConf"
    assert _cell(view, "L2", conf0) == "0.90"
    assert _cell(view, EQUIVOCAL_ID, conf0) == ""  # not seen at baseline
    assert _cell(view, EQUIVOCAL_ID, conf1) == "0.41 equivocal"
    assert _cell(view, EQUIVOCAL_ID, conf2) == "0.85 confirmed"
    assert _cell(view, UNSCORED_ID, conf1) == "-"  # seen, no score
    tip = tooltip_text(_cell(view, EQUIVOCAL_ID, conf1, Qt.ItemDataRole.ToolTipRole))
    assert "Confidence 0.41 (equivocal new lesion)" in tip
    assert "no progression until a later scan confirms it" in tip
    # sorted as numbers, blanks (not seen, no score) last
    view.table.sortByColumn(conf1, Qt.SortOrder.AscendingOrder)
    assert view.shown_order()[0] == EQUIVOCAL_ID
    assert view.model.sort_value(view.model.row_of(UNSCORED_ID), conf1) is None
    # the band's tooltip lists the equivocal and the confirming new lesions
    band_tips = [tooltip_text(view.band.item(0, c).toolTip())
                 for c in range(view.band.columnCount()) if view.band.item(0, c)]
    assert any(f"Equivocal new lesions (no progression until confirmed): {EQUIVOCAL_ID}" in t
               for t in band_tips)
    assert any(f"Confirming an earlier equivocal finding: {EQUIVOCAL_ID}" in t
               for t in band_tips)
    # never confirmed: the role says so
    role = _col(view, "role")
    assert _cell(view, EQUIVOCAL_ID, role) == "New"
    report.recist[2] = dataclasses.replace(report.recist[2], new_lesions=(),
                                           confirmed_new_lesions={},
                                           equivocal_new_lesions=(EQUIVOCAL_ID,))
    view.set_report(report)
    assert _cell(view, EQUIVOCAL_ID, role) == "New (equivocal)"
    assert "Equivocal new lesion" in tooltip_text(
        _cell(view, EQUIVOCAL_ID, role, Qt.ItemDataRole.ToolTipRole))


def test_hostile_reason_in_the_band_is_plain_text(view, case):
    report = equivocal_report(case)
    report.recist[1] = dataclasses.replace(report.recist[1], reason="<img src=x> <b>L1</b>")
    view.set_report(report)
    tips = [view.band.item(0, c).toolTip() for c in range(view.band.columnCount())
            if view.band.item(0, c)]
    assert not any("<img" in t or "<b>" in t for t in tips)
    assert any("<img src=x> <b>L1</b>" in tooltip_text(t) for t in tips)
