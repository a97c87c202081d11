"""The scene the app works on: an uploaded file (PNG, JPEG, TIFF / GeoTIFF, including 16-bit single-band SAR and
infrared) or a held-out procedural demo scene.

    scene = read_upload("s1_vv.tif")          # scene.image goes to the pipeline as read (uint16 stays uint16)
    scene.display                             # (H, W, 3) uint8: the processor's percentile stretch
    scene.modality                            # a guess ("sar"), which the app lets the user change
    scene = demo_scene(3, "infrared")         # a procedural scene no training run has seen (SYNTHETIC)

Reading and stretching belong to `models/earthgptx/multi_source.py` (`open_image`, `normalise_image`): the app shows the
image exactly as the model sees it.

Uploads are untrusted (the app is a server): they are opened only as PNG, JPEG or (Geo)TIFF (`open_image`'s format
allow-list; a VRT or WMS description named `.tif` is refused, so no upload reads another file of the server or a
URL), at most `MAX_UPLOAD_BYTES` on disk (Gradio's `max_file_size` refuses larger ones before they are stored) and
at most `MAX_UPLOAD_PIXELS` decoded pixels, checked from the header before any pixel is decoded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..data.procedural import MODALITIES, generate_scene
from ..models.earthgptx.multi_source import normalise_image, open_image
from ..models.earthgptx.visual_prompts import rle_to_mask

UPLOAD_TYPES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MAX_UPLOAD_BYTES = 64 * 2**20  # 64 MiB, the pipeline's URL cap; Gradio's max_file_size
MAX_UPLOAD_PIXELS = 25_000_000  # 5,000 x 5,000: a 16-bit scene this size takes well under 1 GB to display
DEMO_SCENE_SIZE = 64  # the demo checkpoint's scenes (`earthgptx_hf.tools.demo`: 64x64, 2-3 objects, object scale 1)
DEMO_SEED_OFFSET = 1_000_000  # demo scenes come from seeds no training run uses (those draw from seed 0's stream)
SPECKLE_RATIO = 0.2  # median neighbour difference / median level above which a single band reads as SAR speckle


@dataclass
class Scene:
    """One image: `image` as the pipeline receives it, `display` its 8-bit RGB stretch, a `modality`, and for demo
    scenes the `truth` (`[(category, bbox, mask)]`) to compare the answers with."""

    image: object
    display: np.ndarray
    modality: str
    name: str
    source_dtype: str
    source_channels: int
    truth: list = field(default_factory=list)
    georeference: object | None = None  # `earthgptx_hf.geo.Georeference` of a georeferenced file (CRS, transform)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self.display.shape[0], self.display.shape[1]

    def describe(self) -> str:
        """One Markdown line: name, size, pixel type, bands, modality (and the truth of a demo scene)."""
        height, width = self.size
        bands = "1 band" if self.source_channels == 1 else f"{self.source_channels} bands"
        text = f"**{self.name}**: {width}x{height}, {self.source_dtype}, {bands}; modality guessed: {self.modality}"
        if self.georeference is not None:
            text += "; georeferenced"
        if self.truth:
            text += ". Objects (truth, synthetic scene): " + ", ".join(
                f"{category} {list(bbox)}" for category, bbox, _ in self.truth)
        return text


def guess_modality(band: np.ndarray | None, source_channels: int) -> str:
    """A guess the user corrects in the app: three bands are optical; one band is SAR when it is speckled, else
    infrared (thermal images are smooth). Speckle is multiplicative: neighbouring pixels differ by a good part of their
    level, so the median |x[i, j+1] - x[i, j]| over the median level is above `SPECKLE_RATIO` (values shifted so that
    their 1st percentile is 0 first, for dB or other signed data)."""
    if source_channels == 3 or band is None:
        return "optical"
    band = np.asarray(band, np.float64)
    band = band[..., 0] if band.ndim == 3 else band
    if band.shape[1] < 2 or not np.isfinite(band).any():
        return "infrared"
    band = np.where(np.isfinite(band), band, np.nan)
    band = band - np.nanpercentile(band, 1)
    level = float(np.nanmedian(band))
    difference = float(np.nanmedian(np.abs(np.diff(band, axis=1))))
    return "sar" if level > 0 and difference / level > SPECKLE_RATIO else "infrared"


def _scene(image, name: str, truth=(), georeference=None) -> Scene:
    normalised = normalise_image(image, argument="image")
    band = np.asarray(image) if normalised.source_channels == 1 else None  # the source values, for the texture
    return Scene(image=image, display=normalised.pixels, modality=guess_modality(band, normalised.source_channels),
                 name=name, source_dtype=normalised.source_dtype, source_channels=normalised.source_channels,
                 truth=list(truth), georeference=georeference)


def read_upload(path, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS) -> Scene:
    """An uploaded file -> a `Scene` (ValueError naming the file and the limit when it cannot be read or is too
    large: `max_bytes` on disk, `max_pixels` decoded, from its header before any pixel is decoded)."""
    name = os.path.basename(os.fspath(path))
    if not name.lower().endswith(UPLOAD_TYPES):
        raise ValueError(f"{name!r} is not a file the app reads: upload one of {', '.join(UPLOAD_TYPES)}.")
    if os.path.islink(path) or not os.path.isfile(path):
        raise ValueError(f"{name!r} is not a regular file (an upload is never a link).")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ValueError(f"{name!r} is {size:,} bytes; the app takes uploads of at most {max_bytes:,} bytes.")
    try:  # a GeoTIFF comes back with its georeference (the `geo` extra)
        image = open_image(path, argument="image", max_pixels=max_pixels)
    except ValueError as error:
        if "max_pixels" in str(error):
            raise ValueError(f"{name!r} is larger than the app takes: {error} The app's limit is {max_pixels:,} "
                             "pixels; run larger scenes with earthgptx-predict, which reads them window by "
                             "window.") from None
        raise
    georeference = getattr(image, "georeference", None)
    if georeference is not None and not georeference.is_georeferenced:
        georeference = None
    return _scene(image, name, georeference=georeference)


def demo_scene(index: int, modality: str | None = None) -> Scene:
    """Held-out demo scene number `index` (the same index gives the same scene): a procedural scene (SYNTHETIC, as the
    demo checkpoint was trained on) of `modality`, or of each modality in turn when None."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index={index!r} must be a whole number at least 0.")
    modality = MODALITIES[index % len(MODALITIES)] if modality is None else modality
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r} is not one of {list(MODALITIES)}.")
    rng = np.random.default_rng(DEMO_SEED_OFFSET + index)
    pixels, objects = generate_scene(rng, modality, size=DEMO_SCENE_SIZE, num_objects=(2, 3), object_scale=1.0)
    truth = [(o.category, o.bbox, rle_to_mask(o.mask)) for o in objects]
    scene = _scene(pixels, f"demo scene {index} ({modality}, synthetic)", truth)
    scene.modality = modality  # known, not guessed
    return scene


__all__ = ["Scene", "read_upload", "demo_scene", "guess_modality", "UPLOAD_TYPES", "DEMO_SCENE_SIZE",
           "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS"]
