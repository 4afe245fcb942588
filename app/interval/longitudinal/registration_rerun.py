"""The reader re-runs one follow-up's registration with another setting, from the check view.

* :func:`rerun_registration` - :func:`~interval.longitudinal.registration.register` of the
  follow-up to the baseline with the method the reader chose (rigid / affine /
  deformable), with progress and cancel;
* :func:`save_rerun` - writes the new transform atomically where the pipeline keeps it
  (``registration/tpN_to_tp1.tfm`` or ``.h5``), the transform it replaces kept as
  ``<its name>.bak``, and records the new :class:`RegistrationResult` in
  ``registration/reader_registrations.json`` as replacing the registration of
  ``report.json`` (the report itself is not rewritten here: :mod:`.retrack` makes the
  matching and RECIST again with it);
* :func:`registrations_in_use` - the report's registrations with the reader's re-runs in
  place of those they replaced (a re-run recorded against another registration than the
  report's current one, e.g. after the tracking was run again, is ignored with a warning);
* :func:`reload_point_mapping` - makes the workspace map points with those registrations.

A re-run whose result failed is never saved: the registration in use stays.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interval.core.atomic import atomic_open, atomic_path
from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, ProgressFn
from interval.core.volume import Volume
from interval.longitudinal.model import REG_FAILED, LongitudinalReport, RegistrationResult

if TYPE_CHECKING:  # imported on use: SimpleITK and scipy are not needed to read the record
    from interval.longitudinal.registration import Registration
    from interval.longitudinal.registration_stages import RegistrationOptions

REGISTRATION_DIR = "registration"
RERUN_JSON = f"{REGISTRATION_DIR}/reader_registrations.json"
_VERSION = 1


class RerunError(IntervalError):
    """A re-run registration cannot be saved or read back."""


def rerun_registration(baseline: Volume, follow_up: Volume, timepoint: int, method: str, *,
                       baseline_index: int = 0, progress: ProgressFn | None = None,
                       cancel: CancelFn | None = None,
                       options: RegistrationOptions | None = None) -> Registration:
    """Register ``follow_up`` (timepoint ``timepoint``) to ``baseline`` with ``method``
    (one of :data:`~interval.longitudinal.registration.METHODS`)."""
    from interval.longitudinal.registration import METHODS, register  # noqa: PLC0415

    if method not in METHODS:
        raise RerunError(f"unknown registration method {method!r} (use {', '.join(METHODS)})")
    return register(baseline, follow_up, method=method, timepoint=timepoint,
                    reference=baseline_index, progress=progress, cancel=cancel,
                    options=options)


def save_rerun(out_dir: str | Path, registration: Registration,
               replaced: RegistrationResult) -> RegistrationResult:
    """Save ``registration`` in place of ``replaced`` (the one in use for its timepoint);
    returns its result with ``transform_file`` set.  A failed one raises
    :class:`RerunError` and nothing is written."""
    out = Path(out_dir)
    new = registration.result
    if new.status == REG_FAILED:
        raise RerunError(f"the new registration failed ({new.message}): the one in use is kept")
    folder = out / REGISTRATION_DIR
    target = folder / f"tp{new.timepoint + 1}_to_tp{new.reference + 1}{registration.file_suffix}"
    old = out / replaced.transform_file if replaced.transform_file else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if old is not None and old.is_file():
            with atomic_path(old.with_name(old.name + ".bak"), suffix=".bak") as tmp:
                shutil.copyfile(old, tmp)
        registration.save(target, relative_to=out)
        if old is not None and old.is_file() and old.resolve() != target.resolve():
            old.unlink()  # its content is in the .bak; the report's entry is overridden
    except OSError as exc:
        raise RerunError(f"the transform could not be saved ({exc.strerror or exc})",
                         path=target) from None
    saved = registration.result
    entries = _read_entries(out)[0]
    previous = entries.get(new.timepoint)
    original = _report_registration(out, new.timepoint)  # the report's, after a retrack too
    if original is None:
        original = previous["replaces"] if previous is not None else _plain(replaced)
    entries[new.timepoint] = {"result": _plain(saved), "replaces": original}
    _write_entries(out, entries)
    return saved


def registrations_in_use(report: LongitudinalReport, out_dir: str | Path
                         ) -> tuple[list[RegistrationResult], list[str]]:
    """The report's registrations, each replaced by the reader's re-run when one was saved
    for it; and warnings (damaged record, re-run made for an older tracking run)."""
    entries, warnings = _read_entries(Path(out_dir))
    out = []
    for reg in report.registrations:
        entry = entries.get(reg.timepoint)
        if entry is None:
            out.append(reg)
            continue
        if entry.get("result") == _plain(reg):  # a later run reused the re-run: it is in use
            out.append(reg)
            continue
        if entry["replaces"] != _plain(reg):
            warnings.append(f"The registration of timepoint {reg.timepoint + 1} that was "
                            "re-run was made again by the tracking since: the tracking's "
                            "is used.")
            out.append(reg)
            continue
        try:
            out.append(_result(entry["result"]))
        except (TypeError, ValueError, KeyError) as exc:
            warnings.append(f"The re-run registration of timepoint {reg.timepoint + 1} "
                            f"cannot be read ({exc}): the tracking's is used.")
            out.append(reg)
    return out, warnings


def reload_point_mapping(workspace: Any, registrations: Sequence[RegistrationResult],
                         label: str = "registration re-run") -> None:
    """Make ``workspace`` (a :class:`~interval.longitudinal.workspace.LongitudinalWorkspace`)
    map points with ``registrations`` and tell its subscribers (kind "registration")."""
    hook = getattr(workspace, "reload_registrations", None)
    if hook is not None:  # the workspace's own method, when it has one
        hook(list(registrations), label)
        return
    from interval.longitudinal.workspace import WorkspaceChange  # noqa: PLC0415
    from interval.longitudinal.workspace_transforms import PointMapper  # noqa: PLC0415

    report = dataclasses.replace(workspace.report, registrations=list(registrations))
    workspace._mapper = PointMapper(report, workspace.out_dir)  # noqa: SLF001
    workspace._notify(WorkspaceChange("registration", label))  # noqa: SLF001


# --- the record ---------------------------------------------------------------------------


def _plain(result: RegistrationResult) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(result), allow_nan=False))


def _result(data: dict[str, Any]) -> RegistrationResult:
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    names = {f.name for f in dataclasses.fields(RegistrationResult)}
    values = {k: v for k, v in data.items() if k in names}
    matrix = values.get("matrix")
    if matrix is not None:
        values["matrix"] = tuple(tuple(float(v) for v in row) for row in matrix)
        if len(values["matrix"]) != 4 or any(len(r) != 4 for r in values["matrix"]):
            raise ValueError("the matrix is not 4 x 4")
    if values.get("translation_mm") is not None:
        values["translation_mm"] = tuple(float(v) for v in values["translation_mm"])
    for key in ("timepoint", "reference"):
        values[key] = int(values[key])
    for key in ("method", "status", "message"):
        if not isinstance(values.get(key), str):
            raise ValueError(f"{key} is not text")
    return RegistrationResult(**values)


def _report_registration(out: Path, timepoint: int) -> dict[str, Any] | None:
    """The registration of ``timepoint`` in ``OUT/report.json`` (None when unreadable):
    what a re-run replaces, also once the report was made again with an earlier re-run."""
    from interval.longitudinal.report_json import REPORT_JSON, read_report  # noqa: PLC0415

    try:
        report = read_report(out / REPORT_JSON)
    except (IntervalError, OSError, ValueError):
        return None
    found = next((r for r in report.registrations if r.timepoint == timepoint), None)
    return None if found is None else _plain(found)


def _read_entries(out: Path) -> tuple[dict[int, dict[str, Any]], list[str]]:
    path = out / RERUN_JSON
    if not path.is_file():
        return {}, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = {int(e["result"]["timepoint"]): {"result": e["result"],
                                                  "replaces": e["replaces"]}
                   for e in data["registrations"]}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return {}, [f"The reader's re-run registrations cannot be read ({type(exc).__name__})"
                    ": the tracking's are used."]
    return entries, []


def _write_entries(out: Path, entries: dict[int, dict[str, Any]]) -> None:
    data = {"version": _VERSION,
            "registrations": [entries[t] for t in sorted(entries)]}
    path = out / RERUN_JSON
    try:
        with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")
    except OSError as exc:
        raise RerunError(f"the re-run could not be recorded ({exc.strerror or exc})",
                         path=path) from None
