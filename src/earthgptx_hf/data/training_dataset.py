"""The training data of `earthgptx-train` as an on-disk Arrow dataset, made as it streams (issue 36):

    dataset, validation, report = prepare_training_dataset(data_args, max_regions, workdir, seed)

The same rows, in the same order, as `records_to_dataset(records)` of the records that `training_data.py`'s steps
make as lists (augmentation, records, class balance, procedural mix: the same functions and random draws), and the
same report, but nothing grows with the record count except the index of what the steps need:

- the images come from `iter_augmented_images` one at a time (crops spooled to disk, flips made on the way);
- each image's records go straight into an Arrow file under `<workdir>/prepared` (`stream_to_dataset`,
  `datasets.Dataset.from_generator`), memory-mapped from there; images stay paths, decoded when a row is read;
- class balancing keeps `(modality, classes)` per record (`sampling.region_labels`) and draws the same indices
  (`class_balanced_picks`); the procedural mix draws the same order (`procedural_mix_order`); both become
  `Dataset.select` index mappings, not copies; so does the task mix (`task_mix_picks`, each task's share of the
  records).

With `validation_split`, the held-out images (or, for `data_format: records`, the records of the held-out image
files) are split off first (`validation_split.py`) and their records streamed into a second dataset, neither augmented
nor resampled. `earthgptx-train` trains on the first and evaluates on the second (`training/train.py`).

What memory still holds: the converter's annotated images (its own index, as the converters return them), the pair
crops (a few per image), the per-record classes when `balance_classes` is on, and the index mappings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import datasets

from .annotated_images import DataArguments, load_annotated_images
from .dataset import stream_to_dataset
from .records import read_records
from .sampling import class_balanced_picks, parse_task_mix, procedural_mix_order, region_labels, task_mix_picks
from .tasks import RecordBuilder, classes_of
from .training_data import augmenting, iter_augmented_images, procedural_images, prompts_per_record
from .validation_split import split_images, split_records

PREPARED_DIR = "prepared"


class _RecordStream:
    """The records of a list of records, or of annotated images through a `RecordBuilder`, as a function
    `stream_to_dataset` calls once; it counts records and prompts into `report` and keeps each record's
    `region_labels` when `keep_labels`."""

    def __init__(self, images=None, records=None, builder: RecordBuilder | None = None, report=None,
                 keep_labels: bool = False):
        self.images, self.records, self.builder, self.report = images, records, builder, report
        self.labels = [] if keep_labels else None
        self.count = 0

    def _records(self):
        if self.records is not None:
            yield from self.records
            return
        for image in self.images:
            yield from self.builder.build_one(image)

    def __call__(self):
        for record in self._records():
            if self.labels is not None:
                modality, classes = region_labels(record)
                self.labels.append((modality, [sys.intern(label) for label in classes]))
            if self.report is not None:
                self.report.records += 1
                self.report.prompts_emitted += len(record["prompts"])
            self.count += 1
            yield record


def _builder(data_args: DataArguments, max_regions: int, seed: int, images=()) -> RecordBuilder:
    """The record builder of `data_args`; `images` (those it will be given, streamed one at a time) name the classes
    of the data, which `referring` negatives ask about."""
    tasks = [t.strip() for t in data_args.tasks.split(",") if t.strip()]
    return RecordBuilder(tasks, data_args.prompt_type, max_regions, seed,
                         grounding_regions=data_args.grounding_regions, vocabulary=classes_of(images))


def real_records_dataset(data_args: DataArguments, max_regions: int, workdir, seed: int = 0):
    """The records before resampling as an Arrow dataset, the held-out validation records as another (None without
    `validation_split`; `data/validation_split.py`: held out before augmentation, so neither augmented nor
    resampled), the report (a dict) and, with `balance_classes`, each training record's `region_labels`."""
    cache = Path(workdir) / PREPARED_DIR
    if data_args.data_format == "records":
        if data_args.data_path is None:
            raise ValueError("data_format='records' needs data_path (an M-RSVP .jsonl file).")
        if augmenting(data_args):
            raise ValueError("region_crops, pair_crops and flip work on annotated images; data_format='records' "
                             "holds records (give the converter's input instead).")
        records, report = read_records(data_args.data_path, data_args.image_dir, data_args.allow_outside_root)
        records, held_out = split_records(records, data_args.validation_split, seed)
        stream = _RecordStream(records=records, keep_labels=data_args.balance_classes)
        validation = stream_to_dataset(_RecordStream(records=held_out), cache) if held_out else None
        return stream_to_dataset(stream, cache), validation, report.to_dict(), stream.labels
    images, report = load_annotated_images(data_args, workdir)
    images, held_images = split_images(images, data_args.validation_split, seed)
    augmentation = {}
    augmented = iter_augmented_images(images, data_args, workdir, seed, augmentation)
    regions = prompts_per_record(data_args, max_regions)
    stream = _RecordStream(images=augmented, builder=_builder(data_args, regions, seed, images), report=report,
                           keep_labels=data_args.balance_classes)
    dataset = stream_to_dataset(stream, cache)
    validation = stream_to_dataset(_RecordStream(images=held_images, builder=_builder(data_args, regions, seed,
                                                                                      images)),
                                   cache) if held_images else None
    return dataset, validation, {**report.to_dict(), **({"augmentation": augmentation} if augmentation else {})}, \
        stream.labels


