"""`EarthGPTXProcessor.next_turn`: the ids of a follow-up question, built on the earlier turn's own tokens."""

import numpy as np
import pytest
import torch

from earthgptx_hf import EarthGPTXConfig, EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.conversation import turn_suffix


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny"))


IMAGE = (np.random.default_rng(1).random((40, 56, 3)) * 255).astype(np.uint8)
PROMPTS = [{"type": "box", "bbox": [2, 2, 20, 20]}, {"type": "point", "point": [30, 30]}]


def _user(text, image=False):
    return {"role": "user", "content": ([{"type": "image"}] if image else []) + [{"type": "text", "text": text}]}


def _encode(processor, messages):
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    return processor(images=IMAGE, text=text, visual_prompts=PROMPTS, return_tensors="pt")


def test_next_turn_gives_the_ids_of_the_whole_conversation(processor):
    """The earlier turn's own tokens, then what the template renders after the answer's EOS: the tokens after it are
    those of the whole conversation encoded at once (the answer itself keeps the ids the model generated, which a
    re-encoding after "ASSISTANT: " may merge differently)."""
    first = [_user("What is <Region 1>?", image=True)]
    inputs = _encode(processor, first)
    eos = processor.tokenizer.eos_token_id
    answer = processor.tokenizer("ship", add_special_tokens=False)["input_ids"] + [eos]
    sequences = torch.cat([inputs["input_ids"], torch.tensor([answer])], dim=1)
    follow = processor.next_turn(sequences, "And <Mark 2>?", attention_mask=inputs["attention_mask"])
    whole = _encode(processor, [*first, {"role": "assistant", "content": "ship"}, _user("And <Region 2>?")])
    ids, expected = follow["input_ids"][0].tolist(), whole["input_ids"][0].tolist()
    assert ids[: sequences.shape[1]] == sequences[0].tolist()
    assert ids[ids.index(eos):] == expected[expected.index(eos):]
    assert follow["attention_mask"].all()


def test_an_answer_cut_by_max_new_tokens_gets_its_end_of_turn(processor):
    inputs = _encode(processor, [_user("Describe.", image=True)])
    cut = processor.tokenizer("a large", add_special_tokens=False)["input_ids"]  # no EOS: max_new_tokens stopped it
    follow = processor.next_turn(torch.cat([inputs["input_ids"], torch.tensor([cut])], 1), "More?")
    suffix = processor.tokenizer(turn_suffix(processor, "More?"), add_special_tokens=False)["input_ids"]
    tail = follow["input_ids"][0, inputs["input_ids"].shape[1]:].tolist()
    assert tail == cut + [processor.tokenizer.eos_token_id] + suffix
    assert turn_suffix(processor, "More?") == "\nUSER: More?\nASSISTANT: "


@pytest.mark.parametrize("text, message", [
    ("What is <Region 3>?", r"text refers to <Region 3>, but the conversation of sequence 0 has 2 visual prompt"),
    ("Look at <image>", "adds none"),
    ("[PIX] here", "reserved token"),
])
def test_bad_followups_are_refused_naming_the_text(processor, text, message):
    inputs = _encode(processor, [_user("Describe.", image=True)])
    with pytest.raises(ValueError, match=message):
        processor.next_turn(inputs["input_ids"], text)


def test_next_turn_checks_its_arguments(processor):
    inputs = _encode(processor, [_user("Describe.", image=True)])
    with pytest.raises(ValueError, match="a list of 1 strings"):
        processor.next_turn(inputs["input_ids"], ["a", "b"])
    with pytest.raises(ValueError, match="attention_mask of shape"):
        processor.next_turn(inputs["input_ids"], "a", attention_mask=torch.ones(3, 2))
    with pytest.raises(TypeError, match="previous must be what generate"):
        processor.next_turn("USER: hi", "a")
