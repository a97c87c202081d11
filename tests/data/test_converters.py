"""Each converter on a fixture in its real format, built here, with exact counts."""

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data.converters import (
    read_caption_json, read_coco, read_dota, read_rs_mini, read_scene_folders, read_segmentation_maps, read_voc,
    read_yolo,
)
from earthgptx_hf.data.converters.segmentation import points_from_label_map
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask


def _image(path, width=100, height=80, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height)).save(path)
    return path


def test_rs_mini_format_skips_ignore_objects(tmp_path):
    mask = np.zeros((80, 100), bool)
    mask[10:20, 30:50] = True
    records = [
        {"id": "infrared/x/1", "file": "images/a.jpg", "modality": "infrared", "source": "hit_uav", "width": 100,
         "height": 80, "channels": 1, "split": "train", "objects": [
             {"category": "person", "bbox": [1, 2, 10, 20], "box_source": "annotated"},
             {"category": "dont care", "bbox": [5, 5, 9, 9], "ignore": True},
         ]},
        {"id": "sar/y/2", "file": "images/b.png", "modality": "sar", "source": "hrsid", "width": 100, "height": 80,
         "channels": 3, "split": "test", "objects": [
             {"category": "ship", "bbox": [30, 10, 50, 20], "mask_rle": mask_to_rle(mask)},
         ]},
    ]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "all.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    images, report = read_rs_mini(tmp_path / "annotations" / "all.jsonl")
    assert (report.images, report.objects_read, report.objects_kept) == (2, 3, 2)
    assert report.skipped == {"ignore (DontCare region)": 1}
    assert [o.category for o in images[0].objects] == ["person"]
    assert np.array_equal(rle_to_mask(images[1].objects[0].mask), mask)
    assert images[1].image == str(tmp_path / "images" / "b.png") and images[1].modality == "sar"
    train, report = read_rs_mini(tmp_path / "annotations" / "all.jsonl", split="train")
    assert len(train) == 1 and report.objects_read == 2


def test_rs_mini_real_counts_equal_the_files(rs_mini):
    all_records = [json.loads(line) for line in open(rs_mini / "annotations" / "all.jsonl")]
    objects = sum(len(r["objects"]) for r in all_records)
    ignored = sum(1 for r in all_records for o in r["objects"] if o.get("ignore"))
    images, report = read_rs_mini(rs_mini / "annotations" / "all.jsonl")
    assert report.images == len(all_records) == 274
    assert report.objects_read == objects == 3188
    assert report.objects_kept == objects - ignored and report.skipped == {"ignore (DontCare region)": ignored}
    assert sum(len(im.objects) for im in images) == report.objects_kept
    summary = json.loads((rs_mini / "annotations" / "summary.json").read_text())
    assert sum(sum(v["instances"].values()) for v in summary.values()) == report.objects_read
    for modality in ("optical", "sar", "infrared"):  # per category, kept objects = the file's counts
        counts = json.loads((rs_mini / "categories" / f"{modality}.json").read_text())["instance_counts"]
        kept = Counter(o.category for im in images if im.modality == modality for o in im.objects)
        assert kept == Counter({k: v for k, v in counts.items() if "ignore" not in k}), modality


