"""Held-out validation data that does not leak into training (`validation_split`).

- `geo` windows come marked by their spatial block (`AnnotatedImage.split` "train" or "validation", set by
  `geo/spatial_split.py`): neighbouring windows never straddle the two, and `split_images` keeps those marks.
- Pixel-space converters (and procedural scenes): a seeded `validation_split` fraction of the images (at least one,
  and at least one left for training). Records (`data_format: records`): a fraction of the image files, so that the
  records of one image are never on both sides.
"""

from __future__ import annotations

import numpy as np

VALIDATION = "validation"


def check_validation_split(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"validation_split={value!r} must be a number in [0, 1) (the held-out share; 0: none).")
    return float(value)


def _held_out_keys(keys: list, fraction: float, seed: int, what: str) -> set:
    unique = sorted(set(keys))
    if len(unique) < 2:
        raise ValueError(f"validation_split={fraction} needs at least 2 {what}; the data has {len(unique)}.")
    count = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i] for i in order[:count]}


def split_images(images: list, fraction: float, seed: int = 0) -> tuple[list, list]:
    """(training images, validation images): by the images' spatial marks when they carry one, else a seeded
    `fraction` of the images."""
    fraction = check_validation_split(fraction)
    if not fraction:
        return list(images), []
    if any(getattr(image, "split", None) == VALIDATION for image in images):
        return [im for im in images if im.split != VALIDATION], [im for im in images if im.split == VALIDATION]
    if any(getattr(image, "source", "") == "geo" for image in images):
        raise ValueError(f"validation_split={fraction} held out no spatial block of the geo scenes: make "
                         "validation_block smaller or validation_split larger.")
    held = _held_out_keys([image.image for image in images], fraction, seed, "images")
    return [im for im in images if im.image not in held], [im for im in images if im.image in held]


def split_records(records: list[dict], fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(training records, validation records), a seeded `fraction` of the image files held out."""
    fraction = check_validation_split(fraction)
    if not fraction:
        return list(records), []
    held = _held_out_keys([str(r["image"]) for r in records], fraction, seed, "image files")
    return [r for r in records if str(r["image"]) not in held], [r for r in records if str(r["image"]) in held]


__all__ = ["split_images", "split_records", "check_validation_split", "VALIDATION"]
