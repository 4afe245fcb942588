"""The DICOMweb backend: QIDO-RS queries, WADO-RS retrieval, STOW-RS sending.

One ``requests`` session carries the authentication (HTTP basic or a bearer token) and
the trust of an https server (:func:`~interval.net.tls.https_session`: the profile's CA
file, or no certificate check with a warning at each use); every request has the
profile's time limit for connecting and for each read.
``dicomweb-client`` runs the series and instance searches on that session, their
answers held to the same bound as every search (:meth:`DicomWebClient._capped_answers`);
the study search, the retrieval and the sending go through the session directly because
the library would change what travels: it percent-encodes the ``*`` of a name pattern
(Orthanc then finds nothing), decodes each retrieved instance into a pydicom data set (the
file written would no longer be the stored one) and re-encodes the files it sends.

Retrieved instances are written as ``<SOPInstanceUID>.dcm`` through a hidden temporary
name and :func:`os.replace`, so a file under its final name is always complete; a
cancellation is heard between instances and after every 64 KiB received.  What a
server can make us hold is bounded (:mod:`~interval.net.dicomweb_limits`): a search
answer in memory, an image and the free space left on the disk of the cache.  Nothing
here logs a secret, a name or a UID (counts only, at debug level), and the HTTP libraries'
records are scrubbed (:mod:`~interval.net.dicomweb_log`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import urllib3

from interval.core.errors import UnreadableFile
from interval.core.jobs import CancelFn, ProgressFn, check_cancel, report
from interval.core.uids import instance_file_name
from interval.net import dicomweb_limits as limits
from interval.net import dicomweb_wire as wire
from interval.net import tls
from interval.net.dicomweb_log import quiet_http_logging
from interval.net.errors import (
    AuthenticationFailed,
    PacsError,
    PacsRefused,
    PacsTimeout,
    ProfileError,
    ServerUnreachable,
    TransferInterrupted,
)
from interval.net.model import (
    RetrieveResult,
    SeriesHit,
    ServerProfile,
    StudyHit,
    StudyQuery,
)

log = logging.getLogger(__name__)

_ACCEPT_JSON = "application/dicom+json, application/json"
# "transfer-syntax=*": the instance as stored (no transcoding, byte-identical on Orthanc).
_ACCEPT_AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_ACCEPT_DEFAULT = 'multipart/related; type="application/dicom"'
_CHUNK = 1 << 20
_INSTANCE_CHUNK = 64 << 10  # cancel is checked after each: a trickle stops at once too
_MAX_EPILOGUE = 1 << 16  # read after the image's part, before the connection is dropped
STOW_MAX_FILES = 20
STOW_MAX_BYTES = 50 * 1024 * 1024
_NOT_DICOMWEB = ("the address is probably not a DICOMweb root "
                 "(for Orthanc it ends in /dicom-web)")


def display_address(url: str) -> str:
    """The URL without user name, password, query or fragment (for messages)."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "?"


