"""Exact, bounded rasterisation of prompt shapes on a pixel grid (numpy only).

Every function works in the local coordinates of a `(h, w)` window (the image area of a view): pixel (i, j) covers
[j, j+1) x [i, i+1) and its centre is (j + 0.5, i + 0.5). The rule is one for every shape: **a pixel is set when its
centre lies in the closed shape**. Shapes are clipped to a rectangle a little larger than the window before anything is
computed, so the cost depends on the window and the vertex count only, never on how large or far away a coordinate,
radius or width is, and the pixels inside the window are exactly those of the unclipped shape (up to float64 rounding).

The work is done per (piece, row) pair with closed-form intervals, accumulated with `np.bincount`: no Python loop over
pixels, no loop over vertices. Clipping (Sutherland-Hodgman for polygons, Liang-Barsky for segments) is written here by
hand because no geometry library (shapely, skimage) is a dependency; both are a few vectorised lines against a
rectangle.

Why PIL is not used for these shapes: `ImageDraw` rounds every coordinate to an integer and takes C ints, so huge
coordinates overflow (a radius >= 2**31 draws nothing, a vertex at 1e10 fills the wrong side) and huge shapes are drawn
in full (a radius of 1e9 takes minutes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from transformers.image_processing_utils import select_best_resolution

# --------------------------------------------------------------------------------------------------------------------
# View geometry (SPEC section 2.1): one global view plus a grid of tiles, and the SAM view.
#
# Every view is an axis-aligned affine map of the original image, `x_view = sx * x + ox`, `y_view = sy * y + oy`, in
# continuous pixel coordinates (pixel (i, j) covers [j, j+1) x [i, i+1)). The image views and the prompt maps are made
# with the same maps, so a prompt lands on the same pixels as the object it marks, in every view.
#
# - Canvas: the image is resized to fit `rows*tile x cols*tile` (aspect ratio kept), centred, and padded with the fill
#   colour; the tiles are the `rows x cols` crops of the canvas. With the default 2x2 grid this is "pad to a square,
#   resize to 448, cut four 224 tiles".
# - Global view: with a square grid (the default), the canvas reduced by the grid size (`PIL.Image.reduce`, a box
#   filter), i.e. "the 448 image downsampled to 224"; the prompt maps are reduced the same way (a global pixel is set
#   when any of its canvas pixels is). With a non-square grid, the image resized to fit `tile x tile`, centred, padded.
# - SAM view: the longest side resized to `sam_size`, padded at the bottom and right (SAM's convention; the processor
#   pads with SAM's 8-bit mean colour, which the model sets to 0 after normalising, SAM's padding value).
# - With `grid_pinpoints` (LLaVA-NeXT's idea), the grid is chosen per image by transformers'
#   `select_best_resolution` among the allowed `[rows, cols]`.


# PIL resampling filters and their torch equivalents (with antialias=True, torch reproduces PIL's filters on uint8
# images to within one grey level, and runs several times faster on multi-core CPUs).
_TORCH_MODES = {Image.BICUBIC: "bicubic", Image.BILINEAR: "bilinear"}


@dataclass(frozen=True)
class Placement:
    """Where a resized copy of the image sits: `resized` (h, w) at offset (oy, ox) in a `frame` (h, w)."""

    resized: tuple[int, int]
    offset: tuple[int, int]
    frame: tuple[int, int]
    scale: tuple[float, float]  # (sy, sx)

    def map_xy(self, xy: np.ndarray) -> np.ndarray:
        """Maps `(..., 2)` original (x, y) coordinates into this frame."""
        return xy * np.array([self.scale[1], self.scale[0]]) + np.array([self.offset[1], self.offset[0]])


def fit(height: int, width: int, frame_h: int, frame_w: int, centre: bool = True) -> Placement:
    scale = min(frame_h / height, frame_w / width)
    rh, rw = max(1, min(frame_h, round(height * scale))), max(1, min(frame_w, round(width * scale)))
    offset = ((frame_h - rh) // 2, (frame_w - rw) // 2) if centre else (0, 0)
    return Placement((rh, rw), offset, (frame_h, frame_w), (rh / height, rw / width))


@dataclass(frozen=True)
class ImageLayout:
    """All views of one image. Views are ordered: global view, then tiles row by row."""

    height: int
    width: int
    tile: int
    grid: tuple[int, int]
    canvas: Placement
    global_view: Placement
    sam: Placement

    @property
    def global_factor(self) -> int:
        """The canvas-to-global-view reduction factor for a square grid, 0 when the global view is resized apart."""
        return self.grid[0] if self.grid[0] == self.grid[1] else 0

    @property
    def num_views(self) -> int:
        return 1 + self.grid[0] * self.grid[1]

    def tile_origins(self) -> list[tuple[int, int]]:
        """(y, x) of each tile's top-left corner in the canvas."""
        return [(r * self.tile, c * self.tile) for r in range(self.grid[0]) for c in range(self.grid[1])]

    def view_maps(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each view, `(scale_xy, offset_xy)` with `view_xy = original_xy * scale_xy + offset_xy`."""
        canvas_scale = np.array(self.canvas.scale[::-1])
        canvas_offset = np.array(self.canvas.offset[::-1], float)
        if self.global_factor:
            maps = [(canvas_scale / self.global_factor, canvas_offset / self.global_factor)]
        else:
            maps = [(np.array(self.global_view.scale[::-1]), np.array(self.global_view.offset[::-1], float))]
        for ty, tx in self.tile_origins():
            maps.append((canvas_scale, np.array([self.canvas.offset[1] - tx, self.canvas.offset[0] - ty], float)))
        return maps


def plan_layout(
    height: int,
    width: int,
    tile: int,
    grid: tuple[int, int],
    sam_size: int,
    grid_pinpoints: list[list[int]] | None = None,
) -> ImageLayout:
    if grid_pinpoints:
        resolutions = [(rows * tile, cols * tile) for rows, cols in grid_pinpoints]
        best_h, best_w = select_best_resolution((height, width), resolutions)
        grid = (best_h // tile, best_w // tile)
    rows, cols = grid
    return ImageLayout(
        height=height,
        width=width,
        tile=tile,
        grid=(rows, cols),
        canvas=fit(height, width, rows * tile, cols * tile),
        global_view=fit(height, width, tile, tile),
        sam=fit(height, width, sam_size, sam_size, centre=False),
    )


def resize_uint8(array: np.ndarray, height: int, width: int, resample) -> np.ndarray:
    """Resizes an `(H, W, C)` uint8 image like `PIL.Image.resize` (bicubic or bilinear, antialiased when shrinking)."""
    if array.ndim != 3 or resample not in _TORCH_MODES:
        return np.asarray(Image.fromarray(array).resize((width, height), resample=resample))
    if array.shape[:2] == (height, width):
        return array
    if not array.flags.writeable:  # arrays from PIL are read-only; torch wants writable memory
        array = array.copy()
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
    out = F.interpolate(tensor, size=(height, width), mode=_TORCH_MODES[resample], align_corners=False,
                        antialias=True)
    return out[0].permute(1, 2, 0).numpy()


def place(array: np.ndarray, placement: Placement, fill, resample, channels_first: bool = False) -> np.ndarray:
    """Resizes `array` (H, W[, C]) uint8 into `placement` and pads with `fill` (written to the padding only);
    `channels_first` returns `(C, h, w)`, the layout the resize computes in (no transposed copy)."""
    rh, rw = placement.resized
    resized = resize_uint8(array, rh, rw, resample)
    if channels_first:
        out = np.empty(array.shape[2:] + placement.frame, dtype=array.dtype)
        image = np.moveaxis(out, 0, -1)  # the (h, w, C) view of the same memory
    else:
        out = image = np.empty(placement.frame + array.shape[2:], dtype=array.dtype)
    oy, ox = placement.offset
    image[oy : oy + rh, ox : ox + rw] = resized
    image[:oy], image[oy + rh :] = fill, fill
    image[oy : oy + rh, :ox], image[oy : oy + rh, ox + rw :] = fill, fill
    return out


def cut_tiles(canvas: np.ndarray, layout: ImageLayout) -> np.ndarray:
    """`(rows*T, cols*T, ...)` -> `(rows*cols, T, T, ...)`, row-major (no copy beyond the reshape)."""
    rows, cols = layout.grid
    tile = layout.tile
    rest = canvas.shape[2:]
    tiles = canvas.reshape(rows, tile, cols, tile, *rest).swapaxes(1, 2)
    return tiles.reshape(rows * cols, tile, tile, *rest)


def render_views(pixels: np.ndarray, layout: ImageLayout, fill, resample=Image.BICUBIC) -> np.ndarray:
    """`(H, W, C)` uint8 -> `(V, T, T, C)` uint8 views: global view first, then the tiles. C is 3, or the model's
    `input_bands` (the band adapter's input; `fill` then has C values, and each band is rendered as RGB's are)."""
    canvas = place(pixels, layout.canvas, fill, resample)
    if layout.global_factor and canvas.shape[-1] != 3:  # PIL reduces RGB; other band counts band by band, alike
        global_view = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(canvas[..., band])).reduce(
            layout.global_factor)) for band in range(canvas.shape[-1])], axis=-1)
    elif layout.global_factor:
        global_view = np.asarray(Image.fromarray(canvas).reduce(layout.global_factor))
    else:
        global_view = place(pixels, layout.global_view, fill, resample)
    return np.concatenate([global_view[None], cut_tiles(canvas, layout)], axis=0)


def render_sam_view(pixels: np.ndarray, layout: ImageLayout, fill=0, resample=Image.BILINEAR) -> np.ndarray:
    """`(H, W, 3)` uint8 -> `(3, S, S)` uint8 SAM view, channels first as the model takes it (the image at the top
    left, `fill` elsewhere)."""
    return place(pixels, layout.sam, fill, resample, channels_first=True)


# A disc or stroke at least this wide marks every pixel its centre line passes through, the pixel corners included: a
# centre on a corner is exactly 0.5**0.5 from four pixel centres, and the 1e-6 keeps rounding (539 * (28 / 539) is not
# 28) from marking none of them.
MIN_RADIUS = 0.5**0.5 * (1 + 1e-6)


_BUDGET = 1 << 16  # (piece, row) pairs per chunk: small temporaries that stay in cache


def _row_pairs(first: np.ndarray, counts: np.ndarray):
    """Piece k spans rows `first[k] .. first[k] + counts[k] - 1`: yields `(piece index, row)` arrays in chunks."""
    total = np.cumsum(counts)
    if not total.size or total[-1] == 0:
        return
    cuts = np.searchsorted(total, np.arange(_BUDGET, total[-1], _BUDGET), side="right")
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [counts.size]])):
        if lo >= hi:
            continue
        c = counts[lo:hi]
        piece = np.repeat(np.arange(lo, hi), c)
        row = first[piece] + np.arange(piece.size) - (np.cumsum(c) - c)[piece - lo]
        yield piece, row


def _closed_rows(lo: np.ndarray, hi: np.ndarray, h: int):
    """Pieces covering the rows whose centre c satisfies lo <= c <= hi: `_row_pairs` over them."""
    first = np.clip(np.ceil(lo - 0.5), 0, h).astype(np.int64)
    last = np.clip(np.floor(hi - 0.5), -1, h - 1).astype(np.int64)
    return _row_pairs(first, np.maximum(last - first + 1, 0))


class _Runs:
    """Accumulates closed x-intervals [lo, hi] on rows; `mask()` is their union (pixel (i, j) set when some interval
    on row i holds j + 0.5)."""

    def __init__(self, h: int, w: int):
        self.h, self.w = h, w
        self.delta = np.zeros(h * (w + 1), np.int64)

    def add(self, row: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        w = self.w
        valid = lo <= hi  # drops empty intervals (and NaN, which compares false)
        row, lo, hi = row[valid], lo[valid], hi[valid]
        first = np.clip(np.ceil(lo - 0.5), 0, w).astype(np.int64)
        stop = np.clip(np.floor(hi - 0.5) + 1, 0, w).astype(np.int64)
        keep = first < stop
        base = row[keep] * (w + 1)
        self.delta += np.bincount(base + first[keep], minlength=self.delta.size)
        self.delta -= np.bincount(base + stop[keep], minlength=self.delta.size)

    def mask(self) -> np.ndarray:
        return np.cumsum(self.delta.reshape(self.h, self.w + 1), axis=1)[:, : self.w] > 0


# ---------------------------------------------------------------------------------------------------------------------
# Clipping
def clip_polygon(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Sutherland-Hodgman: `(N, 2)` polygon -> `(M, 2)` polygon clipped to the rectangle [x0, x1] x [y0, y1].

    Each pass replaces the parts outside one edge's half-plane by segments along that edge. The loop the replaced part
    and its replacement form lies outside the half-plane, so the winding number of every point inside is unchanged: the
    even-odd (and nonzero) fill inside the rectangle is exactly the original's, self-intersecting polygons included.
    """
    for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if len(xy) == 0:
            break
        prev = np.roll(xy, 1, axis=0)
        d_cur, d_prev = xy[:, axis] - bound, prev[:, axis] - bound
        if not keep_above:
            d_cur, d_prev = -d_cur, -d_prev
        inside, inside_prev = d_cur >= 0, d_prev >= 0
        crossing = inside != inside_prev
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(crossing, d_prev / (d_prev - d_cur), 0.0)  # from prev
            s = np.where(crossing, d_cur / (d_cur - d_prev), 0.0)  # from cur
        # measured from the nearer end: prev + t (cur - prev) with t near 1 would lose the far end's rounding error
        from_prev = (t <= 0.5)[:, None]
        cut = np.where(from_prev, prev + t[:, None] * (xy - prev), xy + s[:, None] * (prev - xy))
        cut[:, axis] = bound  # exactly on the edge
        both = np.stack([cut, xy], axis=1).reshape(-1, 2)  # for each vertex: the crossing before it, then itself
        emit = np.stack([crossing, inside], axis=1).reshape(-1)
        xy = both[emit]
    return xy


def _liang_barsky(a: np.ndarray, d: np.ndarray, x0: float, y0: float, x1: float, y1: float):
    """Parameters `[t_lo, t_hi]` of the part of `a + t d` (t in [0, 1]) inside the rectangle (t_lo > t_hi: none)."""
    t_lo, t_hi = np.zeros(len(a)), np.ones(len(a))
    for p, q in ((-d[:, 0], a[:, 0] - x0), (d[:, 0], x1 - a[:, 0]), (-d[:, 1], a[:, 1] - y0), (d[:, 1], y1 - a[:, 1])):
        parallel = p == 0
        t_hi = np.where(parallel & (q < 0), -1.0, t_hi)  # parallel to this edge and outside it
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        t_lo = np.where(~parallel & (p < 0), np.maximum(t_lo, r), t_lo)
        t_hi = np.where(~parallel & (p > 0), np.minimum(t_hi, r), t_hi)
    return t_lo, t_hi


def clip_segments(a: np.ndarray, b: np.ndarray, x0: float, y0: float, x1: float, y1: float):
    """Liang-Barsky: segments `a[k] -> b[k]` (`(N, 2)` each) clipped to [x0, x1] x [y0, y1]; returns the kept parts.

    Each clipped end is computed from the nearer original end (the parameters are found from both sides): a + t d
    with t near 1 would carry the rounding error of a far-away a (1e10 has a 2e-6 ulp) into the window.
    """
    d = b - a
    t_lo, t_hi = _liang_barsky(a, d, x0, y0, x1, y1)
    s_lo, s_hi = _liang_barsky(b, -d, x0, y0, x1, y1)  # from b: a' = b - s_hi d, b' = b - s_lo d
    keep = t_lo <= t_hi
    a, b, d, t_lo, t_hi, s_lo, s_hi = a[keep], b[keep], d[keep], t_lo[keep], t_hi[keep], s_lo[keep], s_hi[keep]
    start = np.where((t_lo <= 0.5)[:, None], a + t_lo[:, None] * d, b - s_hi[:, None] * d)
    end = np.where((s_lo <= 0.5)[:, None], b - s_lo[:, None] * d, a + t_hi[:, None] * d)
    return start, end


# ---------------------------------------------------------------------------------------------------------------------
# Shapes
def fill_disc(cx: float, cy: float, rx: float, ry: float, h: int, w: int) -> np.ndarray:
    """Pixels whose centre lies in the ellipse ((x-cx)/rx)^2 + ((y-cy)/ry)^2 <= 1 (a disc when rx == ry)."""
    xs = (np.arange(w) + 0.5 - cx) / rx
    ys = (np.arange(h) + 0.5 - cy) / ry
    corners_x, corners_y = xs[[0, -1, 0, -1]], ys[[0, 0, -1, -1]]
    if (np.hypot(corners_x, corners_y) <= 1).all():  # a convex shape holding the four corner centres holds them all
        return np.ones((h, w), bool)
    if np.abs(xs).min() > 1 or np.abs(ys).min() > 1:  # outside the window's band in x or y: nothing to draw
        return np.zeros((h, w), bool)
    return np.hypot(xs[None, :], ys[:, None]) <= 1


def fill_polygon(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixels whose centre lies inside the polygon `(N, 2)` by the even-odd rule (a bow-tie fills both lobes)."""
    xy = clip_polygon(np.asarray(xy, float), -1.0, -1.0, w + 1.0, h + 1.0)
    if len(xy) < 3:
        return np.zeros((h, w), bool)
    ax, ay = xy[:, 0].copy(), xy[:, 1].copy()
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    with np.errstate(over="ignore"):  # an edge too flat for its slope to be finite crosses no row centre
        slope = np.divide(bx - ax, by - ay, out=np.zeros_like(ax), where=by != ay)
    # an edge crosses the row centre c when min(y) <= c < max(y) (half-open, so a vertex on a row counts once)
    first = np.clip(np.ceil(np.minimum(ay, by) - 0.5), 0, h).astype(np.int64)
    stop = np.clip(np.ceil(np.maximum(ay, by) - 0.5), 0, h).astype(np.int64)
    toggles = np.zeros(h * (w + 1), np.int64)
    for edge, row in _row_pairs(first, np.maximum(stop - first, 0)):
        x = ax[edge] + slope[edge] * (row + 0.5 - ay[edge])
        col = np.clip(np.ceil(x - 0.5), 0, w).astype(np.int64)  # the first pixel centre right of the crossing
        toggles += np.bincount(row * (w + 1) + col, minlength=toggles.size)
    return (np.cumsum(toggles.reshape(h, w + 1), axis=1)[:, :w] & 1).astype(bool)


def stroke_segments(a: np.ndarray, b: np.ndarray, radius: float, h: int, w: int) -> np.ndarray:
    """Pixels whose centre lies within `radius` of any segment `a[k] -> b[k]` (a union of capsules: discs at the ends
    and the rectangles swept between them)."""
    margin = radius + 1.0  # a segment part farther than this from the window cannot reach a pixel centre in it
    a, b = clip_segments(np.asarray(a, float), np.asarray(b, float), -margin, -margin, w + margin, h + margin)
    if len(a) == 0:
        return np.zeros((h, w), bool)
    corners = np.array([[0.5, 0.5], [w - 0.5, 0.5], [0.5, h - 0.5], [w - 0.5, h - 0.5]])
    ends = np.unique(np.concatenate([a, b]), axis=0)
    # a disc around one end that holds the four corner centres holds the whole window (it is convex)
    if (np.hypot(*(corners[None] - ends[:, None]).transpose(2, 0, 1)).max(axis=1) <= radius).any():
        return np.ones((h, w), bool)
    runs = _Runs(h, w)
    ex, ey = ends[:, 0].copy(), ends[:, 1].copy()
    for piece, row in _closed_rows(ey - radius, ey + radius, h):  # round caps and joints
        dy = row + 0.5 - ey[piece]
        half = np.sqrt(np.maximum((radius - dy) * (radius + dy), 0.0))
        runs.add(row, ex[piece] - half, ex[piece] + half)
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 0
    ax, ay, length = a[keep, 0].copy(), a[keep, 1].copy(), length[keep]
    ux, uy = d[keep, 0] / length, d[keep, 1] / length
    # the rectangle swept along a segment, on the row y = c (dy = c - ay), is the x with
    #   along:  0 <= (x - ax) ux + dy uy <= L   ->  x - ax between (0 - dy uy) / ux and (L - dy uy) / ux
    #   across: |(x - ax) uy - dy ux| <= r     ->  x - ax between (dy ux - r) / uy and (dy ux + r) / uy
    # (numerators first, so nothing cancels). A coefficient too small to divide by (a vertical or horizontal segment)
    # makes its condition independent of x, and the rows taken already satisfy it.
    tiny = 1e-280
    reach = radius * np.abs(ux)  # the rectangle's half-height beyond the segment's y-extent
    by = ay + d[keep, 1]
    for piece, row in _closed_rows(np.minimum(ay, by) - reach, np.maximum(ay, by) + reach, h):
        dy = row + 0.5 - ay[piece]
        cx, cy = ux[piece], uy[piece]
        lo = np.full(row.size, -np.inf)
        hi = np.full(row.size, np.inf)
        for coef, first, second in ((cx, -dy * cy, length[piece] - dy * cy), (cy, dy * cx - radius, dy * cx + radius)):
            usable = np.abs(coef) >= tiny
            safe = np.where(usable, coef, 1.0)
            e1, e2 = first / safe, second / safe
            lo = np.where(usable, np.maximum(lo, np.minimum(e1, e2)), lo)
            hi = np.where(usable, np.minimum(hi, np.maximum(e1, e2)), hi)
        runs.add(row, ax[piece] + lo, ax[piece] + hi)
    return runs.mask()


def stroke_polyline(points: np.ndarray, radius: float, h: int, w: int, closed: bool = False) -> np.ndarray:
    """Pixels within `radius` of the polyline `(N, 2)` (of the closed ring when `closed`): a round-capped stroke."""
    points = np.asarray(points, float)
    a = points if closed else points[:-1]
    b = np.roll(points, -1, axis=0) if closed else points[1:]
    if len(a) == 0:  # one point
        a = b = points
    return stroke_segments(a, b, radius, h, w)


def _pool_last(array: np.ndarray, size: int) -> np.ndarray:
    """Max-pools the last axis of a C-contiguous bool array to `size`: output i covers source
    `floor(i*n/size) .. ceil((i+1)*n/size) - 1` (the source pixels overlapping it), as torch's adaptive pooling."""
    n = array.shape[-1]
    i = np.arange(size)
    starts = (i * n) // size
    ends = -((-(i + 1) * n) // size)
    following = np.append(starts[1:], n)  # where each `reduceat` range stops
    data = np.ascontiguousarray(array).view(np.uint8)  # uint8 `maximum.reduceat` along rows is the fast kernel
    out = np.maximum.reduceat(data, starts, axis=-1)
    extra = ends > following  # ranges that also need the one source pixel at `following`
    if extra.any():
        out[..., extra] |= data[..., following[extra]]
    return out.view(bool)


def max_pool(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool `(H, W)` -> bool `(height, width)`: an output pixel is set when any source pixel overlapping it is set.

    Output pixel i covers source rows [i*H/height, (i+1)*H/height). Each axis is pooled along memory rows (numpy's
    `reduceat` is fast there and slow across rows), the small intermediate transposed in between; a column-major mask
    (e.g. decoded from RLE) is pooled in its own layout. Shrinks or enlarges; one pass over the source.
    """
    mask = np.asarray(mask, bool)
    if not mask.flags.c_contiguous and mask.T.flags.c_contiguous:
        return _pool_last(_pool_last(mask.T, height).T, width)
    return _pool_last(_pool_last(mask, width).T, height).T


def mask_box(mask) -> list[float] | None:
    """The tight box `[x1, y1, x2, y2]` (pixel edges) of a mask's pixels; None for an empty mask."""
    ys, xs = np.nonzero(np.asarray(mask))
    return None if not len(xs) else [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


__all__ = ["mask_box", "Placement", "ImageLayout", "plan_layout", "render_views", "render_sam_view", "cut_tiles", "place", "fit",
           "MIN_RADIUS", "clip_polygon", "clip_segments", "fill_disc", "fill_polygon", "stroke_segments",
           "stroke_polyline", "max_pool"]

