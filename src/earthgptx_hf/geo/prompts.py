"""Prompts of a scene, in map coordinates or in pixels, brought to the raster's pixel grid.

Accepted (`load_prompts`):
- a GeoJSON FeatureCollection, Feature or geometry (a dict, or a JSON string), in `crs` (default: a legacy `"crs"`
  member when the document has one, else EPSG:4326 as RFC 7946 says);
- a vector file of features (GeoJSON, GeoPackage, Shapefile, ...: anything pyogrio reads), in the file's CRS;
- a list of GeoJSON Features / geometries or shapely geometries (in `crs`), or of SPEC pixel prompt dicts
  (`{"type": "box", "bbox": [...]}`, as the processor takes them; these need no CRS).

Prompt types: Point -> point, Polygon -> polygon, LineString -> scribble (width: the feature's `width` property in
pixels, else `DEFAULT_SCRIBBLE_WIDTH`), and a feature whose `prompt_type` property is "box" -> the pixel box that
bounds it (its edges densified before the transform, so a box given in another CRS still bounds it exactly). Boxes given
as `[minx, miny, maxx, maxy]` in `crs` are `box_geometries`.

Coordinates are transformed exactly: pyproj from the prompt's CRS to the raster's (always x/y: longitude first), then
the inverse of the raster's affine transform to (column, row) floats. A prompt outside the scene is refused, naming
the feature; the parts of a prompt that lie outside are clipped away and counted (`PromptSet.clipped`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

from ..extras import require
from ..processing.rle import rle_to_mask
from ..processing.visual_prompts import PROMPT_TYPES
from .raster import Georeference, apply_transform
from .vectorise import mask_to_geometry

DEFAULT_CRS = "EPSG:4326"  # RFC 7946: GeoJSON coordinates are WGS 84 longitude, latitude
DEFAULT_SCRIBBLE_WIDTH = 3.0  # pixels
MAP_PROMPT_TYPES = ("point", "box", "polygon", "scribble")
_DENSIFY = 21  # points per box edge when a box changes CRS


@dataclass
class ScenePrompt:
    """One prompt of a scene. `index` is 1-based in input order; `name` is how errors and outputs name it (the
    feature's `id` or `name`, else `prompts[i]`); `pixel` is the prompt in the raster's pixel grid (x = column,
    y = row, floats), clipped to the scene; `source` the geometry as given and `crs` its CRS (None for pixel prompts)."""

    index: int
    name: str
    kind: str
    pixel: BaseGeometry
    source: BaseGeometry
    crs: CRS | None = None
    width: float = DEFAULT_SCRIBBLE_WIDTH
    properties: dict = field(default_factory=dict)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(min col, min row, max col, max row) in scene pixels."""
        return tuple(float(v) for v in self.pixel.bounds)

    def to_window(self, col_off: float, row_off: float, scale_x: float = 1.0, scale_y: float = 1.0) -> dict:
        """The SPEC pixel prompt dict of this prompt in a window whose top-left pixel is (`col_off`, `row_off`) and
        whose pixels are `scale_x` x `scale_y` scene pixels."""
        def local(geometry):
            return shapely.transform(geometry, lambda xy: (xy - [col_off, row_off]) / [scale_x, scale_y])

        geometry = local(self.pixel)
        if self.kind == "point":
            return {"type": "point", "point": [geometry.x, geometry.y]}
        if self.kind == "box":
            return {"type": "box", "bbox": list(geometry.bounds)}
        if self.kind == "polygon":
            return {"type": "polygon", "points": [list(p) for p in geometry.exterior.coords[:-1]]}
        return {"type": "scribble", "points": [list(p) for p in geometry.coords],
                "width": self.width / max(scale_x, scale_y)}


@dataclass
class PromptSet:
    """The prompts of a scene and what was done to them: `clipped` names the prompts partly outside the scene."""

    prompts: list[ScenePrompt]
    clipped: list[str] = field(default_factory=list)


def box_geometries(boxes, crs=DEFAULT_CRS) -> list[dict]:
    """`[[minx, miny, maxx, maxy], ...]` in `crs` -> GeoJSON Features with `prompt_type` "box" (for `load_prompts`)."""
    return [{"type": "Feature", "geometry": mapping(box(*map(float, b))), "properties": {"prompt_type": "box"}}
            for b in boxes]


def _crs(value, argument: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except Exception as error:  # pyproj raises CRSError, and TypeError for odd input
        raise ValueError(f"{argument}={value!r} is not a CRS pyproj knows ({error}); give e.g. 'EPSG:4326' or "
                         "'EPSG:32633'.") from None


def _features_from_file(path: str) -> tuple[list[dict], CRS | None]:
    pyogrio = require("pyogrio", extra="geo", purpose="Reading prompts from a vector file")
    try:
        meta, _, geometries, values = pyogrio.raw.read(path)
    except Exception as error:  # pyogrio's DataSourceError, DataLayerError, ...
        raise ValueError(f"prompts={path!r} could not be read as a vector file: {error}") from None
    names = list(meta["fields"])
    features = []
    for i, wkb in enumerate(geometries):
        properties = {name: _plain(values[k][i]) for k, name in enumerate(names)}
        geometry = mapping(shapely.from_wkb(wkb)) if wkb is not None else None
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return features, (CRS.from_user_input(meta["crs"]) if meta.get("crs") else None)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _as_items(prompts, argument: str) -> tuple[list, CRS | None]:
    """The prompt items of any accepted form, and the CRS the source itself declares (None when it declares none)."""
    if isinstance(prompts, os.PathLike) or (isinstance(prompts, str) and not prompts.lstrip().startswith("{")):
        path = os.fspath(prompts)
        if not os.path.isfile(path):
            raise ValueError(f"{argument}={path!r} is not a file (a GeoJSON or GeoPackage of prompt features).")
        return _features_from_file(path)
    if isinstance(prompts, str):
        try:
            prompts = json.loads(prompts)
        except json.JSONDecodeError as error:
            raise ValueError(f"{argument} is a string that is neither a file nor GeoJSON: {error}") from None
    declared = None
    if isinstance(prompts, Mapping):
        legacy = (prompts.get("crs") or {}).get("properties", {}).get("name")
        declared = _crs(legacy, f"{argument}['crs']") if legacy else None
        if prompts.get("type") == "FeatureCollection":
            return list(prompts.get("features") or []), declared
        return [prompts], declared
    if isinstance(prompts, BaseGeometry):
        return [prompts], None
    if isinstance(prompts, Sequence):
        return list(prompts), None
    raise TypeError(f"{argument} must be GeoJSON, a vector file path or a list of prompts, got "
                    f"{type(prompts).__name__}.")


def _name(item, index: int, argument: str) -> str:
    if isinstance(item, Mapping):
        properties = item.get("properties") or {}
        for key in ("name", "id"):
            if properties.get(key) not in (None, ""):
                return f"{argument}[{index}] ({key} {properties[key]!r})"
        if item.get("id") not in (None, ""):
            return f"{argument}[{index}] (id {item['id']!r})"
    return f"{argument}[{index}]"


def _pixel_geometry(prompt: dict, where: str) -> tuple[str, BaseGeometry, float]:
    """A SPEC pixel prompt dict -> (kind, geometry, scribble width)."""
    kind = prompt.get("type")
    try:
        if kind == "point":
            return "point", Point(*map(float, prompt["point"])), DEFAULT_SCRIBBLE_WIDTH
        if kind == "box":
            return "box", box(*map(float, prompt["bbox"])), DEFAULT_SCRIBBLE_WIDTH
        if kind == "polygon":
            return "polygon", Polygon([tuple(map(float, p)) for p in prompt["points"]]), DEFAULT_SCRIBBLE_WIDTH
        if kind == "scribble":
            return "scribble", LineString([tuple(map(float, p)) for p in prompt["points"]]), float(prompt["width"])
        if kind == "circle":  # a disc: its polygon (64 segments)
            return "polygon", Point(*map(float, prompt["center"])).buffer(float(prompt["radius"]), 16), \
                DEFAULT_SCRIBBLE_WIDTH
        if kind == "mask":  # its outline (the largest part): a polygon prompt
            mask = prompt["mask"]
            mask = rle_to_mask(mask) if isinstance(mask, Mapping) else np.asarray(mask, bool)
            outline = mask_to_geometry(mask, tolerance=0)
            if outline is None:
                raise ValueError("the mask is empty")
            parts = getattr(outline, "geoms", [outline])
            return "polygon", max(parts, key=lambda p: p.area), DEFAULT_SCRIBBLE_WIDTH
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where} is not a valid {kind!r} prompt dict: {error!r}.") from None
    raise ValueError(f"{where} has type {kind!r}; valid pixel prompt types: {list(PROMPT_TYPES)} (or GeoJSON "
                     "geometries).")


def _map_geometry(item, where: str) -> tuple[str, BaseGeometry, float, dict]:
    """A GeoJSON Feature / geometry or a shapely geometry -> (kind, geometry in its CRS, scribble width, properties)."""
    properties = {}
    if isinstance(item, Mapping):
        if item.get("type") == "Feature":
            properties = dict(item.get("properties") or {})
            item = item.get("geometry")
            if item is None:
                raise ValueError(f"{where} is a Feature without a geometry.")
        try:
            geometry = shape(item)
        except Exception as error:  # shapely's GeometryTypeError, KeyError, ...
            raise ValueError(f"{where} is not a GeoJSON geometry: {error!r}.") from None
    else:
        geometry = item
    kinds = {"Point": "point", "Polygon": "polygon", "LineString": "scribble"}
    if geometry.geom_type not in kinds:
        raise ValueError(f"{where} is a {geometry.geom_type}; a prompt is one Point, Polygon or LineString (split "
                         "multi-part geometries into one feature each).")
    if geometry.is_empty:
        raise ValueError(f"{where} is an empty {geometry.geom_type}.")
    kind = kinds[geometry.geom_type]
    given = properties.get("prompt_type")
    if given is not None:
        if given not in MAP_PROMPT_TYPES or (given != kind and (given != "box" or kind == "point")):
            raise ValueError(f"{where} has prompt_type={given!r} for a {geometry.geom_type}; valid: 'box' (any "
                             f"geometry: its bounding box) or the geometry's own type {kind!r}.")
        kind = given
    width = float(properties.get("width") or DEFAULT_SCRIBBLE_WIDTH)
    return kind, geometry, width, properties


def _to_pixels(geometry: BaseGeometry, kind: str, transformer: Transformer | None, inverse) -> BaseGeometry:
    """A geometry in the prompt's CRS -> the raster's pixel grid (a box: the pixel box that bounds the transformed,
    densified geometry)."""
    if kind == "box" and transformer is not None:
        geometry = shapely.segmentize(geometry.envelope, max(geometry.length / (4 * _DENSIFY), 1e-12)) \
            if geometry.length else geometry

    def project(xy: np.ndarray) -> np.ndarray:
        if transformer is not None:
            x, y = transformer.transform(xy[:, 0], xy[:, 1])
            xy = np.column_stack([x, y])
        col, row = apply_transform(inverse, xy[:, 0], xy[:, 1])
        return np.column_stack([col, row])

    pixel = shapely.transform(geometry, project)
    return box(*pixel.bounds) if kind == "box" else pixel


def load_prompts(prompts, georeference: Georeference, crs=None, argument: str = "prompts") -> PromptSet:
    """The prompts of a scene (any form of the module docstring) in its pixel grid.

    Args:
        georeference: the scene's (`RasterScene.georeference`).
        crs: the CRS of map prompts (default: the CRS the source declares, else EPSG:4326).

    Raises ValueError naming the prompt when it is outside the scene, not a supported geometry, or given in map
    coordinates while the scene has no CRS.
    """
    items, declared = _as_items(prompts, argument)
    prompt_crs = _crs(crs, "prompt_crs") if crs is not None else declared or CRS.from_user_input(DEFAULT_CRS)
    scene = box(0, 0, georeference.width, georeference.height)
    inverse = ~georeference.transform
    transformer = None
    out, clipped = [], []
    for i, item in enumerate(items):
        where = _name(item, i, argument)
        if isinstance(item, Mapping) and item.get("type") in PROMPT_TYPES:  # a pixel prompt dict
            kind, geometry, width = _pixel_geometry(item, where)
            properties, source_crs, pixel = {}, None, geometry
        else:
            kind, geometry, width, properties = _map_geometry(item, where)
            if georeference.crs is None:
                raise ValueError(f"{where} is a map geometry (in {prompt_crs.to_string()}), but the scene "
                                 f"{georeference.source!r} has no CRS: georeference the raster, or give the prompts "
                                 "in pixels (SPEC prompt dicts such as {'type': 'box', 'bbox': [x1, y1, x2, y2]}).")
            if transformer is None:
                raster_crs = CRS.from_user_input(georeference.crs)
                transformer = False if raster_crs == prompt_crs else \
                    Transformer.from_crs(prompt_crs, raster_crs, always_xy=True)
            source_crs = prompt_crs
            pixel = _to_pixels(geometry, kind, transformer or None, inverse)
        if not np.isfinite(np.asarray(pixel.bounds)).all():
            raise ValueError(f"{where} does not transform to the scene's CRS (its coordinates {geometry.bounds} are "
                             f"not valid in {prompt_crs.to_string()}).")
        if not (pixel.intersects(scene) if kind != "point" else scene.covers(pixel)):
            raise ValueError(
                f"{where} lies outside the scene {georeference.source!r}: its pixel bounds "
                f"{[round(v, 2) for v in pixel.bounds]} do not meet the {georeference.width}x{georeference.height} "
                f"raster" + (f" (prompt bounds {[round(v, 6) for v in geometry.bounds]} in "
                             f"{prompt_crs.to_string()})." if source_crs is not None else "."))
        if kind != "point" and not scene.covers(pixel):
            pixel = _clip(pixel, scene, kind)
            clipped.append(where)
        out.append(ScenePrompt(i + 1, where, kind, pixel, geometry, source_crs, width, properties))
    return PromptSet(out, clipped)


def _clip(pixel: BaseGeometry, scene: Polygon, kind: str) -> BaseGeometry:
    """The part of a prompt inside the scene (the largest part when clipping splits it)."""
    inside = pixel.intersection(scene)
    if kind == "box":
        return box(*inside.bounds)
    parts = getattr(inside, "geoms", [inside])
    wanted = Polygon if kind == "polygon" else LineString
    parts = [p for p in parts if isinstance(p, wanted)] or [box(*inside.bounds)]
    return max(parts, key=lambda p: p.area if kind == "polygon" else p.length)


def prompt_size(prompt: ScenePrompt) -> float:
    """The longer side of a prompt's pixel extent (0 for a point)."""
    x1, y1, x2, y2 = prompt.extent
    return max(x2 - x1, y2 - y1, 0.0) if math.isfinite(x2 - x1) else 0.0


__all__ = ["ScenePrompt", "PromptSet", "load_prompts", "box_geometries", "prompt_size", "DEFAULT_CRS",
           "DEFAULT_SCRIBBLE_WIDTH", "MAP_PROMPT_TYPES"]
