"""Sending files to a PACS with C-STORE.

Each file is proposed in its own transfer syntax (one presentation context per SOP class
and syntax) and sent as it is on disk when the PACS accepts that syntax; an uncompressed
file whose syntax was not accepted goes as Explicit or Implicit VR Little Endian
instead.  More than 128 contexts are split over several associations.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom import uid as tsuid
from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pynetdicom import _config
from pynetdicom.association import Association
from pynetdicom.dsutils import encode_file_meta, split_dataset
from pynetdicom.status import STATUS_SUCCESS, STATUS_WARNING, code_to_category

from interval.core.errors import UnreadableFile
from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.net import dimse_errors as err
from interval.net.dimse_connection import MAX_CONTEXTS, association, identity_items, new_ae
from interval.net.errors import PacsRefused
from interval.net.model import ServerProfile

UNCOMPRESSED_FALLBACK = (tsuid.ExplicitVRLittleEndian, tsuid.ImplicitVRLittleEndian)
DURING = "the sending (C-STORE)"
NOT_ACCEPTED = -1  # our code for "the PACS accepted no context for this file"


@dataclass(frozen=True)
class OutgoingFile:
    """One file to send: its SOP class and the transfer syntax it is encoded in."""

    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    has_meta: bool  # the file has a file meta header naming its transfer syntax
    meta_matches: bool  # ... whose SOP class and instance UIDs are the data set's

    def contexts(self) -> set[tuple[str, str]]:
        """(SOP class, transfer syntax) pairs that could carry this file."""
        pairs = {(self.sop_class, self.transfer_syntax)}
        if not tsuid.UID(self.transfer_syntax).is_compressed:
            pairs |= {(self.sop_class, str(ts)) for ts in UNCOMPRESSED_FALLBACK}
        return pairs


def describe(path: Path) -> OutgoingFile:
    """Read what sending ``path`` needs (header only), or raise :class:`UnreadableFile`."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "SOPInstanceUID"])
    except (OSError, InvalidDicomError, ValueError, EOFError) as exc:
        raise UnreadableFile("not a DICOM file that can be sent", path=path) from exc
    meta = getattr(ds, "file_meta", None) or {}
    sop_class = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "")
    syntax = str(meta.get("TransferSyntaxUID") or "")
    if not syntax:
        implicit, little = ds.original_encoding
        syntax = str(tsuid.ImplicitVRLittleEndian if implicit is not False
                     else tsuid.ExplicitVRLittleEndian if little is not False
                     else tsuid.ExplicitVRBigEndian)
    if not sop_class or not ds.get("SOPInstanceUID"):
        raise UnreadableFile("the file has no SOP Class or SOP Instance UID", path=path)
    sop_instance = str(ds.SOPInstanceUID)
    has_meta = bool(meta.get("TransferSyntaxUID"))
    matches = (str(meta.get("MediaStorageSOPClassUID", "")) == sop_class
               and str(meta.get("MediaStorageSOPInstanceUID", "")) == sop_instance)
    return OutgoingFile(Path(path), sop_class, sop_instance, syntax, has_meta,
                        has_meta and matches)


def batches(files: Sequence[OutgoingFile]) -> list[tuple[list[OutgoingFile], list[tuple]]]:
    """Files grouped so each group needs at most 128 presentation contexts."""
    groups: list[tuple[list[OutgoingFile], list[tuple]]] = []
    members: list[OutgoingFile] = []
    pairs: dict[tuple[str, str], None] = {}
    for item in files:
        new = [p for p in sorted(item.contexts()) if p not in pairs]
        if members and len(pairs) + len(new) > MAX_CONTEXTS:
            groups.append((members, list(pairs)))
            members, pairs = [], {}
            new = sorted(item.contexts())
        members.append(item)
        pairs.update(dict.fromkeys(new))
    if members:
        groups.append((members, list(pairs)))
    return groups


def _context_for(assoc: Association, item: OutgoingFile) -> str | None:
    """The accepted syntax to send ``item`` in: its own, else an uncompressed one."""
    accepted = {str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts
                if str(cx.abstract_syntax) == item.sop_class and cx.as_scu}
    if item.transfer_syntax in accepted:
        return item.transfer_syntax
    if not tsuid.UID(item.transfer_syntax).is_compressed:
        for ts in UNCOMPRESSED_FALLBACK:
            if str(ts) in accepted:
                return str(ts)
    return None


def with_own_uids(item: OutgoingFile, folder: Path) -> Path:
    """A copy of ``item``'s file in ``folder`` whose file meta names the data set's own
    SOP class and instance (the C-STORE takes them from there); data set bytes unchanged."""
    meta, offset = split_dataset(item.path)
    meta = FileMetaDataset(meta)
    meta.MediaStorageSOPClassUID = item.sop_class
    meta.MediaStorageSOPInstanceUID = item.sop_instance
    copy = folder / "instance.dcm"
    with open(item.path, "rb") as src, open(copy, "wb") as dst:
        dst.write(b"\x00" * 128 + b"DICM" + encode_file_meta(meta))
        src.seek(offset)
        shutil.copyfileobj(src, dst)
    return copy


def send_one(assoc: Association, profile: ServerProfile, item: OutgoingFile) -> int:
    """C-STORE one file; the status code (:data:`NOT_ACCEPTED` when it cannot go)."""
    syntax = _context_for(assoc, item)
    if syntax is None:
        return NOT_ACCEPTED
    start = time.monotonic()
    if syntax == item.transfer_syntax and item.has_meta:
        _config.STORE_SEND_CHUNKED_DATASET = True  # send the file's bytes, not a re-encoding
        if item.meta_matches:
            status = assoc.send_c_store(item.path)
        else:
            with tempfile.TemporaryDirectory(prefix="interval-send-") as folder:
                status = assoc.send_c_store(with_own_uids(item, Path(folder)))
    else:
        status = assoc.send_c_store(pydicom.dcmread(item.path))
    if "Status" not in status:
        raise err.no_answer(profile, time.monotonic() - start, DURING)
    return int(status.Status)


def store_files(
    profile: ServerProfile,
    secret: str | None,
    files: Sequence[Path],
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> int:
    """Send ``files``; how many the PACS accepted.  Any refused raises :class:`PacsRefused`."""
    items = [describe(Path(p)) for p in files]
    accepted = 0
    refused: dict[int, int] = {}
    done = 0
    report(progress, 0, len(items))
    for members, pairs in batches(items):
        check_cancel(cancel)
        ae = new_ae(profile)
        for sop_class, syntax in pairs:
            ae.add_requested_context(sop_class, syntax)
        with association(ae, profile, "image storage (C-STORE)",
                         identity_items(profile, secret)) as assoc:
            for item in members:
                check_cancel(cancel)
                code = send_one(assoc, profile, item)
                if code >= 0 and code_to_category(code) in (STATUS_SUCCESS, STATUS_WARNING):
                    accepted += 1
                else:
                    refused[code] = refused.get(code, 0) + 1
                done += 1
                report(progress, done, len(items))
    if refused:
        raise PacsRefused(_refusal(profile, refused, accepted, len(items)))
    return accepted


def _refusal(profile: ServerProfile, refused: dict[int, int], accepted: int, total: int) -> str:
    reasons = []
    for code, n in sorted(refused.items()):
        if code == NOT_ACCEPTED:
            reasons.append(f"{n} not accepted in their kind or encoding")
        else:
            reasons.append(f"{n} with status {err.status_words(code, 'store')}")
    return (f"The PACS {err.where(profile)} accepted {accepted} of {total} file(s) and "
            f"refused {sum(refused.values())}: {'; '.join(reasons)}.")