def procedural_dataset(data_args: DataArguments, max_regions: int, workdir, seed: int = 0) -> datasets.Dataset:
    """The records of `training_data.procedural_images` (with the tasks, prompt type and grounding regions of
    `data_args`, drawn with `seed + 1`) as an Arrow dataset."""
    images = procedural_images(data_args, workdir)
    return stream_to_dataset(_RecordStream(images=images, builder=_builder(data_args, max_regions, seed + 1,
                                                                           images)),
                             Path(workdir) / PREPARED_DIR)


def prepare_training_dataset(data_args: DataArguments, max_regions: int, workdir, seed: int = 0):
    """The training data as `data_args` shapes it (the module docstring), as a `datasets.Dataset` on disk under
    `<workdir>/prepared`; the held-out validation records (`validation_split`) as another, or None when nothing is
    held out; and the report for data_report.json (the counts `training_data.py`'s steps give, "training_records"
    and "validation_records")."""
    if data_args.procedural_share and data_args.data_format == "procedural":
        raise ValueError(f"procedural_share={data_args.procedural_share} mixes procedural records into real "
                         "data, but data_format='procedural' is procedural already; give a real data_format.")
    dataset, validation, report, labels = real_records_dataset(data_args, max_regions, workdir, seed)
    sampling = {}
    if data_args.balance_classes:
        picks, balanced = class_balanced_picks(labels, seed, data_args.balance_power)
        if picks is not None:
            dataset = dataset.select(picks)
        sampling.update(balanced)
    if data_args.procedural_share:
        procedural = procedural_dataset(data_args, prompts_per_record(data_args, max_regions), workdir, seed)
        picks, order, mixed = procedural_mix_order(len(dataset), len(procedural), data_args.procedural_share, seed)
        dataset = datasets.concatenate_datasets([dataset, procedural.select(picks)]).select(order)
        sampling["procedural_mix"] = mixed
    if data_args.task_mix is not None:
        shares = parse_task_mix(data_args.task_mix, [t.strip() for t in data_args.tasks.split(",") if t.strip()])
        picks, sampling["task_mix"] = task_mix_picks(dataset["task"], shares, seed)
        dataset = dataset.select(picks)
    validation = validation if validation is not None and len(validation) else None
    return dataset, validation, {**report, **sampling, "training_records": len(dataset),
                                 "validation_records": len(validation) if validation is not None else 0}


__all__ = ["PREPARED_DIR", "prepare_training_dataset", "procedural_dataset", "real_records_dataset"]
