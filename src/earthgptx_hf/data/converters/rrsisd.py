"""RRSIS-D (Liu et al., CVPR 2024, repository RMSIN): referring segmentation in the refer / RefCOCO layout.

The layout (RMSIN's README and `refer/refer.py`, which LAVT's refer loader is):

    refer/data/
    ├── rrsisd/                 <- data_path
    │   ├── refs(unc).p         a pickled list of refs (or refs.json: the same list as JSON)
    │   └── instances.json      COCO: images, annotations (segmentation, bbox), categories
    └── images/rrsisd/
        └── JPEGImages/         <- image_dir (default: data_path/../images/rrsisd/JPEGImages)

A ref is `{"ref_id", "ann_id", "image_id", "category_id", "split", "file_name", "sent_ids", "sentences": [{"raw",
"sent", "tokens", "sent_id"}]}`: the annotation `ann_id` of instances.json is the referred object, each sentence one
expression for it. The image is the instances entry of `image_id` (its `file_name` under image_dir), as in refer.py.

Output: one `AnnotatedImage` per (ref, sentence), holding that one object with `expression` = the sentence's `raw`
(its `sent` when `raw` is empty), `id` "<image stem>#ref<ref_id>-<k>" (k: the sentence's index), `split` the ref's,
`source` "rrsisd". The mask is the annotation's segmentation (polygons or RLE) at the image size; the box is the
annotation's COCO bbox, kept when its IoU with the mask's tight box is at least `BOX_MASK_MIN_IOU`.

Counting: the unit is one (ref, sentence) pair (a ref without sentences counts once, "ref without sentences"), so
`objects_read` is the refs' sentences and every one is kept or counted under a reason: "not in split", "unknown
ann_id", "unknown image_id", "ann_id of another image", "unknown category id", "path outside root", "missing image
file", "unreadable image", "image size differs from annotation" (the last four once per image in `images_skipped`
too), "missing segmentation", "malformed segmentation" and the mask reasons of `rle_problem`, "empty mask",
"malformed bbox", "bbox does not match mask", "malformed sentence" (not a dict, or its text holds a control character or a tag such as
[PIX], <image> or <Region 1>: `expression_problem`), "empty sentence".

Untrusted input (see `annotations.py`): the refs pickle is read by an unpickler that refuses every global (a class,
a function: what a hostile `__reduce__` needs to run code), so only lists, dicts, tuples, str, bytes, numbers, bool
and None load; anything else raises `AnnotationFormatError` naming the file. A refs list that is not a list of refs
(dicts with a `split` string, a `sentences` list and a unique `ref_id`) raises too, as does an instances.json
that `read_coco` would refuse.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...models.earthgptx.visual_prompts import mask_to_rle
from ..annotations import (
    PATH_OUTSIDE_ROOT, AnnotatedImage, AnnotationFormatError, ConversionReport, ObjectAnnotation, clip_box,
    expression_problem, finite_numbers, image_size, read_json, resolve_under_root,
)
from .coco import _categories, _check_image, _load, _segmentation_problem

BOX_MASK_MIN_IOU = 0.5  # the COCO bbox against the mask's tight box


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Loads builtin containers and scalars only: every global (class, function) is refused before it is looked
    up, so a `__reduce__` payload has nothing to call."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="utf-8")
        self.path = path

    def find_class(self, module, name):
        raise AnnotationFormatError(self.path, "", f"the pickle asks for the global {module}.{name}; a refs file "
                                    "holds lists, dicts, str, numbers, bool and None only, so no global is loaded.")

    def persistent_load(self, pid):
        raise AnnotationFormatError(self.path, "", "the pickle holds a persistent id; a refs file holds lists, "
                                    "dicts, str, numbers, bool and None only.")


def load_refs_pickle(path) -> object:
    """The content of a refs pickle, read without loading any global (`_NoGlobalsUnpickler`)."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return _NoGlobalsUnpickler(io.BytesIO(data), path).load()
    except AnnotationFormatError:
        raise
    except Exception as error:  # noqa: BLE001 - every way a byte string fails to unpickle is a malformed file
        raise AnnotationFormatError(path, "", f"not a readable pickle ({type(error).__name__}: {error}); expected "
                                    "the refs list as refer.py writes it.") from None


