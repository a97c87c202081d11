"""Which bands of a multi-band scene the model sees: presets, band names, and the alpha-band trap.

    scene = open_training_scene("S2.tif", band_preset="sentinel2_false_colour")   # NIR, red, green

- `bands`: 1-based band numbers or names from the file's band descriptions ('4,3,2', 'red,green,blue'), as
  `raster.select_bands` reads them.
- `band_preset` (`BAND_PRESETS`): a named triple, found by the file's band descriptions when it has them (`B04`,
  `B4`, `SR_B4`, ... match band 4 of the sensor), else by the sensor's band order when the band count is one of that
  sensor's (Sentinel-2 L1C has 13 bands, L2A 12 or 13; Landsat 8/9 OLI/TIRS 7 to 11).
- The alpha-band trap: GDAL tags band 4 of a 4-band uint8 GeoTIFF written with its defaults as alpha, so a
  near-infrared band is read as a no-data mask. A band tagged alpha is refused (`alpha_band="refuse"`, the default),
  naming the band and the two ways on: `alpha_band="data"` reads it as data (no-data then comes from the file's
  nodata value only) and `alpha_band="mask"` takes it as the transparency mask GDAL says it is.
"""

from __future__ import annotations

import re

import numpy as np
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from .opening import gdal_env, open_raster
from .raster import RasterScene, bands_last_with_nodata

# preset -> (sensor, (band numbers of the triple in the sensor's band order), band counts of that order)
SENTINEL2 = ("Sentinel-2", (12, 13))
LANDSAT89 = ("Landsat 8/9", (7, 8, 9, 10, 11))
BAND_PRESETS = {
    "sentinel2_true_colour": (SENTINEL2, (4, 3, 2)),  # B4 red, B3 green, B2 blue
    "sentinel2_false_colour": (SENTINEL2, (8, 4, 3)),  # B8 NIR, B4 red, B3 green
    "landsat8_true_colour": (LANDSAT89, (4, 3, 2)),  # OLI B4 red, B3 green, B2 blue
    "landsat8_false_colour": (LANDSAT89, (5, 4, 3)),  # OLI B5 NIR, B4 red, B3 green
}
BAND_PRESETS.update({name.replace("landsat8", "landsat9"): value for name, value in list(BAND_PRESETS.items())
                     if name.startswith("landsat8")})


def _band_number(description: str) -> int | None:
    """The sensor band number a description names ('B04', 'B4', 'SR_B4', 'band4'), else None."""
    match = re.fullmatch(r"(?:SR_|ST_)?B(?:AND)?_?0*(\d+)", description.strip().upper())
    return int(match.group(1)) if match else None


def preset_bands(dataset, preset: str) -> tuple[int, ...]:
    """The 1-based band numbers of `preset` in `dataset` (the module docstring), or a ValueError naming the preset,
    the raster's bands and what is valid."""
    if preset not in BAND_PRESETS:
        raise ValueError(f"band_preset={preset!r} is not a preset; valid: {sorted(BAND_PRESETS)}.")
    (sensor, counts), wanted = BAND_PRESETS[preset]
    by_description = {}
    for index, description in enumerate(dataset.descriptions, start=1):
        number = _band_number(description) if description else None
        if number is not None and number not in by_description:
            by_description[number] = index
    if all(band in by_description for band in wanted):
        return tuple(by_description[band] for band in wanted)
    if dataset.count in counts:
        return tuple(wanted)
    raise ValueError(f"band_preset={preset!r} needs a {sensor} raster: band descriptions naming bands {wanted} "
                     f"(e.g. 'B{wanted[0]:02d}') or {'/'.join(map(str, counts))} bands in the sensor's order; the "
                     "raster "
                     f"has {dataset.count} band(s) described {list(dataset.descriptions)}. Give bands= instead.")


def alpha_bands(dataset) -> list[int]:
    return [i for i, interp in enumerate(dataset.colorinterp, start=1) if interp == ColorInterp.alpha]


class DataAlphaScene(RasterScene):
    """A `RasterScene` whose band tagged alpha is data (`alpha_band="data"`): no-data comes from the file's nodata
    value and non-finite floats only, never from the alpha band."""

    def read(self, window=None, out_shape=None):
        window = window or Window(0, 0, self.width, self.height)
        shape = out_shape or (int(window.height), int(window.width))
        try:
            with gdal_env():
                values = self.dataset.read(self.bands, window=window, out_shape=(len(self.bands), *shape),
                                           resampling=Resampling.nearest)
        except RasterioIOError as error:
            raise ValueError(f"{self.where} could not be decoded: {error}.") from error
        valid = np.ones(shape, bool)
        for k, band in enumerate(self.bands):
            nodata = self.dataset.nodatavals[band - 1]
            if nodata is not None:
                valid &= ~(np.isnan(values[k]) if np.isnan(nodata) else values[k] == nodata)
        return bands_last_with_nodata(values, valid)


def open_training_scene(path, bands=None, band_preset: str | None = None, alpha_band: str = "refuse",
                        argument: str = "scenes", channels: int = 3) -> RasterScene:
    """A `RasterScene` of `path` with its bands chosen by `bands` or `band_preset` and the alpha-band rule of the
    module docstring. `channels`: the model's `input_bands` (N bands read, for its band adapter; presets are band
    triples, for 3). Raises ValueError naming the scene, the option and what is valid."""
    if channels != 3 and band_preset is not None:
        raise ValueError(f"band_preset={band_preset!r} chooses 3 bands, but the model takes input_bands={channels}: "
                         f"give bands= ({channels} band numbers or names).")
    if alpha_band not in ("refuse", "data", "mask"):
        raise ValueError(f"alpha_band={alpha_band!r} is not one of ['refuse', 'data', 'mask'].")
    if bands is not None and band_preset is not None:
        raise ValueError(f"bands={bands!r} and band_preset={band_preset!r} both choose the bands; give one.")
    scene = RasterScene(path, bands=bands, argument=argument, channels=channels) if band_preset is None \
        else _preset_scene(path, band_preset, argument)
    alpha = alpha_bands(scene.dataset)
    if alpha and alpha_band == "refuse":
        scene.close()
        raise ValueError(
            f"{scene.where}: band {alpha[0]} of its {scene.dataset.count} is tagged alpha. GDAL tags band 4 of a "
            "4-band uint8 GeoTIFF written with its defaults as alpha, so a near-infrared band would be read as a "
            "no-data mask. Say which it is: alpha_band=data (read it as data; choose bands, e.g. bands='4,1,2' or "
            "'1,2,3') or alpha_band=mask (a real transparency mask).")
    if alpha and alpha_band == "data":
        chosen = scene.bands
        scene.close()
        scene = DataAlphaScene(path, bands=chosen, argument=argument, channels=channels)
    return scene


def _preset_scene(path, preset: str, argument: str) -> RasterScene:
    with open_raster(path, argument) as dataset:
        chosen = preset_bands(dataset, preset)
    return RasterScene(path, bands=chosen, argument=argument)


__all__ = ["BAND_PRESETS", "preset_bands", "open_training_scene", "alpha_bands", "DataAlphaScene"]
