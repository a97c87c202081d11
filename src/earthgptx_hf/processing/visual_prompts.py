"""Visual prompts: validation into plain JSON-serialisable dicts, and rasterisation into per-view maps.

Prompt dicts (coordinates are pixels of the original image, x to the right, y down, boxes `[x1, y1, x2, y2]`):

    {"type": "point",    "point": [x, y]}
    {"type": "box",      "bbox": [x1, y1, x2, y2]}
    {"type": "polygon",  "points": [[x, y], ...]}                 at least 3 vertices, non-zero area
    {"type": "scribble", "points": [[x, y], ...], "width": w}     a polyline at least 2 points long, w > 0 pixels
    {"type": "circle",   "center": [x, y], "radius": r}           r > 0
    {"type": "mask",     "mask": bool (H, W) array | nested lists | {"size": [H, W], "counts": [...]}}

Masks come out of `validate_prompts` as COCO uncompressed RLE (column-major runs, starting with a run of 0s), so every
validated prompt is JSON-serialisable.

Outside the image (one rule for every type): a prompt must cover part of the image. A prompt entirely outside it
(or a point outside it) raises ValueError; the parts of a prompt that lie outside are clipped away, with one
`UserWarning` per call that counts them. Nothing is dropped silently.

Rasterisation (SPEC section 2.3): prompt i becomes channel i of a map aligned with every view, made with the same
resize, pad and crop as the image (`views.py`). Boxes are filled rectangles (every view pixel that the box overlaps),
points a disc of `point_radius` view pixels, polygons filled, scribbles thick polylines, circles discs, masks are
resized with area averaging (a view pixel is set when any mask pixel falls in it). Drawing uses PIL's C rasteriser and
numpy slicing: no Python loop over pixels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from .views import ImageLayout, Placement, cut_tiles

PROMPT_TYPES = ("point", "box", "polygon", "scribble", "circle", "mask")


# ---------------------------------------------------------------------------------------------------------------------
# RLE (COCO uncompressed, column-major)
def mask_to_rle(mask: np.ndarray) -> dict:
    """Bool `(H, W)` -> `{"size": [H, W], "counts": [...]}` (runs over the column-major pixels, 0-run first)."""
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def rle_to_mask(rle: Mapping) -> np.ndarray:
    """`{"size": [H, W], "counts": [...]}` (uncompressed) -> bool `(H, W)`."""
    height, width = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, but size {height}x{width} has {height * width} pixels.")
    values = np.arange(counts.size) % 2 == 1
    return np.repeat(values, counts).reshape(width, height).T


# ---------------------------------------------------------------------------------------------------------------------
# Validation
def _numbers(value, count: int | None, where: str) -> list[float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) and not hasattr(value, "tolist"):
        raise TypeError(f"{where} must be a list of numbers, got {type(value).__name__}.")
    values = np.asarray(value.tolist() if hasattr(value, "tolist") else value, dtype=object).reshape(-1).tolist()
    if count is not None and len(values) != count:
        raise ValueError(f"{where} must have {count} numbers, got {len(values)}: {value!r}.")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{where} must hold numbers, got {v!r} ({type(v).__name__}).")
        if not math.isfinite(float(v)):
            raise ValueError(f"{where} must hold finite numbers, got {v!r}.")
        out.append(float(v))
    return out


def _points(value, minimum: int, where: str) -> list[list[float]]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{where} must be a list of [x, y] pairs, got {type(value).__name__}.")
    points = [_numbers(p, 2, f"{where}[{i}]") for i, p in enumerate(value)]
    if len(points) < minimum:
        raise ValueError(f"{where} needs at least {minimum} points, got {len(points)}.")
    return points


def _bounds_of(prompt: dict) -> tuple[float, float, float, float]:
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
    if kind not in PROMPT_TYPES:
        raise ValueError(f"{where}['type'] is {kind!r}; valid types are {list(PROMPT_TYPES)}.")
    required = {"point": ("point",), "box": ("bbox",), "polygon": ("points",), "scribble": ("points", "width"),
                "circle": ("center", "radius"), "mask": ("mask",)}[kind]
    for key in required:
        if key not in prompt:
            raise ValueError(f"{where} is a {kind} prompt without its {key!r} key.")
    if kind == "mask":
        return _validate_mask(prompt["mask"], image_size, f"{where}['mask']"), False
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
        xy = np.asarray(clean["points"])
        area = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
        if area <= 0:
            raise ValueError(f"{where}['points'] encloses no area (its vertices are collinear or repeated).")
    elif kind == "scribble":
        clean["points"] = _points(prompt["points"], 2, f"{where}['points']")
        (clean["width"],) = _numbers([prompt["width"]], 1, f"{where}['width']")
        if clean["width"] <= 0:
            raise ValueError(f"{where}['width'] must be positive, got {clean['width']}.")
    elif kind == "circle":
        clean["center"] = _numbers(prompt["center"], 2, f"{where}['center']")
        (clean["radius"],) = _numbers([prompt["radius"]], 1, f"{where}['radius']")
        if clean["radius"] <= 0:
            raise ValueError(f"{where}['radius'] must be positive, got {clean['radius']}.")
    x1, y1, x2, y2 = _bounds_of(clean)
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        raise ValueError(f"{where} lies entirely outside the {width}x{height} image (its extent is "
                         f"[{x1:g}, {y1:g}, {x2:g}, {y2:g}]).")
    return clean, (x1 < 0 or y1 < 0 or x2 > width or y2 > height)


def _validate_mask(mask, image_size: tuple[int, int], where: str) -> dict:
    if isinstance(mask, Mapping):
        if "size" not in mask or "counts" not in mask:
            raise ValueError(f"{where} as a dict must be uncompressed RLE with 'size' and 'counts'.")
        if isinstance(mask["counts"], (str, bytes)):
            raise ValueError(f"{where} holds compressed RLE; decode it first (pycocotools.mask.decode).")
        array = rle_to_mask(mask)
    else:
        if hasattr(mask, "detach"):
            mask = mask.detach().cpu().numpy()
        array = np.asarray(mask)
        if array.dtype == object:
            raise TypeError(f"{where} must be a boolean (H, W) array, got ragged or non-numeric data.")
        if array.ndim != 2:
            raise ValueError(f"{where} must be a 2-D (H, W) array, got shape {tuple(array.shape)}.")
        array = array.astype(bool)
    if tuple(array.shape) != tuple(image_size):
        raise ValueError(f"{where} has shape {tuple(array.shape)}, but the image is {tuple(image_size)} (H, W).")
    if not array.any():
        raise ValueError(f"{where} is empty: a mask prompt must select at least one pixel.")
    return {"type": "mask", "mask": mask_to_rle(array)}


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
        # every pixel the box overlaps with positive area, inside the image area
        eps = 1e-9  # a box edge that falls on a pixel edge must not take the next pixel through rounding error
        c1, c2 = math.floor(max(x1, 0) * sx + ox + eps), math.ceil(min(x2, rw / sx) * sx + ox - eps)
        r1, r2 = math.floor(max(y1, 0) * sy + oy + eps), math.ceil(min(y2, rh / sy) * sy + oy - eps)
        out[max(r1, oy) : min(r2, oy + rh), max(c1, ox) : min(c2, ox + rw)] = 1
        return out
    if kind == "mask":
        mask = rle_to_mask(prompt["mask"]).astype(np.uint8) * 255
        resized = np.asarray(Image.fromarray(mask).resize((rw, rh), resample=Image.BOX))
        out[oy : oy + rh, ox : ox + rw] = resized > 0
        return out
    canvas = Image.new("L", (frame_w, frame_h), 0)
    draw = ImageDraw.Draw(canvas)

    def to_frame(xy):  # continuous coordinates -> PIL's pixel-centre coordinates
        return [(x * sx + ox - 0.5, y * sy + oy - 0.5) for x, y in xy]

    if kind == "point":
        (cx, cy), = to_frame([prompt["point"]])
        draw.ellipse([cx - point_radius, cy - point_radius, cx + point_radius, cy + point_radius], fill=1)
    elif kind == "circle":
        (cx, cy), = to_frame([prompt["center"]])
        rx, ry = max(prompt["radius"] * sx, 0.5), max(prompt["radius"] * sy, 0.5)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=1)
    elif kind == "polygon":
        draw.polygon(to_frame(prompt["points"]), fill=1, outline=1)
    elif kind == "scribble":
        points = to_frame(prompt["points"])
        width = max(1, round(prompt["width"] * (sx + sy) / 2))
        draw.line(points, fill=1, width=width, joint="curve")
        r = width / 2
        for x, y in (points[0], points[-1]):  # round caps
            draw.ellipse([x - r, y - r, x + r, y + r], fill=1)
    out[:] = np.asarray(canvas)
    # clip to the image area (nothing in the padding)
    out[:oy] = 0
    out[oy + rh :] = 0
    out[:, :ox] = 0
    out[:, ox + rw :] = 0
    return out


def rasterise_prompts(prompts: list[dict], layout: ImageLayout, point_radius: float) -> np.ndarray:
    """Validated prompts of one image -> `(V, K, T, T)` uint8 maps (view order as `render_views`)."""
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
    return np.concatenate([global_maps[None], tiles], axis=0)


__all__ = ["PROMPT_TYPES", "validate_prompt", "validate_prompts", "rasterise_prompts", "mask_to_rle", "rle_to_mask"]
