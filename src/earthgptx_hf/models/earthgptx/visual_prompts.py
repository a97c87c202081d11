"""Visual prompts: validation into plain dicts, and rasterisation into per-view maps.

Prompt dicts (coordinates are pixels of the original image, x to the right, y down, boxes `[x1, y1, x2, y2]`):

    {"type": "point",    "point": [x, y]}
    {"type": "box",      "bbox": [x1, y1, x2, y2]}
    {"type": "polygon",  "points": [[x, y], ...]}                 at least 3 vertices, not all on one line
    {"type": "scribble", "points": [[x, y], ...], "width": w}     a polyline at least 2 points long, w > 0 pixels
    {"type": "circle",   "center": [x, y], "radius": r}           r > 0
    {"type": "mask",     "mask": (H, W) array | nested lists | COCO RLE {"size": [H, W], "counts": str | [...]}}

Numbers: Python or numpy ints and floats (or 0-d arrays), finite, at most `MAX_MAGNITUDE` (1e12) pixels in magnitude;
bools are refused; -0.0 becomes 0.0. Coordinates are flat lists (`[x, y]`, not `[[x, y]]`); polygons and scribbles take
at most `MAX_VERTICES` (10,000) points. Anything else raises TypeError or ValueError naming the field.

Polygons are filled by the even-odd rule (PIL's and SVG's `evenodd`): a self-intersecting bow-tie fills both lobes, a
pentagram leaves its centre empty. A polygon is refused only when all its vertices lie on one line (the shoelace sum is
not used: a bow-tie's is 0 while it encloses area).

Mask values: bool; integers 0/1 or 0/255 (any other integer value is refused); floats in [0, 1], thresholded at 0.5
(foreground >= 0.5), so a soft mask keeps its meaning. NaN, inf and floats outside [0, 1] (logits) are refused. COCO RLE
(compressed or not) is decoded by `rle.rle_to_mask`, which checks it first. Masks come out of `validate_prompts` as bool
`(H, W)` arrays, which the rasteriser pools directly (`mask_to_rle` makes one JSON-serialisable); every other validated
prompt is plain JSON.

Outside the image (one rule for every type): a prompt must cover part of the image. A prompt entirely outside it
(or a point outside it) raises ValueError; the parts of a prompt that lie outside are clipped away, with one
`UserWarning` per call that counts them. Nothing is dropped silently.

Rasterisation (SPEC section 2.3): prompt i becomes channel i of a map aligned with every view, made with the same
resize, pad and crop as the image (`views.py`). Boxes are filled rectangles (every view pixel that the box overlaps).
Points, circles, polygons and scribbles set the view pixels whose centre lies in the shape (`prompt_geometry`): points
a disc of `point_radius` view pixels, circles discs, polygons their even-odd fill plus every pixel their outline passes
through, scribbles round-capped strokes of `width`; discs and strokes are never narrower than sqrt(1/2) view pixel, so
none vanishes between pixel centres. Masks are max-pooled: a view pixel is set when any mask pixel falls in it (a
one-pixel mask on a 2000x2000 image stays visible). Shapes are clipped to the view before drawing, so no coordinate,
radius or width costs more than the view's size (a radius of 1e9 draws as fast as a radius of 10, and exactly); the
cost is bounded by the view size times the vertex count. No Python loop over pixels.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from .image_geometry import (
    MIN_RADIUS,
    ImageLayout,
    Placement,
    cut_tiles,
    fill_disc,
    fill_polygon,
    max_pool,
    stroke_polyline,
)

# --------------------------------------------------------------------------------------------------------------------
# COCO run-length encoding of masks, by pycocotools (the COCO API): `mask_to_rle` and `rle_to_mask`.
#
# A mask is stored as COCO RLE, `{"size": [H, W], "counts": ...}`:
# - `mask_to_rle` writes the compressed form (`counts` a string, as `pycocotools.mask.encode` gives it and COCO result
#   files hold it), so a record stays JSON-serialisable;
# - `rle_to_mask` reads it and the uncompressed form (`counts` a list of column-major runs starting with a run of 0s,
#   as COCO's `iscrowd` annotations and the rs_mini files hold it).
#
# pycocotools trusts what it decodes (run lengths are C `uint`s, and a string that does not cover the mask leaves the
# rest of the buffer unwritten), so every RLE is checked here first: runs are non-negative integers, none longer than the
# mask (so their sum cannot wrap around in int64), summing to H x W; a string uses COCO's alphabet and ends on a
# complete number, and must be the encoding of the mask it decodes to. Anything else is a ValueError naming the field.
#
# pycocotools is imported when an RLE is encoded or decoded (inside `try`, so that the code saved next to a checkpoint
# loads without it; it is a dependency of the package).


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


PROMPT_TYPES = ("point", "box", "polygon", "scribble", "circle", "mask")
MAX_VERTICES = 10_000  # points of one polygon or scribble
MAX_MAGNITUDE = 1e12  # pixels: any coordinate, radius or width (no image is a millionth of that)


# ---------------------------------------------------------------------------------------------------------------------
# Validation
def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _scalar(value, where: str) -> float:
    """One number -> a finite float within `MAX_MAGNITUDE` (-0.0 becomes 0.0)."""
    if hasattr(value, "ndim") and getattr(value, "ndim") == 0 and hasattr(value, "item") and not isinstance(
        value, (bool, np.bool_)
    ):
        value = value.item()  # 0-d numpy arrays and torch tensors
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where} must hold numbers, got the bool {bool(value)} (a bool is not a coordinate).")
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where} must hold numbers, got {_short(value)} ({type(value).__name__}).")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    if math.isnan(number) or (math.isinf(number) and isinstance(value, (float, np.floating))):
        raise ValueError(f"{where} must hold finite numbers, got {value!r}.")
    if not abs(number) <= MAX_MAGNITUDE:
        raise ValueError(f"{where} holds {_short(value)}: coordinates, radii and widths must be at most "
                         f"{MAX_MAGNITUDE:g} pixels in magnitude.")
    return number + 0.0


def _numbers(value, count: int, where: str) -> list[float]:
    """A flat list (tuple, 1-D array or tensor) of exactly `count` numbers."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{where} must be a flat list of {count} numbers, got an array of shape {value.shape}.")
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{where} must be a list of {count} numbers, got {type(value).__name__}.")
    for v in value[: count + 1]:
        if isinstance(v, (list, tuple, Mapping)) or getattr(v, "ndim", 0):
            raise TypeError(f"{where} must be a flat list of {count} numbers, got a nested {type(v).__name__} in "
                            f"{_short(value)}.")
    if len(value) != count:
        raise ValueError(f"{where} must have {count} numbers, got {len(value)}: {_short(value)}.")
    return [_scalar(v, where) for v in value]


