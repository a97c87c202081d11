"""The `geo` data format of `earthgptx-train` and `earthgptx-eval`: GeoTIFF scenes and a vector label file in, one
`AnnotatedImage` per training window out, which every task builder (`data/tasks.py`) turns into records.
`load_geo_images` is the format's loader: the entry point `geo` of the group `earthgptx_hf.record_formats` (setup.cfg,
`data/formats.py`).

    data_format: geo
    scenes: "scenes/*.tif"            # paths or glob patterns, comma-separated
    labels: labels.gpkg               # any CRS; reprojected to each scene's
    class_attribute: class
    window_size: 256                  # window_unit: pixels | metres;  window_sampling: grid | random
    band_preset: sentinel2_true_colour   # or bands: "4,3,2" / "red,green,blue"; N bands for a model whose
                                         # config_overrides set input_bands: N (the band adapter)
    target_gsd: 0.5                   # metres per pixel of every window (optional)
    validation_split: 0.2             # held-out spatial blocks (geo/spatial_split.py)

Per scene (opened by `opening.open_raster` through `bands.open_training_scene`): the labels are reprojected to its
pixel grid (`labels.py`), windows are sampled (a grid with `window_overlap`, or `windows_per_scene` seeded random
ones), each read on its own (`RasterScene.read_rgb`: memory stays one window, whatever the scene's size), resampled
to `target_gsd` when set (`gsd.py`), and written as a PNG under `<workdir>/geo_windows` (a GeoTIFF of N uint8
bands, photometric grey so that no band is tagged alpha, when the model's `input_bands` is N: `earthgptx-train` sets
`data_args.input_bands` from the model config). In a window, a polygon is cut
at the window's edges (kept, and counted as clipped, when at least `label_keep_fraction` of its area is inside), and
becomes an object with its exact box, its outline (for free-form prompts) and its instance mask, rasterised from the
polygon (`rasterio.features.rasterize`: pixels whose centres it covers); a point label becomes a point object.

Every feature of the label file is accounted for in the `ConversionReport` (`objects_read == objects_kept +
sum(skipped)`): kept (in at least one window), or skipped as "invalid geometry", "unknown class", "outside all
scenes", "cut by window" (only ever cut below the keep fraction) or "in no kept window" (no sampled window kept it:
random sampling, no-data windows, windows straddling the validation boundary). `features_clipped` counts kept features
cut at some window edge; `windows` counts the windows kept and skipped by reason. Labels that fall on no scene at all
are an error naming the CRSs (a label file in the wrong CRS, or declared in the wrong one).

Windows carry `split` "train" or "validation" (their spatial block); `split: validation` keeps only the held-out ones
(for `earthgptx-eval` on the blocks a run held out, with the same validation_split, validation_block and seed 0).
"""

from __future__ import annotations

import glob
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from PIL import Image
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely.geometry import box
from tqdm.auto import tqdm

from ..data.annotations import AnnotatedImage, ConversionReport, ObjectAnnotation
from ..models.earthgptx.visual_prompts import mask_to_rle
from .bands import open_training_scene
from .gsd import window_shapes
from .labels import read_labels
from .coordinates import apply_transform
from .spatial_split import SpatialSplit, VALIDATION

_GLOB = set("*?[")


@dataclass
class GeoConversionReport(ConversionReport):
    """A `ConversionReport` with the windows' counts: `windows` maps "kept" and each skip reason to a count."""

    scenes: int = 0
    windows: Counter = field(default_factory=Counter)
    validation_windows: int = 0
    features_clipped: int = 0
    object_instances: int = 0

    def to_dict(self) -> dict:
        return {**super().to_dict(), "windows": dict(self.windows)}

    def __str__(self) -> str:
        windows = ", ".join(f"{n} {reason}" for reason, n in sorted(self.windows.items()))
        return (f"{super().__str__()}; {self.scenes} scenes, windows: {windows or 'none'} "
                f"({self.validation_windows} validation); {self.features_clipped} features clipped, "
                f"{self.object_instances} objects in windows")


@dataclass
class _Tally:
    placed: set = field(default_factory=set)
    kept: set = field(default_factory=set)
    clipped: set = field(default_factory=set)
    cut: set = field(default_factory=set)


def scene_paths(scenes) -> list[str]:
    """The scene files of `scenes` (comma-separated paths or glob patterns), in order, each once."""
    if not scenes or not str(scenes).strip():
        raise ValueError("data_format='geo' needs scenes: GeoTIFF paths or glob patterns, comma-separated.")
    paths = []
    for part in (p.strip() for p in str(scenes).split(",") if p.strip()):
        found = sorted(glob.glob(part)) if _GLOB & set(part) else [part]
        if not found:
            raise ValueError(f"scenes={scenes!r}: the pattern {part!r} matches no file.")
        paths += [p for p in found if p not in paths]
    return paths


