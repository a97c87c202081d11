"""Prompts of a scene, in map coordinates or in pixels, brought to the raster's pixel grid.

Accepted (`load_prompts`):
- a GeoJSON FeatureCollection, Feature or geometry (a dict, or a JSON string), in `crs` (default: a legacy `"crs"`
  member when the document has one, else EPSG:4326 as RFC 7946 says);
- a vector file of features, in the file's CRS: GeoJSON (read as JSON, not through GDAL), or a GeoPackage or
  Shapefile (through pyogrio, recognised by their first bytes; other formats, such as an OGR VRT that names other
  files, are refused). A file with several layers needs `layer` (`--prompt-layer`): none is picked silently;
- a list of GeoJSON Features / geometries or shapely geometries (in `crs`), or of SPEC pixel prompt dicts
  (`{"type": "box", "bbox": [...]}`, as the processor takes them; these need no CRS).

Prompt types: Point -> point, Polygon -> polygon, LineString -> scribble (width: the feature's `width` property in
pixels, else `DEFAULT_SCRIBBLE_WIDTH`), and a feature whose `prompt_type` property is "box" -> the pixel box that
bounds it (its edges densified before the transform, so a box given in another CRS still bounds it exactly). Boxes given
as `[minx, miny, maxx, maxy]` in `crs` are `box_geometries`.

Coordinates are transformed exactly: pyproj from the prompt's CRS to the raster's (always x/y: longitude first), then
the inverse of the raster's affine transform to (column, row) floats. A prompt outside the scene is refused, naming
the feature; the parts of a prompt that lie outside are clipped away and counted (`PromptSet.clipped`).

Malformed input is refused naming the feature (`prompts[3] (id 'a')`), never the window it would fall in: a document
that is not a FeatureCollection, Feature, geometry or list; a legacy `crs` that is not `{"properties": {"name": ...}}`;
`features` that is not a list; a feature that is not an object, or whose `properties` are not an object; a
non-finite coordinate; more than `MAX_VERTICES` (10,000) vertices; a `width` that is not a positive number.
A self-intersecting polygon (a bow-tie) is kept as given inside the scene (the processor fills it by the even-odd
rule); when it must be clipped, its valid form (`shapely.make_valid`) is clipped.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.errors
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

from ..utils.extras import require
from ..models.earthgptx.visual_prompts import rle_to_mask
from ..models.earthgptx.visual_prompts import MAX_MAGNITUDE, MAX_VERTICES, PROMPT_TYPES
from .coordinates import PixelGrid, apply_transform, parse_crs
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


_SQLITE, _SHAPEFILE = b"SQLite format 3\x00", b"\x00\x00\x27\x0a"


def _features_from_file(path: str, layer: str | None, argument: str) -> tuple[list[dict], CRS | None]:
    """The features of a GeoPackage or Shapefile (`layer`: the one to read when it has several)."""
    with open(path, "rb") as file:
        head = file.read(16)
    if not head.startswith((_SQLITE, _SHAPEFILE)):
        raise ValueError(f"{argument}={path!r} is neither GeoJSON, a GeoPackage nor a Shapefile (by its first bytes "
                         f"{head[:8]!r}); prompts from a file are read only in those formats.")
    pyogrio = require("pyogrio", extra="geo", purpose="Reading prompts from a vector file")
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as error:  # pyogrio's DataSourceError, ...
        raise ValueError(f"{argument}={path!r} could not be read as a vector file: {error}") from None
    if layer is None and len(layers) > 1:
        raise ValueError(f"{argument}={path!r} has {len(layers)} layers {layers}: name the one to read with "
                         "prompt_layer= (--prompt-layer).")
    if layer is not None and layer not in layers:
        raise ValueError(f"prompt_layer={layer!r} is not a layer of {path!r}; its layers: {layers}.")
    try:
        meta, _, geometries, values = pyogrio.raw.read(path, layer=layer)
    except Exception as error:  # pyogrio's DataSourceError, DataLayerError, ...
        raise ValueError(f"{argument}={path!r} could not be read as a vector file: {error}") from None
    names = list(meta["fields"])
    features = []
    for i, wkb in enumerate(geometries):
        properties = {name: _plain(values[k][i]) for k, name in enumerate(names)}
        geometry = mapping(shapely.from_wkb(wkb)) if wkb is not None else None
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return features, (CRS.from_user_input(meta["crs"]) if meta.get("crs") else None)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _legacy_crs(document: Mapping, argument: str) -> CRS | None:
    """The CRS of a GeoJSON document's legacy `crs` member (`{"type": "name", "properties": {"name": ...}}`)."""
    legacy = document.get("crs")
    if legacy is None:
        return None
    name = legacy.get("properties") if isinstance(legacy, Mapping) else None
    name = name.get("name") if isinstance(name, Mapping) else None
    if not isinstance(name, str):
        raise ValueError(f"{argument}['crs'] is {legacy!r}; a legacy GeoJSON crs is "
                         "{'type': 'name', 'properties': {'name': 'EPSG:32633'}} (or leave it out: EPSG:4326).")
    return parse_crs(name, f"{argument}['crs']")


