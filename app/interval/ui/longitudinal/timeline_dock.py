"""The Timeline dock: choose a patient's timepoints and run the tracking in the background.

The dock takes a folder (the study browser's, :meth:`TimelineDock.set_index`, or one the
reader picks, :meth:`TimelineDock.open_folder`, indexed in the background) and lists, per
patient, the studies by date with the series the pipeline would use and why
(:mod:`interval.longitudinal.timeline_plan`).  The reader unticks studies, picks the
baseline (a radio button per study: earlier studies are left out) and swaps a timepoint's
series (a combo of that study's candidate series).  *Track* builds the timeline of that
choice and runs :func:`~interval.longitudinal.pipeline.run_tracking` on a
:class:`~interval.ui.workers.JobRunner` thread: each step the pipeline reports (reading,
segmenting, registering...) is shown with its progress, *Cancel* stops the run at its next
check (``report.json`` is written last and atomically, so a cancelled run leaves none),
errors are shown as plain text, and a finished run opens the workspace window on the
output folder (``open_workspace``).

The choice a run used is kept with its results (``workspace.json``'s session, see
:mod:`interval.longitudinal.timeline_choice`) and restored when the dock shows that patient
again with that results folder (the one proposed, or one the reader picks): what is no
longer there is skipped with a note under the table.  :meth:`TimelineDock.follow` makes the
dock follow the study browser: when its index changes the list is made again, keeping the
reader's choice while the same patient is listed.  *Priors on PACS…* (:mod:`.pacs_priors`)
adds the patient's other studies from a PACS (retrieved into the local cache, indexed with
the folder; the cache folders are kept in ``extra_folders``).

The label maps come from the default model (``phantom-unet``) unless ``labels_for`` gives
another provider (a function of the :class:`~interval.longitudinal.timeline.TimelineSelection`,
e.g. :class:`~interval.longitudinal.segmentation_source.FileLabels` in the tests).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, SignalInstance
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from interval.core.errors import IntervalError
from interval.io.dicom.records import DicomIndex
from interval.longitudinal.pipeline import (
    REGISTRATION_METHODS,
    Reporter,
    TrackingOptions,
    run_tracking,
)
from interval.longitudinal.timeline_choice import (
    SavedChoice,
    apply_choice,
    choice_of,
    load_choice,
    save_choice,
)
from interval.longitudinal.timeline_plan import (
    PatientPlan,
    ReaderChoice,
    StudyOption,
    build_selection,
    chosen_stack,
    effective_baseline,
    plan_patients,
    used_studies,
)
from interval.ui.longitudinal.pacs_priors import (
    can_look_for_priors,
    proposed_output,
    show_priors_dialog,
)
from interval.ui.plain_text import plain_label, plain_tooltip, set_plain_tooltip
from interval.ui.workers import IndexResult, Job, JobContext, JobRunner, index_job

log = logging.getLogger(__name__)

DEFAULT_MODEL = "phantom-unet"
COLUMNS = ("Use", "Baseline", "Date", "Timepoint", "Series", "Why this series")
COL_USE, COL_BASELINE, COL_DATE, COL_TIMEPOINT, COL_SERIES, COL_REASON = range(len(COLUMNS))
UID_ROLE = Qt.ItemDataRole.UserRole

LabelsFor = Callable[[Any], Any]  # TimelineSelection -> LabelProvider
IndexSource = Callable[[], tuple[DicomIndex | None, Path | None]]


@dataclass(frozen=True)
class TrackResult:
    """What a finished run hands back to the UI thread (small: no volumes)."""

    out_dir: Path
    timepoints: int
    lesions: int
    ok: bool
    warnings: int
    notes: tuple[str, ...] = ()  # about saving the reader's choice with the results


def model_labels(_selection: Any) -> Any:
    """The default label provider: the ``phantom-unet`` plugin model, one child process a
    timepoint (raises :class:`IntervalError` with a sentence when it is not installed)."""
    from interval.longitudinal.model_lookup import find_segmentation_model
    from interval.longitudinal.segmentation_source import ModelLabels

    entry = find_segmentation_model(DEFAULT_MODEL, modality=None)
    return ModelLabels(entry, device="auto")


class TimelineDock(QDockWidget):
    """The "Timeline" dock (see the module text)."""

    def __init__(self, parent: QWidget | None = None, *, runner: JobRunner | None = None,
                 labels_for: LabelsFor | None = None,
                 open_workspace: Callable[[Path], Any] | None = None) -> None:
        super().__init__("Timeline", parent)
        self.setObjectName("timelineDock")
        self.runner = runner if runner is not None else JobRunner(self, max_threads=1)
        self.labels_for: LabelsFor = labels_for or model_labels
        self.open_workspace = open_workspace or self._open_workspace_window
        self.options_template = TrackingOptions()
        self.index: DicomIndex | None = None
        self.folder: Path | None = None
        self.extra_folders: list[Path] = []  # studies added from a PACS (pacs_priors)
        self.plans: list[PatientPlan] = []
        self.choice = ReaderChoice()
        self.job: Job | None = None
        self.steps_seen: list[str] = []
        self.last_result: TrackResult | None = None
        self._prep_job: Job | None = None
        self._generation = 0  # results of folder jobs started before the last are dropped
        self._filling = False
        self._keep: SavedChoice | None = None  # the choice to keep over a new index
        self._keep_output = ""  # the results folder the reader chose over the one proposed
        self._proposed_output = ""
        self._checked_output: str | None = None  # the results folder last looked at
        self._index_source: IndexSource | None = None
        self._follow_pending = False
        self._build()
        self._sync_buttons()

    # --- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        self.inputs = QWidget()
        form = QFormLayout(self.inputs)
        form.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.folder_label = plain_label("No folder: open one in the browser or choose one.")
        self.folder_label.setWordWrap(True)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.clicked.connect(self._ask_folder)
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.folder_button)
        form.addRow("Scans:", row)
        self.patient_combo = QComboBox()
        self.patient_combo.currentIndexChanged.connect(self._patient_changed)
        form.addRow("Patient:", self.patient_combo)
        lay.addWidget(self.inputs)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("timelineTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_REASON, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._item_changed)
        self.baseline_group = QButtonGroup(self)
        self.baseline_group.setExclusive(True)
        self.baseline_group.buttonToggled.connect(self._baseline_toggled)
        lay.addWidget(self.table, 1)
        self.warnings_label = plain_label("")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setVisible(False)
        lay.addWidget(self.warnings_label)
        self.choice_note = plain_label("")
        self.choice_note.setObjectName("timelineChoiceNote")
        self.choice_note.setWordWrap(True)
        self.choice_note.setVisible(False)
        lay.addWidget(self.choice_note)

        self.run_inputs = QWidget()
        run_form = QFormLayout(self.run_inputs)
        run_form.setContentsMargins(0, 0, 0, 0)
        out_row = QHBoxLayout()
        self.output_edit = QLineEdit()
        self.output_edit.setObjectName("timelineOutput")
        self.output_edit.setPlaceholderText("Folder for the results (outside the scans)")
        self.output_edit.textChanged.connect(lambda _t: self._sync_buttons())
        self.output_edit.returnPressed.connect(self._output_edited)
        self.output_button = QPushButton("…")
        self.output_button.setToolTip("Choose the results folder")
        self.output_button.clicked.connect(self._ask_output)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(self.output_button)
        run_form.addRow("Results:", out_row)
        opt_row = QHBoxLayout()
        self.registration_combo = QComboBox()
        self.registration_combo.addItems(list(REGISTRATION_METHODS))
        self.registration_combo.setCurrentText(self.options_template.registration)
        self.forecast_check = QCheckBox("Growth forecast")
        self.forecast_check.setChecked(self.options_template.forecast)
        opt_row.addWidget(self.registration_combo)
        opt_row.addWidget(self.forecast_check)
        opt_row.addStretch(1)
        run_form.addRow("Registration:", opt_row)
        lay.addWidget(self.run_inputs)

        buttons = QHBoxLayout()
        self.track_button = QPushButton("Track")
        self.track_button.setObjectName("timelineTrack")
        self.track_button.clicked.connect(self.track)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("timelineCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.priors_button = QPushButton("Priors on PACS…")
        self.priors_button.setObjectName("timelinePriors")
        self.priors_button.setToolTip("The patient's other studies on a PACS, to add to the "
                                      "timeline (servers: File > Query PACS…)")
        self.priors_button.clicked.connect(lambda: show_priors_dialog(self))
        self.step_label = plain_label("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setVisible(False)
        buttons.addWidget(self.track_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.priors_button)
        buttons.addWidget(self.step_label, 1)
        buttons.addWidget(self.progress_bar)
        lay.addLayout(buttons)
        self.message = plain_label("")
        self.message.setObjectName("timelineMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.message)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(500)
        self.log_view.setMaximumHeight(110)
        lay.addWidget(self.log_view)
        self.setWidget(body)

    # --- the folder and its patients --------------------------------------------------------
    def _ask_folder(self) -> None:
        start = str(self.folder) if self.folder else ""
        folder = QFileDialog.getExistingDirectory(self, "Folder with the patient's studies",
                                                  start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path) -> Job:
        """Index ``folder`` (headers only) in the background, then list its patients."""
        folder = Path(folder)
        self._cancel_prep()
        self._set_status(f"Reading the folder {folder}…")
        gen = self._generation
        self._prep_job = self.runner.submit(
            "indexing the folder", index_job(folder),
            on_done=lambda result: gen == self._generation and self._indexed(result, folder),
            on_error=lambda exc: gen == self._generation and self._prep_failed(exc),
            on_progress=self._progress)
        self._sync_buttons()
        return self._prep_job

    def _indexed(self, result: IndexResult, folder: Path) -> None:
        self._prep_job = None
        self.set_index(result.index, folder)

    def set_index(self, index: DicomIndex, folder: str | Path) -> Job:
        """List the patients of ``index`` (read from ``folder``); the timeline rule runs in
        the background (headers only)."""
        self._cancel_prep()
        if self.plan is not None and self.folder is not None:  # kept if the patient stays
            self._keep = self.current_choice()
            text = self.output_edit.text().strip()
            self._keep_output = text if text != self._proposed_output else ""
        if self.folder != Path(folder):
            self.extra_folders = []
        self.index = index
        self.folder = Path(folder)
        self.folder_label.setText(str(self.folder))
        set_plain_tooltip(self.folder_label, str(self.folder))
        self._set_status("Finding each patient's timepoints…")

        def run(ctx: JobContext) -> list[PatientPlan]:
            return plan_patients(index, cancel=ctx.cancelled)

        gen = self._generation
        self._prep_job = self.runner.submit(
            "finding the timepoints", run,
            on_done=lambda plans: gen == self._generation and self._show_plans(plans),
            on_error=lambda exc: gen == self._generation and self._prep_failed(exc))
        self._sync_buttons()
        return self._prep_job

    def _cancel_prep(self) -> None:
        self._generation += 1
        if self._prep_job is not None:
            self._prep_job.cancel()
            self._prep_job = None

    def _prep_failed(self, exc: IntervalError) -> None:
        self._prep_job = None
        self.progress_bar.setVisible(False)
        self._set_status("")
        self.message.setText(str(exc))
        self._sync_buttons()

    def _show_plans(self, plans: list[PatientPlan]) -> None:
        self._prep_job = None
        self.progress_bar.setVisible(False)
        self.plans = plans
        keep, keep_output = self._keep, self._keep_output
        self._keep, self._keep_output = None, ""
        ids = [p.patient_id for p in plans]
        shown = ids.index(keep.patient_id) if keep is not None and keep.patient_id in ids else 0
        self.patient_combo.blockSignals(True)
        self.patient_combo.clear()
        for plan in plans:
            self.patient_combo.addItem(plan.label())
        if plans:
            self.patient_combo.setCurrentIndex(shown)
        self.patient_combo.blockSignals(False)
        self.patient_combo.setEnabled(len(plans) > 1)
        if not plans:
            self._set_status("")
            self.message.setText("No DICOM images were found in this folder.")
            self._fill([])
            self._show_choice_note([])
        else:
            self.message.setText("")
            self._set_status(f"{len(plans)} patient(s)" if len(plans) > 1 else "")
            if keep is not None and keep.patient_id == plans[shown].patient_id:
                self._patient_changed(shown, restore=False)
                if keep_output:
                    self.output_edit.setText(keep_output)
                self._checked_output = self.output_edit.text().strip()
                self._apply_saved(keep, [])
            else:
                self._patient_changed(shown)
        self._sync_buttons()

    @property
    def plan(self) -> PatientPlan | None:
        """The patient shown."""
        i = self.patient_combo.currentIndex()
        return self.plans[i] if 0 <= i < len(self.plans) else None

    def select_patient(self, patient_id: str) -> None:
        """Show the patient with this ID (as the plan holds it)."""
        for i, plan in enumerate(self.plans):
            if plan.patient_id == patient_id:
                self.patient_combo.setCurrentIndex(i)
                return
        raise KeyError(patient_id)

    def _patient_changed(self, _i: int, *, restore: bool = True) -> None:
        plan = self.plan
        self.choice = ReaderChoice()
        self._fill(plan.studies if plan else [])
        self._show_choice_note([])
        notes = list(plan.warnings) if plan else []
        self.warnings_label.setText("\n".join(f"• {w}" for w in notes))
        self.warnings_label.setVisible(bool(notes))
        if plan is not None and self.folder is not None:
            self._proposed_output = str(proposed_output(self.folder, plan.patient_id))
            self.output_edit.setText(self._proposed_output)
            if restore:
                self.restore_saved_choice()
        self._sync_buttons()

    # --- the choice kept with the results ----------------------------------------------------
    def current_choice(self) -> SavedChoice | None:
        """The reader's choice now, in the form kept with the results (None: no patient)."""
        plan = self.plan
        if plan is None:
            return None
        return choice_of(plan, self.choice, scans=self.folder or "",
                         output=self.output_edit.text().strip(),
                         registration=self.registration_combo.currentText(),
                         forecast=self.forecast_check.isChecked())

    def restore_saved_choice(self, out_dir: str | Path | None = None) -> bool:
        """Apply the choice saved in ``out_dir`` (default: the results folder shown) to the
        patient shown; what no longer fits is noted under the table.  False when there was
        none to apply (a damaged file is noted, never raised)."""
        text = str(out_dir) if out_dir is not None else self.output_edit.text().strip()
        self._checked_output = text
        if self.plan is None or not text:
            return False
        saved, notes = load_choice(Path(text).expanduser())
        if saved is None:
            self._show_choice_note(notes)
            return False
        return self._apply_saved(saved, notes, restored=True)

    def _apply_saved(self, saved: SavedChoice, notes: list[str], *,
                     restored: bool = False) -> bool:
        plan = self.plan
        if plan is None:
            return False
        result = apply_choice(plan, saved)
        if saved.patient_id != plan.patient_id:
            self._show_choice_note(notes + result.notes)
            return False
        self.choice = result.choice
        self._filling = True
        uids = [s.study_uid for s in plan.studies]
        for r, study in enumerate(plan.studies):
            excluded = study.study_uid in self.choice.excluded
            self.table.item(r, COL_USE).setCheckState(
                Qt.CheckState.Unchecked if excluded else Qt.CheckState.Checked)
            combo = self.table.cellWidget(r, COL_SERIES)
            combo.setCurrentIndex(max(0, combo.findData(chosen_stack(study, self.choice))))
        if self.choice.baseline in uids:
            self.baseline_group.button(uids.index(self.choice.baseline)).setChecked(True)
        if result.registration is not None:
            self.registration_combo.setCurrentText(result.registration)
        if result.forecast is not None:
            self.forecast_check.setChecked(result.forecast)
        self._filling = False
        self._refresh_rows()
        head = ["The choice saved with these results is restored."] if restored else []
        self._show_choice_note(head + notes + result.notes)
        return True

    def _show_choice_note(self, notes: list[str]) -> None:
        self.choice_note.setText("\n".join(notes))
        self.choice_note.setVisible(bool(notes))

    def _output_edited(self) -> None:
        text = self.output_edit.text().strip()
        if text and text != self._checked_output and self.job is None:
            self.restore_saved_choice()

    # --- following the study browser -----------------------------------------------------------
    def follow(self, changed: SignalInstance, source: IndexSource) -> None:
        """Make the list follow the study browser: after each ``changed`` signal,
        ``source()`` gives the browser's index and folder (None, None while there is none)
        and a new index is listed (after the run, when one is running)."""
        self._index_source = source
        changed.connect(lambda *_a: QTimer.singleShot(0, self, self.sync_with_source))

    def sync_with_source(self) -> None:
        """List the followed browser's index when it is not the one shown."""
        if self._index_source is None:
            return
        index, folder = self._index_source()
        if index is None or folder is None or index is self.index:
            return
        if self.running:
            self._follow_pending = True
            return
        self._follow_pending = False
        self.set_index(index, folder)

    # --- the table --------------------------------------------------------------------------
    def _fill(self, studies: list[StudyOption]) -> None:
        self._filling = True
        for button in list(self.baseline_group.buttons()):
            self.baseline_group.removeButton(button)
        self.table.setRowCount(0)
        self.table.setRowCount(len(studies))
        for r, study in enumerate(studies):
            use = QTableWidgetItem()
            use.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            use.setCheckState(Qt.CheckState.Checked)
            use.setData(UID_ROLE, study.study_uid)
            self.table.setItem(r, COL_USE, use)
            radio = QRadioButton()
            radio.setToolTip("Make this study the baseline (earlier studies are left out)")
            radio.setProperty("study_uid", study.study_uid)
            self.baseline_group.addButton(radio, r)
            self.table.setCellWidget(r, COL_BASELINE, radio)
            date = study.date.isoformat()
            date_item = QTableWidgetItem(date)
            set_plain_tooltip(date_item, f"{study.description or 'Study'} of {date}"
                              + (f", {study.time}" if study.time else ""))
            self.table.setItem(r, COL_DATE, date_item)
            self.table.setItem(r, COL_TIMEPOINT, QTableWidgetItem(""))
            combo = QComboBox()
            for option in study.options:
                combo.addItem(option.text(), option.stack_uid)
                set_plain_tooltip_combo(combo, combo.count() - 1, option.text())
            combo.setCurrentIndex(max(0, combo.findData(study.default_stack)))
            combo.setEnabled(len(study.options) > 1)
            combo.setProperty("study_uid", study.study_uid)
            combo.currentIndexChanged.connect(
                lambda _i, c=combo: self._series_changed(c))
            self.table.setCellWidget(r, COL_SERIES, combo)
            self.table.setItem(r, COL_REASON, QTableWidgetItem(""))
        if studies:
            self.baseline_group.button(0).setChecked(True)
        self._filling = False
        self._refresh_rows()

    def _row_of(self, study_uid: str) -> int:
        for r in range(self.table.rowCount()):
            if self.table.item(r, COL_USE).data(UID_ROLE) == study_uid:
                return r
        raise KeyError(study_uid)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != COL_USE:
            return
        uid = item.data(UID_ROLE)
        if item.checkState() == Qt.CheckState.Checked:
            self.choice.excluded.discard(uid)
        else:
            self.choice.excluded.add(uid)
        self._refresh_rows()

    def _baseline_toggled(self, button: QRadioButton, checked: bool) -> None:
        if self._filling or not checked:
            return
        uid = str(button.property("study_uid"))
        self.choice.baseline = uid
        if uid in self.choice.excluded:  # the baseline chosen is tracked: tick it again
            self.set_included(uid, True)
        self._refresh_rows()

    def _series_changed(self, combo: QComboBox) -> None:
        if self._filling:
            return
        self.choice.series[str(combo.property("study_uid"))] = str(combo.currentData())
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        """Timepoint names, greyed rows and reasons after any change of the choice."""
        plan = self.plan
        if plan is None:
            return
        used = {s.study_uid: n for n, s in enumerate(used_studies(plan, self.choice))}
        uids = [s.study_uid for s in plan.studies]
        start = uids.index(self.choice.baseline) if self.choice.baseline in uids else 0
        self._filling = True
        for r, study in enumerate(plan.studies):
            n = used.get(study.study_uid)
            if n is not None:
                text = "baseline" if n == 0 else f"follow-up {n}"
            elif r < start:
                text = "before the baseline: left out"
            else:
                text = "left out"
            self.table.item(r, COL_TIMEPOINT).setText(text)
            stack = chosen_stack(study, self.choice)
            if stack == study.default_stack:
                reason = study.reason
            else:
                option = study.option(stack)
                reason = (f"chosen by the reader (the rule picks another: {study.reason})"
                          if option is None else f"{option.text()}; chosen by the reader "
                          f"(the rule picks another: {study.reason})")
            reason_item = self.table.item(r, COL_REASON)
            reason_item.setText(reason)
            set_plain_tooltip(reason_item, reason)
            colour = Qt.GlobalColor.gray if n is None else self.palette().text().color()
            for col in (COL_DATE, COL_TIMEPOINT, COL_REASON):
                self.table.item(r, col).setForeground(colour)
        self._filling = False
        self._sync_buttons()

    # --- the reader's choices, for code and tests -------------------------------------------
    def set_included(self, study_uid: str, included: bool) -> None:
        """Tick or untick a study (as a click on its box does)."""
        state = Qt.CheckState.Checked if included else Qt.CheckState.Unchecked
        self.table.item(self._row_of(study_uid), COL_USE).setCheckState(state)

    def set_baseline(self, study_uid: str) -> None:
        """Make a study the baseline (as a click on its radio button does)."""
        button = self.table.cellWidget(self._row_of(study_uid), COL_BASELINE)
        button.setChecked(True)

    def set_series(self, study_uid: str, stack_uid: str) -> None:
        """Use another series for a study (as choosing it in its combo does)."""
        combo = self.table.cellWidget(self._row_of(study_uid), COL_SERIES)
        i = combo.findData(stack_uid)
        if i < 0:
            raise KeyError(stack_uid)
        combo.setCurrentIndex(i)

    def used_studies(self) -> list[StudyOption]:
        """The studies a run would track now, oldest first."""
        plan = self.plan
        return used_studies(plan, self.choice) if plan is not None else []

    def selection(self) -> Any:
        """The :class:`TimelineSelection` a run would use now (headers only; raises the
        timeline's typed errors)."""
        plan = self.plan
        if plan is None or self.index is None:
            raise IntervalError("No patient is listed: open a folder first.")
        return build_selection(plan, self.choice, self.index, self._paths())

    def _paths(self) -> list[Path]:
        return [self.folder, *self.extra_folders] if self.folder is not None else []

    def tracking_options(self) -> TrackingOptions:
        """The pipeline options: the template with the dock's registration and forecast."""
        return dataclasses.replace(self.options_template,
                                   registration=self.registration_combo.currentText(),
                                   forecast=self.forecast_check.isChecked())

    # --- running ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def track(self) -> Job | None:
        """Run the pipeline on the reader's choice in the background (None: nothing to run,
        the reason is shown)."""
        plan, index = self.plan, self.index
        if self.running:
            return self.job
        if plan is None or index is None:
            self.message.setText("No patient is listed: open a folder first.")
            return None
        if effective_baseline(plan, self.choice) is None:
            self.message.setText("No study is selected: tick at least one study to track.")
            return None
        text = self.output_edit.text().strip()
        if not text:
            self.message.setText("Choose a folder for the results.")
            return None
        out = Path(text).expanduser()
        saved = self.current_choice()
        choice = copy.deepcopy(self.choice)
        paths = self._paths()
        options = self.tracking_options()
        labels_for = self.labels_for

        def run(ctx: JobContext) -> TrackResult:
            ctx.emit(("step", "Building the timeline"))
            selection = build_selection(plan, choice, index, paths, cancel=ctx.cancelled)
            labels = labels_for(selection)
            reporter = Reporter(echo=lambda line: ctx.emit(("echo", line)),
                                bar=_step_bar(ctx))
            outcome = run_tracking(selection, labels, out, options, inputs=tuple(paths),
                                   reporter=reporter, cancel=ctx.cancelled)
            report = outcome.report
            try:  # the reader's choice is kept with the results; the run stands without it
                notes = save_choice(out, saved) if saved is not None else []
            except IntervalError as exc:
                notes = [f"The timeline choice was not saved with the results: {exc}"]
            return TrackResult(out, len(report.timeline.timepoints), len(report.tracks),
                               outcome.ok, len(report.warnings), tuple(notes))

        self.steps_seen = []
        self.last_result = None
        self.log_view.clear()
        self.message.setText("")
        self.job = self.runner.submit(
            "tracking the lesions", run, on_done=self._done, on_error=self._failed,
            on_cancel=self._cancelled, on_partial=self._partial, on_progress=self._progress)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self._set_status("Starting…")
        self._sync_buttons()
        return self.job

    def cancel(self) -> None:
        """Stop the run (or the folder reading) at its next check."""
        if self.job is not None:
            self.job.cancel()
            self._set_status("Cancelling…")
        elif self._prep_job is not None:
            self._cancel_prep()
            self._set_status("Cancelled.")
        self._sync_buttons()

    def _partial(self, item: object) -> None:
        if not isinstance(item, tuple) or len(item) != 2:
            return
        kind, text = item
        if kind == "step":
            self.steps_seen.append(str(text))
            if self.job is None or not self.job.is_cancelled():
                self._set_status(str(text))
            self.progress_bar.setRange(0, 0)
        self.log_view.appendPlainText(str(text))

    def _progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setVisible(True)
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))

    def _done(self, result: TrackResult) -> None:
        self._ended()
        self.last_result = result
        self._set_status("Done.")
        state = "" if result.ok else " (a registration failed: check the warnings)"
        self.message.setText("\n".join([
            f"Tracked {result.timepoints} timepoint(s), {result.lesions} lesion(s){state}; "
            f"{result.warnings} warning(s). Results: {result.out_dir}", *result.notes]))
        self._checked_output = str(result.out_dir)
        self.open_workspace(result.out_dir)

    def _failed(self, exc: IntervalError) -> None:
        self._ended()
        self._set_status("Stopped.")
        self.message.setText(f"Tracking failed: {exc}")

    def _cancelled(self) -> None:
        self._ended()
        self._set_status("Cancelled.")
        self.message.setText("Tracking was cancelled; no report was written.")

    def _ended(self) -> None:
        self.job = None
        self.progress_bar.setVisible(False)
        self._sync_buttons()
        if self._follow_pending:  # the browser changed during the run
            QTimer.singleShot(0, self, self.sync_with_source)

    def _open_workspace_window(self, out_dir: Path) -> Any:
        from interval.ui.longitudinal.workspace_window import open_workspace_window

        try:
            return open_workspace_window(out_dir, self.window())
        except IntervalError as exc:
            self.message.setText(f"The results could not be opened: {exc}")
            return None

    def _ask_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for the results (outside the scans)", self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)
            self.restore_saved_choice()

    # --- state ------------------------------------------------------------------------------
    def _set_status(self, text: str) -> None:
        self.step_label.setText(text)

    def _sync_buttons(self) -> None:
        busy = self.job is not None
        self.inputs.setEnabled(not busy)
        self.table.setEnabled(not busy)
        self.run_inputs.setEnabled(not busy)
        plan = self.plan
        can_run = (not busy and self._prep_job is None and plan is not None
                   and effective_baseline(plan, self.choice) is not None
                   and bool(self.output_edit.text().strip()))
        self.track_button.setEnabled(can_run)
        self.priors_button.setEnabled(not busy and self._prep_job is None
                                      and can_look_for_priors(plan))
        self.cancel_button.setEnabled(
            (busy and not self.job.is_cancelled()) or self._prep_job is not None)

    def shutdown(self) -> None:
        """Cancel what runs (the runner, when the dock owns it, waits for it)."""
        self.cancel()
        if self.runner.parent() is self:
            self.runner.shutdown()


def set_plain_tooltip_combo(combo: QComboBox, index: int, text: str) -> None:
    """Give item ``index`` of ``combo`` a plain-text tooltip."""
    combo.setItemData(index, plain_tooltip(text), Qt.ItemDataRole.ToolTipRole)


def _step_bar(ctx: JobContext) -> Callable[[str], contextlib.AbstractContextManager[Any]]:
    """The Reporter's ``bar``: each step's label goes to the dock (never dropped), its
    progress to the dock's bar (throttled by the job)."""

    @contextlib.contextmanager
    def bar(label: str) -> Iterator[Any]:
        ctx.emit(("step", label))
        yield ctx.progress

    return bar
