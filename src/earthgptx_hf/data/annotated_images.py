"""Where annotated images come from, as the commands name it: `DataArguments` and `load_annotated_images`.

`earthgptx-train` and `earthgptx-eval` both read their data through these (their own argument classes add what only
they need), so evaluation does not depend on how a model was trained:

    images, report = load_annotated_images(DataArguments(data_format="rs_mini", data_path="test.jsonl"), workdir)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .converters import CONVERTERS
from .procedural import generate_scenes
from .tasks import parse_grounding_regions

# Converters that read a label file (or folder) and an image folder.
NEEDS_IMAGE_DIR = ("coco", "yolo", "dota", "voc", "segmentation", "caption_json")


@dataclass
class DataArguments:
    """The data source (a converter's input, M-RSVP records or procedural scenes) and how records are built from it."""

    data_format: str = field(default="procedural", metadata={
        "help": "procedural (synthetic scenes), records (M-RSVP .jsonl) or a converter name.",
        "choices": ["procedural", "records", *CONVERTERS]})
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
    prompt_type: str = field(default="mixed", metadata={"choices": ["box", "point", "freeform", "mixed"]})
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

    def __post_init__(self):
        parse_grounding_regions(self.grounding_regions)  # a bad value fails when the arguments are read


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
    if data_args.data_format not in CONVERTERS:
        raise ValueError(f"data_format={data_args.data_format!r} holds no annotated images; valid: "
                         f"{['procedural', *CONVERTERS]} ('records' files are read with read_records).")
    if data_args.data_path is None:
        raise ValueError(f"data_format={data_args.data_format!r} needs data_path.")
    converter = CONVERTERS[data_args.data_format]
    kwargs = {"allow_outside_root": data_args.allow_outside_root}
    if data_args.data_format == "rs_mini":
        kwargs["split"] = data_args.split
        if data_args.image_dir:
            kwargs["root"] = data_args.image_dir
        return converter(data_args.data_path, **kwargs)
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


__all__ = ["DataArguments", "load_annotated_images"]
