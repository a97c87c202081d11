"""Follow-up turns reuse the earlier turn's KV cache, region features and SAM embedding: same tokens and masks as
running the whole conversation again, and no tower, fusion or SAM image encoder call."""

import copy

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.generation_earthgptx import CACHE_KEY, crop_cache

from .helpers import tiny_model
from .test_generation import ForceTokens

PROMPTS = [[{"type": "box", "bbox": [5, 5, 30, 30]}, {"type": "point", "point": [50, 40]}],
           [{"type": "box", "bbox": [20, 10, 40, 40]}]]


@pytest.fixture(scope="module")
def setup():
    model = tiny_model().eval()
    processor = EarthGPTXProcessor.from_model_config(model.config)
    rng = np.random.default_rng(0)
    images = [(rng.random((64, 80, 3)) * 255).astype(np.uint8), (rng.random((48, 48, 3)) * 255).astype(np.uint8)]
    return model, processor, images


class Calls:
    """Counts the forward calls of the vision towers, the hybrid fusion and SAM's image encoder."""

    def __init__(self, model):
        self.counts = {"towers": 0, "fusion": 0, "sam_encoder": 0}
        modules = {"towers": model.model.vision_tower, "fusion": model.model.hybrid_fusion,
                   "sam_encoder": model.pixel_perception.grounding_model.vision_encoder}
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in modules.items()]

    def _hook(self, name):
        def count(*_):
            self.counts[name] += 1
        return count

    def remove(self):
        for handle in self.handles:
            handle.remove()


def _first_turn(model, processor, images, questions, prompts, **kwargs):
    texts = [processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                        {"type": "text", "text": q}]}],
                                           add_generation_prompt=True) for q in questions]
    inputs = processor(images=images, text=texts, visual_prompts=prompts, return_tensors="pt")
    out = model.generate(**inputs, do_sample=False, return_dict_in_generate=True, **kwargs)
    return inputs, out


def _visual(inputs):
    return {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}


def test_a_followup_gives_the_tokens_and_masks_of_the_whole_conversation_without_encoding_again(setup):
    model, processor, images = setup
    pix = {(model.config.pix_token_id,): 6.0}
    inputs, first = _first_turn(model, processor, images[:1], ["What is <Region 1>?"], PROMPTS[:1],
                                max_new_tokens=4, sequence_bias=pix)
    assert first.sam_image_embeddings is not None and first.region_embeds.shape[:2] == (1, model.config.max_regions)
    follow = processor.next_turn(first, "And <Region 2>?", attention_mask=inputs["attention_mask"])
    reference = model.generate(**follow, **_visual(inputs), max_new_tokens=5, do_sample=False,
                               return_dict_in_generate=True, sequence_bias=pix)
    calls = Calls(model)
    try:
        second = model.generate(**follow, **first.followup_kwargs(), max_new_tokens=5, do_sample=False,
                                return_dict_in_generate=True, sequence_bias=pix)
    finally:
        calls.remove()
    assert calls.counts == {"towers": 0, "fusion": 0, "sam_encoder": 0}
    assert torch.equal(second.sequences, reference.sequences)
    assert len(second.pred_masks[0]) == len(reference.pred_masks[0]) > 0
    torch.testing.assert_close(second.pred_masks[0], reference.pred_masks[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(second.pred_scores[0], reference.pred_scores[0], atol=1e-5, rtol=1e-4)


def test_region_features_reach_the_followup_question(setup):
    """`<Region i>` of the follow-up gets prompt i's feature: without the reused region features the answer's
    logits differ."""
    model, processor, images = setup
    inputs, first = _first_turn(model, processor, images[:1], ["Describe."], PROMPTS[:1], max_new_tokens=2,
                                output_logits=True)
    follow = processor.next_turn(first, "What is <Region 2>?", attention_mask=inputs["attention_mask"])
    reuse = first.followup_kwargs()
    saved = copy.deepcopy(reuse[CACHE_KEY])
    with_regions = model.generate(**follow, **reuse, max_new_tokens=1, return_dict_in_generate=True,
                                  output_logits=True)
    without = model.generate(**follow, **{CACHE_KEY: saved}, max_new_tokens=1, return_dict_in_generate=True,
                             output_logits=True)
    assert not torch.allclose(with_regions.logits[0], without.logits[0])
    reference = model.generate(**follow, **_visual(inputs), max_new_tokens=1, return_dict_in_generate=True,
                               output_logits=True)
    torch.testing.assert_close(with_regions.logits[0], reference.logits[0], atol=1e-4, rtol=1e-4)


def test_a_batch_of_conversations_with_padding_continues_like_the_whole_conversations(setup):
    model, processor, images = setup
    eos = processor.tokenizer.eos_token_id
    questions = ["What is <Region 1>?", "Caption the image, please."]  # prompts of different lengths: left padding
    texts = [processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                        {"type": "text", "text": q}]}],
                                           add_generation_prompt=True) for q in questions]
    inputs = processor(images=images, text=texts, visual_prompts=PROMPTS, return_tensors="pt")
    # the first answer ends at its second token (then padding), the second runs to max_new_tokens
    force = LogitsProcessorList([ForceTokens(inputs["input_ids"].shape[1], {(0, 1): eos})])
    first = model.generate(**inputs, max_new_tokens=4, do_sample=False, return_dict_in_generate=True,
                           logits_processor=force, pad_token_id=processor.tokenizer.pad_token_id)
    assert (first.sequences[0, -2:] == processor.tokenizer.pad_token_id).all()
    assert not inputs["attention_mask"].all()
    follow = processor.next_turn(first, ["And <Region 2>?", "Why?"], attention_mask=inputs["attention_mask"])
    assert follow["attention_mask"][:, -1].all()
    length = first.sequences.shape[1]
    assert not follow["attention_mask"][0, length - 2 : length].any()  # the padding after the finished answer
    reference = model.generate(**follow, **_visual(inputs), max_new_tokens=3, do_sample=False,
                               return_dict_in_generate=True)
    second = model.generate(**follow, **first.followup_kwargs(), max_new_tokens=3, do_sample=False,
                            return_dict_in_generate=True)
    assert torch.equal(second.sequences, reference.sequences)


def test_followup_kwargs_need_a_cache_and_crop_keeps_a_prefix(setup):
    model, processor, images = setup
    inputs, first = _first_turn(model, processor, images[:1], ["Describe."], PROMPTS[:1], max_new_tokens=2,
                                use_cache=False)
    with pytest.raises(ValueError, match="no KV cache"):
        first.followup_kwargs()
    inputs, first = _first_turn(model, processor, images[:1], ["Describe."], PROMPTS[:1], max_new_tokens=2)
    length = first.sequences.shape[1] - 1
    cache = first.followup_kwargs(keep=length - 3)[CACHE_KEY]
    assert cache.get_seq_length() == length - 3
    with pytest.raises(ValueError, match="length=99999"):
        crop_cache(cache, 99999)
    crop_cache(cache, cache.get_seq_length())  # keeping everything is no removal (crop(0) empties before 5.24)
    assert cache.get_seq_length() == length - 3


def test_sam_view_and_embeddings_are_not_given_together(setup):
    model, processor, images = setup
    inputs, first = _first_turn(model, processor, images[:1], ["Segment <Region 1>."], PROMPTS[:1], max_new_tokens=2,
                                sequence_bias={(model.config.pix_token_id,): 50.0})
    with pytest.raises(ValueError, match="not both"):
        model.generate(**inputs, sam_image_embeddings=first.sam_image_embeddings, max_new_tokens=1,
                       return_dict_in_generate=True)
