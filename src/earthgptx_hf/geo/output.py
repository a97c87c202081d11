"""Writing georeferenced answers: a GeoJSON file (RFC 7946) or a GeoPackage layer (through pyogrio, GDAL's vector
I/O), chosen by the file's suffix (`write_features`), under the output rules of `earthgptx_hf.utils.output_paths` (never an
input, never an existing file without `overwrite`, written to a temporary file and renamed into place).

GeoPackage layer names: 1 to 63 characters, not starting with `gpkg_`, `rtree_` or `sqlite_` (names the GeoPackage
standard and SQLite reserve), without control characters."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import shape

from ..utils.extras import require
from ..utils.output_paths import atomic_output, check_output
from .features import INSTANCE_PROPERTIES, OUTPUT_CRS, PROPERTIES

VECTOR_SUFFIXES = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}
RESERVED_LAYER_PREFIXES = ("gpkg_", "rtree_", "sqlite_")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_layer(layer, argument: str = "layer") -> str:
    """A GeoPackage layer name (the module docstring's rule), or a ValueError naming it."""
    if not isinstance(layer, str) or not layer.strip() or len(layer) > 63 or _CONTROL.search(layer) \
            or layer.lower().startswith(RESERVED_LAYER_PREFIXES):
        raise ValueError(f"{argument}={layer!r} is not a valid GeoPackage layer name: 1 to 63 characters, without "
                         f"control characters, not starting with {list(RESERVED_LAYER_PREFIXES)} (reserved).")
    return layer


def collection_crs(collection: dict) -> CRS:
    """The CRS of a FeatureCollection: its `crs` member, else EPSG:4326 (RFC 7946)."""
    name = (collection.get("crs") or {}).get("properties", {}).get("name")
    return CRS.from_user_input(name or OUTPUT_CRS)


def write_geojson(collection: dict, path) -> Path:
    """Writes a FeatureCollection as GeoJSON (UTF-8, full float precision), through a temporary file."""
    path = Path(path)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def write_geopackage(collection: dict, path, layer: str = "earthgptx", columns=None) -> Path:
    """Writes a FeatureCollection's features as a GeoPackage layer (the properties named in `columns` as columns;
    default: `features.INSTANCE_PROPERTIES` for objects found by name, else `features.PROPERTIES`; the collection's
    CRS). A list (an object's `box`) is written as its JSON text."""
    pyogrio = require("pyogrio", extra="geo", purpose="Writing a GeoPackage")
    path, layer = Path(path), check_layer(layer)
    features = collection["features"]
    if columns is None:
        found = bool(features) and features[0]["properties"].get("task") == "find"
        columns = INSTANCE_PROPERTIES if found else PROPERTIES
    geometry = np.array([shapely.to_wkb(shape(f["geometry"])) for f in features], dtype=object)
    names, columns = list(columns), []
    for name in names:
        values = [f["properties"].get(name) for f in features]
        if name in ("region", "merged_from"):
            columns.append(np.array([-1 if v is None else int(v) for v in values], np.int64))  # -1: a tile
        elif name in ("mask_score", "score"):
            columns.append(np.array([np.nan if v is None else float(v) for v in values], np.float64))
        elif name == "box":
            columns.append(np.array([None if v is None else json.dumps(v) for v in values], dtype=object))
        else:
            columns.append(np.array([None if v is None else str(v) for v in values], dtype=object))
    with atomic_output(path) as temporary:
        pyogrio.raw.write(str(temporary), geometry, columns, names, layer=layer, driver="GPKG",
                          geometry_type="Unknown", crs=collection_crs(collection).to_wkt())
    return path


def write_features(collection: dict, path, layer: str = "earthgptx", *, overwrite: bool = False,
                   inputs: Mapping[str, object] | None = None, argument: str = "out") -> Path:
    """Writes a FeatureCollection to `path`: `.geojson` / `.json` as GeoJSON, `.gpkg` as a GeoPackage layer. `path` is
    checked first (`output_paths.check_output`: not one of `inputs`, not existing unless `overwrite`)."""
    path = check_output(path, argument, VECTOR_SUFFIXES, inputs, overwrite)
    if VECTOR_SUFFIXES[path.suffix.lower()] == "GPKG":
        return write_geopackage(collection, path, layer)
    return write_geojson(collection, path)


__all__ = ["write_geojson", "write_geopackage", "write_features", "collection_crs", "check_layer", "VECTOR_SUFFIXES"]
