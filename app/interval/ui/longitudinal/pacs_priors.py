"""The Timeline dock's "Priors on PACS…": the patient's other studies on a PACS, added to
the timeline.

The dialog lists the studies of the patient shown that the PACS holds and the dock's
index does not (:func:`~interval.net.priors.priors_for`, newest first, in the
background).  *Retrieve and add* fetches the ticked studies into the local cache
(:meth:`~interval.net.cache.SeriesCache.fetch_study`: only complete series are ever
kept) and indexes the dock's folder *together with* every study folder added so far
(headers only, one :func:`~interval.io.dicom.index.index_files` call: the index merges
studies by UID, as for any set of folders), then hands that index to
:meth:`TimelineDock.set_index` with the dock's folder: the reader's choice is kept and the
priors appear as timepoints.  The cache folders are kept in ``dock.extra_folders``, so
the run cites them as inputs (and never writes its results into them).  Everything
network-bound runs in a job with progress and Cancel; failures are shown as sentences.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from interval.core.errors import IntervalError
from interval.io.dicom.records import DicomIndex
from interval.net.model import StudyHit
from interval.net.query_form import study_row
from interval.ui.pacs_common import (
    NO_SERVER,
    ServerCombo,
    default_cache,
    has_server_profiles,
    with_client,
)
from interval.ui.plain_text import plain_label, set_plain_tooltip
from interval.ui.workers import Job, JobContext, JobProgress, JobRunner

TITLE = "Priors on PACS"
COLUMNS = ("Add", "Date", "Description", "Modalities", "Series", "Accession")
NO_ID = "(no patient ID)"  # interval.longitudinal.timeline.NO_ID


def can_look_for_priors(plan: Any, profiles_path: str | Path | None = None) -> bool:
    """Whether the dock's button is enabled: a patient with an ID is shown and a PACS
    server is saved."""
    return (plan is not None and bool(plan.patient_id) and plan.patient_id != NO_ID
            and has_server_profiles(profiles_path))


def proposed_output(folder: str | Path, patient_id: str) -> Path:
    """Where the dock proposes the results of ``folder``: as
    :func:`~interval.longitudinal.timeline_plan.default_output_folder` does, except for a
    study opened from the PACS cache, whose results go under the user's documents
    (``Interval tracking/PACS``): never beside it in the cache, which removes what it did
    not write."""
    import platformdirs

    from interval.longitudinal.timeline_plan import default_output_folder
    from interval.net.cache import default_cache_root

    real = Path(os.path.realpath(Path(folder).expanduser()))
    root = Path(os.path.realpath(default_cache_root()))
    if real == root or root in real.parents:
        base = platformdirs.user_documents_path() / "Interval tracking" / "PACS"
        return default_output_folder(base / real.name, patient_id, fallback=base)
    return default_output_folder(folder, patient_id)


def known_study_uids(index: DicomIndex | None) -> set[str]:
    """Every study of ``index`` (they are not offered again)."""
    if index is None:
        return set()
    return {st.study_instance_uid for p in index.patients for st in p.studies}


def retrieve_and_index(client_for: Any, cache: Any, study_uids: list[str], folder: Path,
                       extra: list[Path], ctx: JobContext) -> tuple[list[Path], DicomIndex]:
    """Fetch each study into ``cache`` and index ``folder`` with every study folder
    (``extra`` + the new ones); returns (all study folders, the index)."""
    from interval.io.dicom.index import index_files

    fetched: list[Path] = []
    for n, uid in enumerate(study_uids):
        ctx.emit(f"Retrieving study {n + 1} of {len(study_uids)}…")
        fetched.append(Path(client_for(lambda c, uid=uid: cache.fetch_study(
            c, uid, None, progress=ctx.progress, cancel=ctx.cancelled))))
    ctx.emit("Reading the studies…")
    folders = list(dict.fromkeys([*extra, *fetched]))
    index = index_files([folder, *folders], root=folder, progress=ctx.progress,
                        cancel=ctx.cancelled)
    return folders, index


class PriorsDialog(QDialog):
    """The patient's other studies on a PACS (see the module text)."""

    def __init__(self, dock: Any, parent: QWidget | None = None, *, cache: Any = None,
                 profiles_path: str | Path | None = None) -> None:
        super().__init__(parent if parent is not None else dock)
        self.setObjectName("pacsPriorsDialog")
        self.setWindowTitle(TITLE)
        self.resize(720, 420)
        self.dock = dock
        plan = dock.plan
        self.patient_id = plan.patient_id if plan is not None else ""
        self.patient_label = plan.label() if plan is not None else ""
        self.runner = JobRunner(self, max_threads=2)
        self._cache = cache
        self.profiles_path = profiles_path
        self.hits: list[StudyHit] = []
        self.find_job: Job | None = None
        self.retrieve_job: Job | None = None
        self.added: list[Path] = []
        self._generation = 0
        self._build()

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        self.heading = plain_label(f"Other studies of {self.patient_label} on the PACS:")
        self.heading.setWordWrap(True)
        lay.addWidget(self.heading)
        row = QHBoxLayout()
        self.server_combo = ServerCombo(self, self.profiles_path)
        self.server_combo.currentIndexChanged.connect(lambda _i: self.look())
        self.look_button = QPushButton("Look again")
        self.look_button.clicked.connect(self.look)
        row.addWidget(plain_label("Server:"))
        row.addWidget(self.server_combo, 1)
        row.addWidget(self.look_button)
        lay.addLayout(row)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("pacsPriors")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Description"), QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(lambda _i: self._sync())
        lay.addWidget(self.table, 1)
        self.message = plain_label("")
        self.message.setObjectName("pacsPriorsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.message)
        bottom = QHBoxLayout()
        self.progress = JobProgress(self)
        bottom.addWidget(self.progress)
        bottom.addStretch(1)
        self.add_button = QPushButton("Retrieve and add")
        self.add_button.setObjectName("pacsPriorsAdd")
        self.add_button.clicked.connect(self.retrieve)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom.addWidget(self.add_button)
        bottom.addWidget(close)
        lay.addLayout(bottom)
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)

    # --- looking ----------------------------------------------------------------------
    def look(self) -> Job | None:
        """Look for the patient's other studies on the chosen server, in the background."""
        from interval.net.priors import priors_for

        profile = self.server_combo.current_profile()
        self._generation += 1
        gen = self._generation
        self._fill([])
        if profile is None:
            self.message.setText(self.server_combo.problem or NO_SERVER)
            return None
        pid, known = self.patient_id, known_study_uids(self.dock.index)
        self.message.setText(f"Looking on {profile.name}…")
        self.find_job = self.runner.submit(
            "looking for priors",
            lambda _ctx: with_client(profile, lambda c: priors_for(c, pid, known)),
            on_done=lambda hits: self._current(gen) and self._found(hits),
            on_error=lambda exc: self._current(gen) and self._failed(exc))
        self._sync()
        return self.find_job

    def _found(self, hits: list[StudyHit]) -> None:
        self.find_job = None
        self._fill(hits)
        self.message.setText(f"{len(hits)} other stud{'y' if len(hits) == 1 else 'ies'} on "
                             "the PACS; tick those to add." if hits else
                             "The PACS holds no other study of this patient.")
        self._sync()

    def _failed(self, exc: IntervalError) -> None:
        self.find_job = None
        self.message.setText(str(exc))
        self._sync()

    def _fill(self, hits: list[StudyHit]) -> None:
        self.hits = list(hits)
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.table.setRowCount(len(hits))
        for r, hit in enumerate(hits):
            row = study_row(hit)
            texts = ("", row.date, row.description, row.modalities, row.series, row.accession)
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                if c == 0:
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Unchecked)
                elif text:
                    set_plain_tooltip(item, text)
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)

    def set_checked(self, study_uid: str, checked: bool) -> None:
        """Tick or untick a study (as a click on its box does)."""
        for r, hit in enumerate(self.hits):
            if hit.study_uid == study_uid:
                self.table.item(r, 0).setCheckState(
                    Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                return
        raise KeyError(study_uid)

    def checked(self) -> list[str]:
        """The study UIDs ticked, in table order."""
        return [h.study_uid for r, h in enumerate(self.hits)
                if self.table.item(r, 0).checkState() == Qt.CheckState.Checked]

    # --- retrieving -------------------------------------------------------------------
    def retrieve(self) -> Job | None:
        """Retrieve the ticked studies and add them to the dock's timeline (None: nothing
        to do; the dialog says why)."""
        profile, uids, folder = self.server_combo.current_profile(), self.checked(), self.dock.folder
        if self.retrieve_job is not None or profile is None:
            return None
        if not uids:
            self.message.setText("Tick at least one study to add.")
            return None
        if folder is None:
            self.message.setText("The timeline shows no folder any more.")
            return None
        try:
            cache = self._cache if self._cache is not None else default_cache()
        except IntervalError as exc:
            self.message.setText(str(exc))
            return None
        self._cache = cache
        extra = list(getattr(self.dock, "extra_folders", []))

        def run(ctx: JobContext) -> tuple[list[Path], DicomIndex]:
            return retrieve_and_index(lambda call: with_client(profile, call), cache, uids,
                                      folder, extra, ctx)

        self.retrieve_job = self.runner.submit(
            "retrieving priors", run,
            on_done=lambda result: self._retrieved(result, folder, uids),
            on_error=self._retrieve_failed, on_cancel=self._retrieve_cancelled,
            on_partial=lambda text: isValid(self) and self.message.setText(str(text)),
            progress_widget=self.progress, text="Retrieving from the PACS…")
        self._sync()
        return self.retrieve_job

    def _retrieved(self, result: tuple[list[Path], DicomIndex], folder: Path,
                   uids: list[str]) -> None:
        folders, index = result
        self.retrieve_job = None
        if self.dock.folder != folder:
            self.message.setText("The timeline shows another folder now; the studies were "
                                 "retrieved but not added.")
        else:
            self.added = folders
            self.dock.extra_folders = folders
            self.dock.set_index(index, folder)
            self._fill([h for h in self.hits if h.study_uid not in set(uids)])
            n = len(uids)
            self.message.setText(f"Added {n} stud{'y' if n == 1 else 'ies'} from the PACS to "
                                 "the timeline.")
        self._sync()

    def _retrieve_failed(self, exc: IntervalError) -> None:
        self.retrieve_job = None
        self.message.setText(f"The retrieval failed: {exc} Nothing partial was kept; "
                             "nothing was added to the timeline.")
        self._sync()

    def _retrieve_cancelled(self) -> None:
        self.retrieve_job = None
        self.message.setText("The retrieval was cancelled; nothing was added to the timeline.")
        self._sync()

    # --- state ------------------------------------------------------------------------
    def _current(self, gen: int) -> bool:
        return isValid(self) and gen == self._generation

    def _sync(self) -> None:
        busy = self.retrieve_job is not None
        self.add_button.setEnabled(not busy and bool(self.hits) and bool(self.checked()))
        self.look_button.setEnabled(not busy and self.server_combo.current_profile() is not None)
        self.server_combo.setEnabled(not busy and bool(self.server_combo.profiles))

    def done(self, result: int) -> None:  # noqa: D102 - Qt's
        self.runner.shutdown(10000)  # a retrieval is cancelled: the cache keeps nothing partial
        super().done(result)


def show_priors_dialog(dock: Any, **options: Any) -> PriorsDialog:
    """The dialog on ``dock``'s patient, shown, already looking on the first server."""
    dialog = PriorsDialog(dock, **options)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setModal(True)
    dialog.show()
    dialog.look()
    return dialog
