"""Ground sample distance: metres per pixel from a raster's transform and its CRS's linear unit, and the window
sizes that follow from it (`window_size` in pixels or metres, `target_gsd` resampling).

A scene's GSD is known when it has a projected CRS (its linear unit converted to metres: `CRS.linear_units_factor`);
a scene without a CRS, or in a geographic CRS (degrees, whose ground size changes with latitude), has none, and the
options that need one (`window_unit: metres`, `target_gsd`) refuse it, naming the scene.
"""

from __future__ import annotations

import math


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


__all__ = ["scene_gsd", "require_gsd", "window_shapes"]
