"""RefSegRS (Yuan et al., "RRSIS: Referring Remote Sensing Image Segmentation", TGRS 2024): one mask per phrase.

The layout (the loaders of LAVT-RS / RRSIS, `build_rsris_batches` in their `data/dataset_refer_bert.py`):

    RefSegRS/                          <- root
    ├── images/<name>.tif              the 512 x 512 images
    ├── masks/<name>.tif               the referred pixels: grey value > MASK_THRESHOLD (cv2.imread(path, 2) > 50)
    ├── output_phrase_train.txt        one "<name> <phrase words ...>" a line: the first space-separated token
    ├── output_phrase_val.txt          names the image and its mask, the rest is the phrase
    └── output_phrase_test.txt

Output: one `AnnotatedImage` per line, holding one object: the mask (all its parts, however many: the phrase refers
to all of it) as RLE at the image size, its tight box, `expression` the phrase, `id` "<name>#<split>-<line>",
`split` the file's, `source` "refsegrs". A name without its `.tif` is looked up with the other image suffixes.

RefSegRS has no category field. `phrase_category` derives one from the phrase with the class words of the loaders'
`target_cls` (`CLASS_WORDS`): the class word (plurals folded: "cars" -> car) that starts earliest in the phrase,
the longest at one position ("road marking on the road" -> road marking). When none occurs, the head noun: the last
word before the first preposition or relative word, determiners left out ("the white ship at the top" -> ship);
when there is none, "object". `RefSegRSReport.category_from` counts each rule's uses, so a guessed category is
never silent.

Counting: the unit is one phrase line (blank lines are no object); every one is kept or counted under a reason:
"empty sentence" (a name with no phrase), "malformed sentence" (a control character or a tag such as [PIX], <image>
or <Region 1> in the phrase: `expression_problem`), "path outside root", "missing image file", "unreadable image",
"missing mask file", "unreadable mask", "mask size differs from image" (each once per image in `images_skipped`
too) and "empty mask". A line that names no image (it starts with a space) raises `AnnotationFormatError` naming
the file and line, as does a phrase file that is not UTF-8 text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...models.earthgptx.visual_prompts import mask_to_rle
from ..annotations import (
    PATH_OUTSIDE_ROOT, AnnotatedImage, AnnotationFormatError, ConversionReport, ObjectAnnotation, PathOutsideRootError,
    expression_problem, find_image, image_size, read_text_lines,
)

SPLITS = ("train", "val", "test")
PHRASE_FILE = "output_phrase_{split}.txt"
MASK_THRESHOLD = 50  # a mask pixel is referred when its grey value is above this (the loaders' rule)
CLASS_WORDS = ("road", "vehicle", "car", "van", "building", "truck", "trailer", "bus", "road marking", "bikeway",
               "sidewalk", "tree", "low vegetation", "impervious surface")
_CLASS_VOCABULARY = {word for phrase in CLASS_WORDS for word in phrase.split()}
_NOT_HEAD = {"the", "a", "an", "this", "that", "these", "those", "all", "some", "two", "three", "several", "many"}
_HEAD_ENDS = {"of", "in", "on", "at", "near", "next", "beside", "besides", "along", "alongside", "by", "with", "to",
              "from", "between", "behind", "under", "over", "above", "below", "across", "around", "inside",
              "outside", "that", "which", "who", "where", "and", "or", "is", "are", "close", "parallel"}


@dataclass
class RefSegRSReport(ConversionReport):
    """A `ConversionReport` with `category_from`: how many objects got their category from a class word, from the
    head noun, or as "object" (`phrase_category`)."""

    category_from: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "category_from": dict(self.category_from)}

    def __str__(self) -> str:
        rules = ", ".join(f"{n} {rule}" for rule, n in sorted(self.category_from.items()))
        return f"{super().__str__()}; categories from: {rules or 'none'}"


def _singular(word: str) -> str:
    for ending in ("es", "s"):
        if word.endswith(ending) and word[:-len(ending)] in _CLASS_VOCABULARY:
            return word[:-len(ending)]
    return word


def phrase_category(phrase: str) -> tuple[str, str]:
    """(category, rule) of a RefSegRS phrase; rule is "class word", "head noun" or "none: object" (the module
    docstring)."""
    words = re.findall(r"[a-z]+", phrase.lower())
    singular = [_singular(w) for w in words]
    best = None
    for name in CLASS_WORDS:
        parts = name.split()
        for i in range(len(singular) - len(parts) + 1):
            if singular[i:i + len(parts)] == parts:
                if best is None or (i, -len(parts)) < best[0]:
                    best = ((i, -len(parts)), name)
                break
    if best is not None:
        return best[1], "class word"
    head = []
    for word in words:
        if word in _HEAD_ENDS:
            break
        if word not in _NOT_HEAD:
            head.append(word)
    return (head[-1], "head noun") if head else ("object", "none: object")


def read_mask(path) -> np.ndarray | None:
    """The referred pixels of a RefSegRS mask file (bool `(H, W)`, grey value > `MASK_THRESHOLD`), None when it is
    not a readable image."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F"):
                image = image.convert("L")  # colour, palette and 1-bit masks as grey values, as cv2 reads them
            values = np.asarray(image)
    except (OSError, ValueError, SyntaxError):
        return None
    return values > MASK_THRESHOLD if values.ndim == 2 else None


