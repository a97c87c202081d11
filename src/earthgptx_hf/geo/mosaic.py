"""A georeferenced mosaic of annotated images: a GeoTIFF in a projected CRS with a known transform, and the images'
objects as prompts in EPSG:4326 (the demo's held-out scene for `earthgptx-predict`, built from held-out data)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window

from ..models.earthgptx.multi_source import PIL_FORMATS
from .coordinates import apply_transform
from .opening import gdal_env

MOSAIC_CRS = "EPSG:32633"  # WGS 84 / UTM zone 33N
MOSAIC_ORIGIN = (500_000.0, 4_600_000.0)  # top-left corner (easting, northing)
MOSAIC_PIXEL = 10.0  # metres


def write_mosaic(images, path, *, columns: int = 2, objects_per_image: int = 2, crs: str = MOSAIC_CRS,
                 origin=MOSAIC_ORIGIN, pixel: float = MOSAIC_PIXEL) -> tuple[Path, dict]:
    """Writes `images` (`AnnotatedImage`s, 8-bit RGB or single-band) side by side (`columns` per row, cells as large as
    the largest image, no-data 0 between them) as an RGB GeoTIFF in `crs`, `pixel` metres per pixel from `origin`, and
    returns `(path, prompts)`: a FeatureCollection in EPSG:4326 with a box prompt per object (the first
    `objects_per_image` of each image), named by its category."""
    if not images:
        raise ValueError("images is empty: a mosaic needs at least one annotated image.")
    cell_w, cell_h = max(im.width for im in images), max(im.height for im in images)
    rows = math.ceil(len(images) / columns)
    transform = from_origin(origin[0], origin[1], pixel, pixel)  # north-up, `pixel` metres square
    profile = {"driver": "GTiff", "width": cell_w * min(columns, len(images)), "height": cell_h * rows, "count": 3,
               "dtype": "uint8", "nodata": 0, "crs": crs, "transform": transform, "tiled": True, "blockxsize": 256,
               "blockysize": 256, "compress": "deflate"}
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    features = []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gdal_env(), rasterio.open(path, "w", **profile) as dataset:
        for k, image in enumerate(images):
            col, row = (k % columns) * cell_w, (k // columns) * cell_h
            pixels = np.asarray(Image.open(image.image, formats=PIL_FORMATS).convert("RGB"))
            pixels = np.maximum(pixels, 1)  # 0 is the mosaic's no-data
            dataset.write(np.moveaxis(pixels, -1, 0), window=Window(col, row, image.width, image.height))
            for obj in image.objects[:objects_per_image]:
                x1, y1, x2, y2 = (float(v) for v in obj.bbox)
                corners = [(col + x, row + y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1))]
                xs, ys = apply_transform(transform, *zip(*corners))
                ring = [list(to_lonlat.transform(x, y)) for x, y in zip(xs, ys)]
                features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                 "properties": {"name": f"{obj.category} in {Path(image.image).name}",
                                                "prompt_type": "box", "category": obj.category}})
    return path, {"type": "FeatureCollection", "features": features}


__all__ = ["write_mosaic", "MOSAIC_CRS"]
