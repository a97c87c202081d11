"""The common form every converter produces, the report that counts what was read, emitted and skipped, and the
rules every converter applies to what it reads from an annotation file.

Converters read a dataset format into `AnnotatedImage`s (image + objects / labels / captions); the task builders
(`tasks.py`) turn those into M-RSVP records (SPEC section 4). Annotation files are untrusted input (users download
them), so each rule has one owner here:

- paths: `resolve_under_root` (an image or label path may not leave the root the converter was given; symlinks
  that point out of it count as leaving; `allow_outside_root=True` on a converter opts out);
- objects: a malformed object is never fatal and never dropped silently, it is counted in
  `ConversionReport.skipped` under a reason, so `objects_read == objects_kept + sum(skipped.values())`;
  an image dropped as a whole is counted in `images_skipped` too (`ConversionReport.skip_image`);
- files: a malformed file (one that does not have the format's structure) raises one `AnnotationFormatError`
  naming the file, the record / line, and what was expected;
- masks: `rle_problem` checks a COCO RLE against the image it belongs to.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..models.earthgptx.visual_prompting import QUERY_TAG
from ..models.earthgptx.visual_prompts import rle_to_mask

PATH_OUTSIDE_ROOT = "path outside root"


class AnnotationFormatError(ValueError):
    """A malformed annotation file: `file`, `where` in it (record index / id, line number, element), what is wrong
    and what was expected."""

    def __init__(self, file, where: str, problem: str):
        self.file, self.where, self.problem = str(file), where, problem
        super().__init__(f"{self.file}, {where}: {problem}" if where else f"{self.file}: {problem}")

    def __reduce__(self):
        return type(self), (self.file, self.where, self.problem)


@dataclass
class ObjectAnnotation:
    """One object: `bbox` is [x1, y1, x2, y2] in pixels; `polygon` a flat [x1, y1, x2, y2, ...] outline; `mask` COCO
    uncompressed RLE; `expression` a referring expression written by people (DIOR-RSVG style)."""

    category: str
    bbox: list[float]
    polygon: list[float] | None = None
    mask: dict | None = None
    expression: str | None = None
    point: list[float] | None = None  # for point-labelled objects (segmentation maps -> points)


@dataclass
class AnnotatedImage:
    image: str  # path to the image file
    width: int
    height: int
    modality: str = "optical"
    objects: list[ObjectAnnotation] = field(default_factory=list)
    scene: str | None = None  # scene class (image-level)
    captions: list[str] = field(default_factory=list)  # written by people
    source: str = ""
    id: str = ""
    split: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "AnnotatedImage":
        """The inverse of `dataclasses.asdict`."""
        return cls(**{**data, "objects": [ObjectAnnotation(**o) for o in data.get("objects", [])]})


@dataclass
class ConversionReport:
    """Counts of one conversion. `skipped` maps a reason to how many objects were not kept for it (so
    `objects_read == objects_kept + sum(skipped.values())`); `images_skipped` maps a reason to how many images were
    dropped as a whole (their objects are in `skipped` under the same reason)."""

    source: str
    images: int = 0
    objects_read: int = 0
    objects_kept: int = 0
    prompts_emitted: int = 0
    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    images_skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] += count

    def skip_image(self, reason: str, objects: int = 0) -> None:
        """One image dropped for `reason`, with its `objects` (counted as read and skipped)."""
        self.images_skipped[reason] += 1
        self.objects_read += objects
        self.skip(reason, objects)

    def count_object(self, kept, objects: list) -> None:
        """One object read: appended to `objects`, or counted as skipped when `kept` is the reason (a str)."""
        self.objects_read += 1
        if isinstance(kept, str):
            self.skip(kept)
        else:
            objects.append(kept)

    def path_under_root(self, root, relative, allow_outside_root: bool = False, objects: int = 0) -> Path | None:
        """`resolve_under_root(root, relative)`, or None with the image and its `objects` counted as skipped
        ("path outside root"): the one place a converter's path rule and its count live together."""
        path = resolve_under_root(root, relative, allow_outside_root)
        if path is None:
            self.skip_image(PATH_OUTSIDE_ROOT, objects)
        return path

    def image_size(self, path, objects: int = 0) -> tuple[int, int] | None:
        """(width, height) from `path`'s header, or None with the image and its `objects` counted as skipped
        ("unreadable image")."""
        size = image_size(path)
        if size is None:
            self.skip_image("unreadable image", objects)
        return size

    def to_dict(self) -> dict:
        data = asdict(self)
        data["skipped"] = dict(self.skipped)
        data["images_skipped"] = dict(self.images_skipped)
        return data

    def __str__(self) -> str:
        parts = [f"{n} {reason}" for reason, n in sorted(self.skipped.items())]
        parts += [f"{n} image{'s' if n != 1 else ''} ({reason})" for reason, n in sorted(self.images_skipped.items())]
        return (f"{self.source}: {self.images} images, {self.objects_read} objects read, {self.objects_kept} kept, "
                f"{self.prompts_emitted} prompts emitted in {self.records} records; "
                f"skipped: {', '.join(parts) or 'none'}")


