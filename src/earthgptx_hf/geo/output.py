"""Writing georeferenced answers: a GeoJSON file (RFC 7946) or a GeoPackage layer (through pyogrio, GDAL's vector
I/O), chosen by the file's suffix (`write_features`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import shape

from ..extras import require
from .features import OUTPUT_CRS, PROPERTIES

VECTOR_SUFFIXES = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}


def collection_crs(collection: dict) -> CRS:
    """The CRS of a FeatureCollection: its `crs` member, else EPSG:4326 (RFC 7946)."""
    name = (collection.get("crs") or {}).get("properties", {}).get("name")
    return CRS.from_user_input(name or OUTPUT_CRS)


def write_geojson(collection: dict, path) -> Path:
    """Writes a FeatureCollection as GeoJSON (UTF-8, full float precision)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def write_geopackage(collection: dict, path, layer: str = "earthgptx") -> Path:
    """Writes a FeatureCollection's features as a GeoPackage layer (the properties of `features.PROPERTIES` as
    columns, the collection's CRS)."""
    pyogrio = require("pyogrio", extra="geo", purpose="Writing a GeoPackage")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    features = collection["features"]
    geometry = np.array([shapely.to_wkb(shape(f["geometry"])) for f in features], dtype=object)
    columns = []
    for name in PROPERTIES:
        values = [f["properties"].get(name) for f in features]
        if name in ("region",):
            columns.append(np.array([-1 if v is None else int(v) for v in values], np.int64))  # -1: a tile
        elif name == "mask_score":
            columns.append(np.array([np.nan if v is None else float(v) for v in values], np.float64))
        else:
            columns.append(np.array([None if v is None else str(v) for v in values], dtype=object))
    pyogrio.raw.write(str(path), geometry, columns, list(PROPERTIES), layer=layer, driver="GPKG",
                      geometry_type="Unknown", crs=collection_crs(collection).to_wkt())
    return path


def write_features(collection: dict, path, layer: str = "earthgptx") -> Path:
    """Writes a FeatureCollection to `path`: `.geojson` / `.json` as GeoJSON, `.gpkg` as a GeoPackage layer."""
    suffix = Path(path).suffix.lower()
    if suffix not in VECTOR_SUFFIXES:
        raise ValueError(f"out={str(path)!r} has the suffix {suffix!r}; valid: {sorted(VECTOR_SUFFIXES)} (GeoJSON or "
                         "GeoPackage).")
    if VECTOR_SUFFIXES[suffix] == "GPKG":
        return write_geopackage(collection, path, layer)
    return write_geojson(collection, path)


__all__ = ["write_geojson", "write_geopackage", "write_features", "collection_crs", "VECTOR_SUFFIXES"]
