"""Where a model looks in an image or a scene, in pixels: one window per group of nearby regions (zoom-in), and the
shape a window is read at. numpy and the standard library only: the data layer (`zoom_in`) and `geo.windows` (scenes,
which adds the tile grid and rasterio's `Window`) share these rules, owned here.

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
from collections import defaultdict
from dataclasses import dataclass

import numpy as np


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


def _place(centre: float, side: int, length: int) -> tuple[int, int]:
    """(start, size) of a window of `side` centred on `centre`, inside [0, length)."""
    side = min(side, length)
    start = int(math.floor(centre - side / 2))
    return min(max(start, 0), length - side), side


def _side(extent: np.ndarray, canvas: int, context: float) -> int:
    return max(canvas, int(math.ceil(context * max(extent[2] - extent[0], extent[3] - extent[1]))))


class _GroupIndex:
    """Open groups of region prompts, found by where a prompt could join them: a multi-level grid (a spatial hash).

    A prompt joins a group only when the window of their union is no larger than the group's side, so the union's
    longer extent is at most `reach` = side / context: the prompt lies in the seed's extent grown by `reach` (a box
    that only shrinks as the group grows, so it is filed once). A group is filed in the cells of the grid level whose
    cell is at least that box (at most four cells) and taken out when full; a prompt looks up the cell holding its
    centre at each level. Near-linear in the prompts."""

    def __init__(self, canvas: int):
        self.base = max(1.0, float(canvas))
        self.cells: dict[tuple[int, int, int], set[int]] = defaultdict(set)
        self.filed: dict[int, list[tuple[int, int, int]]] = {}
        self.levels = 0

    def add(self, number: int, extent: np.ndarray, reach: float) -> None:
        box = (extent[2] - reach, extent[3] - reach, extent[0] + reach, extent[1] + reach)
        side = max(box[2] - box[0], box[3] - box[1], 1.0)
        level = max(0, math.ceil(math.log2(side / self.base)))
        self.levels = max(self.levels, level)
        cell = self.base * 2**level
        keys = [(level, cx, cy) for cx in range(math.floor(box[0] / cell), math.floor(box[2] / cell) + 1)
                for cy in range(math.floor(box[1] / cell), math.floor(box[3] / cell) + 1)]
        for key in keys:
            self.cells[key].add(number)
        self.filed[number] = keys

    def remove(self, number: int) -> None:
        for key in self.filed.pop(number, ()):
            self.cells[key].discard(number)

    def candidates(self, extent: np.ndarray) -> list[int]:
        x, y = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
        found = set()
        for level in range(self.levels + 1):
            cell = self.base * 2**level
            found.update(self.cells.get((level, math.floor(x / cell), math.floor(y / cell)), ()))
        return sorted(found)  # creation order: the first group that fits takes the prompt, as a scan would


def region_windows(extents, width: int, height: int, canvas: int, context: float = 2.0, max_regions: int = 16,
                   max_read: int | None = None) -> list[SceneWindow]:
    """Windows that answer prompts of pixel `extents` (`(N, 4)`: min col, min row, max col, max row), grouped as the
    module docstring says; each window lists its prompts (`members`), in input order. The groups are found through a
    spatial index (`_GroupIndex`), so 30,000 prompts take seconds, not hours."""
    if context < 1:
        raise ValueError(f"context={context!r} must be at least 1 (the window's side in prompt extents).")
    extents = np.asarray(extents, float).reshape(-1, 4)
    sides = [_side(e, canvas, context) for e in extents]
    groups: list[dict] = []  # {"members": [...], "union": extent, "side": int}
    index = _GroupIndex(canvas)
    for i in sorted(range(len(extents)), key=lambda k: -sides[k]):  # the largest first: the others join them
        e = extents[i]
        for number in index.candidates(e):
            group = groups[number]
            u = group["union"]
            union = np.array([min(u[0], e[0]), min(u[1], e[1]), max(u[2], e[2]), max(u[3], e[3])])
            if _side(union, canvas, context) <= max(group["side"], sides[i]):
                group["members"].append(i)
                group["union"] = union
                group["side"] = max(group["side"], sides[i])
                if len(group["members"]) >= max_regions:
                    index.remove(number)
                break
        else:
            groups.append({"members": [i], "union": e.copy(), "side": sides[i]})
            if max_regions > 1:
                index.add(len(groups) - 1, e, sides[i] / context)
    windows = []
    for group in groups:
        u = group["union"]
        col, w = _place((u[0] + u[2]) / 2, group["side"], width)
        row, h = _place((u[1] + u[3]) / 2, group["side"], height)
        windows.append(SceneWindow(col, row, w, h, read_shape(w, h, max_read or max(w, h)),
                                   members=tuple(sorted(group["members"]))))
    return sorted(windows, key=lambda win: win.members[0])


__all__ = ["SceneWindow", "region_windows", "read_shape"]