def _read_json(path: str, argument: str):
    try:
        with open(path, encoding="utf-8-sig") as file:  # a byte-order mark is not an error
            return json.load(file)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{argument}={path!r} is not valid GeoJSON: {error}") from None


def prompt_items(prompts, argument: str = "prompts", layer: str | None = None) -> tuple[list, CRS | None]:
    """The prompt items of any accepted form (the module docstring), not yet checked nor placed on a scene, and the
    CRS the source itself declares (None when it declares none): what `load_prompts` reads, and what
    `scene_sources.load_shared_prompts` reads once for many scenes."""
    if isinstance(prompts, os.PathLike) or (isinstance(prompts, str) and not prompts.lstrip().startswith(("{", "["))):
        path = os.fspath(prompts)
        if not os.path.isfile(path):
            raise ValueError(f"{argument}={path!r} is not a file (a GeoJSON or GeoPackage of prompt features).")
        with open(path, "rb") as file:
            is_json = file.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"["))
        if not is_json:
            return _features_from_file(path, layer, argument)
        prompts = _read_json(path, argument)
    elif isinstance(prompts, str):
        try:
            prompts = json.loads(prompts)
        except (json.JSONDecodeError, RecursionError) as error:
            raise ValueError(f"{argument} is a string that is neither a file nor GeoJSON: {error}") from None
    if isinstance(prompts, Mapping):
        declared = _legacy_crs(prompts, argument)
        if prompts.get("type") == "FeatureCollection":
            features = prompts.get("features")
            if features is None:
                features = []
            if not isinstance(features, list):
                raise ValueError(f"{argument}['features'] is a {type(features).__name__}; a FeatureCollection's "
                                 "features are a list of Feature objects.")
            return features, declared
        return [prompts], declared
    if isinstance(prompts, BaseGeometry):
        return [prompts], None
    if isinstance(prompts, Sequence) and not isinstance(prompts, (str, bytes)):
        return list(prompts), None
    raise TypeError(f"{argument} must be GeoJSON, a vector file path or a list of prompts, got "
                    f"{type(prompts).__name__}.")


def _name(item, index: int, argument: str) -> str:
    if isinstance(item, Mapping):
        properties = item.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        for key in ("name", "id"):
            if properties.get(key) not in (None, ""):
                return f"{argument}[{index}] ({key} {properties[key]!r})"
        if item.get("id") not in (None, ""):
            return f"{argument}[{index}] (id {item['id']!r})"
    return f"{argument}[{index}]"


def _width(value, where: str) -> float:
    """A scribble's `width` property in pixels (None or absent: the default)."""
    if value is None:
        return DEFAULT_SCRIBBLE_WIDTH
    try:
        width = float(value)
    except (TypeError, ValueError, OverflowError):
        width = float("nan")
    if isinstance(value, bool) or not 0 < width <= MAX_MAGNITUDE:
        raise ValueError(f"{where} has width={value!r}; a scribble's width is a number of pixels greater than 0 and "
                         f"at most {MAX_MAGNITUDE:g} (or leave it out: {DEFAULT_SCRIBBLE_WIDTH:g}).")
    return width


def _check_coordinates(geometry: BaseGeometry, where: str) -> None:
    """Finite coordinates, at most `MAX_VERTICES` of them (a closed ring's repeated vertex not counted)."""
    coordinates = shapely.get_coordinates(geometry)
    if not np.isfinite(coordinates).all():
        raise ValueError(f"{where} has a coordinate that is not a finite number (NaN or infinity); every vertex must "
                         "be finite.")
    vertices = len(coordinates) - (1 if geometry.geom_type == "Polygon" else 0)
    if vertices > MAX_VERTICES:
        raise ValueError(f"{where} has {vertices} vertices; at most {MAX_VERTICES} are accepted (simplify the shape, "
                         "e.g. shapely's simplify).")


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
            return "scribble", LineString([tuple(map(float, p)) for p in prompt["points"]]), \
                _width(prompt.get("width"), where)
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
            properties = item.get("properties")
            if properties is None:
                properties = {}
            if not isinstance(properties, Mapping):
                raise ValueError(f"{where} has properties of type {type(properties).__name__}; a Feature's "
                                 "properties are an object (a dict) or null.")
            properties = dict(properties)
            item = item.get("geometry")
            if item is None:
                raise ValueError(f"{where} is a Feature without a geometry.")
        try:
            geometry = shape(item)
        except Exception as error:  # shapely's GeometryTypeError, KeyError, ...
            raise ValueError(f"{where} is not a GeoJSON geometry: {error!r}.") from None
    elif isinstance(item, BaseGeometry):
        geometry = item
    else:
        raise ValueError(f"{where} is a {type(item).__name__} ({str(item)[:40]!r}); a prompt is a GeoJSON Feature or "
                         "geometry object, a shapely geometry, or a pixel prompt dict such as "
                         "{'type': 'box', 'bbox': [x1, y1, x2, y2]}.")
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
    _check_coordinates(geometry, where)
    return kind, geometry, _width(properties.get("width"), where), properties


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


