"""M-RSVP data construction: converters (`data.converters`), task builders, free-form augmentation, procedural
scenes, datasets. The package exports what the README and docs call; the helpers live in their modules."""

from .annotated_images import DataArguments, load_annotated_images
from .annotations import AnnotatedImage, AnnotationFormatError, ConversionReport
from .dataset import records_to_dataset
from .procedural import generate_scenes
from .tasks import build_records

__all__ = [
    "DataArguments",
    "load_annotated_images",
    "AnnotatedImage",
    "ConversionReport",
    "AnnotationFormatError",
    "build_records",
    "generate_scenes",
    "records_to_dataset",
]
