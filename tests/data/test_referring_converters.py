"""The referring-segmentation converters (RRSIS-D, RefSegRS) and the DIOR-RSVG / OPT-RSVG layout of `read_voc`, each
on small files written here in the benchmark's on-disk layout, against hand-computed values."""

import json
import os
import pickle
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data.annotated_images import DataArguments, load_annotated_images
from earthgptx_hf.data.annotations import AnnotationFormatError
from earthgptx_hf.data.converters import CONVERTERS, read_refsegrs, read_rrsisd, read_voc
from earthgptx_hf.data.converters.refsegrs import phrase_category
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask


def _image(path, width=100, height=80, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height)).save(path)
    return path


def _balanced(report):
    assert report.objects_read == report.objects_kept + sum(report.skipped.values()), str(report)


# --- RRSIS-D: refer/data/rrsisd/{refs(unc).p, instances.json}, refer/data/images/rrsisd/JPEGImages/ -------------

# rows 10-19, columns 30-49 of an 80 x 100 image, as uncompressed column-major RLE written by hand: 30 empty
# columns and 10 rows, then 20 columns of 10 set pixels separated by 70 unset ones, then the rest (60 + 50 x 80)
BLOCK_RLE = {"size": [80, 100], "counts": [2410] + [10, 70] * 19 + [10, 4060]}


def _two_blocks():
    mask = np.zeros((80, 100), bool)
    mask[50:60, 5:15] = True  # 100 pixels
    mask[60:70, 70:90] = True  # 200 pixels, not touching the first block
    return mask


def _sentences(*texts):
    return [{"raw": t, "sent": t.strip().lower(), "tokens": t.split(), "sent_id": 100 + i} if isinstance(t, str)
            else t for i, t in enumerate(texts)]


def _ref(ref_id, ann_id, image_id, split="train", sentences=("a vehicle",), category_id=1):
    return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "category_id": category_id, "split": split,
            "file_name": f"{image_id:05d}_{ann_id}.jpg", "sent_ids": [], "sentences": _sentences(*sentences)}


REFS = [
    _ref(0, 10, 1, sentences=("the vehicle on the left", {"raw": "  ", "sent": ""})),  # 1 kept, 1 empty sentence
    _ref(1, 11, 1, split="val", sentences=("the two storage tanks",), category_id=2),  # 1 kept (two-part mask)
    _ref(2, 12, 1, split="test", sentences=("the vehicle at the top right", "a car in the top right")),  # 2 kept
    _ref(3, 13, 2),  # empty mask
    _ref(4, 14, 2),  # bbox does not match mask
    _ref(5, 15, 3, sentences=("one", "two")),  # path outside root (2)
    _ref(6, 16, 4),  # missing image file
    _ref(7, 999, 1),  # unknown ann_id
    _ref(8, 10, 777),  # unknown image_id
    _ref(9, 17, 2),  # ann 17 lies on image 1: ann_id of another image
    _ref(10, 10, 1, sentences=()),  # ref without sentences
    _ref(11, 10, 1, category_id=99),  # unknown category id
    _ref(12, 10, 1, sentences=("a vehicle", "not a dict")),  # 1 kept, 1 malformed sentence (below)
]
REFS[12]["sentences"][1] = "not a dict"  # malformed sentence


def _instances():
    empty = {"size": [80, 100], "counts": [8000]}
    anns = [
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [30, 10, 20, 10], "segmentation": BLOCK_RLE},
        {"id": 11, "image_id": 1, "category_id": 2, "bbox": [5, 50, 85, 20], "segmentation": mask_to_rle(_two_blocks())},
        {"id": 12, "image_id": 1, "category_id": 1, "bbox": [60, 10, 20, 20],
         "segmentation": [[60, 10, 80, 10, 80, 30, 60, 30]]},
        {"id": 13, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], "segmentation": empty},
        {"id": 14, "image_id": 2, "category_id": 1, "bbox": [0, 60, 10, 10], "segmentation": BLOCK_RLE},
        {"id": 15, "image_id": 3, "category_id": 1, "bbox": [30, 10, 20, 10], "segmentation": BLOCK_RLE},
        {"id": 16, "image_id": 4, "category_id": 1, "bbox": [30, 10, 20, 10], "segmentation": BLOCK_RLE},
        {"id": 17, "image_id": 1, "category_id": 1, "bbox": [30, 10, 20, 10], "segmentation": BLOCK_RLE},
    ]
    images = [{"id": 1, "file_name": "00001.jpg", "width": 100, "height": 80},
              {"id": 2, "file_name": "00002.jpg", "width": 100, "height": 80},
              {"id": 3, "file_name": "../x.jpg", "width": 100, "height": 80},
              {"id": 4, "file_name": "00004.jpg", "width": 100, "height": 80}]
    categories = [{"id": 1, "name": "vehicle"}, {"id": 2, "name": "storagetank"}]
    return {"images": images, "annotations": anns, "categories": categories}


