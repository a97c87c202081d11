"""`config.region_feature_next_token`: prompt i's region feature is also added to the token after each `<Region i>`
(in "<Region i>: class", the ":" that predicts the class), the same in a full forward, a cached forward and
`generate()`; off by default."""

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from earthgptx_hf import EarthGPTXConfig, EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.perception import add_region_next_token_features, preceding_tokens

from .helpers import tiny_model
from .test_generation import ForceTokens


def test_preceding_tokens_shift_by_one_and_take_the_cached_token_first():
    ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    assert preceding_tokens(ids).tolist() == [[-1, 5, 6], [-1, 8, 9]]
    assert preceding_tokens(ids, torch.tensor([1, 2])).tolist() == [[1, 5, 6], [2, 8, 9]]


def test_the_token_after_region_i_gets_feature_i_but_not_a_region_feat_placeholder():
    region_ids, feat = [100, 101], 99
    ids = torch.tensor([[100, 99, 101, 7, 8, 101]])  # <R1><region_feat> <R2> ":" x <R2>
    embeds = torch.zeros(1, 6, 2)
    features = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    out = add_region_next_token_features(ids, embeds, features, region_ids, feat)
    assert out[0].tolist() == [[0, 0], [0, 0], [0, 0], [0, 1], [0, 0], [0, 0]]
    cached = add_region_next_token_features(ids[:, :1] * 0 + 7, embeds[:, :1], features, region_ids, feat,
                                            preceding_token_ids=torch.tensor([100]))
    assert cached[0].tolist() == [[1, 0]]  # the predecessor came from the cache


class RecordScores(LogitsProcessor):
    """Keeps a copy of each step's scores before the processors after it change them in place."""

    def __init__(self):
        self.steps = []

    def __call__(self, input_ids, scores):
        self.steps.append(scores.clone())
        return scores


def _setup(flag: bool):
    model = tiny_model(region_feature_next_token=flag).eval()
    processor = EarthGPTXProcessor.from_model_config(model.config)
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                      {"type": "text", "text": "Classify."}]}],
                                         add_generation_prompt=True)
    inputs = processor(images=[image], text=[text], visual_prompts=[[{"type": "box", "bbox": [4, 4, 30, 30]},
                                                                    {"type": "box", "bbox": [34, 10, 60, 40]}]],
                       return_tensors="pt")
    return model, processor, inputs


def _answer(model, processor):
    colon = processor.tokenizer(":", add_special_tokens=False)["input_ids"][-1]
    return [model.config.region_token_ids[1], colon, 40, model.config.region_token_ids[0], colon]


def test_off_by_default_and_on_it_changes_the_logits_after_a_region_tag_only():
    model_off, processor, inputs = _setup(False)
    assert model_off.config.region_feature_next_token is False
    model_on, _, _ = _setup(True)  # same seed, same weights
    answer = torch.tensor([_answer(model_on, processor)])
    ids = torch.cat([inputs["input_ids"], answer], dim=1)
    full = {**inputs, "input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.no_grad():
        off, on = model_off(**full).logits[0], model_on(**full).logits[0]
    prompt = inputs["input_ids"].shape[1]
    torch.testing.assert_close(on[: prompt + 1], off[: prompt + 1])  # up to the first answer tag: no change
    assert not torch.allclose(on[prompt + 1], off[prompt + 1])  # the ":" after <Region 2> carries its feature


def test_generate_with_its_cache_gives_the_logits_of_a_full_forward():
    model, processor, inputs = _setup(True)
    answer = _answer(model, processor)
    prompt = inputs["input_ids"].shape[1]
    record = RecordScores()
    force = LogitsProcessorList([record, ForceTokens(prompt, {(0, step): token for step, token in enumerate(answer)})])
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=len(answer), do_sample=False, return_dict_in_generate=True,
                             logits_processor=force)
        ids = out.sequences[:, : prompt + len(answer)]
        full = model(**{**inputs, "input_ids": ids, "attention_mask": torch.ones_like(ids)}).logits[0]
    assert out.sequences[0, prompt:].tolist() == answer
    assert len(record.steps) == len(answer)
    for step, logits in enumerate(record.steps):  # step k's logits come from the token before answer[k]
        torch.testing.assert_close(logits[0], full[prompt - 1 + step], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("key", ["region_feature_next_token", "use_region_features", "multimask_output"])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_switch_that_is_not_true_or_false_is_refused(key, value):
    with pytest.raises(ValueError, match=rf"{key}={value!r} must be true or false"):
        EarthGPTXConfig.from_preset("tiny", **{key: value})


def test_a_follow_up_turn_on_the_cache_gives_the_tokens_of_the_whole_conversation_again():
    model, processor, inputs = _setup(True)
    first = model.generate(**inputs, max_new_tokens=3, do_sample=False, return_dict_in_generate=True)
    follow = processor.next_turn(first, ["And <Region 2>?"], attention_mask=inputs["attention_mask"])
    visual = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    reference = model.generate(**follow, **visual, max_new_tokens=3, do_sample=False, return_dict_in_generate=True)
    second = model.generate(**follow, **first.followup_kwargs(), max_new_tokens=3, do_sample=False,
                            return_dict_in_generate=True)
    assert torch.equal(second.sequences, reference.sequences)
