"""Data formats that a higher layer supplies, and the options of the one such format there is (`geo`).

The data layer reads pixel-space datasets (`converters/`) itself. A format that needs more than the data layer may
import (GeoTIFF scenes and vector labels need rasterio, shapely and pyproj, which live in `geo/`, a layer above
`data/`, `training/` and `evaluation/`) registers its loader here:

    register_data_format("geo", load_geo_images)   # in geo/training_data.py, when that module is imported

**The one plugin point.** `plugin_loader(name)` returns a registered loader; a name listed in `PLUGIN_FORMATS` whose
module has not been imported yet is imported then, by its module name (`importlib`), and only then: nothing in
`data/`, `training/` or `evaluation/` imports `geo/` when it is itself imported, and `earthgptx-train` /
`earthgptx-eval` import it only when `data_format: geo` is asked. A loader is called as
`loader(data_args, workdir) -> (list[AnnotatedImage], ConversionReport)`, as `load_annotated_images` is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

# format name -> the module that registers its loader when imported
PLUGIN_FORMATS = {"geo": "earthgptx_hf.geo.training_data"}
_LOADERS: dict[str, Callable] = {}

WINDOW_UNITS = ("pixels", "metres")
WINDOW_SAMPLING = ("grid", "random")
ALPHA_BAND = ("refuse", "data", "mask")


def register_data_format(name: str, loader: Callable) -> None:
    """Makes `name` a `data_format` whose annotated images come from `loader(data_args, workdir)`."""
    _LOADERS[name] = loader


def plugin_loader(name: str) -> Callable:
    """The loader of the plugin format `name` (importing its module on first use: the module docstring)."""
    if name not in _LOADERS:
        if name not in PLUGIN_FORMATS:
            raise ValueError(f"data_format={name!r} is not a plugin format; valid: {sorted(PLUGIN_FORMATS)}.")
        importlib.import_module(PLUGIN_FORMATS[name])
    if name not in _LOADERS:
        raise RuntimeError(f"{PLUGIN_FORMATS[name]} was imported but registered no loader for data_format={name!r}.")
    return _LOADERS[name]


@dataclass
class GeoDataArguments:
    """The `geo` format's options (`geo/training_data.py`), and `validation_split`, which every format has."""

    scenes: str | None = field(default=None, metadata={
        "help": "geo: the scenes, comma-separated GeoTIFF paths or glob patterns (e.g. 'scenes/*.tif')."})
    labels: str | None = field(default=None, metadata={
        "help": "geo: the vector label file (GeoPackage, Shapefile or GeoJSON), in any CRS (reprojected to each "
                "scene's)."})
    label_layer: str | None = field(default=None, metadata={"help": "geo: the layer of a label file with several."})
    label_crs: str | None = field(default=None, metadata={
        "help": "geo: the labels' CRS when the file declares none (a GeoJSON without one is EPSG:4326)."})
    class_attribute: str = field(default="class", metadata={"help": "geo: the label attribute that holds the class."})
    window_size: float = field(default=256, metadata={
        "help": "geo: training window side, in window_unit (pixels of the window as the model sees it)."})
    window_unit: str = field(default="pixels", metadata={"choices": list(WINDOW_UNITS)})
    window_sampling: str = field(default="grid", metadata={
        "help": "geo: 'grid' (tiles covering each scene) or 'random' (windows_per_scene windows, seeded).",
        "choices": list(WINDOW_SAMPLING)})
    window_overlap: float = field(default=0.0, metadata={"help": "geo: grid overlap, a fraction in [0, 1)."})
    windows_per_scene: int = field(default=64, metadata={"help": "geo: random windows per scene."})
    bands: str | None = field(default=None, metadata={
        "help": "geo: the bands to read, 1-based numbers or band descriptions, e.g. '4,3,2' or 'red,green,blue'."})
    band_preset: str | None = field(default=None, metadata={
        "help": "geo: named band triples (geo/bands.py): sentinel2_true_colour, sentinel2_false_colour, "
                "landsat8_true_colour, landsat8_false_colour (landsat9_* alike)."})
    alpha_band: str = field(default="refuse", metadata={
        "help": "geo: a band tagged alpha (GDAL's default for band 4 of a 4-band uint8 GeoTIFF): 'refuse' (an "
                "error), 'data' (read it as data, e.g. near-infrared) or 'mask' (a real transparency mask).",
        "choices": list(ALPHA_BAND)})
    input_bands: int | None = field(default=None, metadata={
        "help": "geo: bands per window; earthgptx-train sets it from the model config's input_bands (3, or N for "
                "the band adapter, with N bands chosen by `bands`)."})
    target_gsd: float | None = field(default=None, metadata={
        "help": "geo: resample every window to this ground sample distance in metres (scenes without a known GSD "
                "are refused)."})
    min_valid_fraction: float = field(default=0.5, metadata={
        "help": "geo: a window with less valid (not no-data) pixels than this is skipped, counted 'no-data window'."})
    label_keep_fraction: float = field(default=0.5, metadata={
        "help": "geo: a polygon cut by a window edge is kept (clipped) when at least this fraction of its area "
                "lies inside, else counted 'cut by window'."})
    validation_split: float = field(default=0.0, metadata={
        "help": "Held-out share in [0, 1): for geo, spatial blocks of validation_block x validation_block windows; "
                "for the other formats, this fraction of the images (records: of the image files)."})
    validation_block: int = field(default=4, metadata={
        "help": "geo: the side of a validation block, in windows (block side = validation_block x the window's "
                "side on the map)."})
    validation_metric_samples: int = field(default=16, metadata={
        "help": "earthgptx-train: validation records per task that the metrics callback generates for at each "
                "evaluation (ROC accuracy, gIoU); 0: loss only."})


__all__ = ["GeoDataArguments", "register_data_format", "plugin_loader", "PLUGIN_FORMATS", "WINDOW_UNITS",
           "WINDOW_SAMPLING", "ALPHA_BAND"]