def _points(value, minimum: int, where: str) -> list[list[float]]:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__") or getattr(value, "ndim", 1) == 0:
        raise TypeError(f"{where} must be a list of [x, y] pairs, got {type(value).__name__} {_short(value)}.")
    if len(value) > MAX_VERTICES:
        raise ValueError(f"{where} has {len(value)} points; at most {MAX_VERTICES} are accepted (simplify the shape).")
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.ndim == 2 and value.shape[1] == 2:
        xy = value.astype(float)  # the common case, checked at once
        if not np.isfinite(xy).all():
            raise ValueError(f"{where} must hold finite numbers, got {_short(value[~np.isfinite(xy).all(1)][0])}.")
        if not (np.abs(xy) <= MAX_MAGNITUDE).all():
            raise ValueError(f"{where} holds {np.abs(xy).max():g}: coordinates, radii and widths must be at most "
                             f"{MAX_MAGNITUDE:g} pixels in magnitude.")
        points = (xy + 0.0).tolist()
    else:
        points = [_numbers(p, 2, f"{where}[{i}]") for i, p in enumerate(value)]
    if len(points) < minimum:
        raise ValueError(f"{where} needs at least {minimum} points, got {len(points)}.")
    return points


def _collinear(xy: np.ndarray) -> bool:
    """Whether all vertices lie on one line (or coincide): the only polygons that enclose no area by even-odd."""
    rel = xy - xy[0]
    norms = np.hypot(rel[:, 0], rel[:, 1])
    far = int(np.argmax(norms))
    if norms[far] == 0:
        return True
    cross = rel[:, 0] * rel[far, 1] - rel[:, 1] * rel[far, 0]
    return bool(np.abs(cross).max() <= 1e-12 * norms[far] ** 2)


