"""Georeferenced answers: GeoJSON Features (RFC 7946) of regions and tiles, and the FeatureCollection that holds them.

Every feature carries the same properties (`PROPERTIES`):
    region         the prompt's 1-based index in the scene's prompts (None for a tile)
    prompt_type    point | box | polygon | scribble (None for a tile)
    prompt_geometry  the prompt as WKT in the output CRS (None for a tile)
    task           the task asked (classify, caption, detailed_caption, segment)
    answer         the model's answer for the region (or the tile)
    mask_score     the IoU the model predicts for the region's `[PIX]` mask (None without a mask)
    window         the window the answer was computed on, `col_off,row_off,width,height` in scene pixels
    tile           `row,col` of a grid tile (None for a region)
    source         the scene's file name
    model          the model's id (its folder or Hub id)
The geometry is the vectorised mask when the region has one, else the prompt (a region) or the tile's footprint.

Objects found by name (`task="find"`, `instance_feature`) carry `INSTANCE_PROPERTIES` instead:
    task, query    "find" and the text searched for
    label          the class the model's answer names for the object
    score          the IoU the model predicts for its mask (the best-scored of its merged instances)
    box            the object's bounds [xmin, ymin, xmax, ymax] in the output CRS
    window         the window of its best-scored instance, `col_off,row_off,width,height` in scene pixels
    merged_from    how many window instances were merged into it (`geo.instances`)
    source, model  as above
The geometry is the union of its instances' vectorised masks.

Coordinates are EPSG:4326 longitude / latitude (RFC 7946), or the raster's CRS when asked (`out_crs="raster"`), in
which case the collection names it in a `crs` member (the pre-RFC 7946 convention GDAL reads).
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from .coordinates import PixelGrid, parse_crs
from .prompts import ScenePrompt, load_prompts
from .vectorise import DEFAULT_TOLERANCE, mask_to_geometry, transform_geometry

OUTPUT_CRS = "EPSG:4326"
PROPERTIES = ("region", "prompt_type", "prompt_geometry", "task", "answer", "mask_score", "window", "tile", "source",
              "model")
INSTANCE_PROPERTIES = ("task", "query", "label", "score", "box", "window", "merged_from", "source", "model")


class MapProjection:
    """Geometries from the raster's CRS to the output CRS (`out_crs`: "EPSG:4326" (default, RFC 7946), any CRS
    pyproj knows, or "raster" for the raster's own)."""

    def __init__(self, raster_crs, out_crs=OUTPUT_CRS, source_name: str = ""):
        if raster_crs is None:
            raise ValueError(f"The scene {source_name!r} has no CRS: georeferenced output needs a raster with a CRS "
                             "and a transform (georeference it, e.g. with gdal_translate -a_srs / -a_ullr).")
        source = CRS.from_user_input(raster_crs)
        self.crs = source if out_crs in (None, "raster") else parse_crs(out_crs, "out_crs")
        self._transformer = None if self.crs == source else Transformer.from_crs(source, self.crs, always_xy=True)

    @property
    def is_rfc7946(self) -> bool:
        return self.crs == CRS.from_user_input(OUTPUT_CRS)

    def __call__(self, geometry: BaseGeometry) -> BaseGeometry:
        if self._transformer is None:
            return geometry

        def project(xy: np.ndarray) -> np.ndarray:
            x, y = self._transformer.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geometry, project)


def pixels_to_map(geometry: BaseGeometry, georeference: PixelGrid) -> BaseGeometry:
    """A geometry in (a window's) pixel grid -> the raster's CRS, through its affine transform."""
    return transform_geometry(geometry, georeference.transform)


def feature(geometry: BaseGeometry, **properties) -> dict:
    """A GeoJSON Feature with every property of `PROPERTIES` (None where not given)."""
    unknown = set(properties) - set(PROPERTIES)
    if unknown:
        raise ValueError(f"unknown feature properties {sorted(unknown)}; valid: {list(PROPERTIES)}.")
    return {"type": "Feature", "geometry": mapping(geometry),
            "properties": {name: properties.get(name) for name in PROPERTIES}}


