"""COCO run-length encoding of masks, by pycocotools (the COCO API): `mask_to_rle` and `rle_to_mask`.

A mask is stored as COCO RLE, `{"size": [H, W], "counts": ...}`:
- `mask_to_rle` writes the compressed form (`counts` a string, as `pycocotools.mask.encode` gives it and COCO result
  files hold it), so a record stays JSON-serialisable;
- `rle_to_mask` reads it and the uncompressed form (`counts` a list of column-major runs starting with a run of 0s,
  as COCO's `iscrowd` annotations and the rs_mini files hold it).

pycocotools trusts what it decodes (run lengths are C `uint`s, and a string that does not cover the mask leaves the
rest of the buffer unwritten), so every RLE is checked here first: runs are non-negative integers, none longer than the
mask (so their sum cannot wrap around in int64), summing to H x W; a string uses COCO's alphabet and ends on a
complete number, and must be the encoding of the mask it decodes to. Anything else is a ValueError naming the field.

pycocotools is imported when an RLE is encoded or decoded (inside `try`, so that the code saved next to a checkpoint
loads without it; it is a dependency of the package).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import numpy as np

MAX_RLE_PIXELS = 2**32 - 1  # pycocotools counts runs in C `uint`s
# COCO's compressed counts: 6 bits per character, '0' (48) to 'o' (111); 'P' to 'o' carry a continuation bit, and a
# run length (a 32-bit number) takes at most 7 characters
_COMPRESSED = re.compile(r"[0-o]*[0-O]")
_TOO_LONG = re.compile(r"[P-o]{7,}")


def _mask_api():
    try:
        from pycocotools import mask as mask_api
    except ImportError as error:  # the saved remote code imports this module without pycocotools installed
        raise ImportError("COCO RLE masks need pycocotools: pip install pycocotools") from error
    return mask_api


def mask_to_rle(mask) -> dict:
    """Bool `(H, W)` -> compressed COCO RLE `{"size": [H, W], "counts": str}` (`pycocotools.mask.encode`)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D (H, W) array, got shape {tuple(mask.shape)}.")
    height, width = mask.shape
    encoded = _mask_api().encode(np.asfortranarray(mask.view(np.uint8)))
    return {"size": [int(height), int(width)], "counts": encoded["counts"].decode("ascii")}


def _size(rle: Mapping, where: str) -> tuple[int, int]:
    size = rle["size"]
    if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 0 for v in size
    ):
        raise ValueError(f"{where}['size'] must be [H, W], two non-negative integers, got {size!r}.")
    height, width = int(size[0]), int(size[1])
    if height * width > MAX_RLE_PIXELS:
        raise ValueError(f"{where}['size'] is {height}x{width}: COCO RLE (pycocotools) holds at most "
                         f"{MAX_RLE_PIXELS} pixels.")
    return height, width


def _check_runs(counts, pixels: int, where: str) -> np.ndarray:
    """Uncompressed runs -> int64 array, checked before any arithmetic on them."""
    counts = np.asarray(counts)
    if counts.ndim != 1 or (counts.size and counts.dtype.kind not in "iu"):
        raise ValueError(f"{where}['counts'] must be a flat list of non-negative integers (run lengths) or a "
                         "compressed COCO RLE string.")
    if counts.size > pixels + 1 or (counts.size and counts.min() < 0):
        raise ValueError(f"{where}['counts'] must be at most {pixels + 1} non-negative run lengths, got {counts.size} "
                         f"with minimum {counts.min() if counts.size else 0}.")
    # bounds before the sum: huge runs wrap around in int64 (4 x 2**62 + H * W sums to H * W)
    if counts.size and counts.max() > pixels:
        raise ValueError(f"{where}['counts'] holds a run of {counts.max()} pixels, longer than the {pixels} pixels "
                         "of the image.")
    counts = counts.astype(np.int64)
    if counts.sum() != pixels:
        raise ValueError(f"{where}['counts'] sum to {int(counts.sum())}, but the mask has {pixels} pixels.")
    return counts


def _check_string(counts, pixels: int, where: str) -> bytes:
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError:
            counts = None
    if not isinstance(counts, str) or not _COMPRESSED.fullmatch(counts) or _TOO_LONG.search(counts) or \
            len(counts) > 7 * (pixels + 1):
        raise ValueError(f"{where}['counts'] is not a compressed COCO RLE string (characters '0' to 'o', each run "
                         "ending on a character below 'P', as pycocotools.mask.encode writes them).")
    return counts.encode("ascii")


def rle_to_mask(rle: Mapping, where: str = "rle") -> np.ndarray:
    """COCO RLE (compressed or uncompressed, see the module docstring) -> bool `(H, W)` (column-major in memory).

    Args:
        rle: `{"size": [H, W], "counts": str | bytes | list of run lengths}`.
        where: the name used in error messages (e.g. `visual_prompts[0]['mask']`).
    """
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"{where} must be COCO RLE, a dict with 'size' [H, W] and 'counts'.")
    height, width = _size(rle, where)
    pixels = height * width
    if pixels == 0:
        return np.zeros((height, width), bool)
    mask_api = _mask_api()
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        compressed = {"size": [height, width], "counts": _check_string(counts, pixels, where)}
    else:
        runs = _check_runs(counts, pixels, where)
        compressed = mask_api.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    try:
        with warnings.catch_warnings():  # pycocotools' own array wrapper predates NumPy 2's `copy` argument
            warnings.filterwarnings("ignore", "__array__ implementation doesn't accept a copy", DeprecationWarning)
            decoded = mask_api.decode(compressed)
    except ValueError:  # runs past the end of the mask
        raise ValueError(f"{where}['counts'] runs past the {height}x{width} mask.") from None
    # a string whose runs stop short leaves pixels unwritten: it must be what the mask it gives encodes to
    if isinstance(counts, (str, bytes)) and mask_api.encode(decoded)["counts"] != compressed["counts"]:
        raise ValueError(f"{where}['counts'] is not the COCO RLE of a {height}x{width} mask (its runs do not cover "
                         f"the {pixels} pixels exactly once, or it is not in pycocotools' canonical form).")
    return decoded.view(bool)


__all__ = ["MAX_RLE_PIXELS", "mask_to_rle", "rle_to_mask"]
