"""Where the model looks in a scene: a grid of tiles with overlap (image-level tasks, as TorchGeo's `GridGeoSampler`
and samgeo's tiled generation do: `grid_windows`) or one window per group of prompts (region tasks: `region_windows`).

The region windows, `SceneWindow` and `read_shape` are `earthgptx_hf.data.windows`'s (numpy only, shared with the data
layer's zoom-in evaluation, which owns their rules); this module adds the tile grid and rasterio's `Window` of a scene
window (`rasterio_window`), through which windows are read and written.
"""

from __future__ import annotations

from collections.abc import Sequence

from rasterio.windows import Window

from ..data.windows import SceneWindow, read_shape, region_windows


def rasterio_window(window: SceneWindow) -> Window:
    """The `rasterio.windows.Window` a scene window is read and written through."""
    return Window(window.col_off, window.row_off, window.width, window.height)


class _Starts:
    """The start offsets of tiles of `size` every `stride` pixels along `length`, the last ending at the edge (full-
    sized, overlapping more), computed on demand. Hand-written: rasterio has no overlapping grid (its `block_windows`
    are the file's own blocks, edge to edge), and this one must stay lazy for any header (`TileGrid`)."""

    def __init__(self, length: int, size: int, stride: int):
        self.length, self.size = length, size
        self.count = 1 if length <= size else len(range(0, length - size, stride)) + 1
        self.stride = stride

    def __getitem__(self, i: int) -> int:
        return 0 if self.length <= self.size else min(i * self.stride, self.length - self.size) \
            if i < self.count - 1 else self.length - self.size


class TileGrid(Sequence):
    """Tiles of `size` x `size` (smaller only where the scene is) covering a scene, neighbours overlapping by at least
    `overlap` pixels, in row-major order: a lazy sequence (its length is arithmetic and each tile is made when it is
    used), so that a header claiming 10^6 x 10^6 pixels costs nothing until its tiles are read."""

    def __init__(self, width: int, height: int, size: int, overlap: int, max_read: int | None = None):
        if not 0 <= overlap < size:
            raise ValueError(f"tile_overlap={overlap} must be at least 0 and smaller than the tile size {size}.")
        self.rows, self.cols = _Starts(height, size, size - overlap), _Starts(width, size, size - overlap)
        self.size, self.scene = size, Window(0, 0, width, height)
        # a tile is the `size` square at its start clipped to the scene (rasterio's window intersection): whole where
        # the scene is larger (the starts keep it inside), the scene's own side where it is smaller
        first = Window(0, 0, size, size).intersection(self.scene)
        self.tile_width, self.tile_height = int(first.width), int(first.height)
        self.out_shape = read_shape(self.tile_width, self.tile_height, max_read or size)

    def __len__(self) -> int:
        return self.rows.count * self.cols.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"tile {index} of a grid of {len(self)}")
        r, c = divmod(index, self.cols.count)
        tile = Window(self.cols[c], self.rows[r], self.size, self.size).intersection(self.scene)
        return SceneWindow(int(tile.col_off), int(tile.row_off), int(tile.width), int(tile.height), self.out_shape,
                           tile=(r, c))

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def grid_windows(width: int, height: int, size: int, overlap: int, max_read: int | None = None) -> TileGrid:
    """The `TileGrid` of a `width` x `height` scene: tiles of `size`, neighbours overlapping by at least `overlap`."""
    return TileGrid(width, height, size, overlap, max_read)


__all__ = ["SceneWindow", "TileGrid", "grid_windows", "region_windows", "read_shape", "rasterio_window"]