class DicomWebClient:
    """:class:`~interval.net.model.PacsClient` over DICOMweb."""

    def __init__(self, profile: ServerProfile, secret: str | None = None) -> None:
        quiet_http_logging()  # request URLs hold patient names: never in the log
        self.profile = profile
        root = profile.url.strip().rstrip("/")
        if not root.lower().startswith(("http://", "https://")) or not urlsplit(root).hostname:
            raise ProfileError(f"Server {profile.name!r}: the DICOMweb address must be a URL "
                               "starting with http:// or https:// (e.g. "
                               "http://pacs:8042/dicom-web).")
        self._root = root
        self._address = display_address(root)
        self._timeout = (float(profile.timeout_s), float(profile.timeout_s))
        self._session = tls.https_session(profile)
        tls.warn_if_unverified(profile)
        if profile.auth == "basic":
            if secret is None:
                raise ProfileError(f"Server {profile.name!r} needs a password: none is stored.")
            self._session.auth = (profile.username, secret)
        elif profile.auth == "token":
            if not secret:
                raise ProfileError(f"Server {profile.name!r} needs a token: none is stored.")
            self._session.headers["Authorization"] = f"Bearer {secret}"
        self._accept_instance = _ACCEPT_AS_STORED
        self._web = None  # the dicomweb-client client, made when first needed

    # -- the protocol -------------------------------------------------------------------
    def echo(self) -> None:
        """A minimal study search: the server answers DICOMweb with our credentials."""
        self._get_json("/studies?limit=1", "echo")

    def find_studies(self, query: StudyQuery) -> list[StudyHit]:
        """QIDO-RS study search (no fuzzy matching; ``*`` and ``?`` in names and IDs)."""
        items = self._get_json(f"/studies?{wire.study_query_string(query)}", "query")
        hits = [h for h in map(wire.study_hit, items) if h and wire.keep_study(h, query)]
        if query.limit > 0:
            hits = hits[:query.limit]
        log.debug("study search: %d studies", len(hits))
        return hits

    def find_series(self, study_uid: str) -> list[SeriesHit]:
        """The series of a study, by series number."""
        with self._errors("query"), self._capped_answers():
            items = self._client().search_for_series(
                study_uid, fields=list(wire.SERIES_FIELDS))
        items = self._checked_datasets(items)
        hits = [h for h in (wire.series_hit(study_uid, i) for i in items) if h]
        return sorted(hits, key=wire.series_order)

    def retrieve_series(
        self,
        study_uid: str,
        series_uid: str,
        dest: Path,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> RetrieveResult:
        """Each instance by WADO-RS, as stored, into ``dest`` (``<SOP UID>.dcm``).

        Instances written before a cancellation or a failure stay (each complete);
        the one in transfer leaves nothing (a cancellation is heard during it too).
        """
        dest = Path(dest)
        check_cancel(cancel)
        with self._errors("query"), self._capped_answers():
            items = self._client().search_for_instances(
                study_uid, series_uid, fields=["InstanceNumber"])
        sop_uids = wire.instance_uids(self._checked_datasets(items))
        total = len(sop_uids)
        result = RetrieveResult()
        if not total:
            result.warnings.append("The server lists no images in this series.")
            return result
        report(progress, 0, total)
        missing = 0
        for done, sop_uid in enumerate(sop_uids, start=1):
            check_cancel(cancel)
            path = self._retrieve_instance(study_uid, series_uid, sop_uid, dest, cancel)
            if path is None:
                missing += 1
            else:
                result.files.append(path)
            report(progress, done, total)
        if missing:
            result.warnings.append(f"{missing} of {total} images listed by the server could not "
                                   "be retrieved (no longer there).")
        log.debug("retrieved %d of %d instances", len(result.files), total)
        return result

    def store(
        self,
        files: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> int:
        """STOW-RS in batches (at most 20 files or about 50 MB a request).

        Returns how many the server stored; raises :class:`PacsRefused` (after sending
        every batch) when it refused some, saying how many and why."""
        files = [Path(f) for f in files]
        total = len(files)
        accepted = 0
        reasons: dict[str, int] = {}
        done = 0
        report(progress, 0, total)
        for batch in _batches(files):
            check_cancel(cancel)
            n_ok, why = self._store_batch([_part10_bytes(p) for p in batch])
            accepted += n_ok
            for reason in why:
                reasons[reason] = reasons.get(reason, 0) + 1
            done += len(batch)
            report(progress, done, total)
        log.debug("stored %d of %d files", accepted, total)
        if accepted < total:
            listed = ", ".join(f"{r} ({n})" for r, n in reasons.items())
            raise PacsRefused(f"{self._who()} refused {total - accepted} of {total} files "
                              f"({accepted} stored): {listed}.")
        return accepted

    def close(self) -> None:
        """Release the HTTP connections."""
        self._web = None
        self._session.close()

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------
    def _client(self) -> Any:
        """The ``dicomweb-client`` client on our session (no retries: a person waits)."""
        if self._web is None:
            from dicomweb_client.api import DICOMwebClient

            try:
                self._web = DICOMwebClient(self._root, session=self._session,
                                           timeout=self._timeout, permissive_uid=True)
            except ValueError:
                raise ProfileError(f"Server {self.profile.name!r}: the address "
                                   f"{self._address} is not a valid URL.") from None
            # Its default retries every failure 5 times with waits of up to 8 s.
            self._web.set_http_retry_params(retry=False)
        return self._web

    @contextlib.contextmanager
    def _capped_answers(self) -> Iterator[None]:
        """While a ``dicomweb-client`` search runs: each answer's body is counted as
        ``requests`` reads it (the response hook runs before the body is read), and one
        past :data:`~interval.net.dicomweb_limits.MAX_SEARCH_ANSWER_BYTES` is refused."""
        cap = limits.MAX_SEARCH_ANSWER_BYTES
        too_large = PacsRefused(f"{self._who()} sent a search answer larger than "
                                f"{limits.format_size(cap)}; narrow the search.")

        def hook(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
            announced = limits.announced_length(response.headers)
            if announced is not None and announced > cap:
                response.close()
                raise too_large
            raw_stream = response.raw.stream

            def capped(*args: Any, **kwargs: Any) -> Iterator[bytes]:
                received = 0
                for chunk in raw_stream(*args, **kwargs):
                    received += len(chunk)
                    if received > cap:
                        response.close()
                        raise too_large
                    yield chunk

            response.raw.stream = capped

        hooks = self._session.hooks.setdefault("response", [])
        hooks.append(hook)
        try:
            yield
        finally:
            hooks.remove(hook)

    def _get_json(self, route: str, action: str) -> list:
        """The data sets of a QIDO-RS answer, streamed and held up to
        :data:`~interval.net.dicomweb_limits.MAX_SEARCH_ANSWER_BYTES`."""
        with self._errors(action):
            response = self._session.get(self._root + route, timeout=self._timeout,
                                         stream=True, headers={"Accept": _ACCEPT_JSON})
            with response:
                self._check(response, action)
                cap = limits.MAX_SEARCH_ANSWER_BYTES
                try:
                    body = limits.read_capped(response.iter_content(chunk_size=_CHUNK), cap,
                                              limits.announced_length(response.headers))
                except limits.TooLarge:
                    raise PacsRefused(f"{self._who()} sent a search answer larger than "
                                      f"{limits.format_size(cap)}; narrow the search.") from None
            payload = json.loads(body) if body.strip() else []
        return self._checked_datasets(payload)

    def _checked_datasets(self, payload: Any) -> list:
        items = wire.dataset_list(payload)
        if items is None:
            raise PacsRefused(f"{self._who()} answered, but not as a DICOMweb server would: "
                              f"{_NOT_DICOMWEB}.")
        return items

    def _retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str,
                           dest: Path, cancel: CancelFn | None = None) -> Path | None:
        url = (f"{self._root}/studies/{quote(study_uid, safe='')}/series/"
               f"{quote(series_uid, safe='')}/instances/{quote(sop_uid, safe='')}")
        final = dest / instance_file_name(sop_uid)
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".interval-", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with self._errors("retrieve"):
                response = self._session.get(url, stream=True, timeout=self._timeout,
                                             headers={"Accept": self._accept_instance})
                if response.status_code == 406 and self._accept_instance == _ACCEPT_AS_STORED:
                    # The server cannot send "as stored": take its default transfer syntax.
                    response.close()
                    self._accept_instance = _ACCEPT_DEFAULT
                    response = self._session.get(url, stream=True, timeout=self._timeout,
                                                 headers={"Accept": self._accept_instance})
                with response:
                    if response.status_code in (404, 410):
                        return None
                    self._check(response, "retrieve")
                    with os.fdopen(fd, "wb") as out, self._bounded():
                        fd = -1
                        part_headers = _write_body(response, out, dest, cancel)
            if not wire.has_file_meta(tmp):
                with self._bounded():  # the fixed copy is a second file of the same size
                    limits.check_disk(dest, tmp.stat().st_size)
                _, params = wire.media_type_params(wire.part_header(part_headers, "Content-Type")
                                                   or "application/dicom")
                fixed = tmp.with_suffix(".meta")
                try:
                    wire.add_file_meta(tmp, fixed, params.get("transfer-syntax", ""))
                except Exception:
                    fixed.unlink(missing_ok=True)
                    raise PacsRefused(f"{self._who()} sent an image that is not DICOM.") from None
                os.replace(fixed, tmp)
            os.replace(tmp, final)
            return final
        finally:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)

    def _store_batch(self, parts: list[bytes]) -> tuple[int, list[str]]:
        """Send one batch; returns how many were stored and a reason per refused file."""
        body, content_type = wire.multipart_body(parts)
        with self._errors("store"):
            response = self._session.post(
                f"{self._root}/studies", data=body, timeout=self._timeout,
                headers={"Content-Type": content_type, "Accept": _ACCEPT_JSON})
            status = response.status_code
            if status not in (200, 202, 204, 400, 409):
                self._check(response, "store")
            try:
                answer = wire.store_answer(response.json()) if response.content.strip() else None
            except ValueError:
                answer = None
        n = len(parts)
        if answer is not None and (answer.accepted is not None or answer.reasons):
            if answer.accepted is not None:
                accepted = min(answer.accepted, n)
            else:  # only the failures listed
                accepted = max(0, n - len(answer.reasons)) if status in (200, 202) else 0
            reasons = answer.reasons[:n - accepted]
            reasons += [f"no reason given (HTTP {status})"] * (n - accepted - len(reasons))
            return accepted, reasons
        if status in (200, 202, 204):
            return n, []
        self._check(response, "store")  # a refusal without a DICOM answer
        raise PacsRefused(f"{self._who()} did not store the files (HTTP {status}).")

    # -- errors -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _bounded(self) -> Iterator[None]:
        """Turn the bounds of :mod:`~interval.net.dicomweb_limits` into sentences."""
        try:
            yield
        except limits.TooLarge:
            cap = limits.format_size(limits.MAX_INSTANCE_BYTES)
            raise TransferInterrupted(f"{self._who()} sent an image larger than {cap}: the "
                                      "transfer was stopped and nothing partial was kept."
                                      ) from None
        except limits.DiskAlmostFull as full:
            need = (f"; this image needs {limits.format_size(full.needed)} more"
                    if full.needed else "")
            reserve = limits.format_size(limits.DISK_RESERVE_BYTES)
            raise TransferInterrupted(
                "The disk holding the PACS cache is almost full: "
                f"{limits.format_size(full.free)} free{need}, and Interval keeps {reserve} "
                "free. Nothing partial was kept: free some space and try again.") from None

    def _who(self, capital: bool = True) -> str:
        """The server, named for a person: ``The PACS 'name' (address)``."""
        return f"{'The' if capital else 'the'} PACS '{self.profile.name}' ({self._address})"

    def _check(self, response: requests.Response, action: str) -> None:
        """Raise the error a person understands for an HTTP failure status."""
        status = response.status_code
        if status < 400:
            return
        who = self._who()
        reason = f"HTTP {status} {response.reason or ''}".strip()
        if status == 401:
            if self.profile.auth == "basic":
                raise AuthenticationFailed(f"{who} refused the user name "
                                           f"'{self.profile.username}' or its password.")
            if self.profile.auth == "token":
                raise AuthenticationFailed(f"{who} refused the access token "
                                           "(it may have expired).")
            raise AuthenticationFailed(f"{who} asks for a login: set a user name and password "
                                       "or a token in the server settings.")
        if status == 403:
            raise AuthenticationFailed(f"{who} refused access ({reason}): this account may "
                                       "not be allowed to do this.")
        if status in (404, 405) and action in ("echo", "query", "store"):
            raise PacsRefused(f"{who} answered 'not found' ({reason}): {_NOT_DICOMWEB}.")
        if status == 400 and action == "echo":  # the simplest search there is
            raise PacsRefused(f"{who} refused the simplest search ({reason}): {_NOT_DICOMWEB}.")
        if status == 400 and action == "query":
            raise PacsRefused(f"{who} refused the search ({reason}): it may not support one "
                              f"of its criteria, or {_NOT_DICOMWEB}.")
        if status == 413:
            raise PacsRefused(f"{who} refused files too large for one request ({reason}).")
        if status >= 500:
            raise PacsRefused(f"{who} failed with an internal error ({reason}).")
        raise PacsRefused(f"{who} refused the request ({reason}).")

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn what ``requests`` raises into a :class:`PacsError` sentence.

        ``from None``: the original exception text holds the request URL, whose query
        holds patient names and IDs."""
        who = self._who()
        limit = f"{self._timeout[1]:g} s"
        try:
            yield
        except (PacsError, UnreadableFile):
            raise
        except requests.exceptions.ConnectTimeout:
            log.debug("%s: connect timeout", action)
            raise PacsTimeout(f"{who} did not accept a connection within {limit}: is it "
                              "running and is the address right?") from None
        except requests.exceptions.Timeout:
            log.debug("%s: read timeout", action)
            raise PacsTimeout(f"{who} stopped answering (nothing within {limit}). Try again, "
                              "or allow more time in the server settings.") from None
        except requests.exceptions.SSLError as exc:
            log.debug("%s: TLS failure", action)
            raise tls.tls_failure(who, self.profile, exc) from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError, wire.Truncated) as exc:
            log.debug("%s: transfer cut (%s)", action, type(exc).__name__)
            raise self._interrupted(action) from None
        except requests.exceptions.ConnectionError as exc:
            log.debug("%s: connection error (%s)", action, type(exc).__name__)
            cause = exc.args[0] if exc.args else None
            if isinstance(cause, urllib3.exceptions.ReadTimeoutError):  # mid-body
                raise PacsTimeout(f"{who} stopped sending (nothing within {limit}).") from None
            if _never_connected(exc):
                raise ServerUnreachable(f"{who} does not answer: is it running and is the "
                                        "address right?") from None
            if action in ("retrieve", "store"):
                raise self._interrupted(action) from None
            raise ServerUnreachable(f"{who} closed the connection without answering.") from None
        except requests.exceptions.HTTPError as exc:  # raised inside dicomweb-client
            try:
                if exc.response is not None:
                    self._check(exc.response, action)
            except PacsError as err:
                raise err from None
            raise PacsRefused(f"{who} refused the request.") from None
        except requests.exceptions.InvalidURL:
            raise ProfileError(f"Server {self.profile.name!r}: the address "
                               f"{self._address} is not a valid URL.") from None
        except requests.exceptions.RequestException as exc:
            log.debug("%s: request failed (%s)", action, type(exc).__name__)
            raise PacsRefused(f"{who} could not be asked ({type(exc).__name__}).") from None
        except ValueError:  # JSON that does not parse: an HTML page, a proxy's message...
            raise PacsRefused(f"{who} answered, but not as a DICOMweb server would: "
                              f"{_NOT_DICOMWEB}.") from None

    def _interrupted(self, action: str) -> TransferInterrupted:
        server = self._who(capital=False)
        if action == "store":
            return TransferInterrupted(f"The connection to {server} was cut while sending: "
                                       "some files may not have arrived. Send them again.")
        return TransferInterrupted(f"The connection to {server} was cut during the transfer; "
                                   "nothing partial was kept. Try again.")


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether the request failed before reaching the server (refused, unknown host...)."""
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, (urllib3.exceptions.NewConnectionError,
                               urllib3.exceptions.NameResolutionError,
                               urllib3.exceptions.ConnectTimeoutError))


