"""Where the model looks in a scene: a grid of tiles with overlap (image-level tasks, as TorchGeo's `GridGeoSampler`
and samgeo's tiled generation do) or one window per group of prompts (region tasks).

Region windows (zoom-in): a prompt is answered on a square window centred on it whose side is `context` times the
prompt's longer side, and at least one model canvas, shifted to lie inside the scene (a scene smaller than the window
is taken whole in that direction). Prompts are answered together, in one window, when the window of their union is no
larger than the largest window one of them needs alone (so none of them is seen at a coarser scale than the largest
alone would be) and they are at most `max_regions`; every prompt is in exactly one window, so a prompt on a tile border
is answered once.

A window larger than `max_read` pixels on its longer side is read decimated to `max_read` (`SceneWindow.out_shape`):
the model sees at most a canvas anyway, and the SAM view at most its own size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window


@dataclass(frozen=True)
class SceneWindow:
    """A window of the scene (`col_off`, `row_off`, `width`, `height` in scene pixels), the shape it is read at
    (`out_shape`, (height, width)), the prompts it answers (`members`: positions in the prompt list) and, for grid
    tiles, the tile's (row, col)."""

    col_off: int
    row_off: int
    width: int
    height: int
    out_shape: tuple[int, int]
    members: tuple[int, ...] = ()
    tile: tuple[int, int] | None = None

    @property
    def window(self) -> Window:
        return Window(self.col_off, self.row_off, self.width, self.height)

    @property
    def scale(self) -> tuple[float, float]:
        """Scene pixels per read pixel, (x, y)."""
        return self.width / self.out_shape[1], self.height / self.out_shape[0]

    @property
    def label(self) -> str:
        """`col_off,row_off,width,height`: how outputs name the window."""
        return f"{self.col_off},{self.row_off},{self.width},{self.height}"


def read_shape(width: int, height: int, max_read: int) -> tuple[int, int]:
    """(height, width) a `width` x `height` window is read at: itself, or decimated to `max_read` on its longer
    side."""
    longest = max(width, height)
    if longest <= max_read:
        return height, width
    scale = max_read / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def _starts(length: int, size: int, stride: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    return starts + [length - size]  # the last tile ends at the scene's edge (full-sized, overlapping more)


def grid_windows(width: int, height: int, size: int, overlap: int, max_read: int | None = None) -> list[SceneWindow]:
    """Tiles of `size` x `size` (smaller only where the scene is) covering the scene, neighbours overlapping by at
    least `overlap` pixels, in row-major order."""
    if not 0 <= overlap < size:
        raise ValueError(f"tile_overlap={overlap} must be at least 0 and smaller than the tile size {size}.")
    stride = size - overlap
    windows = []
    for r, row in enumerate(_starts(height, size, stride)):
        for c, col in enumerate(_starts(width, size, stride)):
            w, h = min(size, width), min(size, height)
            windows.append(SceneWindow(col, row, w, h, read_shape(w, h, max_read or size), tile=(r, c)))
    return windows


def _place(centre: float, side: int, length: int) -> tuple[int, int]:
    """(start, size) of a window of `side` centred on `centre`, inside [0, length)."""
    side = min(side, length)
    start = int(math.floor(centre - side / 2))
    return min(max(start, 0), length - side), side


def _side(extent: np.ndarray, canvas: int, context: float) -> int:
    return max(canvas, int(math.ceil(context * max(extent[2] - extent[0], extent[3] - extent[1]))))


def region_windows(extents, width: int, height: int, canvas: int, context: float = 2.0, max_regions: int = 16,
                   max_read: int | None = None) -> list[SceneWindow]:
    """Windows that answer prompts of pixel `extents` (`(N, 4)`: min col, min row, max col, max row), grouped as the
    module docstring says; each window lists its prompts (`members`), in input order."""
    if context < 1:
        raise ValueError(f"context={context!r} must be at least 1 (the window's side in prompt extents).")
    extents = np.asarray(extents, float).reshape(-1, 4)
    sides = [_side(e, canvas, context) for e in extents]
    groups: list[dict] = []  # {"members": [...], "union": extent, "side": int}
    for i in sorted(range(len(extents)), key=lambda k: -sides[k]):  # the largest first: the others join them
        e = extents[i]
        for group in groups:
            if len(group["members"]) >= max_regions:
                continue
            u = group["union"]
            union = np.array([min(u[0], e[0]), min(u[1], e[1]), max(u[2], e[2]), max(u[3], e[3])])
            if _side(union, canvas, context) <= max(group["side"], sides[i]):
                group["members"].append(i)
                group["union"] = union
                group["side"] = max(group["side"], sides[i])
                break
        else:
            groups.append({"members": [i], "union": e.copy(), "side": sides[i]})
    windows = []
    for group in groups:
        u = group["union"]
        col, w = _place((u[0] + u[2]) / 2, group["side"], width)
        row, h = _place((u[1] + u[3]) / 2, group["side"], height)
        windows.append(SceneWindow(col, row, w, h, read_shape(w, h, max_read or max(w, h)),
                                   members=tuple(sorted(group["members"]))))
    return sorted(windows, key=lambda win: win.members[0])


__all__ = ["SceneWindow", "grid_windows", "region_windows", "read_shape"]
