"""What every geo module shares about coordinates: a CRS as the user gives it (`parse_crs`), an affine transform
applied to coordinate arrays (`apply_transform`), and `PixelGrid`, what a module reads of a raster's georeference.

A leaf: it imports no other module of the package. `prompts`, `features`, `labels`, `stitching`, `scene_sources`,
`mosaic` and `training_data` take these from here, not from `raster`, so `raster` (whose `Georeference` is a
`PixelGrid`, and whose `Georeference.features` is built on `features`) imports `features` without closing a cycle.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from pyproj import CRS
from rasterio.transform import Affine


class PixelGrid(Protocol):
    """A raster's pixel grid on the map, as `raster.Georeference` holds it: its CRS (None when the file has none), the
    affine pixel -> map `transform` (of pixel corners), its size and the source's file name."""

    crs: object
    transform: Affine
    width: int
    height: int
    source: str


def apply_transform(transform: Affine, x, y) -> tuple[np.ndarray, np.ndarray]:
    """`transform` applied to coordinates `x`, `y` (arrays): rasterio's `transform @ (x, y)` (the product
    `rasterio.transform.xy` and `rasterio.windows.bounds` take of pixel corners), `(a x + b y + c, d x + e y + f)`
    element-wise, in float64."""
    return transform @ (np.asarray(x, float), np.asarray(y, float))


def parse_crs(value, argument: str) -> CRS:
    """`value` (anything pyproj's `CRS.from_user_input` takes) as a CRS; ValueError naming `argument` otherwise."""
    try:
        return CRS.from_user_input(value)
    except Exception as error:  # pyproj raises CRSError, and TypeError for odd input
        raise ValueError(f"{argument}={value!r} is not a CRS pyproj knows ({error}); give e.g. 'EPSG:4326' or "
                         "'EPSG:32633'.") from None


__all__ = ["PixelGrid", "apply_transform", "parse_crs"]