def prompt_bounds(prompt: dict) -> tuple[float, float, float, float]:
    """The box `(x1, y1, x2, y2)` around a prompt (a point: the point twice; a free-form shape: its bounding box)."""
    kind = prompt["type"]
    if kind == "point":
        x, y = prompt["point"]
        return x, y, x, y
    if kind == "box":
        return tuple(prompt["bbox"])
    if kind == "circle":
        (x, y), r = prompt["center"], prompt["radius"]
        return x - r, y - r, x + r, y + r
    points = np.asarray(prompt["points"])
    pad = prompt.get("width", 0) / 2
    return points[:, 0].min() - pad, points[:, 1].min() - pad, points[:, 0].max() + pad, points[:, 1].max() + pad


def validate_prompt(prompt, image_size: tuple[int, int], where: str) -> tuple[dict, bool]:
    """Checks one prompt and returns `(clean JSON-serialisable dict, whether part of it lies outside the image)`."""
    height, width = image_size
    if not isinstance(prompt, Mapping):
        raise TypeError(f"{where} must be a dict with a 'type' key, got {type(prompt).__name__}.")
    kind = prompt.get("type")
    if not isinstance(kind, str) or kind not in PROMPT_TYPES:
        raise ValueError(f"{where}['type'] is {_short(kind)}; valid types are {list(PROMPT_TYPES)}.")
    kind = str(kind)
    required = {"point": ("point",), "box": ("bbox",), "polygon": ("points",), "scribble": ("points", "width"),
                "circle": ("center", "radius"), "mask": ("mask",)}[kind]
    for key in required:
        if key not in prompt:
            raise ValueError(f"{where} is a {kind} prompt without its {key!r} key.")
    if kind == "mask":  # kept as the array: the maps are drawn from it in the same call
        return {"type": "mask", "mask": _mask_array(prompt["mask"], image_size, f"{where}['mask']")}, False
    clean: dict = {"type": kind}
    if kind == "point":
        clean["point"] = _numbers(prompt["point"], 2, f"{where}['point']")
        x, y = clean["point"]
        if not (0 <= x <= width and 0 <= y <= height):
            raise ValueError(
                f"{where}['point'] = {clean['point']} lies outside the {width}x{height} image (x in [0, {width}], "
                f"y in [0, {height}])."
            )
        return clean, False
    if kind == "box":
        x1, y1, x2, y2 = clean["bbox"] = _numbers(prompt["bbox"], 4, f"{where}['bbox']")
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"{where}['bbox'] = {clean['bbox']} is degenerate: boxes are [x1, y1, x2, y2] with x2 > x1 "
                             "and y2 > y1.")
    elif kind == "polygon":
        clean["points"] = _points(prompt["points"], 3, f"{where}['points']")
        if _collinear(np.asarray(clean["points"])):  # not the shoelace sum: a bow-tie's is 0 though it has area
            raise ValueError(f"{where}['points'] encloses no area (its vertices are collinear or repeated).")
    elif kind == "scribble":
        clean["points"] = _points(prompt["points"], 2, f"{where}['points']")
        clean["width"] = _scalar(prompt["width"], f"{where}['width']")
        if clean["width"] <= 0:
            raise ValueError(f"{where}['width'] must be positive, got {clean['width']}.")
    elif kind == "circle":
        clean["center"] = _numbers(prompt["center"], 2, f"{where}['center']")
        clean["radius"] = _scalar(prompt["radius"], f"{where}['radius']")
        if clean["radius"] <= 0:
            raise ValueError(f"{where}['radius'] must be positive, got {clean['radius']}.")
    x1, y1, x2, y2 = prompt_bounds(clean)
    outside = x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height
    if kind == "circle" and not outside:  # the disc itself, not its bounding box, must reach the image
        (cx, cy), r = clean["center"], clean["radius"]
        outside = math.hypot(cx - min(max(cx, 0), width), cy - min(max(cy, 0), height)) >= r
    if outside:
        raise ValueError(f"{where} lies entirely outside the {width}x{height} image (its extent is "
                         f"[{x1:g}, {y1:g}, {x2:g}, {y2:g}]).")
    return clean, (x1 < 0 or y1 < 0 or x2 > width or y2 > height)


def _rle_array(rle: Mapping, image_size: tuple[int, int], where: str) -> np.ndarray:
    if "size" not in rle or "counts" not in rle:
        raise ValueError(f"{where} as a dict must be COCO RLE with 'size' and 'counts'.")
    size = _numbers(rle["size"], 2, f"{where}['size']")
    if [int(v) for v in size] != size or tuple(int(v) for v in size) != tuple(image_size):
        raise ValueError(f"{where} has size {size}, but the image is {list(image_size)} (H, W).")
    return rle_to_mask({"size": list(image_size), "counts": rle["counts"]}, where=where)