def _starts(length: int, size: int, stride: int) -> range:
    """Window offsets along `length` every `stride` (a lazy range); the last, past `length - size`, is clamped to it by
    `_windows`, so that the last window ends at the edge."""
    return range(1) if length <= size else range(0, length - size + stride, stride)


def _windows(width: int, height: int, read: tuple[int, int], args, rng):
    """(number of windows, iterator of their (col, row)): a grid, or `windows_per_scene` random ones; lazy, so that a
    header claiming a huge scene costs nothing before its windows are read."""
    w, h = read
    if args.window_sampling == "random":
        if isinstance(args.windows_per_scene, bool) or not isinstance(args.windows_per_scene, int) \
                or args.windows_per_scene < 1:
            raise ValueError(f"windows_per_scene={args.windows_per_scene!r} must be a positive integer.")
        return args.windows_per_scene, ((int(rng.integers(0, max(1, width - w + 1))),
                                         int(rng.integers(0, max(1, height - h + 1))))
                                        for _ in range(args.windows_per_scene))
    if args.window_sampling != "grid":
        raise ValueError(f"window_sampling={args.window_sampling!r} is not one of ['grid', 'random'].")
    if not 0 <= args.window_overlap < 1:
        raise ValueError(f"window_overlap={args.window_overlap!r} must be a fraction in [0, 1).")
    stride_x, stride_y = (max(1, round(side * (1 - args.window_overlap))) for side in (w, h))
    rows, cols = _starts(height, h, stride_y), _starts(width, w, stride_x)
    return len(rows) * len(cols), ((min(c, max(0, width - w)), min(r, max(0, height - h))) for r in rows for c in cols)


def _local(geometry, col: int, row: int, scale: tuple[float, float]):
    return shapely.transform(geometry, lambda xy: (xy - [col, row]) / [scale[0], scale[1]])


def _object(category: str, local, out_shape: tuple[int, int]) -> ObjectAnnotation | None:
    """The object of a window-local geometry, or None when it covers no pixel centre."""
    if local.geom_type == "Point":
        x, y = local.x, local.y
        return ObjectAnnotation(category, [x - 0.5, y - 0.5, x + 0.5, y + 0.5], point=[x, y])
    mask = rasterize([(local, 1)], out_shape=out_shape, dtype="uint8").astype(bool)
    if not mask.any():
        return None
    parts = [p for p in getattr(local, "geoms", [local]) if p.geom_type == "Polygon"]
    outline = max(parts, key=lambda p: p.area).exterior.coords[:-1]
    return ObjectAnnotation(category, [float(v) for v in local.bounds],
                            polygon=[float(v) for xy in outline for v in xy], mask=mask_to_rle(mask))


def _window_objects(hits, pixels, labels, window: tuple, out_shape, keep_fraction: float, tally, report) -> list:
    col, row, w, h = window
    extent, scale = box(col, row, col + w, row + h), (w / out_shape[1], h / out_shape[0])
    objects = []
    for k in sorted(int(k) for k in hits):
        index, geometry = pixels[k]
        if geometry.geom_type == "Point":
            inside, fraction = geometry, 1.0
        else:
            inside = geometry.intersection(extent)
            inside = shapely.union_all([p for p in getattr(inside, "geoms", [inside]) if p.geom_type == "Polygon"])
            fraction = inside.area / geometry.area if geometry.area else 0.0
            if inside.is_empty or fraction < keep_fraction - 1e-9:
                if not inside.is_empty:
                    tally.cut.add(index)
                continue
        obj = _object(labels.classes[index], _local(inside, col, row, scale), out_shape)
        if obj is None:
            report.windows["object smaller than a pixel"] += 1
            continue
        if fraction < 1.0 - 1e-9:
            tally.clipped.add(index)
        tally.kept.add(index)
        objects.append(obj)
    report.object_instances += len(objects)
    return objects


