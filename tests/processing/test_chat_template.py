"""`apply_chat_template` is `ProcessorMixin.apply_chat_template` (its arguments and defaults) for EarthGPT-X
conversations (issue 12, point 9)."""

import inspect

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.processing_utils import ProcessorMixin

from earthgptx_hf import EarthGPTXProcessor

IMAGE = np.zeros((64, 64, 3), np.uint8)
BOX = [{"type": "box", "bbox": [1, 1, 20, 20]}]


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_preset("tiny")


def _question(text="What is <Region 1>?", **image):
    return {"role": "user", "content": [{"type": "image", "image": IMAGE, "visual_prompts": BOX, **image},
                                        {"type": "text", "text": text}]}


def _answer(text="<Region 1>: ship"):
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def test_tokenize_returns_the_ids_unless_return_dict_as_the_stock_default(processor):
    stock = inspect.signature(ProcessorMixin.apply_chat_template).parameters["return_dict"].default
    assert stock is False
    ids = processor.apply_chat_template([_question()], add_generation_prompt=True, tokenize=True, return_tensors="pt")
    assert isinstance(ids, torch.Tensor) and ids.ndim == 2
    inputs = processor.apply_chat_template([_question()], add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    assert torch.equal(inputs["input_ids"], ids) and inputs["prompt_maps"][0, :, 0].any()


def test_continue_final_message_leaves_the_answer_open(processor):
    text = processor.apply_chat_template([_question(), _answer("<Region 1>: sh")], continue_final_message=True)
    assert text.endswith("ASSISTANT: <Region 1>: sh")
    with pytest.raises(ValueError, match="continue_final_message and add_generation_prompt are not compatible"):
        processor.apply_chat_template([_question(), _answer()], continue_final_message=True, add_generation_prompt=True)


@pytest.mark.parametrize("name, value", [("tools", [{"type": "function", "function": {"name": "f"}}]),
                                         ("documents", [{"title": "a", "text": "b"}])])
def test_tools_and_documents_are_refused_by_a_template_that_ignores_them(processor, name, value):
    with pytest.raises(ValueError, match=rf"{name}= is not supported: the chat template never reads '{name}'"):
        processor.apply_chat_template([_question()], add_generation_prompt=True, **{name: value})
    template = "{% for d in " + name + " %}{{ d['text'] if 'text' in d else d['type'] }}{% endfor %}"
    assert processor.apply_chat_template([_question()], chat_template=template, **{name: value})


@pytest.mark.parametrize("key", ["url", "path"])
def test_url_and_path_image_items(processor, key, tmp_path, monkeypatch):
    picture = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    fetched = []
    if key == "url":  # fetched by transformers' load_image, as ProcessorMixin does (no network in tests)
        monkeypatch.setattr("transformers.image_processing_base.load_image",
                            lambda url: fetched.append(url) or Image.fromarray(picture))
        source = "https://example.org/scene.png"
    else:
        source = str(tmp_path / "scene.png")
        Image.fromarray(picture).save(source)
    messages = [{"role": "user", "content": [{"type": "image", key: source, "visual_prompts": BOX},
                                             {"type": "text", "text": "What is <Region 1>?"}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    direct = processor(images=picture, text="USER: <image>\nWhat is <Region 1>?\nASSISTANT: ", visual_prompts=BOX,
                       return_tensors="pt")
    assert fetched == ([source] if key == "url" else [])
    for name in direct:
        assert torch.equal(inputs[name], direct[name]), name


def test_assistant_tokens_mask_marks_the_answer_and_its_eos(processor):
    """The stock `return_assistant_tokens_mask`, through this processor's expansion of the text."""
    out = processor.apply_chat_template([_question("What is <Mark 1>?"), _answer()], tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"][0], out["assistant_masks"][0]
    marked = [token for token, flag in zip(ids, mask) if flag]
    answer = processor.tokenizer("<Region 1>: ship", add_special_tokens=False)["input_ids"]
    assert marked == answer + [processor.tokenizer.eos_token_id]
    assert "text_replacement_offsets" not in out and "offset_mapping" not in out


def test_a_batch_of_conversations_and_one_image_each(processor):
    batch = processor.apply_chat_template([[_question()], [_question("Describe <Region 1>.")]],
                                          add_generation_prompt=True, tokenize=True, return_dict=True,
                                          return_tensors="pt")
    assert batch["input_ids"].shape[0] == 2 and batch["pixel_values"].shape[0] == 2
    no_image = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    with pytest.raises(ValueError, match=r"texts \[1\] have no image but the others have one"):
        processor.apply_chat_template([[_question()], no_image], tokenize=True)


def test_assistant_segments_join_into_the_rendered_and_expanded_text(processor):
    conversation = [_question(), _answer(), {"role": "user", "content": "And <Mark 1>?"}, _answer("A ship.")]
    segments = processor.assistant_segments(conversation, num_tokens=20, num_prompts=1)
    rendered = processor.apply_chat_template(conversation)
    assert "".join(text for text, _ in segments) == processor.expand_text(rendered, 0, 20, 1)
    assert [text for text, assistant in segments if assistant] == ["<Region 1>: ship</s>", "A ship.</s>"]
    unmarked = "{% for m in messages %}{{ m['role'] }}{% endfor %}"
    with pytest.raises(ValueError, match=r"marks no assistant turn with \{% generation %\}"):
        processor.assistant_segments(conversation, 20, 1, chat_template=unmarked)


def test_a_template_that_opens_with_bos_gives_one_bos(processor):
    """`ProcessorMixin.apply_chat_template` turns the tokenizer's special tokens off for such a prompt; the BOS the
    template wrote is then the one BOS, as the default template's is the tokenizer's."""
    from earthgptx_hf.models.earthgptx.conversation import CHAT_TEMPLATE

    opened = processor.apply_chat_template([_question()], chat_template="{{ bos_token }}" + CHAT_TEMPLATE,
                                           add_generation_prompt=True, tokenize=True)
    assert opened == processor.apply_chat_template([_question()], add_generation_prompt=True, tokenize=True)
    assert opened[0].count(processor.tokenizer.bos_token_id) == 1