def _mask_array(mask, image_size: tuple[int, int], where: str) -> np.ndarray:
    """Any accepted mask form -> bool `(H, W)` (see the module docstring for the values accepted)."""
    if isinstance(mask, Mapping):
        array = _rle_array(mask, image_size, where)
    else:
        if hasattr(mask, "detach"):
            mask = mask.detach().cpu().numpy()
        try:
            array = np.asarray(mask)
        except ValueError:  # ragged nested lists
            raise TypeError(f"{where} must be a boolean (H, W) array, got ragged or non-numeric data.") from None
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise TypeError(f"{where} must be a boolean (H, W) array, got ragged or non-numeric data "
                            f"(dtype {array.dtype}).")
        if array.ndim != 2:
            raise ValueError(f"{where} must be a 2-D (H, W) array, got shape {tuple(array.shape)}.")
        if tuple(array.shape) != tuple(image_size):
            raise ValueError(f"{where} has shape {tuple(array.shape)}, but the image is {tuple(image_size)} (H, W).")
        if array.dtype.kind in "iu":
            array = _integer_mask(array, where)
        elif array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise ValueError(f"{where} holds NaN or infinite values; a float mask must hold values in [0, 1] "
                                 "(foreground >= 0.5).")
            low, high = float(array.min()), float(array.max())
            if low < 0 or high > 1:
                raise ValueError(f"{where} holds values in [{low:g}, {high:g}]; a float mask must hold values in "
                                 "[0, 1] (foreground >= 0.5). Threshold logits or probabilities yourself.")
            array = array >= 0.5
    if not array.any():
        raise ValueError(f"{where} is empty: a mask prompt must select at least one pixel.")
    return array


def _integer_mask(array: np.ndarray, where: str) -> np.ndarray:
    high = int(array.max())
    if int(array.min()) >= 0 and high <= 1:
        return array == 1
    odd = (array != 0) & (array != 255)
    if high == 255 and not odd.any():
        return array == 255
    strays = array[odd & (array != 1)]
    found = np.unique(strays[:100_000])[:5].tolist() if strays.size else [1, 255]
    raise ValueError(f"{where} holds integer values {found}; an integer mask must hold 0/1 or 0/255 "
                     "(or pass a bool array).")


def validate_prompts(
    prompts, image_size: tuple[int, int], max_regions: int, argument: str = "visual_prompts"
) -> list[dict]:
    """Validates the prompts of one image. See the module docstring for the rules.

    Args:
        prompts: a list of prompt dicts (an empty list or None means no prompt).
        image_size: (height, width) of the original image.
        max_regions: the model's maximum number of prompts per image.
        argument: the name used in error messages (e.g. `visual_prompts[2]`).
    """
    if prompts is None:
        return []
    if isinstance(prompts, Mapping):
        raise TypeError(f"{argument} must be a list of prompt dicts (one list per image), got a single dict.")
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
        raise TypeError(f"{argument} must be a list of prompt dicts, got {type(prompts).__name__}.")
    if len(prompts) > max_regions:
        raise ValueError(f"{argument} has {len(prompts)} prompts, more than max_regions={max_regions}.")
    clean, clipped = [], []
    for i, prompt in enumerate(prompts):
        item, outside = validate_prompt(prompt, image_size, f"{argument}[{i}]")
        clean.append(item)
        if outside:
            clipped.append(i)
    if clipped:
        warnings.warn(
            f"{argument}: {len(clipped)} prompt(s) {clipped} extend beyond the {image_size[1]}x{image_size[0]} image; "
            "the parts outside are clipped away.",
            UserWarning,
            stacklevel=3,
        )
    return clean


# ---------------------------------------------------------------------------------------------------------------------
# Rasterisation
# A box marks a view pixel when it overlaps it by more than this fraction of a pixel. Not 0: a box edge that falls on a
# pixel edge must not take the next pixel through rounding, and neither must a coordinate that went through float32
# (66.0 is stored as 66.0000077, which a 0.106 view scale turns into 8e-7 of the next pixel).
EDGE_TOLERANCE = 1e-6


