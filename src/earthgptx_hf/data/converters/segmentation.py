"""Semantic segmentation label maps -> point prompts (the paper's rule).

Each image is divided into `patch` x `patch` (32 x 32) patches; in each patch one point is sampled and its class is
read from the map. Our rule for which patches give a point (the paper does not say):
- pixels equal to `ignore_index` are left out;
- the patch's majority class among the remaining pixels is taken; if it is `background` (or no pixel is left), the
  patch is skipped as "background";
- if that class covers less than `min_fraction` (0.5) of the remaining pixels, the patch is skipped as "ambiguous";
- otherwise the point is sampled uniformly (seeded) among the pixels of that class, so the label read at the point is
  the class by construction.
Every patch is counted: `objects_read` counts patches, skipped patches are counted under their reason.
Each point also carries the mask of the connected region (8-connected) of its class that it lies on
(`regions.attach_region_masks`; `region_masks=False`: points only), so label maps give grounding records too.

Label maps must hold class indices: a single-channel map ('L', 'I', ...) or a palette ('P') image, whose pixel
values are the class ids. A 3-channel colour-coded map (channels that differ) raises `AnnotationFormatError` naming
the file, unless `palette` maps each colour to its class (a colour not in `palette` is an error too); a 3-channel
map whose channels are equal is read as its first channel. A map without an image, or whose size differs from its
image's, is dropped with its patches counted ("label map without image", "label map size differs from image"); a
label file or image that resolves outside its folder (a symlink out of it), likewise ("path outside root").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ...models.earthgptx.multi_source import PIL_FORMATS
from ..annotations import (
    PATH_OUTSIDE_ROOT, AnnotatedImage, AnnotationFormatError, ConversionReport, find_image, ObjectAnnotation,
    PathOutsideRootError,
)
from .regions import attach_region_masks


def points_from_label_map(label_map: np.ndarray, class_names: dict[int, str], rng: np.random.Generator,
                          patch: int = 32, background: int | None = 0, ignore_index: int | None = 255,
                          min_fraction: float = 0.5, report: ConversionReport | None = None):
    """One point per patch of `label_map` (H, W) by the module's rule. Returns `list[ObjectAnnotation]`."""
    height, width = label_map.shape
    objects = []
    for top in range(0, height, patch):
        for left in range(0, width, patch):
            block = label_map[top : top + patch, left : left + patch]
            if report is not None:
                report.objects_read += 1
            valid = block != ignore_index if ignore_index is not None else np.ones(block.shape, bool)
            values, counts = np.unique(block[valid], return_counts=True)
            if values.size == 0:
                if report is not None:
                    report.skip("ignore only")
                continue
            top_class = int(values[np.argmax(counts)])
            if background is not None and top_class == background:
                if report is not None:
                    report.skip("background")
                continue
            if counts.max() < min_fraction * valid.sum():
                if report is not None:
                    report.skip("ambiguous")
                continue
            if top_class not in class_names:
                if report is not None:
                    report.skip("class without a name")
                continue
            rows, cols = np.nonzero(block == top_class)
            pick = int(rng.integers(rows.size))
            y, x = top + rows[pick] + 0.5, left + cols[pick] + 0.5
            objects.append(ObjectAnnotation(category=class_names[top_class], bbox=[x - 0.5, y - 0.5, x + 0.5, y + 0.5],
                                            point=[x, y]))
    return objects


def _patches(shape, patch: int) -> int:
    return -(-shape[0] // patch) * -(-shape[1] // patch)


def _class_indices(label_file: Path, palette: dict | None) -> np.ndarray:
    """The (H, W) class-index map of `label_file` (see the module docstring)."""
    try:
        with Image.open(label_file, formats=PIL_FORMATS) as image:  # the processor's format allow-list
            label_map = np.asarray(image)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise AnnotationFormatError(label_file, "", f"not a readable image ({error}).") from None
    if not (np.issubdtype(label_map.dtype, np.integer) or label_map.dtype == bool):
        raise AnnotationFormatError(label_file, f"dtype {label_map.dtype}", "a label map holds integer class indices; "
                                    "class-index maps are required (single channel, or palette 'P' mode).")
    if label_map.ndim == 2:
        return label_map
    colours = label_map[..., :3] if label_map.shape[-1] >= 3 else label_map[..., :1]
    if (colours == colours[..., :1]).all():
        return colours[..., 0]
    if palette is None:
        raise AnnotationFormatError(label_file, f"{label_map.shape[-1]} channels", "a colour-coded label map "
                                    "(channels differ); class-index maps are required (single channel, or palette "
                                    "'P' mode), or pass palette={(r, g, b): class_id, ...}.")
    codes = colours.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    out = np.zeros(codes.shape, np.int64)
    known = np.zeros(codes.shape, bool)
    for colour, class_id in palette.items():
        r, g, b = (int(v) for v in colour)
        hit = codes == (r << 16 | g << 8 | b)
        out[hit], known[hit] = int(class_id), True
    if not known.all():
        y, x = (int(v) for v in np.argwhere(~known)[0])
        raise AnnotationFormatError(label_file, f"pixel (x={x}, y={y})", f"colour {tuple(colours[y, x].tolist())} is "
                                    "not in palette; palette must map every colour of the map to a class.")
    return out


def read_segmentation_maps(label_dir: str | Path, image_dir: str | Path, class_names: dict[int, str],
                           modality: str = "optical", patch: int = 32, background: int | None = 0,
                           ignore_index: int | None = 255, min_fraction: float = 0.5, seed: int = 0,
                           palette: dict | None = None, allow_outside_root: bool = False, region_masks: bool = True):
    """Reads `label_dir/<stem>.png` label maps next to `image_dir/<stem>.*` images.

    Args:
        palette: `{(r, g, b): class_id}` for colour-coded (RGB) label maps; None requires class-index maps.
        allow_outside_root: follow label maps and images that resolve outside their folder; off by default.
        region_masks: give each point the mask of its connected class region (module docstring).
    """
    report = ConversionReport(source=f"segmentation:{Path(label_dir).name}")
    rng = np.random.default_rng(seed)
    images = []
    for label_file in sorted(p for p in Path(label_dir).glob("*.png") if p.is_file()):
        # not read: its patches are unknown
        if report.path_under_root(label_dir, label_file.name, allow_outside_root) is None:
            continue
        label_map = _class_indices(label_file, palette)
        patches = _patches(label_map.shape, patch)
        try:
            image_path = find_image(image_dir, label_file.stem, allow_outside_root=allow_outside_root)
        except PathOutsideRootError:
            report.skip_image(PATH_OUTSIDE_ROOT, patches)
            continue
        if image_path is None:
            report.skip_image("label map without image", patches)
            continue
        size = report.image_size(image_path, patches)
        if size is None:
            continue
        if size != (label_map.shape[1], label_map.shape[0]):
            report.skip_image("label map size differs from image", patches)
            continue
        objects = points_from_label_map(label_map, class_names, rng, patch, background, ignore_index, min_fraction,
                                        report)
        if region_masks:
            attach_region_masks(objects, label_map, {name: value for value, name in class_names.items()})
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(image_path), width=label_map.shape[1], height=label_map.shape[0],
                                     modality=modality, objects=objects, source="segmentation", id=label_file.stem))
    return images, report


__all__ = ["read_segmentation_maps", "points_from_label_map"]