def test_coco(tmp_path):
    _image(tmp_path / "img" / "a.png")
    _image(tmp_path / "img" / "b.png")
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80},
                   {"id": 2, "file_name": "b.png", "width": 100, "height": 80}],
        "categories": [{"id": 7, "name": "Storage_Tank"}, {"id": 8, "name": "ship"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 10], "iscrowd": 0,
             "segmentation": [[10, 10, 30, 10, 30, 20, 10, 20]]},
            {"id": 2, "image_id": 1, "category_id": 8, "bbox": [50, 50, 10, 10], "iscrowd": 1, "segmentation": []},
            {"id": 3, "image_id": 2, "category_id": 8, "bbox": [200, 200, 5, 5], "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 8, "bbox": [0, 0, 5, 5], "iscrowd": 0},
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    images, report = read_coco(tmp_path / "ann.json", tmp_path / "img", modality="sar")
    assert (report.images, report.objects_read, report.objects_kept) == (2, 4, 2)
    assert report.skipped == {"crowd annotation": 1, "empty or outside box": 1}
    tank = images[0].objects[0]
    assert tank.category == "storage tank" and tank.bbox == [10, 10, 30, 20]
    assert rle_to_mask(tank.mask)[12:18, 12:28].all() and rle_to_mask(tank.mask).sum() < 300


def _voc_xml(name, objects, width=100, height=80):
    body = "".join(
        f"<object><name>{c}</name><difficult>{d}</difficult>"
        + (f"<description>{desc}</description>" if desc else "")
        + f"<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for c, b, d, desc in objects
    )
    return (f"<annotation><filename>{name}.jpg</filename><size><width>{width}</width><height>{height}</height>"
            f"<depth>3</depth></size>{body}</annotation>")


def test_voc_and_the_dior_rsvg_split_layout(tmp_path):
    ann = tmp_path / "Annotations"
    ann.mkdir()
    # written out of order on purpose: the global object order follows the sorted file names
    (ann / "00002.xml").write_text(_voc_xml("00002", [("ship", [1, 1, 9, 9], 0, "the ship at the pier")]))
    (ann / "00001.xml").write_text(_voc_xml("00001", [
        ("airplane", [10, 10, 30, 30], 0, "a white airplane"), ("vehicle", [40, 40, 41, 40], 0, None),
        ("harbor", [5, 5, 50, 50], 1, "the harbor on the left")]))
    for stem in ("00001", "00002"):
        _image(tmp_path / "JPEGImages" / f"{stem}.jpg")
    (tmp_path / "test.txt").write_text("0\n3\n")  # objects 0 (airplane) and 3 (ship)
    images, report = read_voc(ann, tmp_path / "JPEGImages", split_file=tmp_path / "test.txt")
    assert (report.images, report.objects_read, report.objects_kept) == (2, 4, 2)
    assert report.skipped == {"not in split": 2}
    assert [o.expression for o in images[0].objects] == ["a white airplane"]
    assert [o.expression for o in images[1].objects] == ["the ship at the pier"]
    everything, report = read_voc(ann, tmp_path / "JPEGImages", keep_difficult=False)
    assert report.skipped == {"difficult": 1, "empty or outside box": 1} and report.objects_kept == 2


def test_yolo(tmp_path):
    _image(tmp_path / "images" / "a.png", 200, 100)
    _image(tmp_path / "images" / "b.png", 200, 100)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.1 0.1\n5 0.5 0.5 0.1 0.1\nbad\n")
    images, report = read_yolo(tmp_path / "labels", tmp_path / "images", ["Ship", "small-vehicle"], modality="infrared")
    assert (report.images, report.objects_read, report.objects_kept) == (2, 4, 2)
    assert report.skipped == {"class id outside class_names": 1, "malformed line": 1}
    assert images[0].objects[0].bbox == pytest.approx([80, 30, 120, 70])
    assert images[0].objects[1].category == "small vehicle" and images[1].objects == []


def test_dota_keeps_the_quadrilateral(tmp_path):
    _image(tmp_path / "images" / "P0001.png", 300, 200)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "P0001.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.146\n"
        "10 10 50 20 45 40 5 30 large-vehicle 0\n"
        "100 100 140 100 140 130 100 130 ship 1\n"
        "400 400 410 400 410 410 400 410 ship 0\n"
    )
    (tmp_path / "labels" / "P0002.txt").write_text("1 1 5 1 5 5 1 5 plane 0\n")  # no image
    images, report = read_dota(tmp_path / "labels", tmp_path / "images")
    # the objects of a label file without image are read and counted as skipped
    assert (report.images, report.objects_read, report.objects_kept) == (1, 4, 2)
    assert report.skipped == {"empty or outside box": 1, "label file without image": 1}
    vehicle = images[0].objects[0]
    assert vehicle.category == "large vehicle" and vehicle.bbox == [5, 10, 50, 40]
    assert vehicle.polygon == [10, 10, 50, 20, 45, 40, 5, 30]