def _rrsisd(tmp_path, refs=REFS, as_json=False):
    data = tmp_path / "refer" / "data"
    (data / "rrsisd").mkdir(parents=True)
    if as_json:
        (data / "rrsisd" / "refs.json").write_text(json.dumps(refs))
    else:
        with open(data / "rrsisd" / "refs(unc).p", "wb") as f:
            pickle.dump(refs, f)
    (data / "rrsisd" / "instances.json").write_text(json.dumps(_instances()))
    for stem in ("00001", "00002"):
        _image(data / "images" / "rrsisd" / "JPEGImages" / f"{stem}.jpg")
    _image(data / "images" / "rrsisd" / "x.jpg")  # exists, but outside JPEGImages
    return data / "rrsisd"


RRSISD_SKIPPED = {"empty sentence": 1, "empty mask": 1, "bbox does not match mask": 1, "path outside root": 2,
                  "missing image file": 1, "unknown ann_id": 1, "unknown image_id": 1, "ann_id of another image": 1,
                  "ref without sentences": 1, "unknown category id": 1, "malformed sentence": 1}


@pytest.mark.parametrize("as_json", [False, True])
def test_rrsisd_one_image_per_ref_and_sentence(tmp_path, as_json):
    images, report = read_rrsisd(_rrsisd(tmp_path, as_json=as_json))
    assert (report.objects_read, report.objects_kept, report.images) == (17, 5, 5)
    assert dict(report.skipped) == RRSISD_SKIPPED and sum(RRSISD_SKIPPED.values()) == 12
    assert dict(report.images_skipped) == {"path outside root": 1, "missing image file": 1}
    _balanced(report)
    assert [im.id for im in images] == ["00001#ref0-0", "00001#ref1-0", "00001#ref2-0", "00001#ref2-1",
                                        "00001#ref12-0"]
    assert [im.split for im in images] == ["train", "val", "test", "test", "train"]
    assert {(im.source, im.modality, im.width, im.height, len(im.objects)) for im in images} == \
        {("rrsisd", "optical", 100, 80, 1)}
    assert images[0].image.endswith(os.path.join("images", "rrsisd", "JPEGImages", "00001.jpg"))
    block, tanks, square = images[0].objects[0], images[1].objects[0], images[2].objects[0]
    assert [o.objects[0].expression for o in images] == ["the vehicle on the left", "the two storage tanks",
                                                        "the vehicle at the top right", "a car in the top right",
                                                        "a vehicle"]
    assert (block.category, block.bbox, int(rle_to_mask(block.mask).sum())) == ("vehicle", [30, 10, 50, 20], 200)
    assert rle_to_mask(block.mask)[10:20, 30:50].all()
    # two disconnected parts: one object, one mask
    assert (tanks.category, tanks.bbox, int(rle_to_mask(tanks.mask).sum())) == ("storagetank", [5, 50, 90, 70], 300)
    assert np.array_equal(rle_to_mask(tanks.mask), _two_blocks()) and tanks.polygon is None
    assert (square.bbox, int(rle_to_mask(square.mask).sum()), square.polygon) == \
        ([60, 10, 80, 30], 400, [60, 10, 80, 10, 80, 30, 60, 30])
    assert images[3].objects[0].mask == square.mask and images[3].objects[0] is not square


def test_rrsisd_split(tmp_path):
    data = _rrsisd(tmp_path)
    train, report = read_rrsisd(data, split="train")
    assert [im.id for im in train] == ["00001#ref0-0", "00001#ref12-0"]
    assert report.skipped["not in split"] == 3 and report.objects_read == 17
    _balanced(report)
    test, report = read_rrsisd(data, split="test")
    assert [im.objects[0].expression for im in test] == ["the vehicle at the top right", "a car in the top right"]
    assert report.skipped == {"not in split": 15}
    with pytest.raises(ValueError, match=r"split='validation' is not a split of these refs; valid: \['test', "
                                         r"'train', 'val'\]"):
        read_rrsisd(data, split="validation")


