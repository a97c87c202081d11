"""rs_mini JSON-lines (`annotations/*.jsonl`): boxes, DOTA polygons, uncompressed COCO RLE masks.

Objects marked `"ignore": true` (HIT-UAV "DontCare" regions) never become prompts: they are counted as skipped.

Untrusted input (see `annotations.py`): a line that is not JSON, or a record without `file` / `width` / `height` /
`objects` / `id` / `modality`, raises `AnnotationFormatError` naming the file and the line. A record whose `file`
resolves outside `root` is dropped with its objects ("path outside root"). A malformed object is counted:
"malformed object", "missing category", "malformed bbox", "malformed polygon", or the mask reasons of `rle_problem`
("mask size mismatch", "malformed mask", "mask counts mismatch").
"""

from __future__ import annotations

from pathlib import Path

from ..annotations import (
    AnnotatedImage, AnnotationFormatError, clip_box, ConversionReport, finite_numbers,
    normalise_category, ObjectAnnotation, parse_json_line, polygon_problem, rle_problem,
)


def _check_record(record: dict, where: str, annotations: Path) -> None:
    where = f"{where} (id {record.get('id')!r})"
    for key, kind in (("id", str), ("file", str), ("modality", str), ("objects", list)):
        if not isinstance(record.get(key), kind):
            raise AnnotationFormatError(annotations, where, f"{key!r} must be a {kind.__name__}, got "
                                        f"{record.get(key, '<missing>')!r}.")
    for key in ("width", "height"):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise AnnotationFormatError(annotations, where, f"{key!r} must be a positive integer, got "
                                        f"{record.get(key, '<missing>')!r}.")


def _object(obj, width: int, height: int) -> ObjectAnnotation | str:
    """The object, or the reason it is skipped."""
    if not isinstance(obj, dict):
        return "malformed object"
    if obj.get("ignore"):
        return "ignore (DontCare region)"
    if not isinstance(obj.get("category"), str) or not obj["category"].strip():
        return "missing category"
    bbox = finite_numbers(obj.get("bbox"), 4)
    if bbox is None:
        return "malformed bbox"
    box = clip_box(bbox, width, height)
    if box is None:
        return "box outside the image"
    polygon, mask = obj.get("polygon"), obj.get("mask_rle")
    problem = (polygon_problem(polygon) if polygon is not None else None) or (
        rle_problem(mask, height, width) if mask is not None else None)
    if problem:
        return problem
    return ObjectAnnotation(category=normalise_category(obj["category"]), bbox=box, polygon=polygon, mask=mask)


def read_rs_mini(annotations: str | Path, root: str | Path | None = None, split: str | None = None,
                 allow_outside_root: bool = False):
    """Reads `annotations` (a .jsonl file); image paths are relative to `root` (default: the file's grandparent).

    Args:
        split: keep only records of this split ("train" / "test"); others are not read.
        allow_outside_root: follow `file` paths that resolve outside `root` (`../`, absolute, symlinks); off by
            default, such records are counted as skipped ("path outside root").

    Returns:
        `(list[AnnotatedImage], ConversionReport)`.
    """
    annotations = Path(annotations)
    root = Path(root) if root is not None else annotations.parent.parent
    report = ConversionReport(source=f"rs_mini:{annotations.name}")
    images = []
    with open(annotations) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            record = parse_json_line(line, annotations, where)
            if split is not None and record.get("split") != split:
                continue
            _check_record(record, where, annotations)
            width, height = record["width"], record["height"]
            try:
                path = report.path_under_root(root, record["file"], allow_outside_root, len(record["objects"]))
            except ValueError as error:
                raise AnnotationFormatError(annotations, f"{where} (id {record['id']!r})", f"'file': {error}") \
                    from None
            if path is None:
                continue
            report.images += 1
            objects = []
            for obj in record["objects"]:
                report.count_object(_object(obj, width, height), objects)
            report.objects_kept += len(objects)
            images.append(AnnotatedImage(
                image=str(path), width=width, height=height, modality=record["modality"], objects=objects,
                source=record.get("source", "rs_mini"), id=record["id"], split=record.get("split"),
            ))
    return images, report
