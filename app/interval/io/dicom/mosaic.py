"""Siemens mosaic images: one DICOM frame that tiles all slices of a volume.

Siemens EPI/DWI series store each volume as a grid of tiles in a single 2-D
image (ImageType contains ``MOSAIC``).  The number of tiles in use and the
slice direction are in the private CSA image header (0029,xx10):
``NumberOfImagesInMosaic`` and ``SliceNormalVector``.  The ImagePositionPatient
of a mosaic is the corner of the *whole* mosaic, so the origin of the first
tile is moved by half the difference of mosaic and tile sizes (the correction
dcm2niix and nibabel apply).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import pydicom

from interval.core.errors import UnreadableFile, UnsupportedData
from interval.io.dicom.records import DicomHeader, FrameInfo


@dataclass(frozen=True)
class MosaicInfo:
    """How a mosaic frame is laid out and where its slices lie."""

    n_images: int
    tiles_per_side: int
    tile_rows: int
    tile_cols: int
    slice_normal: tuple[float, float, float] | None  # CSA SliceNormalVector
    slice_spacing: float  # SpacingBetweenSlices, else SliceThickness


def is_mosaic(header: DicomHeader) -> bool:
    """Whether the file is a Siemens mosaic (ImageType contains MOSAIC)."""
    if not header.frames or header.number_of_frames != 1:
        return False
    parts = header.frames[0].image_type.upper().split("\\")
    return "MOSAIC" in (p.strip() for p in parts)


def read_mosaic_info(header: DicomHeader) -> MosaicInfo:
    """Read the CSA header of a mosaic file (opened read-only, no pixel data)."""
    try:
        ds = pydicom.dcmread(header.path, stop_before_pixels=True, force=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is an unreadable file
        raise UnreadableFile(f"could not read the mosaic header ({exc})", path=header.path) from exc
    csa = _csa_image_header(ds)
    n = _first_int(csa.get("NumberOfImagesInMosaic"))
    if not n:
        n = _private_int(ds, 0x0019, "SIEMENS MR HEADER", 0x0A)
    if not n or n < 1:
        raise UnsupportedData(
            "This Siemens mosaic image does not say how many slices it holds "
            "(NumberOfImagesInMosaic is missing).",
            path=header.path,
        )
    normal_vals = csa.get("SliceNormalVector") or []
    normal = None
    if len(normal_vals) >= 3:
        try:
            vec = tuple(float(v) for v in normal_vals[:3])
            if np.linalg.norm(vec) > 0.5:
                normal = vec
        except ValueError:
            normal = None
    m = math.ceil(math.sqrt(n))
    rows, cols = header.rows, header.columns
    if m == 0 or rows % m or cols % m:
        raise UnsupportedData(
            f"This mosaic of {rows}x{cols} pixels cannot hold {n} equal tiles.", path=header.path
        )
    spacing = _float(ds.get("SpacingBetweenSlices")) or header.frames[0].slice_thickness or 1.0
    return MosaicInfo(
        n_images=int(n),
        tiles_per_side=m,
        tile_rows=rows // m,
        tile_cols=cols // m,
        slice_normal=normal,
        slice_spacing=float(spacing),
    )


def demosaic(image: np.ndarray, info: MosaicInfo) -> np.ndarray:
    """Cut one mosaic ``(rows, cols)`` into ``(n_images, tile_rows, tile_cols)`` (row-major tiles)."""
    tr, tc, m = info.tile_rows, info.tile_cols, info.tiles_per_side
    tiles = image.reshape(m, tr, m, tc).swapaxes(1, 2).reshape(m * m, tr, tc)
    return np.ascontiguousarray(tiles[: info.n_images])


def mosaic_geometry(
    frame: FrameInfo, info: MosaicInfo, rows: int, cols: int
) -> tuple[tuple[float, float, float], np.ndarray, tuple[float, float, float]]:
    """``(origin, direction, spacing)`` of the de-mosaicked volume.

    The third direction is the cross product of the row and column cosines,
    with the sign of the CSA SliceNormalVector (the order of the tiles).
    """
    if frame.position is None or frame.orientation is None or frame.pixel_spacing is None:
        raise UnsupportedData("This mosaic image has no position or orientation in the patient.")
    o = np.asarray(frame.orientation, dtype=np.float64)
    row = o[:3] / np.linalg.norm(o[:3])
    col = o[3:] / np.linalg.norm(o[3:])
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    if info.slice_normal is not None and float(np.dot(normal, info.slice_normal)) < 0:
        normal = -normal
    row_spacing, col_spacing = frame.pixel_spacing
    shift_rows = (rows - info.tile_rows) / 2.0
    shift_cols = (cols - info.tile_cols) / 2.0
    origin = (
        np.asarray(frame.position, dtype=np.float64)
        + col * row_spacing * shift_rows
        + row * col_spacing * shift_cols
    )
    direction = np.column_stack([row, col, normal])
    spacing = (float(col_spacing), float(row_spacing), float(info.slice_spacing))
    return (float(origin[0]), float(origin[1]), float(origin[2])), direction, spacing


# --- CSA header -------------------------------------------------------------------


def _csa_image_header(ds: pydicom.Dataset) -> dict[str, list[str]]:
    try:
        block = ds.private_block(0x0029, "SIEMENS CSA HEADER")
        raw = block[0x10].value
    except (KeyError, ValueError):
        return {}
    if not isinstance(raw, bytes | bytearray):
        return {}
    try:
        return parse_csa(bytes(raw))
    except (struct.error, ValueError, UnicodeDecodeError):
        return {}


def parse_csa(raw: bytes) -> dict[str, list[str]]:
    """Parse a Siemens CSA header (both the "SV10" and the older layout) into name -> values."""
    if raw[:4] == b"SV10":
        (n_tags,) = struct.unpack_from("<I", raw, 8)
        ptr, csa2 = 16, True
    else:
        (n_tags,) = struct.unpack_from("<I", raw, 0)
        ptr, csa2 = 8, False
    if not 0 < n_tags <= 1000:
        raise ValueError("implausible CSA tag count")
    out: dict[str, list[str]] = {}
    first_n_items = None
    for tag_no in range(n_tags):
        name_b, vm, _vr, _dt, n_items, _x = struct.unpack_from("<64si4siii", raw, ptr)
        ptr += 84
        name = name_b.split(b"\x00", 1)[0].decode("latin-1")
        if first_n_items is None or tag_no == 1:
            first_n_items = n_items  # the old layout counts item lengths from this
        values: list[str] = []
        for item_no in range(n_items):
            x0, x1, _x2, _x3 = struct.unpack_from("<4i", raw, ptr)
            ptr += 16
            length = x1 if csa2 else x0 - first_n_items
            if length < 0 or ptr + length > len(raw):
                break
            if item_no < vm and length:
                values.append(raw[ptr : ptr + length].split(b"\x00", 1)[0].decode("latin-1").strip())
            ptr += length + (-length % 4)
        out[name] = values
    return out


def _first_int(values: list[str] | None) -> int | None:
    for v in values or []:
        try:
            return int(float(v))
        except ValueError:
            continue
    return None


def _private_int(ds: pydicom.Dataset, group: int, creator: str, offset: int) -> int | None:
    try:
        value = ds.private_block(group, creator)[offset].value
    except (KeyError, ValueError):
        return None
    if isinstance(value, bytes):
        if len(value) >= 4:
            return struct.unpack("<I", value[:4])[0]
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if f > 0 and math.isfinite(f) else None
