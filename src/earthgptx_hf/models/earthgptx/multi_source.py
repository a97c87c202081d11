"""Multi-source image normalisation (SPEC section 2.6): any optical, SAR or infrared raster to 8-bit RGB.

Accepted inputs: PIL images, file paths, binary file objects, numpy arrays and torch tensors, in uint8, uint16 (and
other integer types), bool, float16/32/64 (torch bfloat16 too).

Files open only as what they are (a format allow-list): TIFFs are read, with the `geo` extra, by `earthgptx_hf.geo`
(`geo.opening`: GeoTIFF/COG by its first bytes, with GDAL's one driver; 8/16-bit and float, 1 or 3 bands, a palette
expanded to its colours, no-data from the file's mask as NaN), whole, within `max_pixels`, keeping their CRS and
transform (`open_image`); a larger scene is tiled by `earthgptx_hf.geo`. Every other file is opened by PIL with
only `PIL_FORMATS` (PNG, JPEG, TIFF, BMP, GIF, WebP) enabled: a GDAL VRT or WMS description, an EPS (which PIL would
hand to Ghostscript) or any other format is refused naming the argument and the file.

Layout rule for arrays and tensors:
- `(H, W)` is one band; `(H, W, C)` with C = 1 or 3 is read as channels last when the first dimension is not 1 or 3.
- `(C, H, W)` with C = 1 or 3 is read as channels first when the last dimension is not 1, 3 or 4 (a plausible channel
  count).
- Anything else with a first dimension of 1 or 3 fits both and is refused as ambiguous: `(1, 640, 4)` (a 1x640 strip
  of 4 bands, or one 640x4 band?), `(3, 20, 3)` (3x20 RGB, or 3 bands of 20x3?). Pass a 2-D band, an array that only
  one reading fits, or a PIL image.
- Any other number of dimensions (1-D, 4-D, 5-D, ...) and empty arrays are refused.

Pixel rules:
- Single-channel images are replicated to three channels.
- uint8 (and bool) are kept as they are.
- Every other type (uint16, int, float: e.g. SAR amplitude or dB) is stretched by robust percentiles: the 2nd and
  98th percentiles of the finite pixels (all channels together, so colour balance is kept) map to 0 and 255.
- NaN and +-inf pixels (SAR no-data) are left out of the percentiles and set to 0 after the stretch, so they cannot
  poison the image; `NormalisedImage.invalid_fraction` says how many there were. An image with fewer than
  `min_valid_fraction` (`MIN_VALID_FRACTION` = 1 %) finite values (all-NaN, all-inf, a scene of almost only no-data)
  is refused instead of becoming a black image.
- Complex arrays (single-look complex SAR) are refused with a message that says to pass the amplitude (`np.abs`)
  (`ComplexImageError`, both a TypeError and a ValueError); `complex_to="amplitude"` converts them instead.
- More than three channels are rejected with a message that says how to choose bands, unless `channels` (the
  model's `input_bands`, for its band adapter) asks for exactly that many: an array or tensor of `channels` bands
  (`(H, W, N)` or `(C, H, W)` by the layout rule with N in place of 1 and 3) is kept with all N bands, stretched
  together as RGB is (one pair of percentiles over all bands: their relative brightness is kept).
- Images larger than `max_pixels` are rejected before their pixels are decoded (a clear error, not an out-of-memory);
  files that PIL cannot identify, that are truncated or that declare more pixels than PIL's decompression-bomb limit
  raise a `ValueError` naming the argument, the index in the batch and the path.

This module owns two rules that others call rather than copy: the layout rule (`image_size` gives the (height, width)
`normalise_image` will read, without converting any pixel) and the file rule (`open_image`: open, check `max_pixels`,
decode, with the errors above, for a path or a binary file object such as a download in an `io.BytesIO` whose `name`
is its URL). The image processor exposes both to the pipeline, whose saved remote code cannot import this package.

The result is 8-bit: the encoders are pretrained on 8-bit imagery, and the percentile stretch followed by 8-bit
quantisation is the usual display transform for 16-bit and float remote-sensing data.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from .configuration_earthgptx import package_extension

# --------------------------------------------------------------------------------------------------------------------
# The robust stretch of any numeric raster to 8 bits: percentiles of the finite values mapped to 0 and 255 (the
# processor's rule for SAR, infrared and 16-bit optical; `earthgptx_hf.geo` computes the limits once per scene).


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


DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: about 1.2 GB as float32 RGB
MIN_VALID_FRACTION = 0.01  # below 1 % finite pixels an image is no-data, not a scene
COMPLEX_TO = (None, "amplitude")
PIL_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP")  # the formats PIL may open for a file: an allow-list
_CHANNEL_COUNTS = (1, 3)  # what the model takes
_CHANNEL_LIKE = (1, 3, 4)  # what a last dimension may plausibly be (RGBA, 4-band stacks)
# what PIL raises while decoding broken files (truncated data, corrupt chunks, bad tile descriptors)
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error,
                  zlib.error)


@dataclass
class NormalisedImage:
    """An image as the processor uses it: `pixels` is `(H, W, 3)` uint8 (`(H, W, N)` for `channels` N)."""

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


def _source_label(source) -> str:
    """How errors name a file: its path, or the `name` of a file object (a URL for a download), repr'd."""
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", None)
    return f" ({name!r})" if isinstance(name, (str, bytes)) and name else ""


