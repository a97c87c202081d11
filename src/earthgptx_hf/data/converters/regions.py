"""Connected class regions of a label map, and their masks on the point objects of `segmentation.py`.

`connected_regions(binary)` labels the 8-connected regions of a boolean map with a run-length union-find (one pass
over each row's runs, which numpy finds; no per-pixel Python loop, and no SciPy or OpenCV dependency). A point
object read from a label map lies on one region of its class: `attach_region_masks` gives it that region's mask
(COCO RLE), so that a label map feeds grounding records ("segment the region at this point") as well as point
classification. Every point of one region shares the region's one mask object.
"""

from __future__ import annotations

import numpy as np

from ...models.earthgptx.visual_prompts import mask_to_rle


def _runs(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the True runs of a boolean row (ends exclusive)."""
    edges = np.diff(np.concatenate([[False], row, [False]]).astype(np.int8))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def connected_regions(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """`(labels (H, W) int32, count)`: 0 outside `binary`, 1..count for its 8-connected regions, in reading order."""
    binary = np.asarray(binary, bool)
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows, previous = [], (np.empty(0, int), np.empty(0, int), [])
    for y in range(binary.shape[0]):
        starts, ends = _runs(binary[y])
        ids = []
        for start, end in zip(starts, ends):
            ids.append(len(parent))
            parent.append(len(parent))
            # runs of the row above that touch this one, diagonals included
            for k in np.flatnonzero((previous[0] <= end) & (previous[1] >= start)):
                a, b = find(ids[-1]), find(previous[2][k])
                parent[max(a, b)] = min(a, b)
        rows.append((starts, ends, ids))
        previous = (starts, ends, ids)
    labels = np.zeros(binary.shape, np.int32)
    roots: dict[int, int] = {}
    for y, (starts, ends, ids) in enumerate(rows):
        for start, end, run in zip(starts, ends, ids):
            labels[y, start:end] = roots.setdefault(find(run), len(roots) + 1)
    return labels, len(roots)


def attach_region_masks(objects: list, label_map: np.ndarray, class_ids: dict[str, int]) -> int:
    """Gives each point object of `label_map` the mask of the connected region of its class it lies on; returns how
    many regions gave masks."""
    regions: dict[int, np.ndarray] = {}
    masks: dict[tuple[int, int], dict] = {}
    for obj in objects:
        if obj.point is None or obj.category not in class_ids:
            continue
        value = class_ids[obj.category]
        if value not in regions:
            regions[value] = connected_regions(label_map == value)[0]
        x, y = int(obj.point[0]), int(obj.point[1])
        region = int(regions[value][y, x])
        if region == 0:  # not on its class (cannot happen for points sampled on the class)
            continue
        if (value, region) not in masks:
            masks[(value, region)] = mask_to_rle(regions[value] == region)
        obj.mask = masks[(value, region)]
    return len(masks)


__all__ = ["connected_regions", "attach_region_masks"]