def _check_refs(refs, path: Path) -> list[dict]:
    if not isinstance(refs, list):
        raise AnnotationFormatError(path, "top level", f"expected a list of refs, got {type(refs).__name__}.")
    seen = set()
    for i, ref in enumerate(refs):
        where = f"refs[{i}]" + (f" (ref_id {ref.get('ref_id')!r})" if isinstance(ref, dict) else "")
        if not isinstance(ref, dict):
            raise AnnotationFormatError(path, where, f"expected a dict (a ref), got {type(ref).__name__}.")
        ref_id = ref.get("ref_id")
        if isinstance(ref_id, bool) or not isinstance(ref_id, (int, str)) or ref_id in seen:
            raise AnnotationFormatError(path, where, "expected a unique integer or string 'ref_id'.")
        seen.add(ref_id)
        if not isinstance(ref.get("split"), str):
            raise AnnotationFormatError(path, where, f"'split' must be a string (train / val / test), got "
                                        f"{ref.get('split', '<missing>')!r}.")
        if not isinstance(ref.get("sentences"), list):
            raise AnnotationFormatError(path, where, "'sentences' must be a list of {'raw': str, 'sent': str, ...}.")
    return refs


def refs_file(data_path, split_by: str = "unc") -> Path:
    """The refs file of `data_path`: the file itself, or in the folder `refs(<split_by>).p`, else `refs.json`."""
    data_path = Path(data_path)
    if data_path.is_file():
        return data_path
    for name in (f"refs({split_by}).p", "refs.json"):
        if (data_path / name).is_file():
            return data_path / name
    raise FileNotFoundError(f"data_path={str(data_path)!r} holds neither refs({split_by}).p nor refs.json; expected "
                            "the RRSIS-D folder (refs(unc).p and instances.json, RMSIN's refer/data/rrsisd).")


def load_refs(path) -> list[dict]:
    """The refs of a `.p` pickle (read safely) or a `.json` file, checked (the module docstring)."""
    path = Path(path)
    refs = read_json(path) if path.suffix.lower() == ".json" else load_refs_pickle(path)
    return _check_refs(refs, path)


def _instances(instances_file: Path):
    """(images by id, annotations by id, category names by id) of instances.json, checked as `read_coco` does."""
    coco = _load(instances_file)
    names = _categories(coco, instances_file)
    seen: set = set()
    for i, info in enumerate(coco["images"]):
        _check_image(info, i, instances_file, seen)
    anns = {ann["id"]: ann for ann in coco.get("annotations", [])
            if isinstance(ann, dict) and isinstance(ann.get("id"), (int, str)) and not isinstance(ann["id"], bool)}
    return {info["id"]: info for info in coco["images"]}, anns, names


def _open_image(info: dict, image_dir, allow_outside_root: bool):
    """(path, width, height) of an instances image entry, or the reason it cannot be used."""
    path = resolve_under_root(image_dir, info["file_name"], allow_outside_root)
    if path is None:
        return PATH_OUTSIDE_ROOT
    if not path.is_file():
        return "missing image file"
    size = image_size(path)
    if size is None:
        return "unreadable image"
    if size != (int(info["width"]), int(info["height"])):
        return "image size differs from annotation"
    return path, size[0], size[1]


def _decode(segmentation, height: int, width: int) -> np.ndarray:
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(bool)


def _box_iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _object(ann: dict, category: str, width: int, height: int) -> ObjectAnnotation | str:
    """The referred object (mask, checked COCO box), or the reason it is skipped."""
    segmentation = ann.get("segmentation")
    if not segmentation:
        return "missing segmentation"
    problem = _segmentation_problem(segmentation, height, width)
    if problem:
        return problem
    try:
        mask = _decode(segmentation, height, width)
    except (ValueError, TypeError, KeyError):
        return "malformed segmentation"
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return "empty mask"
    xywh = finite_numbers(ann.get("bbox"), 4)
    box = clip_box([xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]], width, height) if xywh else None
    if box is None:
        return "malformed bbox"
    tight = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    if _box_iou(box, tight) < BOX_MASK_MIN_IOU:
        return "bbox does not match mask"
    polygon = segmentation[0] if isinstance(segmentation, list) and len(segmentation) == 1 else None
    return ObjectAnnotation(category=category, bbox=box, polygon=polygon, mask=mask_to_rle(mask))


def _sentence(sentence) -> str | None:
    """The expression of a sentence entry: its `raw`, else its `sent`, with single spaces; None when empty."""
    if not isinstance(sentence, dict):
        return None
    for key in ("raw", "sent"):
        if isinstance(sentence.get(key), str) and sentence[key].strip():
            return " ".join(sentence[key].split())
    return None