def test_the_32x32_point_rule_on_a_constructed_label_map():
    label = np.zeros((64, 96), np.uint8)
    label[:32, :32] = 1  # patch (0, 0): all class 1 -> a point of class 1
    # patch (0, 1) stays background -> skipped
    label[32:64, :32] = 0
    label[32:45, :32] = 1  # patch (1, 0): 40.6 % class 1, 40.6 % class 2, 18.8 % background -> ambiguous
    label[45:58, :32] = 2
    label[32:, 32:64] = 255  # patch (1, 1): ignore only
    label[:32, 64:96] = 2  # patch (0, 2): class 2 on 75 %, background 25 % -> a point of class 2 on a class-2 pixel
    label[:8, 64:96] = 0
    label[32:, 64:96] = 255
    label[32:40, 64:96] = 3  # patch (1, 2): 25 % class 3 and 75 % ignore -> the valid pixels are all class 3
    from earthgptx_hf.data.annotations import ConversionReport

    report = ConversionReport("seg")
    names = {1: "building", 2: "road", 3: "tree"}
    objects = points_from_label_map(label, names, np.random.default_rng(0), report=report)
    assert report.objects_read == 6
    assert report.skipped == {"background": 1, "ambiguous": 1, "ignore only": 1}
    assert [o.category for o in objects] == ["building", "road", "tree"]
    for obj in objects:  # the class read at the sampled point is the label
        x, y = obj.point
        assert names[int(label[int(y), int(x)])] == obj.category


def test_segmentation_maps_reader(tmp_path):
    (tmp_path / "labels").mkdir()
    label = np.zeros((64, 64), np.uint8)
    label[:32, :32] = 1
    Image.fromarray(label).save(tmp_path / "labels" / "t1.png")
    _image(tmp_path / "images" / "t1.jpg", 64, 64)
    images, report = read_segmentation_maps(tmp_path / "labels", tmp_path / "images", {1: "water"})
    assert report.objects_read == 4 and report.objects_kept == 1 and report.skipped == {"background": 3}
    assert images[0].objects[0].point is not None


def test_scene_folders_and_caption_json(tmp_path):
    _image(tmp_path / "scenes" / "Dense_Residential" / "a.png")
    _image(tmp_path / "scenes" / "harbor" / "b.png")
    _image(tmp_path / "scenes" / "harbor" / "c.tif")
    images, report = read_scene_folders(tmp_path / "scenes")
    assert report.images == 3 and [im.scene for im in images] == ["dense residential", "harbor", "harbor"]
    _image(tmp_path / "captions" / "1.jpg")
    dataset = {"images": [
        {"filename": "1.jpg", "imgid": 1, "split": "train", "sentences": [{"raw": "Many ships are in the harbor ."},
                                                                          {"raw": " "}]},
        {"filename": "2.jpg", "imgid": 2, "split": "train", "sentences": [{"raw": "A runway ."}]},
    ]}
    (tmp_path / "dataset_rsicd.json").write_text(json.dumps(dataset))
    images, report = read_caption_json(tmp_path / "dataset_rsicd.json", tmp_path / "captions")
    assert report.objects_read == 3 and report.objects_kept == 1
    assert report.skipped == {"empty caption": 1, "caption of a missing image": 1}
    assert images[0].captions == ["Many ships are in the harbor ."]


# ---------------------------------------------------------------------------------------------------------------------
# Untrusted annotations (issue 13): every object read is kept or counted; paths stay under their root. The hostile
# probes themselves are in tests/hostile/test_converters.py.
def _balanced(report):
    assert report.objects_read == report.objects_kept + sum(report.skipped.values()), str(report)
    return report


def _messy_rs_mini(tmp):
    _image(tmp / "images" / "a.png")
    good = {"category": "ship", "bbox": [1, 2, 10, 20]}
    records = [
        {"id": "1", "file": "images/a.png", "modality": "sar", "width": 100, "height": 80, "objects": [
            good, {"category": "x", "bbox": [1, 2]}, "junk", {"bbox": [1, 2, 3, 4]}, {**good, "ignore": True},
            {**good, "mask_rle": {"size": [100, 80], "counts": [8000]}}, {**good, "bbox": [500, 500, 600, 600]}]},
        {"id": "2", "file": "../outside.png", "modality": "sar", "width": 100, "height": 80, "objects": [good] * 3},
    ]
    (tmp / "annotations").mkdir()
    (tmp / "annotations" / "all.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    return read_rs_mini(tmp / "annotations" / "all.jsonl")


def _messy_coco(tmp):
    _image(tmp / "img" / "a.png")
    _image(tmp / "img" / "b.png", 50, 50)
    anns = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}, {"image_id": 1, "bbox": [0, 0, 5, 5]},
            {"image_id": 1, "category_id": 1}, {"image_id": 1, "category_id": 1, "bbox": [0, 0]},
            {"image_id": 1, "category_id": 9, "bbox": [0, 0, 5, 5]}, {"image_id": 3, "category_id": 1, "bbox": [1]},
            {"image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5]}, 42,
            {"image_id": 4, "category_id": 1, "bbox": [0, 0, 5, 5]}]
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80},
                       {"id": 2, "file_name": "b.png", "width": 100, "height": 80},  # the file is 50 x 50
                       {"id": 4, "file_name": "../../x.png", "width": 100, "height": 80}],
            "categories": [{"id": 1, "name": "ship"}], "annotations": anns}
    (tmp / "ann.json").write_text(json.dumps(coco))
    return read_coco(tmp / "ann.json", tmp / "img")


