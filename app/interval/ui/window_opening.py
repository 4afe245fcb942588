"""Opening and loading for the main window: folders, files, series, segmentations.

Indexing and loading run on the window's :class:`~interval.ui.workers.JobRunner`; a
series is shown while it loads (``interval.ui.progressive_load``); errors go to the
Problems dock.  Segmentations attached to a series (``interval demo --view``) are added
as layers whenever that series is loaded.

A DICOM SEG or RTSTRUCT double-clicked in the study browser is shown as label layer(s)
on the series it refers to (loading that series first when another is shown); RTSTRUCT
contours are rasterised onto the series' grid (:mod:`interval.io.rtstruct`).  Label
layers shown on a series (opened by hand, from the browser, by the AI panel) are kept
when another series is opened and come back with their display settings when that
series is opened again (``_series_layers``, keyed by stack uid).

PET/CT fusion (:mod:`interval.core.fusion_rule`): opening a PT series while a CT of the
same study and frame of reference is shown (or the reverse) asks whether to fuse them
(:meth:`OpeningMixin.ask_fusion`); View > Fuse PET with CT does it without asking.  The
CT stays the active, grey image and the PET becomes a fusion layer over it (the "pet"
colour map, 0-5 SUV, opacity 0.5).  Series in different frames of reference are refused
with a message: fusing them needs a registration.

A fusion is kept across a series switch (:mod:`interval.core.fusion_memory`): when
another series is opened, the PET fused over the loaded CT is remembered with its
settings (colour map, window, opacity, visibility) and comes back when that CT is opened
again -- from memory, or reloaded in the background when its volume was released.
Opening a different CT of the PET's study and frame of reference while the PET is fused
asks whether to fuse it over that CT too (never silently).
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from interval.core.errors import IntervalError, IrregularGeometry
from interval.core.fusion_memory import FusionMemory, KeptFusion, fusion_to_offer
from interval.core.fusion_rule import ct_first, fusion_refusal, is_pet_ct_pair
from interval.core.metadata import WindowLevel
from interval.core.viewer_state import LabelLayer
from interval.core.volume import Volume
from interval.io.dicom.policy import DEFAULT_POLICY, DicomReadPolicy
from interval.ui.workers import (
    IndexResult,
    Job,
    Thumbnail,
    index_job,
    load_stack_job,
    read_image_job,
    thumbnails_job,
)

log = logging.getLogger(__name__)

RTSTRUCT_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.481.3"


def prepare_label_maps(path: str | Path, image: Volume, kind: str = "") -> list[Volume]:
    """Label maps of a segmentation file (NIfTI/NRRD/MHA, DICOM SEG) or an RTSTRUCT on
    ``image``'s grid (no Qt: runs in a worker).  ``kind`` "rtstruct"/"seg" when known."""
    from interval.io.rtstruct import rtstruct_label_maps
    from interval.ui.layers_panel import prepare_segmentation

    path = Path(path)
    if kind == "rtstruct" or (not kind and _is_rtstruct(path)):
        return rtstruct_label_maps(path, image)
    return prepare_segmentation(path, image)


def _is_rtstruct(path: Path) -> bool:
    """Whether ``path`` is a DICOM RT Structure Set (read up to its SOP Class only)."""
    if path.suffix.lower() not in (".dcm", ""):
        return False
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True,
                             specific_tags=["SOPClassUID", "Modality"])
    except Exception:  # noqa: BLE001 - not DICOM: the segmentation reader says why
        return False
    return (str(getattr(ds, "SOPClassUID", "")) == RTSTRUCT_SOP_CLASS_UID
            or str(getattr(ds, "Modality", "")) == "RTSTRUCT")


