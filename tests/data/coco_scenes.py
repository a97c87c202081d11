"""A COCO detection / instance-segmentation JSON of procedural scenes (the converter's input at any size: the test of
the streamed training data and `benchmarks/bench_data.py` use it)."""

from __future__ import annotations

import json
from pathlib import Path

from earthgptx_hf.data.procedural import SCENE_CLASSES


def write_coco(images, image_dir, path, repeat: int = 1) -> Path:
    """`images` (procedural `AnnotatedImage`s under `image_dir`) as a COCO JSON at `path`, boxes as xywh and masks as
    compressed RLE; `repeat` lists every image that many times (ids apart, files shared), for large sets."""
    categories = {name: number for number, name in enumerate(SCENE_CLASSES, start=1)}
    entries, annotations = [], []
    for copy in range(repeat):
        for image in images:
            image_id = len(entries) + 1
            entries.append({"id": image_id, "file_name": str(Path(image.image).relative_to(image_dir)),
                            "width": image.width, "height": image.height})
            for obj in image.objects:
                x1, y1, x2, y2 = obj.bbox
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0,
                                    "category_id": categories[obj.category], "bbox": [x1, y1, x2 - x1, y2 - y1],
                                    "segmentation": obj.mask})
    coco = {"images": entries, "annotations": annotations,
            "categories": [{"id": number, "name": name} for name, number in categories.items()]}
    Path(path).write_text(json.dumps(coco))
    return Path(path)
