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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..annotations import AnnotatedImage, ConversionReport, ObjectAnnotation, find_image


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


def read_segmentation_maps(label_dir: str | Path, image_dir: str | Path, class_names: dict[int, str],
                           modality: str = "optical", patch: int = 32, background: int | None = 0,
                           ignore_index: int | None = 255, min_fraction: float = 0.5, seed: int = 0):
    """Reads `label_dir/<stem>.png` label maps next to `image_dir/<stem>.*` images."""
    report = ConversionReport(source=f"segmentation:{Path(label_dir).name}")
    rng = np.random.default_rng(seed)
    images = []
    for label_file in sorted(Path(label_dir).glob("*.png")):
        image_path = find_image(image_dir, label_file.stem)
        label_map = np.asarray(Image.open(label_file))
        if label_map.ndim == 3:
            label_map = label_map[..., 0]
        if image_path is None:
            report.skip("label map without image")
            continue
        objects = points_from_label_map(label_map, class_names, rng, patch, background, ignore_index, min_fraction,
                                        report)
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(image_path), width=label_map.shape[1], height=label_map.shape[0],
                                     modality=modality, objects=objects, source="segmentation", id=label_file.stem))
    return images, report


__all__ = ["read_segmentation_maps", "points_from_label_map"]
