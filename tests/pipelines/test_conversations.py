"""The pipeline remembers its last conversations: a follow-up about the same image and prompts (a chat that repeats
the earlier turns, or a new task) reuses the KV cache, the region features and SAM's embedding."""

import numpy as np
import pytest
from transformers import pipeline

from earthgptx_hf.models.earthgptx.conversation import ConversationCache, conversation_key, reusable_prefix
from tests.modeling.test_followup import Calls

IMAGE = (np.random.default_rng(3).random((64, 80, 3)) * 255).astype(np.uint8)
BOX = {"type": "box", "bbox": [5, 5, 30, 30]}


def _chat(question, prompts=(BOX,)):
    return [{"role": "user", "content": [{"type": "image", "image": IMAGE, "visual_prompts": list(prompts)},
                                         {"type": "text", "text": question}]}]


def _turns(pipe, pix_bias):
    """Three turns: a question, a segmentation follow-up, another follow-up; the results of each."""
    chat = _chat("What is <Region 1>?")
    first = pipe(chat, max_new_tokens=4)[0]
    chat += [{"role": "assistant", "content": first["generated_text"]}, {"role": "user", "content": "Segment it."}]
    second = pipe(chat, max_new_tokens=3, **pix_bias)[0]
    chat += [{"role": "assistant", "content": second["generated_text"]},
             {"role": "user", "content": "And <Region 1> again?"}]
    third = pipe(chat, max_new_tokens=3, **pix_bias)[0]
    return first, second, third


def _counted(pipe, run):
    """`run(pipe)` and how often the towers, the fusion and SAM's image encoder ran."""
    calls = Calls(pipe.model)
    try:
        return run(pipe), calls.counts
    finally:
        calls.remove()


def test_a_chat_followup_encodes_the_image_once_and_answers_as_without_the_cache(pipe, pix_bias):
    pipe.conversations.clear()
    reused, counts = _counted(pipe, lambda p: _turns(p, pix_bias))
    assert counts == {"towers": 1, "fusion": 1, "sam_encoder": 1}
    fresh = pipeline("visual-prompting", model=pipe.model, processor=pipe.processor, conversation_cache_size=0)
    expected, counts = _counted(fresh, lambda p: _turns(p, pix_bias))
    assert counts == {"towers": 3, "fusion": 3, "sam_encoder": 2}
    for got, want in zip(reused, expected):
        assert got["generated_text"] == want["generated_text"]
        assert len(got["masks"]) == len(want["masks"])
        for a, b in zip(got["masks"], want["masks"]):
            assert (a != b).mean() < 1e-3
        np.testing.assert_allclose(got["scores"], want["scores"], atol=1e-4)
    assert len(reused[1]["masks"]) == 3


def test_a_new_task_on_the_same_image_and_prompts_reuses_the_visual_tokens(pipe):
    pipe.conversations.clear()

    def three_calls(p):
        p(IMAGE, boxes=[[5, 5, 30, 30]], task="classify", max_new_tokens=2)
        caption = p(IMAGE, prompts=[BOX], task="caption", max_new_tokens=2)  # the same box, as a prompt dict
        return caption, p(IMAGE, boxes=[[6, 5, 30, 30]], task="classify", max_new_tokens=2)

    (caption, other_prompts), counts = _counted(pipe, three_calls)
    assert counts["towers"] == 2  # the moved box is another conversation
    fresh = pipeline("visual-prompting", model=pipe.model, processor=pipe.processor, conversation_cache_size=0)
    assert caption[0]["generated_text"] == fresh(IMAGE, prompts=[BOX], task="caption", max_new_tokens=2)[0][
        "generated_text"]
    assert other_prompts[0]["generated_text"] == fresh(IMAGE, boxes=[[6, 5, 30, 30]], task="classify",
                                                       max_new_tokens=2)[0]["generated_text"]


def test_the_cache_keeps_the_last_conversations_and_refuses_a_bad_size(pipe):
    cache = ConversationCache(2)
    for key in "abc":
        cache.put(key, object())
    assert len(cache) == 2 and cache.take("a") is None and cache.take("c") is not None
    assert conversation_key(IMAGE, [BOX]) == conversation_key(IMAGE.copy(), [{"type": "box", "bbox": [5., 5, 30, 30]}])
    assert conversation_key(IMAGE, [BOX]) != conversation_key(IMAGE[::-1], [BOX])
    with pytest.raises(ValueError, match="conversation_cache_size=-1 must be a whole number at least 0"):
        pipeline("visual-prompting", model=pipe.model, processor=pipe.processor, conversation_cache_size=-1)


def test_the_reused_prefix_holds_every_visual_token():
    visual = (7, 8)
    assert reusable_prefix([1, 7, 7, 8, 5, 6, 9], [1, 7, 7, 8, 5, 4, 4], visual, 6) == 5
    assert reusable_prefix([1, 7, 7, 8, 5], [1, 7, 7, 8, 5], visual, 4) == 4  # the last input token is fed again
    assert reusable_prefix([1, 7, 7, 3], [1, 7, 7, 8, 5], visual, 3) == 0  # differs inside the visual tokens
