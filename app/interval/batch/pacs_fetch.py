"""A PACS case's studies, fetched into a local cache, become folders like any other case's.

The manifest names a server profile (``interval pacs``) and Study Instance UIDs; the
worker running the case opens the profile's client (its secret from the keyring of the
machine it runs on) and fetches each study with the series cache
(:class:`interval.net.cache.SeriesCache`), which never keeps a partial series: a
study fetched by an earlier run (or another case) is not fetched again.  The cache is
never trimmed while a batch runs (a study another case fetched later must not push out
one still to be read); remove ``OUT/pacs_cache`` when the cohort is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from interval.core.errors import IntervalError
from interval.core.jobs import CancelFn, ProgressFn

NO_TRIM_BYTES = 2**62


def fetch_studies(server: str, study_uids: Sequence[str], cache_root: str | Path, *,
                  progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> list[Path]:
    """The local folders holding each study of ``study_uids`` from the profile ``server``.

    Raises :class:`IntervalError` (a :class:`~interval.net.errors.PacsError` for the
    server's problems) with a sentence naming what went wrong.
    """
    try:  # the PACS modules are optional pieces of the installation
        from interval.net.cache import SeriesCache
        from interval.net.connect import open_client
        from interval.net.profiles import find_profile, load_profiles
    except ImportError as exc:
        raise IntervalError(f"this installation cannot fetch studies from a PACS (the module "
                            f"{exc.name} is missing)") from None
    profile = find_profile(server, load_profiles())  # a ProfileError names the saved ones
    client = open_client(profile)
    try:
        cache = SeriesCache(Path(cache_root), max_bytes=NO_TRIM_BYTES)
        return [Path(cache.fetch_study(client, uid, series_uids=None, progress=progress,
                                       cancel=cancel))
                for uid in study_uids]
    finally:
        client.close()
