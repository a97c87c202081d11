"""Issue 33: the text tasks' answers are written from a scene's facts, with varied templates that the evaluators
parse, and multi-turn conversations train every assistant turn."""

import re

import numpy as np
import pytest

from earthgptx_hf.data.annotations import AnnotatedImage, ObjectAnnotation
from earthgptx_hf.data.procedural import generate_scene
from earthgptx_hf.data.scene_facts import (
    CAPTION_TEMPLATES,
    DETAILED_CAPTION_TEMPLATES,
    DIRECTIONS,
    MIXED_SCENE,
    REGION_CAPTION_TEMPLATES,
    RELATION_TEMPLATES,
    caption_fields,
    object_facts,
    region_fields,
    relation_fields,
    relation_word,
    render,
    scene_class,
)
from earthgptx_hf.data.tasks import TASKS, build_records
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle


def _ellipse(width: int, height: int, centre, axes, size: int = 100) -> dict:
    rows, cols = np.mgrid[:size, :size]
    inside = ((cols - centre[0]) / axes[0]) ** 2 + ((rows - centre[1]) / axes[1]) ** 2 <= 1
    return mask_to_rle(inside)


def _object(category, centre, axes, size: int = 100) -> ObjectAnnotation:
    bbox = [centre[0] - axes[0], centre[1] - axes[1], centre[0] + axes[0], centre[1] + axes[1]]
    return ObjectAnnotation(category, bbox, mask=_ellipse(size, size, centre, axes, size))


def test_the_scene_is_named_by_a_class_holding_more_than_half_of_the_objects():
    assert scene_class(["ship", "ship", "vehicle"]) == "harbor"
    assert scene_class(["ship", "vehicle"]) == MIXED_SCENE  # half is not more than half
    assert scene_class(["vehicle", "vehicle", "ship", "building"]) == MIXED_SCENE
    assert scene_class(["airplane"]) == "airport"


def test_object_facts_read_orientation_size_and_position_from_the_mask():
    horizontal = object_facts(_object("ship", (20, 20), (12, 3)), 100, 100)
    vertical = object_facts(_object("ship", (80, 80), (3, 12)), 100, 100)
    round_ = object_facts(_object("storage tank", (50, 50), (8, 8)), 100, 100)
    assert (horizontal.orientation, vertical.orientation, round_.orientation) == ("horizontal", "vertical", None)
    assert (horizontal.position, vertical.position, round_.position) == ("top left", "bottom right", "center")
    assert horizontal.size == "medium" and round_.size == "large"  # 113 and 197 pixels of 10,000
    assert object_facts(_object("vehicle", (50, 50), (2, 2)), 100, 100).size == "small"
    rows, cols = np.mgrid[:100, :100]
    falling = (np.abs((cols - 50) - (rows - 50)) <= 2) & (np.abs(cols - 50) <= 15)  # top left to bottom right
    diagonal = object_facts(ObjectAnnotation("ship", [35, 35, 66, 66], mask=mask_to_rle(falling)), 100, 100)
    assert diagonal.orientation == "falling"


def test_relation_facts_are_direction_distance_band_and_relative_size():
    a, b = _object("ship", (10, 50), (6, 6)), _object("vehicle", (90, 50), (3, 3))
    fields = relation_fields(object_facts(a, 100, 100), object_facts(b, 100, 100), 100, 100)
    assert (fields["direction"], fields["distance"], fields["relative"]) == ("to the left of", "far from",
                                                                             "larger than")
    near = relation_fields(object_facts(b, 100, 100), object_facts(_object("ship", (90, 70), (3, 3)), 100, 100),
                           100, 100)
    assert (near["direction"], near["distance"], near["relative"]) == ("above", "close to", "about the same size as")


@pytest.fixture(scope="module")
def scene():
    pixels, objects = generate_scene(np.random.default_rng(11), "sar", 128, num_objects=(3, 3))
    return AnnotatedImage(image="scene.png", width=128, height=128, modality="sar", objects=objects,
                          source="procedural", id="procedural/00011")


