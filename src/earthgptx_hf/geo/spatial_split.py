"""Spatial validation blocks: windows are held out by where they lie on the map, not one by one.

The map of each scene (its CRS's units) is cut into square blocks of side `validation_block` x the window's side on
the map (4 windows by default), aligned to the CRS's origin. A block is held out when a seeded hash of (CRS, block
column, block row) falls below `validation_split`, so the same block is held out in every scene of that CRS and in
every run with that seed. A window belongs to the block of its centre; a window that also reaches into a block of
the other side is dropped, counted "window straddles the validation boundary", so that no pixel of a validation
block is ever seen in training (scenes in different CRSs that overlap on the ground are not checked against each
other: give overlapping scenes one CRS).
"""

from __future__ import annotations

import hashlib
import math

TRAIN, VALIDATION = "train", "validation"


def _held_out(crs_key: str, column: int, row: int, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{crs_key}:{column}:{row}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < fraction


class SpatialSplit:
    """Assigns map rectangles (a window's bounds in its scene's CRS) to "train" or "validation" (module docstring)."""

    def __init__(self, fraction: float, block_side: float, crs_key: str, seed: int = 0):
        if not block_side > 0 or not math.isfinite(block_side):
            raise ValueError(f"validation block side {block_side!r} must be a positive number of map units.")
        self.fraction, self.side, self.crs_key, self.seed = fraction, block_side, crs_key, seed

    def side_of(self, x: float, y: float) -> str:
        column, row = math.floor(x / self.side), math.floor(y / self.side)
        return VALIDATION if _held_out(self.crs_key, column, row, self.fraction, self.seed) else TRAIN

    def assign(self, bounds: tuple[float, float, float, float]) -> str | None:
        """The side of the window with map `bounds` (minx, miny, maxx, maxy), or None when it straddles both."""
        if not self.fraction:
            return TRAIN
        minx, miny, maxx, maxy = bounds
        side = self.side_of((minx + maxx) / 2, (miny + maxy) / 2)
        eps = 1e-9 * self.side
        columns = range(math.floor(minx / self.side), math.floor((maxx - eps) / self.side) + 1)
        rows = range(math.floor(miny / self.side), math.floor((maxy - eps) / self.side) + 1)
        for column in columns:
            for row in rows:
                held = _held_out(self.crs_key, column, row, self.fraction, self.seed)
                if (VALIDATION if held else TRAIN) != side:
                    return None
        return side


__all__ = ["SpatialSplit", "TRAIN", "VALIDATION"]
