"""Issue 34: text-referring grounding records (no visual prompt): "Segment every ship." answered one
"<class> at the <position>[PIX]" line per instance, top to bottom, or "none"; expressions from a scene's facts and
from people."""

import collections
import re

import numpy as np
import pytest

from earthgptx_hf.data.annotations import AnnotatedImage, ObjectAnnotation
from earthgptx_hf.data.referring import QUESTIONS, ReferringBuilder, box_mask
from earthgptx_hf.data.tasks import build_records
from earthgptx_hf.models.earthgptx.processing_earthgptx import instance_labels
from earthgptx_hf.models.earthgptx.visual_prompting import find_instruction
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask

SIZE = 90


def _disc(centre, radius) -> ObjectAnnotation:
    rows, cols = np.mgrid[:SIZE, :SIZE]
    return (cols + 0.5 - centre[0]) ** 2 + (rows + 0.5 - centre[1]) ** 2 <= radius**2


def _object(category, centre, radius) -> ObjectAnnotation:
    x, y = centre
    return ObjectAnnotation(category, [x - radius, y - radius, x + radius, y + radius],
                            mask=mask_to_rle(_disc(centre, radius)))


def _scene(objects, source="procedural") -> AnnotatedImage:
    return AnnotatedImage("scene.png", SIZE, SIZE, objects=objects, source=source, id="s")


# two ships (a large one at the bottom right, a small one at the top left), one storage tank at the center
SHIPS = [_object("ship", (75, 75), 9), _object("ship", (15, 15), 4), _object("storage tank", (45, 45), 6)]


def _queries(objects, vocabulary=("ship", "storage tank", "airplane"), seed=0, draws=120):
    """Every query the builder writes for `objects` over `draws` seeds, by kind."""
    found = collections.defaultdict(set)
    for index in range(draws):
        builder = ReferringBuilder(np.random.default_rng(seed + index), vocabulary)
        for query in builder.from_facts(_scene(objects), objects):
            found[query["kind"]].add((query["question"], query["answer"], len(query["masks"])))
    return found


def test_every_query_answers_each_instance_top_to_bottom_with_its_position():
    found = _queries(SHIPS)
    every = {(q, a) for q, a, _ in found["every"] if "ship" in q}
    assert ("Segment every ship.", "ship at the top left[PIX]\nship at the bottom right[PIX]") in every
    assert ("Segment every storage tank.", "storage tank at the center[PIX]") in {(q, a) for q, a, _ in
                                                                                  found["every"]}


def test_single_instance_kinds_pick_the_one_object_the_words_mean():
    found = _queries(SHIPS)
    assert ("Segment the storage tank.", "storage tank at the center[PIX]", 1) in found["class"]
    assert ("Segment the largest ship.", "ship at the bottom right[PIX]", 1) in found["size"]
    assert ("Segment the smallest ship.", "ship at the top left[PIX]", 1) in found["size"]
    assert ("Segment the ship at the top left.", "ship at the top left[PIX]", 1) in found["position"]
    # the small ship is up and to the left of the tank, the large one down and to the right
    relations = {q: a for q, a, _ in found["relation"]}
    assert relations.get("Segment the ship to the right of the storage tank.",
                         relations.get("Segment the ship below the storage tank.")) == "ship at the bottom right[PIX]"
    # no class query about a class with two instances: "the ship" would not say which
    assert not any("the ship." in q for q, _, _ in found["class"])


def test_negatives_ask_about_an_absent_class_and_are_answered_none():
    found = _queries(SHIPS)
    assert found["negative"], "half of the images get a negative"
    assert {a for _, a, _ in found["negative"]} == {"none"}
    assert {n for _, _, n in found["negative"]} == {0}
    assert all("airplane" in q for q, _, _ in found["negative"])  # the only class of the vocabulary not there


def test_ambiguous_single_queries_are_not_asked():
    # two ships of the same size in the same grid cell: no size, position or relation query can single one out
    twins = [_object("ship", (10, 10), 4), _object("ship", (22, 10), 4)]
    found = _queries(twins, vocabulary=("ship",))
    assert not found["size"] and not found["position"] and not found["relation"] and not found["class"]
    assert {a for _, a, _ in found["every"]} == {"ship at the top left[PIX]\nship at the top left[PIX]"}
    assert {q for q, _, _ in found["every"]} <= {t.format(cls="ship", plural="ships") for t in QUESTIONS["every"]}


def test_records_hold_no_prompt_and_one_target_mask_per_pix():
    records = build_records([_scene(SHIPS)], tasks=("referring",), seed=3)
    assert records and all(r["task"] == "referring" and r["prompts"] == [] for r in records)
    for record in records:
        answer = record["conversations"][-1]["value"]
        assert answer.count("[PIX]") == len(record["pix_targets"]) == len(record["masks"])
        assert record["pix_targets"] == list(range(1, len(record["masks"]) + 1))
        labels = instance_labels(answer)
        for label, rle in zip(labels, record["masks"]):
            assert label == record["query_class"]
            target = [o for o in SHIPS if np.array_equal(rle_to_mask(o.mask), rle_to_mask(rle))]
            assert len(target) == 1 and target[0].category == label
        if record["query_kind"] == "negative":
            assert answer == "none" and record["masks"] == []


