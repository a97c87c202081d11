"""pipeline("visual-prompting") as every transformers pipeline: `Pipeline.__call__`, lists with `batch_size`,
generators, datasets (`KeyDataset`), `num_workers`, chat messages, `return_full_text`; and what it agrees with the
processor and the model (the config check, no input casts, post-processing at the original sizes)."""

import datasets
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import Pipeline, pipeline
from transformers.pipelines.pt_utils import KeyDataset

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.models.earthgptx import VisualPromptingPipeline
from earthgptx_hf.models.earthgptx import visual_prompting
from tests.modeling.helpers import tiny_model

RNG = np.random.default_rng(11)
IMAGES = [RNG.integers(0, 255, (40, 56, 3), dtype=np.uint8), RNG.integers(0, 60000, (64, 48), dtype=np.uint16),
          RNG.integers(0, 255, (32, 32), dtype=np.uint8)]
BOXES = [[[2, 2, 20, 20]], [[1, 1, 10, 10], [20, 20, 40, 40], [5, 30, 25, 60]], [[4, 4, 12, 12]]]
BOX = {"type": "box", "bbox": [2, 2, 20, 20]}



def texts(results) -> list[list[str]]:
    return [[sequence["generated_text"] for sequence in item] for item in results]


def test_call_is_the_pipeline_call():
    assert VisualPromptingPipeline.__call__ is Pipeline.__call__
    assert not hasattr(visual_prompting, "model_input_dtype")  # the model casts its own inputs


def test_a_list_with_batch_size_2_matches_single_calls(pipe):
    batched = pipe(IMAGES, boxes=BOXES, batch_size=2, max_new_tokens=6)  # a batch of 2, then a batch of 1
    single = [pipe(image, boxes=boxes, max_new_tokens=6) for image, boxes in zip(IMAGES, BOXES)]
    assert len(batched) == 3 and texts(batched) == texts(single)
    assert [[r["prompt"] for r in item[0]["regions"]] for item in batched] == \
        [[r["prompt"] for r in item[0]["regions"]] for item in single]


def test_generators_and_datasets_stream(pipe):
    pil = [Image.fromarray(IMAGES[0]), Image.fromarray(IMAGES[2]).convert("RGB")]
    single = [pipe(image, task="caption", max_new_tokens=4) for image in pil]
    streamed = pipe((image for image in pil), task="caption", batch_size=2, max_new_tokens=4)
    assert not isinstance(streamed, list)  # lazy, as in every pipeline
    assert texts(streamed) == texts(single)
    dataset = datasets.Dataset.from_dict({"image": pil, "name": ["a", "b"]})
    out = pipe(KeyDataset(dataset, "image"), task="caption", batch_size=2, num_workers=0, max_new_tokens=4)
    assert texts(out) == texts(single)


def test_dict_items_carry_their_own_arguments(pipe):
    items = [{"image": IMAGES[0], "boxes": BOXES[0]}, {"image": IMAGES[1], "boxes": BOXES[1], "task": "caption"}]
    out = pipe(items, task="classify", batch_size=2, max_new_tokens=5)  # the item's task replaces the call's
    assert texts(out) == texts([pipe(IMAGES[0], boxes=BOXES[0], max_new_tokens=5),
                                pipe(IMAGES[1], boxes=BOXES[1], task="caption", max_new_tokens=5)])
    with pytest.raises(ValueError, match=r"images\[1\] is a dict with keys \['picture'\]: it needs 'image'"):
        pipe([items[0], {"picture": IMAGES[0]}], max_new_tokens=1)


def test_errors_name_the_image_by_its_place_in_the_input(pipe):
    bad = [IMAGES[0], IMAGES[2], np.zeros((1, 640, 4), np.uint8)]
    with pytest.raises(ValueError, match=r"images\[2\] has the ambiguous shape \(1, 640, 4\)"):
        pipe(bad, batch_size=2, max_new_tokens=1)  # the image processor's layout rule, before any generation
    with pytest.raises(ValueError, match=r"images\[2\] has the ambiguous shape"):
        list(pipe((image for image in bad), max_new_tokens=1))
    with pytest.raises(ValueError, match=r"boxes must give one entry per image \(at least 3 images\)"):
        list(pipe((image for image in IMAGES), boxes=BOXES[:2], max_new_tokens=1))


