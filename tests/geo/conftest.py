"""Fixtures of the geo tests: GeoTIFFs written by the tests (UTM zone 33N, 10 m pixels, a known origin), the tiny
model's processor, and a stand-in pipeline whose masks are known (the prompt itself, rasterised)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import Affine
from shapely.geometry import LineString, Point, Polygon, box

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.geo.coordinates import apply_transform
from tests.modeling.helpers import tiny_config

UTM = "EPSG:32633"
ORIGIN = (500_000.0, 4_600_000.0)  # x (easting), y (northing) of the top-left corner
PIXEL = 10.0  # metres
TRANSFORM = Affine(PIXEL, 0.0, ORIGIN[0], 0.0, -PIXEL, ORIGIN[1])
TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def write_geotiff(path, array: np.ndarray, *, nodata=None, crs=UTM, transform=TRANSFORM, interleave="pixel",
                  descriptions=None, block: int | None = None):
    """`array` (H, W) or (H, W, C) as a GeoTIFF (band i = channel i)."""
    array = array[..., None] if array.ndim == 2 else array
    height, width, count = array.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": str(array.dtype),
               "crs": crs, "transform": transform, "interleave": interleave, "nodata": nodata}
    if block:
        profile.update(tiled=True, blockxsize=block, blockysize=block, compress="deflate")
    with rasterio.open(path, "w", **{k: v for k, v in profile.items() if v is not None}) as dataset:
        dataset.write(np.moveaxis(array, -1, 0))
        for i, name in enumerate(descriptions or [], start=1):
            dataset.set_band_description(i, name)
    return path


def pixel_to_lonlat(col: float, row: float) -> tuple[float, float]:
    """A pixel-grid position of the test rasters in EPSG:4326 (lon, lat)."""
    return TO_LONLAT.transform(*apply_transform(TRANSFORM, col, row))


def lonlat_feature(geometry, **properties) -> dict:
    """A GeoJSON Feature of a pixel-grid shapely geometry, in EPSG:4326."""
    import shapely

    def project(xy):
        return np.array([pixel_to_lonlat(x, y) for x, y in xy])

    from shapely.geometry import mapping
    return {"type": "Feature", "geometry": mapping(shapely.transform(geometry, project)), "properties": properties}


def prompt_geometry(prompt: dict):
    kind = prompt["type"]
    if kind == "point":
        return Point(prompt["point"]).buffer(1.5)
    if kind == "box":
        return box(*prompt["bbox"])
    if kind == "polygon":
        return Polygon(prompt["points"])
    return LineString(prompt["points"]).buffer(prompt["width"] / 2)


class PromptMaskPipeline:
    """The visual-prompting pipeline's interface with known masks: every region's `[PIX]` mask is its prompt,
    rasterised on the window it was asked on (so the geometry plumbing, window -> stitching -> vectorising -> map,
    is checked against a known answer). It records the items it was given."""

    def __init__(self, config_overrides=None):
        self.processor = EarthGPTXProcessor.from_model_config(tiny_config(**(config_overrides or {})))
        self.model = None
        self.items = []
        self.calls = []

    def __call__(self, items, batch_size=1, **generate_kwargs):
        self.calls.append({"batch_size": batch_size, **generate_kwargs})
        for item in items:
            self.items.append(item)
            height, width = item["image"].shape[:2]
            prompts = item["prompts"] or [{"type": "box", "bbox": [0, 0, width, height]}]
            masks = [rasterize([prompt_geometry(p)], out_shape=(height, width)).astype(bool) for p in prompts]
            text = "\n".join(f"<Region {i + 1}>: [PIX]" for i in range(len(prompts))) if item["prompts"] else \
                "a tile"
            yield [{"generated_text": text, "masks": masks if item["prompts"] else [],
                    "scores": [0.9] * len(masks) if item["prompts"] else [], "dropped_masks": 0,
                    "regions": [{"index": i + 1, "prompt": p, "answer": "[PIX]", "mask": m, "score": 0.9}
                                for i, (p, m) in enumerate(zip(item["prompts"], masks))]}]


@pytest.fixture
def stub():
    return PromptMaskPipeline()


@pytest.fixture(scope="module")
def tiny_pipe():
    from transformers import pipeline

    from tests.modeling.helpers import tiny_model

    model = tiny_model()
    return pipeline("visual-prompting", model=model, processor=EarthGPTXProcessor.from_model_config(model.config))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved tiny checkpoint (model and processor), as `earthgptx-predict --model` takes it."""
    from earthgptx_hf import EarthGPTXProcessor
    from tests.modeling.helpers import tiny_model

    folder = tmp_path_factory.mktemp("tiny")
    model = tiny_model()
    model.save_pretrained(folder)
    EarthGPTXProcessor.from_model_config(model.config).save_pretrained(folder)
    return folder
