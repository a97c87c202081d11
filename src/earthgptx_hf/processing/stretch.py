"""The robust stretch of any numeric raster to 8 bits: percentiles of the finite values mapped to 0 and 255 (the
processor's rule for SAR, infrared and 16-bit optical; `earthgptx_hf.geo` computes the limits once per scene)."""

from __future__ import annotations

import numpy as np

DEFAULT_PERCENTILES = (2.0, 98.0)


def stretch_limits(array: np.ndarray, percentiles=DEFAULT_PERCENTILES) -> tuple[float, float] | None:
    """The robust stretch's `(low, high)`: the `percentiles` of the finite values of `array` (a strided sample of at
    most a million of them), or None when no value is finite. A scene computes them once over a decimated overview
    (`earthgptx_hf.geo`) and applies them to every tile with `apply_stretch`."""
    finite = np.isfinite(array)
    if not finite.any():
        return None
    sample = array[finite]
    if sample.size > 1_000_000:  # the percentiles of a strided sample are as good, and much cheaper
        sample = sample[:: sample.size // 1_000_000]
    low, high = (float(v) for v in np.percentile(sample, percentiles))  # Python floats: the arithmetic stays float32
    return low, high


def apply_stretch(array: np.ndarray, limits: tuple[float, float] | None) -> np.ndarray:
    """`array` stretched to uint8 so that `limits` = (low, high) map to 0 and 255 (clipped); non-finite values (and
    everything, when `limits` is None) become 0."""
    finite = np.isfinite(array)  # of the source values: a float64 beyond float32's range is bright, not no-data
    with np.errstate(over="ignore"):
        values = array.astype(np.float32, copy=False)
    if limits is None:
        return np.zeros(values.shape, np.uint8)
    low, high = limits
    if high <= low:  # a constant image
        out = np.zeros(values.shape, np.float32)
    else:
        if max(abs(low), abs(high)) > float(np.finfo(np.float32).max) / 4:  # float64 data beyond float32's range
            values = array.astype(np.float64)
        with np.errstate(over="ignore"):
            out = (values - low) * (255.0 / (high - low))
        out = np.clip(out, 0.0, 255.0, out=out)
    out[~finite] = 0.0
    return (out + 0.5).astype(np.uint8)


def robust_stretch(array: np.ndarray, percentiles=DEFAULT_PERCENTILES) -> tuple[np.ndarray, float]:
    """Stretches any numeric array to uint8 by robust percentiles of its finite values (`stretch_limits`, then
    `apply_stretch`).

    Returns:
        `(uint8 array of the same shape, fraction of non-finite values)`.
    """
    invalid_fraction = 1.0 - float(np.isfinite(array).mean()) if array.size else 0.0
    return apply_stretch(array, stretch_limits(array, percentiles)), invalid_fraction


__all__ = ["DEFAULT_PERCENTILES", "apply_stretch", "robust_stretch", "stretch_limits"]
