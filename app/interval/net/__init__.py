"""The net layer: query, retrieve and send studies to a PACS (DICOMweb and DIMSE).

The pieces, one job each:

* :mod:`~interval.net.model`: server profiles, queries, hits and the
  :class:`~interval.net.model.PacsClient` protocol every backend implements;
* :mod:`~interval.net.errors`: the errors a person sees (server down, wrong AE
  title, authentication, timeout, cut transfer...);
* :mod:`~interval.net.dicomweb` (QIDO-RS, WADO-RS, STOW-RS; the wire format in
  ``dicomweb_wire``) and :mod:`~interval.net.dimse` (C-ECHO, C-FIND, C-GET, C-MOVE,
  C-STORE with ``pynetdicom``; its parts in ``dimse_*``);
* :mod:`~interval.net.tls`: certificates (a hospital CA file, client certificates,
  the opt-in unverified mode) for https and DIMSE over TLS;
* :mod:`~interval.net.connect`: a client for a profile;
* :mod:`~interval.net.profiles` and :mod:`~interval.net.credentials`: profiles in
  the settings folder, secrets only in the platform keyring;
* :mod:`~interval.net.cache`: the size-limited local cache that never keeps a
  partial series;
* :mod:`~interval.net.query_form`, :mod:`~interval.net.priors`,
  :mod:`~interval.net.results`: what the viewer's dialogs need (search fields, a
  patient's other studies, the result files to send back).

No Qt here: the viewer's dialog and the ``interval pacs`` command are views over it.
"""
