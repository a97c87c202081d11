"""Training-image augmentation on `AnnotatedImage`s: region crops (zoom-in) and flips, with the annotations moved
exactly, so that the prompts built from them (`tasks.py`) stay on their objects.

- `region_crops`: small objects are few pixels in the model's views (an infrared person is ~15 px in a 640-px
  frame, ~3 px in the `small` preset's 112-px global view). A crop around one object (a square with `context` times
  the object's larger side on each side, at least `min_size` pixels, shifted to lie inside the image) is written as
  a new image at full resolution; the processor then resizes it to the model's views, so the object is seen larger.
  The crop's pixels are copied, not resampled: boxes, points and polygons are shifted and clipped, masks cut,
  all exactly. An object cut by the crop boundary is kept (clipped) when at least `keep_fraction` of its box area
  lies inside, else dropped and counted ("cut by crop"); objects wholly outside are counted as "outside crop".
- `flipped_copies`: horizontal and / or vertical mirror copies; x -> W - x (y -> H - y) maps pixel edges to pixel
  edges and pixel centres to pixel centres, so boxes, points, polygons and masks (mirrored arrays) stay exact.
  Human-written text that names a direction ("left", "upper", ...) would be wrong after a flip: such referring
  expressions and captions are removed from the copy and counted.

Both return the new images and a dict of counts for data_report.json; the input images are left as they are.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..models.earthgptx.image_geometry import clip_polygon
from ..models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask
from .annotations import AnnotatedImage, ObjectAnnotation, clip_box

FLIP_AXES = {"none": (), "horizontal": ("horizontal",), "vertical": ("vertical",),
             "both": ("horizontal", "vertical")}
DIRECTION_WORDS = {
    "horizontal": re.compile(r"\b(left|right|east|west|leftmost|rightmost)\b", re.I),
    "vertical": re.compile(r"\b(top|bottom|upper|lower|above|below|north|south|topmost|bottommost)\b", re.I),
}
CROP_CONTEXT = 1.5  # context on each side of a crop, in object sizes (training crops and zoom-in evaluation)
CROP_MIN_SIZE = 96  # the smallest crop side, in pixels
# PIL modes a PNG holds without conversion; anything else (e.g. 32-bit float) is written as TIFF
PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16")


def _save(pixels: Image.Image, path_without_suffix: Path) -> str:
    png = pixels.mode in PNG_MODES
    path = path_without_suffix.with_name(path_without_suffix.name + (".png" if png else ".tif"))
    path.parent.mkdir(parents=True, exist_ok=True)
    # written aside and renamed: under data parallelism every process writes the same files, and one that is already
    # training must never read a half-written one
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    pixels.save(partial, format="PNG" if png else "TIFF")
    os.replace(partial, path)
    return str(path)


def open_pixels(path) -> Image.Image | None:
    """The image file at `path`, loaded, or None when it cannot be read."""
    try:
        image = Image.open(path)
        image.load()
        return image
    except OSError:
        return None


def crop_window(box, width: int, height: int, context: float, min_size: int) -> tuple[int, int, int, int]:
    """Integer crop `(x0, y0, x1, y1)` around `box`: a square of side max(min_size, (1 + 2 context) x the box's
    larger side), centred on the box, shrunk to the image where it is larger and shifted to lie inside it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(float(min_size), (1 + 2 * context) * max(x2 - x1, y2 - y1))
    out = []
    for low, high, size in ((x1, x2, width), (y1, y2, height)):
        length = min(size, int(math.ceil(side)))
        start = int(math.floor((low + high) / 2 - length / 2))
        start = min(max(0, start), size - length)
        out.append((start, start + length))
    (cx0, cx1), (cy0, cy1) = out
    return cx0, cy0, cx1, cy1


def _box_area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def crop_object(obj: ObjectAnnotation, window, keep_fraction: float, image_size: tuple[int, int]):
    """`obj` in the coordinates of the crop `window` = (x0, y0, x1, y1), or the reason it is not kept ("outside
    crop", "cut by crop"). `image_size` = (width, height) of the uncropped image (the size of its mask)."""
    x0, y0, x1, y1 = window
    inside = clip_box([obj.bbox[0] - x0, obj.bbox[1] - y0, obj.bbox[2] - x0, obj.bbox[3] - y0], x1 - x0, y1 - y0)
    if inside is None:
        return "outside crop"
    if _box_area(inside) < keep_fraction * _box_area(obj.bbox):
        return "cut by crop"
    point = None
    if obj.point is not None:
        point = [obj.point[0] - x0, obj.point[1] - y0]
        if not (0 <= point[0] <= x1 - x0 and 0 <= point[1] <= y1 - y0):
            return "cut by crop"  # its prompt would lie outside the crop
    polygon = None
    if obj.polygon is not None:
        xy = clip_polygon(np.asarray(obj.polygon, float).reshape(-1, 2) - [x0, y0], 0, 0, x1 - x0, y1 - y0)
        polygon = xy.reshape(-1).tolist() if len(xy) >= 3 else None
    mask = None
    if obj.mask is not None:
        full = rle_to_mask(obj.mask)
        if full.shape != (image_size[1], image_size[0]):
            raise ValueError(f"mask of size {list(full.shape)} on an image of (height, width) "
                             f"{[image_size[1], image_size[0]]}: the converter should have skipped it.")
        mask = mask_to_rle(full[y0:y1, x0:x1])
    return replace(obj, bbox=inside, point=point, polygon=polygon, mask=mask)


