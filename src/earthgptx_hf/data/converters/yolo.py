"""YOLO txt: one `class cx cy w h` line per object, normalised to [0, 1]; image sizes are read from the images.

A segmentation line (`class x1 y1 x2 y2 x3 y3 ...`, at least 3 normalised points; YOLO-OBB's 4 corners included)
becomes an object whose box is the points' axis-aligned hull and whose polygon is the points, in pixels (clipped to
the image).

Untrusted input (see `annotations.py`): every line is kept or counted, under "malformed line" (fewer than 5 tokens,
a coordinate that is not a finite number, an odd number of polygon coordinates), "malformed class id" (not an
integer), "class id outside class_names", "empty or outside box". A label file without an image has its lines
counted as "label file without image" (`classes.txt`, the class list some tools write next to the labels, is not a
label file). An image or label file that resolves outside its folder (a symlink out of it) is dropped with its
objects ("path outside root"); an image PIL cannot read is dropped as "unreadable image".
"""

from __future__ import annotations

from pathlib import Path

from ..annotations import (
    IMAGE_SUFFIXES, AnnotatedImage, clip_box, ConversionReport, normalise_category,
    ObjectAnnotation, parse_numbers, read_text_lines,
)

CLASS_LIST_FILES = ("classes.txt",)


def _object(parts: list[str], names: list[str], width: int, height: int) -> ObjectAnnotation | str:
    """The object of one label line, or the reason it is skipped."""
    if len(parts) < 5:
        return "malformed line"
    cls = parse_numbers(parts[:1])
    if cls is None or cls[0] != int(cls[0]):
        return "malformed class id"
    cls = int(cls[0])
    if not 0 <= cls < len(names):
        return "class id outside class_names"
    values = parse_numbers(parts[1:])
    if values is None:
        return "malformed line"
    polygon = None
    if len(values) == 4:
        cx, cy, w, h = values
        box = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
    elif len(values) >= 6 and len(values) % 2 == 0:  # segmentation format: normalised polygon points
        xs = [min(max(x, 0.0), 1.0) * width for x in values[0::2]]
        ys = [min(max(y, 0.0), 1.0) * height for y in values[1::2]]
        polygon = [v for point in zip(xs, ys) for v in point]
        box = [min(xs), min(ys), max(xs), max(ys)]
    else:
        return "malformed line"
    box = clip_box(box, width, height)
    if box is None:
        return "empty or outside box"
    return ObjectAnnotation(category=names[cls], bbox=box, polygon=polygon)


def _lines(label_file: Path) -> list[str]:
    return [line for line in read_text_lines(label_file) if line.strip()] if label_file.is_file() else []


def read_yolo(label_dir: str | Path, image_dir: str | Path, class_names: list[str], modality: str = "optical",
              allow_outside_root: bool = False):
    """Reads every image in `image_dir` with its `label_dir/<stem>.txt` (missing label file: no objects).

    Args:
        allow_outside_root: follow image and label files that resolve outside their folder; off by default.
    """
    report = ConversionReport(source=f"yolo:{Path(label_dir).name}")
    names = [normalise_category(n) for n in class_names]
    images, stems = [], set()
    for image_path in sorted(p for p in Path(image_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        stems.add(image_path.stem)
        label_file = Path(label_dir) / f"{image_path.stem}.txt"
        # not read: its objects are unknown
        if report.path_under_root(label_dir, label_file.name, allow_outside_root) is None:
            continue
        lines = _lines(label_file)
        if report.path_under_root(image_dir, image_path.name, allow_outside_root, len(lines)) is None:
            continue
        size = report.image_size(image_path, len(lines))
        if size is None:
            continue
        width, height = size
        objects = []
        for line in lines:
            report.count_object(_object(line.split(), names, width, height), objects)
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(image_path), width=width, height=height, modality=modality,
                                     objects=objects, source="yolo", id=image_path.stem))
    for label_file in sorted(p for p in Path(label_dir).glob("*.txt") if p.is_file()):
        if label_file.stem in stems or label_file.name in CLASS_LIST_FILES:
            continue
        # not read (and there is no image)
        if report.path_under_root(label_dir, label_file.name, allow_outside_root) is None:
            continue
        lines = _lines(label_file)
        report.objects_read += len(lines)
        report.skip("label file without image", len(lines))
    return images, report


__all__ = ["read_yolo"]
