"""Hostile and malformed annotation files for every converter (issue 13, "Untrusted annotations").

Layout of every probe: the dataset lives under `tmp/ds` (the converter's root); `tmp/secret.png` is a file outside
it that no path in an annotation may reach (`../`, an absolute path, a symlink out of the root). Accepted rows check
the exact skip reason and count, and that every object read is kept or counted; refused rows check that the error
names the file and the record / line.
"""

import json
import os
import re

import numpy as np
from PIL import Image

from earthgptx_hf.data.annotations import PATH_OUTSIDE_ROOT, AnnotationFormatError
from earthgptx_hf.data.converters import (
    read_caption_json, read_coco, read_dota, read_rs_mini, read_scene_folders, read_segmentation_maps, read_voc,
    read_yolo,
)
from earthgptx_hf.data.dataset import records_to_dataset

from .harness import Hostile, parametrize, run_case

W, H = 100, 80
BOX = {"category": "ship", "bbox": [1, 2, 10, 20]}


def _image(path, width=W, height=H, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height)).save(path)
    return path


def _secret(tmp):
    return _image(tmp / "secret.png")


def _link(tmp, link):
    """`link` (under the root) -> the secret file outside it."""
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(_secret(tmp), link)
    return link


def _mask(height=H, width=W):
    """The uncompressed COCO RLE of a 5x5 square at (5, 5), the form rs_mini files hold (`mask_to_rle` writes the
    compressed one)."""
    runs = [5 * height + 5] + [5, height - 5] * 4 + [5, height - 10 + (width - 10) * height]  # column-major
    return {"size": [height, width], "counts": runs}


# ---------------------------------------------------------------------------------------------------------- rs_mini
def _record(**changes):
    record = {"id": "r1", "file": "images/a.png", "modality": "optical", "width": W, "height": H,
              "objects": [dict(BOX)]}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def _obj(**changes):
    return _record(objects=[dict(BOX), {**BOX, **changes}])


def rs_mini(tmp, *records, raw: str | None = None, link: bool = False):
    root = tmp / "ds"
    _image(root / "images" / "a.png")
    _secret(tmp)
    if link:
        _link(tmp, root / "images" / "link.png")
    (root / "annotations").mkdir(parents=True)
    lines = [json.dumps(r) for r in records] + ([raw] if raw is not None else [])
    (root / "annotations" / "all.jsonl").write_text("\n".join(lines) + "\n")
    return read_rs_mini(root / "annotations" / "all.jsonl")


# ------------------------------------------------------------------------------------------------------------- coco
def coco(tmp, data=None, image=None, annotation=None, link=False, size=(W, H)):
    root = tmp / "ds"
    _image(root / "img" / "a.png", *size)
    _secret(tmp)
    if link:
        _link(tmp, root / "img" / "link.png")
    if data is None:
        ann = {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 10]}
        ann = {k: v for k, v in {**ann, **(annotation or {})}.items() if v is not ...}
        data = {"images": [{"id": 1, "file_name": "a.png", "width": W, "height": H, **(image or {})}],
                "categories": [{"id": 7, "name": "ship"}],
                "annotations": [{"id": 0, "image_id": 1, "category_id": 7, "bbox": [0, 0, 5, 5]}, ann]}
    (root / "ann.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return read_coco(root / "ann.json", root / "img")


# -------------------------------------------------------------------------------------------------------------- voc
def _voc_object(name="ship", box=(1, 1, 9, 9)):
    name = f"<name>{name}</name>" if name is not None else ""
    box = "<bndbox>" + "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box)) + \
        "</bndbox>" if box is not None else ""
    return f"<object>{name}{box}</object>"


def voc(tmp, filename="00001.jpg", size=True, objects=None, xml=None, link=False, split=None):
    root = tmp / "ds"
    _image(root / "JPEGImages" / "00001.jpg")
    _secret(tmp)
    if link:  # the image found by stem is a symlink out of the root
        (root / "JPEGImages" / "00001.jpg").unlink()
        _link(tmp, root / "JPEGImages" / "00001.jpg")
    size = f"<size><width>{W}</width><height>{H}</height></size>" if size else ""
    objects = _voc_object() + (objects if objects is not None else "")
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "00001.xml").write_text(
        xml or f"<annotation><filename>{filename}</filename>{size}{objects}</annotation>")
    if split is not None:
        (root / "test.txt").write_text(split)
    return read_voc(root / "Annotations", root / "JPEGImages",
                    split_file=root / "test.txt" if split is not None else None)


