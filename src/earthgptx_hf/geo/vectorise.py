"""Masks as polygons on the map: `rasterio.features.shapes` traces the mask's pixel edges, shapely merges and
simplifies them (tolerance in pixels), and the window's affine transform puts them on the map."""

from __future__ import annotations

import numpy as np
import shapely
from rasterio.features import shapes
from rasterio.transform import Affine
from shapely.affinity import affine_transform
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

DEFAULT_TOLERANCE = 1.0  # pixels: Douglas-Peucker simplification of the traced outline


def mask_to_geometry(mask: np.ndarray, transform: Affine = Affine.identity(),
                     tolerance: float = DEFAULT_TOLERANCE) -> BaseGeometry | None:
    """The set pixels of a bool `(H, W)` mask as one (Multi)Polygon in the coordinates `transform` maps pixel corners
    to (the identity: pixels), simplified with `tolerance` pixels (0: the exact pixel outline). None for an empty
    mask."""
    if tolerance < 0:
        raise ValueError(f"tolerance={tolerance!r} must be at least 0 (pixels of simplification).")
    mask = np.asarray(mask, bool)
    if not mask.any():
        return None
    parts = [shape(geometry) for geometry, _ in shapes(mask.astype(np.uint8), mask=mask, connectivity=8)]
    geometry = shapely.union_all(parts)
    if tolerance:
        geometry = geometry.simplify(tolerance, preserve_topology=True)
    return transform_geometry(geometry, transform)


def transform_geometry(geometry: BaseGeometry, transform: Affine) -> BaseGeometry:
    """`geometry` through the affine `transform` (e.g. a raster's pixel grid -> its CRS)."""
    t = transform  # shapely's matrix order: [a, b, d, e, xoff, yoff]
    return affine_transform(geometry, [t.a, t.b, t.d, t.e, t.xoff, t.yoff])


__all__ = ["mask_to_geometry", "transform_geometry", "DEFAULT_TOLERANCE"]
