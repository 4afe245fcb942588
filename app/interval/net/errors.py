"""Errors of DICOM networking, each a sentence a clinician understands."""

from __future__ import annotations

from interval.core.errors import IntervalError


class PacsError(IntervalError):
    """Base class: something went wrong talking to a PACS."""


class ServerUnreachable(PacsError):
    """Nothing answers at the address (down, wrong host or port, no network)."""


class AssociationRejected(PacsError):
    """The PACS answered but refused us (wrong AE title, not allowed, no such service)."""


class AuthenticationFailed(PacsError):
    """The PACS refused the user name, password or token."""


class PacsTimeout(PacsError):
    """The PACS stopped answering within the time limit."""


class TransferInterrupted(PacsError):
    """A retrieval or a send stopped half-way; nothing partial was kept."""


class PacsRefused(PacsError):
    """The PACS answered with a failure status (query or store refused)."""


class ProfileError(PacsError):
    """A server profile is incomplete or invalid."""


class CertificateError(PacsError):
    """The secure (TLS) connection failed: the PACS's certificate is not trusted here, is
    for another name, or our client certificate was refused."""