# ------------------------------------------------------------------------------------------------------------- yolo
def yolo(tmp, text, orphan=None, link=False):
    root = tmp / "ds"
    _image(root / "images" / "a.png", 200, 100)
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n" + text)
    if orphan is not None:
        (root / "labels" / "b.txt").write_text(orphan)
    if link:
        _link(tmp, root / "images" / "c.png")
        (root / "labels" / "c.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    return read_yolo(root / "labels", root / "images", ["ship", "plane"])


# ------------------------------------------------------------------------------------------------------------- dota
def dota(tmp, text, link=False):
    root = tmp / "ds"
    _image(root / "images" / "P1.png", 300, 200)
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "P1.txt").write_text("imagesource:GoogleEarth\ngsd:0.1\n10 10 50 20 45 40 5 30 ship 0\n" + text)
    if link:
        _link(tmp, root / "images" / "P2.png")
        (root / "labels" / "P2.txt").write_text("1 1 5 1 5 5 1 5 plane 0\n")
    return read_dota(root / "labels", root / "images")


# ----------------------------------------------------------------------------------------------------- segmentation
def segmentation(tmp, label, image_size=(64, 64), palette=None, link=False):
    root = tmp / "ds"
    (root / "labels").mkdir(parents=True)
    Image.fromarray(label).save(root / "labels" / "t1.png")
    if link:
        _link(tmp, root / "images" / "t1.png")
    else:
        _image(root / "images" / "t1.jpg", *image_size)
    return read_segmentation_maps(root / "labels", root / "images", {1: "water", 2: "road"}, palette=palette)


def _grey(value=1):
    label = np.zeros((64, 64), np.uint8)
    label[:32, :32] = value
    return label


def _rgb():
    label = np.zeros((64, 64, 3), np.uint8)
    label[:32, :32] = (0, 0, 255)
    label[32:, 32:] = (255, 0, 0)
    return label


# ------------------------------------------------------------------------------------------------ scene and captions
def scene(tmp):
    root = tmp / "ds"
    _image(root / "harbor" / "a.png")
    _link(tmp, root / "harbor" / "b.png")
    return read_scene_folders(root)


def captions(tmp, filename=None, data=None, link=False):
    root = tmp / "ds"
    _image(root / "img" / "1.jpg")
    _secret(tmp)
    if link:
        _link(tmp, root / "img" / "2.jpg")
    items = [{"filename": "1.jpg", "imgid": 1, "sentences": [{"raw": "A harbor ."}]}]
    if filename is not None:
        items.append({"filename": filename, "imgid": 2, "sentences": [{"raw": "A secret ."}, {"raw": "Two ."}]})
    (root / "captions.json").write_text(json.dumps(data if data is not None else {"images": items}))
    return read_caption_json(root / "captions.json", root / "img")


def dataset_outside_root(tmp):
    root = tmp / "ds"
    _image(root / "a.png")
    record = {"id": "x", "image": str(root / ".." / "secret.png"), "prompts": [], "conversations": []}
    _secret(tmp)
    return records_to_dataset([record], root=root)