def load_prompts(prompts, georeference: PixelGrid, crs=None, argument: str = "prompts",
                 layer: str | None = None) -> PromptSet:
    """The prompts of a scene (any form of the module docstring) in its pixel grid.

    Args:
        georeference: the scene's (`RasterScene.georeference`).
        crs: the CRS of map prompts (default: the CRS the source declares, else EPSG:4326).
        layer: the layer of a vector file with several (`--prompt-layer`).

    Raises ValueError naming the prompt when it is malformed, outside the scene, not a supported geometry, or given
    in map coordinates while the scene has no CRS.
    """
    items, declared = prompt_items(prompts, argument, layer)
    prompt_crs = parse_crs(crs, "prompt_crs") if crs is not None else declared or CRS.from_user_input(DEFAULT_CRS)
    context = {"scene": box(0, 0, georeference.width, georeference.height), "inverse": ~georeference.transform,
               "crs": prompt_crs, "georeference": georeference, "transformer": None}
    out, clipped = [], []
    for i, item in enumerate(items):
        where = _name(item, i, argument)
        try:
            prompt, was_clipped = _scene_prompt(item, i, where, context)
        except shapely.errors.GEOSException as error:
            raise ValueError(f"{where} is not a geometry that can be placed on the scene: {error}.") from None
        out.append(prompt)
        if was_clipped:
            clipped.append(where)
    return PromptSet(out, clipped)


def _scene_prompt(item, i: int, where: str, context: dict) -> tuple[ScenePrompt, bool]:
    """One prompt of `load_prompts` in the scene's pixel grid, and whether it was clipped to the scene."""
    georeference, prompt_crs, scene = context["georeference"], context["crs"], context["scene"]
    if isinstance(item, Mapping) and item.get("type") in PROMPT_TYPES:  # a pixel prompt dict
        kind, geometry, width = _pixel_geometry(item, where)
        if item.get("type") != "mask":
            _check_coordinates(geometry, where)
        properties, source_crs, pixel = {}, None, geometry
    else:
        kind, geometry, width, properties = _map_geometry(item, where)
        if georeference.crs is None:
            raise ValueError(f"{where} is a map geometry (in {prompt_crs.to_string()}), but the scene "
                             f"{georeference.source!r} has no CRS: georeference the raster, or give the prompts "
                             "in pixels (SPEC prompt dicts such as {'type': 'box', 'bbox': [x1, y1, x2, y2]}).")
        if context["transformer"] is None:
            raster_crs = CRS.from_user_input(georeference.crs)
            context["transformer"] = False if raster_crs == prompt_crs else \
                Transformer.from_crs(prompt_crs, raster_crs, always_xy=True)
        source_crs = prompt_crs
        pixel = _to_pixels(geometry, kind, context["transformer"] or None, context["inverse"])
    if not np.isfinite(np.asarray(pixel.bounds)).all():
        raise ValueError(f"{where} does not transform to the scene's CRS (its coordinates {geometry.bounds} are "
                         f"not valid in {prompt_crs.to_string()}).")
    if not (pixel.intersects(scene) if kind != "point" else scene.covers(pixel)):
        raise ValueError(
            f"{where} lies outside the scene {georeference.source!r}: its pixel bounds "
            f"{[round(v, 2) for v in pixel.bounds]} do not meet the {georeference.width}x{georeference.height} "
            f"raster" + (f" (prompt bounds {[round(v, 6) for v in geometry.bounds]} in "
                         f"{prompt_crs.to_string()})." if source_crs is not None else "."))
    clipped = kind != "point" and not scene.covers(pixel)
    if clipped:
        pixel = _clip(pixel, scene, kind)
    return ScenePrompt(i + 1, where, kind, pixel, geometry, source_crs, width, properties), clipped


def _clip(pixel: BaseGeometry, scene: Polygon, kind: str) -> BaseGeometry:
    """The part of a prompt inside the scene (the largest part when clipping splits it; a self-intersecting polygon's
    valid form is clipped)."""
    if kind == "polygon" and not pixel.is_valid:
        pixel = shapely.make_valid(pixel)
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


__all__ = ["ScenePrompt", "PromptSet", "load_prompts", "prompt_items", "box_geometries", "prompt_size", "DEFAULT_CRS",
           "DEFAULT_SCRIBBLE_WIDTH", "MAP_PROMPT_TYPES"]
