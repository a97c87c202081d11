"""M-RSVP records <-> `datasets.Dataset`.

Columns: `image` (the `datasets.Image` feature: the file's bytes travel with the dataset, so it can be saved,
reloaded and pushed to the Hub), `id`, `modality`, `width`, `height`, `source`, `task`, `text_source`,
`conversations` (list of {from, value}), `pix_targets`, and `prompts` / `masks` as JSON strings (prompt dicts of
different types do not fit one Arrow schema).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import datasets
from datasets.exceptions import DatasetGenerationError

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


def record_to_row(record: dict) -> dict:
    """One record as a row of `FEATURES` (prompts and masks as JSON strings, defaults for the optional columns)."""
    row = {"image": record["image"]}
    for key in ("id", "modality", "width", "height", "source", "task", "text_source", "pix_targets", "conversations"):
        row[key] = record.get(key, {"text_source": "template", "task": "", "source": ""}.get(key))
    row["prompts"] = json.dumps(record["prompts"])
    row["masks"] = json.dumps(record.get("masks") or [None] * len(record["prompts"]))
    return {name: row[name] for name in FEATURES}


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
        for name, value in record_to_row(record).items():
            rows[name].append(value)
    return datasets.Dataset.from_dict(rows, features=FEATURES)


class _Source:
    """A records function for `Dataset.from_generator`, which hashes its arguments to name its cache: this one
    hashes as a fresh random token (each call writes a new file, never a stale cache, and nothing large is
    pickled to compute the hash)."""

    def __init__(self, records: Callable[[], Iterable[dict]]):
        self.records, self.token, self.rows = records, uuid.uuid4().hex, 0

    def __reduce__(self):
        return str, (self.token,)


def _rows(source: _Source):
    for record in source.records():
        source.rows += 1
        yield record_to_row(record)


def stream_to_dataset(records: Callable[[], Iterable[dict]], cache_dir) -> datasets.Dataset:
    """The rows of `records()` (a function that returns an iterable of records, e.g. a generator function) written
    to an Arrow file under `cache_dir` as they come (`Dataset.from_generator`), and memory-mapped from there: the
    same rows as `records_to_dataset(list(records()))`, and memory that does not grow with their number. Images stay
    paths, decoded when a row is read. Each call writes a new file. No records: an empty dataset; an error raised
    while making the records is raised as it was (not as datasets' `DatasetGenerationError` around it)."""
    source = _Source(records)
    try:
        return datasets.Dataset.from_generator(_rows, features=FEATURES, cache_dir=str(cache_dir),
                                               gen_kwargs={"source": source})
    except DatasetGenerationError as error:
        failure = error.__cause__
        if failure is None:
            raise
    except ValueError as error:  # datasets refuses to load a split it wrote no row of
        if source.rows or "corresponds to no data" not in str(error):
            raise
        return datasets.Dataset.from_dict({name: [] for name in FEATURES}, features=FEATURES)
    raise failure


def dataset_records(dataset: datasets.Dataset) -> Iterator[dict]:
    """The records of a dataset of `FEATURES` rows, one at a time, as `record_to_row` was given them: prompts and
    masks as lists, images as their paths (not decoded; a dict with the bytes when the row carries its pixels)."""
    for row in dataset.cast_column("image", datasets.Image(decode=False)):
        record = example_to_record(row)
        if row["image"].get("bytes") is None:
            record["image"] = row["image"]["path"]
        yield record


def example_to_record(example: dict) -> dict:
    """A dataset row back into a record (the image stays as the decoded PIL image or path)."""
    record = dict(example)
    record["prompts"] = json.loads(example["prompts"])
    record["masks"] = json.loads(example["masks"])
    return record


__all__ = ["FEATURES", "dataset_records", "example_to_record", "record_to_row", "records_to_dataset", "stream_to_dataset"]