# ----------------------------------------------------------------------------------------------------------- checks
def counted(reason, n, images_skipped=0, kept=None):
    """The report counts `n` objects (and `images_skipped` images) under `reason`; every object is accounted for."""
    def check(result):
        images, report = result
        assert report.skipped[reason] == n, report.skipped
        assert report.images_skipped[reason] == images_skipped, report.images_skipped
        assert report.objects_read == report.objects_kept + sum(report.skipped.values()), report
        assert report.objects_kept == sum(len(im.objects) + len(im.captions) + (im.scene is not None)
                                          for im in images)
        assert reason in str(report) and "skipped: none" not in str(report)
        if kept is not None:
            assert report.objects_kept == kept, report
        for im in images:  # nothing kept points out of the root (`tmp/ds`)
            assert "/ds/" in os.path.realpath(im.image), im.image
    return check


def yolo_polygon_converted(result):
    images, report = result
    assert report.skipped == {} and report.objects_read == report.objects_kept == 2
    polygon = images[0].objects[1]
    assert polygon.bbox == [20.0, 10.0, 100.0, 60.0]  # hull of (0.1, 0.1), (0.5, 0.1), (0.3, 0.6) on 200 x 100
    assert polygon.polygon == [20.0, 10.0, 100.0, 10.0, 60.0, 60.0] and polygon.category == "plane"


def palette_read(result):
    images, report = result
    assert report.skipped == {"background": 2} and report.objects_kept == 2
    assert sorted(o.category for o in images[0].objects) == ["road", "water"]


def segmentation_float(tmp, value=float("nan")):
    """A float label map (TIFF data under a .png name: PIL reads files by content)."""
    root = tmp / "ds"
    (root / "labels").mkdir(parents=True)
    Image.fromarray(np.full((32, 32), value, np.float32), "F").save(root / "labels" / "t1.png", format="TIFF")
    _image(root / "images" / "t1.jpg", 32, 32)
    return read_segmentation_maps(root / "labels", root / "images", {1: "water"})


def segmentation_bomb(tmp):
    """A 1-bit label map past PIL's decompression-bomb limit (2 x MAX_IMAGE_PIXELS)."""
    root = tmp / "ds"
    (root / "labels").mkdir(parents=True)
    Image.new("1", (15000, 13000)).save(root / "labels" / "t1.png")
    _image(root / "images" / "t1.jpg", 32, 32)
    return read_segmentation_maps(root / "labels", root / "images", {1: "water"})


def voc_with_a_folder_named_xml(tmp):
    result = voc(tmp)  # builds the dataset; then a folder that only looks like an annotation file
    (tmp / "ds" / "Annotations" / "zz.xml").mkdir()
    return read_voc(tmp / "ds" / "Annotations", tmp / "ds" / "JPEGImages") if result else None


def only_the_real_file(result):
    """A folder is not an annotation file: the one real XML is read, nothing fails."""
    images, report = result
    assert [im.id for im in images] == ["00001"] and report.images == 1 and report.objects_kept == 1, report


def error(*parts):
    """A regex: the message names each part (escaped), in order."""
    return ".*".join(re.escape(p) for p in parts)


E = AnnotationFormatError
P = PATH_OUTSIDE_ROOT