def region_feature(prompt: ScenePrompt, georeference: PixelGrid, projection: MapProjection, *, task: str,
                   answer, mask=None, window_georeference: PixelGrid | None = None, score=None,
                   window: str | None = None, model: str | None = None, tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """The feature of one answered region: its mask (read on `window_georeference`'s grid) vectorised, else its
    prompt."""
    prompt_map = projection(pixels_to_map(prompt.pixel, georeference))
    geometry = None
    if mask is not None:
        scale = abs((window_georeference or georeference).transform.a / georeference.transform.a)
        geometry = mask_to_geometry(mask, (window_georeference or georeference).transform, tolerance / scale)
    return feature(projection(geometry) if geometry is not None else prompt_map, region=prompt.index,
                   prompt_type=prompt.kind, prompt_geometry=prompt_map.wkt, task=task, answer=answer,
                   mask_score=None if score is None else float(score), window=window, source=georeference.source,
                   model=model)


def tile_feature(window_georeference: PixelGrid, projection: MapProjection, *, task: str, answer, window: str,
                 tile: tuple[int, int], source: str, model: str | None = None) -> dict:
    """The feature of one grid tile's image-level answer: the tile's footprint."""
    footprint = pixels_to_map(box(0, 0, window_georeference.width, window_georeference.height), window_georeference)
    return feature(projection(footprint), task=task, answer=answer, window=window, tile=f"{tile[0]},{tile[1]}",
                   source=source, model=model)


def instance_feature(instance, projection: MapProjection, *, query: str, source: str, model: str | None = None) \
        -> dict:
    """The feature of one object found by name: a (merged) `instances.Instance`, its geometry in the raster's CRS."""
    geometry = projection(instance.geometry)
    properties = {"task": "find", "query": query, "label": instance.label, "score": instance.score,
                  "box": [float(v) for v in geometry.bounds], "window": instance.window,
                  "merged_from": instance.merged_from, "source": source, "model": model}
    return {"type": "Feature", "geometry": mapping(geometry), "properties": properties}


def feature_collection(features: list[dict], projection: MapProjection, summary: dict | None = None) -> dict:
    """A GeoJSON FeatureCollection; `summary` (counts of what was run, skipped and clipped) goes in an `earthgptx`
    member (RFC 7946 allows foreign members)."""
    collection = {"type": "FeatureCollection", "features": features}
    if not projection.is_rfc7946:
        collection["crs"] = {"type": "name", "properties": {"name": projection.crs.to_string()}}
    if summary is not None:
        collection["earthgptx"] = summary
    return collection


def result_features(result: dict, georeference: PixelGrid, *, out_crs=OUTPUT_CRS,
                    tolerance: float = DEFAULT_TOLERANCE, task: str | None = None, model: str | None = None) -> dict:
    """One `pipeline("visual-prompting")` result on a georeferenced image as a FeatureCollection: a feature per
    region (its mask vectorised when it has one, else its prompt), with the properties of `PROPERTIES`."""
    projection = MapProjection(georeference.crs, out_crs, georeference.source)
    regions = result.get("regions") or []
    prompts = load_prompts([r["prompt"] for r in regions], georeference).prompts if regions else []
    window = f"0,0,{georeference.width},{georeference.height}"
    features = [region_feature(prompt, georeference, projection, task=task, answer=region.get("answer"),
                               mask=region.get("mask"), score=region.get("score"), window=window, model=model,
                               tolerance=tolerance)
                for prompt, region in zip(prompts, regions)]
    return feature_collection(features, projection)


__all__ = ["MapProjection", "feature", "region_feature", "tile_feature", "instance_feature", "feature_collection",
           "result_features", "pixels_to_map", "PROPERTIES", "INSTANCE_PROPERTIES", "OUTPUT_CRS"]
