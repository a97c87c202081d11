"""M-RSVP records <-> `datasets.Dataset`.

Columns: `image` (the `datasets.Image` feature: the file's bytes travel with the dataset, so it can be saved,
reloaded and pushed to the Hub), `id`, `modality`, `width`, `height`, `source`, `task`, `text_source`,
`conversations` (list of {from, value}), `pix_targets`, and `prompts` / `masks` as JSON strings (prompt dicts of
different types do not fit one Arrow schema).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets

from .annotations import resolve_under_root

FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "id": datasets.Value("string"),
        "modality": datasets.Value("string"),
        "width": datasets.Value("int32"),
        "height": datasets.Value("int32"),
        "source": datasets.Value("string"),
        "task": datasets.Value("string"),
        "text_source": datasets.Value("string"),
        "prompts": datasets.Value("string"),
        "masks": datasets.Value("string"),
        "pix_targets": datasets.Sequence(datasets.Value("int32")),
        "conversations": [{"from": datasets.Value("string"), "value": datasets.Value("string")}],
    }
)


def _image_path(image):
    """The file `datasets.Image` would read for a record's `image`, or None when it carries its own pixels."""
    if isinstance(image, (str, os.PathLike)):
        return image
    if isinstance(image, dict) and image.get("bytes") is None:
        return image.get("path")
    return None


def records_to_dataset(records: list[dict], root: str | os.PathLike | None = None) -> datasets.Dataset:
    """M-RSVP records (image paths) -> a `datasets.Dataset` with the images embedded when saved.

    Args:
        root: when given, every image path must resolve (symlinks followed) inside it, or a `ValueError` names the
            record: the file's bytes would otherwise be embedded in the dataset. Records from the converters are
            already inside their roots; pass `root` for records read from a file someone else wrote.
    """
    rows = {name: [] for name in FEATURES}
    for i, record in enumerate(records):
        path = _image_path(record["image"]) if root is not None else None
        if path is not None and resolve_under_root(root, Path(path).absolute()) is None:
            raise ValueError(f"records[{i}] (id {record.get('id')!r}): image {str(path)!r} resolves outside root "
                             f"{str(root)!r}; image paths must lie inside root.")
        rows["image"].append(record["image"])
        for key in ("id", "modality", "width", "height", "source", "task", "text_source", "pix_targets",
                    "conversations"):
            rows[key].append(record.get(key, {"text_source": "template", "task": "", "source": ""}.get(key)))
        rows["prompts"].append(json.dumps(record["prompts"]))
        rows["masks"].append(json.dumps(record.get("masks") or [None] * len(record["prompts"])))
    return datasets.Dataset.from_dict(rows, features=FEATURES)


def example_to_record(example: dict) -> dict:
    """A dataset row back into a record (the image stays as the decoded PIL image or path)."""
    record = dict(example)
    record["prompts"] = json.loads(example["prompts"])
    record["masks"] = json.loads(example["masks"])
    return record


__all__ = ["FEATURES", "records_to_dataset", "example_to_record"]