def _draw_in_frame(prompt: dict, placement: Placement, point_radius: float) -> np.ndarray:
    """Rasterises one prompt into a `placement.frame` uint8 {0, 1} map, clipped to the image area."""
    frame_h, frame_w = placement.frame
    out = np.zeros((frame_h, frame_w), np.uint8)
    oy, ox = placement.offset
    rh, rw = placement.resized
    sy, sx = placement.scale
    kind = prompt["type"]
    if kind == "box":
        x1, y1, x2, y2 = prompt["bbox"]
        # every pixel the box overlaps by more than EDGE_TOLERANCE, inside the image area
        eps = EDGE_TOLERANCE
        c1, c2 = math.floor(max(x1, 0) * sx + ox + eps), math.ceil(min(x2, rw / sx) * sx + ox - eps)
        r1, r2 = math.floor(max(y1, 0) * sy + oy + eps), math.ceil(min(y2, rh / sy) * sy + oy - eps)
        out[max(r1, oy) : min(r2, oy + rh), max(c1, ox) : min(c2, ox + rw)] = 1
        return out
    if kind == "mask":  # a view pixel is set when any mask pixel falls in it
        out[oy : oy + rh, ox : ox + rw] = max_pool(prompt["mask"], rh, rw)
        return out

    def local(xy) -> np.ndarray:  # original coordinates -> coordinates in the image area of this frame
        return np.asarray(xy, float).reshape(-1, 2) * np.array([sx, sy])

    if kind == "point":
        (cx, cy), = local(prompt["point"])
        area = fill_disc(cx, cy, max(point_radius, MIN_RADIUS),
                                  max(point_radius, MIN_RADIUS), rh, rw)
    elif kind == "circle":
        (cx, cy), = local(prompt["center"])
        r = prompt["radius"]
        area = fill_disc(cx, cy, max(r * sx, MIN_RADIUS), max(r * sy, MIN_RADIUS), rh, rw)
    elif kind == "polygon":
        ring = local(prompt["points"])
        area = fill_polygon(ring, rh, rw) | stroke_polyline(ring, MIN_RADIUS, rh, rw,
                                                                              closed=True)
    else:  # scribble
        radius = max(prompt["width"] * (sx + sy) / 4, MIN_RADIUS)
        area = stroke_polyline(local(prompt["points"]), radius, rh, rw)
    out[oy : oy + rh, ox : ox + rw] = area
    return out


def rasterise_prompts(prompts: list[dict], layout: ImageLayout, point_radius: float,
                      argument: str = "visual_prompts") -> np.ndarray:
    """Validated prompts of one image -> `(V, K, T, T)` uint8 maps (view order as `render_views`).

    A prompt that marks no view pixel lies outside the image (a polygon or stroke whose bounding box overlaps the image
    while the shape misses it; inside, every shape marks at least one pixel): ValueError naming `argument[k]`."""
    tile = layout.tile
    count = len(prompts)
    canvas = np.zeros(layout.canvas.frame + (count,), np.uint8)
    factor = layout.global_factor
    global_maps = np.zeros((count, tile, tile), np.uint8)
    for k, prompt in enumerate(prompts):
        canvas[..., k] = _draw_in_frame(prompt, layout.canvas, point_radius)
        if not factor:
            global_maps[k] = _draw_in_frame(prompt, layout.global_view, point_radius)
    if factor:  # the global view is the canvas reduced by `factor`: a pixel is set when any of its canvas pixels is
        reduced = canvas[::factor, ::factor].copy()
        for dy in range(factor):
            for dx in range(factor):
                reduced |= canvas[dy::factor, dx::factor]
        global_maps = reduced.transpose(2, 0, 1)
    tiles = cut_tiles(canvas, layout).transpose(0, 3, 1, 2)  # (n_tiles, K, T, T)
    # C order (numpy keeps the canvas's channel-last memory layout otherwise, and packing rows then costs 20x more)
    maps = np.ascontiguousarray(np.concatenate([global_maps[None], tiles], axis=0))
    for k in np.flatnonzero(~maps.any(axis=(0, 2, 3))):
        raise ValueError(f"{argument}[{k}] ({prompts[k]['type']}) lies entirely outside the "
                         f"{layout.width}x{layout.height} image: it covers none of its pixels.")
    return maps


__all__ = ["MAX_RLE_PIXELS", "mask_to_rle", "rle_to_mask", "PROMPT_TYPES", "MAX_VERTICES", "MAX_MAGNITUDE",
           "EDGE_TOLERANCE", "validate_prompt", "validate_prompts", "rasterise_prompts", "prompt_bounds"]
