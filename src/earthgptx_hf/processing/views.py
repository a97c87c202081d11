"""View geometry (SPEC section 2.1): one global view plus a grid of tiles, and the SAM view.

Every view is an axis-aligned affine map of the original image, `x_view = sx * x + ox`, `y_view = sy * y + oy`, in
continuous pixel coordinates (pixel (i, j) covers [j, j+1) x [i, i+1)). The image views and the prompt maps are made
with the same maps, so a prompt lands on the same pixels as the object it marks, in every view.

- Canvas: the image is resized to fit `rows*tile x cols*tile` (aspect ratio kept), centred, and padded with the fill
  colour; the tiles are the `rows x cols` crops of the canvas. With the default 2x2 grid this is "pad to a square,
  resize to 448, cut four 224 tiles".
- Global view: with a square grid (the default), the canvas reduced by the grid size (`PIL.Image.reduce`, a box
  filter), i.e. "the 448 image downsampled to 224"; the prompt maps are reduced the same way (a global pixel is set
  when any of its canvas pixels is). With a non-square grid, the image resized to fit `tile x tile`, centred, padded.
- SAM view: the longest side resized to `sam_size`, padded at the bottom and right (SAM's convention; the processor
  pads with SAM's 8-bit mean colour, which the model sets to 0 after normalising, SAM's padding value).
- With `grid_pinpoints` (LLaVA-NeXT's idea), the grid is chosen per image by transformers'
  `select_best_resolution` among the allowed `[rows, cols]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from transformers.image_processing_utils import select_best_resolution

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


__all__ = ["Placement", "ImageLayout", "plan_layout", "render_views", "render_sam_view", "cut_tiles", "place", "fit"]