def check_pixel_size(image: AnnotatedImage, pixels: Image.Image) -> None:
    """`ValueError` when the opened file is not the size its annotation says (crops would cut the wrong pixels)."""
    if pixels.size != (image.width, image.height):
        raise ValueError(f"{image.image}: the file is {pixels.size[0]}x{pixels.size[1]} pixels, its annotation "
                         f"says {image.width}x{image.height}.")


def crop_image(image: AnnotatedImage, window, pixels: Image.Image, out_dir: Path, index: int,
               keep_fraction: float, counts: Counter) -> AnnotatedImage:
    """One crop of `image` (its opened `pixels`) written under `out_dir`, its objects moved (`crop_object`) and
    counted in `counts`. Image-level labels (scene, captions) describe the whole image: the crop has none."""
    objects = []
    for obj in image.objects:
        kept = crop_object(obj, window, keep_fraction, (image.width, image.height))
        if isinstance(kept, str):
            counts[kept] += 1
            continue
        counts["kept clipped" if _box_area(kept.bbox) < _box_area(obj.bbox) else "kept whole"] += 1
        objects.append(kept)
    counts["image-level labels not carried"] += bool(image.scene) + len(image.captions)
    x0, y0, x1, y1 = window
    path = _save(pixels.crop(window), derived_path(image, out_dir, f"crop{index}", window))
    return replace(image, image=path, width=x1 - x0, height=y1 - y0, objects=objects, scene=None, captions=[],
                   id=f"{image.id}#crop{index}")


