"""Where annotated images come from, as the commands name it: `DataArguments` and `load_annotated_images`.

`earthgptx-train` and `earthgptx-eval` both read their data through these (their own argument classes add what only
they need), so evaluation does not depend on how a model was trained:

    images, report = load_annotated_images(DataArguments(data_format="rs_mini", data_path="test.jsonl"), workdir)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .augmentation import CROP_CONTEXT, CROP_MIN_SIZE
from .converters import CONVERTERS
from .formats import PLUGIN_FORMATS, GeoDataArguments, plugin_loader
from .procedural import generate_scenes
from .sampling import check_balance_power, check_procedural_share, parse_task_mix
from .tasks import parse_grounding_regions
from .validation_split import check_validation_split

# Converters that read a label file (or folder) and an image folder.
NEEDS_IMAGE_DIR = ("coco", "yolo", "dota", "voc", "segmentation", "caption_json")
# Referring-segmentation benchmarks: a dataset folder with splits, the image folder optional (the layout's default).
REFERRING_FORMATS = ("rrsisd", "refsegrs")


@dataclass
class DataArguments(GeoDataArguments):
    """The data source (a converter's input, M-RSVP records, procedural scenes or a plugin format such as `geo`:
    `formats.py`) and how records are built from it."""

    data_format: str = field(default="procedural", metadata={
        "help": "procedural (synthetic scenes), records (M-RSVP .jsonl), a converter name, or geo (GeoTIFF scenes "
                "and vector labels: scenes, labels, ...).",
        "choices": ["procedural", "records", *CONVERTERS, *PLUGIN_FORMATS]})
    data_path: str | None = field(default=None, metadata={"help": "The converter's input (file or folder)."})
    image_dir: str | None = None
    split: str | None = field(default="train", metadata={"help": "Split to read where the format has splits."})
    split_file: str | None = None
    modality: str = "optical"
    class_names: str | None = field(default=None, metadata={"help": "Comma-separated class names (YOLO)."})
    tasks: str = "classification,grounding"
    grounding_regions: str = field(default="1,2,3", metadata={
        "help": "Regions per grounding question, comma-separated positive integers; each record's count is drawn "
                "uniformly from those that the image's objects with masks allow ('1': one region per question)."})
    prompt_type: str = field(default="mixed", metadata={"choices": ["box", "point", "freeform", "mixed", "mask"]})
    num_scenes: int = 600
    scene_size: int = 128
    scene_objects: str = field(default="2,4", metadata={"help": "Objects per procedural scene: 'min,max'."})
    object_scale: float | None = field(default=None, metadata={
        "help": "Procedural object size factor (a ship is 16-26 px long at 1.0); default scene_size / 128."})
    scene_dir: str | None = field(default=None, metadata={"help": "Where procedural scenes are written "
                                                                  "(default <output_dir>/scenes)."})
    allow_outside_root: bool = field(default=False, metadata={
        "help": "Follow image and label paths that resolve outside their dataset root (off: they are counted as "
                "skipped, 'path outside root')."})

    # Training only (earthgptx-train, `training_data.py`); each is counted in <output_dir>/data_report.json.
    balance_classes: bool = field(default=False, metadata={
        "help": "Training: resample the real records with class-balancing weights (per modality, each record "
                "weighted by the mean of 1 / class frequency over its regions; as many records as before, drawn "
                "with replacement; data_report.json 'class_balanced')."})
    balance_power: float = field(default=1.0, metadata={
        "help": "Class balance strength in (0, 1]: weights are class frequency ** -balance_power (1: every class of "
                "a modality weighs the same; 0.5: rare classes of a few objects are repeated less)."})
    task_mix: str | None = field(default=None, metadata={
        "help": "Training: the share of each task among the training records, as 'task=weight' pairs (weights "
                "normalised), e.g. 'classification=2,grounding=2,caption=1': the records are resampled to it (as many "
                "as before; data_report.json 'task_mix'). Tasks left out get no records. Default: as built."})
    procedural_share: float = field(default=0.0, metadata={
        "help": "Training: share (in [0, 1)) of procedural records mixed into the real data, so that the prompt "
                "binding they teach is kept while fine-tuning; the scenes are made as num_scenes, scene_size, "
                "scene_objects, object_scale and scene_dir say (their train split), with the same tasks and prompt "
                "type (data_report.json 'procedural_mix')."})
    region_crops: int = field(default=0, metadata={
        "help": "Training: extra images per image, each cropped around one of its objects (drawn at random) so "
                "that small objects are seen larger; written under <output_dir>/augmented "
                "(data_report.json 'augmentation')."})
    pair_crops: int = field(default=0, metadata={
        "help": "Training: copies of one crop per pair of objects of different classes (disjoint pairs, nearest "
                "first), each holding both at the region crops' scale (the crops of the evaluation's zoom-in swap "
                "check, data/zoom_in.py), both prompted, so that the answer must come from the prompt, not from the "
                "object in the middle of the crop; 0: none (data_report.json 'augmentation')."})
    pair_partners: str = field(default="disjoint", metadata={
        "help": "Pair crops: 'disjoint' (each object in one pair at most, as the evaluation asks) or 'nearest' "
                "(each object with its nearest object of another class: an image with one car among twenty persons "
                "gives twenty pairs, not one).", "choices": ["disjoint", "nearest"]})
    crop_context: float = field(default=CROP_CONTEXT, metadata={
        "help": "Region crops: context on each side of the object, as a multiple of its larger side."})
    crop_min_size: int = field(default=CROP_MIN_SIZE, metadata={
        "help": "Region crops: smallest crop side in pixels (smaller objects get more context)."})
    crop_keep_fraction: float = field(default=0.5, metadata={
        "help": "Region crops: an object cut by the crop is kept (clipped) when at least this fraction (in (0, 1]) "
                "of its box lies inside, else counted as dropped ('cut by crop')."})
    flip: str = field(default="none", metadata={
        "help": "Training: flipped copies of every image (after region crops), boxes, masks and points mirrored "
                "so that the prompts stay on their objects.", "choices": ["none", "horizontal", "vertical", "both"]})
    max_prompts_per_record: int | None = field(default=None, metadata={
        "help": "Prompts (regions) per classification record, at most the model's max_regions (the default); "
                "crowded images give several records. It bounds every record, so grounding_regions may not ask for "
                "more regions per question."})

    def __post_init__(self):
        parse_grounding_regions(self.grounding_regions)  # a bad value fails when the arguments are read
        check_validation_split(self.validation_split)
        check_training_options(self)

    def training_options_set(self) -> list[str]:
        """The training-only options given other values than their defaults (the evaluation refuses them)."""
        return [name for name in TRAINING_OPTIONS if getattr(self, name) != DataArguments.__dataclass_fields__[
            name].default]


TRAINING_OPTIONS = ("balance_classes", "balance_power", "task_mix", "procedural_share", "region_crops", "pair_crops",
                    "pair_partners", "crop_context", "crop_min_size", "crop_keep_fraction", "flip",
                    "max_prompts_per_record")
FLIPS = ("none", "horizontal", "vertical", "both")
PAIR_PARTNERS = ("disjoint", "nearest")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_training_options(args) -> None:
    """`ValueError` naming the argument, its value and what is valid, for the first bad training option."""
    check_procedural_share(args.procedural_share)
    check_balance_power(args.balance_power)
    if args.task_mix is not None:
        parse_task_mix(args.task_mix, [t.strip() for t in args.tasks.split(",") if t.strip()])
    if isinstance(args.region_crops, bool) or not isinstance(args.region_crops, int) or args.region_crops < 0:
        raise ValueError(f"region_crops={args.region_crops!r} must be a non-negative integer (crops per image; "
                         "0: none).")
    if isinstance(args.pair_crops, bool) or not isinstance(args.pair_crops, int) or args.pair_crops < 0:
        raise ValueError(f"pair_crops={args.pair_crops!r} must be a non-negative integer (copies of each pair's "
                         "crop; 0: none).")
    if args.pair_partners not in PAIR_PARTNERS:
        raise ValueError(f"pair_partners={args.pair_partners!r} is not one of {list(PAIR_PARTNERS)}.")
    if args.pair_partners != "disjoint" and not args.pair_crops:
        raise ValueError(f"pair_partners={args.pair_partners!r} chooses the pairs of pair_crops, but pair_crops=0 "
                         "makes none; set pair_crops >= 1.")
    if not _number(args.crop_context) or args.crop_context < 0:
        raise ValueError(f"crop_context={args.crop_context!r} must be a number >= 0 (context per side, in object "
                         "sizes).")
    if isinstance(args.crop_min_size, bool) or not isinstance(args.crop_min_size, int) or args.crop_min_size < 1:
        raise ValueError(f"crop_min_size={args.crop_min_size!r} must be a positive integer (pixels).")
    if not _number(args.crop_keep_fraction) or not 0.0 < args.crop_keep_fraction <= 1.0:
        raise ValueError(f"crop_keep_fraction={args.crop_keep_fraction!r} must be a number in (0, 1].")
    if args.flip not in FLIPS:
        raise ValueError(f"flip={args.flip!r} is not one of {list(FLIPS)}.")
    value = args.max_prompts_per_record
    if args.pair_crops and isinstance(value, int) and not isinstance(value, bool) and value == 1:
        raise ValueError(f"pair_crops={args.pair_crops} asks two prompts per crop but max_prompts_per_record=1 "
                         "splits them into two records; set max_prompts_per_record >= 2 or pair_crops=0.")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"max_prompts_per_record={value!r} must be a positive integer (or unset: the model's "
                         "max_regions).")


def load_annotated_images(data_args: DataArguments, workdir: Path):
    """The annotated images and the conversion report for `data_args` (every format but `records`, which holds
    records already). Procedural scenes are written to `data_args.scene_dir`, or `<workdir>/scenes`."""
    if data_args.data_format == "procedural":
        scene_dir = Path(data_args.scene_dir or Path(workdir) / "scenes")
        try:
            low, high = (int(v) for v in data_args.scene_objects.split(","))
        except ValueError:
            raise ValueError(f"scene_objects={data_args.scene_objects!r} must be 'min,max' (e.g. '2,4').") from None
        images, report = generate_scenes(scene_dir, data_args.num_scenes, size=data_args.scene_size, seed=0,
                                         num_objects=(low, high), object_scale=data_args.object_scale)
        return [im for im in images if data_args.split is None or im.split == data_args.split], report
    if data_args.data_format in PLUGIN_FORMATS:
        return plugin_loader(data_args.data_format)(data_args, workdir)
    if data_args.data_format not in CONVERTERS:
        raise ValueError(f"data_format={data_args.data_format!r} holds no annotated images; valid: "
                         f"{['procedural', *CONVERTERS, *PLUGIN_FORMATS]} ('records' files are read with "
                         "read_records).")
    if data_args.data_path is None:
        raise ValueError(f"data_format={data_args.data_format!r} needs data_path.")
    converter = CONVERTERS[data_args.data_format]
    kwargs = {"allow_outside_root": data_args.allow_outside_root}
    if data_args.data_format == "rs_mini":
        kwargs["split"] = data_args.split
        if data_args.image_dir:
            kwargs["root"] = data_args.image_dir
        return converter(data_args.data_path, **kwargs)
    if data_args.data_format in REFERRING_FORMATS:
        return converter(data_args.data_path, image_dir=data_args.image_dir, split=data_args.split,
                         modality=data_args.modality, **kwargs)
    if data_args.data_format in NEEDS_IMAGE_DIR:
        if data_args.image_dir is None:
            raise ValueError(f"data_format={data_args.data_format!r} needs image_dir.")
        kwargs["modality"] = data_args.modality
    if data_args.data_format == "yolo":
        if not data_args.class_names:
            raise ValueError("data_format='yolo' needs class_names (comma-separated).")
        return converter(data_args.data_path, data_args.image_dir, data_args.class_names.split(","), **kwargs)
    if data_args.data_format == "voc":
        return converter(data_args.data_path, data_args.image_dir, split_file=data_args.split_file, **kwargs)
    if data_args.data_format == "segmentation":
        names = dict(enumerate((data_args.class_names or "").split(",")))
        return converter(data_args.data_path, data_args.image_dir, names, **kwargs)
    if data_args.data_format == "scene_folders":
        return converter(data_args.data_path, modality=data_args.modality, **kwargs)
    return converter(data_args.data_path, data_args.image_dir, **kwargs)


__all__ = ["DataArguments", "TRAINING_OPTIONS", "check_training_options", "load_annotated_images"]
