"""DOTA txt: `x1 y1 x2 y2 x3 y3 x4 y4 category difficult` per object (oriented quadrilaterals), after optional
`imagesource:` and `gsd:` header lines. The box prompt is the quadrilateral's axis-aligned hull; the quadrilateral
is kept as the object's polygon (a free-form prompt).

Untrusted input (see `annotations.py`): the two header lines are recognised by name and are not objects; every
other non-blank line is an object, kept or counted: "malformed line" (fewer than 9 tokens, a coordinate that is not
a finite number), "difficult", "empty or outside box". A label file without an image has its objects counted as
"label file without image". A label file or image that resolves outside its folder (a symlink out of it) is
dropped with its objects ("path outside root"); an image PIL cannot read is dropped as "unreadable image".
"""

from __future__ import annotations

from pathlib import Path

from ..annotations import (
    PATH_OUTSIDE_ROOT, AnnotatedImage, clip_box, ConversionReport, find_image, normalise_category, ObjectAnnotation,
    parse_numbers, PathOutsideRootError, read_text_lines,
)

HEADERS = ("imagesource:", "gsd:")


def _object_lines(label_file: Path) -> list[str]:
    """The lines that are objects: not blank, not a header."""
    return [line for line in read_text_lines(label_file)
            if line.strip() and not line.strip().lower().startswith(HEADERS)]


def _object(parts: list[str], width: int, height: int, keep_difficult: bool) -> ObjectAnnotation | str:
    """The object of one label line, or the reason it is skipped."""
    if len(parts) < 9:
        return "malformed line"
    coords = parse_numbers(parts[:8])
    if coords is None:
        return "malformed line"
    if not keep_difficult and len(parts) > 9 and parts[9] == "1":
        return "difficult"
    xs, ys = coords[0::2], coords[1::2]
    box = clip_box([min(xs), min(ys), max(xs), max(ys)], width, height)
    if box is None:
        return "empty or outside box"
    return ObjectAnnotation(category=normalise_category(parts[8]), bbox=box, polygon=coords)


def read_dota(label_dir: str | Path, image_dir: str | Path, modality: str = "optical", keep_difficult: bool = True,
              allow_outside_root: bool = False):
    """Reads every `label_dir/*.txt` with its `image_dir/<stem>.*` image.

    Args:
        allow_outside_root: follow label files and images that resolve outside their folder; off by default.
    """
    report = ConversionReport(source=f"dota:{Path(label_dir).name}")
    images = []
    for label_file in sorted(p for p in Path(label_dir).glob("*.txt") if p.is_file()):
        # not read: its objects are unknown
        if report.path_under_root(label_dir, label_file.name, allow_outside_root) is None:
            continue
        lines = _object_lines(label_file)
        try:
            image_path = find_image(image_dir, label_file.stem, allow_outside_root=allow_outside_root)
        except PathOutsideRootError:
            report.skip_image(PATH_OUTSIDE_ROOT, len(lines))
            continue
        if image_path is None:
            report.objects_read += len(lines)
            report.skip("label file without image", len(lines))
            continue
        size = report.image_size(image_path, len(lines))
        if size is None:
            continue
        width, height = size
        objects = []
        for line in lines:
            report.count_object(_object(line.split(), width, height, keep_difficult), objects)
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(image_path), width=width, height=height, modality=modality,
                                     objects=objects, source="dota", id=label_file.stem))
    return images, report


__all__ = ["read_dota"]
