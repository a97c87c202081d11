"""Multi-source image normalisation (SPEC section 2.6): any optical, SAR or infrared raster to 8-bit RGB.

Accepted inputs: PIL images, file paths, numpy arrays (HxW, HxWx1, HxWx3, 1xHxW, 3xHxW) and torch tensors of the same
layouts, in uint8, uint16 (and other integer types), bool, float32 or float64.

- Single-channel images are replicated to three channels.
- uint8 (and bool) are kept as they are.
- Every other type (uint16, int, float: e.g. SAR amplitude or dB) is stretched by robust percentiles: the 2nd and
  98th percentiles of the finite pixels (all channels together, so colour balance is kept) map to 0 and 255.
- NaN and +-inf pixels (SAR no-data) are left out of the percentiles and set to 0 after the stretch, so they cannot
  poison the image; `NormalisedImage.invalid_fraction` says how many there were.
- More than three channels are rejected with a message that says how to choose bands.
- Images larger than `max_pixels` are rejected before their pixels are decoded (a clear error, not an out-of-memory).

The result is 8-bit: the encoders are pretrained on 8-bit imagery, and the percentile stretch followed by 8-bit
quantisation is the usual display transform for 16-bit and float remote-sensing data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: about 1.2 GB as float32 RGB
DEFAULT_PERCENTILES = (2.0, 98.0)


@dataclass
class NormalisedImage:
    """An image as the processor uses it: `pixels` is `(H, W, 3)` uint8."""

    pixels: np.ndarray
    source_dtype: str
    source_channels: int
    invalid_fraction: float = 0.0

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self.pixels.shape[0], self.pixels.shape[1]


def _name(argument: str, index: int | None) -> str:
    return argument if index is None else f"{argument}[{index}]"


def _check_pixels(height: int, width: int, max_pixels: int, where: str) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"{where} is empty (height {height}, width {width}).")
    if height * width > max_pixels:
        raise ValueError(
            f"{where} has {height}x{width} = {height * width:,} pixels, more than max_pixels={max_pixels:,}. Cut the "
            "scene into tiles first, or raise the image processor's max_pixels if the memory allows."
        )


def _pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("RGB", "L", "F", "I", "I;16", "I;16B", "I;16L"):
        array = np.asarray(image)
        if mode.startswith("I;16"):
            array = array.astype(np.uint16)
        return array
    if mode == "1":
        return np.asarray(image.convert("L"))
    if mode in ("RGBA", "LA", "P", "PA", "CMYK", "YCbCr", "HSV", "LAB", "RGBX"):
        # colour models and alpha: the visible colours, as RGB
        return np.asarray(image.convert("RGB"))
    raise ValueError(f"PIL image mode {mode!r} is not supported; convert it to 'RGB', 'L', 'I;16' or 'F'.")


def _to_hwc(array: np.ndarray, where: str) -> np.ndarray:
    if array.ndim == 2:
        return array[..., None]
    if array.ndim != 3:
        raise ValueError(
            f"{where} must be 2-D (H, W) or 3-D (H, W, C) / (C, H, W), got an array of shape {tuple(array.shape)}."
        )
    if array.shape[-1] in (1, 3):
        return array
    if array.shape[0] in (1, 3):
        return np.moveaxis(array, 0, -1)
    channels = min(array.shape[0], array.shape[-1])
    raise ValueError(
        f"{where} has {channels} channels (shape {tuple(array.shape)}); EarthGPT-X takes 1 (SAR, infrared, "
        "panchromatic) or 3 (RGB) channels. Choose the bands first, e.g. `image[..., [3, 2, 1]]` for the true-colour "
        "bands of a Sentinel-2 (H, W, C) stack, or `image[0]` for one SAR polarisation of a (C, H, W) stack."
    )


def robust_stretch(array: np.ndarray, percentiles=DEFAULT_PERCENTILES) -> tuple[np.ndarray, float]:
    """Stretches any numeric array to uint8 by robust percentiles of its finite values.

    Returns:
        `(uint8 array of the same shape, fraction of non-finite values)`.
    """
    values = array.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    invalid_fraction = 1.0 - float(finite.mean()) if values.size else 0.0
    if not finite.any():
        return np.zeros(values.shape, np.uint8), invalid_fraction
    sample = values[finite]
    if sample.size > 1_000_000:  # the percentiles of a strided sample are as good, and much cheaper
        sample = sample[:: sample.size // 1_000_000]
    low, high = np.percentile(sample, percentiles)
    scale = 255.0 / (high - low) if high > low else 0.0
    out = (values - low) * scale
    out = np.clip(out, 0.0, 255.0, out=out)
    out[~finite] = 0.0
    return (out + 0.5).astype(np.uint8), invalid_fraction


def normalise_image(
    image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    percentiles=DEFAULT_PERCENTILES,
    argument: str = "images",
    index: int | None = None,
) -> NormalisedImage:
    """Converts one image of any supported kind to `(H, W, 3)` uint8 (see the module docstring)."""
    where = _name(argument, index)
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not os.path.isfile(path):
            raise ValueError(f"{where} is the path {path!r}, which is not a file.")
        image = Image.open(path)
    if isinstance(image, Image.Image):
        _check_pixels(image.height, image.width, max_pixels, where)
        array = _pil_to_array(image)
    elif isinstance(image, np.ndarray):
        array = image
    elif type(image).__module__.startswith("torch") and hasattr(image, "detach"):
        array = image.detach().cpu().numpy()
    else:
        raise TypeError(
            f"{where} must be a PIL image, a file path, a numpy array or a torch tensor, got {type(image).__name__}."
        )
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{where} has dtype {array.dtype}; expected uint8, uint16, int, bool or float pixels.")
    array = _to_hwc(array, where)
    height, width, channels = array.shape
    _check_pixels(height, width, max_pixels, where)
    source_dtype = str(array.dtype)
    invalid = 0.0
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.bool_:
        pixels = array.astype(np.uint8) * 255
    else:
        pixels, invalid = robust_stretch(array, percentiles)
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return NormalisedImage(np.ascontiguousarray(pixels), source_dtype, channels, invalid)


__all__ = ["NormalisedImage", "normalise_image", "robust_stretch", "DEFAULT_MAX_PIXELS", "DEFAULT_PERCENTILES"]
