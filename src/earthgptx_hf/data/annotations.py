"""The common form every converter produces, and the report that counts what was read, emitted and skipped.

Converters read a dataset format into `AnnotatedImage`s (image + objects / labels / captions); the task builders
(`tasks.py`) turn those into M-RSVP records (SPEC section 4). Nothing is dropped silently: every object a converter
does not keep is counted in `ConversionReport.skipped` under a reason.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from dataclasses import asdict, dataclass, field


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
    """Counts of one conversion. `skipped` maps a reason to how many objects were not kept for it."""

    source: str
    images: int = 0
    objects_read: int = 0
    objects_kept: int = 0
    prompts_emitted: int = 0
    records: int = 0
    skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] += count

    def to_dict(self) -> dict:
        data = asdict(self)
        data["skipped"] = dict(self.skipped)
        return data

    def __str__(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return (f"{self.source}: {self.images} images, {self.objects_read} objects read, {self.objects_kept} kept, "
                f"{self.prompts_emitted} prompts emitted in {self.records} records; skipped: {skipped}")


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


def find_image(image_dir, stem: str, filename: str | None = None) -> Path | None:
    """The image of a label file: `filename` when it exists, else `<stem>` with any common image suffix."""
    image_dir = Path(image_dir)
    if filename and (image_dir / filename).exists():
        return image_dir / filename
    return next((image_dir / f"{stem}{s}" for s in IMAGE_SUFFIXES if (image_dir / f"{stem}{s}").exists()), None)


def write_jsonl(records, path) -> None:
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def read_jsonl(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