def _open_file(source, where: str) -> Image.Image:
    """`Image.open` of a path or a binary file object, with errors that name the argument and the source (the pixels
    are not decoded yet)."""
    label = where + _source_label(source)
    try:
        with warnings.catch_warnings():  # our own max_pixels check follows, before any pixel is decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(source, formats=PIL_FORMATS)
    except Image.DecompressionBombError as err:
        raise ValueError(
            f"{label} declares more pixels than PIL's decompression-bomb limit "
            f"(2 x PIL.Image.MAX_IMAGE_PIXELS = {2 * (Image.MAX_IMAGE_PIXELS or 0):,}): {err} Cut the scene into "
            "tiles, or, if the file is trusted, raise PIL.Image.MAX_IMAGE_PIXELS and the image processor's max_pixels."
        ) from None
    except UnidentifiedImageError as err:
        size = _byte_count(source)
        detail = "it is empty (0 bytes)" if size == 0 else f"PIL cannot identify its format ({size:,} bytes)"
        raise ValueError(f"{label} is not a readable image: {detail}. Files are opened only as PNG, JPEG, "
                         "(Geo)TIFF, BMP, GIF or WebP (a GDAL VRT or WMS description is refused); convert it, or pass "
                         "a numpy array.") from err
    except OSError as err:
        raise ValueError(f"{label} could not be opened: {err}") from err


def _byte_count(source) -> int:
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    position = source.tell()
    size = source.seek(0, os.SEEK_END)
    source.seek(position)
    return size


def _decode(image: Image.Image, where: str, label: str | None = None) -> None:
    """Decodes a lazily opened PIL image, naming the argument and the file when the data is broken."""
    try:
        image.load()
    except _DECODE_ERRORS as err:
        if label is None:
            source = getattr(image, "filename", "") or ""
            label = f"{where} ({source!r})" if source else where
        raise ValueError(f"{label} could not be decoded: {err or type(err).__name__}. The file is damaged or "
                         "truncated; re-download or re-export it.") from err


def _is_file_object(value) -> bool:
    return hasattr(value, "read") and hasattr(value, "seek")


def _as_raster(source):
    """The package's GeoTIFF reader (`earthgptx_hf.geo.raster`) when it reads `source`, else None: a checkpoint's code
    alone, or the package without its `geo` extra, reads TIFFs through PIL (`raster_reader_for`, registered by
    `earthgptx_hf/__init__.py`)."""
    reader_for = package_extension("raster_reader_for")
    return None if reader_for is None else reader_for(source)