def resolve_under_root(root, relative, allow_outside_root: bool = False) -> Path | None:
    """`root / relative` when it resolves (symlinks followed, `..` applied) inside `root`; None when it escapes.

    `relative` may be absolute (then it must itself lie inside `root`). With `allow_outside_root=True` the joined
    path is returned unchecked. Raises `ValueError` for a value that is not a path (not a string, empty, NUL byte).
    """
    if not isinstance(relative, (str, os.PathLike)) or not str(relative).strip() or "\x00" in str(relative):
        raise ValueError(f"relative must be a non-empty path string, got {relative!r}.")
    path = Path(root) / relative
    if allow_outside_root:
        return path
    try:
        inside = path.resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError):  # a symlink loop, an unreadable component
        inside = False
    return path if inside else None


class PathOutsideRootError(ValueError):
    """`find_image` found the image, but it resolves outside the image folder."""


def finite_numbers(values, count: int | None = None) -> list[float] | None:
    """`values` as floats when it is a list of `count` finite numbers (any length when None), else None."""
    if not isinstance(values, (list, tuple)) or (count is not None and len(values) != count):
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        try:
            value = float(v)  # an int beyond float range (10**400) is no coordinate either
        except OverflowError:
            return None
        if not math.isfinite(value):
            return None
        out.append(value)
    return out


