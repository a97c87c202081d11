"""Objects found by name over a scene (`task="find"`): each window's instances on the map, merged across windows so
that an object cut by window borders is one feature.

    found = window_instances(result, window, window_georeference, tolerance)   # per window, as it streams by
    objects = merge_instances(found)                                            # once, at the end of the scene

Each instance of a window's `find` answer (the pipeline's `result["instances"]`: label, bool mask at the window
image's size, score) is vectorised in that window's georeference (`vectorise.mask_to_geometry`, as segment masks are)
and keeps the window's footprint: only the geometries and footprints accumulate, never the masks.

The merge rule. Two instances `a` and `b` found on different, overlapping windows are the same object when, within
`shared = footprint(a) & footprint(b)` (what both windows saw), with `A = a & shared`, `B = b & shared` and
`I = area(A & B)`:

    I / area(A | B) >= iou_threshold      (IoU within the shared footprint; 0.5)
    or  I / min(area(A), area(B)) >= ios_threshold   (SAHI's intersection over the smaller; 0.5)

Clipping first is what lets an object cut by a window edge merge with the view that saw more of it: plain IoU of a
half and a whole is about 0.5 at best, but within the footprint both windows saw, they are the same pixels. (With
both thresholds equal the IoS test alone decides: IoU >= t implies IoS >= t.) Instances of one window are never
compared with each other: the model told them apart. "Same object" links are closed transitively (connected
components), so a concave object that one window sees as two pieces and another as one is one
feature. A merged object's geometry is the union of its instances' geometries; its label, score and window are those
of its best-scored instance (ties: the first window in row-major order); `merged_from` counts its instances. The
result does not depend on the order instances are given in (candidates come from a shapely `STRtree`; objects are
returned in the row-major order of their best instance's window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from .features import OUTPUT_CRS, MapProjection, feature_collection, instance_feature, pixels_to_map
from .vectorise import DEFAULT_TOLERANCE, mask_to_geometry
from .windows import SceneWindow

IOU_THRESHOLD = 0.5  # IoU of two instances within the footprint their windows share
IOS_THRESHOLD = 0.5  # intersection over the smaller of the two, within that footprint (SAHI's IoS)


@dataclass(frozen=True)
class Instance:
    """One object found on one window, or several merged (`merged_from`): its geometry and the window's footprint in
    the raster's CRS, the pipeline's label and score, the window (`col_off,row_off,width,height`, as features name
    it) and its position in the window's instances (`index`)."""

    geometry: BaseGeometry
    footprint: BaseGeometry
    label: str | None
    score: float | None
    window: str
    index: int = 0
    merged_from: int = 1

    @property
    def order(self) -> tuple:
        """Row-major position of the window (row, col, then size), then the instance's index in it."""
        col, row, width, height = (int(v) for v in self.window.split(","))
        return row, col, height, width, self.index

    @property
    def key(self) -> tuple:
        """A total order: `order`, then the geometry (two instances never tie, whatever order they come in)."""
        return self.order, self.geometry.wkb

    @property
    def rank(self) -> tuple:
        """The better instance of a merged object sorts first: the higher score, then the earlier window."""
        return -(float("-inf") if self.score is None else self.score), self.key


