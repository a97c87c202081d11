"""Issue 34: `pipeline("visual-prompting", task="find", query=...)`: grounding from words, no visual prompt; each
mask comes back as an instance with the class its answer line names, its score and its box."""

import numpy as np
import pytest

IMAGE = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)


def test_find_asks_the_training_question_without_a_prompt_and_returns_instances(pipe, pix_bias):
    out = pipe(IMAGE, task="find", query="storage tank", max_new_tokens=3, **pix_bias)[0]
    assert out["input_text"].rstrip().endswith("Segment every storage tank.\nASSISTANT:") or \
        "Segment every storage tank." in out["input_text"]
    assert "<Region" not in out["input_text"] and out["regions"] == []
    assert len(out["instances"]) == len(out["masks"]) == len(out["scores"]) == 3
    for instance, mask, score in zip(out["instances"], out["masks"], out["scores"]):
        assert instance["mask"] is mask and instance["score"] == score and instance["label"] is None
        ys, xs = np.nonzero(mask)
        expected = None if not len(xs) else [xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]
        assert instance["box"] == expected


def test_every_result_has_instances_a_region_answer_has_no_label(pipe, pix_bias):
    out = pipe(IMAGE, boxes=[[2, 2, 20, 20]], task="segment", max_new_tokens=2, **pix_bias)[0]
    assert [i["label"] for i in out["instances"]] == [None] * len(out["masks"])


def test_find_per_item_and_per_image_queries(pipe):
    outs = pipe([IMAGE, IMAGE], task="find", query=["ship", "the largest vehicle"], max_new_tokens=1)
    assert "Segment every ship." in outs[0][0]["input_text"]
    assert "Segment the largest vehicle." in outs[1][0]["input_text"]
    item = pipe({"image": IMAGE, "task": "find", "query": "airplanes"}, task="caption", max_new_tokens=1)[0]
    assert "Segment every airplanes." in item["input_text"]  # the item's instruction replaces the call's


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "find"}, "query for images .task='find'. must be a non-empty string"),
    ({"task": "find", "query": " ? "}, "must be a non-empty string"),
    ({"task": "find", "query": ["ship"]}, "must be a non-empty string"),
    ({"task": "find", "query": "ship", "boxes": [[1, 1, 9, 9]]}, "takes no prompts"),
    ({"query": "ship"}, "text query of task='find'"),
    ({"task": "caption", "query": "ship"}, "text query of task='find'"),
])
def test_find_refuses_what_it_cannot_answer(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe(IMAGE, max_new_tokens=1, **kwargs)


def test_a_chat_takes_its_query_from_its_messages(pipe):
    chat = [{"role": "user", "content": [{"type": "image", "image": IMAGE}, {"type": "text", "text": "Segment every ship."}]}]
    with pytest.raises(ValueError, match="query"):
        pipe(chat, query="ship", max_new_tokens=1)


@pytest.mark.parametrize("query, message", [
    ("!!!,,,;;;", "must be a non-empty string of printable text"),  # no word: nothing to find
    ("[PIX] ship", r"cannot hold the tag '\[PIX\]'"),
    ("the ship near <Region 1>", "cannot hold the tag '<Region 1>'"),
    ("<image> ship", "cannot hold the tag '<image>'"),
])
def test_find_refuses_a_query_without_words_or_with_a_tag_naming_the_query(pipe, query, message):
    with pytest.raises(ValueError, match=f"query for images .task='find'. .*{message}"):
        pipe(IMAGE, task="find", query=query, max_new_tokens=1)
