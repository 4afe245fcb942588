"""Core data model: plain Python + numpy, no Qt, VTK, torch or pydicom."""

from interval.core.errors import (
    Cancelled,
    IntervalError,
    IrregularGeometry,
    NotAnImage,
    TooLarge,
    UnreadableFile,
    UnsupportedData,
)
from interval.core.labels import LabelInfo, LabelTable
from interval.core.metadata import VolumeMetadata, WindowLevel
from interval.core.volume import Volume

__all__ = [
    "Cancelled",
    "IntervalError",
    "IrregularGeometry",
    "LabelInfo",
    "LabelTable",
    "NotAnImage",
    "TooLarge",
    "UnreadableFile",
    "UnsupportedData",
    "Volume",
    "VolumeMetadata",
    "WindowLevel",
]