def window_instances(result: dict, window, window_georeference, tolerance: float = 1.0) -> list[Instance]:
    """The instances of one window's `find` result (`result["instances"]`), vectorised on `window_georeference` (the
    window read at its image's size) with `tolerance` in scene pixels; empty masks are left out. A mask of another
    size than the window's image, or a score that is not a finite number (or None), raises `ValueError`."""
    footprint = pixels_to_map(box(0, 0, window_georeference.width, window_georeference.height), window_georeference)
    scale = window.width / window_georeference.width  # scene pixels per window image pixel
    out = []
    for index, instance in enumerate(result.get("instances") or []):
        mask, score = instance.get("mask"), instance.get("score")
        where = f"window {window.label}'s instances[{index}]"
        if mask is not None and np.shape(mask) != (window_georeference.height, window_georeference.width):
            raise ValueError(f"{where} has a mask of shape {np.shape(mask)}; a find result's masks are at the window "
                             f"image's size, ({window_georeference.height}, {window_georeference.width}).")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float, np.number))
                                  or not np.isfinite(score)):
            raise ValueError(f"{where} has score={score!r}; a score is a finite number (or None).")
        geometry = None if mask is None else mask_to_geometry(mask, window_georeference.transform, tolerance / scale)
        if geometry is None or geometry.is_empty:
            continue
        out.append(Instance(geometry, footprint, instance.get("label"), None if score is None else float(score),
                            window.label, index))
    return out


def same_object(a: Instance, b: Instance, iou_threshold: float = IOU_THRESHOLD,
                ios_threshold: float = IOS_THRESHOLD) -> bool:
    """Whether `a` and `b` (of different windows) are one object: the module docstring's rule."""
    shared = a.footprint.intersection(b.footprint)
    if shared.is_empty or shared.area <= 0:
        return False
    seen_a, seen_b = a.geometry.intersection(shared), b.geometry.intersection(shared)
    common = seen_a.intersection(seen_b).area
    if common <= 0:
        return False
    smaller = min(seen_a.area, seen_b.area)
    union = seen_a.area + seen_b.area - common
    return common / union >= iou_threshold or common / smaller >= ios_threshold


def _components(count: int, pairs) -> list[list[int]]:
    """Connected components of `count` nodes linked by `pairs`, each sorted, in the order of their first node."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def merge_instances(instances, iou_threshold: float = IOU_THRESHOLD,
                    ios_threshold: float = IOS_THRESHOLD) -> list[Instance]:
    """One `Instance` per object (the module docstring's rule), in the row-major order of each object's best
    instance's window."""
    for name, value in (("iou_threshold", iou_threshold), ("ios_threshold", ios_threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"{name}={value!r} must be in (0, 1].")
    instances = sorted(instances, key=lambda i: i.key)  # canonical: the input's order does not matter
    tree = STRtree([i.geometry for i in instances])
    left, right = tree.query([i.geometry for i in instances], predicate="intersects") if instances \
        else (np.empty(0, int), np.empty(0, int))
    pairs = [(int(i), int(j)) for i, j in zip(left, right) if i < j
             and instances[i].window != instances[j].window
             and same_object(instances[i], instances[j], iou_threshold, ios_threshold)]
    merged = []
    for group in _components(len(instances), pairs):
        members = [instances[i] for i in group]
        best = min(members, key=lambda i: i.rank)
        geometry = best.geometry if len(members) == 1 else shapely.union_all([m.geometry for m in members])
        merged.append(Instance(geometry, shapely.union_all([m.footprint for m in members]), best.label, best.score,
                               best.window, best.index, sum(m.merged_from for m in members)))
    return sorted(merged, key=lambda i: i.key)


def result_find_features(result: dict, georeference, *, out_crs=OUTPUT_CRS, tolerance: float = DEFAULT_TOLERANCE,
                         task: str = "find", query: str | None = None, model: str | None = None) -> dict:
    """One `pipeline("visual-prompting", task="find")` result on a georeferenced image (the whole image, one window)
    as a FeatureCollection: one feature per instance (`instance_feature`), what the pipeline adds as `geometries`."""
    whole = SceneWindow(0, 0, georeference.width, georeference.height, (georeference.height, georeference.width))
    projection = MapProjection(georeference.crs, out_crs, georeference.source)
    found = window_instances(result, whole, georeference, tolerance)
    return feature_collection([instance_feature(i, projection, query=query, source=georeference.source, model=model)
                               for i in found], projection)


__all__ = ["IOS_THRESHOLD", "IOU_THRESHOLD", "Instance", "merge_instances", "result_find_features", "same_object",
           "window_instances"]