def _is_id(value) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _referred(ref: dict, instances, image_dir, allow_outside_root: bool, opened: dict, report: ConversionReport):
    """(image path, width, height, object) of a ref, or the reason its sentences are skipped. `opened` caches each
    image's (path, width, height) or skip reason; an image that cannot be used is counted once in
    `images_skipped`."""
    images, anns, names = instances
    ann = anns.get(ref.get("ann_id")) if _is_id(ref.get("ann_id")) else None
    if ann is None:
        return "unknown ann_id"
    info = images.get(ref.get("image_id")) if _is_id(ref.get("image_id")) else None
    if info is None:
        return "unknown image_id"
    if ann.get("image_id") != info["id"]:
        return "ann_id of another image"
    category_id = ref.get("category_id", ann.get("category_id"))
    if not _is_id(category_id) or category_id not in names:
        return "unknown category id"
    if info["id"] not in opened:
        opened[info["id"]] = _open_image(info, image_dir, allow_outside_root)
        if isinstance(opened[info["id"]], str):
            report.images_skipped[opened[info["id"]]] += 1
    image = opened[info["id"]]
    if isinstance(image, str):
        return image
    path, width, height = image
    obj = _object(ann, names[category_id], width, height)
    return obj if isinstance(obj, str) else (path, width, height, obj)


def _per_sentence(ref: dict, target, modality: str, report: ConversionReport) -> list[AnnotatedImage]:
    """One `AnnotatedImage` per usable sentence of `ref`; the others counted."""
    path, width, height, obj = target
    out = []
    for k, sentence in enumerate(ref["sentences"]):
        text = _sentence(sentence)
        if text is None or expression_problem(text):
            report.skip("malformed sentence" if not isinstance(sentence, dict) or text else "empty sentence")
            continue
        out.append(AnnotatedImage(image=str(path), width=width, height=height, modality=modality,
                                  objects=[replace(obj, expression=text)], source="rrsisd",
                                  id=f"{Path(path).stem}#ref{ref['ref_id']}-{k}", split=ref["split"]))
    return out


def _check_split(split, refs: list[dict]) -> None:
    present = sorted({ref["split"] for ref in refs})
    if split is not None and (not isinstance(split, str) or refs and split not in present):
        raise ValueError(f"split={split!r} is not a split of these refs; valid: {present} (or None: every split).")


def read_rrsisd(data_path: str | Path, image_dir: str | Path | None = None, split: str | None = None,
                modality: str = "optical", split_by: str = "unc", allow_outside_root: bool = False):
    """Reads RRSIS-D (or any refer-layout set: a refs file and instances.json in one folder).

    Args:
        data_path: the folder holding `refs(<split_by>).p` (or `refs.json`) and `instances.json`, or the refs file.
        image_dir: the images' folder; default `<data_path>/../images/rrsisd/JPEGImages` (RMSIN's layout).
        split: the refs' split to keep ("train", "val", "test"); None keeps every split.
        split_by: the refs file's name, `refs(<split_by>).p` ("unc" for RRSIS-D).
        allow_outside_root: follow `file_name`s that resolve outside `image_dir`; off by default.

    Returns:
        `(list[AnnotatedImage], ConversionReport)`: one image per (ref, sentence), the module docstring.
    """
    path = refs_file(data_path, split_by)
    refs = load_refs(path)
    _check_split(split, refs)
    instances_file = path.parent / "instances.json"
    if not instances_file.is_file():
        raise FileNotFoundError(f"{str(instances_file)!r} does not exist; RRSIS-D keeps instances.json (COCO) next "
                                f"to {path.name}.")
    instances = _instances(instances_file)
    image_dir = Path(image_dir) if image_dir is not None else path.parent.parent / "images" / "rrsisd" / "JPEGImages"
    report = ConversionReport(source=f"rrsisd:{path.name}")
    images, opened = [], {}
    for ref in refs:
        sentences = ref["sentences"]
        report.objects_read += len(sentences) or 1
        if split is not None and ref["split"] != split:
            report.skip("not in split", len(sentences) or 1)
        elif not sentences:
            report.skip("ref without sentences")
        else:
            target = _referred(ref, instances, image_dir, allow_outside_root, opened, report)
            if isinstance(target, str):
                report.skip(target, len(sentences))
            else:
                images.extend(_per_sentence(ref, target, modality, report))
    report.images = report.objects_kept = len(images)
    return images, report


__all__ = ["read_rrsisd", "load_refs", "load_refs_pickle", "refs_file", "BOX_MASK_MIN_IOU"]
