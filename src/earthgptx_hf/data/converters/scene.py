"""Image-level sets: scene-classification folders (`root/<class>/<image>`) and caption JSON in the RSICD / UCM /
Sydney `dataset_*.json` layout (`{"images": [{"filename", "split", "sentences": [{"raw": ...}]}]}`). The task
builders give these the image-level prompt, the box [0, 0, W, H]."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from ..annotations import IMAGE_SUFFIXES, AnnotatedImage, ConversionReport, normalise_category


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def read_scene_folders(root: str | Path, modality: str = "optical"):
    report = ConversionReport(source=f"scene_folders:{Path(root).name}")
    images = []
    for class_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for image_path in sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            width, height = _size(image_path)
            report.images += 1
            report.objects_read += 1  # the image-level label
            report.objects_kept += 1
            images.append(AnnotatedImage(image=str(image_path), width=width, height=height, modality=modality,
                                         scene=normalise_category(class_dir.name), source="scene_folders",
                                         id=f"{class_dir.name}/{image_path.stem}"))
    return images, report


def read_caption_json(dataset_json: str | Path, image_dir: str | Path, modality: str = "optical",
                      split: str | None = None):
    with open(dataset_json) as f:
        data = json.load(f)
    report = ConversionReport(source=f"caption_json:{Path(dataset_json).name}")
    images = []
    for item in data["images"]:
        if split is not None and item.get("split") != split:
            continue
        path = Path(image_dir) / item["filename"]
        captions = [s["raw"].strip() for s in item.get("sentences", []) if s.get("raw", "").strip()]
        report.objects_read += len(item.get("sentences", []))
        report.skip("empty caption", len(item.get("sentences", [])) - len(captions))
        if not path.exists():
            report.skip("caption of a missing image", len(captions))
            continue
        width, height = _size(path)
        report.images += 1
        report.objects_kept += len(captions)
        images.append(AnnotatedImage(image=str(path), width=width, height=height, modality=modality,
                                     captions=captions, source="caption_json", id=str(item.get("imgid", path.stem)),
                                     split=item.get("split")))
    return images, report


__all__ = ["read_scene_folders", "read_caption_json"]