def open_image(source, *, max_pixels: int = DEFAULT_MAX_PIXELS, argument: str = "images",
               index: int | None = None, channels: int = 3):
    """A path or a binary file object (an open file, an `io.BytesIO`; its `name`, when set, labels errors, e.g. the
    URL of a download) -> a decoded PIL image, its mode kept (16-bit and single-channel stay as they are).

    Rasters (the module docstring) come back as an `earthgptx_hf.geo.GeoreferencedArray`, `(H, W)` or `(H, W, 3)`:
    uint8 with no-data 0, or float32 with no-data NaN; other band counts are refused (choose them with
    `earthgptx_hf.geo.read_raster_image(path, bands=...)`), except exactly `channels` bands when it is not 3.

    The declared size is checked against `max_pixels` before any pixel is decoded. Raises ValueError naming the
    argument, the index and the source when the file is missing, empty, not an image, a decompression bomb, too large
    or damaged.
    """
    where = _name(argument, index)
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise ValueError(f"{where} is the path {os.fspath(source)!r}, which is not a file.")
    elif not _is_file_object(source):
        raise TypeError(f"{where} must be a path or a binary file object, got {type(source).__name__}.")
    elif hasattr(source, "seekable") and not source.seekable():
        raise ValueError(f"{where}{_source_label(source)} is a stream that cannot seek; pass a path, or read it into "
                         "an io.BytesIO first.")
    raster = _as_raster(source)
    if raster is not None:
        if channels == 3:
            return raster.read_raster_image(source, max_pixels=max_pixels, where=where)
        return raster.read_raster_image(source, max_pixels=max_pixels, where=where, channels=channels)
    try:
        image = _open_file(source, where)
    except ValueError as error:
        # a TIFF reaches PIL only where the package's reader (the `geo` extra) is absent
        if str(getattr(source, "name", source)).lower().endswith((".tif", ".tiff")):
            raise ValueError(f"{error} Reading GeoTIFFs (float, multi-band, no-data, georeference) needs the `geo` "
                             "extra: pip install 'earthgptx-hf[geo]'") from error
        raise
    try:
        _check_pixels(image.height, image.width, max_pixels, where)
        _decode(image, where, where + _source_label(source))
    except BaseException:
        image.close()
        raise
    return image  # PIL closes a file it opened itself once a single-frame image is decoded


def _pil_to_array(image: Image.Image, where: str = "images") -> np.ndarray:
    _decode(image, where)
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
    raise ValueError(f"{where} is a PIL image of mode {mode!r}, which is not supported; convert it to 'RGB', 'L', "
                     "'I;16' or 'F'.")


