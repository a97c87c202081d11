"""The streamed training data (`data/training_dataset.py`, issue 36) is the list path's, row for row: the same
records in the same order (augmentation, records, class balance, procedural mix) and the same report."""

from __future__ import annotations

import json

import datasets
import pytest

from earthgptx_hf.data.annotated_images import DataArguments
from earthgptx_hf.data.dataset import records_to_dataset
from earthgptx_hf.data.procedural import generate_scenes
from earthgptx_hf.data.records import read_records
from earthgptx_hf.data.sampling import class_balanced_records, mix_procedural
from earthgptx_hf.data.tasks import build_records
from earthgptx_hf.data.validation_split import split_images, split_records
from earthgptx_hf.data.training_data import augment_images, procedural_images, prompts_per_record
from earthgptx_hf.data.training_dataset import prepare_training_dataset

from .coco_scenes import write_coco


def list_path(data_args, max_regions, workdir, seed=0):
    """What `earthgptx-train` built before issue 36: every step on lists, then `records_to_dataset` (the training
    records, the held-out ones or None, the report)."""
    from earthgptx_hf.data.annotated_images import load_annotated_images

    tasks = [t.strip() for t in data_args.tasks.split(",") if t.strip()]
    regions = prompts_per_record(data_args, max_regions)
    if data_args.data_format == "records":
        records, report = read_records(data_args.data_path, data_args.image_dir)
        records, held_out = split_records(records, data_args.validation_split, seed)
        report, augmentation = report.to_dict(), None
    else:
        images, report = load_annotated_images(data_args, workdir)
        images, held_images = split_images(images, data_args.validation_split, seed)
        images, augmentation = augment_images(images, data_args, workdir, seed)
        records = build_records(images, tasks=tasks, prompt_type=data_args.prompt_type, max_regions=regions,
                                seed=seed, report=report, grounding_regions=data_args.grounding_regions)
        held_out = build_records(held_images, tasks=tasks, prompt_type=data_args.prompt_type, max_regions=regions,
                                 seed=seed, grounding_regions=data_args.grounding_regions)
        report = {**report.to_dict(), **({"augmentation": augmentation} if augmentation else {})}
    counts = {}
    if data_args.balance_classes:
        records, balanced = class_balanced_records(records, seed, data_args.balance_power)
        counts.update(balanced)
    if data_args.procedural_share:
        procedural = build_records(procedural_images(data_args, workdir), tasks=tasks,
                                   prompt_type=data_args.prompt_type, max_regions=regions, seed=seed + 1,
                                   grounding_regions=data_args.grounding_regions)
        records, counts["procedural_mix"] = mix_procedural(records, procedural, data_args.procedural_share, seed)
    return records_to_dataset(records), records_to_dataset(held_out) if held_out else None, {
        **report, **counts, "training_records": len(records), "validation_records": len(held_out)}


def rows(dataset):
    return dataset.cast_column("image", datasets.Image(decode=False)).to_list()


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco")
    images, _ = generate_scenes(folder / "images", 12, size=96, seed=3, test_fraction=0.0)
    return write_coco(images, folder / "images", folder / "train.json"), folder / "images"


@pytest.mark.parametrize("options", [
    {"region_crops": 2, "flip": "both", "pair_crops": 3, "balance_classes": True, "procedural_share": 0.3},
    {"flip": "horizontal", "balance_classes": True, "balance_power": 0.5, "max_prompts_per_record": 3},
    {},
])
def test_streamed_dataset_is_the_list_paths(tmp_path, coco, options):
    annotations, image_dir = coco
    data = DataArguments(data_format="coco", data_path=str(annotations), image_dir=str(image_dir), num_scenes=10,
                         scene_size=64, scene_dir=str(tmp_path / "scenes"), tasks="classification,grounding,relation",
                         **options)
    # one workdir: the crops' and flips' file names hold a digest of their source's path
    expected, _, expected_report = list_path(data, 8, tmp_path)
    dataset, validation, report = prepare_training_dataset(data, 8, tmp_path)
    assert len(dataset) == len(expected) > 0 and validation is None
    assert rows(dataset) == rows(expected)
    assert report == expected_report
    assert dataset.cache_files and all(str(tmp_path / "prepared") in f["filename"] for f in dataset.cache_files)