def _write_body(response: requests.Response, out: BinaryIO, dest: Path,
                cancel: CancelFn | None = None) -> str:
    """The instance of a WADO-RS answer into ``out``; returns the part headers.

    At most :data:`~interval.net.dicomweb_limits.MAX_INSTANCE_BYTES` are read, while the
    disk of ``dest`` keeps its reserve; ``cancel`` is asked after every chunk received
    (:class:`~interval.core.errors.Cancelled`)."""
    received = _cancellable(response.iter_content(chunk_size=_INSTANCE_CHUNK), cancel)
    chunks = limits.bounded_chunks(received, dest, limits.announced_length(response.headers))
    media, params = wire.media_type_params(response.headers.get("Content-Type", ""))
    if media == "multipart/related" and params.get("boundary"):
        headers = wire.write_first_part(chunks, params["boundary"], out)
        epilogue = 0
        for chunk in chunks:  # the closing boundary: read it so the connection is reused
            epilogue += len(chunk)
            if epilogue > _MAX_EPILOGUE:  # more parts, or endless: the image is complete
                break
        return headers
    if media in ("application/dicom", "application/octet-stream"):
        # Not multipart (a known deviation of some servers): the body is the instance.
        expected = response.headers.get("Content-Length", "")
        written = 0
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
        if expected.isdigit() and int(expected) != written:
            raise wire.Truncated()
        return f"Content-Type: {response.headers.get('Content-Type', '')}"
    raise ValueError("not a DICOM answer")


def _cancellable(chunks: Iterator[bytes], cancel: CancelFn | None) -> Iterator[bytes]:
    """``chunks`` passed on, :func:`~interval.core.jobs.check_cancel` after each."""
    for chunk in chunks:
        check_cancel(cancel)
        yield chunk


def _batches(files: list[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in files:
        try:
            n = path.stat().st_size
        except OSError as exc:
            raise UnreadableFile("cannot be read", path=path) from exc
        if batch and (len(batch) >= STOW_MAX_FILES or size + n > STOW_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += n
    if batch:
        yield batch


def _part10_bytes(path: Path) -> bytes:
    """The file's bytes as they are when it is a Part-10 file; a bare data set gets its
    file meta first (STOW-RS takes Part-10 files only)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile("cannot be read", path=path) from exc
    if data[wire.PREAMBLE_LEN:wire.PREAMBLE_LEN + 4] == wire.DICM:
        return data
    with tempfile.TemporaryDirectory(prefix="interval-stow-") as tmp:
        fixed = Path(tmp) / "fixed.dcm"
        try:
            wire.add_file_meta(path, fixed)
            return fixed.read_bytes()
        except Exception as exc:
            raise UnreadableFile("not a DICOM file: it cannot be sent", path=path) from exc
