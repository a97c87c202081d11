"""Zoom-in evaluation images: every object of an image is asked about on a crop around it, as `earthgptx-predict`
answers region prompts on a scene and as training's region crops show objects.

Small objects are a few pixels in the model's views of a whole frame (an infrared person is ~15 px of a 640-px frame,
~3 px of the `small` preset's 112-px global view). Training's `region_crops` (augmentation.py) shows them larger; at
evaluation the same zoom-in is applied here, so that the model is asked at the scale it was taught:

- the crop around an object has the training crop's size rule (`augmentation.crop_window`): a square of side
  max(`min_size`, (1 + 2 `context`) x the object's larger side);
- nearby objects share one crop, grouped as `windows.region_windows` groups a scene's prompts (a group's crop is no
  larger than the largest its members need alone, at most `max_regions` members), so every object is asked about
  exactly once; the other objects a crop happens to show are not prompted;
- the crops are cut with `augmentation.crop_image` (pixels copied, boxes, points, polygons and masks moved exactly).

`pair_crops` makes the crops of the prompt-swap check at the same scale: two objects of different classes asked
together on the smallest square crop that holds both objects' own zoom-in crops.

Neither needs the `geo` extra: the window grouping (`data.windows`) is numpy only.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

from .annotations import AnnotatedImage, normalise_category
from .augmentation import CROP_CONTEXT, CROP_MIN_SIZE, check_pixel_size, crop_image, crop_window, open_pixels
from .windows import region_windows


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _check_scale(context, min_size) -> None:
    if not _number(context) or context < 0:
        raise ValueError(f"context={context!r} must be a number >= 0 (context per side, in object sizes).")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size={min_size!r} must be a positive integer (pixels).")


def zoom_in_images(images: list[AnnotatedImage], out_dir, context: float = CROP_CONTEXT,
                   min_size: int = CROP_MIN_SIZE, max_regions: int = 8) -> tuple[list[AnnotatedImage], dict]:
    """The zoom-in crops of `images` (see the module docstring), written under `out_dir`, and their counts (images
    in, crops out, objects per outcome, images without objects or unreadable). Image-level labels stay with the
    whole images, which are not returned: use the originals for image-level tasks."""
    _check_scale(context, min_size)
    crops, counts, skipped = [], Counter(), Counter()
    for image in images:
        if not image.objects:
            skipped["images without objects"] += 1
            continue
        pixels = open_pixels(image.image)
        if pixels is None:
            skipped["unreadable image"] += 1
            continue
        check_pixel_size(image, pixels)
        windows = region_windows([o.bbox for o in image.objects], image.width, image.height, canvas=min_size,
                                 context=1 + 2 * context, max_regions=max_regions)
        for index, window in enumerate(windows):
            members = replace(image, objects=[image.objects[i] for i in window.members])
            box = (window.col_off, window.row_off, window.col_off + window.width, window.row_off + window.height)
            # a group's crop holds its members' union; only sub-pixel rounding can clip one (counted "kept clipped")
            crop = crop_image(members, box, pixels, Path(out_dir), index, keep_fraction=1e-9, counts=counts)
            crops.append(replace(crop, id=f"{image.id}#zoom{index}"))
    counts.pop("image-level labels not carried", None)  # they stay with the whole images (image-level tasks)
    return crops, {"images_in": len(images), "crops": len(crops), "objects": dict(counts), "skipped": dict(skipped),
                   "context": context, "min_size": min_size}


PAIR_MAX_SCALE = 2.0  # a pair's crop is at most this many times the side of its members' own crops


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _side(window) -> int:
    return max(window[2] - window[0], window[3] - window[1])


def _check_pair_scale(context, min_size, max_scale) -> None:
    _check_scale(context, min_size)
    if not _number(max_scale) or max_scale < 1:
        raise ValueError(f"max_scale={max_scale!r} must be a number >= 1 (a pair's crop holds both objects' own "
                         "crops).")


def pair_windows(image: AnnotatedImage, context: float = CROP_CONTEXT, min_size: int = CROP_MIN_SIZE,
                 max_scale: float = PAIR_MAX_SCALE, disjoint: bool = True) -> tuple[list[tuple[int, int, tuple]], int]:
    """Pairs of `image`'s objects of different classes, nearest first (box centres), each with its crop: the
    smallest square holding both objects' own zoom-in crops (`crop_window`). Classes are compared as
    `normalise_category` names. A pair whose crop side is more than `max_scale` times the largest side of its own
    crops would show its objects smaller than the zoom-in scale: it is not asked.

    `disjoint` (the evaluation's pairs): each object in one pair at most, so every object is asked once. Otherwise
    (training's `pair_partners="nearest"`): each object with its nearest object of another class that fits, a pair
    found from both of its objects made once, so an image with one car among twenty persons gives twenty pairs, not
    one. Returns `[(i, j, window)]` (i < j) and the number of objects left without a pair although the image holds
    another class (every object of another class was too far, or, when disjoint, paired already)."""
    _check_pair_scale(context, min_size, max_scale)
    if not isinstance(disjoint, bool):
        raise ValueError(f"disjoint={disjoint!r} must be True or False.")
    objects = image.objects
    classes = [normalise_category(obj.category) for obj in objects]
    candidates = sorted(
        (math.dist(_centre(objects[i].bbox), _centre(objects[j].bbox)), i, j)
        for i in range(len(objects)) for j in range(i + 1, len(objects)) if classes[i] != classes[j])
    used, pairs = set(), []
    for _, i, j in candidates:
        if (i in used or j in used) if disjoint else (i in used and j in used):
            continue  # disjoint: one pair per object; nearest: both objects have their nearest partner already
        own = [crop_window(objects[k].bbox, image.width, image.height, context, min_size) for k in (i, j)]
        union = (min(w[0] for w in own), min(w[1] for w in own), max(w[2] for w in own), max(w[3] for w in own))
        window = crop_window(union, image.width, image.height, 0.0, 1)
        if _side(window) > max_scale * max(_side(w) for w in own):
            continue
        used.update((i, j))
        pairs.append((i, j, window))
    candidates_objects = {k for _, i, j in candidates for k in (i, j)}
    return pairs, len(candidates_objects - used)


def pair_crops(images: list[AnnotatedImage], out_dir, context: float = CROP_CONTEXT, min_size: int = CROP_MIN_SIZE,
               max_scale: float = PAIR_MAX_SCALE, disjoint: bool = True) -> tuple[list[AnnotatedImage], dict]:
    """The crops of the prompt-swap check at the zoom-in scale (`pair_windows`, `disjoint` as there), written under
    `out_dir`: one image per pair, holding only the pair's two objects (the other objects a crop shows are not
    prompted). Returns the crops and their counts (pairs asked, objects left without a pair, images without a pair,
    unreadable images)."""
    _check_pair_scale(context, min_size, max_scale)
    crops, counts, without, unpaired, unreadable = [], Counter(), 0, 0, 0
    for image in images:
        pairs, left = pair_windows(image, context, min_size, max_scale, disjoint)
        unpaired += left
        if not pairs:
            without += 1
            continue
        pixels = open_pixels(image.image)
        if pixels is None:
            unreadable += 1
            continue
        check_pixel_size(image, pixels)
        for index, (i, j, window) in enumerate(pairs):
            members = replace(image, objects=[image.objects[i], image.objects[j]])
            crop = crop_image(members, window, pixels, Path(out_dir), index, keep_fraction=1e-9, counts=counts)
            crops.append(replace(crop, id=f"{image.id}#pair{index}"))
    counts.pop("image-level labels not carried", None)
    return crops, {"images_in": len(images), "pairs": len(crops), "objects_unpaired": unpaired,
                   "images_without_pair": without, "unreadable_images": unreadable, "objects": dict(counts),
                   "max_scale": max_scale, "disjoint": disjoint}


__all__ = ["PAIR_MAX_SCALE", "pair_crops", "pair_windows", "zoom_in_images"]
