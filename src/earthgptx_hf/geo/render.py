"""A picture of georeferenced answers: the features of a FeatureCollection (result.geojson) drawn on their scene, as a
PNG (`visualization.draw_visual_prompts` draws; this module puts the map geometries back on the pixel grid)."""

from __future__ import annotations

from pathlib import Path

from rasterio.windows import Window
from shapely.geometry import mapping, shape

from ..evaluation.visualization import draw_visual_prompts
from .output import collection_crs
from .prompts import load_prompts
from .raster import RasterScene
from .windows import read_shape

RENDER_SIDE = 1024  # the scene is read decimated to at most this many pixels on its longer side


def render_features(scene, collection: dict, path, *, bands=None, caption: str | None = None) -> Path:
    """Draws `collection`'s features (their mask polygons, prompts or tile footprints; `<Region i>: answer` labels)
    on `scene` and writes a PNG to `path`."""
    with RasterScene(scene, bands=bands) as raster:
        height, width = read_shape(raster.width, raster.height, RENDER_SIDE)
        pixels, _ = raster.read_rgb(out_shape=(height, width))
        georeference = raster.georeference.window(Window(0, 0, raster.width, raster.height), (height, width))
    parts, labels = [], {}
    for feature in collection["features"]:
        geometry = shape(feature["geometry"])
        pieces = getattr(geometry, "geoms", [geometry])
        largest = max(pieces, key=lambda p: p.area)  # a mask in several parts: its largest, labelled
        parts.append({"type": "Feature", "geometry": mapping(largest), "properties": {}})
        properties = feature["properties"]
        answer = properties.get("answer")  # drawn as "<Region i>: answer", i = the feature's place (its region)
        labels[len(parts)] = f"tile {properties['tile']}: {answer}" if properties.get("tile") else answer
    prompts = load_prompts(parts, georeference, crs=collection_crs(collection)).prompts if parts else []
    panel = draw_visual_prompts(pixels, [p.to_window(0, 0) for p in prompts], answers=labels, caption=caption,
                                max_size=RENDER_SIDE)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    panel.save(path)
    return path


__all__ = ["render_features", "RENDER_SIDE"]