def test_every_template_renders_the_same_facts_differently_and_the_relation_word_parses(scene):
    facts = [object_facts(o, 128, 128) for o in scene.objects]
    fields = caption_fields(scene, facts)
    for templates, values in ((CAPTION_TEMPLATES, fields), (DETAILED_CAPTION_TEMPLATES, fields),
                              (REGION_CAPTION_TEMPLATES, region_fields(facts[0]))):
        rendered = render(templates, values)
        assert len(set(rendered)) == len(templates) >= 3
    for caption in render(CAPTION_TEMPLATES, fields):  # every rendering counts every object of the scene
        assert "SAR" in caption and all(o.category in caption for o in scene.objects)
    for detailed in render(DETAILED_CAPTION_TEMPLATES, fields):
        assert all(f"at the {fact.position}" in detailed for fact in facts)
    relation = relation_fields(facts[0], facts[1], 128, 128)
    for answer in render(RELATION_TEMPLATES, relation):
        assert relation_word(answer) == relation["direction"] in DIRECTIONS
        assert relation["distance"] in answer and relation["relative"] in answer
        assert "<Region 1>" in answer and "<Region 2>" in answer


def test_procedural_records_cover_every_task_with_answers_from_the_facts(scene):
    records = build_records([scene], tasks=TASKS, seed=3)
    by_task = {}
    for record in records:
        by_task.setdefault(record["task"], []).append(record)
    assert set(by_task) == set(TASKS)
    scene_answer = by_task["scene"][0]["conversations"][1]["value"]
    assert scene_answer == scene_class([o.category for o in scene.objects])
    for task in ("caption", "detailed_caption", "region_caption", "relation"):
        for record in by_task[task]:
            answer = record["conversations"][-1]["value"]
            assert answer in record["references"] and len(record["references"]) == 3
    relation = by_task["relation"][0]
    assert relation_word(relation["conversations"][1]["value"]) in DIRECTIONS


def test_real_images_get_no_invented_scene_or_caption():
    image = AnnotatedImage(image="x.png", width=100, height=100, objects=[_object("ship", (30, 30), (9, 3))],
                           source="dota")
    tasks = {record["task"] for record in build_records([image], tasks=TASKS)}
    assert not tasks & {"scene", "caption", "detailed_caption"}
    assert {"classification", "region_caption"} <= tasks


def test_conversations_mix_tasks_over_two_to_four_turns_and_train_every_answer(scene, tmp_path):
    from earthgptx_hf import EarthGPTXConfig, EarthGPTXProcessor
    from earthgptx_hf.training.collator import EarthGPTXDataCollator

    records = []
    for seed in range(12):
        records += [r for r in build_records([scene], tasks=("conversation",), seed=seed)]
    seen, several = set(), False
    for record in records:
        turns = record["conversations"]
        assert 4 <= len(turns) <= 8 and record["turn_tasks"][0] == "classification"
        assert len(record["turn_tasks"]) == len(turns) // 2
        seen.update(record["turn_tasks"][1:])
        pix = sum(turn["value"].count("[PIX]") for turn in turns[1::2])
        assert pix == len(record["pix_targets"]) >= record["turn_tasks"].count("grounding")
        several |= pix > record["turn_tasks"].count("grounding")  # a follow-up about every region
        for turn, task in zip(turns[3::2], record["turn_tasks"][1:]):
            if task == "grounding":  # the follow-up's mask is bound to the region it asks about
                asked = re.search(r"<Region (\d+)>", turns[turns.index(turn) - 1]["value"]).group(1)
                assert f"<Region {asked}>[PIX]" in turn["value"]
    assert seen == {"grounding", "relation", "region_caption"} and several

    config = EarthGPTXConfig.from_preset("tiny")
    processor = EarthGPTXProcessor.from_model_config(config)
    image = tmp_path / "scene.png"
    from PIL import Image

    Image.fromarray(np.zeros((128, 128), np.uint8)).save(image)
    record = next(r for r in records if len(r["conversations"]) >= 6 and r["pix_targets"])
    record = {**record, "image": str(image)}
    batch = EarthGPTXDataCollator(processor)([record])
    labels = batch["labels"][0]
    trained = (labels != -100).nonzero().flatten().tolist()
    runs = 1 + sum(1 for a, b in zip(trained, trained[1:]) if b != a + 1)
    assert runs == len(record["conversations"]) // 2  # one trained span per assistant turn
    assert len(batch["gt_masks"]) == len(record["pix_targets"])
