"""Image-level sets: scene-classification folders (`root/<class>/<image>`) and caption JSON in the RSICD / UCM /
Sydney `dataset_*.json` layout (`{"images": [{"filename", "split", "sentences": [{"raw": ...}]}]}`). The task
builders give these the image-level prompt, the box [0, 0, W, H].

Untrusted input (see `annotations.py`): a caption JSON that does not parse, has no `images` list, or an entry
without a `filename` string, raises `AnnotationFormatError` naming the file and the entry. An image that resolves
outside its root (`../`, an absolute path, a symlink out of it) is dropped with its label / captions ("path outside
root"); an image PIL cannot read, as "unreadable image"; a sentence that is not `{"raw": str}`, as "malformed
caption".
"""

from __future__ import annotations

from pathlib import Path

from ..annotations import (
    IMAGE_SUFFIXES, AnnotatedImage, AnnotationFormatError, ConversionReport, normalise_category,
    read_json,
)


def read_scene_folders(root: str | Path, modality: str = "optical", allow_outside_root: bool = False):
    """Reads `root/<class>/<image>`; each image's one label is its folder's name.

    Args:
        allow_outside_root: follow class folders and images that resolve outside `root`; off by default.
    """
    report = ConversionReport(source=f"scene_folders:{Path(root).name}")
    images = []
    for class_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for image_path in sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            # 1: the image-level label
            if report.path_under_root(root, image_path.relative_to(root), allow_outside_root, 1) is None:
                continue
            size = report.image_size(image_path, 1)
            if size is None:
                continue
            report.images += 1
            report.objects_read += 1
            report.objects_kept += 1
            images.append(AnnotatedImage(image=str(image_path), width=size[0], height=size[1], modality=modality,
                                         scene=normalise_category(class_dir.name), source="scene_folders",
                                         id=f"{class_dir.name}/{image_path.stem}"))
    return images, report


def _load(dataset_json: Path) -> list:
    data = read_json(dataset_json)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationFormatError(dataset_json, "top level", "expected a JSON object with an 'images' list.")
    for i, item in enumerate(data["images"]):
        where = f"images[{i}]" + (f" (imgid {item.get('imgid')!r})" if isinstance(item, dict) else "")
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str) or not item["filename"].strip() \
                or "\x00" in item["filename"]:
            raise AnnotationFormatError(dataset_json, where, "expected an object with a non-empty 'filename' string.")
        if not isinstance(item.get("sentences", []), list):
            raise AnnotationFormatError(dataset_json, where, "'sentences' must be a list of {'raw': str}.")
    return data["images"]


def read_caption_json(dataset_json: str | Path, image_dir: str | Path, modality: str = "optical",
                      split: str | None = None, allow_outside_root: bool = False):
    """Reads a caption JSON; `filename`s are relative to `image_dir`.

    Args:
        allow_outside_root: follow `filename`s that resolve outside `image_dir`; off by default.
    """
    dataset_json = Path(dataset_json)
    report = ConversionReport(source=f"caption_json:{dataset_json.name}")
    images = []
    for item in _load(dataset_json):
        if split is not None and item.get("split") != split:
            continue
        sentences = item.get("sentences", [])
        path = report.path_under_root(image_dir, item["filename"], allow_outside_root, len(sentences))
        if path is None:
            continue
        raws = [s["raw"] for s in sentences if isinstance(s, dict) and isinstance(s.get("raw"), str)]
        captions = [raw.strip() for raw in raws if raw.strip()]
        report.objects_read += len(sentences)
        report.skip("malformed caption", len(sentences) - len(raws))
        report.skip("empty caption", len(raws) - len(captions))
        if not path.exists():
            report.skip("caption of a missing image", len(captions))
            report.images_skipped["caption of a missing image"] += 1
            continue
        size = report.image_size(path, 0)
        if size is None:
            report.skip("unreadable image", len(captions))
            continue
        report.images += 1
        report.objects_kept += len(captions)
        images.append(AnnotatedImage(image=str(path), width=size[0], height=size[1], modality=modality,
                                     captions=captions, source="caption_json", id=str(item.get("imgid", path.stem)),
                                     split=item.get("split")))
    return images, report


__all__ = ["read_scene_folders", "read_caption_json"]
