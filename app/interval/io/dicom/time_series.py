"""3-D + time series (DCE, fMRI, multi-phase): the volumes of one series at the same positions.

The indexer splits a series whose slice positions repeat into one stack per volume
("#vol3", "#echo2-vol3"; :mod:`interval.io.dicom.grouping`).  These helpers find the
volumes a stack belongs to and their times, for the viewer's time axis
(:class:`~interval.core.time_axis.TimeAxis`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from interval.io.dicom.records import DicomIndex, ImageStack
from interval.io.dicom.time_frames import tm_ms

_VOLUME_SUFFIX = re.compile(r"^(?P<base>.*)vol(?P<n>\d+)$")


def volume_siblings(index: DicomIndex, stack_uid: str) -> list[ImageStack]:
    """The volumes of the 3-D + time series (DCE, fMRI, multi-phase) that stack ``stack_uid``
    belongs to, in volume order: the stacks of its series that the indexer split by repeated
    positions ("#vol3", "#echo2-vol3": the same uid but for the volume number) with the same
    image size and slice count.  ``[]`` when the stack is not one of several such volumes."""
    for _p, _st, series in index.iter_series():
        if not any(s.uid == stack_uid for s in series.stacks):
            continue
        stack = next(s for s in series.stacks if s.uid == stack_uid)
        key = _volume_key(stack)
        if key is None:
            return []
        found: list[tuple[int, ImageStack]] = []
        for other in series.stacks:
            other_key = _volume_key(other)
            if other_key is not None and other_key[0] == key[0] and _same_grid(other, stack):
                found.append((other_key[1], other))
        found.sort(key=lambda item: item[0])
        return [s for _n, s in found] if len(found) > 1 else []
    return []


def volume_times_ms(stacks: Sequence[ImageStack]) -> tuple[float, ...]:
    """Each volume's time (ms) from the first, from its earliest AcquisitionTime (else
    TriggerTime); ``()`` when a volume has none or all are equal."""
    for get in (lambda f: tm_ms(f.info.acquisition_time), lambda f: f.info.trigger_time):
        starts: list[float] = []
        for stack in stacks:
            values = [get(f) for f in stack.frames]
            if not values or any(v is None for v in values):
                break
            starts.append(float(min(values)))  # type: ignore[type-var]
        else:
            if len(set(starts)) > 1:
                return tuple(t - starts[0] for t in starts)
    return ()


def _volume_key(stack: ImageStack) -> tuple[str, int] | None:
    """(uid without the volume number, volume number) of a stack split off by volume."""
    _series, sep, suffix = stack.uid.partition("#")
    match = _VOLUME_SUFFIX.match(suffix) if sep else None
    if match is None:
        return None
    return (_series + "#" + match["base"], int(match["n"]))


def _same_grid(a: ImageStack, b: ImageStack) -> bool:
    return (a.rows, a.columns, a.n_frames) == (b.rows, b.columns, b.n_frames)
