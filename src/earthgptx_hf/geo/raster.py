"""Raster scenes: a GeoTIFF (or a PNG or JPEG) read window by window, never whole.

    scene = RasterScene("S2_scene.tif", bands=(4, 3, 2))      # or bands=("red", "green", "blue"): band descriptions
    pixels, valid = scene.read_rgb(Window(0, 0, 448, 448))  # (448, 448, 3) uint8 and the (448, 448) valid mask

Rules (the pixel rules are `processing.multi_source`'s, which this module calls):
- Bands: `bands` holds 1-based band numbers (rasterio's and GDAL's convention) or band names (the file's band
  descriptions, case-insensitive); 1 (SAR, infrared, panchromatic) or 3 bands. Without `bands`, a raster of 1 or 3
  bands (not counting an alpha band) is read as it is; any other count is refused with the bands it has. With
  `channels` N (the model's `input_bands`, for its band adapter; not 3), exactly N bands instead, all kept.
- No-data comes from the file's mask (its nodata value, an internal mask or an alpha band: `read(masked=True)`), and
  from non-finite floats: those pixels are left out of the stretch and become 0, as the NaN rule does.
- 8-bit rasters keep their values; every other type (16-bit, float) is stretched by the robust percentiles of the
  valid pixels of a decimated overview of the whole scene (at most `OVERVIEW_PIXELS`), computed once, so that every
  tile of a scene gets the same stretch.
- Reads are windowed (`rasterio.windows.Window`), optionally decimated to an `out_shape` (nearest neighbour; GDAL uses
  the file's overviews when it has them), under a bounded GDAL block cache (`GDAL_CACHE_MB`).
- Files are opened by `opening.open_raster`, the one owner of the format allow-list (GeoTIFF/COG, PNG, JPEG; a VRT, a
  WMS description or a `/vsi` path only with `allow_virtual=True`).
- A palette (colour-map) band is expanded to its colours: an RGB image, not grey index values.
- Complex (SLC) bands are refused with the processor's message (`multi_source.ComplexImageError`, a ValueError) unless
  `complex_to="amplitude"`, which reads their modulus.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioIOError
from rasterio.transform import Affine
from rasterio.windows import Window

from ..models.earthgptx.multi_source import COMPLEX_TO, MIN_VALID_FRACTION, ComplexImageError, check_valid_fraction
from ..models.earthgptx.multi_source import DEFAULT_PERCENTILES, apply_stretch, stretch_limits
from .features import result_features
from .instances import result_find_features
from .opening import GDAL_CACHE_MB, gdal_env, open_raster, sniff_format

OVERVIEW_PIXELS = 1_000_000  # pixels of the decimated overview the stretch is computed over


@dataclass(frozen=True)
class Georeference:
    """Where a raster's pixels lie on the map: its CRS (None when the file has none), the affine pixel -> map
    `transform` (of pixel corners: pixel (col, row) spans `transform @ (col, row)` to `transform @ (col + 1, row + 1)`),
    its size and the source's file name."""

    crs: rasterio.crs.CRS | None
    transform: Affine
    width: int
    height: int
    source: str = ""

    @property
    def is_georeferenced(self) -> bool:
        return self.crs is not None

    def window(self, window: Window, out_shape: tuple[int, int] | None = None) -> "Georeference":
        """The georeference of `window` of this raster, read at `out_shape` (height, width; default its own size):
        rasterio's affine algebra, the raster's transform @ a translation to the window's corner @ a scale to the read
        shape. Not `rasterio.windows.transform`, which rebuilds the corner as c + (x - c): a few ULPs off x in floating
        point, and all of x lost when the corner is near the map's origin; this product gives the corner exactly as
        `coordinates.apply_transform` does (the scene tests compare outputs exactly)."""
        height, width = out_shape or (int(window.height), int(window.width))
        corner = Affine.translation(window.col_off, window.row_off)
        scale = Affine.scale(window.width / width, window.height / height)
        return Georeference(self.crs, self.transform @ corner @ scale, width, height, self.source)

    def features(self, result: dict, **options) -> dict:
        """A pipeline result (one dict of `pipeline("visual-prompting")`'s output) as a GeoJSON FeatureCollection on
        the map (`features.result_features`: its regions; `instances.result_find_features` for `task="find"`: its
        instances); what the pipeline adds as `geometries` for a georeferenced input."""
        if options.get("task") == "find":
            return result_find_features(result, self, **options)
        options.pop("query", None)
        return result_features(result, self, **options)


