"""File > Query PACS: search a PACS, list studies and series, retrieve into the local cache.

The dialog holds the search form (:mod:`interval.net.query_form` checks it and says
what is wrong), the studies found and, for the study selected, its series with a tick
each.  Every PACS call runs in a background :class:`~interval.ui.workers.Job` (the dialog
never waits for the network): a failure is shown in the dialog as the
:class:`~interval.net.errors.PacsError`'s sentence and, for a retrieval, in the
Problems panel.  *Retrieve* fetches the series ticked (all ticked: the whole study)
through :meth:`~interval.net.cache.SeriesCache.fetch_study`, with progress and Cancel
in the main window's status bar; the cache keeps only complete series, so a cancelled or
cut retrieval leaves nothing behind.  Once done, the study's cache folder is opened as any
folder is (``open_path``).  Header texts are shown as plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from interval.core.errors import IntervalError
from interval.net.model import SeriesHit, ServerProfile, StudyHit
from interval.net.query_form import (
    MODALITIES,
    SERIES_COLUMNS,
    STUDY_COLUMNS,
    InvalidQuery,
    QueryFields,
    build_query,
    series_row,
    sort_series,
    study_row,
    study_summary,
)
from interval.ui.pacs_common import NO_SERVER, ServerCombo, default_cache, with_client
from interval.ui.plain_text import plain_label, set_plain_tooltip
from interval.ui.workers import Job, JobProgress, JobRunner

TITLE = "Query PACS"
UID_ROLE = Qt.ItemDataRole.UserRole
Report = Callable[[str, str], Any]  # (title, message) -> shown in the Problems panel


def _item(text: str, tooltip: bool = True) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if tooltip and text:
        set_plain_tooltip(item, text)
    return item


class PacsQueryDialog(QDialog):
    """Search, list and retrieve (see the module text).

    ``runner`` and ``progress`` default to the dialog's own; the main window passes its
    runner and status-bar :class:`JobProgress`, so a retrieval goes on (and opens the
    study) after the dialog is closed.  ``open_path(folder)`` opens a retrieved study;
    ``report(title, message)`` puts a failure in the Problems panel; ``cache`` is the
    :class:`~interval.net.cache.SeriesCache` (default: the viewer's).
    """

    def __init__(self, parent: QWidget | None = None, *, runner: JobRunner | None = None,
                 progress: JobProgress | None = None,
                 open_path: Callable[[Path], Any] | None = None,
                 report: Report | None = None, cache: Any = None,
                 profiles_path: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pacsQueryDialog")
        self.setWindowTitle(TITLE)
        self.resize(900, 620)
        self._own_runner = runner is None
        self.runner = runner if runner is not None else JobRunner(self, max_threads=2)
        self.open_path = open_path
        self.report = report
        self._cache = cache
        self.profiles_path = profiles_path
        self.studies: list[StudyHit] = []
        self.series: list[SeriesHit] = []
        self.search_job: Job | None = None
        self.series_job: Job | None = None
        self.retrieve_job: Job | None = None
        self.echo_job: Job | None = None
        self.retrieved: list[Path] = []  # study folders retrieved by this dialog
        self._generation = 0  # results of a search or series listing started before are dropped
        self._shown_profile: ServerProfile | None = None  # the server the results came from
        self._build(progress)
        self._server_changed()

    # --- building ---------------------------------------------------------------------
    def _build(self, progress: JobProgress | None) -> None:
        lay = QVBoxLayout(self)
        server_row = QHBoxLayout()
        self.server_combo = ServerCombo(self, self.profiles_path)
        self.server_combo.currentIndexChanged.connect(lambda _i: self._server_changed())
        self.servers_button = QPushButton("Servers…")
        self.servers_button.setObjectName("pacsServersButton")
        self.servers_button.clicked.connect(self.edit_servers)
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("pacsTest")
        self.test_button.clicked.connect(self.test_connection)
        server_row.addWidget(plain_label("Server:"))
        server_row.addWidget(self.server_combo, 1)
        server_row.addWidget(self.servers_button)
        server_row.addWidget(self.test_button)
        lay.addLayout(server_row)

        form = QFormLayout()
        self.patient_id_edit = QLineEdit()
        self.patient_id_edit.setObjectName("pacsPatientId")
        self.patient_name_edit = QLineEdit()
        self.patient_name_edit.setObjectName("pacsPatientName")
        self.patient_name_edit.setPlaceholderText("Family^Given; * and ? match anything")
        dates = QHBoxLayout()
        self.date_from_edit = QLineEdit()
        self.date_from_edit.setObjectName("pacsDateFrom")
        self.date_to_edit = QLineEdit()
        self.date_to_edit.setObjectName("pacsDateTo")
        for edit in (self.date_from_edit, self.date_to_edit):
            edit.setPlaceholderText("YYYY-MM-DD (empty: any)")
        dates.addWidget(self.date_from_edit)
        dates.addWidget(plain_label("to"))
        dates.addWidget(self.date_to_edit)
        self.modality_combo = QComboBox()
        self.modality_combo.setObjectName("pacsModality")
        self.modality_combo.setEditable(True)
        for modality in MODALITIES:
            self.modality_combo.addItem(modality or "Any", modality)
        self.accession_edit = QLineEdit()
        self.accession_edit.setObjectName("pacsAccession")
        form.addRow("Patient ID:", self.patient_id_edit)
        form.addRow("Patient name:", self.patient_name_edit)
        form.addRow("Study date:", dates)
        form.addRow("Modality:", self.modality_combo)
        form.addRow("Accession number:", self.accession_edit)
        lay.addLayout(form)
        for edit in (self.patient_id_edit, self.patient_name_edit, self.date_from_edit,
                     self.date_to_edit, self.accession_edit):
            edit.returnPressed.connect(self.search)

        search_row = QHBoxLayout()
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("pacsSearch")
        self.search_button.clicked.connect(self.search)
        self.message = plain_label("")
        self.message.setObjectName("pacsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        search_row.addWidget(self.search_button)
        search_row.addWidget(self.message, 1)
        lay.addLayout(search_row)

        split = QSplitter(Qt.Orientation.Vertical)
        self.study_table = QTableWidget(0, len(STUDY_COLUMNS))
        self.study_table.setObjectName("pacsStudies")
        self.study_table.setHorizontalHeaderLabels(list(STUDY_COLUMNS))
        self.series_table = QTableWidget(0, len(SERIES_COLUMNS))
        self.series_table.setObjectName("pacsSeries")
        self.series_table.setHorizontalHeaderLabels(list(SERIES_COLUMNS))
        for table in (self.study_table, self.series_table):
            table.verticalHeader().setVisible(False)
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            split.addWidget(table)
        self.study_table.horizontalHeader().setSectionResizeMode(
            STUDY_COLUMNS.index("Description"), QHeaderView.ResizeMode.Stretch)
        self.series_table.horizontalHeader().setSectionResizeMode(
            SERIES_COLUMNS.index("Description"), QHeaderView.ResizeMode.Stretch)
        self.study_table.itemSelectionChanged.connect(self._study_selected)
        self.series_table.itemChanged.connect(lambda _item: self._sync_buttons())
        lay.addWidget(split, 1)

        bottom = QHBoxLayout()
        self.progress = progress if progress is not None else JobProgress(self)
        if progress is None:
            bottom.addWidget(self.progress)
        bottom.addStretch(1)
        self.retrieve_button = QPushButton("Retrieve")
        self.retrieve_button.setObjectName("pacsRetrieve")
        self.retrieve_button.setToolTip("Copy the ticked series into the local cache and open "
                                        "them (all ticked: the whole study)")
        self.retrieve_button.clicked.connect(self._retrieve_clicked)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(close)
        lay.addLayout(bottom)
        for button in self.findChildren(QPushButton):  # Enter in a field searches, no more
            button.setAutoDefault(False)
            button.setDefault(False)

    # --- servers ----------------------------------------------------------------------
    def _server_changed(self) -> None:
        combo = self.server_combo
        profile = combo.current_profile()
        if profile != self._shown_profile:  # results of another server: not retrievable here
            self._shown_profile = profile
            self._generation += 1
            if self.studies:
                self._fill_studies([])
        if combo.problem:
            self.message.setText(combo.problem)
        elif combo.current_profile() is None:
            self.message.setText(NO_SERVER)
        elif self.message.text() == NO_SERVER:
            self.message.setText("")
        self._sync_buttons()

    def edit_servers(self) -> QDialog:
        """The PACS servers dialog (modal); the server list is read again afterwards."""
        from interval.ui.pacs_servers_dialog import ServersDialog

        dialog = ServersDialog(self, profiles_path=self.profiles_path)
        current = self.server_combo.current_profile()
        if current is not None:
            dialog.reload(select=current.name)
        dialog.profiles_changed.connect(lambda name: self.server_combo.reload(name or None))
        dialog.open()
        return dialog

    def test_connection(self) -> Job | None:
        """Echo the chosen server in the background."""
        profile = self.server_combo.current_profile()
        if profile is None:
            self.message.setText(NO_SERVER)
            return None
        self.message.setText(f"Calling {profile.name}…")
        self.echo_job = self.runner.submit(
            "testing the PACS connection", lambda _ctx: with_client(profile, lambda c: c.echo()),
            on_done=lambda _r: self._alive() and self.message.setText(f"{profile.name} answers."),
            on_error=lambda exc: self._alive() and self.message.setText(str(exc)))
        return self.echo_job

    # --- searching --------------------------------------------------------------------
    def fields(self) -> QueryFields:
        """The form as typed."""
        modality = self.modality_combo.currentText().strip()
        return QueryFields(
            patient_id=self.patient_id_edit.text(), patient_name=self.patient_name_edit.text(),
            date_from=self.date_from_edit.text(), date_to=self.date_to_edit.text(),
            modality="" if modality.lower() == "any" else modality,
            accession_number=self.accession_edit.text())

    def search(self) -> Job | None:
        """Look for studies in the background (None: the form is wrong; the dialog says why)."""
        profile = self.server_combo.current_profile()
        if profile is None:
            self.message.setText(NO_SERVER)
            return None
        try:
            query = build_query(self.fields())
        except InvalidQuery as exc:
            self.message.setText(str(exc))
            return None
        self._generation += 1
        gen = self._generation
        for job in (self.search_job, self.series_job):
            if job is not None:
                job.cancel()
        self._fill_studies([])
        self.message.setText(f"Searching {profile.name}…")
        self.search_job = self.runner.submit(
            "searching the PACS", lambda _ctx: with_client(profile, lambda c: c.find_studies(query)),
            on_done=lambda hits: self._current(gen) and self._found(hits, query.limit),
            on_error=lambda exc: self._current(gen) and self._query_failed(exc))
        self._sync_buttons()
        return self.search_job

    def _found(self, hits: list[StudyHit], limit: int) -> None:
        self.search_job = None
        self._fill_studies(hits)
        if not hits:
            self.message.setText("No study matches this search.")
        elif len(hits) >= limit:
            self.message.setText(f"Showing the first {len(hits)} studies; narrow the search "
                                 "to see the others.")
        else:
            self.message.setText(f"{len(hits)} stud{'y' if len(hits) == 1 else 'ies'} found.")
        if hits:
            self.study_table.selectRow(0)
        self._sync_buttons()

    def _query_failed(self, exc: IntervalError) -> None:
        self.search_job = None
        self.series_job = None
        self.message.setText(str(exc))
        self._sync_buttons()

    def _fill_studies(self, hits: list[StudyHit]) -> None:
        self.studies = list(hits)
        self.study_table.blockSignals(True)
        self.study_table.setRowCount(0)
        self.study_table.setRowCount(len(hits))
        for r, hit in enumerate(hits):
            for c, text in enumerate(study_row(hit).cells()):
                item = _item(text)
                if c == 0:
                    item.setData(UID_ROLE, hit.study_uid)
                self.study_table.setItem(r, c, item)
        self.study_table.blockSignals(False)
        self._fill_series([])

    # --- series -----------------------------------------------------------------------
    def current_study(self) -> StudyHit | None:
        rows = self.study_table.selectionModel().selectedRows()
        r = rows[0].row() if rows else -1
        return self.studies[r] if 0 <= r < len(self.studies) else None

    def select_study(self, study_uid: str) -> None:
        """Select the study with this UID (as a click on its row does)."""
        for r, hit in enumerate(self.studies):
            if hit.study_uid == study_uid:
                self.study_table.selectRow(r)
                return
        raise KeyError(study_uid)

    def _study_selected(self) -> None:
        hit = self.current_study()
        self._fill_series([])
        if self.series_job is not None:
            self.series_job.cancel()
            self.series_job = None
        profile = self.server_combo.current_profile()
        if hit is None or profile is None:
            self._sync_buttons()
            return
        gen = self._generation
        uid = hit.study_uid
        self.series_job = self.runner.submit(
            "listing the series", lambda _ctx: with_client(profile, lambda c: c.find_series(uid)),
            on_done=lambda hits: self._current(gen, uid) and self._show_series(hits),
            on_error=lambda exc: self._current(gen, uid) and self._query_failed(exc))
        self._sync_buttons()

    def _show_series(self, hits: list[SeriesHit]) -> None:
        self.series_job = None
        self._fill_series(sort_series(hits))
        self._sync_buttons()

    def _fill_series(self, hits: list[SeriesHit]) -> None:
        self.series = list(hits)
        self.series_table.blockSignals(True)
        self.series_table.setRowCount(0)
        self.series_table.setRowCount(len(hits))
        for r, hit in enumerate(hits):
            for c, text in enumerate(series_row(hit).cells()):
                item = _item(text)
                if c == 0:
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked)
                    item.setData(UID_ROLE, hit.series_uid)
                self.series_table.setItem(r, c, item)
        self.series_table.blockSignals(False)

    def set_series_checked(self, series_uid: str, checked: bool) -> None:
        """Tick or untick a series (as a click on its box does)."""
        for r, hit in enumerate(self.series):
            if hit.series_uid == series_uid:
                self.series_table.item(r, 0).setCheckState(
                    Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return
        raise KeyError(series_uid)

    def checked_series(self) -> list[str]:
        """The series UIDs ticked, in table order."""
        return [hit.series_uid for r, hit in enumerate(self.series)
                if self.series_table.item(r, 0).checkState() == Qt.CheckState.Checked]

    # --- retrieving -------------------------------------------------------------------
    def retrieve(self) -> Job | None:
        """Retrieve the ticked series of the selected study into the cache, then open the
        study (None: nothing to retrieve, or a retrieval runs; the dialog says why)."""
        profile, hit = self.server_combo.current_profile(), self.current_study()
        if self.retrieve_job is not None:
            self.message.setText("A retrieval is under way: wait for it or cancel it.")
            return None
        if profile is None or hit is None:
            self.message.setText(NO_SERVER if profile is None else "Select a study first.")
            return None
        checked = self.checked_series()
        if self.series and not checked:
            self.message.setText("Tick at least one series to retrieve.")
            return None
        series_uids = None if len(checked) == len(self.series) else checked
        try:
            cache = self._cache if self._cache is not None else default_cache()
        except IntervalError as exc:
            self._retrieve_failed(exc)
            return None
        self._cache = cache
        uid = hit.study_uid
        what = study_summary(hit)

        def run(ctx) -> Path:  # noqa: ANN001
            return with_client(profile, lambda c: cache.fetch_study(
                c, uid, series_uids, progress=ctx.progress, cancel=ctx.cancelled))

        self.message.setText(f"Retrieving {what}…")
        self.retrieve_job = self.runner.submit(
            "retrieving from the PACS", run, on_done=self._retrieved,
            on_error=self._retrieve_failed, on_cancel=self._retrieve_cancelled,
            progress_widget=self.progress, text=f"Retrieving {what}…")
        self._sync_buttons()
        return self.retrieve_job

    def _retrieved(self, folder: Path) -> None:
        self.retrieved.append(Path(folder))
        if self._alive():
            self.retrieve_job = None
            self.message.setText("Retrieved into the local cache; opening it.")
            self._sync_buttons()
        if self.open_path is not None:
            self.open_path(Path(folder))

    def _retrieve_failed(self, exc: IntervalError) -> None:
        text = f"The retrieval failed: {exc} Nothing partial was kept."
        if self._alive():
            self.retrieve_job = None
            self.message.setText(text)
            self._sync_buttons()
        if self.report is not None:
            self.report(TITLE, text)

    def _retrieve_cancelled(self) -> None:
        if self._alive():
            self.retrieve_job = None
            self.message.setText("The retrieval was cancelled; nothing partial was kept.")
            self._sync_buttons()

    def _retrieve_clicked(self) -> None:
        if self.retrieve_job is not None:
            self.cancel_retrieval()
        else:
            self.retrieve()

    def cancel_retrieval(self) -> None:
        """Stop the retrieval under way at its next check."""
        if self.retrieve_job is not None:
            self.retrieve_job.cancel()
            self.message.setText("Cancelling the retrieval…")
            self._sync_buttons()

    # --- state ------------------------------------------------------------------------
    def _alive(self) -> bool:
        return isValid(self)

    def _current(self, gen: int, study_uid: str | None = None) -> bool:
        """Whether a search / series result is still wanted (dialog open, no newer search,
        the same study selected)."""
        if not self._alive() or gen != self._generation:
            return False
        if study_uid is None:
            return True
        hit = self.current_study()
        return hit is not None and hit.study_uid == study_uid

    def _sync_buttons(self) -> None:
        has_server = self.server_combo.current_profile() is not None
        self.search_button.setEnabled(has_server)
        self.test_button.setEnabled(has_server)
        busy = self.retrieve_job is not None
        self.retrieve_button.setText("Cancel retrieval" if busy else "Retrieve")
        self.retrieve_button.setEnabled(
            (busy and not self.retrieve_job.is_cancelled())
            or (has_server and self.current_study() is not None
                and (not self.series or bool(self.checked_series()))))

    def done(self, result: int) -> None:  # noqa: D102 - Qt's
        for job in (self.search_job, self.series_job, self.echo_job):
            if job is not None:
                job.cancel()
        if self._own_runner:
            self.runner.shutdown(5000)
        super().done(result)


def show_pacs_dialog(window: Any) -> PacsQueryDialog:
    """File > Query PACS… on the main window: one non-modal dialog, retrievals on the
    window's runner and status bar, retrieved studies opened in the study browser and
    failures in the Problems panel."""
    dialog = getattr(window, "pacs_dialog", None)
    if dialog is None or not isValid(dialog):
        dialog = PacsQueryDialog(window, runner=window.runner, progress=window.progress,
                                 open_path=window.open_path, report=window._show_text_problem)
        dialog.setModal(False)
        window.pacs_dialog = dialog
    elif not dialog.isVisible():
        dialog.server_combo.reload()  # servers added or removed elsewhere (CLI, batch)
    dialog.show()
    dialog.raise_()
    return dialog