def _parse_line(line: str, file: Path, number: int) -> tuple[str, str] | None:
    """(name, phrase with single spaces) of a phrase line; None for a blank line."""
    if not line.strip():
        return None
    name, _, phrase = line.rstrip("\r\n").partition(" ")
    if not name.strip() or "\x00" in name:
        raise AnnotationFormatError(file, f"line {number}", f"expected '<image name> <phrase>', got {line!r} (no "
                                    "image name before the first space, or a NUL byte in it).")
    return name.strip(), " ".join(phrase.split())


def _target(name: str, image_dir: Path, mask_dir: Path, allow_outside_root: bool):
    """(image path, width, height, tight box, mask RLE) of an image name, or the reason it cannot be used."""
    try:
        image_path = find_image(image_dir, name, f"{name}.tif", allow_outside_root)
        mask_path = find_image(mask_dir, name, f"{name}.tif", allow_outside_root)
    except PathOutsideRootError:
        return PATH_OUTSIDE_ROOT
    if image_path is None:
        return "missing image file"
    size = image_size(image_path)
    if size is None:
        return "unreadable image"
    if mask_path is None:
        return "missing mask file"
    mask = read_mask(mask_path)
    if mask is None:
        return "unreadable mask"
    if mask.shape != (size[1], size[0]):
        return "mask size differs from image"
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return "empty mask"
    box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    return image_path, size[0], size[1], box, mask_to_rle(mask)


def _phrase_files(root: Path, split) -> list[tuple[str, Path]]:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r} is not a RefSegRS split; valid: {list(SPLITS)} (or None: every split).")
    files = [(s, root / PHRASE_FILE.format(split=s)) for s in ([split] if split else SPLITS)]
    present = [(s, f) for s, f in files if f.is_file()]
    if not present:
        names = ", ".join(f.name for _, f in files)
        raise FileNotFoundError(f"root={str(root)!r} holds no {names}; expected the RefSegRS folder (images/, "
                                "masks/, output_phrase_<split>.txt).")
    return present


def read_refsegrs(root: str | Path, split: str | None = "train", image_dir: str | Path | None = None,
                  mask_dir: str | Path | None = None, modality: str = "optical", allow_outside_root: bool = False):
    """Reads the phrase file(s) of RefSegRS.

    Args:
        root: the RefSegRS folder (the phrase files; images/ and masks/ by default).
        split: "train", "val" or "test" (`output_phrase_<split>.txt`); None reads every phrase file there is.
        image_dir, mask_dir: the images' and masks' folders; default `<root>/images`, `<root>/masks`.
        allow_outside_root: follow names that resolve outside image_dir / mask_dir; off by default.

    Returns:
        `(list[AnnotatedImage], RefSegRSReport)`: one image per phrase line, the module docstring.
    """
    root = Path(root)
    image_dir = Path(image_dir) if image_dir is not None else root / "images"
    mask_dir = Path(mask_dir) if mask_dir is not None else root / "masks"
    report = RefSegRSReport(source=f"refsegrs:{root.name}")
    images, targets = [], {}
    for split_name, file in _phrase_files(root, split):
        for number, line in enumerate(read_text_lines(file), start=1):
            parsed = _parse_line(line, file, number)
            if parsed is None:
                continue
            report.objects_read += 1
            name, phrase = parsed
            if not phrase or expression_problem(phrase):
                report.skip("malformed sentence" if phrase else "empty sentence")
                continue
            if name not in targets:
                targets[name] = _target(name, image_dir, mask_dir, allow_outside_root)
                if isinstance(targets[name], str) and targets[name] != "empty mask":
                    report.images_skipped[targets[name]] += 1
            if isinstance(targets[name], str):
                report.skip(targets[name])
                continue
            path, width, height, box, rle = targets[name]
            category, rule = phrase_category(phrase)
            report.category_from[rule] += 1
            images.append(AnnotatedImage(
                image=str(path), width=width, height=height, modality=modality, source="refsegrs",
                objects=[ObjectAnnotation(category=category, bbox=list(box), mask=dict(rle), expression=phrase)],
                id=f"{name}#{split_name}-{number}", split=split_name))
    report.images = report.objects_kept = len(images)
    return images, report


__all__ = ["read_refsegrs", "phrase_category", "read_mask", "RefSegRSReport", "CLASS_WORDS", "MASK_THRESHOLD",
           "SPLITS"]