def _scene_images(number: int, scene, labels, args, out_dir: Path, tally: _Tally, report, seed: int) -> list:
    """The windows of one scene, as annotated images (module docstring)."""
    georeference = scene.georeference
    read, out_shape = window_shapes(georeference, args.window_size, args.window_unit, args.target_gsd, scene.where)
    pixels = labels.in_scene(georeference)
    tally.placed.update(index for index, _ in pixels)
    if not pixels:
        report.windows["scene without labels"] += 1
        return []
    tree = shapely.STRtree([geometry for _, geometry in pixels])
    t = georeference.transform
    split = SpatialSplit(args.validation_split, args.validation_block * read[0] * math.hypot(t.a, t.d),
                         georeference.crs.to_string(), seed)
    stem, images = Path(scene.name).stem, []
    count, windows = _windows(scene.width, scene.height, read, args, np.random.default_rng(seed + number))
    for col, row in tqdm(windows, total=count, desc=f"windows of {scene.name}", leave=False):
        w, h = min(read[0], scene.width - col), min(read[1], scene.height - row)
        hits = tree.query(box(col, row, col + w, row + h), predicate="intersects")
        if not len(hits):
            report.windows["without labels"] += 1
            continue
        xs, ys = apply_transform(t, [col, col + w], [row, row + h])
        side = split.assign((min(xs), min(ys), max(xs), max(ys)))
        if side is None:
            report.windows["straddles the validation boundary"] += 1
            continue
        shape = (max(1, round(out_shape[0] * h / read[1])), max(1, round(out_shape[1] * w / read[0])))
        rgb, valid = scene.read_rgb(Window(col, row, w, h), out_shape=shape)
        if valid.mean() < args.min_valid_fraction:
            report.windows["no-data window"] += 1
            continue
        objects = _window_objects(hits, pixels, labels, (col, row, w, h), shape, args.label_keep_fraction, tally,
                                  report)
        if not objects:
            report.windows["no label kept"] += 1
            continue
        path = out_dir / f"{number:03d}_{stem}_c{col}_r{row}.{'png' if rgb.shape[-1] == 3 else 'tif'}"
        _save_window(rgb, path, georeference.crs,
                     t @ Affine.translation(col, row) @ Affine.scale(w / shape[1], h / shape[0]))
        report.windows["kept"] += 1
        report.validation_windows += side == VALIDATION
        images.append(AnnotatedImage(str(path), shape[1], shape[0], args.modality, objects, source="geo",
                                     id=f"{stem}:{col},{row},{w},{h}", split=side))
    return images


def _save_window(pixels: np.ndarray, path: Path, crs, transform) -> None:
    """`(H, W, C)` uint8 window -> a PNG (3 bands) or a GeoTIFF of C bands in the scene's `crs` at `transform`
    (photometric grey: none tagged alpha)."""
    if pixels.shape[-1] == 3:
        Image.fromarray(pixels).save(path)
        return
    import rasterio

    height, width, count = pixels.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype="uint8",
                       photometric="MINISBLACK", crs=crs, transform=transform) as out:
        out.write(np.moveaxis(pixels, -1, 0))


def _check(args) -> None:
    if not args.labels:
        raise ValueError("data_format='geo' needs labels: a GeoPackage, Shapefile or GeoJSON of labelled polygons.")
    if not os.path.isfile(args.labels):
        raise ValueError(f"labels={args.labels!r} is not a file.")
    for name in ("min_valid_fraction", "label_keep_fraction"):
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"{name}={value!r} must be a number in (0, 1].")
    if isinstance(args.validation_block, bool) or not isinstance(args.validation_block, int) \
            or args.validation_block < 1:
        raise ValueError(f"validation_block={args.validation_block!r} must be a positive integer (windows per "
                         "block side).")


def load_geo_images(data_args, workdir, seed: int = 0) -> tuple[list[AnnotatedImage], GeoConversionReport]:
    """The annotated windows of `data_args.scenes` with `data_args.labels` and the report (module docstring)."""
    _check(data_args)
    paths = scene_paths(data_args.scenes)
    report = GeoConversionReport(source=f"geo:{Path(data_args.labels).name}")
    class_names = [c.strip() for c in data_args.class_names.split(",")] if data_args.class_names else None
    labels = read_labels(data_args.labels, data_args.class_attribute, class_names, data_args.label_layer,
                         data_args.label_crs, report)
    out_dir = Path(workdir) / "geo_windows"
    out_dir.mkdir(parents=True, exist_ok=True)
    tally, images = _Tally(), []
    for number, path in enumerate(tqdm(paths, desc="geo scenes", disable=len(paths) < 2)):
        with open_training_scene(path, data_args.bands, data_args.band_preset, data_args.alpha_band,
                                 channels=getattr(data_args, "input_bands", None) or 3) as scene:
            images += _scene_images(number, scene, labels, data_args, out_dir, tally, report, seed)
        report.scenes += 1
    if not tally.placed:
        raise ValueError(f"None of the {len(labels.geometries)} labels of {data_args.labels!r} (in "
                         f"{labels.crs.to_string()}) falls on any of the {len(paths)} scene(s): check the label "
                         "file's "
                         "CRS against the scenes' (a file declaring the wrong CRS, or label_crs for one that "
                         "declares none).")
    report.skip("outside all scenes", len(labels.geometries) - len(tally.placed))
    report.skip("cut by window", len((tally.placed - tally.kept) & tally.cut))
    report.skip("in no kept window", len(tally.placed - tally.kept - tally.cut))
    report.objects_kept, report.images = len(tally.kept), len(images)
    report.features_clipped = len(tally.clipped)
    if data_args.split == VALIDATION:
        images = [image for image in images if image.split == VALIDATION]
    return images, report


__all__ = ["load_geo_images", "scene_paths", "GeoConversionReport"]
