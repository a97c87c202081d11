"""Multi-region grounding records (issue 16): several regions per question, one gt mask per [PIX] in reading order,
the mix of region counts configurable and seeded."""

import re
from collections import Counter

import numpy as np
import pytest

from earthgptx_hf.data import AnnotatedImage, DataArguments, build_records
from earthgptx_hf.data.annotations import ObjectAnnotation
from earthgptx_hf.data.tasks import parse_grounding_regions
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask


def _scene(index: int, count: int, with_masks: int | None = None) -> AnnotatedImage:
    """`count` objects in a row, each with its own mask (the first `with_masks` only, when given)."""
    objects = []
    for i in range(count):
        mask = np.zeros((64, 256), bool)
        mask[10:30, 20 * i + 4 : 20 * i + 14] = True
        keep = with_masks is None or i < with_masks
        objects.append(ObjectAnnotation(f"class{i}", [20 * i + 4, 10, 20 * i + 14, 30],
                                        mask=mask_to_rle(mask) if keep else None))
    return AnnotatedImage(image=f"{index}.png", width=256, height=64, modality="optical", objects=objects,
                          id=f"scene{index}")


def _grounding(images, **kwargs):
    return build_records(images, tasks=("grounding",), prompt_type="box", seed=kwargs.pop("seed", 0), **kwargs)


def _pix_owners(answer: str) -> list:
    owners, current = [], None
    for match in re.finditer(r"<Region\s*(\d+)>|\[PIX\]|\n", answer):
        current = None if match.group(0) == "\n" else int(match.group(1)) if match.group(1) else current
        if match.group(0) == "[PIX]":
            owners.append(current)
    return owners


def test_the_cut_asks_about_every_object_and_once_about_the_largest_allowed_number():
    from earthgptx_hf.data.tasks import RecordBuilder

    builder = RecordBuilder(["grounding"], "box", 8, 0, grounding_regions="1,2,3")
    added = 0
    for _ in range(50):
        groups = builder._grounding_groups([0, 1, 2, 3])
        if sum(map(len, groups)) == 4:  # the cut drew a 3-region question itself
            cut = groups
            assert any(len(g) == 3 for g in groups)
        else:  # the cut drew none: one more question about three of the objects
            cut, extra = groups[:-1], groups[-1]
            assert len(extra) == len(set(extra)) == 3 and all(len(g) < 3 for g in cut)
            added += 1
        assert sorted(i for g in cut for i in g) == [0, 1, 2, 3]  # the cut asks about every object once
    assert 0 < added < 50


def test_the_mix_gives_one_two_and_three_region_questions():
    images = [_scene(i, 3) for i in range(60)]
    records = _grounding(images, grounding_regions="1,2,3")
    counts = Counter(len(r["prompts"]) for r in records)
    assert set(counts) == {1, 2, 3} and min(counts.values()) >= 10
    # every object with a mask is asked about at least once per image, and every image has a question about all three
    # (from the cut, or added when the cut drew smaller groups)
    assert counts[3] == len(images)
    assert 3 * len(images) <= sum(len(r["prompts"]) for r in records) <= 6 * len(images)
    for record in records:
        k = len(record["prompts"])
        answer, question = record["conversations"][1]["value"], record["conversations"][0]["value"]
        assert record["pix_targets"] == list(range(1, k + 1))
        assert answer.count("[PIX]") == k and _pix_owners(answer) == record["pix_targets"]
        assert all(f"<Region {i}>" in question for i in range(1, k + 1)) and f"<Region {k + 1}>" not in question
        assert len(record["masks"]) == k and all(m is not None for m in record["masks"])
        # the i-th mask is the i-th prompt's object: the box of region i covers its mask
        for prompt, rle in zip(record["prompts"], record["masks"]):
            ys, xs = np.nonzero(rle_to_mask(rle))
            assert prompt["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    multi = next(r for r in records if len(r["prompts"]) == 3)
    assert "<Region 1>[PIX]\n<Region 2>[PIX]\n<Region 3>[PIX]" in multi["conversations"][1]["value"]
    assert "<Region 1>, <Region 2> and <Region 3>" in multi["conversations"][0]["value"]


def test_region_counts_are_limited_by_the_objects_with_masks():
    records = _grounding([_scene(i, 4, with_masks=2) for i in range(20)], grounding_regions="1,2,3")
    assert {len(r["prompts"]) for r in records} == {1, 2}
    records = _grounding([_scene(i, 3) for i in range(20)], grounding_regions="3")
    assert {len(r["prompts"]) for r in records} == {3} and len(records) == 20
    assert _grounding([_scene(0, 1)], grounding_regions="2,3") == []  # one object: no 2- or 3-region question


def test_one_region_per_question_keeps_the_previous_records():
    images = [_scene(i, 3) for i in range(5)]
    default = _grounding(images)
    assert default == _grounding(images, grounding_regions="1") and {len(r["prompts"]) for r in default} == {1}
    assert [r["id"] for r in default[:3]] == ["scene0#grounding0", "scene0#grounding1", "scene0#grounding2"]


def test_the_mix_is_deterministic_under_the_seed():
    images = [_scene(i, 3) for i in range(30)]
    first, again = _grounding(images, grounding_regions="1,2,3"), _grounding(images, grounding_regions=(3, 2, 1))
    assert first == again
    other = _grounding(images, grounding_regions="1,2,3", seed=5)
    assert [r["id"] for r in other] != [r["id"] for r in first]


@pytest.mark.parametrize("value", ["0", "1,-2", "two", "1,,3", "", "1.5"])
def test_bad_region_counts_are_refused(value):
    with pytest.raises(ValueError, match=rf"grounding_regions={re.escape(repr(value))}.*positive integer"):
        parse_grounding_regions(value)
    with pytest.raises(ValueError, match="grounding_regions"):
        DataArguments(grounding_regions=value)


def test_region_counts_beyond_max_regions_are_refused():
    with pytest.raises(ValueError, match="grounding_regions='1,5'.*max_regions=4"):
        build_records([_scene(0, 3)], tasks=("grounding",), grounding_regions="1,5", max_regions=4)
    assert DataArguments().grounding_regions == "1,2,3" and parse_grounding_regions(" 3, 1,1 ") == (1, 3)


def test_region_counts_bind_only_grounding():
    # classification with one prompt per record (max_prompts_per_record=1) under the default "1,2,3" mix
    records = build_records([_scene(0, 3)], tasks=("classification",), grounding_regions="1,2,3", max_regions=1)
    assert len(records) == 3 and {len(r["prompts"]) for r in records} == {1}
    with pytest.raises(ValueError, match="grounding_regions='1,2,3'.*max_regions=1"):
        build_records([_scene(0, 3)], tasks=("classification", "grounding"), grounding_regions="1,2,3", max_regions=1)


def test_procedural_scenes_feed_multi_region_questions(tmp_path):
    from earthgptx_hf.data import generate_scenes

    images, _ = generate_scenes(tmp_path, 12, size=64, seed=0, num_objects=(3, 3))
    records = _grounding(images, grounding_regions="1,2,3")
    assert {len(r["prompts"]) for r in records} == {1, 2, 3}
    assert sum(len(r["prompts"]) == 3 for r in records) == len(images)  # one question about all three per scene
    assert sum(len(r["masks"]) for r in records) >= sum(len(im.objects) for im in images)