def _messy_voc(tmp):
    (tmp / "ann").mkdir()
    (tmp / "ann" / "1.xml").write_text(_voc_xml("1", [
        ("ship", [1, 1, 9, 9], 0, None), ("ship", ["a", 1, 9, 9], 0, None), ("", [1, 1, 9, 9], 0, None)]))
    (tmp / "ann" / "2.xml").write_text(_voc_xml("2", [("ship", [1, 1, 9, 9], 0, None)]).replace(
        "<filename>2.jpg", "<filename>../../2.jpg"))
    _image(tmp / "img" / "1.jpg")
    return read_voc(tmp / "ann", tmp / "img")


def _messy_yolo(tmp):
    _image(tmp / "images" / "a.png")
    (tmp / "labels").mkdir()
    (tmp / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\nx 0.5 0.5 0.2 0.2\n0 1\n0 0.1 0.1 0.2 0.1 0.2 0.2\n"
                                          "3 0.5 0.5 0.1 0.1\n")
    (tmp / "labels" / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp / "labels" / "classes.txt").write_text("ship\n")  # a class list, not a label file
    return read_yolo(tmp / "labels", tmp / "images", ["ship"])


def _messy_dota(tmp):
    _image(tmp / "images" / "P1.png")
    (tmp / "labels").mkdir()
    (tmp / "labels" / "P1.txt").write_text(
        "imagesource:x\ngsd:1\n1 1 9 1 9 9 1 9 ship 0\n1 2 3\nA 1 9 1 9 9 1 9 s 0\n")
    (tmp / "labels" / "P2.txt").write_text("gsd:1\n1 1 9 1 9 9 1 9 ship 0\n")
    return read_dota(tmp / "labels", tmp / "images")


def _messy_segmentation(tmp):
    (tmp / "labels").mkdir()
    label = np.zeros((64, 64), np.uint8)
    label[:32, :32] = 1
    label[32:, :32] = 255
    for stem in ("t1", "t2", "t3"):
        Image.fromarray(label).save(tmp / "labels" / f"{stem}.png")
    _image(tmp / "images" / "t1.jpg", 64, 64)
    _image(tmp / "images" / "t2.jpg", 32, 64)  # t3: no image
    return read_segmentation_maps(tmp / "labels", tmp / "images", {1: "water"})


def _messy_scene(tmp):
    _image(tmp / "scenes" / "harbor" / "a.png")
    (tmp / "scenes" / "harbor" / "b.png").write_text("not an image")
    return read_scene_folders(tmp / "scenes")


def _messy_captions(tmp):
    _image(tmp / "img" / "1.jpg")
    items = [{"filename": "1.jpg", "sentences": [{"raw": "A ship ."}, {"raw": " "}, {"text": "x"}, "y"]},
             {"filename": "../1.jpg", "sentences": [{"raw": "A ship ."}]},
             {"filename": "2.jpg", "sentences": [{"raw": "A ship ."}]}]
    (tmp / "c.json").write_text(json.dumps({"images": items}))
    return read_caption_json(tmp / "c.json", tmp / "img")


MESSY = {  # converter -> (fixture, expected skipped)
    "rs_mini": (_messy_rs_mini, {"malformed bbox": 1, "malformed object": 1, "missing category": 1,
                                 "ignore (DontCare region)": 1, "mask size mismatch": 1, "box outside the image": 1,
                                 "path outside root": 3}),
    "coco": (_messy_coco, {"missing category_id": 1, "missing bbox": 1, "malformed bbox": 1, "unknown category id": 1,
                           "image_id not in images": 1, "image size differs from annotation": 1,
                           "malformed annotation": 1, "path outside root": 1}),
    "voc": (_messy_voc, {"malformed bndbox": 1, "missing name": 1, "path outside root": 1}),
    "yolo": (_messy_yolo, {"malformed class id": 1, "malformed line": 1, "class id outside class_names": 1,
                           "label file without image": 1}),
    "dota": (_messy_dota, {"malformed line": 2, "label file without image": 1}),
    "segmentation": (_messy_segmentation, {"background": 2, "ignore only": 1, "label map size differs from image": 4,
                                           "label map without image": 4}),
    "scene_folders": (_messy_scene, {"unreadable image": 1}),
    "caption_json": (_messy_captions, {"malformed caption": 2, "empty caption": 1, "path outside root": 1,
                                       "caption of a missing image": 1}),
}