class OpeningMixin:
    """Methods of :class:`~interval.ui.main_window.MainWindow` (a mixin; not used alone)."""

    def _open_dialog_start(self) -> str:
        """Where an Open dialog starts: the folder a file was last opened from, else the
        folder being read, else home (never the program's working directory)."""
        for folder in (getattr(self, "_last_open_dir", None), self.current_folder):
            if folder is not None and Path(folder).is_dir():
                return str(folder)
        return str(Path.home())

    def _ask_open_segmentation(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a segmentation", self._open_dialog_start(),
            "Segmentations (*.nii *.nii.gz *.nrrd *.seg.nrrd *.mha *.dcm);;All files (*)",
        )
        if path:
            self._last_open_dir = Path(path).parent
            self.open_segmentation(path)

    def open_segmentation(self, path: str | Path) -> Job | None:
        """Load a label map (NIfTI/NRRD/MHA, DICOM SEG or an RTSTRUCT) onto the active
        image, in the background, placed by geometry."""
        return self._open_label_maps(path)

    def _open_label_maps(self, path: str | Path, kind: str = "", name: str = "") -> Job | None:
        """Read a segmentation / RTSTRUCT in the background and add it on the active image."""
        image = self.state.active_volume
        path = Path(path)
        if image is None:
            self._show_text_problem("Segmentation", "Open an image before its segmentation.")
            return None
        job = self.runner.submit(
            "loading a segmentation",
            lambda ctx: prepare_label_maps(path, image, kind),
            on_done=lambda vols: self._on_segmentation_loaded(vols, image, path, name),
            on_error=lambda exc: self._show_error("Segmentation", exc),
            progress_widget=self.progress,
            text=f"Loading {path.name}…",
        )
        return job

    # --- objects of the study browser (SEG, RTSTRUCT) ------------------------------------
    def _wire_browser(self) -> None:
        """Connect the browser's object rows and focus requests (called once, by the
        window's constructor)."""
        self.browser.object_activated.connect(self.open_object)
        self.browser.view_focus_requested.connect(self.focus_image_view)

    def open_object(self, key: str) -> Job | None:
        """Show the SEG / RTSTRUCT of a browser row as label layer(s) on the series it
        refers to: at once when that series is shown, else after loading it."""
        found = self.browser.object_of(key)
        if found is None:
            self._set_message("That object is no longer available; open the folder again.")
            return None
        obj, stack_uid = found
        path, name = Path(obj.header.path), _object_title(obj)
        loaded = getattr(self, "_loaded_volume", None)
        showing = loaded is not None and self.state.active_volume is loaded
        if stack_uid is None or (stack_uid == self.loaded_stack_uid and showing):
            return self._open_label_maps(path, obj.kind, name)
        self._pending_objects().setdefault(stack_uid, []).append((path, obj.kind, name))
        return self.load_stack(stack_uid, offer_fusion=False)

    def focus_image_view(self) -> None:
        """Give the keyboard to the focused image view (after a double-click in the browser:
        the arrow keys then page through the series, not through the browser's rows)."""
        from PySide6.QtCore import QTimer

        def focus() -> None:
            views = getattr(self.views, "views", None) or {}
            view = views.get(self.state.focused_view) or next(iter(views.values()), None)
            target = getattr(view, "vtk", view)
            if target is not None:
                target.setFocus()

        focus()
        QTimer.singleShot(0, focus)  # after the tree has finished handling the click

    def _pending_objects(self) -> dict[str, list[tuple[Path, str, str]]]:
        """stack uid -> objects to open once that stack is loaded."""
        if not hasattr(self, "_objects_after_load"):
            self._objects_after_load: dict[str, list[tuple[Path, str, str]]] = {}
        return self._objects_after_load

    # --- label layers kept per series --------------------------------------------------
    def _series_layer_store(self) -> dict[str, list[tuple[Volume, LabelLayer]]]:
        if not hasattr(self, "_series_layers"):
            self._series_layers: dict[str, list[tuple[Volume, LabelLayer]]] = {}
        return self._series_layers

    def _remember_layers(self) -> None:
        """Keep the label layers shown on the loaded series (before another replaces it)."""
        key = self.loaded_stack_uid
        loaded = getattr(self, "_loaded_volume", None)
        if key is None or loaded is None or self.state.active_volume is not loaded:
            return  # nothing of ours is shown (e.g. a load is already under way)
        kept = [(self.state.volume(layer.volume_id), layer) for layer in self.state.layers
                if isinstance(layer, LabelLayer)]
        store = self._series_layer_store()
        if kept:
            store[key] = kept
        else:
            store.pop(key, None)
        self._fusion_memory().remember(key, self._shown_fusions())

    def _restore_layers(self, key: str, image: Volume) -> int:
        """Put back the label layers kept for ``key`` on ``image``; returns how many."""
        from interval.io.segmentation import place_on_grid

        kept = self._series_layer_store().pop(key, [])
        n = 0
        with self.state.events.batch():
            for volume, layer in kept:
                try:
                    placed = volume if volume.same_grid(image) else place_on_grid(volume, image)
                except IntervalError as exc:
                    self.problems.add_message(layer.name or "Label layer", str(exc))
                    continue
                vid = self.state.add_volume(placed, name=layer.name)
                self.state.set_layer_visible(vid, layer.visible)
                self.state.set_layer_opacity(vid, layer.opacity)
                self.state.set_label_mode(vid, layer.mode)
                for info in layer.labels:
                    self.state.set_label(vid, info.value, name=info.name, color=info.color,
                                         visible=info.visible)
                n += 1
        return n

    def attach_segmentation(self, series_instance_uid: str, path: str | Path) -> None:
        """Add ``path`` as a layer each time the series ``series_instance_uid`` is loaded.

        Used by ``interval demo --view`` (the AI result of every timepoint appears with
        it); when the folder being opened has several series and none is chosen, the
        first series with an attached segmentation is loaded.
        """
        self.series_segmentations[series_instance_uid] = Path(path)

    def _stack_series_uid(self, key: str) -> str | None:
        stack = self.browser.stack(key)
        return stack.first.series_instance_uid if stack is not None and stack.frames else None

    def _on_segmentation_loaded(
        self, volumes: list[Volume], image: Volume, path: Path, name: str = ""
    ) -> None:
        """Add a loaded segmentation on ``image`` (if still active) and list its warnings
        (e.g. a damaged label description) in the Problems dock."""
        from interval.ui.layers_panel import add_segmentation

        if self.state.active_volume is not image:
            return
        add_segmentation(self.state, volumes, name or path.name)
        warnings = list(dict.fromkeys(w for v in volumes for w in v.metadata.warnings))
        for warning in warnings:
            self.problems.add_message(path.name, warning)
        if warnings:
            self.problems.show()
            self._set_message(f"{path.name}: {warnings[0]}")
        else:
            n = sum(len(v.labels) for v in volumes if v.labels is not None)
            self._set_message(f"Opened {path.name}: {n} label(s) on this series.")

    def _ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM files")
        if folder:
            self.open_path(folder)

    def _ask_open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a file", self._open_dialog_start(),
            "Images (*.dcm *.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd);;All files (*)",
        )
        if path:
            self._last_open_dir = Path(path).parent
            self.open_path(path)

    def open_path(self, path: str | Path, policy: DicomReadPolicy = DEFAULT_POLICY) -> Job | None:
        """Open a DICOM folder, a DICOM file or an image file, in the background."""
        from interval.io.open_path import classify_path

        path = Path(path).expanduser()
        try:
            kind = classify_path(path)
        except IntervalError as exc:
            self._show_error("Cannot open", exc)
            return None
        if kind == "image-file":
            return self._start_load(read_image_job(path), path.name, key=str(path))
        return self.open_dicom(path, policy)

    def open_dicom(self, path: Path, policy: DicomReadPolicy = DEFAULT_POLICY) -> Job:
        """Index ``path`` (folder or DICOM file) in the background and show the result."""
        for job in (self.index_job, self.thumb_job):
            if job is not None:
                job.cancel()
        self._policy = policy
        folder = path if path.is_dir() else path.parent
        if folder != self.current_folder:  # stack uids of another folder
            self._series_layer_store().clear()
            self._fusion_memory().clear()
            self._pending_objects().clear()
        self.current_folder = folder
        # one image of a series opens the whole series it belongs to
        self._focus_file = None if path.is_dir() else path
        self.browser.clear(f"Reading {path.name}…")
        self.problems.clear()
        self.index_result = None
        job = self.runner.submit(
            "indexing",
            index_job(path, policy, siblings=self._focus_file is not None),
            on_done=self._on_indexed,
            on_error=lambda exc: self._on_index_failed(exc),
            on_cancel=self._on_index_cancelled,
            progress_widget=self.progress,
            text=f"Reading {path.name}…",
        )
        self.index_job = job
        self._set_message(f"Reading {path.name}…")
        if path.is_dir():
            self.settings.add_recent(path)
            self._save_settings()
            self._rebuild_recent_menu()
        return job

    def _on_indexed(self, result: IndexResult) -> None:
        self.index_result = result
        index = result.index
        self.browser.set_index(index, result.irregular, result.unloadable)
        self.problems.add_skipped(index.skipped, index.root)
        for warning in index.warnings:
            self.problems.add_message("Folder", warning)
        for uid, problems in result.irregular.items():
            self.problems.add_series_problem(
                uid, self._stack_title(uid), problems, irregular=True, policy=self._policy
            )
        for uid, reason in result.unloadable.items():
            self.problems.add_series_problem(uid, self._stack_title(uid), [reason], irregular=False)
        stacks = self.browser.stacks()
        if self.problems.count() and _worth_showing(result, bool(stacks)):
            self.problems.show()
        self._set_message(self.browser.status.text())
        if stacks:
            self.thumb_job = self.runner.submit(
                "making thumbnails", thumbnails_job(self.browser.thumbnail_stacks()),
                on_partial=self._on_thumbnail,
            )
        loadable = [uid for uid, _s in stacks if uid not in result.irregular]
        focus = self._focus_file
        if focus is not None:
            from interval.io.open_path import stack_containing

            uid = stack_containing(index, focus)
            if uid is not None and uid in loadable:
                self.load_stack(uid)
                return
        rows = self.browser.thumbnail_stacks()  # one per browser row (a series in time: one)
        if len(rows) == 1 and rows[0][0] in loadable:
            self.load_stack(rows[0][0])  # the only thing in the folder: shown at once
            return
        attached = [uid for uid in loadable
                    if self._stack_series_uid(uid) in self.series_segmentations]
        if attached:
            self.load_stack(attached[0])

    def _on_index_failed(self, exc: IntervalError) -> None:
        self.browser.clear(str(exc))
        self._show_error("Cannot read the folder", exc)

    def _on_index_cancelled(self) -> None:
        self.browser.clear("Reading cancelled.")
        self._set_message("Reading cancelled.")

    def _on_thumbnail(self, thumb: Thumbnail) -> None:
        self.browser.set_thumbnail(thumb.key, thumb.pixels)

    def load_stack(
        self, stack_uid: str, policy: DicomReadPolicy | None = None, *, offer_fusion: bool = True
    ) -> Job | None:
        """Load one stack of the current index in the background and show it.

        A PET opened over its CT (or the reverse) may be fused instead, when the user
        accepts the offer (see :meth:`_offer_fusion`; not with an explicit ``policy``)."""
        stack = self.browser.stack(stack_uid)
        if stack is None:
            self._set_message("That series is no longer available; open the folder again.")
            return None
        self._fusion_offered: tuple[str, list[tuple[KeptFusion, Volume | None]]] | None = None
        if policy is None and offer_fusion:
            fused = self._offer_fusion(stack_uid)
            if fused is not None:
                return fused
            self._offer_fused_pet(stack_uid)
        policy = policy if policy is not None else self._policy
        return self._start_load(load_stack_job(stack, policy), self._stack_title(stack_uid), stack_uid)

    def _start_load(self, fn, title: str, key: str) -> Job:
        from interval.ui.progressive_load import ProgressiveLoad

        self._remember_layers()
        if self.load_job is not None:
            self.load_job.cancel()
        # the series is shown as it loads (middle slice first); see progressive_load
        shown = ProgressiveLoad(self.state, self.views, title, self)
        older = getattr(self, "_progressive", None)
        if older is not None and not (self.load_job is not None and self.load_job.state == "finished"):
            shown.take_over(older)  # its partial volume goes; what it replaced comes back
        self._progressive = shown
        job = self.runner.submit(
            "loading",
            fn,
            on_done=lambda volume, k=key, t=title, p=shown: self._on_loaded(volume, k, t, p),
            on_error=lambda exc, k=key, t=title, p=shown: self._on_load_failed(exc, k, t, p),
            on_cancel=lambda t=title, p=shown: self._on_load_cancelled(t, p),
            on_partial=lambda partial, p=shown: self._on_partial(p, partial),
            progress_widget=self.progress,
            text=f"Loading {title}…",
        )
        self.load_job = job
        self._set_message(f"Loading {title}…")
        return job

    def _on_loaded(self, volume: Volume, key: str, title: str, shown=None) -> None:
        current = shown is None or shown is getattr(self, "_progressive", None)
        if not current and shown.closed:
            return  # a newer load took over the views before this one ended
        if shown is None or not shown.finish(volume):
            if not current:
                return  # a newer load already shows its own slices
            with self.state.events.batch():
                for vid in list(self.state.volumes):
                    self.state.remove_volume(vid)
                self.state.add_volume(volume, name=title)
        if current:
            self._progressive = None
        if shown is not None:  # it cannot be abandoned now: let what it replaced go
            shown.previous = None  # (else every replaced volume, e.g. a fused PET, stays)
        self.loaded_stack_uid = key
        self._loaded_volume = volume
        self._volume_stacks()[volume] = key
        self.problems.remove_series_problem(key)
        for warning in volume.metadata.warnings:
            self.problems.add_message(title, warning, series=key)
        if volume.metadata.warnings:
            self.problems.show()
        nz, ny, nx = volume.array.shape[:3]
        self._set_message(f"{title}: {nx} x {ny} x {nz} voxels")
        self._sync_invert_action()
        self._sync_loading_ui()
        from interval.ui.time_axis_bar import attach_time_axis

        attach_time_axis(self, key, self._policy)  # 3-D + time: a time bar over its volumes
        restored = self._restore_layers(key, volume)
        self._restore_fusions(key, volume)
        seg = self.series_segmentations.get(self._stack_series_uid(key) or "")
        if seg is not None and not restored:  # restored: it is among them already
            self.open_segmentation(seg)
        for path, kind, name in self._pending_objects().pop(key, []):
            self._open_label_maps(path, kind, name)

    # --- PET/CT fusion ---------------------------------------------------------------------
    def ask_fusion(self, text: str) -> bool:
        """Ask whether to fuse the series (True) or open it alone (a dialog; tests and
        scripts may replace this method)."""
        from PySide6.QtWidgets import QMessageBox

        from interval.ui.plain_text import make_plain

        box = QMessageBox(QMessageBox.Icon.Question, "PET/CT fusion", text,
                          QMessageBox.StandardButton.NoButton, self)
        fuse = box.addButton("Fuse over the CT", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Open alone", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(fuse)
        make_plain(box)
        box.exec()
        return box.clickedButton() is fuse

    def _offer_fusion(self, stack_uid: str) -> Job | None:
        """When ``stack_uid`` and the shown image are a PET and a CT of one study in one
        frame of reference (and the PET is not fused already), offer to fuse them; the
        fusion's job when accepted, else None (the series then opens alone)."""
        stack = self.browser.stack(stack_uid)
        active = self.state.active_volume
        if stack is None or not stack.frames or active is None:
            return None
        if self._fusion_memory().has(stack_uid):
            return None  # its own fusion comes back as it was when it is loaded
        header = stack.first
        if (not is_pet_ct_pair(active.metadata, header) or fusion_refusal(active.metadata, header)
                or self._already_fused(header.series_instance_uid)
                or self.slices_still_loading() is not None):
            return None
        pet, ct = ("PET", "CT") if header.modality.upper() == "PT" else ("CT", "PET")
        text = (f"{self._stack_title(stack_uid)} is a {pet} series of the study whose {ct} is "
                f"shown, in the same frame of reference.\n\nShow the PET in colour over the "
                f"CT (fusion), or open this series alone?")
        return self.fuse_stack(stack_uid) if self.ask_fusion(text) else None

    def _already_fused(self, series_uid: str) -> bool:
        """Whether a series is shown already, as the active image or a fusion layer."""
        shown = [self.state.active_volume_id] + [
            layer.volume_id for layer in self.state.fusion_layers()]
        return bool(series_uid) and any(
            vid is not None and self.state.volume(vid).metadata.series_instance_uid == series_uid
            for vid in shown)

    def fuse_pet_ct(self) -> Job | None:
        """View > Fuse PET with CT: load the PET of the shown CT's study (or the CT of the
        shown PET's study) and show the PET over the CT; refused in words when the study
        has none or only one in another frame of reference."""
        active = self.state.active_volume
        if active is None or active.metadata.modality.upper() not in ("CT", "PT"):
            self._show_text_problem("Fusion", "Open a CT or a PET series before fusing.")
            return None
        partners = [uid for uid, stack in self.browser.stacks()
                    if stack.frames and is_pet_ct_pair(active.metadata, stack.first)]
        if not partners:
            other = "PET" if active.metadata.modality.upper() == "CT" else "CT"
            self._show_text_problem("Fusion", f"This study has no {other} series to fuse with.")
            return None
        same = [uid for uid in partners
                if not fusion_refusal(active.metadata, self.browser.stack(uid).first)]
        return self.fuse_stack(same[0] if same else partners[0])

    def fuse_stack(self, stack_uid: str) -> Job | None:
        """Load ``stack_uid`` in the background and fuse it with the shown image (a PT over
        the shown CT, or the CT under the shown PT); refused in words when the two are not
        a PET/CT pair of one study or not in the same frame of reference."""
        stack = self.browser.stack(stack_uid)
        base = self.state.active_volume
        if stack is None or not stack.frames:
            self._set_message("That series is no longer available; open the folder again.")
            return None
        if base is None:
            self._show_text_problem("Fusion", "Open a CT or a PET series before fusing.")
            return None
        if not is_pet_ct_pair(base.metadata, stack.first):
            self._show_text_problem(
                "Fusion", "Fusion shows a PET series over a CT series of the same study.")
            return None
        refusal = fusion_refusal(base.metadata, stack.first)
        if refusal:
            self._show_text_problem("Fusion", refusal)
            return None
        title = self._stack_title(stack_uid)
        job = self.runner.submit(
            "loading for fusion",
            load_stack_job(stack, self._policy, progressive=False),
            on_done=lambda volume: self._on_fusion_loaded(volume, base, stack_uid, title),
            on_error=lambda exc: self._show_error("Fusion", exc),
            progress_widget=self.progress,
            text=f"Loading {title} for fusion…",
        )
        self.fusion_job = job
        self._set_message(f"Loading {title} for fusion…")
        return job

    def _on_fusion_loaded(self, volume: Volume, base: Volume, key: str, title: str) -> None:
        """Show the loaded series fused with ``base`` (if ``base`` is still shown): the CT
        active and grey, the PET a fusion layer over it."""
        state = self.state
        if state.active_volume is not base:
            self._set_message(f"{title} was not fused: another series is shown now.")
            return
        base_id = state.active_volume_id
        assert base_id is not None
        with state.events.batch():
            if ct_first(base.metadata, volume.metadata):
                state.add_fusion(volume, window=_fusion_window(volume), name=title)
                pet_title = title
            else:  # the PET is shown: its CT comes under it and becomes the grey image
                ct_id = state.add_volume(volume, name=title)
                state.set_active_volume(ct_id)
                state.fuse_layer(base_id, colormap="pet", window=_fusion_window(base), opacity=0.5)
                pet_title = state.layer(base_id).name or "The PET"
        if ct_first(base.metadata, volume.metadata):
            self._volume_stacks()[volume] = key
        else:
            if getattr(self, "_loaded_volume", None) is base and self.loaded_stack_uid:
                self._volume_stacks()[base] = self.loaded_stack_uid
            self.loaded_stack_uid, self._loaded_volume = key, volume
            self._volume_stacks()[volume] = key
            self._sync_invert_action()
        for warning in volume.metadata.warnings:
            self.problems.add_message(title, warning, series=key)
        self._set_message(f"{pet_title} is shown in colour over the CT (PET/CT fusion).")

    # --- PET fusion kept across a series switch -----------------------------------------
    def _fusion_memory(self) -> FusionMemory:
        if not hasattr(self, "_fusions_kept"):
            self._fusions_kept = FusionMemory()
        return self._fusions_kept

    def _volume_stacks(self) -> weakref.WeakKeyDictionary[Volume, str]:
        """Loaded volume -> the stack uid it was read from (to reload a released PET)."""
        if not hasattr(self, "_stacks_of_volumes"):
            self._stacks_of_volumes: weakref.WeakKeyDictionary[Volume, str] = (
                weakref.WeakKeyDictionary())
        return self._stacks_of_volumes

    def _stack_of(self, volume: Volume) -> str | None:
        """The stack uid ``volume`` was loaded from (else the stack of its series)."""
        key = self._volume_stacks().get(volume)
        series = volume.metadata.series_instance_uid
        if key is None and series:
            key = next((uid for uid, stack in self.browser.stacks()
                        if stack.frames and stack.first.series_instance_uid == series), None)
        return key

    def _shown_fusions(self) -> list[tuple[KeptFusion, Volume]]:
        """The fusion layers over the active image, with their PET volumes."""
        shown = []
        for layer in self.state.fusion_layers():
            volume = self.state.volume(layer.volume_id)
            key = self._stack_of(volume)
            if key is not None:
                shown.append((KeptFusion.of_layer(layer, key), volume))
        return shown

    def _offer_fused_pet(self, stack_uid: str) -> None:
        """Opening another CT while a PET is fused over the shown one: when that CT is in
        the PET's study and frame of reference, ask whether to fuse the PET over it too
        (it is then shown over it once loaded, from memory; declined: it opens alone)."""
        if stack_uid == self.loaded_stack_uid or self._fusion_memory().has(stack_uid):
            return  # its own fusion (or none) comes back when it is loaded
        stack = self.browser.stack(stack_uid)
        shown = self._shown_fusions()
        if stack is None or not stack.frames or not shown:
            return
        n = fusion_to_offer(stack.first, [volume.metadata for _kept, volume in shown])
        if n is None:
            return
        kept, pet = shown[n]
        text = (f"{self._stack_title(stack_uid)} is a CT series in the same frame of reference "
                f"as the PET fused over the CT shown now ({kept.name or 'the PET'}).\n\n"
                f"Show that PET in colour over this CT too (fusion), or open this CT alone?")
        if self.ask_fusion(text):
            self._fusion_offered = (stack_uid, [(kept, pet)])

    def _restore_fusions(self, key: str, image: Volume) -> int:
        """Put back the fusion layers kept for ``key`` (or accepted over it when it was
        opened) on ``image``: at once when the PET is in memory, else reloaded in the
        background; returns how many."""
        offered = getattr(self, "_fusion_offered", None)
        self._fusion_offered = None
        kept = self._fusion_memory().take(key)
        if not kept and offered is not None and offered[0] == key:
            kept = offered[1]
        for fusion, pet in kept:
            if pet is not None:
                self._show_kept_fusion(pet, image, fusion)
            else:
                self._reload_kept_fusion(fusion, image)
        return len(kept)

    def _refuse_after_abandon(self) -> None:
        """A cancelled or failed load put the previous series back: fuse its PET again."""
        key, loaded = self.loaded_stack_uid, getattr(self, "_loaded_volume", None)
        if key is not None and loaded is not None and self.state.active_volume is loaded:
            self._restore_fusions(key, loaded)

    def _show_kept_fusion(self, pet: Volume, image: Volume, kept: KeptFusion) -> None:
        """Show ``pet`` over ``image`` (if still active) with the settings of ``kept``."""
        state = self.state
        if state.active_volume is not image:
            return
        with state.events.batch():
            vid = next((v for v, vol in state.volumes.items() if vol is pet), None)
            if vid is None:
                vid = state.add_fusion(pet, colormap=kept.colormap, window=kept.window,
                                       opacity=kept.opacity, name=kept.name)
            else:  # still open (e.g. put back as a plain layer by a cancelled load)
                state.fuse_layer(vid, colormap=kept.colormap, window=kept.window,
                                 opacity=kept.opacity)
            state.set_layer_visible(vid, kept.visible)
        self._volume_stacks()[pet] = kept.pet_stack_uid

    def _reload_kept_fusion(self, kept: KeptFusion, image: Volume) -> Job | None:
        """Reload a released PET in the background and show it over ``image`` as kept."""
        stack = self.browser.stack(kept.pet_stack_uid)
        if stack is None or not stack.frames:
            self._set_message("The fused PET is no longer available; open the folder again.")
            return None
        title = kept.name or self._stack_title(kept.pet_stack_uid)
        job = self.runner.submit(
            "loading for fusion",
            load_stack_job(stack, self._policy, progressive=False),
            on_done=lambda pet: self._show_kept_fusion(pet, image, kept),
            on_error=lambda exc: self._show_error("Fusion", exc),
            progress_widget=self.progress,
            text=f"Loading {title} for fusion…",
        )
        self.fusion_job = job
        return job

    def _on_load_failed(self, exc: IntervalError, key: str, title: str, shown=None) -> None:
        if shown is not None and shown is getattr(self, "_progressive", None):
            if shown.abandon():  # the slices shown so far go; what was shown before comes back
                self._refuse_after_abandon()
            self._progressive = None
        self._sync_loading_ui()
        if isinstance(exc, IrregularGeometry):
            self.problems.add_series_problem(
                key, title, exc.problems or [str(exc)], irregular=True, policy=self._policy
            )
            self._set_message(f"{title}: irregular slices; see Problems to load it anyway.")
        else:
            self.problems.add_series_problem(key, title, [str(exc)], irregular=False)
            self._set_message(f"{title}: {exc}")
        self.problems.show()
        self.problems.raise_()

    def _on_load_cancelled(self, title: str, shown=None) -> None:
        if shown is not None and shown is not getattr(self, "_progressive", None):
            return  # replaced by a newer load, which now owns the views
        self._progressive = None
        had_partial = shown is not None and shown.volume is not None and shown.showing
        restored = shown.abandon() if shown is not None else False
        if restored:
            self._refuse_after_abandon()
        self._sync_loading_ui()
        if restored:
            self._set_message(f"Loading {title} cancelled; the previous series is shown again.")
        elif had_partial:
            self._set_message(f"Loading {title} cancelled; its partly loaded slices were closed.")
        else:
            self._set_message(f"Loading {title} cancelled.")

    def _stack_title(self, stack_uid: str) -> str:
        index = self.index_result.index if self.index_result else self.browser.index
        if index is not None:
            for _p, study, series in index.iter_series():
                for stack in series.stacks:
                    if stack.uid == stack_uid:
                        desc = series.series_description or series.modality or "series"
                        number = f"#{series.series_number} " if series.series_number is not None else ""
                        date = f" ({study.study_date.isoformat()})" if study.study_date else ""
                        part = f" [{stack.label}]" if stack.label and len(series.stacks) > 1 else ""
                        return f"{number}{desc}{part}{date}"
        return Path(stack_uid).name or stack_uid


def _fusion_window(pet: Volume) -> WindowLevel | None:
    """0-5 SUV for a PET in SUV; None (the layer's default) otherwise."""
    from interval.io.dicom.suv_load import SUV_UNITS, SUV_WINDOW

    return SUV_WINDOW if pet.metadata.units == SUV_UNITS else None


def _object_title(obj) -> str:  # noqa: ANN001 - a records.NonImageObject
    """A layer name for a SEG / RTSTRUCT: its label or description, else its file name."""
    h = obj.header
    return h.description or h.series_description or Path(h.path).name


def _worth_showing(result: IndexResult, found_images: bool) -> bool:
    """Whether an indexing result should open the Problems dock by itself: not when the
    only things skipped were files that are not DICOM at all (README, LICENSE, NIfTI
    beside the series) and images were found -- the browser's status line still counts
    them, and View > Problems lists them."""
    index = result.index
    if result.irregular or result.unloadable or index.warnings or not found_images:
        return True
    return any(s.reason.strip() != "not a DICOM file" for s in index.skipped)