def test_peoples_expressions_give_one_record_each_for_any_source():
    tank = ObjectAnnotation("storage tank", [10, 20, 40, 50], expression="The white storage tank on the left.")
    plane = ObjectAnnotation("airplane", [50, 50, 80, 70], expression="  ")  # blank: no record
    records = build_records([_scene([tank, plane], source="dior_rsvg")], tasks=("referring",), seed=0)
    assert [r["query_kind"] for r in records] == ["human"]  # a real image is not described from its facts
    record = records[0]
    question = record["conversations"][0]["value"]
    assert question in {t.format(expression="the white storage tank on the left") for t in QUESTIONS["human"]}
    assert record["conversations"][1]["value"] == "storage tank at the left[PIX]"
    assert record["text_source"] == "human"
    # no mask: the box, filled (those benchmarks score boxes)
    mask = rle_to_mask(record["masks"][0])
    assert mask.sum() == 30 * 30 and mask[20:50, 10:40].all()


def test_box_mask_keeps_a_mask_and_clips_a_box():
    disc = _object("ship", (20, 20), 5)
    assert box_mask(disc, SIZE, SIZE) is disc.mask
    outside = ObjectAnnotation("ship", [-5, 80, 10, 95])
    assert rle_to_mask(box_mask(outside, SIZE, SIZE)).sum() == 10 * 10


def test_the_pipelines_find_instruction_is_the_first_training_template():
    assert find_instruction("ship") == QUESTIONS["every"][0].format(cls="ship")
    assert find_instruction("  every storage tank. ") == "Segment every storage tank."
    assert find_instruction("the largest ship") == QUESTIONS["size"][0].format(extreme="largest", cls="ship")
    assert find_instruction("the ship at the top left") == QUESTIONS["position"][0].format(cls="ship",
                                                                                           position="top left")
    assert find_instruction("EVERY  ship\n") == "Segment every ship."
    for bad in (None, "", " . ", 3, "ship\x00", "ship\x1b[2J"):
        with pytest.raises(ValueError, match="query"):
            find_instruction(bad)


def test_procedural_data_covers_every_kind():
    from earthgptx_hf.data.procedural import generate_scene

    rng = np.random.default_rng(0)
    images = [AnnotatedImage(f"{i}.png", 64, 64, objects=generate_scene(rng, "optical", 64, (2, 4))[1],
                             source="procedural", id=str(i)) for i in range(150)]
    records = build_records(images, tasks=("referring",), seed=0)
    kinds = collections.Counter(r["query_kind"] for r in records)
    assert set(kinds) >= {"every", "class", "position", "relation", "negative"}, kinds
    assert any(len(r["masks"]) >= 2 for r in records if r["query_kind"] == "every")
    for record in records:  # the answers parse back to the asked class, one [PIX] per line
        answer = record["conversations"][-1]["value"]
        assert answer == "none" or all(re.fullmatch(r"[a-z ]+ at the [a-z ]+\[PIX\]", line)
                                       for line in answer.split("\n"))


def test_a_streaming_builder_asks_negatives_about_the_datas_classes(tmp_path):
    """Training builds records image by image (`build_one`): negatives still ask about the data's classes, given
    to the builder (`vocabulary`) and learnt from each image it builds."""
    from earthgptx_hf.data.tasks import RecordBuilder, classes_of

    images = [_scene(SHIPS), _scene([_object("airplane", (40, 40), 8)])]
    assert classes_of(images) == ["airplane", "ship", "storage tank"] and classes_of(iter(images)) == []
    given = RecordBuilder(("referring",), seed=0, vocabulary=classes_of(images))
    learnt = RecordBuilder(("referring",), seed=0)
    negatives = {"given": 0, "learnt": 0}
    for _ in range(20):
        for name, builder in (("given", given), ("learnt", learnt)):
            for image in images:
                negatives[name] += sum(r["query_kind"] == "negative" for r in builder.build_one(image))
    assert negatives["given"] > 5 and negatives["learnt"] > 5


def test_the_training_data_holds_negatives(tmp_path):
    from earthgptx_hf.data.annotated_images import DataArguments
    from earthgptx_hf.data.training_dataset import prepare_training_dataset

    data = DataArguments(data_format="procedural", num_scenes=40, scene_size=64, scene_dir=str(tmp_path / "s"),
                         tasks="referring")
    dataset, _, report = prepare_training_dataset(data, max_regions=4, workdir=tmp_path)
    answers = [row[-1]["value"] for row in dataset["conversations"]]
    assert "none" in answers and any("[PIX]" in a for a in answers)