def test_rrsisd_through_data_format(tmp_path):
    data = _rrsisd(tmp_path)
    assert CONVERTERS["rrsisd"] is read_rrsisd
    images, report = load_annotated_images(DataArguments(data_format="rrsisd", data_path=str(data), split="val"),
                                           tmp_path)
    assert [im.id for im in images] == ["00001#ref1-0"] and report.objects_kept == 1
    image_dir = tmp_path / "refer" / "data" / "images" / "rrsisd" / "JPEGImages"
    args = DataArguments(data_format="rrsisd", data_path=str(data / "refs(unc).p"), image_dir=str(image_dir),
                         split="test")
    assert len(load_annotated_images(args, tmp_path)[0]) == 2


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_rrsisd_refuses_a_hostile_pickle_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    data = _rrsisd(tmp_path, refs=[{**REFS[0], "sentences": [_Payload(marker)]}])
    with pytest.raises(AnnotationFormatError, match=r"refs\(unc\)\.p: the pickle asks for the global "
                                                    r"(posix|os|nt)\.system; .* no global is loaded"):
        read_rrsisd(data)
    assert not marker.exists()
    (data / "refs(unc).p").write_bytes(pickle.dumps([{"ref_id": 1, "x": Counter()}]))  # any class: refused
    with pytest.raises(AnnotationFormatError, match=r"global collections\.Counter"):
        read_rrsisd(data)


@pytest.mark.parametrize("content, message", [
    (b"\x80\x05not a pickle", r"refs\(unc\)\.p: not a readable pickle"),
    (pickle.dumps({"refs": []}), r"refs\(unc\)\.p, top level: expected a list of refs, got dict"),
    (pickle.dumps([REFS[0], REFS[0]]), r"refs\(unc\)\.p, refs\[1\] \(ref_id 0\): expected a unique integer"),
    (pickle.dumps([{**REFS[0], "split": None}]), r"refs\[0\] \(ref_id 0\): 'split' must be a string"),
    (pickle.dumps([{**REFS[0], "sentences": "a car"}]), r"refs\[0\] \(ref_id 0\): 'sentences' must be a list"),
    (pickle.dumps(["a ref"]), r"refs\[0\]: expected a dict \(a ref\), got str"),
])
def test_rrsisd_malformed_refs_name_the_file(tmp_path, content, message):
    data = _rrsisd(tmp_path)
    (data / "refs(unc).p").write_bytes(content)
    with pytest.raises(AnnotationFormatError, match=message):
        read_rrsisd(data)