def _tensor_to_array(tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16
        tensor = tensor.float()
    if tensor.is_complex():
        tensor = tensor.resolve_conj()
    return tensor.resolve_neg().numpy()


def _channels_first(shape: tuple, where: str, channels: int = 3) -> bool:
    """The layout rule (see the module docstring): whether a 2-D or 3-D shape is `(C, H, W)`; raises ValueError for
    the shapes it refuses (other dimension counts, ambiguous layouts, channel counts other than 1 or 3, or other
    than `channels` when it is not 3)."""
    if channels != 3:
        return _bands_first(shape, where, channels)
    if len(shape) == 2:
        return False
    if len(shape) != 3:
        raise ValueError(
            f"{where} must be 2-D (H, W) or 3-D (H, W, C) / (C, H, W), got an array of shape {shape}."
        )
    first, last = shape[0], shape[-1]
    if last in _CHANNEL_COUNTS and first not in _CHANNEL_COUNTS:
        return False
    if first in _CHANNEL_COUNTS and last not in _CHANNEL_LIKE:
        return True
    # e.g. (1, 640, 4): a 1x640 strip of 4 bands, or one 640x4 band? (3, 20, 3): 3x20 RGB, or 3 bands of 20x3?
    if first in _CHANNEL_COUNTS:
        raise ValueError(
            f"{where} has the ambiguous shape {shape}: it reads as {first}x{shape[1]} pixels of {last} bands "
            f"(H, W, C) or as {first} band(s) of {shape[1]}x{last} pixels (C, H, W). Pass a 2-D (H, W) band, a PIL "
            f"image, or an array only one reading fits (e.g. `np.moveaxis(image, 0, -1)` of a channels-first stack "
            f"whose height is not 1 or 3)."
        )
    channels = min(first, last)
    raise ValueError(
        f"{where} has {channels} channels (shape {shape}); EarthGPT-X takes 1 (SAR, infrared, "
        "panchromatic) or 3 (RGB) channels. Choose the bands first, e.g. `image[..., [3, 2, 1]]` for the true-colour "
        "bands of a Sentinel-2 (H, W, C) stack, or `image[0]` for one SAR polarisation of a (C, H, W) stack."
    )


def _bands_first(shape: tuple, where: str, channels: int) -> bool:
    """The layout rule for `channels` bands (not 3): `(H, W, N)` or `(N, H, W)`, the one dimension that is N."""
    if len(shape) == 3 and (shape[-1] == channels) != (shape[0] == channels):
        return shape[0] == channels
    if len(shape) == 3 and shape[0] == shape[-1] == channels:
        raise ValueError(f"{where} has the ambiguous shape {shape}: both its first and last dimensions could be its "
                         f"{channels} bands. Pass an array only one reading fits.")
    raise ValueError(f"{where} has shape {shape}, but the model takes input_bands={channels} bands: give an (H, W, "
                     f"{channels}) or ({channels}, H, W) array or tensor (choose the bands first, e.g. "
                     f"`image[..., bands]`).")


def _to_hwc(array: np.ndarray, where: str, channels: int = 3) -> np.ndarray:
    """`(H, W)`, `(H, W, C)` or an unambiguous `(C, H, W)` -> `(H, W, C)` with C in {1, 3} (or C = `channels`)."""
    if _channels_first(tuple(array.shape), where, channels):
        return np.moveaxis(array, 0, -1)
    return array[..., None] if array.ndim == 2 else array


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def image_size(image, *, argument: str = "images", index: int | None = None, channels: int = 3) -> tuple[int, int]:
    """`(height, width)` of an image as `normalise_image` reads it, without converting any pixel: a PIL image's size,
    a file's declared size (its header only), the layout rule for numpy arrays and torch tensors.

    Raises the ValueError `normalise_image` raises for a layout it refuses (1-D or 4-D arrays, ambiguous or
    unsupported channel layouts, empty images) and for files it cannot open. `channels`: as for `normalise_image`.
    """
    where = _name(argument, index)
    if isinstance(image, (str, os.PathLike)):
        if not os.path.isfile(image):
            raise ValueError(f"{where} is the path {os.fspath(image)!r}, which is not a file.")
        raster = _as_raster(image)
        if raster is not None:
            height, width = raster.raster_size(image, where)
        else:
            with _open_file(image, where) as opened:
                height, width = opened.height, opened.width
    elif isinstance(image, Image.Image):
        height, width = image.height, image.width
    elif isinstance(image, np.ndarray) or _is_tensor(image):
        shape = tuple(int(v) for v in image.shape)
        channels_first = _channels_first(shape, where, channels)
        height, width = shape[1:3] if channels_first else shape[:2]
    else:
        raise TypeError(
            f"{where} must be a PIL image, a file path, a numpy array or a torch tensor, got {type(image).__name__}."
        )
    if height < 1 or width < 1:
        raise ValueError(f"{where} is empty (height {height}, width {width}).")
    return height, width


class ComplexImageError(TypeError, ValueError):
    """A complex (SLC) image where real pixels are needed: a TypeError (the array's type is wrong) that is also a
    ValueError, so that commands which report bad input (`except ValueError`) report it too."""

    def __init__(self, where: str, dtype):
        super().__init__(
            f"{where} is complex ({dtype}), e.g. single-look complex SAR; EarthGPT-X takes real pixels. Pass the "
            "amplitude, `np.abs(image)` (or `image.abs()` for a tensor), or set the image processor's "
            "complex_to='amplitude' (ScenePredictor / RasterScene: complex_to='amplitude').")


def check_valid_fraction(valid: float, min_valid_fraction: float, where: str, kind: str = "finite",
                         invalid: str = "NaN or inf, read as no-data") -> None:
    """The no-data rule: refuses an image with less than `min_valid_fraction` of valid pixels (`valid`, a fraction;
    `kind` and `invalid` say what valid and invalid mean for the message)."""
    if valid < min_valid_fraction:
        raise ValueError(
            f"{where} has only {valid:.2%} {kind} pixels ({1 - valid:.2%} {invalid}); at least "
            f"min_valid_fraction={min_valid_fraction:g} ({min_valid_fraction:.0%}) must be valid. Crop the scene "
            "to its valid area, or fill the no-data first."
        )


def _check_complex_to(complex_to) -> None:
    if complex_to not in COMPLEX_TO:
        raise ValueError(f"complex_to={complex_to!r} is not one of {list(COMPLEX_TO)} (None refuses complex images, "
                         "'amplitude' takes their modulus).")


def check_min_valid_fraction(min_valid_fraction) -> float:
    """`min_valid_fraction` as a float in [0, 1], or a ValueError naming it."""
    try:
        value = float(min_valid_fraction)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(min_valid_fraction, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f"min_valid_fraction={min_valid_fraction!r} must be a number between 0 and 1 (the least "
                         f"fraction of finite pixels an image must have; default {MIN_VALID_FRACTION}).")
    return value


def normalise_image(
    image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    percentiles=DEFAULT_PERCENTILES,
    argument: str = "images",
    index: int | None = None,
    min_valid_fraction: float = MIN_VALID_FRACTION,
    complex_to: str | None = None,
    channels: int = 3,
) -> NormalisedImage:
    """Converts one image of any supported kind to `(H, W, 3)` uint8 (see the module docstring for the layout and
    pixel rules).

    Args:
        argument, index: how errors name the image (`images[2]`).
        min_valid_fraction: the least fraction of finite values (NaN / inf are no-data) an image must have (1 %).
        complex_to: None refuses complex (SLC) arrays; "amplitude" takes their modulus, `np.abs(image)`.
        channels: 3 (RGB; one band is replicated), or the model's `input_bands` N: an array or tensor of N bands
            gives `(H, W, N)` uint8 (a GeoTIFF of N bands too; other files have 1 or 3 and are refused).
    """
    where = _name(argument, index)
    _check_complex_to(complex_to)
    min_valid_fraction = check_min_valid_fraction(min_valid_fraction)
    channels_last = False
    if isinstance(image, (str, os.PathLike)) or _is_file_object(image):
        opened = open_image(image, max_pixels=max_pixels, argument=argument, index=index, channels=channels)
        if isinstance(opened, np.ndarray):  # a raster (GeoTIFF), read by the geo extra: (H, W) or (H, W, 3), no
            array = opened if opened.ndim == 3 else opened[..., None]  # layout to guess (a 1x1 RGB raster included)
            channels_last = True
        else:
            with opened:
                array = _pil_to_array(opened, where)
    elif isinstance(image, Image.Image):
        _check_pixels(image.height, image.width, max_pixels, where)
        array = _pil_to_array(image, where)
    elif isinstance(image, np.ndarray):
        array = image
    elif _is_tensor(image):
        array = _tensor_to_array(image)
    else:
        raise TypeError(
            f"{where} must be a PIL image, a file path, a binary file object, a numpy array or a torch tensor, got "
            f"{type(image).__name__}."
        )
    if np.iscomplexobj(array):
        if complex_to is None:
            raise ComplexImageError(where, array.dtype)
        array = np.abs(array)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{where} has dtype {array.dtype}; expected uint8, uint16, int, bool or float pixels.")
    array = array if channels_last else _to_hwc(array, where, channels)
    height, width, source_channels = array.shape
    _check_pixels(height, width, max_pixels, where)
    source_dtype = str(array.dtype)
    invalid = 0.0
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.bool_:
        pixels = array.astype(np.uint8) * 255
    else:
        pixels, invalid = robust_stretch(array, percentiles)
        check_valid_fraction(1.0 - invalid, min_valid_fraction, where)
    if source_channels == 1 and channels == 3:
        pixels = np.repeat(pixels, 3, axis=-1)
    return NormalisedImage(np.ascontiguousarray(pixels), source_dtype, source_channels, invalid)


__all__ = ["DEFAULT_PERCENTILES", "apply_stretch", "robust_stretch", "stretch_limits", "NormalisedImage",
           "normalise_image", "image_size", "open_image", "check_min_valid_fraction", "check_valid_fraction",
           "ComplexImageError", "PIL_FORMATS", "DEFAULT_MAX_PIXELS", "MIN_VALID_FRACTION", "COMPLEX_TO"]