CASES = [
    # rs_mini: paths
    Hostile("rs_mini file ../", lambda t: rs_mini(t, _record(file="../../secret.png")), check=counted(P, 1, 1)),
    Hostile("rs_mini file absolute", lambda t: rs_mini(t, _record(file=str(t / "secret.png"))),
            check=counted(P, 1, 1)),
    Hostile("rs_mini file symlink out", lambda t: rs_mini(t, _record(file="images/link.png"), link=True),
            check=counted(P, 1, 1)),
    # rs_mini: malformed files
    Hostile("rs_mini invalid JSON line", lambda t: rs_mini(t, _record(), raw="{not json"), raises=E,
            match=error("all.jsonl, line 2", "not valid JSON")),
    Hostile("rs_mini record without objects", lambda t: rs_mini(t, _record(objects=...)), raises=E,
            match=error("all.jsonl, line 1 (id 'r1')", "'objects' must be a list")),
    Hostile("rs_mini record without file", lambda t: rs_mini(t, _record(), _record(id="r2", file=...)), raises=E,
            match=error("all.jsonl, line 2 (id 'r2')", "'file' must be a str")),
    Hostile("rs_mini record without width", lambda t: rs_mini(t, _record(width=...)), raises=E,
            match=error("all.jsonl, line 1 (id 'r1')", "'width' must be a positive integer")),
    Hostile("rs_mini record is a list", lambda t: rs_mini(t, raw="[1, 2]"), raises=E,
            match=error("all.jsonl, line 1", "expected a JSON object")),
    Hostile("rs_mini empty file path", lambda t: rs_mini(t, _record(file="")), raises=E,
            match=error("all.jsonl, line 1 (id 'r1')", "non-empty path")),
    # rs_mini: malformed objects and masks
    Hostile("rs_mini bbox with 3 numbers", lambda t: rs_mini(t, _obj(bbox=[1, 2, 3])),
            check=counted("malformed bbox", 1)),
    Hostile("rs_mini bbox NaN", lambda t: rs_mini(t, raw=json.dumps(_obj(bbox=[1, 2, float("nan"), 4]))),
            check=counted("malformed bbox", 1)),
    Hostile("rs_mini object without category", lambda t: rs_mini(t, _obj(category=None)),
            check=counted("missing category", 1)),
    Hostile("rs_mini object not a dict", lambda t: rs_mini(t, _record(objects=[BOX, "ship"])),
            check=counted("malformed object", 1)),
    Hostile("rs_mini mask of another size", lambda t: rs_mini(t, _obj(mask_rle=_mask(40, 50))),
            check=counted("mask size mismatch", 1)),
    Hostile("rs_mini mask transposed", lambda t: rs_mini(t, _obj(mask_rle={**_mask(), "size": [W, H]})),
            check=counted("mask size mismatch", 1)),
    Hostile("rs_mini mask counts short", lambda t: rs_mini(t, _obj(mask_rle={"size": [H, W], "counts": [10, 5]})),
            check=counted("mask counts mismatch", 1)),
    Hostile("rs_mini polygon odd length", lambda t: rs_mini(t, _obj(polygon=[1, 2, 3, 4, 5])),
            check=counted("malformed polygon", 1)),
    # coco: paths
    Hostile("coco file_name ../", lambda t: coco(t, image={"file_name": "../../secret.png"}), check=counted(P, 2, 1)),
    Hostile("coco file_name absolute", lambda t: coco(t, image={"file_name": str(t / "secret.png")}),
            check=counted(P, 2, 1)),
    Hostile("coco file_name symlink out", lambda t: coco(t, image={"file_name": "link.png"}, link=True),
            check=counted(P, 2, 1)),
    # coco: malformed files
    Hostile("coco without images", lambda t: coco(t, data={"annotations": []}), raises=E,
            match=error("ann.json, top level", "'images' list")),
    Hostile("coco not JSON", lambda t: coco(t, data="{"), raises=E, match=error("ann.json", "not valid JSON")),
    Hostile("coco image without width", lambda t: coco(t, image={"width": None}), raises=E,
            match=error("ann.json, images[0] (id 1)", "'width' must be a positive integer")),
    Hostile("coco duplicate image id", lambda t: coco(t, data={"images": [
        {"id": 1, "file_name": "a.png", "width": W, "height": H}] * 2}), raises=E,
            match=error("ann.json, images[1] (id 1)", "duplicate image id")),
    # coco: malformed objects, sizes, masks
    Hostile("coco image_id not in images", lambda t: coco(t, annotation={"image_id": 99}),
            check=counted("image_id not in images", 1, kept=1)),
    Hostile("coco annotation without bbox", lambda t: coco(t, annotation={"bbox": ...}),
            check=counted("missing bbox", 1)),
    Hostile("coco annotation without category_id", lambda t: coco(t, annotation={"category_id": ...}),
            check=counted("missing category_id", 1)),
    Hostile("coco bbox with 3 numbers", lambda t: coco(t, annotation={"bbox": [1, 2, 3]}),
            check=counted("malformed bbox", 1)),
    Hostile("coco annotation not an object", lambda t: coco(t, data={
        "images": [], "categories": [], "annotations": [7]}), check=counted("malformed annotation", 1)),
    Hostile("coco size differs from the file", lambda t: coco(t, size=(80, 100)),
            check=counted("image size differs from annotation", 2, 1)),
    Hostile("coco RLE transposed", lambda t: coco(t, annotation={"segmentation": {**_mask(), "size": [W, H]}}),
            check=counted("mask size mismatch", 1)),
    Hostile("coco RLE counts short",
            lambda t: coco(t, annotation={"segmentation": {"size": [H, W], "counts": [3, 4]}}),
            check=counted("mask counts mismatch", 1)),
    Hostile("coco polygon odd length", lambda t: coco(t, annotation={"segmentation": [[1, 2, 3, 4, 5]]}),
            check=counted("malformed segmentation", 1)),
    # voc
    Hostile("voc filename ../", lambda t: voc(t, filename="../../secret.png"), check=counted(P, 1, 1)),
    Hostile("voc filename absolute", lambda t: voc(t, filename=str(t / "secret.png")), check=counted(P, 1, 1)),
    Hostile("voc image symlink out", lambda t: voc(t, link=True), check=counted(P, 1, 1)),
    Hostile("voc without size", lambda t: voc(t, size=False), raises=E, match=error("00001.xml, <size>", "<width>")),
    Hostile("voc invalid XML", lambda t: voc(t, xml="<annotation>"), raises=E,
            match=error("00001.xml", "not valid XML")),
    Hostile("voc object without bndbox", lambda t: voc(t, objects=_voc_object(box=None)),
            check=counted("missing bndbox", 1)),
    Hostile("voc object without name", lambda t: voc(t, objects=_voc_object(name=None)),
            check=counted("missing name", 1)),
    Hostile("voc bndbox not numbers", lambda t: voc(t, objects=_voc_object(box=("a", 1, 2, 3))),
            check=counted("malformed bndbox", 1)),
    Hostile("voc split file not indices", lambda t: voc(t, split="0\nzero\n"), raises=E,
            match=error("test.txt, line 2", "expected a global object index")),
    # yolo
    Hostile("yolo class abc", lambda t: yolo(t, "abc 0.5 0.5 0.1 0.1\n"), check=counted("malformed class id", 1)),
    Hostile("yolo coordinate nan", lambda t: yolo(t, "0 nan 0.5 0.1 0.1\n"), check=counted("malformed line", 1)),
    Hostile("yolo odd polygon", lambda t: yolo(t, "0 0.1 0.1 0.5 0.1 0.3\n"), check=counted("malformed line", 1)),
    Hostile("yolo polygon line", lambda t: yolo(t, "1 0.1 0.1 0.5 0.1 0.3 0.6\n"), check=yolo_polygon_converted),
    Hostile("yolo label file without image", lambda t: yolo(t, "", orphan="0 0.5 0.5 0.1 0.1\n\n1 0.2 0.2 0.1 0.1\n"),
            check=counted("label file without image", 2)),
    Hostile("yolo image symlink out", lambda t: yolo(t, "", link=True), check=counted(P, 1, 1)),
    # dota
    Hostile("dota short line", lambda t: dota(t, "1 2 3 ship\n"), check=counted("malformed line", 1, kept=1)),
    Hostile("dota coordinate not a number", lambda t: dota(t, "a 1 5 1 5 5 1 5 ship 0\n"),
            check=counted("malformed line", 1)),
    Hostile("dota image symlink out", lambda t: dota(t, "", link=True), check=counted(P, 1, 1)),
    # segmentation maps
    Hostile("segmentation RGB colour map", lambda t: segmentation(t, _rgb()), raises=E,
            match=error("t1.png", "colour-coded", "single channel", "'P' mode")),
    Hostile("segmentation RGB colour map with palette", lambda t: segmentation(
        t, _rgb(), palette={(0, 0, 0): 0, (0, 0, 255): 1, (255, 0, 0): 2}), check=palette_read),
    Hostile("segmentation palette missing a colour", lambda t: segmentation(t, _rgb(), palette={(0, 0, 0): 0}),
            raises=E, match=error("t1.png, pixel (x=", "not in palette")),
    Hostile("segmentation map size differs", lambda t: segmentation(t, _grey(), image_size=(64, 32)),
            check=counted("label map size differs from image", 4, 1)),
    Hostile("segmentation image symlink out", lambda t: segmentation(t, _grey(), link=True), check=counted(P, 4, 1)),
    # scene folders and captions
    Hostile("scene image symlink out", scene, check=counted(P, 1, 1, kept=1)),
    Hostile("caption filename ../", lambda t: captions(t, "../../secret.png"), check=counted(P, 2, 1, kept=1)),
    Hostile("caption filename absolute", lambda t: captions(t, str(t / "secret.png")), check=counted(P, 2, 1)),
    Hostile("caption filename symlink out", lambda t: captions(t, "2.jpg", link=True), check=counted(P, 2, 1)),
    Hostile("caption JSON without images", lambda t: captions(t, data=[]), raises=E,
            match=error("captions.json, top level", "'images' list")),
    Hostile("caption entry without filename", lambda t: captions(t, data={"images": [{"imgid": 5}]}), raises=E,
            match=error("captions.json, images[0] (imgid 5)", "'filename'")),
    # numbers beyond float range, non-finite sizes, non-integer label maps (found by probing)
    Hostile("rs_mini bbox 10**400", lambda t: rs_mini(t, _obj(bbox=[0, 0, 10**400, 5])),
            check=counted("malformed bbox", 1)),
    Hostile("rs_mini polygon 10**400", lambda t: rs_mini(t, _obj(polygon=[0, 0, 10**400, 0, 0, 5])),
            check=counted("malformed polygon", 1)),
    Hostile("rs_mini mask size 10**400",
            lambda t: rs_mini(t, _obj(mask_rle={"size": [10**400, W], "counts": [W * H]})),
            check=counted("malformed mask", 1)),
    Hostile("coco bbox 10**400", lambda t: coco(t, annotation={"bbox": [0, 0, 10**400, 5]}),
            check=counted("malformed bbox", 1)),
    Hostile("coco segmentation polygon 10**400",
            lambda t: coco(t, annotation={"segmentation": [[0, 0, 10**400, 0, 0, 5]]}),
            check=counted("malformed segmentation", 1)),
    Hostile("coco image width NaN", lambda t: coco(t, image={"width": float("nan")}), raises=E,
            match=error("ann.json, images[0]", "'width' must be a positive integer")),
    Hostile("coco image height Infinity", lambda t: coco(t, image={"height": float("inf")}), raises=E,
            match=error("ann.json, images[0]", "'height' must be a positive integer")),
    Hostile("segmentation float map (NaN)", segmentation_float, raises=E,
            match=error("t1.png, dtype float32", "class-index maps are required")),
    Hostile("segmentation float map (1.5)", lambda t: segmentation_float(t, 1.5), raises=E,
            match=error("t1.png, dtype float32", "integer class indices")),
    Hostile("segmentation decompression bomb", segmentation_bomb, raises=E,
            match=error("t1.png", "not a readable image")),
    Hostile("voc folder named like an annotation file", voc_with_a_folder_named_xml, check=only_the_real_file),
    # records_to_dataset
    Hostile("records_to_dataset image outside root", dataset_outside_root, raises=ValueError,
            match=error("records[0] (id 'x')", "secret.png", "outside root")),
]


@parametrize(CASES)
def test_hostile_converter_input(case, tmp_path):
    run_case(case, tmp_path)
