"""Pascal VOC XML, including the DIOR-RSVG / OPT-RSVG layout.

DIOR-RSVG / OPT-RSVG: every `<object>` has a `<description>` (a referring expression written by people), and the
split files (`train.txt`, `val.txt`, `test.txt`) list object indices in the global order obtained by reading the
XML files sorted by name and numbering their objects consecutively from 0. Objects not listed in the given split
file are counted as skipped ("not in split").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..annotations import AnnotatedImage, ConversionReport, ObjectAnnotation, clip_box, find_image, normalise_category


def read_voc(annotation_dir: str | Path, image_dir: str | Path, split_file: str | Path | None = None,
             modality: str = "optical", keep_difficult: bool = True):
    """Reads every `*.xml` in `annotation_dir` (sorted by name).

    Args:
        split_file: a DIOR-RSVG style index file (one global object index per line); None keeps every object.
        keep_difficult: keep objects flagged `<difficult>1</difficult>` (counted as skipped otherwise).
    """
    wanted = None
    if split_file is not None:
        wanted = {int(line.split()[0]) for line in Path(split_file).read_text().split("\n") if line.strip()}
    report = ConversionReport(source=f"voc:{Path(annotation_dir).name}")
    images, index = [], 0
    for xml_file in sorted(Path(annotation_dir).glob("*.xml")):
        root = ET.parse(xml_file).getroot()
        size = root.find("size")
        width, height = int(float(size.findtext("width"))), int(float(size.findtext("height")))
        objects = []
        for obj in root.findall("object"):
            report.objects_read += 1
            global_index, index = index, index + 1
            if wanted is not None and global_index not in wanted:
                report.skip("not in split")
                continue
            if not keep_difficult and obj.findtext("difficult", "0").strip() == "1":
                report.skip("difficult")
                continue
            box_node = obj.find("bndbox")
            box = clip_box([float(box_node.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")], width, height)
            if box is None:
                report.skip("empty or outside box")
                continue
            description = obj.findtext("description")
            objects.append(ObjectAnnotation(
                category=normalise_category(obj.findtext("name")), bbox=box,
                expression=description.strip() if description and description.strip() else None,
            ))
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(
            image=str(find_image(image_dir, xml_file.stem, root.findtext("filename"))
                      or Path(image_dir) / (root.findtext("filename") or f"{xml_file.stem}.jpg")), width=width,
            height=height, modality=modality, objects=objects, source="voc", id=xml_file.stem,
        ))
    return images, report


__all__ = ["read_voc"]
