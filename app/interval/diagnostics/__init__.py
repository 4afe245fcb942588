"""Diagnostics: ``interval --self-test``, a quick end-to-end check of an installation.

:func:`~interval.diagnostics.self_test.run_self_test` generates a small synthetic
patient and a test-pattern series as real DICOM in a temporary folder, then indexes,
loads, renders, segments and tracks them, checking known values at each step
(:mod:`.data_steps`, :mod:`.render_step`, :mod:`.model_steps`).  It needs no network
and no display, and works in a frozen (PyInstaller) build.
"""

from interval.diagnostics.self_test import SelfTestRun, StepResult, run_self_test

__all__ = ["SelfTestRun", "StepResult", "run_self_test"]
