"""Inputs of the `geo` training-data tests (issue 35): small multi-band GeoTIFFs in different CRSs with planted
objects, and labelled polygons in a third CRS (a GeoPackage), all placed on pixel edges so that boxes are exact."""

from __future__ import annotations

import numpy as np
import pyogrio.raw
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import Affine
from shapely.geometry import Polygon, box

from earthgptx_hf.geo.coordinates import apply_transform

PIXEL = 10.0  # metres; 64-pixel windows are 640 m, so the origins below lie on 640 m validation blocks
SCENES = {  # name: (CRS, top-left corner)
    "a": ("EPSG:32633", (499_840.0, 4_600_320.0)),
    "b": ("EPSG:3035", (4_480_000.0, 2_048_000.0)),
    "c": ("EPSG:32633", (499_840.0 + 2560.0, 4_600_320.0)),
}
BANDS = ("blue", "green", "red", "nir")
# planted objects in scene pixels (col0, row0, col1, row1) and their classes
OBJECTS = {
    "a": [((8, 8, 24, 20), "ship"), ((80, 72, 100, 90), "tank"), ((56, 30, 72, 44), "ship")],  # the last one cut
    "b": [((10, 40, 30, 52), "tank"), ((70, 10, 86, 30), "ship")],
    "c": [((20, 20, 40, 36), "ship")],
}
BRIGHT = {"ship": 4000, "tank": 2500}


def transform_of(name: str) -> Affine:
    x, y = SCENES[name][1]
    return Affine(PIXEL, 0.0, x, 0.0, -PIXEL, y)


def write_scene(path, name: str, size: int = 128, dtype="uint16", nodata_rows: int = 0, crs="default",
                transform=None, **profile):
    """A 4-band scene (described blue, green, red, nir) with its objects painted bright in every band."""
    data = np.full((4, size, size), 300, dtype)
    for (c0, r0, c1, r1), category in OBJECTS[name]:
        data[:, r0:r1, c0:c1] = BRIGHT[category]
    if nodata_rows:
        data[:, :nodata_rows] = 0
    crs = SCENES[name][0] if crs == "default" else crs
    options = {"driver": "GTiff", "width": size, "height": size, "count": 4, "dtype": dtype,
               "transform": transform or transform_of(name), **({"crs": crs} if crs else {}),
               **({"nodata": 0} if nodata_rows else {}), **profile}
    with rasterio.open(path, "w", **options) as dataset:
        dataset.write(data)
        for i, band in enumerate(BANDS, start=1):
            dataset.set_band_description(i, band)
    return str(path)


def pixel_polygon(name: str, rect, crs: str = "EPSG:4326") -> Polygon:
    """A pixel rectangle of scene `name` as a polygon in `crs` (its corners transformed exactly)."""
    to = Transformer.from_crs(SCENES[name][0], crs, always_xy=True)
    t = transform_of(name)

    def project(xy):
        x, y = apply_transform(t, xy[:, 0], xy[:, 1])
        return np.column_stack(to.transform(x, y))

    return shapely.transform(box(*rect), project)


def write_labels(path, features: list[tuple], crs: str = "EPSG:4326", attribute: str = "class"):
    """A GeoPackage of (geometry in `crs`, class) features."""
    geometries = np.array([shapely.to_wkb(g) if g is not None else None for g, _ in features], dtype=object)
    fields = np.array([c for _, c in features], dtype=object)
    pyogrio.raw.write(str(path), geometries, [fields], [attribute], layer="labels", driver="GPKG",
                  geometry_type="Unknown", crs=crs)
    return str(path)


def planted_labels(path, scenes=("a", "b"), crs: str = "EPSG:4326", extra=()):
    features = [(pixel_polygon(n, rect, crs), c) for n in scenes for rect, c in OBJECTS[n]]
    return write_labels(path, features + list(extra), crs)
