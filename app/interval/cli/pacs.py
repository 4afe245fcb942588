"""``interval pacs servers|echo|find|get|send``: query, retrieve and send over DICOMweb or DIMSE.

Every command but ``servers`` talks to one server, named either as a saved profile
(``--server NAME``, see ``interval pacs servers add``) or ad hoc (``--dicomweb URL`` or
``--host H --port P --aet AE``).  A password or token is read from ``--password-stdin``,
else from the environment variable ``INTERVAL_PACS_SECRET``, else (saved servers) from
the platform keyring, else asked for when a person is at the terminal; it is never
printed, logged or written to the settings.  Secure connections: an https:// URL, or
``--tls`` for DIMSE; ``--ca-file`` names the hospital's CA certificates, ``--insecure``
skips the certificate check (warned at each use).  ``get`` retrieves into the local cache (a
series is kept only once complete) and copies into ``-o DIR`` when asked.  Ctrl-C
cancels (exit code 130; nothing half-written is kept); a server problem is one sentence
on stderr and exit code 1; bad arguments exit with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from interval.cli.plugins import printable
from interval.core.errors import IntervalError, UnreadableFile
from interval.net.errors import ProfileError
from interval.net.model import DEFAULT_CALLING_AE, ServerProfile, StudyQuery

EXIT_USAGE = 2
_ISO_OR_DICOM_DATE = r"\d{8}|\d{4}-\d{2}-\d{2}"
_DATE_RANGE = re.compile(rf"(?P<a>{_ISO_OR_DICOM_DATE})?(?P<sep>-)?(?P<b>{_ISO_OR_DICOM_DATE})?")
_DICM_OFFSET = 128


class _Usage(Exception):
    """Arguments that do not fit together (exit code 2, like argparse's own errors)."""


# -- parser ----------------------------------------------------------------------------------
def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``pacs`` subcommand and its own subcommands."""
    p = subparsers.add_parser(
        "pacs", parents=parents,
        help="query, retrieve and send studies over DICOMweb or DIMSE (a PACS)",
        description=(
            "Talk to a PACS: save server profiles (passwords go to the platform keyring, "
            "never into the settings), check that a server answers, search studies, "
            "retrieve a study into the local cache or a folder, send files. Name the server "
            "with --server NAME (a saved profile) or ad hoc with --dicomweb URL or --host H "
            "--port P --aet AE. A password or token comes from --password-stdin, the "
            "environment variable INTERVAL_PACS_SECRET (visible to other programs of the "
            "same user), the keyring (saved servers), or a prompt."
        ),
    )
    p.set_defaults(func=_needs_command(p))
    sub = p.add_subparsers(dest="pacs_command", metavar="ACTION")
    _add_servers(sub, parents)
    address = _address_options(with_server=True)

    echo = sub.add_parser("echo", parents=[*parents, address], help="check that a server answers",
                          description="Check that the server answers (C-ECHO for DIMSE, a "
                          "minimal search for DICOMweb) and how fast.")
    echo.set_defaults(func=_guarded(run_echo, echo))

    find = sub.add_parser("find", parents=[*parents, address], help="search studies",
                          description="Search the server's studies; print one line per study "
                          "(with --series, its series below it) or JSON.")
    find.add_argument("--patient-id", metavar="ID", default="")
    find.add_argument("--patient-name", metavar="NAME", default="",
                      help="family^given; * and ? match anything")
    find.add_argument("--date", metavar="FROM-TO", type=date_range, default=(None, None),
                      help="study date or range: YYYYMMDD or YYYY-MM-DD, e.g. "
                      "20240101-20240331, 2024-01-01- (from), --date=-2024-03-31 (until)")
    find.add_argument("--modality", metavar="MOD", default="", help="e.g. CT, MR, PT")
    find.add_argument("--accession", metavar="NUMBER", default="")
    find.add_argument("--study-uid", metavar="UID", default="")
    find.add_argument("--series", action="store_true", help="also list each study's series")
    find.add_argument("--limit", metavar="N", type=_positive_int, default=200,
                      help="at most N studies (default: 200)")
    find.add_argument("--json", action="store_true", help="print machine-readable JSON")
    find.set_defaults(func=_guarded(run_find, find))

    get = sub.add_parser("get", parents=[*parents, address],
                         help="retrieve a study (or some of its series)",
                         description="Retrieve a study into the local cache (only complete "
                         "series are kept) and print where its files are; with -o, copy the "
                         "series folders into DIR/<study UID>/<series UID>/.")
    get.add_argument("study_uid", metavar="STUDY_UID")
    get.add_argument("--series", metavar="UID", nargs="+", default=None,
                     help="only these series (default: all of the study)")
    get.add_argument("-o", "--output", metavar="DIR", default=None,
                     help="copy the retrieved series here (default: leave them in the cache)")
    get.add_argument("--cache-dir", metavar="DIR", default=None,
                     help="the cache folder (default: Interval's folder in the platform's "
                     "cache folder, or INTERVAL_PACS_CACHE_DIR)")
    get.set_defaults(func=_guarded(run_get, get))

    send = sub.add_parser("send", parents=[*parents, address], help="send DICOM files",
                          description="Send DICOM files (folders are searched recursively; "
                          "files that are not DICOM are skipped) and print how many the server "
                          "accepted; exit code 1 when it refused some.")
    send.add_argument("paths", metavar="FILE_OR_DIR", nargs="+")
    send.set_defaults(func=_guarded(run_send, send))


def _add_servers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    servers = sub.add_parser("servers", parents=parents, help="list, add or remove saved servers",
                             description="The saved PACS servers (passwords and tokens are kept "
                             "in the platform keyring, never in the settings file).")
    servers.set_defaults(func=_needs_command(servers))
    ssub = servers.add_subparsers(dest="servers_command", metavar="ACTION")
    listing = ssub.add_parser("list", parents=parents, help="list the saved servers")
    listing.add_argument("--json", action="store_true", help="print machine-readable JSON")
    listing.set_defaults(func=_guarded(run_servers_list, listing))
    add = ssub.add_parser("add", parents=[*parents, _address_options(with_server=False)],
                          help="save a server",
                          description="Save a server profile. With --auth token or basic the "
                          "password or token is asked for (or read with --password-stdin) and "
                          "stored in the platform keyring.")
    add.add_argument("--name", required=True, help="the profile's name")
    add.add_argument("--replace", action="store_true",
                     help="replace a saved server of the same name")
    add.set_defaults(func=_guarded(run_servers_add, add))
    remove = ssub.add_parser("remove", parents=parents,
                             help="remove a saved server (and its stored password)")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(func=_guarded(run_servers_remove, remove))


def _address_options(*, with_server: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("server")
    if with_server:
        g.add_argument("--server", metavar="NAME", default=None, help="a saved server profile")
    g.add_argument("--dicomweb", metavar="URL", default=None,
                   help="a DICOMweb server's root URL, e.g. http://pacs:8042/dicom-web")
    g.add_argument("--host", default=None, help="a DIMSE server's host name or address")
    g.add_argument("--port", type=_port, default=None, help="its port (default: 104)")
    g.add_argument("--aet", metavar="AE", type=_ae_title, default=None,
                   help="its AE title (the called AE)")
    g.add_argument("--calling-aet", metavar="AE", type=_ae_title, default=None,
                   help=f"our AE title (default: {DEFAULT_CALLING_AE})")
    g.add_argument("--auth", choices=("none", "token", "basic"), default=None,
                   help="sign-in: none, token or basic (user and password; implied by --user)")
    g.add_argument("--user", default=None, help="user name")
    g.add_argument("--password-stdin", action="store_true",
                   help="read the password or token from the first line of stdin")
    g.add_argument("--retrieve", choices=("get", "move"), default=None,
                   help="DIMSE retrieval: C-GET (default) or C-MOVE to --move-port")
    g.add_argument("--move-port", type=_port, default=None,
                   help="the port on which we receive C-MOVE images (the PACS must know our "
                   "AE title at this port)")
    g.add_argument("--timeout", metavar="SECONDS", type=_positive_float, default=None,
                   help="how long to wait for the server (default: 30)")
    g.add_argument("--tls", action="store_true", default=None,
                   help="DIMSE over TLS (DICOMweb: give an https:// URL instead)")
    g.add_argument("--ca-file", metavar="PEM", default=None,
                   help="the CA certificates to trust (e.g. the hospital's CA), instead of "
                   "the system's")
    g.add_argument("--client-cert", metavar="PEM", default=None,
                   help="this computer's certificate and unencrypted key, for servers that "
                   "ask for one")
    g.add_argument("--insecure", action="store_true", default=None,
                   help="do not check the server's certificate (unsafe; warned at each use)")
    return p


def _needs_command(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run


def _guarded(run: Callable[[argparse.Namespace], int],
             parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """``run`` with argument conflicts reported like argparse does (exit code 2)."""
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _Usage as exc:
            parser.print_usage(sys.stderr)
            sys.stderr.write(f"{parser.prog}: error: {exc}\n")
            return EXIT_USAGE
    return guarded


# -- argument types ----------------------------------------------------------------------------
def date_range(text: str) -> tuple[dt.date | None, dt.date | None]:
    """``FROM-TO`` (either end may be left open; one date alone is that day)."""
    m = _DATE_RANGE.fullmatch(text.strip())
    if m is None or not (m["a"] or m["b"]):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or a range like 20240101-20240331 or 2024-01-01-")
    start, end = _day(m["a"]), _day(m["b"])
    if not m["sep"]:
        end = start
    if start and end and start > end:
        raise argparse.ArgumentTypeError(f"{text!r}: the first date is after the second")
    return start, end


def _day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text.replace("-", ""), "%Y%m%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid date") from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 1 to 65535")
    return port


def _ae_title(text: str) -> str:
    from interval.net.profiles import is_valid_ae_title

    if not is_valid_ae_title(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an AE title (1 to 16 letters, digits, spaces or punctuation)")
    return text.strip()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


# -- the server of a command -----------------------------------------------------------------
def _auth_of(args: argparse.Namespace) -> str:
    if args.auth:
        return args.auth
    if args.user:
        return "basic"
    return "token" if args.password_stdin else "none"


def profile_from_args(args: argparse.Namespace, name: str | None = None) -> ServerProfile:
    """The ad hoc (or to-be-saved) profile the address options describe."""
    from interval.net.profiles import MAX_NAME_LEN, validate_profile

    if args.dicomweb and (args.host or args.port or args.aet):
        raise _Usage("give --dicomweb URL or --host/--port/--aet, not both")
    if not args.dicomweb and not args.host:
        if args.port or args.aet:
            raise _Usage("--port and --aet need --host")
        raise _Usage("which server? give --server NAME (see 'interval pacs servers list'), "
                     "--dicomweb URL, or --host H --port P --aet AE")
    values: dict[str, Any] = {"auth": _auth_of(args), "username": args.user or ""}
    if args.dicomweb:
        values.update(protocol="dicomweb", url=args.dicomweb)
    else:
        if not args.aet:
            raise _Usage("a DIMSE server needs its AE title: --aet AE")
        values.update(protocol="dimse", host=args.host, port=args.port or 104,
                      called_ae=args.aet)
    values.update(_option_changes(args))
    profile = ServerProfile(name="-", **values)
    if name is None:  # ad hoc: named after the host (DICOMweb) or the AE title (DIMSE)
        parts = urlsplit(profile.url) if profile.url else None
        name = (parts.netloc.rpartition("@")[2] if parts and parts.netloc
                else profile.called_ae or profile.address())[:MAX_NAME_LEN] or "PACS"
    try:
        return validate_profile(replace(profile, name=name))
    except ProfileError as exc:
        raise _Usage(str(exc)) from None


def _saved_profile(args: argparse.Namespace) -> ServerProfile:
    from interval.net.profiles import find_profile, load_profiles, validate_profile

    if args.dicomweb or args.host or args.port or args.aet:
        raise _Usage("give --server NAME or an address (--dicomweb, or --host/--port/--aet), "
                     "not both")
    profile = find_profile(args.server, load_profiles())
    changes: dict[str, Any] = {}
    if args.user:
        changes["username"] = args.user
    if args.auth or args.user:
        changes["auth"] = _auth_of(args)
    changes.update(_option_changes(args))
    try:
        return validate_profile(replace(profile, **changes)) if changes else profile
    except ProfileError as exc:
        raise _Usage(str(exc)) from None


def _option_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The profile fields the options set (calling AE title, retrieval, time limit, TLS)
    that a saved or an ad hoc server takes alike."""
    changes: dict[str, Any] = {}
    if args.calling_aet:
        changes["calling_ae"] = args.calling_aet
    if args.retrieve:
        changes["retrieve"] = args.retrieve
    if args.move_port:
        changes["move_port"] = args.move_port
    if args.timeout:
        changes["timeout_s"] = args.timeout
    changes.update(_tls_changes(args))
    return changes


def _tls_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The TLS settings the options give (only those given)."""
    changes: dict[str, Any] = {}
    if args.tls:
        changes["tls"] = True
    if args.ca_file:
        changes["ca_file"] = args.ca_file
    if args.client_cert:
        changes["client_cert"] = args.client_cert
    if args.insecure:
        changes["verify_tls"] = False
    return changes


def _read_stdin_secret() -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise ProfileError("--password-stdin: the first line of the input is empty.")
    return line


def _ask_secret(profile: ServerProfile) -> str | None:
    """A prompt for the secret when a person is at the terminal, else None."""
    try:
        interactive = sys.stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        return None
    what = "Token" if profile.auth == "token" else f"Password of {profile.username}"
    secret = getpass.getpass(f"{what} for {profile.name}: ")
    return secret or None


def secret_for(args: argparse.Namespace, profile: ServerProfile, *, saved: bool) -> str | None:
    """The password or token to use: stdin, the environment, the keyring, a prompt."""
    from interval.net.credentials import SECRET_ENV, get_secret

    if profile.auth == "none":
        return None
    if args.password_stdin:
        return _read_stdin_secret()
    if not saved:
        secret = os.environ.get(SECRET_ENV) or _ask_secret(profile)
        if secret is None:
            raise ProfileError(f"Server {profile.name!r} needs a password or token: give it "
                               f"with --password-stdin or in {SECRET_ENV}.")
        return secret
    try:
        secret = get_secret(profile)
    except ProfileError:
        secret = _ask_secret(profile)
        if secret is None:
            raise
    if secret is None:
        secret = _ask_secret(profile)
    if secret is None:
        raise ProfileError(f"No password or token is stored for server {profile.name!r}: "
                           "store it with 'interval pacs servers add --replace', or give it "
                           f"with --password-stdin or in {SECRET_ENV}.")
    return secret


def _connect(args: argparse.Namespace):
    from interval.net.connect import open_client

    if getattr(args, "server", None):
        profile = _saved_profile(args)
        secret = secret_for(args, profile, saved=True)
    else:
        profile = profile_from_args(args)
        secret = secret_for(args, profile, saved=False)
    return open_client(profile, secret)


def _label(profile: ServerProfile) -> str:
    """``name (address)`` for messages."""
    return f"{profile.name} ({profile.address()})"


# -- servers -----------------------------------------------------------------------------------
def run_servers_list(args: argparse.Namespace) -> int:
    """Print the saved profiles (no secrets)."""
    from interval.net.profiles import load_profiles, profile_to_dict, profiles_path

    profiles = load_profiles()
    if args.json:
        sys.stdout.write(json.dumps([profile_to_dict(p) for p in profiles], indent=1) + "\n")
        return 0
    if not profiles:
        sys.stdout.write(f"No PACS server saved yet ({profiles_path()}); add one with "
                         "'interval pacs servers add'.\n")
        return 0
    for p in profiles:
        sign_in = {"none": "no sign-in", "token": "token",
                   "basic": f"user {p.username}"}.get(p.auth, p.auth)
        extra = ""
        if p.protocol == "dimse":
            extra = f", as {p.calling_ae}, C-{p.retrieve.upper()}"
            if p.retrieve == "move":
                extra += f" to port {p.move_port}"
        extra += _tls_words(p)
        sys.stdout.write(f"{printable(p.name)}: {p.protocol} {printable(p.address())} "
                         f"({sign_in}{extra})\n")
    return 0


def _tls_words(p: ServerProfile) -> str:
    """``, TLS, CA file X, certificate NOT verified`` for the server list."""
    if not p.uses_tls():
        return ""
    words = ", TLS" if p.protocol == "dimse" else ""
    if p.ca_file:
        words += f", CA file {printable(p.ca_file)}"
    if p.client_cert:
        words += f", client certificate {printable(p.client_cert)}"
    if not p.verify_tls:
        words += ", certificate NOT verified (unsafe)"
    return words


def run_servers_add(args: argparse.Namespace) -> int:
    """Check and save a profile; its secret goes to the keyring."""
    from interval.net.credentials import SECRET_ENV, delete_secret, secret_key, set_secret
    from interval.net.profiles import (
        find_profile,
        load_profiles,
        save_profiles,
        with_profile,
    )

    profile = profile_from_args(args, name=args.name)
    profiles = load_profiles()
    try:
        new_list = with_profile(profiles, profile, replace_existing=args.replace)
    except ProfileError as exc:
        raise _Usage(str(exc)) from None
    try:
        old = find_profile(profile.name, profiles)
    except ProfileError:
        old = None
    secret = None
    if profile.auth != "none":
        secret = _read_stdin_secret() if args.password_stdin else _ask_secret(profile)
    if secret is not None:
        set_secret(profile, secret)
    path = save_profiles(new_list)
    if old is not None and old.auth != "none" and (
            profile.auth == "none" or secret_key(old) != secret_key(profile)):
        with contextlib.suppress(ProfileError):  # no keyring: nothing is stored there
            delete_secret(old)
    sys.stdout.write(f"Saved server {printable(profile.name)} ({printable(profile.address())}) "
                     f"in {path}.\n")
    if profile.auth != "none":
        if secret is not None:
            sys.stdout.write("Its password or token is in the platform keyring.\n")
        else:
            sys.stdout.write("No password or token was stored: give it with --password-stdin "
                             f"or in {SECRET_ENV} when you use this server.\n")
    return 0


def run_servers_remove(args: argparse.Namespace) -> int:
    """Forget a profile and its stored secret."""
    from interval.net.credentials import delete_secret
    from interval.net.profiles import (
        find_profile,
        load_profiles,
        save_profiles,
        without_profile,
    )

    profiles = load_profiles()
    gone = find_profile(args.name, profiles)
    save_profiles(without_profile(profiles, args.name))
    if gone.auth != "none":
        with contextlib.suppress(ProfileError):  # no keyring: nothing is stored there
            delete_secret(gone)
    sys.stdout.write(f"Removed server {printable(gone.name)}.\n")
    return 0


# -- echo, find --------------------------------------------------------------------------------
def run_echo(args: argparse.Namespace) -> int:
    """C-ECHO (or a minimal DICOMweb search): 0 when the server answers."""
    client = _connect(args)
    try:
        start = time.monotonic()
        client.echo()
        elapsed_ms = (time.monotonic() - start) * 1000
    finally:
        client.close()
    sys.stdout.write(f"{printable(_label(client.profile))} answers ({elapsed_ms:.0f} ms).\n")
    return 0


def query_from_args(args: argparse.Namespace) -> StudyQuery:
    """The study search the options describe (at least one criterion)."""
    start, end = args.date
    query = StudyQuery(
        patient_id=args.patient_id.strip(), patient_name=args.patient_name.strip(),
        date_from=start, date_to=end, modality=args.modality.strip().upper(),
        accession_number=args.accession.strip(), study_uid=args.study_uid.strip(),
        limit=args.limit,
    )
    if not any((query.patient_id, query.patient_name, start, end, query.modality,
                query.accession_number, query.study_uid)):
        raise _Usage("give at least one search criterion (--patient-id, --patient-name, --date, "
                     "--modality, --accession or --study-uid): an empty search would list the "
                     "whole PACS")
    return query


def run_find(args: argparse.Namespace) -> int:
    """Print the studies found (and their series with --series)."""
    from interval.net.query_form import sort_series

    query = query_from_args(args)
    client = _connect(args)
    try:
        studies = client.find_studies(query)
        series = {s.study_uid: sort_series(client.find_series(s.study_uid))
                  for s in studies} if args.series else {}
    finally:
        client.close()
    if args.json:
        data = []
        for study in studies:
            item = asdict(study)
            if args.series:
                item["series"] = [asdict(h) for h in series.get(study.study_uid, [])]
            data.append(item)
        sys.stdout.write(json.dumps({"server": client.profile.name, "studies": data},
                                    indent=1) + "\n")
        return 0
    sys.stdout.write(render_studies(studies, series))
    limited = " (the limit: narrow the search or raise --limit)" if \
        len(studies) >= query.limit else ""
    sys.stdout.write(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found"
                     f"{limited}.\n")
    return 0


def render_studies(studies: list, series: dict[str, list]) -> str:
    """Studies (and series) as plain-text lines, header text made printable."""
    from interval.net.query_form import series_row, study_row

    t = printable
    lines = []
    for hit in studies:
        row = study_row(hit)
        counts = ", ".join(x for x in (f"{row.series} series" if row.series else "",
                                       f"{row.images} images" if row.images else "") if x)
        lines.append("  ".join(x for x in (
            row.date or "(no date)", t(row.patient_id) or "(no ID)", t(row.patient) or "(no name)",
            t(row.modalities), t(row.description), f"[{counts}]" if counts else "",
            f"acc. {t(row.accession)}" if row.accession else "") if x))
        lines.append(f"    study UID {t(hit.study_uid)}")
        for s in series.get(hit.study_uid, []):
            srow = series_row(s)
            text = "  ".join(x for x in (
                f"#{srow.number}" if srow.number else "#?", t(srow.modality), t(srow.description),
                f"[{srow.images} images]" if srow.images else "") if x)
            lines.append(f"    - {text}  {t(s.series_uid)}")
    return "".join(line + "\n" for line in lines)


# -- get ---------------------------------------------------------------------------------------
def run_get(args: argparse.Namespace) -> int:
    """Retrieve into the cache (and copy into -o DIR); print where the files are."""
    from interval.cli.cancel import ctrl_c_cancels
    from interval.cli.progress import ProgressBar, progress_wanted
    from interval.net.cache import SeriesCache, check_uid

    study_uid = args.study_uid.strip()
    wanted = [s.strip() for s in args.series or []]
    for uid in (study_uid, *wanted):
        try:
            check_uid(uid)
        except IntervalError:
            raise _Usage(f"{uid!r} is not a DICOM UID (digits and dots, at most 64)") from None
    cache = SeriesCache(args.cache_dir)
    client = _connect(args)
    show = progress_wanted(bool(getattr(args, "progress", False)))
    try:
        with ProgressBar("Retrieving", enabled=show) as bar, ctrl_c_cancels() as cancel:
            study_folder = cache.fetch_study(client, study_uid, wanted or None, progress=bar,
                                             cancel=cancel)
    finally:
        client.close()
    series = wanted or sorted(e.series_uid for e in cache.entries() if e.study_uid == study_uid)
    folders = [cache.series_folder(study_uid, uid) for uid in series]
    n_files = sum(_count_files(f) for f in folders)
    where = study_folder
    if args.output:
        where = Path(args.output) / study_uid
        for folder in folders:
            copy_series(folder, where / folder.name)
    sys.stdout.write(f"Retrieved {len(folders)} series ({n_files} files) into:\n{where}\n")
    return 0


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file())


def copy_series(source: Path, target: Path) -> None:
    """Copy a complete series folder; a copy cut short leaves nothing half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".interval-partial-{uuid.uuid4().hex[:12]}"
    try:
        shutil.copytree(source, staging)
        if not target.exists():
            os.replace(staging, target)
            return
        for item in staging.iterdir():  # into an existing folder: file by file, each whole
            os.replace(item, target / item.name)
    except OSError as exc:
        raise IntervalError(f"The series could not be copied into {target.parent} "
                            f"({exc.strerror or type(exc).__name__}).") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- send --------------------------------------------------------------------------------------
def collect_dicom_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(DICOM Part-10 files, other files) under ``paths`` (folders searched recursively)."""
    found: list[Path] = []
    skipped: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            (found if _is_part10(path) else skipped).append(path)
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(filenames):
                    file = Path(dirpath) / name
                    ok = name.upper() != "DICOMDIR" and _is_part10(file)
                    (found if ok else skipped).append(file)
        else:
            raise UnreadableFile("not found", path=path)
    return list(dict.fromkeys(found)), skipped


def _is_part10(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(_DICM_OFFSET + 4)
    except OSError:
        return False
    return head[_DICM_OFFSET:] == b"DICM"


def run_send(args: argparse.Namespace) -> int:
    """Send the files; 0 when the server accepted them all."""
    from interval.cli.cancel import ctrl_c_cancels
    from interval.cli.progress import ProgressBar, progress_wanted

    files, skipped = collect_dicom_files(args.paths)
    if getattr(args, "verbose", False):
        for path in skipped:
            sys.stderr.write(f"skipped (not a DICOM file): {printable(path)}\n")
    if not files:
        raise IntervalError("No DICOM files were found to send.")
    client = _connect(args)
    show = progress_wanted(bool(getattr(args, "progress", False)))
    try:
        with ProgressBar("Sending", enabled=show) as bar, ctrl_c_cancels() as cancel:
            accepted = client.store(files, progress=bar, cancel=cancel)
    finally:
        client.close()
    note = f" ({len(skipped)} other files skipped)" if skipped else ""
    sys.stdout.write(f"Sent {len(files)} files to {printable(_label(client.profile))}: "
                     f"{accepted} accepted{note}.\n")
    if accepted < len(files):
        sys.stderr.write(f"interval: error: the server refused {len(files) - accepted} of "
                         f"{len(files)} files.\n")
        return 1
    return 0
