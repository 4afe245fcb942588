"""Load highdicom and the DICOM standard's tables it reads on first use.

Imported at the start of the DICOM writer's process (:mod:`.dicom_export`, as a model
process's ``preload``), so that the half second they take passes while the pipeline
still forecasts, not while the reports wait.  Importing it anywhere else costs that
half second and about 100 MB for nothing.
"""

from __future__ import annotations

import highdicom  # noqa: F401 - the import is the point

import interval.longitudinal.dicom_sr  # noqa: F401 - Interval's writers and their imports
import interval.longitudinal.report_seg  # noqa: F401

try:
    from highdicom._standard_utils import get_module_attribute_map

    get_module_attribute_map()  # cached by highdicom: the 22 MB JSON table, parsed once
except Exception:  # noqa: BLE001 - a private helper: only a head start if it changes
    pass
