"""YOLO txt: one `class cx cy w h` line per object, normalised to [0, 1]; image sizes are read from the images."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..annotations import IMAGE_SUFFIXES, AnnotatedImage, ConversionReport, ObjectAnnotation, clip_box, normalise_category


def read_yolo(label_dir: str | Path, image_dir: str | Path, class_names: list[str], modality: str = "optical"):
    """Reads every image in `image_dir` with its `label_dir/<stem>.txt` (missing label file: no objects)."""
    report = ConversionReport(source=f"yolo:{Path(label_dir).name}")
    names = [normalise_category(n) for n in class_names]
    images = []
    for image_path in sorted(p for p in Path(image_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        with Image.open(image_path) as image:
            width, height = image.size
        objects = []
        label_file = Path(label_dir) / f"{image_path.stem}.txt"
        lines = label_file.read_text().splitlines() if label_file.exists() else []
        for line in lines:
            if not line.strip():
                continue
            report.objects_read += 1
            parts = line.split()
            if len(parts) < 5:
                report.skip("malformed line")
                continue
            cls = int(float(parts[0]))
            if not 0 <= cls < len(names):
                report.skip("class id outside class_names")
                continue
            cx, cy, w, h = (float(v) for v in parts[1:5])
            box = clip_box([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height],
                           width, height)
            if box is None:
                report.skip("empty or outside box")
                continue
            objects.append(ObjectAnnotation(category=names[cls], bbox=box))
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(image_path), width=width, height=height, modality=modality,
                                     objects=objects, source="yolo", id=image_path.stem))
    return images, report


__all__ = ["read_yolo"]
