"""Longitudinal lesion tracking: timeline, registration, lesions, matching, RECIST, reports.

Plain Python (no Qt): the CLI (``interval track``, ``interval demo``), the viewer and the
tests call the same functions.  The shared data types are in :mod:`.model`.
"""
