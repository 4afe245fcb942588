"""Misbehaving DIMSE peers for the DIMSE failure tests (each runs in threads of its own
and is stopped by the test): a socket that never answers and small pynetdicom SCPs."""

from __future__ import annotations

import threading

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

PEER_AE = "PEERSCP"


class PeerScp:
    """A pynetdicom SCP on a loopback port with the given handlers (``with`` runs it)."""

    def __init__(
        self, handlers: list[tuple], get: bool = False, move: bool = False, store: bool = False
    ) -> None:
        self.ae = AE(PEER_AE)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = 5
        if get:
            self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
            for cx in StoragePresentationContexts:  # the C-STOREs of the C-GET go back
                self.ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES,
                                              scp_role=True, scu_role=False)
        if move:
            self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
        if store:
            for cx in StoragePresentationContexts:
                self.ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.handlers = handlers
        self.server = None
        self.on_exit = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def __enter__(self) -> PeerScp:
        self.server = self.ae.start_server(("127.0.0.1", 0), block=False,
                                           evt_handlers=self.handlers)
        return self

    def __exit__(self, *exc) -> None:
        if self.on_exit is not None:
            self.on_exit()
        self.server.shutdown()
        for assoc in self.server.active_associations:
            assoc.abort()
            assoc.join(5)
        self.ae.shutdown()


def cutting_get_scp(datasets) -> PeerScp:
    """A C-GET SCP that sends the first of ``datasets`` and then aborts the association."""

    def handle_get(event):
        yield len(datasets)
        yield 0xFF00, datasets[0]
        event.assoc.abort()

    return PeerScp([(evt.EVT_C_GET, handle_get)], get=True)


def refusing_store_scp(status: int = 0xA700) -> PeerScp:
    """A storage SCP that answers every C-STORE with ``status``."""
    return PeerScp([(evt.EVT_C_STORE, lambda event: status)], store=True)


def unknown_destination_move_scp() -> PeerScp:
    """A C-MOVE SCP that knows no destination (pynetdicom answers 0xA801)."""

    def handle_move(event):
        yield None, None

    return PeerScp([(evt.EVT_C_MOVE, handle_move)], move=True)


def identity_checking_scp(user: str, password: str) -> PeerScp:
    """A verification SCP that accepts only ``user`` with ``password`` (user identity
    negotiation, PS3.7 D.3.3.7); others are rejected as pynetdicom does (2, 2, 1)."""

    def handle_user_id(event):
        ok = (event.user_id_type == 2 and event.primary_field == user.encode()
              and event.secondary_field == password.encode())
        return ok, None

    peer = PeerScp([(evt.EVT_USER_ID, handle_user_id)])
    peer.ae.add_supported_context(Verification)
    return peer


def silent_move_scp() -> PeerScp:
    """A C-MOVE SCP that accepts the association, then neither answers the C-MOVE nor
    sends anything (until the test ends)."""
    stop = threading.Event()

    def handle_move(event):
        stop.wait(10)
        yield None, None

    peer = PeerScp([(evt.EVT_C_MOVE, handle_move)], move=True)
    peer.on_exit = stop.set
    return peer