class GeoreferencedArray(np.ndarray):
    """A numpy image that knows where it lies on the map (`georeference`): what `multi_source.open_image` gives for a
    raster file, so that the CRS and the transform travel with the image through the pipeline. Arrays derived from it
    keep the georeference only while their shape is the same (a crop or a resize is no longer where it was)."""

    georeference: Georeference | None

    def __new__(cls, array: np.ndarray, georeference: Georeference):
        out = np.asarray(array).view(cls)
        out.georeference = georeference
        return out

    def __array_finalize__(self, obj):
        same = obj is not None and getattr(obj, "shape", None) == self.shape
        self.georeference = getattr(obj, "georeference", None) if same else None

    def __reduce__(self):  # pickles (DataLoader workers) with its georeference
        reconstruct, arguments, state = super().__reduce__()
        return reconstruct, arguments, (state, self.georeference)

    def __setstate__(self, state):
        array_state, self.georeference = state
        super().__setstate__(array_state)


def _label(source) -> str:
    return os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else \
        str(getattr(source, "name", "") or type(source).__name__)


def _path(source) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else _label(source)


def _describe(dataset) -> str:
    names = [f"{i}: {d}" if d else str(i) for i, d in enumerate(dataset.descriptions, start=1)]
    return ", ".join(names)


def select_bands(dataset, bands=None, argument: str = "bands", channels: int = 3) -> tuple[int, ...]:
    """The 1-based band numbers to read: `bands` (numbers, names from the band descriptions, or a string such as
    "4,3,2" or "red,green,blue"), or by default the raster's bands when there are 1 or 3 besides an alpha band.
    Raises ValueError naming `argument`, the value, and the bands the raster has. `channels`: the module docstring."""
    count = dataset.count
    where = f"{argument}={bands!r}"
    wanted = (1, 3) if channels == 3 else (channels,)
    if bands is None:
        colour = [i for i, ci in enumerate(dataset.colorinterp, start=1) if ci != ColorInterp.alpha]
        if channels != 3 and len(colour) != channels:
            raise ValueError(f"The raster has {len(colour)} bands besides any alpha ({_describe(dataset)}); the model "
                             f"takes input_bands={channels}: choose {channels} with bands=.")
        if len(colour) in wanted:
            return tuple(colour)
        raise ValueError(f"The raster has {count} bands ({_describe(dataset)}); EarthGPT-X takes 1 (SAR, infrared, "
                         "panchromatic) or 3 (RGB): choose them with bands=, e.g. bands=(4, 3, 2) (1-based band "
                         "numbers) or band names.")
    if isinstance(bands, str):
        bands = [b.strip() for b in bands.split(",") if b.strip()]
    if isinstance(bands, (int, np.integer)):
        bands = [bands]
    names = {str(d).lower(): i for i, d in enumerate(dataset.descriptions, start=1) if d}
    chosen = []
    for band in bands:
        if isinstance(band, str) and band.lstrip("-").isdigit():
            band = int(band)
        if isinstance(band, (int, np.integer)) and not isinstance(band, bool):
            if not 1 <= band <= count:
                raise ValueError(f"{where}: band {band} is out of range; the raster has {count} band(s), numbered "
                                 f"1 to {count} ({_describe(dataset)}).")
            chosen.append(int(band))
        elif isinstance(band, str) and band.lower() in names:
            chosen.append(names[band.lower()])
        else:
            raise ValueError(f"{where}: {band!r} is neither a band number (1 to {count}) nor a band name of the "
                             f"raster ({_describe(dataset)}).")
    if channels != 3 and len(chosen) != channels:
        raise ValueError(f"{where} selects {len(chosen)} bands; the model takes input_bands={channels}.")
    if len(chosen) not in wanted:
        raise ValueError(f"{where} selects {len(chosen)} bands; EarthGPT-X takes 1 (SAR, infrared, panchromatic) or "
                         "3 (RGB).")
    return tuple(chosen)


