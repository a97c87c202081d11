"""COCO detection / instance-segmentation JSON (the format most SAR and infrared sets ship in).

Untrusted input (see `annotations.py`):
- a malformed file raises `AnnotationFormatError` naming the file and the entry: not JSON, no `images` list, an
  image entry without an `id`, a `file_name` string or positive `width` / `height`, a duplicate image id, a
  category without `id` / `name`;
- an image whose `file_name` resolves outside `image_dir` is dropped with its annotations ("path outside root");
  so is an image whose file is missing ("missing image file"), unreadable ("unreadable image") or whose size (read
  from the file's header) differs from the JSON's `width` / `height` ("image size differs from annotation"): the
  boxes and masks of such an entry belong to another picture, so they are counted as skipped, not kept;
- a malformed annotation is counted: "malformed annotation" (not an object), "image_id not in images",
  "missing category_id", "unknown category id", "missing bbox", "malformed bbox" (not 4 finite numbers),
  "malformed segmentation", and the mask reasons of `rle_problem` ("mask size mismatch", "mask counts mismatch").
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from ...models.earthgptx.visual_prompts import mask_to_rle
from ..annotations import (
    AnnotatedImage, AnnotationFormatError, clip_box, ConversionReport, finite_numbers,
    normalise_category, ObjectAnnotation, polygon_problem, read_json, rle_problem,
)


def _segmentation_problem(segmentation, height: int, width: int) -> str | None:
    if isinstance(segmentation, list):
        if not segmentation or any(polygon_problem(p) for p in segmentation):
            return "malformed segmentation"
        # far outside the image: pycocotools' rasteriser overflows its ints (a crash) or allocates gigabytes
        if any(not (-width <= x <= 2 * width and -height <= y <= 2 * height)
               for p in segmentation for x, y in zip(p[::2], p[1::2])):
            return "malformed segmentation"
        return None
    if not isinstance(segmentation, dict):
        return "malformed segmentation"
    if isinstance(segmentation.get("counts"), list):
        return rle_problem(segmentation, height, width)
    size = segmentation.get("size")
    if not isinstance(segmentation.get("counts"), (str, bytes)) or finite_numbers(size, 2) is None:
        return "malformed segmentation"
    return "mask size mismatch" if [int(v) for v in size] != [height, width] else None


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


def _load(annotation_file: Path) -> dict:
    coco = read_json(annotation_file)
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise AnnotationFormatError(annotation_file, "top level", "expected a JSON object with an 'images' list "
                                    "(and 'annotations', 'categories').")
    for key in ("annotations", "categories"):
        if not isinstance(coco.get(key, []), list):
            raise AnnotationFormatError(annotation_file, key, f"expected a list, got {type(coco[key]).__name__}.")
    return coco


def _categories(coco: dict, annotation_file: Path) -> dict:
    names = {}
    for i, category in enumerate(coco.get("categories", [])):
        if not isinstance(category, dict) or not isinstance(category.get("id"), (int, str)) or \
                not isinstance(category.get("name"), str):
            raise AnnotationFormatError(annotation_file, f"categories[{i}]", f"expected {{'id': ..., 'name': str}}, "
                                        f"got {category!r}.")
        names[category["id"]] = normalise_category(category["name"])
    return names


def _check_image(info, i: int, annotation_file: Path, seen: set) -> None:
    where = f"images[{i}]" + (f" (id {info.get('id')!r})" if isinstance(info, dict) else "")
    if not isinstance(info, dict) or isinstance(info.get("id"), bool) or not isinstance(info.get("id"), (int, str)):
        raise AnnotationFormatError(annotation_file, where, "expected an object with an integer or string 'id'.")
    if info["id"] in seen:
        raise AnnotationFormatError(annotation_file, where, "duplicate image id; image ids must be unique.")
    seen.add(info["id"])
    if not isinstance(info.get("file_name"), str) or not info["file_name"].strip() or "\x00" in info["file_name"]:
        raise AnnotationFormatError(annotation_file, where, f"'file_name' must be a non-empty path string, got "
                                    f"{info.get('file_name', '<missing>')!r}.")
    for key in ("width", "height"):
        value = info.get(key)
        whole = isinstance(value, int) or isinstance(value, float) and math.isfinite(value) and value.is_integer()
        if isinstance(value, bool) or not whole or value <= 0:
            raise AnnotationFormatError(annotation_file, where, f"{key!r} must be a positive integer, got "
                                        f"{info.get(key, '<missing>')!r}.")


def _object(ann: dict, names: dict, width: int, height: int, keep_masks: bool) -> ObjectAnnotation | str:
    """The object, or the reason it is skipped."""
    if ann.get("iscrowd"):
        return "crowd annotation"
    if "category_id" not in ann:
        return "missing category_id"
    if not isinstance(ann["category_id"], (int, str)) or ann["category_id"] not in names:
        return "unknown category id"
    if "bbox" not in ann:
        return "missing bbox"
    xywh = finite_numbers(ann["bbox"], 4)
    if xywh is None:
        return "malformed bbox"
    x, y, w, h = xywh
    box = clip_box([x, y, x + w, y + h], width, height)
    if box is None:
        return "empty or outside box"
    segmentation = ann.get("segmentation")
    if segmentation:
        problem = _segmentation_problem(segmentation, height, width)
        if problem:
            return problem
    polygon = segmentation[0] if isinstance(segmentation, list) and segmentation else None
    try:
        mask = _segmentation_to_mask(segmentation, height, width) if keep_masks and segmentation else None
    except (ValueError, TypeError, KeyError):  # compressed counts pycocotools cannot decode
        return "malformed segmentation"
    return ObjectAnnotation(category=names[ann["category_id"]], bbox=box, polygon=polygon, mask=mask)


def read_coco(annotation_file: str | Path, image_dir: str | Path, modality: str = "optical", keep_masks: bool = True,
              allow_outside_root: bool = False):
    """Reads a COCO JSON. Crowd annotations and boxes without area are skipped (and counted).

    Args:
        allow_outside_root: follow `file_name`s that resolve outside `image_dir`; off by default.

    Returns:
        `(list[AnnotatedImage], ConversionReport)`; images without annotations are kept (no objects).
    """
    annotation_file = Path(annotation_file)
    coco = _load(annotation_file)
    names = _categories(coco, annotation_file)
    seen: set = set()
    for i, info in enumerate(coco["images"]):
        _check_image(info, i, annotation_file, seen)
    report = ConversionReport(source=f"coco:{annotation_file.name}")
    by_image = defaultdict(list)
    for ann in coco.get("annotations", []):
        if not isinstance(ann, dict):
            report.objects_read += 1
            report.skip("malformed annotation")
        elif not isinstance(ann.get("image_id"), (int, str)) or ann["image_id"] not in seen:
            report.objects_read += 1
            report.skip("image_id not in images")
        else:
            by_image[ann["image_id"]].append(ann)
    images = []
    for info in coco["images"]:
        width, height = int(info["width"]), int(info["height"])
        anns = by_image.get(info["id"], [])
        path = report.path_under_root(image_dir, info["file_name"], allow_outside_root, len(anns))
        if path is None:
            continue
        if not path.is_file():
            report.skip_image("missing image file", len(anns))
            continue
        size = report.image_size(path, len(anns))
        if size is None:
            continue
        if size != (width, height):
            report.skip_image("image size differs from annotation", len(anns))
            continue
        report.images += 1
        objects = []
        for ann in anns:
            report.count_object(_object(ann, names, width, height, keep_masks), objects)
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(path), width=width, height=height, modality=modality,
                                     objects=objects, source="coco", id=str(info["id"])))
    return images, report


__all__ = ["read_coco"]
