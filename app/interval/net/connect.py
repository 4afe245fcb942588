"""A client for a server profile: the DICOMweb or the DIMSE backend."""

from __future__ import annotations

from interval.net.errors import ProfileError
from interval.net.model import PacsClient, ServerProfile


def open_client(profile: ServerProfile, secret: str | None = None) -> PacsClient:
    """The backend for ``profile``.  ``secret`` (password or token) defaults to the one in
    the platform keyring when the profile needs one."""
    if profile.auth != "none" and secret is None:
        from interval.net.credentials import get_secret

        secret = get_secret(profile)
    if profile.protocol == "dicomweb":
        from interval.net.dicomweb import DicomWebClient

        return DicomWebClient(profile, secret)
    if profile.protocol == "dimse":
        from interval.net.dimse import DimseClient

        return DimseClient(profile, secret)
    raise ProfileError(f"Server {profile.name!r}: unknown protocol {profile.protocol!r} "
                       "(expected dicomweb or dimse).")