def test_rrsisd_malformed_instances_and_missing_files(tmp_path):
    data = _rrsisd(tmp_path)
    (data / "instances.json").write_text('{"images": [{"id": 1}]}')
    with pytest.raises(AnnotationFormatError, match=r"instances\.json, images\[0\] \(id 1\): 'file_name' must be"):
        read_rrsisd(data)
    (data / "instances.json").write_text("{not json")
    with pytest.raises(AnnotationFormatError, match=r"instances\.json: not valid JSON"):
        read_rrsisd(data)
    (data / "instances.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"instances\.json' does not exist"):
        read_rrsisd(data)
    with pytest.raises(FileNotFoundError, match=r"holds neither refs\(unc\)\.p nor refs\.json"):
        read_rrsisd(tmp_path)


# --- RefSegRS: images/<name>.tif, masks/<name>.tif, output_phrase_<split>.txt --------------------------------------

def _mask(path, values, width=64, height=48):
    array = np.zeros((height, width), np.uint8)
    for (rows, cols), value in values:
        array[rows, cols] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


TRAIN_LINES = [
    "0 vehicles along the road",  # kept: vehicle
    "0 the road marking near the cars",  # kept: road marking (same image, another phrase)
    "1 the white ship at the top",  # kept: head noun "ship"
    "2 building on the left",  # empty mask
    "3 tree",  # missing mask file
    "4 car",  # missing image file
    "5 bus",  # mask size differs from image
    "../evil van",  # path outside root
    "0",  # empty sentence
    "",  # a blank line: no object
    "1 of the",  # kept: "object"
]


def _refsegrs(tmp_path):
    root = tmp_path / "RefSegRS"
    for name in ("0", "1", "2", "3", "5"):
        _image(root / "images" / f"{name}.tif", 64, 48)
    _image(root / "evil.tif", 64, 48)  # exists, but outside images/
    _mask(root / "masks" / "0.tif", [((slice(5, 10), slice(10, 20)), 255),  # 50 pixels
                                     ((slice(30, 40), slice(40, 50)), 255),  # 100 pixels, a second part
                                     ((slice(0, 2), slice(0, 2)), 50)])  # at the threshold: not referred
    _mask(root / "masks" / "1.tif", [((7, 9), 51)])  # one pixel just above the threshold
    _mask(root / "masks" / "2.tif", [((slice(0, 48), slice(0, 64)), 50)])
    _mask(root / "masks" / "5.tif", [((0, 0), 255)], width=32)
    _mask(root / "masks" / "4.tif", [((0, 0), 255)])
    (root / "output_phrase_train.txt").write_text("\n".join(TRAIN_LINES) + "\n")
    (root / "output_phrase_val.txt").write_text("1 low vegetation beside the sidewalk\n")
    (root / "output_phrase_test.txt").write_text("0 impervious surfaces\r\n")
    return root


def test_refsegrs_one_image_per_phrase(tmp_path):
    images, report = read_refsegrs(_refsegrs(tmp_path), split="train")
    assert (report.objects_read, report.objects_kept, report.images) == (10, 4, 4)
    assert dict(report.skipped) == {"empty mask": 1, "missing mask file": 1, "missing image file": 1,
                                    "mask size differs from image": 1, "path outside root": 1, "empty sentence": 1}
    assert dict(report.images_skipped) == {"missing mask file": 1, "missing image file": 1,
                                           "mask size differs from image": 1, "path outside root": 1}
    assert dict(report.category_from) == {"class word": 2, "head noun": 1, "none: object": 1}
    assert report.to_dict()["category_from"] == {"class word": 2, "head noun": 1, "none: object": 1}
    assert "categories from: 2 class word, 1 head noun, 1 none: object" in str(report)
    _balanced(report)
    assert [im.id for im in images] == ["0#train-1", "0#train-2", "1#train-3", "1#train-11"]
    assert [(im.objects[0].category, im.objects[0].expression) for im in images] == [
        ("vehicle", "vehicles along the road"), ("road marking", "the road marking near the cars"),
        ("ship", "the white ship at the top"), ("object", "of the")]
    assert {(im.split, im.source, im.modality, im.width, im.height) for im in images} == \
        {("train", "refsegrs", "optical", 64, 48)}
    both = images[0].objects[0]  # two disconnected parts: one object, one mask
    assert both.bbox == [10, 5, 50, 40] and int(rle_to_mask(both.mask).sum()) == 150
    assert rle_to_mask(both.mask)[5:10, 10:20].all() and rle_to_mask(both.mask)[30:40, 40:50].all()
    assert images[1].objects[0].mask == both.mask
    one = images[2].objects[0]
    assert one.bbox == [9, 7, 10, 8] and int(rle_to_mask(one.mask).sum()) == 1
    assert images[0].image == str(tmp_path / "RefSegRS" / "images" / "0.tif")


def test_refsegrs_splits_and_data_format(tmp_path):
    root = _refsegrs(tmp_path)
    images, report = read_refsegrs(root, split=None)
    assert report.objects_read == 12 and report.objects_kept == 6
    assert [(im.id, im.split, im.objects[0].category) for im in images[4:]] == [
        ("1#val-1", "val", "low vegetation"), ("0#test-1", "test", "impervious surface")]
    assert images[5].objects[0].expression == "impervious surfaces"
    assert CONVERTERS["refsegrs"] is read_refsegrs
    loaded, report = load_annotated_images(DataArguments(data_format="refsegrs", data_path=str(root), split="val"),
                                           tmp_path)
    assert [im.id for im in loaded] == ["1#val-1"] and report.objects_kept == 1
    with pytest.raises(ValueError, match=r"split='validation' is not a RefSegRS split; valid: \['train', 'val', "
                                         r"'test'\]"):
        read_refsegrs(root, split="validation")
    (root / "output_phrase_val.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"holds no output_phrase_val\.txt"):
        read_refsegrs(root, split="val")
    with pytest.raises(FileNotFoundError, match="expected the RefSegRS folder"):
        read_refsegrs(tmp_path, split=None)


def test_refsegrs_malformed_phrase_files_name_the_file_and_line(tmp_path):
    root = _refsegrs(tmp_path)
    (root / "output_phrase_val.txt").write_text("1 a tree\n 1 no name\n")
    with pytest.raises(AnnotationFormatError, match=r"output_phrase_val\.txt, line 2: expected '<image name> "
                                                    r"<phrase>'"):
        read_refsegrs(root, split="val")
    (root / "output_phrase_val.txt").write_bytes(b"1 a \xff tree\n")
    with pytest.raises(AnnotationFormatError, match=r"output_phrase_val\.txt, byte 4: not UTF-8 text"):
        read_refsegrs(root, split="val")


def test_refsegrs_unreadable_mask_is_counted(tmp_path):
    root = _refsegrs(tmp_path)
    (root / "masks" / "1.tif").write_bytes(b"not a tiff")
    images, report = read_refsegrs(root, split="val")
    assert images == [] and report.skipped == {"unreadable mask": 1}
    assert report.images_skipped == {"unreadable mask": 1}


def test_symlinks_and_absolute_paths_out_of_the_root_are_counted(tmp_path):
    secret = _image(tmp_path / "secret.jpg", 64, 48)
    root = _refsegrs(tmp_path)
    (root / "images" / "6.tif").symlink_to(secret)
    (root / "output_phrase_val.txt").write_text(f"6 a car\n{root / 'images' / '0'} a car\n")
    images, report = read_refsegrs(root, split="val")  # the absolute name's mask would be images/0.tif: outside masks/
    assert images == [] and report.skipped == {"path outside root": 2}
    assert report.images_skipped == {"path outside root": 2}
    data = _rrsisd(tmp_path / "rrsisd")
    (data.parent / "images" / "rrsisd" / "JPEGImages" / "00002.jpg").unlink()
    (data.parent / "images" / "rrsisd" / "JPEGImages" / "00002.jpg").symlink_to(_image(tmp_path / "s.jpg"))
    instances = _instances()
    instances["images"][3]["file_name"] = str(tmp_path / "s.jpg")  # absolute, outside JPEGImages
    (data / "instances.json").write_text(json.dumps(instances))
    _, report = read_rrsisd(data)
    # image 2 (refs 3, 4; ref 9 is "ann_id of another image" first), image 3 (ref 5, two sentences), image 4 (ref 6)
    assert report.skipped["path outside root"] == 5 and report.images_skipped["path outside root"] == 3
    _, report = read_rrsisd(data, allow_outside_root=True)
    assert "path outside root" not in report.skipped


@pytest.mark.parametrize("phrase, category, rule", [
    ("road marking on the road", "road marking", "class word"),  # the longest class word at the first position
    ("the road beside the road markings", "road", "class word"),  # the earliest class word
    ("two buses near the building", "bus", "class word"),
    ("trees along the sidewalk", "tree", "class word"),
    ("the white ship at the top", "ship", "head noun"),
    ("a red roof", "roof", "head noun"),
    ("at the top", "object", "none: object"),
])
def test_phrase_category(phrase, category, rule):
    assert phrase_category(phrase) == (category, rule)


# --- DIOR-RSVG / OPT-RSVG: Annotations/<id>.xml with <description>, split/<split>.txt of global object indices ----

def _rsvg_xml(stem, objects):
    body = "".join(f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox><description>{text}</description></object>"
                   for name, b, text in objects)
    return (f"<annotation><filename>{stem}.jpg</filename><size><width>100</width><height>80</height><depth>3"
            f"</depth></size>{body}</annotation>")


def test_voc_reads_the_opt_rsvg_layout(tmp_path):
    root = tmp_path / "OPT-RSVG"
    (root / "Annotations").mkdir(parents=True)
    (root / "split").mkdir()
    (root / "Annotations" / "10.xml").write_text(_rsvg_xml("10", [("ship", [1, 2, 11, 12], "the ship on the left")]))
    (root / "Annotations" / "02.xml").write_text(_rsvg_xml("02", [
        ("vehicle", [5, 5, 25, 15], "  a white vehicle\n  near the road "), ("bridge", [0, 40, 100, 60], "the bridge")]))
    for stem in ("02", "10"):
        _image(root / "Image" / f"{stem}.jpg")
    (root / "split" / "train.txt").write_text("0\n2\n")  # 02.xml's vehicle and 10.xml's ship (sorted by name)
    (root / "split" / "test.txt").write_text("1\n")
    images, report = read_voc(root / "Annotations", root / "Image", split_file=root / "split" / "train.txt")
    assert [(im.id, [(o.category, o.bbox, o.expression) for o in im.objects]) for im in images] == [
        ("02", [("vehicle", [5, 5, 25, 15], "a white vehicle near the road")]),
        ("10", [("ship", [1, 2, 11, 12], "the ship on the left")])]
    assert report.skipped == {"not in split": 1} and report.objects_kept == 2
    images, report = read_voc(root / "Annotations", root / "Image", split_file=root / "split" / "test.txt")
    assert [o.expression for im in images for o in im.objects] == ["the bridge"]
    assert images[0].image == str(root / "Image" / "02.jpg")


def test_dior_rsvg_expressions_become_referring_records(tmp_path):
    """Each expression of the DIOR-RSVG / OPT-RSVG layout is one referring record: the expression asked without a
    prompt, answered with the object's class and position, its box as the target mask (the benchmark scores boxes)."""
    from earthgptx_hf.data.tasks import build_records
    from earthgptx_hf.models.earthgptx.visual_prompts import rle_to_mask

    root = tmp_path / "DIOR-RSVG"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "05.xml").write_text(_rsvg_xml("05", [
        ("storage tank", [60, 50, 90, 75], "The storage tank at the lower right"), ("ship", [1, 2, 21, 12], "a ship")]))
    _image(root / "JPEGImages" / "05.jpg")
    images, _ = read_voc(root / "Annotations", root / "JPEGImages")
    records = build_records(images, tasks=("referring",), seed=0)
    assert [r["query_kind"] for r in records] == ["human", "human"] and all(r["prompts"] == [] for r in records)
    tank, ship = records
    assert tank["conversations"][0]["value"].lower().count("the storage tank at the lower right") == 1
    assert tank["conversations"][1]["value"] == "storage tank at the bottom right[PIX]"
    assert ship["conversations"][1]["value"] == "ship at the top left[PIX]"
    mask = rle_to_mask(tank["masks"][0])
    assert mask.shape == (80, 100) and mask.sum() == 30 * 25 and mask[50:75, 60:90].all()


def test_rrsisd_hostile_files_are_counted_or_refused_naming_the_file(tmp_path):
    """A polygon far outside the image (pycocotools' rasteriser crashed the process on it) is a malformed
    segmentation; a sentence holding a tag or a control character a malformed sentence; refs.json nested beyond the
    recursion limit an `AnnotationFormatError`, not a RecursionError."""
    refs = [_ref(0, 10, 1, sentences=("the vehicle", "the [PIX] vehicle", "a <Region 1> car", "a car\x1b[2J")),
            _ref(1, 12, 1)]
    data = _rrsisd(tmp_path, refs=refs)
    instances = _instances()
    instances["annotations"][2]["segmentation"] = [[1e12, 10, 80, 10, 80, 30, 60, 30]]
    (data / "instances.json").write_text(json.dumps(instances))
    images, report = read_rrsisd(data)
    assert [im.objects[0].expression for im in images] == ["the vehicle"]
    assert dict(report.skipped) == {"malformed sentence": 3, "malformed segmentation": 1}
    _balanced(report)
    (data / "refs(unc).p").unlink()
    (data / "refs.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnnotationFormatError, match=r"refs.json.*nested too deeply"):
        read_rrsisd(data)


def test_refsegrs_phrase_file_with_a_bom_odd_line_breaks_or_tags(tmp_path):
    """A UTF-8 byte order mark is not part of the first image's name; \\v or \\x1c inside a phrase does not end its
    line (str.splitlines would cut the phrase and shift the line numbers); a tag or control character in a phrase is
    a malformed sentence."""
    root = tmp_path / "RefSegRS"
    _image(root / "images" / "0.tif", 64, 48)
    _mask(root / "masks" / "0.tif", [((slice(5, 10), slice(10, 20)), 255)])
    lines = ["0 the car on the road", "0 the car\x0bnear the\x1ctree", "0 the <image> car", "0 the [PIX] car",
             "0 the car\x07"]
    (root / "output_phrase_train.txt").write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    images, report = read_refsegrs(root)
    assert [(im.id, im.objects[0].expression) for im in images] == [("0#train-1", "the car on the road"),
                                                                    ("0#train-2", "the car near the tree")]
    assert dict(report.skipped) == {"malformed sentence": 3} and report.objects_read == 5
