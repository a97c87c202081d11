"""Ground sample distance: metres per pixel from a raster's transform and its CRS's linear unit, and the window
sizes that follow from it (`window_size` in pixels or metres, `target_gsd` resampling).

A scene's GSD is known when it has a projected CRS (its linear unit converted to metres: `CRS.linear_units_factor`);
a scene without a CRS, or in a geographic CRS (degrees, whose ground size changes with latitude), has none, and the
options that need one (`window_unit: metres`, `target_gsd`) refuse it, naming the scene.

At inference, `resample_to_gsd` writes a scene at the training `target_gsd` (a GeoTIFF with the same CRS and the
scaled transform, read and written in blocks of rows: memory stays bounded), resampled as the training windows are
(nearest neighbour, `RasterScene.read`), so that `earthgptx-predict` sees the scale the model was trained at:

    python -m earthgptx_hf.geo.gsd scene.tif --target-gsd 0.5 --out scene_0.5m.tif
    earthgptx-predict scene_0.5m.tif --model runs/gis --prompts fields.gpkg ...
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window

from .opening import gdal_env, open_raster
from .raster import Georeference


def scene_gsd(georeference) -> tuple[float, float] | None:
    """(x, y) metres per pixel of a `Georeference`, or None when unknown (the module docstring)."""
    crs = georeference.crs
    if crs is None or not crs.is_projected:
        return None
    try:
        _, factor = crs.linear_units_factor
    except Exception:  # rasterio's CRSError: no linear unit
        return None
    t = georeference.transform
    return math.hypot(t.a, t.d) * factor, math.hypot(t.b, t.e) * factor


def require_gsd(georeference, option: str, where: str) -> tuple[float, float]:
    gsd = scene_gsd(georeference)
    if gsd is None:
        crs = georeference.crs
        state = "has no CRS" if crs is None else f"is in {crs.to_string()}, a CRS without a linear unit (degrees)"
        raise ValueError(f"{option} needs each scene's ground sample distance in metres, but {where} {state}: "
                         "reproject it to a projected CRS (e.g. UTM: gdalwarp -t_srs EPSG:326xx), or leave "
                         f"{option} unset.")
    return gsd


def window_shapes(georeference, window_size: float, window_unit: str, target_gsd: float | None, where: str) \
        -> tuple[tuple[int, int], tuple[int, int]]:
    """((read width, read height) in scene pixels, (out height, out width) the window is resampled to)."""
    if isinstance(window_size, bool) or not isinstance(window_size, (int, float)) or not window_size > 0:
        raise ValueError(f"window_size={window_size!r} must be a number greater than 0 ({window_unit}).")
    if target_gsd is not None and (isinstance(target_gsd, bool) or not isinstance(target_gsd, (int, float))
                                   or not math.isfinite(target_gsd) or target_gsd <= 0):
        raise ValueError(f"target_gsd={target_gsd!r} must be a positive number of metres per pixel.")
    if window_unit not in ("pixels", "metres"):
        raise ValueError(f"window_unit={window_unit!r} is not one of ['pixels', 'metres'].")
    if window_unit == "pixels" and target_gsd is None:
        side = int(round(window_size))
        return (side, side), (side, side)
    gsd_x, gsd_y = require_gsd(georeference, "target_gsd" if target_gsd else "window_unit=metres", where)
    out_gsd = target_gsd or None
    metres = window_size if window_unit == "metres" else window_size * target_gsd
    out = max(1, int(round(metres / out_gsd))) if out_gsd else None
    read = (max(1, int(round(metres / gsd_x))), max(1, int(round(metres / gsd_y))))
    return read, (out, out) if out else (read[1], read[0])


def resample_to_gsd(source, target_gsd: float, out, block_rows: int = 256, argument: str = "scene") -> str:
    """`source` written to `out` (a new GeoTIFF) at `target_gsd` metres per pixel (module docstring); returns `out`.
    Raises ValueError naming the scene when its GSD is unknown, and refuses to replace an existing `out`."""
    if os.path.exists(out):
        raise ValueError(f"out={str(out)!r} exists; give a new file (an output never replaces a file).")
    with open_raster(source, argument) as src:
        where = f"{argument} ({os.fspath(source)!r})"
        window_shapes(Georeference(src.crs, src.transform, src.width, src.height), 1, "pixels", target_gsd, where)
        gsd_x, gsd_y = require_gsd(Georeference(src.crs, src.transform, src.width, src.height), "target_gsd", where)
        width = max(1, round(src.width * gsd_x / target_gsd))
        height = max(1, round(src.height * gsd_y / target_gsd))
        step_x, step_y = src.width / width, src.height / height  # source pixels per output pixel
        transform = src.transform @ Affine.scale(step_x, step_y)
        profile = {"driver": "GTiff", "width": width, "height": height, "count": src.count, "dtype": src.dtypes[0],
                   "crs": src.crs, "transform": transform, "tiled": True, "compress": "deflate",
                   **({"nodata": src.nodata} if src.nodata is not None else {})}
        with gdal_env(), rasterio.open(out, "w", **profile) as dst:
            dst.colorinterp = src.colorinterp
            for band, description in enumerate(src.descriptions, start=1):
                if description:
                    dst.set_band_description(band, description)
            for top in range(0, height, block_rows):
                rows = min(block_rows, height - top)
                window = Window(0, top * step_y, src.width, rows * step_y)
                data = src.read(window=window, out_shape=(src.count, rows, width), resampling=Resampling.nearest)
                dst.write(np.asarray(data), window=Window(0, top, width, rows))
    return str(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m earthgptx_hf.geo.gsd",
                                     description="Write a scene at a ground sample distance (metres per pixel).")
    parser.add_argument("scene")
    parser.add_argument("--target-gsd", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    print(resample_to_gsd(args.scene, args.target_gsd, args.out))
    return 0


__all__ = ["scene_gsd", "require_gsd", "window_shapes", "resample_to_gsd"]


if __name__ == "__main__":
    sys.exit(main())
