import json

import numpy as np
import pytest

from earthgptx_hf.data import AnnotatedImage, build_records, records_to_dataset
from earthgptx_hf.data.annotations import ObjectAnnotation
from earthgptx_hf.data.tasks import RecordBuilder
from earthgptx_hf.data.freeform import box_to_freeform, box_to_polygon
from earthgptx_hf.data.procedural import MODALITIES, SCENE_CLASSES, generate_scene, generate_scenes
from earthgptx_hf.data.scene_facts import object_facts, position_phrase, relation_fields
from earthgptx_hf.data.tasks import TEMPLATES
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask, validate_prompts


def _image(**kwargs):
    mask = np.zeros((100, 200), bool)
    mask[10:30, 20:60] = True
    objects = [ObjectAnnotation("ship", [20, 10, 60, 30], mask=mask_to_rle(mask)),
               ObjectAnnotation("storage tank", [120, 60, 160, 90], expression="the round tank near the road")]
    return AnnotatedImage(image="x.png", width=200, height=100, modality="sar", objects=objects, id="img", **kwargs)


def test_classification_records_bind_regions_in_order():
    records = build_records([_image()], tasks=("classification",), prompt_type="box", seed=0)
    assert len(records) == 1
    record = records[0]
    boxes = [p["bbox"] for p in record["prompts"]]
    answer = record["conversations"][1]["value"].split("\n")
    label = {(20.0, 10.0, 60.0, 30.0): "ship", (120.0, 60.0, 160.0, 90.0): "storage tank"}
    for i, box in enumerate(boxes):
        assert answer[i] == f"<Region {i + 1}>: {label[tuple(box)]}"
    assert record["conversations"][0]["value"] in TEMPLATES["classification"]
    assert record["text_source"] == "template" and record["modality"] == "sar"
    assert json.loads(json.dumps(record)) == record


def test_crowded_images_give_several_records_of_at_most_max_regions():
    objects = [ObjectAnnotation(f"c{i}", [i * 10, 0, i * 10 + 5, 5]) for i in range(7)]
    image = AnnotatedImage(image="x.png", width=100, height=10, objects=objects, id="crowd")
    records = build_records([image], tasks=("classification",), max_regions=3, prompt_type="point")
    assert [len(r["prompts"]) for r in records] == [3, 3, 1]
    assert all(p["type"] == "point" for r in records for p in r["prompts"])


def test_every_task_and_the_text_source_marks():
    image = _image(scene="harbor", captions=["Ships moored at a harbor."])
    records = build_records([image], tasks=("classification", "region_caption", "scene", "caption", "relation",
                                            "grounding"), prompt_type="freeform", seed=3)
    by_task = {}
    for r in records:
        by_task.setdefault(r["task"], []).append(r)
        validate_prompts(r["prompts"], (100, 200), 8)  # every prompt is valid for the image
    assert set(by_task) == {"classification", "region_caption", "scene", "caption", "relation", "grounding"}
    captions = {r["conversations"][1]["value"]: r["text_source"] for r in by_task["region_caption"]}
    assert captions["the round tank near the road"] == "human"
    assert any(source == "template" and "ship" in text for text, source in captions.items())
    assert by_task["scene"][0]["prompts"] == [{"type": "box", "bbox": [0, 0, 200, 100]}]
    assert by_task["caption"][0]["text_source"] == "human"
    grounding = by_task["grounding"]
    assert len(grounding) == 1 and grounding[0]["pix_targets"] == [1]  # only the ship has a mask
    assert "[PIX]" in grounding[0]["conversations"][1]["value"] and grounding[0]["masks"][0] is not None
    assert "<Region 1>" in by_task["relation"][0]["conversations"][1]["value"]


def test_position_and_relation_phrases():
    assert position_phrase([0, 0, 10, 10], 90, 90) == "top left"
    assert position_phrase([40, 40, 50, 50], 90, 90) == "center"

    def direction(a, b):
        return relation_fields(object_facts(ObjectAnnotation("ship", a), 90, 90),
                               object_facts(ObjectAnnotation("ship", b), 90, 90), 90, 90)["direction"]

    assert direction([0, 0, 10, 10], [50, 0, 60, 10]) == "to the left of"
    assert direction([0, 50, 10, 60], [0, 0, 10, 10]) == "below"


def test_unknown_task_or_prompt_type_is_refused():
    with pytest.raises(ValueError, match=r"Unknown tasks \['vqa'\]"):
        RecordBuilder(tasks=("vqa",))
    with pytest.raises(ValueError, match="prompt_type='lasso'"):
        RecordBuilder(prompt_type="lasso")


# ---------------------------------------------------------------------------------------------------------------------
def _polygon_box_stats(box, polygon, size=(400, 400)):
    from PIL import Image, ImageDraw

    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon], fill=1)
    shape = np.asarray(canvas).astype(bool)
    target = np.zeros(size, bool)
    x1, y1, x2, y2 = box
    target[y1:y2, x1:x2] = True
    inter = (shape & target).sum()
    return inter / (shape | target).sum(), inter / target.sum(), (shape & ~target).sum() / max(shape.sum(), 1)


