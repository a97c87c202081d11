"""M-RSVP data construction: converters, task builders, free-form augmentation, procedural scenes, datasets."""

from .annotated_images import DataArguments, load_annotated_images
from .annotations import (
    AnnotatedImage,
    AnnotationFormatError,
    ConversionReport,
    ObjectAnnotation,
    read_jsonl,
    resolve_under_root,
    write_jsonl,
)
from .converters import CONVERTERS
from .dataset import example_to_record, records_to_dataset
from .freeform import box_to_freeform
from .procedural import SCENE_CLASSES, generate_scene, generate_scenes
from .records import read_records
from .tasks import TASKS, RecordBuilder, build_records

__all__ = [
    "DataArguments",
    "load_annotated_images",
    "AnnotatedImage",
    "ObjectAnnotation",
    "ConversionReport",
    "AnnotationFormatError",
    "resolve_under_root",
    "read_records",
    "CONVERTERS",
    "TASKS",
    "SCENE_CLASSES",
    "RecordBuilder",
    "build_records",
    "box_to_freeform",
    "generate_scene",
    "generate_scenes",
    "records_to_dataset",
    "example_to_record",
    "read_jsonl",
    "write_jsonl",
]
