"""DOTA txt: `x1 y1 x2 y2 x3 y3 x4 y4 category difficult` per object (oriented quadrilaterals), after optional
`imagesource:` and `gsd:` header lines. The box prompt is the quadrilateral's axis-aligned hull; the quadrilateral
is kept as the object's polygon (a free-form prompt)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..annotations import AnnotatedImage, ConversionReport, ObjectAnnotation, clip_box, find_image, normalise_category


def read_dota(label_dir: str | Path, image_dir: str | Path, modality: str = "optical", keep_difficult: bool = True):
    report = ConversionReport(source=f"dota:{Path(label_dir).name}")
    images = []
    for label_file in sorted(Path(label_dir).glob("*.txt")):
        image_path = find_image(image_dir, label_file.stem)
        if image_path is None:
            report.skip("label file without image", sum(1 for line in label_file.read_text().splitlines()
                                                        if len(line.split()) >= 9))
            continue
        with Image.open(image_path) as image:
            width, height = image.size
        objects = []
        for line in label_file.read_text().splitlines():
            parts = line.split()
            if len(parts) < 9:
                continue  # header lines (imagesource:, gsd:)
            report.objects_read += 1
            try:
                coords = [float(v) for v in parts[:8]]
            except ValueError:
                report.skip("malformed line")
                continue
            if not keep_difficult and len(parts) > 9 and parts[9] == "1":
                report.skip("difficult")
                continue
            xs, ys = coords[0::2], coords[1::2]
            box = clip_box([min(xs), min(ys), max(xs), max(ys)], width, height)
            if box is None:
                report.skip("empty or outside box")
                continue
            objects.append(ObjectAnnotation(category=normalise_category(parts[8]), bbox=box, polygon=coords))
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(image_path), width=width, height=height, modality=modality,
                                     objects=objects, source="dota", id=label_file.stem))
    return images, report


__all__ = ["read_dota"]
