"""`[PIX]` masks stitched into one scene-sized, single-band GeoTIFF, written window by window: the full-size array is
never allocated (only the window being written, in strips of `STRIP_ROWS` rows).

Values: 0 where no mask is, `i` inside the mask of region `i` (the scene's prompt numbering); where masks overlap, the
region written first keeps its pixels. The file keeps the source's CRS and transform; it is tiled, DEFLATE-compressed
and sparse (blocks no mask touches take no space). It is written to a temporary file next to `path` and renamed onto
`path` by `close()`; `abort()` (a failed run) deletes it, so a run never leaves half a mask, nor replaces a file
with one.
"""

from __future__ import annotations

import os

import numpy as np
import rasterio
from rasterio.windows import Window

from ..utils.output_paths import partial_path
from .raster import Georeference
from .opening import gdal_env

STRIP_ROWS = 512  # rows of a window read, merged and written at a time
BLOCK = 256


def mask_dtype(count: int) -> str:
    """The smallest unsigned type that numbers `count` regions."""
    return "uint8" if count < 2**8 else "uint16" if count < 2**16 else "uint32"


class MaskWriter:
    """A mask GeoTIFF being written (a context manager).

    Args:
        path: the output file.
        georeference: the scene's (size, CRS, transform).
        count: how many regions may be written (decides the data type).
    """

    def __init__(self, path, georeference: Georeference, count: int):
        self.path = path
        self.written = 0
        profile = {"driver": "GTiff", "width": georeference.width, "height": georeference.height, "count": 1,
                   "dtype": mask_dtype(count), "crs": georeference.crs, "transform": georeference.transform,
                   "tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate", "sparse_ok": True}
        self.temporary = partial_path(path)
        with gdal_env():
            self.dataset = rasterio.open(self.temporary, "w+", **profile)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.abort() if exc_type is not None else self.close()

    def close(self) -> None:
        """Finishes the file and renames it onto `path`."""
        if not self.dataset.closed:
            with gdal_env():
                self.dataset.close()
            os.replace(self.temporary, self.path)

    def abort(self) -> None:
        """Closes and deletes the temporary file: `path` is left as it was."""
        if not self.dataset.closed:
            with gdal_env():
                self.dataset.close()
        if os.path.lexists(self.temporary):
            os.unlink(self.temporary)

    def write(self, window: Window, mask: np.ndarray, value: int) -> None:
        """Writes `value` where `mask` (bool, the window read at any shape: nearest-neighbour to the window's size) is
        set and no earlier region is."""
        mask = np.asarray(mask, bool)
        col, row, width, height = (int(v) for v in (window.col_off, window.row_off, window.width, window.height))
        if not mask.any():
            return
        # nearest neighbour from the mask's grid to the window's pixels (their centres)
        cols = np.minimum(((np.arange(width) + 0.5) * mask.shape[1] / width).astype(np.int64), mask.shape[1] - 1)
        rows_all = np.minimum(((np.arange(height) + 0.5) * mask.shape[0] / height).astype(np.int64),
                              mask.shape[0] - 1)
        with gdal_env():
            for top in range(0, height, STRIP_ROWS):
                rows = rows_all[top : top + STRIP_ROWS]
                strip = mask[rows][:, cols]
                if not strip.any():
                    continue
                target = Window(col, row + top, width, len(rows))
                current = self.dataset.read(1, window=target)
                current[strip & (current == 0)] = value
                self.dataset.write(current, 1, window=target)
        self.written += 1


__all__ = ["MaskWriter", "mask_dtype", "STRIP_ROWS"]
