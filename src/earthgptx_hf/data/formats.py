"""Data formats that a higher layer (or another distribution) supplies, and the options of the one such format this
package ships (`geo`).

The data layer reads pixel-space datasets (`converters/`) itself. A format that needs more than the data layer may
import (GeoTIFF scenes and vector labels need rasterio, shapely and pyproj, which live in `geo/`, a layer above
`data/`, `training/` and `evaluation/`) is a plugin, declared as a Python entry point of the group
`earthgptx_hf.record_formats` (`ENTRY_POINT_GROUP`), as this package declares its own in setup.cfg:

    [options.entry_points]
    earthgptx_hf.record_formats =
        geo = earthgptx_hf.geo.training_data:load_geo_images [geo]

**The one plugin point.** `plugin_loader(name)` loads the entry point named `name` (importing its module then, and only
then: nothing in `data/`, `training/` or `evaluation/` imports `geo/`, and `earthgptx-train` / `earthgptx-eval` import
it only when `data_format: geo` is asked). Any installed distribution can add a format the same way (its own
`[options.entry_points]`); `register_data_format` adds one at run time. A plugin whose module cannot be imported is
refused naming the format, the known formats and the extra it declares (`[geo]`: `pip install 'earthgptx-hf[geo]'`).
A loader is called as `loader(data_args, workdir) -> (list[AnnotatedImage], ConversionReport)`, as
`load_annotated_images` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from ..utils.extras import MissingExtraError

ENTRY_POINT_GROUP = "earthgptx_hf.record_formats"
_LOADERS: dict[str, Callable] = {}  # formats registered at run time (`register_data_format`)


def format_entry_points() -> dict[str, EntryPoint]:
    """The installed plugin formats: name -> entry point of `ENTRY_POINT_GROUP` (this package's and any other
    distribution's)."""
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


# format name -> "module:loader" of each plugin format installed when this module was imported (the `data_format`
# choices); `plugin_loader` looks again, so a format registered later is found too
PLUGIN_FORMATS = {name: f"{point.module}:{point.attr}" for name, point in format_entry_points().items()}

WINDOW_UNITS = ("pixels", "metres")
WINDOW_SAMPLING = ("grid", "random")
ALPHA_BAND = ("refuse", "data", "mask")


def register_data_format(name: str, loader: Callable) -> None:
    """Makes `name` a `data_format` whose annotated images come from `loader(data_args, workdir)`, for this process
    (an installed plugin declares an entry point instead: the module docstring)."""
    _LOADERS[name] = loader


def known_formats() -> list[str]:
    """The plugin formats there are: installed entry points and formats registered at run time."""
    return sorted(set(format_entry_points()) | set(_LOADERS))


def plugin_loader(name: str) -> Callable:
    """The loader of the plugin format `name`: one registered at run time, else its entry point's, loaded now (the
    module docstring). ValueError for a name that is no plugin format; `MissingExtraError` (an ImportError) naming the
    format, the known formats and the extra to install when the plugin's module cannot be imported."""
    if name in _LOADERS:
        return _LOADERS[name]
    points = format_entry_points()
    if name not in points:
        raise ValueError(f"data_format={name!r} is not a plugin format; known plugin formats: {known_formats()} (a "
                         f"distribution adds one as an entry point of the group {ENTRY_POINT_GROUP!r}; this package's "
                         "own are declared when it is installed: pip install -e .).")
    point = points[name]
    try:
        loader = point.load()
    except ImportError as error:
        distribution = point.dist.name if point.dist is not None else "earthgptx-hf"
        needs = (f"; it needs the {' and '.join(f'`{extra}`' for extra in point.extras)} extra: pip install "
                 f"'{distribution}[{','.join(point.extras)}]'") if point.extras else ""
        raise MissingExtraError(f"data_format={name!r} ({point.value}) could not be imported ({error}){needs}. "
                                f"Known plugin formats: {known_formats()}.") from error
    if not callable(loader):
        raise TypeError(f"the entry point {name} = {point.value} of {ENTRY_POINT_GROUP!r} is a "
                        f"{type(loader).__name__}, not a loader(data_args, workdir).")
    return loader


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


__all__ = ["GeoDataArguments", "register_data_format", "plugin_loader", "known_formats", "format_entry_points",
           "PLUGIN_FORMATS", "ENTRY_POINT_GROUP", "WINDOW_UNITS", "WINDOW_SAMPLING", "ALPHA_BAND"]