def test_free_form_shapes_cover_part_of_the_object_or_extend_beyond_it():
    rng = np.random.default_rng(0)
    stats = []
    for _ in range(300):
        x1, y1 = (int(v) for v in rng.integers(60, 200, 2))
        w, h = (int(v) for v in rng.integers(30, 120, 2))
        box = [x1, y1, x1 + w, y1 + h]
        stats.append(_polygon_box_stats(box, box_to_polygon(box, rng, 400, 400)["points"]))
    iou, coverage, outside = np.array(stats).T
    assert 0.4 < iou.mean() < 0.85  # related to the box, never the box itself
    assert (coverage < 0.7).mean() > 0.3  # often covers only part of the object
    assert (outside > 0.1).mean() > 0.3  # often extends beyond it
    assert iou.min() > 0.05


def test_free_form_augmentation_is_deterministic_and_valid():
    box = [20, 30, 80, 70]
    first = [box_to_freeform(box, np.random.default_rng(5), 100, 100) for _ in range(1)]
    again = [box_to_freeform(box, np.random.default_rng(5), 100, 100) for _ in range(1)]
    assert first == again
    rng = np.random.default_rng(1)
    kinds = {box_to_freeform(box, rng, 100, 100)["type"] for _ in range(50)}
    assert kinds == {"polygon", "scribble", "circle"}
    shapes = [box_to_freeform([0, 0, 30, 30], rng, 100, 100, kind=k) for k in ("polygon", "scribble", "circle")]
    validate_prompts(shapes, (100, 100), 8)  # stays inside the image (clipped), so valid without warnings


# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality, dtype, ndim", [("optical", np.uint8, 3), ("sar", np.uint16, 2),
                                                   ("infrared", np.uint8, 2)])
def test_procedural_scenes_have_exact_masks(modality, dtype, ndim):
    pixels, objects = generate_scene(np.random.default_rng(0), modality, size=96)
    assert pixels.dtype == dtype and pixels.ndim == ndim and pixels.shape[:2] == (96, 96)
    assert 2 <= len(objects) <= 4 and all(o.category in SCENE_CLASSES for o in objects)
    union = np.zeros((96, 96), int)
    for obj in objects:
        mask = rle_to_mask(obj.mask)
        rows, cols = np.nonzero(mask)
        assert obj.bbox == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]  # tight box
        union += mask
    assert union.max() == 1  # objects do not overlap
    if modality == "optical":  # the objects are really drawn: their pixels differ from the background
        inside = union.astype(bool)
        background = pixels[~inside].astype(float).mean(0)
        assert np.abs(pixels[inside].astype(float) - background).sum(-1).mean() > 60


def test_procedural_scene_files_are_reproducible(tmp_path):
    a, report = generate_scenes(tmp_path / "a", 6, size=64, seed=4)
    b, _ = generate_scenes(tmp_path / "b", 6, size=64, seed=4)
    assert [im.modality for im in a] == list(MODALITIES) * 2
    assert [im.split for im in a] == ["train"] * 5 + ["test"]
    assert [[o.bbox for o in im.objects] for im in a] == [[o.bbox for o in im.objects] for im in b]
    assert open(a[1].image, "rb").read() == open(b[1].image, "rb").read()
    assert report.objects_read == sum(len(im.objects) for im in a)


def test_records_become_a_dataset_that_saves_and_reloads(tmp_path):
    import datasets

    images, _ = generate_scenes(tmp_path / "scenes", 3, size=64, seed=0)
    records = build_records(images, tasks=("classification", "grounding"))
    dataset = records_to_dataset(records)
    assert isinstance(dataset.features["image"], datasets.Image)
    dataset.save_to_disk(tmp_path / "ds")
    reloaded = datasets.load_from_disk(tmp_path / "ds")
    assert len(reloaded) == len(records)
    row = reloaded[0]
    assert row["image"].size == (64, 64)
    assert json.loads(row["prompts"]) == records[0]["prompts"]
    assert row["conversations"] == records[0]["conversations"]


def test_procedural_scenes_are_read_back_instead_of_redrawn(tmp_path):
    import os

    from earthgptx_hf.data import generate_scenes

    first, report = generate_scenes(tmp_path, 6, size=32, seed=3)
    stamp = os.stat(first[0].image).st_mtime_ns
    again, report_again = generate_scenes(tmp_path, 6, size=32, seed=3)
    assert again == first and os.stat(first[0].image).st_mtime_ns == stamp  # not rewritten
    assert report_again.objects_kept == report.objects_kept and report_again.images == 6
    other, _ = generate_scenes(tmp_path, 6, size=32, seed=4)  # other settings: drawn again
    assert other != first