def iter_region_crops(images, out_dir, crops_per_image: int, context: float = CROP_CONTEXT,
                      min_size: int = CROP_MIN_SIZE, keep_fraction: float = 0.5, seed: int = 0,
                      counts: dict | None = None):
    """`region_crops` one crop at a time (each written before it is yielded), for data too large to hold; `counts`
    (a dict) receives `region_crops`'s counts when the generator is exhausted."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    made_total, objects, skipped, cropped = 0, Counter(), Counter(), 0
    for image in images:
        if crops_per_image == 0 or not image.objects:
            continue
        pixels = open_pixels(image.image)
        if pixels is None:
            skipped["unreadable image"] += 1
            continue
        check_pixel_size(image, pixels)
        made = 0
        for pick in rng.permutation(len(image.objects))[:crops_per_image]:
            window = crop_window(image.objects[pick].bbox, image.width, image.height, context, min_size)
            if window == (0, 0, image.width, image.height):
                skipped["crop would be the whole image"] += 1
                continue
            yield crop_image(image, window, pixels, out_dir, made, keep_fraction, objects)
            made += 1
        made_total += made
        cropped += bool(made)
    if not objects["image-level labels not carried"]:
        del objects["image-level labels not carried"]
    if counts is not None:
        counts.update({"crops": made_total, "images_cropped": cropped, "objects": dict(objects),
                       "not_cropped": dict(skipped), "crops_per_image": crops_per_image, "context": context,
                       "min_size": min_size, "keep_fraction": keep_fraction})


def region_crops(images: list[AnnotatedImage], out_dir, crops_per_image: int, context: float = CROP_CONTEXT,
                 min_size: int = CROP_MIN_SIZE, keep_fraction: float = 0.5,
                 seed: int = 0) -> tuple[list[AnnotatedImage], dict]:
    """Up to `crops_per_image` crops of each image, each around a different object drawn at random (seeded), see the
    module docstring. Returns the crops and the counts: images cropped, crops written, objects per outcome, and
    what was not cropped (an image that cannot be read, a crop that would be the whole image)."""
    counts = {}
    crops = list(iter_region_crops(images, out_dir, crops_per_image, context, min_size, keep_fraction, seed, counts))
    return crops, counts


def flip_object(obj: ObjectAnnotation, axis: str, width: int, height: int) -> ObjectAnnotation:
    """`obj` mirrored left-right (`axis="horizontal"`) or top-bottom (`"vertical"`) in a `width` x `height` image."""
    x1, y1, x2, y2 = obj.bbox
    horizontal = axis == "horizontal"
    bbox = [width - x2, y1, width - x1, y2] if horizontal else [x1, height - y2, x2, height - y1]
    point = None if obj.point is None else (
        [width - obj.point[0], obj.point[1]] if horizontal else [obj.point[0], height - obj.point[1]])
    polygon = None
    if obj.polygon is not None:
        xy = np.asarray(obj.polygon, float).reshape(-1, 2)
        xy[:, 0 if horizontal else 1] = (width if horizontal else height) - xy[:, 0 if horizontal else 1]
        polygon = xy.reshape(-1).tolist()
    mask = None if obj.mask is None else mask_to_rle(np.flip(rle_to_mask(obj.mask), axis=1 if horizontal else 0))
    return replace(obj, bbox=bbox, point=point, polygon=polygon, mask=mask)


def iter_flipped_copies(images, out_dir, flip: str, counts: dict | None = None):
    """`flipped_copies` one copy at a time (each written before it is yielded); `counts` (a dict) receives its
    counts when the generator is exhausted."""
    if flip not in FLIP_AXES:
        raise ValueError(f"flip={flip!r} is not one of {list(FLIP_AXES)}.")
    out_dir = Path(out_dir)
    made, tally = 0, Counter()
    for image in images if FLIP_AXES[flip] else []:
        pixels = open_pixels(image.image)
        if pixels is None:
            tally["unreadable image"] += 1
            continue
        for axis in FLIP_AXES[flip]:
            yield _flipped(image, pixels, axis, out_dir, tally)
            tally[f"{axis} copies"] += 1
            made += 1
    if counts is not None:
        counts.update({"copies": made, "flip": flip, **dict(tally)})


def _flipped(image: AnnotatedImage, pixels: Image.Image, axis: str, out_dir: Path, counts: Counter) -> AnnotatedImage:
    """The copy of `image` (its opened `pixels`) mirrored along `axis`, written under `out_dir`; the human texts
    removed for naming a direction are counted in `counts`."""
    words = DIRECTION_WORDS[axis]
    objects = []
    for obj in image.objects:
        moved = flip_object(obj, axis, image.width, image.height)
        if moved.expression and words.search(moved.expression):
            counts["expressions removed (direction words)"] += 1
            moved = replace(moved, expression=None)
        objects.append(moved)
    captions = [c for c in image.captions if not words.search(c)]
    counts["captions removed (direction words)"] += len(image.captions) - len(captions)
    mirrored = pixels.transpose(Image.Transpose.FLIP_LEFT_RIGHT if axis == "horizontal"
                                else Image.Transpose.FLIP_TOP_BOTTOM)
    path = _save(mirrored, derived_path(image, out_dir, f"flip_{axis}", axis))
    return replace(image, image=path, objects=objects, captions=captions, id=f"{image.id}#flip-{axis}")


def flipped_copies(images: list[AnnotatedImage], out_dir, flip: str) -> tuple[list[AnnotatedImage], dict]:
    """A mirrored copy of every image per axis of `flip` ("none", "horizontal", "vertical", "both"), written under
    `out_dir`. Returns the copies and the counts (copies per axis, human texts removed for naming a direction,
    unreadable images)."""
    counts = {}
    copies = list(iter_flipped_copies(images, out_dir, flip, counts))
    return copies, counts


def derived_path(image: AnnotatedImage, out_dir: Path, tag: str, transform) -> Path:
    """Where a crop or flip of `image` is written (without suffix): a readable prefix (its id or file stem, sanitised
    and cut to 80 characters: ids come from untrusted files) and a digest of the source file and `transform`. The
    digest is what keeps two sources apart: ids that sanitise alike ('a/b', 'a_b'), images with no id and the same
    stem in two folders, one image listed twice and cropped at two windows. The same source and transform give the
    same name, which is harmless: the same pixels (every data-parallel process writes the files)."""
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "_", image.id or Path(image.image).stem)[:80].lstrip(".")
    digest = hashlib.sha1(repr((str(image.image), image.id, transform)).encode()).hexdigest()[:12]
    return Path(out_dir) / f"{prefix}_{tag}_{digest}"


__all__ = ["CROP_CONTEXT", "CROP_MIN_SIZE", "check_pixel_size", "crop_image", "crop_object", "crop_window",
           "derived_path", "flip_object", "flipped_copies", "iter_flipped_copies", "iter_region_crops", "open_pixels",
           "region_crops"]
