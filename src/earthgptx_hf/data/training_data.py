"""The training data of `earthgptx-train` as the training options of `DataArguments` shape it, in this order:

1. `augment_images`: region crops of the images (`region_crops`, `crop_*`) and crops of pairs of objects of
   different classes (`pair_crops`, `zoom_in.py`), then flipped copies of the images and crops (`flip`), written
   under `<workdir>/augmented` (`augmentation.py`);
2. `prompts_per_record`: the regions per classification record (`max_prompts_per_record`, at most the model's);
3. class-balanced resampling of those records (`balance_classes`), then procedural records mixed in
   (`procedural_share`; `procedural_images` makes the scenes as the procedural arguments say; `sampling.py`).

`training_dataset.prepare_training_dataset` runs the steps as the records stream into an Arrow dataset; it returns
the counts, which `earthgptx-train` writes to data_report.json under "augmentation", "class_balanced" and
"procedural_mix".
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, replace
from itertools import chain
from pathlib import Path

from .annotated_images import DataArguments, load_annotated_images
from .annotations import AnnotatedImage
from .augmentation import iter_flipped_copies, iter_region_crops
from .zoom_in import pair_crops

AUGMENTED_DIR = "augmented"


def augment_images(images: list[AnnotatedImage], data_args: DataArguments, workdir, seed: int = 0):
    """`images` plus their region crops, pair crops and flipped copies, then `pair_crops - 1` more copies of each pair
    crop and its flips (as `data_args` asks). Returns the images and the counts (None when no augmentation was asked
    for)."""
    if not augmenting(data_args):
        return images, None
    counts = {}
    return list(iter_augmented_images(images, data_args, workdir, seed, counts)), counts


def augmenting(data_args: DataArguments) -> bool:
    """Whether `data_args` asks for region crops, pair crops or flips."""
    return bool(data_args.region_crops or data_args.pair_crops or data_args.flip != "none")


def iter_augmented_images(images: list[AnnotatedImage], data_args: DataArguments, workdir, seed: int = 0,
                          counts: dict | None = None) -> Iterator[AnnotatedImage]:
    """`augment_images`'s images one at a time, in its order, each file written before its image is yielded: the
    region crops pass through a JSON-lines spool on disk (they are read again to be flipped), so memory holds the
    input images and the pair crops, not the crops and flips. `counts` receives `augment_images`'s counts when the
    generator is exhausted."""
    if not augmenting(data_args):
        yield from images
        return
    out_dir = Path(workdir) / AUGMENTED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    crop_counts, flip_counts, made = {}, {}, 0
    pairs, pair_counts = [], None
    with tempfile.TemporaryFile("w+", encoding="utf-8", dir=out_dir) as spool:
        yield from images
        for crop in iter_region_crops(images, out_dir / "crops", data_args.region_crops, data_args.crop_context,
                                      data_args.crop_min_size, data_args.crop_keep_fraction, seed, crop_counts):
            spool.write(json.dumps(asdict(crop)) + "\n")
            made += 1
            yield crop
        if data_args.pair_crops:
            pairs, pair_counts = pair_crops(images, out_dir / "pairs", data_args.crop_context, data_args.crop_min_size,
                                            disjoint=data_args.pair_partners == "disjoint")
            pair_counts["copies"] = data_args.pair_crops
            yield from pairs
        spool.seek(0)
        crops = (AnnotatedImage.from_dict(json.loads(line)) for line in spool)
        # few pairs: weighed up by repeating them and their flips below (files written once; ids "#copy<k>" keep
        # records apart)
        pair_ids, paired = {pair.id for pair in pairs}, list(pairs)
        for flip in iter_flipped_copies(chain(images, crops, pairs), out_dir / "flips", data_args.flip, flip_counts):
            if flip.id.rsplit("#flip-", 1)[0] in pair_ids:
                paired.append(flip)
            made += 1
            yield flip
    for k in range(1, data_args.pair_crops):
        for image in paired:
            made += 1
            yield replace(image, id=f"{image.id}#copy{k}")
    if counts is not None:
        counts.update({"images_in": len(images), "images_out": len(images) + len(pairs) + made,
                       "region_crops": crop_counts, "pair_crops": pair_counts, "flips": flip_counts})


def prompts_per_record(data_args: DataArguments, max_regions: int) -> int:
    """The regions per classification record: `max_prompts_per_record`, or the model's `max_regions` when unset;
    `ValueError` when it is more than the model takes."""
    wanted = data_args.max_prompts_per_record
    if wanted is None:
        return max_regions
    if wanted > max_regions:
        raise ValueError(f"max_prompts_per_record={wanted} is more than the model's max_regions={max_regions}; give "
                         f"at most {max_regions} (or raise max_regions with config_overrides for a new model).")
    return wanted


def procedural_images(data_args: DataArguments, workdir) -> list[AnnotatedImage]:
    """The procedural scenes' train split (written under `scene_dir`, or `<workdir>/scenes`), made as the procedural
    arguments of `data_args` say: the scenes that `procedural_share` mixes in."""
    scenes = replace(data_args, data_format="procedural", data_path=None, split="train",
                     scene_dir=data_args.scene_dir or str(Path(workdir) / "scenes"))
    return load_annotated_images(scenes, workdir)[0]


__all__ = ["AUGMENTED_DIR", "augment_images", "augmenting", "iter_augmented_images", "procedural_images",
           "prompts_per_record"]
