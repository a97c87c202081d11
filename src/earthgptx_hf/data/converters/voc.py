"""Pascal VOC XML, including the DIOR-RSVG / OPT-RSVG layout.

DIOR-RSVG / OPT-RSVG: every `<object>` has a `<description>` (a referring expression written by people, kept as
the object's `expression` with single spaces), and the split files (`train.txt`, `val.txt`, `test.txt`; OPT-RSVG
keeps them in `split/`, its images in `Image/`) list object indices in the global order obtained by reading the XML
files sorted by name and numbering their objects consecutively from 0. Objects not listed in the given split file
are counted as skipped ("not in split").

Untrusted input (see `annotations.py`): an XML file that does not parse, or has no `<size>` with positive
`<width>` / `<height>`, and a split file line that is not an index, raise `AnnotationFormatError` naming the file
(and line). An XML whose `<filename>` (or image found by stem) resolves outside `image_dir`, or that is itself a
symlink out of `annotation_dir`, is dropped with its objects ("path outside root"); its objects still take their
global indices (an XML symlinked out of the folder is not read, so with a split file it is an error instead).
A malformed object is counted: "missing name", "missing bndbox", "malformed bndbox".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..annotations import (
    PATH_OUTSIDE_ROOT, AnnotatedImage, AnnotationFormatError, ConversionReport, ObjectAnnotation, PathOutsideRootError,
    clip_box, find_image, normalise_category, parse_numbers, read_text_lines, resolve_under_root,
)


def _split_indices(split_file: Path) -> set[int]:
    wanted = set()
    for number, line in enumerate(read_text_lines(split_file), start=1):
        if not line.strip():
            continue
        try:
            wanted.add(int(line.split()[0]))
        except ValueError:
            raise AnnotationFormatError(split_file, f"line {number}", f"expected a global object index (an integer), "
                                        f"got {line.strip()!r}.") from None
    return wanted


def _parse(xml_file: Path):
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as error:
        raise AnnotationFormatError(xml_file, "", f"not valid XML ({error}).") from None
    size = root.find("size")
    values = parse_numbers([size.findtext("width") or "", size.findtext("height") or ""]) if size is not None else None
    if values is None or min(values) <= 0:
        raise AnnotationFormatError(xml_file, "<size>", "expected <size><width>W</width><height>H</height></size> "
                                    "with positive numbers.")
    return root, int(values[0]), int(values[1])


def _object(obj, width: int, height: int) -> ObjectAnnotation | str:
    """The object, or the reason it is skipped."""
    name = obj.findtext("name")
    if name is None or not normalise_category(name):
        return "missing name"
    box_node = obj.find("bndbox")
    if box_node is None:
        return "missing bndbox"
    coords = parse_numbers([box_node.findtext(k) or "" for k in ("xmin", "ymin", "xmax", "ymax")])
    if coords is None:
        return "malformed bndbox"
    box = clip_box(coords, width, height)
    if box is None:
        return "empty or outside box"
    description = " ".join((obj.findtext("description") or "").split())  # single spaces, as the phrase is read
    return ObjectAnnotation(category=normalise_category(name), bbox=box, expression=description or None)


def read_voc(annotation_dir: str | Path, image_dir: str | Path, split_file: str | Path | None = None,
             modality: str = "optical", keep_difficult: bool = True, allow_outside_root: bool = False):
    """Reads every `*.xml` in `annotation_dir` (sorted by name).

    Args:
        split_file: a DIOR-RSVG style index file (one global object index per line); None keeps every object.
        keep_difficult: keep objects flagged `<difficult>1</difficult>` (counted as skipped otherwise).
        allow_outside_root: follow `<filename>`s and files that resolve outside their folder; off by default.
    """
    wanted = _split_indices(Path(split_file)) if split_file is not None else None
    report = ConversionReport(source=f"voc:{Path(annotation_dir).name}")
    images, index = [], 0
    for xml_file in sorted(p for p in Path(annotation_dir).glob("*.xml") if p.is_file()):
        if resolve_under_root(annotation_dir, xml_file.name, allow_outside_root) is None:
            if wanted is not None:  # its objects' global indices are unknown: every later index would be wrong
                raise AnnotationFormatError(xml_file, "", f"resolves outside annotation_dir {str(annotation_dir)!r} "
                                            "(a symlink), so the split file's object indices cannot be matched; "
                                            "pass allow_outside_root=True to read it.")
            report.skip_image(PATH_OUTSIDE_ROOT)  # not read: its objects are unknown
            continue
        root, width, height = _parse(xml_file)
        nodes = root.findall("object")
        filename = (root.findtext("filename") or "").strip() or None
        try:
            image_path = find_image(image_dir, xml_file.stem, filename, allow_outside_root)
        except PathOutsideRootError:
            report.skip_image(PATH_OUTSIDE_ROOT, len(nodes))
            index += len(nodes)
            continue
        objects = []
        for obj in nodes:
            report.objects_read += 1
            global_index, index = index, index + 1
            if wanted is not None and global_index not in wanted:
                report.skip("not in split")
                continue
            if not keep_difficult and (obj.findtext("difficult") or "0").strip() == "1":
                report.skip("difficult")
                continue
            kept = _object(obj, width, height)
            if isinstance(kept, str):
                report.skip(kept)
            else:
                objects.append(kept)
        report.images += 1
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(
            image=str(image_path or Path(image_dir) / (filename or f"{xml_file.stem}.jpg")), width=width,
            height=height, modality=modality, objects=objects, source="voc", id=xml_file.stem,
        ))
    return images, report


__all__ = ["read_voc"]
