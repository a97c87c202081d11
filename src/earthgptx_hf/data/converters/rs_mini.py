"""rs_mini JSON-lines (`annotations/*.jsonl`): boxes, DOTA polygons, uncompressed COCO RLE masks.

Objects marked `"ignore": true` (HIT-UAV "DontCare" regions) never become prompts: they are counted as skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..annotations import AnnotatedImage, ConversionReport, ObjectAnnotation, clip_box, normalise_category


def read_rs_mini(annotations: str | Path, root: str | Path | None = None, split: str | None = None):
    """Reads `annotations` (a .jsonl file); image paths are relative to `root` (default: the file's grandparent).

    Args:
        split: keep only records of this split ("train" / "test"); others are not read.

    Returns:
        `(list[AnnotatedImage], ConversionReport)`.
    """
    annotations = Path(annotations)
    root = Path(root) if root is not None else annotations.parent.parent
    report = ConversionReport(source=f"rs_mini:{annotations.name}")
    images = []
    with open(annotations) as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            if split is not None and record.get("split") != split:
                continue
            report.images += 1
            objects = []
            for obj in record["objects"]:
                report.objects_read += 1
                if obj.get("ignore"):
                    report.skip("ignore (DontCare region)")
                    continue
                box = clip_box(obj["bbox"], record["width"], record["height"])
                if box is None:
                    report.skip("box outside the image")
                    continue
                objects.append(ObjectAnnotation(
                    category=normalise_category(obj["category"]), bbox=box, polygon=obj.get("polygon"),
                    mask=obj.get("mask_rle"),
                ))
            report.objects_kept += len(objects)
            images.append(AnnotatedImage(
                image=str(root / record["file"]), width=record["width"], height=record["height"],
                modality=record["modality"], objects=objects, source=record.get("source", "rs_mini"),
                id=record["id"], split=record.get("split"),
            ))
    return images, report