def bands_last_with_nodata(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(C, H, W)` band values and their `(H, W)` validity -> `(H, W, C)` values with the invalid pixels (and, for
    floats, the non-finite ones) set to 0 (uint8) or NaN (float32), and the final validity: how every read of a
    scene marks no-data for the stretch."""
    if np.issubdtype(values.dtype, np.floating):
        valid = valid & np.isfinite(values).all(axis=0)
    if not valid.all():
        if values.dtype == np.uint8:
            values[:, ~valid] = 0
        else:
            values = values.astype(np.float32, copy=False)
            values[:, ~valid] = np.nan
    return np.moveaxis(values, 0, -1), valid


class RasterScene:
    """One raster, opened with rasterio and read window by window (see the module docstring for the rules).

    Args:
        source: a path (or anything `rasterio.open` takes).
        bands: see `select_bands`.
        percentiles: the robust stretch's percentiles (the image processor's, 2 and 98).
        argument: how errors name the source.
    """

    def __init__(self, source, bands=None, percentiles=DEFAULT_PERCENTILES, argument: str = "scene",
                 allow_virtual: bool = False, complex_to: str | None = None, channels: int = 3):
        self.name = _label(source)
        self.where = f"{argument} ({_path(source)!r})"  # how errors name it: the argument and the full path
        if complex_to not in COMPLEX_TO:
            raise ValueError(f"complex_to={complex_to!r} is not one of {list(COMPLEX_TO)}.")
        self.dataset = open_raster(source, argument, allow_virtual=allow_virtual)
        try:
            self.bands = select_bands(self.dataset, bands, channels=channels)
            self.input_bands = channels
            self.palette = self._palette()
            if "complex" in self.dtype and complex_to is None:
                raise ComplexImageError(self.where, self.dtype)
        except BaseException:
            self.dataset.close()
            raise
        self.percentiles = tuple(percentiles)
        self.argument = argument

    def _palette(self) -> np.ndarray | None:
        """The (256, 3) uint8 colour table of a single palette band (None for other rasters)."""
        if len(self.bands) != 1 or self.dataset.colorinterp[self.bands[0] - 1] != ColorInterp.palette:
            return None
        try:
            colours = self.dataset.colormap(self.bands[0])
        except ValueError:  # a palette interpretation without a table: grey values, as GDAL reads them
            return None
        table = np.zeros((max(256, max(colours) + 1), 3), np.uint8)
        for value, rgba in colours.items():
            table[value] = rgba[:3]
        return table

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.dataset.close()

    @property
    def width(self) -> int:
        return self.dataset.width

    @property
    def height(self) -> int:
        return self.dataset.height

    @property
    def dtype(self) -> str:
        return self.dataset.dtypes[self.bands[0] - 1]

    @property
    def channels(self) -> int:
        """Channels `read` gives: 3 for a palette band (its colours), else the bands read."""
        return 3 if self.palette is not None else len(self.bands)

    @property
    def georeference(self) -> Georeference:
        return Georeference(self.dataset.crs, self.dataset.transform, self.width, self.height, self.name)

    def read(self, window: Window | None = None, out_shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`window` (default: the whole raster, only for small ones) at `out_shape` (height, width) as
        `(pixels (H, W, C), valid (H, W) bool)`: no-data pixels are 0 in uint8 rasters, NaN in others (read as
        float32 then; a window without no-data keeps the file's type)."""
        window = window or Window(0, 0, self.width, self.height)
        shape = out_shape or (int(window.height), int(window.width))
        try:
            with gdal_env():
                data = self.dataset.read(self.bands, window=window, out_shape=(len(self.bands), *shape), masked=True,
                                         boundless=False, resampling=Resampling.nearest)
        except RasterioIOError as error:
            raise ValueError(f"{self.where} could not be decoded: {error}. The file is damaged or truncated; "
                             "re-download or re-export it.") from error
        values = np.ma.getdata(data)
        valid = ~np.ma.getmaskarray(data).any(axis=0)
        if np.iscomplexobj(values):  # complex_to="amplitude" (others are refused when the scene opens)
            values = np.abs(values)
        if self.palette is not None:  # the colours, channels first as the bands are
            values = np.moveaxis(self.palette[values[0].astype(np.int64)], -1, 0)
        return bands_last_with_nodata(values, valid)

    @cached_property
    def limits(self) -> tuple[float, float] | None:
        """The stretch's (low, high) over the valid pixels of a decimated overview of the scene (None for 8-bit
        rasters, which keep their values, and for a scene without a valid pixel)."""
        if self.dtype == "uint8" or self.palette is not None:
            return None
        scale = max(1.0, (self.width * self.height / OVERVIEW_PIXELS) ** 0.5)
        shape = (max(1, round(self.height / scale)), max(1, round(self.width / scale)))
        overview, _ = self.read(out_shape=shape)
        return stretch_limits(overview, self.percentiles)

    def read_rgb(self, window: Window | None = None, out_shape: tuple[int, int] | None = None) \
            -> tuple[np.ndarray, np.ndarray]:
        """`read`, then the scene's stretch (8-bit kept) and single bands replicated: `(pixels (H, W, 3) uint8,
        valid (H, W) bool)`, the image the model sees (`(H, W, N)` with N `channels`)."""
        values, valid = self.read(window, out_shape)
        pixels = values if values.dtype == np.uint8 else apply_stretch(values, self.limits)
        if pixels.shape[-1] == 1 and self.input_bands == 3:
            pixels = np.repeat(pixels, 3, axis=-1)
        return np.ascontiguousarray(pixels), valid


def is_raster_file(source) -> bool:
    """Whether `source` (a path or a binary file object) is a TIFF (classic or BigTIFF, by its first bytes), which the
    processor reads through rasterio: PIL reads neither float multi-band TIFFs nor their georeference and no-data."""
    return sniff_format(source) == "GTiff"


def raster_reader_for(source):
    """This module when the processor reads `source` through it (`multi_source`'s file rule): a TIFF; else None (PIL
    reads PNG, JPEG and its other allowed formats; `opening` refuses the rest)."""
    return sys.modules[__name__] if is_raster_file(source) else None


def read_raster_image(source, *, bands=None, max_pixels: int, percentiles=DEFAULT_PERCENTILES, where: str = "images",
                      min_valid_fraction: float = MIN_VALID_FRACTION, allow_virtual: bool = False, channels: int = 3) \
        -> GeoreferencedArray:
    """A whole raster as one image for the processor: `(H, W)` or `(H, W, 3)`, uint8 (8-bit rasters, no-data 0) or
    float32 (no-data NaN: the NaN rule applies), with its georeference. Rasters with more than `max_pixels` pixels are
    refused before any pixel is read: a scene is tiled by `ScenePredictor` (`earthgptx-predict`). An 8-bit raster whose
    file mask leaves less than `min_valid_fraction` valid is refused as the NaN rule refuses float ones."""
    with RasterScene(source, bands=bands, percentiles=percentiles, argument=where,
                     allow_virtual=allow_virtual, channels=channels) as scene:
        if scene.width * scene.height > max_pixels:
            raise ValueError(
                f"{scene.where} has {scene.height}x{scene.width} = {scene.width * scene.height:,} pixels, "
                f"more than max_pixels={max_pixels:,}. Run a scene this large with earthgptx_hf.geo.ScenePredictor "
                "(or the earthgptx-predict command), which reads it window by window, or raise the image processor's "
                "max_pixels if the memory allows.")
        values, valid = scene.read()
        if values.dtype == np.uint8:  # float no-data is NaN, which normalise_image counts itself
            check_valid_fraction(float(valid.mean()), min_valid_fraction, scene.where, "valid",
                                 "the file's no-data")
        georeference = scene.georeference
    image = values[..., 0] if values.shape[-1] == 1 else values
    return GeoreferencedArray(image, georeference)


def raster_size(source, where: str = "images") -> tuple[int, int]:
    """(height, width) of a raster from its header (opened as `opening.open_raster` allows)."""
    with open_raster(source, where) as dataset:
        return dataset.height, dataset.width


__all__ = ["RasterScene", "Georeference", "GeoreferencedArray", "select_bands", "read_raster_image", "raster_size",
           "is_raster_file", "raster_reader_for", "gdal_env", "OVERVIEW_PIXELS", "GDAL_CACHE_MB"]
