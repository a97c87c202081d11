"""COCO detection / instance-segmentation JSON (the format most SAR and infrared sets ship in)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ...processing.visual_prompts import mask_to_rle
from ..annotations import AnnotatedImage, ConversionReport, ObjectAnnotation, clip_box, normalise_category


def _segmentation_to_mask(segmentation, height: int, width: int):
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_to_rle(mask_utils.decode(rle).astype(bool))


def read_coco(annotation_file: str | Path, image_dir: str | Path, modality: str = "optical", keep_masks: bool = True):
    """Reads a COCO JSON. Crowd annotations and boxes without area are skipped (and counted).

    Returns:
        `(list[AnnotatedImage], ConversionReport)`; images without annotations are kept (no objects).
    """
    with open(annotation_file) as f:
        coco = json.load(f)
    names = {c["id"]: normalise_category(c["name"]) for c in coco.get("categories", [])}
    by_image = defaultdict(list)
    for ann in coco.get("annotations", []):
        by_image[ann["image_id"]].append(ann)
    report = ConversionReport(source=f"coco:{Path(annotation_file).name}")
    images = []
    for info in coco["images"]:
        report.images += 1
        width, height = int(info["width"]), int(info["height"])
        objects = []
        for ann in by_image.get(info["id"], []):
            report.objects_read += 1
            if ann.get("iscrowd"):
                report.skip("crowd annotation")
                continue
            if ann["category_id"] not in names:
                report.skip("unknown category id")
                continue
            x, y, w, h = ann["bbox"]
            box = clip_box([x, y, x + w, y + h], width, height)
            if box is None:
                report.skip("empty or outside box")
                continue
            segmentation = ann.get("segmentation")
            polygon = segmentation[0] if isinstance(segmentation, list) and segmentation else None
            mask = _segmentation_to_mask(segmentation, height, width) if keep_masks and segmentation else None
            objects.append(ObjectAnnotation(category=names[ann["category_id"]], bbox=box, polygon=polygon, mask=mask))
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(
            image=str(Path(image_dir) / info["file_name"]), width=width, height=height, modality=modality,
            objects=objects, source="coco", id=str(info["id"]),
        ))
    return images, report


__all__ = ["read_coco"]