def test_post_processing_gets_every_images_original_size(pipe, monkeypatch):
    seen = []
    original = type(pipe.processor).post_process_generation

    def spy(self, outputs, inputs, target_sizes=None, **kwargs):
        seen.append(target_sizes)
        return original(self, outputs, inputs, target_sizes=target_sizes, **kwargs)

    monkeypatch.setattr(type(pipe.processor), "post_process_generation", spy)
    pipe([np.moveaxis(IMAGES[0], -1, 0), *IMAGES[1:]], batch_size=2, max_new_tokens=1)  # (3, 40, 56): 40 x 56
    assert seen == [[(40, 56), (64, 48)], [(32, 32)]]


def test_several_sequences_per_image_stay_with_their_image(pipe, pix_bias):
    out = pipe(IMAGES[:2], boxes=BOXES[:2], task="segment", batch_size=2, do_sample=True, num_return_sequences=2,
               max_new_tokens=1, **pix_bias)
    assert [len(item) for item in out] == [2, 2]
    for image, item, boxes in zip(IMAGES, out, BOXES):
        for sequence in item:
            assert len(sequence["regions"]) == len(boxes)
            assert [m.shape for m in sequence["masks"]] == [image.shape[:2]]  # the mask of its own image


def test_chat_messages_as_in_image_text_to_text(pipe):
    question = "What is <Region 1>?"
    chat = [{"role": "user", "content": [{"type": "image", "image": IMAGES[0]},
                                         {"type": "visual_prompts", "visual_prompts": [BOX]},
                                         {"type": "text", "text": question}]}]
    plain = pipe(IMAGES[0], prompts=[BOX], text=question, max_new_tokens=5)[0]
    out = pipe(chat, max_new_tokens=5)[0]
    assert out["generated_text"] == plain["generated_text"] and out["input_text"] == chat
    assert [r["prompt"] for r in out["regions"]] == [BOX]
    assert texts(pipe([chat, chat], batch_size=2, max_new_tokens=5)) == [[plain["generated_text"]]] * 2
    full = pipe(chat, max_new_tokens=5, return_full_text=True)[0]["generated_text"]
    assert full == [*chat, {"role": "assistant", "content": plain["generated_text"]}]
    prefill = [*chat, {"role": "assistant", "content": [{"type": "text", "text": "<Region 1>:"}]}]
    continued = pipe(prefill, max_new_tokens=3, return_full_text=True)[0]["generated_text"]
    assert len(continued) == 2 and continued[-1]["content"][0]["text"].startswith("<Region 1>:")
    with pytest.raises(ValueError, match=r"must hold exactly one \{'type': 'image'"):
        pipe([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    with pytest.raises(ValueError, match=r"\['boxes'\] cannot be combined with a chat"):
        pipe(chat, boxes=[[0, 0, 4, 4]])


def test_return_full_text(pipe):
    answer = pipe(IMAGES[0], boxes=BOXES[0], max_new_tokens=4)[0]
    full = pipe(IMAGES[0], boxes=BOXES[0], max_new_tokens=4, return_full_text=True)[0]
    assert full["generated_text"] == answer["input_text"] + answer["generated_text"]
    assert full["regions"] == answer["regions"]  # the answers are parsed from the generated part only


def test_a_processor_that_disagrees_with_the_model_is_refused():
    model = tiny_model()
    processor = EarthGPTXProcessor.from_model_config(model.config)
    processor.image_processor.max_regions = model.config.max_regions - 1
    with pytest.raises(ValueError, match="max_regions"):
        pipeline("visual-prompting", model=model, processor=processor)


def test_inputs_reach_the_model_uncast():
    """The model normalises and casts the visual inputs itself: the pipeline hands it the processor's uint8 views,
    packed prompt maps and SAM view as they are (a cast to the model's bfloat16 would make them "already
    normalised" floats)."""
    model = tiny_model().to(torch.bfloat16)
    pipe = pipeline("visual-prompting", model=model, processor=EarthGPTXProcessor.from_model_config(model.config))
    seen, generate = {}, model.generate

    def spy(**kwargs):
        seen.update({k: v.dtype for k, v in kwargs.items() if torch.is_tensor(v)})
        return generate(**kwargs)

    model.generate = spy
    out = pipe(IMAGES[0], boxes=BOXES[0], max_new_tokens=2)
    assert isinstance(out[0]["generated_text"], str)
    visual = {"pixel_values", "prompt_maps", "sam_pixel_values"}
    assert {seen[key] for key in visual} == {torch.uint8}
    assert not any(dtype.is_floating_point for dtype in seen.values())