def test_streamed_records_file_and_procedural_scenes(tmp_path, coco):
    records_file = tmp_path / "records.jsonl"
    expected, _, _ = list_path(DataArguments(data_format="coco", data_path=str(coco[0]), image_dir=str(coco[1])),
                               8, tmp_path / "a")
    lines = [json.dumps({**row, "image": row["image"]["path"], "prompts": json.loads(row["prompts"]),
                         "masks": json.loads(row["masks"])}) for row in rows(expected)]
    records_file.write_text("\n".join(lines) + "\n")
    for data in (DataArguments(data_format="records", data_path=str(records_file), image_dir="/",
                               balance_classes=True),
                 DataArguments(data_format="procedural", num_scenes=10, scene_size=64, region_crops=1,
                               scene_dir=str(tmp_path / "scenes"))):
        dataset, validation, report = prepare_training_dataset(data, 8, tmp_path / "stream")
        reference, _, reference_report = list_path(data, 8, tmp_path / "stream")
        assert len(dataset) > 0 and rows(dataset) == rows(reference) and report == reference_report
        assert validation is None


def test_validation_split_holds_out_the_list_paths_records(tmp_path, coco):
    """`validation_split`: the held-out records stream into their own dataset, neither augmented nor resampled, and
    the training records are the list path's without them (converter images, and a records file)."""
    annotations, image_dir = coco
    data = DataArguments(data_format="coco", data_path=str(annotations), image_dir=str(image_dir),
                         tasks="classification,grounding", validation_split=0.25, flip="horizontal",
                         balance_classes=True)
    dataset, validation, report = prepare_training_dataset(data, 8, tmp_path / "coco")
    expected, expected_validation, expected_report = list_path(data, 8, tmp_path / "coco")
    assert rows(dataset) == rows(expected) and rows(validation) == rows(expected_validation)
    assert report == expected_report and report["validation_records"] == len(validation) > 0
    assert not any("#flip" in row["id"] for row in rows(validation))
    records_file = tmp_path / "records.jsonl"
    records_file.write_text("".join(json.dumps({**row, "image": row["image"]["path"], "prompts": json.loads(
        row["prompts"]), "masks": json.loads(row["masks"])}) + "\n" for row in rows(expected)))
    data = DataArguments(data_format="records", data_path=str(records_file), image_dir="/", validation_split=0.3)
    dataset, validation, report = prepare_training_dataset(data, 8, tmp_path / "records")
    expected, expected_validation, expected_report = list_path(data, 8, tmp_path / "records")
    assert rows(dataset) == rows(expected) and rows(validation) == rows(expected_validation)
    assert report == expected_report and {r["image"]["path"] for r in rows(validation)}.isdisjoint(
        r["image"]["path"] for r in rows(dataset))


def test_an_empty_stream_is_an_empty_dataset_and_errors_come_through_as_raised(tmp_path):
    from earthgptx_hf.data.dataset import stream_to_dataset

    assert len(stream_to_dataset(lambda: iter(()), tmp_path)) == 0

    def failing():
        raise KeyError("no such image")
        yield

    with pytest.raises(KeyError, match="no such image"):
        stream_to_dataset(failing, tmp_path)


def test_streamed_dataset_refuses_what_the_list_path_refuses(tmp_path):
    with pytest.raises(ValueError, match="data_format='procedural' is procedural already"):
        prepare_training_dataset(DataArguments(procedural_share=0.5), 8, tmp_path)
    with pytest.raises(ValueError, match="holds records"):
        prepare_training_dataset(DataArguments(data_format="records", data_path="x.jsonl", flip="horizontal"), 8,
                                 tmp_path)