def parse_numbers(tokens) -> list[float] | None:
    """Text tokens as finite floats, None when one is not a finite number."""
    try:
        values = [float(t) for t in tokens]
    except (ValueError, OverflowError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


def polygon_problem(polygon) -> str | None:
    """None when `polygon` is a flat [x1, y1, x2, y2, ...] list of at least 3 finite points, else a skip reason."""
    values = finite_numbers(polygon)
    return None if values is not None and len(values) >= 6 and len(values) % 2 == 0 else "malformed polygon"


def rle_problem(rle, height: int, width: int) -> str | None:
    """None when `rle` is a COCO RLE (uncompressed, or compressed as pycocotools writes it) of an `height` x `width`
    image, else the skip reason: "mask size mismatch" (its `size` is not [height, width]: another image's mask, or
    [W, H] transposed), "malformed mask" (not {"size": [H, W], "counts": [non-negative ints] or an RLE string} that
    decodes), or "mask counts mismatch" (counts do not sum to H * W)."""
    if not isinstance(rle, dict) or not isinstance(rle.get("counts"), (list, str)):
        return "malformed mask"
    size = rle.get("size")
    if not isinstance(size, (list, tuple)) or len(size) != 2 or finite_numbers(size) is None or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        return "malformed mask"
    if [int(size[0]), int(size[1])] != [int(height), int(width)]:
        return "mask size mismatch"
    counts = rle["counts"]
    if isinstance(counts, str):  # compressed: the decoder owns its checks
        try:
            rle_to_mask(rle)
        except ValueError:
            return "malformed mask"
        return None
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return "malformed mask"
    if sum(counts) != int(height) * int(width):
        return "mask counts mismatch"
    return None


def normalise_category(name: str) -> str:
    """Lower case, '_' and '-' to spaces, single spaces (the rs_mini convention)."""
    return " ".join(str(name).replace("_", " ").replace("-", " ").lower().split())


def clip_box(box, width: int, height: int) -> list[float] | None:
    """Clips [x1, y1, x2, y2] to the image; None when nothing of positive area is left."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
    y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
    if x2 <= x1 or y2 <= y1:
        return None
    return [x1, y1, x2, y2]


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def find_image(image_dir, stem: str, filename: str | None = None, allow_outside_root: bool = False) -> Path | None:
    """The image of a label file: `filename` when it exists, else `<stem>` with any common image suffix; None when
    none exists. Raises `PathOutsideRootError` as soon as a candidate resolves outside `image_dir` (a `filename`
    with `../` or an absolute path, a symlink out of the folder; see `resolve_under_root`)."""
    names = ([filename] if filename else []) + [f"{stem}{s}" for s in IMAGE_SUFFIXES]
    for name in names:
        path = resolve_under_root(image_dir, name, allow_outside_root)
        if path is None:
            raise PathOutsideRootError(f"image {name!r} resolves outside the image folder {str(image_dir)!r}.")
        if path.exists():
            return path
    return None


def image_size(path) -> tuple[int, int] | None:
    """(width, height) from the file's header (`multi_source.image_size`, the processor's rule: PIL's header, or
    rasterio's for a GeoTIFF with the `geo` extra), None when it is not a readable image."""
    from ..models.earthgptx.multi_source import image_size as header_size

    try:
        height, width = header_size(path)
    except (OSError, ValueError, TypeError):
        return None
    return width, height


def read_json(path):
    """The content of a JSON annotation file; `AnnotationFormatError` naming the file when it is not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnnotationFormatError(path, "", f"not valid JSON ({error}).") from None
    except RecursionError:
        raise AnnotationFormatError(path, "", "nested too deeply to be an annotation file (lists or objects "
                                    f"nested over {sys.getrecursionlimit()} levels).") from None


def parse_json_line(line: str, file, where: str) -> dict:
    """One JSON-lines record (an object); `AnnotationFormatError` naming the file and `where` (the line) otherwise."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise AnnotationFormatError(file, where, f"not valid JSON ({error.msg}); expected one JSON object per "
                                    "line.") from None
    except RecursionError:
        raise AnnotationFormatError(file, where, "nested too deeply to be a record (lists or objects nested over "
                                    f"{sys.getrecursionlimit()} levels).") from None
    if not isinstance(record, dict):
        raise AnnotationFormatError(file, where, f"expected a JSON object, got {type(record).__name__}.")
    return record


# [PIX], <image>, <Region 1>, <s>, </s>, <pad>, <region_feat>: the pipeline's rule for a query (the one owner)
RESERVED_TAG = QUERY_TAG


def expression_problem(text: str) -> bool:
    """Whether a referring expression people wrote cannot be asked: it holds a control character, or a tag that the
    processor reserves or that a question must not hold without a visual prompt (`RESERVED_TAG`)."""
    return not text.isprintable() or RESERVED_TAG.search(text) is not None


def read_text_lines(path) -> list[str]:
    """The lines of a text label file (a UTF-8 byte order mark left out; lines end at \\n, \\r\\n or \\r only, not at
    the other characters `str.splitlines` breaks at, such as \\v or \\x1c inside a phrase); `AnnotationFormatError`
    naming the file when it is not UTF-8 text."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # universal newlines: \r\n and \r read as \n
        return text.removesuffix("\n").split("\n") if text else []
    except UnicodeDecodeError as error:
        raise AnnotationFormatError(path, f"byte {error.start}", "not UTF-8 text; expected a text label file.") \
            from None


def write_jsonl(records, path) -> None:
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def read_jsonl(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
