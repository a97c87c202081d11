"""Which records the evaluation asks: built from a converter's images (per task and prompt type; optionally as
zoom-in crops, `data/zoom_in.py`) or read from M-RSVP records, and the classes a training split holds."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from ..data.annotated_images import DataArguments, load_annotated_images
from ..data.records import read_records
from ..data.tasks import TASKS, build_records
from .referring import QUERY_GROUPS, query_group

logger = logging.getLogger(__name__)

IMAGE_LEVEL_TASKS = ("scene", "caption", "detailed_caption")  # prompted with the whole-image box: one row, not one per prompt type


def split_list(value: str, valid, argument: str) -> list[str]:
    """The comma-separated items of `value`, each checked against `valid` (`ValueError` naming `argument`)."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in valid]
    if not items or bad:
        raise ValueError(f"{argument}={value!r}: {bad or 'nothing'} is not valid; choose from {list(valid)}.")
    return items


def pair_group(kind: str) -> str:
    """The group name of the zoom-in pair records of prompt type `kind` (`load_evaluation_records`' `swap_pairs`)."""
    return f"{kind} pairs"


def record_prompt_type(record: dict) -> str:
    """box / point / freeform of a record's prompts (the first prompt decides; image-level tasks give 'image', text
    queries their query group, `referring.query_group`)."""
    if record.get("task") in IMAGE_LEVEL_TASKS:
        return "image"
    if record.get("task") == "referring":
        return query_group(record)
    kinds = {p["type"] for p in record["prompts"][:1]}
    return "box" if kinds == {"box"} else "point" if kinds == {"point"} else "freeform"


def _read_groups(data_args: DataArguments, tasks: list[str], prompt_types: list[str]) -> dict:
    """The groups of an M-RSVP records file (`data_format="records"`), by task and the records' own prompt type."""
    if data_args.data_path is None:
        raise ValueError("data_format='records' needs data_path (an M-RSVP .jsonl file).")
    records, report = read_records(data_args.data_path, data_args.image_dir, data_args.allow_outside_root)
    logger.info("evaluation data: %s", report)
    groups: dict = {}
    for record in records:
        kind = record_prompt_type(record)
        if record.get("task") in tasks and (kind == "image" or kind in prompt_types or kind in QUERY_GROUPS):
            groups.setdefault((record["task"], kind), []).append(record)
    return groups


def _zoom_in_images(images, data_args: DataArguments, tasks: list[str], max_regions: int, workdir: Path,
                    zoom_in: dict, swap_pairs: bool) -> tuple[list, list]:
    """The images the region tasks are asked on (zoom-in crops) and the pair crops of the swap check (none unless
    `swap_pairs`, classification is asked and the model takes two regions)."""
    if data_args.data_format == "procedural":
        raise ValueError("zoom_in asks real images on crops around their objects; the procedural scenes are "
                         "small already (give a converter's data_format).")
    from ..data.zoom_in import zoom_in_images

    region_images, zoomed = zoom_in_images(images, Path(workdir) / "zoom_in", max_regions=max_regions, **zoom_in)
    logger.info("zoom-in crops for the region tasks: %s", zoomed)
    pair_images = []
    if swap_pairs and "classification" in tasks and max_regions < 2:
        logger.warning("the zoom-in pairs of the swap check ask two regions per question; the model takes "
                       "max_regions=%d: not asked", max_regions)
    elif swap_pairs and "classification" in tasks:
        from ..data.zoom_in import pair_crops

        pair_images, paired = pair_crops(images, Path(workdir) / "zoom_in_pairs", **zoom_in)
        logger.info("zoom-in pair crops for the prompt-swap check: %s", paired)
    return region_images, pair_images


