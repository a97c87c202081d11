"""The prompt-swap check on records whose regions differ in class: which pair is swapped, and the three counts,
with stub models whose answers are controlled (one that reads its prompts, one that answers by position, one that
answers the majority class)."""

import pytest

from earthgptx_hf.evaluation import region_classification
from earthgptx_hf.evaluation.region_classification import swap_consistency
from earthgptx_hf.evaluation.region_pairs import first_differing_pair


def _record(labels, task="classification", row=0):
    prompts = [{"type": "box", "bbox": [10 * i, 10 * row, 10 * i + 8, 10 * row + 8]} for i in range(len(labels))]
    answer = "\n".join(f"<Region {i + 1}>: {label}" for i, label in enumerate(labels))
    return {"task": task, "modality": "sar", "prompts": prompts, "masks": [{"id": i} for i in range(len(labels))],
            "conversations": [{"from": "user", "value": "?"}, {"from": "model", "value": answer}]}


RECORDS = [_record(["ship", "ship", "harbor"], row=0), _record(["ship", "ship"], row=1),
           _record(["bridge", "ship"], row=2), _record(["ship", "harbor"], task="grounding", row=3),
           _record(["ship"], row=4)]
# what sits under each box, so that a "reader" can answer from the prompt it is given
TRUTH = {}
for record in RECORDS:
    for prompt, line in zip(record["prompts"], record["conversations"][1]["value"].splitlines()):
        TRUTH.setdefault(tuple(prompt["bbox"]), line.split(": ")[1])


def reader(records):
    return [{i + 1: TRUTH[tuple(p["bbox"])] for i, p in enumerate(r["prompts"])} for r in records]


def by_position(records):
    return [{i + 1: f"class {i}" for i in range(len(r["prompts"]))} for r in records]


def majority(records):
    return [{i + 1: "ship" for i in range(len(r["prompts"]))} for r in records]


@pytest.fixture
def stub(monkeypatch):
    asked = []

    def use(model):
        def predict(_model, _processor, records, batch_size=8, progress=True):
            asked.extend(records)
            return model(records)
        monkeypatch.setattr(region_classification, "predict_regions", predict)
        return asked
    return use


def test_the_first_pair_of_different_classes_is_chosen():
    assert first_differing_pair(RECORDS[0]) == (1, 3)
    assert first_differing_pair(RECORDS[1]) is None and first_differing_pair(RECORDS[4]) is None
    assert first_differing_pair(_record(["a", "a", "b", "c"])) == (1, 3)
    assert first_differing_pair(_record(["a", "b", "c"])) == (1, 2)


def test_a_model_that_reads_its_prompts_swaps_every_differing_pair(stub):
    asked = stub(reader)
    swap = swap_consistency(None, None, RECORDS, reader(RECORDS))
    # pairs: records 0 and 2 (record 1 has one class, record 3 is grounding, record 4 one region)
    assert swap == {"pairs": 2, "differing": 2, "swapped": 2, "rate": 1.0}
    first = asked[0]
    assert [p["bbox"] for p in first["prompts"]] == [RECORDS[0]["prompts"][i]["bbox"] for i in (2, 1, 0)]
    assert first["masks"] == [{"id": 2}, {"id": 1}, {"id": 0}]  # masks move with their prompts
    assert RECORDS[0]["prompts"][0]["bbox"] == [0, 0, 8, 8]  # the records given are left as they were


def test_answers_by_position_differ_but_do_not_follow_the_prompts(stub):
    stub(by_position)
    per_record = {}
    assert swap_consistency(None, None, RECORDS, by_position(RECORDS), per_record=per_record) == {
        "pairs": 2, "differing": 2, "swapped": 0, "rate": 0.0}
    # what each pair was answered, before and after the swap: the answers stay with their positions
    assert per_record == {
        0: {"regions": [1, 3], "classes": ["ship", "harbor"], "answers": ["class 0", "class 2"],
            "swapped_answers": ["class 0", "class 2"], "followed": False},
        2: {"regions": [1, 2], "classes": ["bridge", "ship"], "answers": ["class 0", "class 1"],
            "swapped_answers": ["class 0", "class 1"], "followed": False}}


def test_a_pair_answered_alike_is_listed_without_a_swap(stub):
    stub(majority)
    per_record = {}
    swap_consistency(None, None, RECORDS, majority(RECORDS), per_record=per_record)
    assert per_record[2] == {"regions": [1, 2], "classes": ["bridge", "ship"], "answers": ["ship", "ship"]}


def test_a_majority_answer_gives_pairs_but_nothing_differing(stub):
    asked = stub(majority)
    assert swap_consistency(None, None, RECORDS, majority(RECORDS)) == {
        "pairs": 2, "differing": 0, "swapped": 0, "rate": 0.0}
    assert asked == []  # nothing differed: nothing to ask again


def test_a_missing_answer_is_not_a_differing_pair(stub):
    stub(reader)
    predictions = reader(RECORDS)
    del predictions[0][3]
    assert swap_consistency(None, None, RECORDS, predictions) == {"pairs": 2, "differing": 1, "swapped": 1,
                                                                 "rate": 1.0}