@pytest.mark.parametrize("converter", sorted(MESSY))
def test_every_object_read_is_kept_or_counted(converter, tmp_path):
    fixture, skipped = MESSY[converter]
    images, report = fixture(tmp_path)
    assert dict(report.skipped) == skipped
    _balanced(report)
    assert report.objects_kept == sum(len(im.objects) + len(im.captions) + (im.scene is not None) for im in images)
    assert report.objects_kept >= 1 and "skipped: none" not in str(report)


def test_report_lists_images_skipped_without_objects():
    from earthgptx_hf.data.annotations import ConversionReport

    report = ConversionReport("x")
    assert str(report).endswith("skipped: none")
    report.skip_image("path outside root")  # an image with no objects
    assert str(report).endswith("skipped: 1 image (path outside root)")
    report.skip_image("path outside root", objects=2)
    assert report.objects_read == 2 and report.to_dict()["images_skipped"] == {"path outside root": 2}
    assert str(report).endswith("skipped: 2 path outside root, 2 images (path outside root)")


def test_resolve_under_root(tmp_path):
    from earthgptx_hf.data.annotations import resolve_under_root

    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "out.png").write_bytes(b"")
    (root / "a" / "link.png").symlink_to(tmp_path / "out.png")
    assert resolve_under_root(root, "a/x.png") == root / "a" / "x.png"
    assert resolve_under_root(root, "a/../b.png") == root / "a" / ".." / "b.png"  # stays inside
    assert resolve_under_root(root, str(root / "a" / "x.png")) == root / "a" / "x.png"  # absolute, inside
    for escaping in ("../out.png", "a/../../out.png", str(tmp_path / "out.png"), "a/link.png"):
        assert resolve_under_root(root, escaping) is None, escaping
    assert resolve_under_root(root, "a/link.png", allow_outside_root=True) == root / "a" / "link.png"
    for bad in ("", None, 3, "a\x00b"):
        with pytest.raises(ValueError, match="relative must be a non-empty path string"):
            resolve_under_root(root, bad)


def test_allow_outside_root_opts_in(tmp_path):
    _image(tmp_path / "shared" / "a.png")
    record = {"id": "1", "file": "../shared/a.png", "modality": "optical", "width": 100, "height": 80, "objects": []}
    (tmp_path / "ds" / "annotations").mkdir(parents=True)
    (tmp_path / "ds" / "annotations" / "all.jsonl").write_text(json.dumps(record))
    images, report = read_rs_mini(tmp_path / "ds" / "annotations" / "all.jsonl")
    assert images == [] and report.images_skipped == {"path outside root": 1}
    images, report = read_rs_mini(tmp_path / "ds" / "annotations" / "all.jsonl", allow_outside_root=True)
    assert [im.image for im in images] == [str(tmp_path / "ds" / "../shared/a.png")]


def test_records_to_dataset_refuses_images_outside_root(tmp_path):
    from earthgptx_hf.data.dataset import records_to_dataset

    inside, outside = _image(tmp_path / "ds" / "a.png"), _image(tmp_path / "secret.png")
    record = {"id": "r", "image": str(inside), "prompts": [], "conversations": []}
    assert len(records_to_dataset([record], root=tmp_path / "ds")) == 1
    assert len(records_to_dataset([{**record, "image": str(outside)}])) == 1  # no root: unchecked, as before
    with pytest.raises(ValueError, match=r"records\[1\] \(id 'evil'\): image .*secret\.png.* outside root"):
        records_to_dataset([record, {**record, "id": "evil", "image": str(tmp_path / "ds" / ".." / "secret.png")}],
                           root=tmp_path / "ds")
    with pytest.raises(ValueError, match="outside root"):
        records_to_dataset([{**record, "image": {"path": str(outside), "bytes": None}}], root=tmp_path / "ds")
