"""Converters from dataset formats into `AnnotatedImage`s, each with a `ConversionReport`.

| function | format |
|---|---|
| `read_rs_mini` | the JSON-lines format of `../shared/data/rs_mini` (uncompressed COCO RLE masks, "ignore" objects) |
| `read_coco` | COCO detection / instance segmentation JSON |
| `read_voc` | Pascal VOC XML, including the DIOR-RSVG / OPT-RSVG layout (expression per object, split index files) |
| `read_yolo` | YOLO txt (normalised centre boxes) |
| `read_dota` | DOTA txt (oriented quadrilaterals) |
| `read_segmentation_maps` | semantic label maps -> one point per 32x32 patch (the paper's rule) |
| `read_scene_folders`, `read_caption_json` | scene classification folders, RSICD / UCM / Sydney caption JSON |
| `read_rrsisd` | RRSIS-D referring segmentation: refer layout (`refs(unc).p` read without globals, `instances.json`) |
| `read_refsegrs` | RefSegRS referring segmentation: `output_phrase_<split>.txt`, `images/`, `masks/` (`.tif`) |
"""

from .coco import read_coco
from .dota import read_dota
from .refsegrs import read_refsegrs
from .rrsisd import read_rrsisd
from .rs_mini import read_rs_mini
from .scene import read_caption_json, read_scene_folders
from .segmentation import read_segmentation_maps
from .voc import read_voc
from .yolo import read_yolo

CONVERTERS = {
    "rs_mini": read_rs_mini,
    "coco": read_coco,
    "voc": read_voc,
    "yolo": read_yolo,
    "dota": read_dota,
    "segmentation": read_segmentation_maps,
    "scene_folders": read_scene_folders,
    "caption_json": read_caption_json,
    "rrsisd": read_rrsisd,
    "refsegrs": read_refsegrs,
}

__all__ = ["CONVERTERS", "read_rs_mini", "read_coco", "read_voc", "read_yolo", "read_dota", "read_segmentation_maps",
           "read_scene_folders", "read_caption_json", "read_rrsisd", "read_refsegrs"]