def _built_groups(data_args: DataArguments, tasks: list[str], prompt_types: list[str], max_regions: int, seed: int,
                  workdir: Path, zoom_in: dict | None, swap_pairs: bool) -> dict:
    """The groups built from a converter's (or the procedural) images: one per task and prompt type (one per task
    for the image-level tasks), then the zoom-in pair groups."""
    images, report = load_annotated_images(data_args, workdir)
    region_images, pair_images = images, []
    if zoom_in is not None:
        region_images, pair_images = _zoom_in_images(images, data_args, tasks, max_regions, workdir, zoom_in,
                                                     swap_pairs)
    groups: dict = {}
    for task in tasks:
        if task == "referring":  # text queries, no prompt: one row per query group (`referring.QUERY_GROUPS`)
            groups.update(_referring_groups(images, max_regions, seed, report))
            continue
        for kind in (["image"] if task in IMAGE_LEVEL_TASKS else prompt_types):
            records = build_records(images if kind == "image" else region_images, tasks=(task,),
                                    prompt_type="box" if kind == "image" else kind,
                                    max_regions=max_regions, seed=seed, report=report,
                                    grounding_regions=data_args.grounding_regions)
            if records:
                groups[(task, kind)] = records
            else:
                logger.warning("no %s records in the data (e.g. no masks for grounding, no captions): skipped", task)
    for kind in prompt_types if pair_images else []:
        # no report: the pairs are a second view of objects that the groups above count already
        records = build_records(pair_images, tasks=("classification",), prompt_type=kind, max_regions=max_regions,
                                seed=seed)
        if records:
            groups[("classification", pair_group(kind))] = records
    logger.info("evaluation data: %s; %s", report,
                ", ".join(f"{task}/{kind}: {len(records)} records" for (task, kind), records in groups.items()))
    return groups


def _referring_groups(images, max_regions: int, seed: int, report) -> dict:
    """`{("referring", query group): records}` of the images (`referring.query_group`)."""
    groups: dict = {}
    for record in build_records(images, tasks=("referring",), max_regions=max_regions, seed=seed, report=report):
        groups.setdefault(("referring", query_group(record)), []).append(record)
    if not groups:
        logger.warning("no referring records in the data (no expressions, and no scene described from its "
                       "objects): skipped")
    return dict(sorted(groups.items(), key=lambda item: list(QUERY_GROUPS).index(item[0][1])))


def load_evaluation_records(data_args: DataArguments, prompt_types: list[str], max_regions: int, seed: int = 1,
                            max_samples: int | None = None, workdir: Path = Path("."),
                            zoom_in: dict | None = None, swap_pairs: bool = False) -> dict:
    """`{(task, prompt type): records}` for the evaluation (built per prompt type, or read from M-RSVP records).
    `zoom_in` (the arguments of `data.zoom_in.zoom_in_images`, e.g. `{"context": 1.5, "min_size": 96}`): region
    tasks are asked on zoom-in crops of the images, written under `<workdir>/zoom_in`; image-level tasks keep the
    whole images. With `zoom_in` and `swap_pairs`, classification also gets a group `(classification, "<prompt
    type> pairs")` per prompt type: pairs of objects of different classes, each asked on one crop at the zoom-in
    scale (`data.zoom_in.pair_crops`, written under `<workdir>/zoom_in_pairs`), for the prompt-swap check."""
    tasks = split_list(data_args.tasks, TASKS, "tasks")
    if data_args.data_format == "records":
        groups = _read_groups(data_args, tasks, prompt_types)
    else:
        groups = _built_groups(data_args, tasks, prompt_types, max_regions, seed, workdir, zoom_in, swap_pairs)
    if max_samples is not None:
        groups = {key: records[:max_samples] for key, records in groups.items()}
    if not groups:
        raise ValueError(f"The data gives no records for tasks={data_args.tasks!r} and prompt types {prompt_types}.")
    return groups


def seen_classes(data_args: DataArguments, split: str, workdir: Path, path: str | None = None) -> dict[str, set[str]]:
    """`{modality: object classes}` of `split` of the same data (`--seen_classes_split`), read from `path` (default
    `data_args.data_path`)."""
    if data_args.data_format == "records":
        raise ValueError(f"seen_classes_split={split!r} needs a data format with splits; data_format='records' "
                         "holds no split (give the converter's input instead).")
    images, _ = load_annotated_images(replace(data_args, split=split, data_path=path or data_args.data_path), workdir)
    classes: dict[str, set[str]] = defaultdict(set)
    for image in images:
        classes[image.modality].update(o.category for o in image.objects)
    if not classes:
        raise ValueError(f"seen_classes_split={split!r}: that split of {path or data_args.data_path!r} holds no "
                         "object; where data_path holds one split only, give seen_classes_path (e.g. the train "
                         "file).")
    return dict(classes)


__all__ = ["IMAGE_LEVEL_TASKS", "load_evaluation_records", "pair_group", "record_prompt_type", "seen_classes",
           "split_list"]
