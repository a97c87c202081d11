"""The KV cache travels under the installed transformers' name (`cache` from 5.24, `past_key_values` before), and the
output classes are transformers' own plus our fields."""

from dataclasses import fields

import pytest
import torch
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from earthgptx_hf.models.earthgptx.generation_earthgptx import CACHE_KEY, cache_kwargs, output_cache, pop_cache
from earthgptx_hf.models.earthgptx.modeling_earthgptx import (
    EarthGPTXCausalLMOutputWithPast,
    EarthGPTXModelOutputWithPast,
)

from .helpers import sample_ids, tiny_model, visual_inputs


def test_the_cache_name_is_the_installed_releases():
    names = {f.name for f in fields(CausalLMOutputWithPast)}
    assert CACHE_KEY in names and ({"cache", "past_key_values"} - {CACHE_KEY}).isdisjoint(names)


def test_output_classes_extend_transformers_own_and_declare_only_our_fields():
    assert issubclass(EarthGPTXCausalLMOutputWithPast, CausalLMOutputWithPast)
    assert issubclass(EarthGPTXModelOutputWithPast, BaseModelOutputWithPast)
    ours = {f.name for f in fields(EarthGPTXCausalLMOutputWithPast)} - {f.name for f in fields(CausalLMOutputWithPast)}
    assert ours == {"lm_loss", "mask_bce_loss", "mask_dice_loss", "mask_iou_loss", "region_label_loss",
                    "image_hidden_states", "region_embeds", "pred_masks", "pred_scores"}
    ours = {f.name for f in fields(EarthGPTXModelOutputWithPast)} - {f.name for f in fields(BaseModelOutputWithPast)}
    assert ours == {"image_hidden_states", "region_embeds"}


def test_pop_cache_takes_either_name_and_refuses_both():
    assert pop_cache({}) is None
    for name in ("cache", "past_key_values"):
        kwargs = {name: "C", "other": 1}
        assert pop_cache(kwargs) == "C" and kwargs == {"other": 1}
    with pytest.raises(ValueError, match="The KV cache was given twice"):
        pop_cache({"cache": "A", "past_key_values": "B"})
    assert pop_cache({"cache": None, "past_key_values": "B"}) == "B"  # None is no cache (Trainer passes None)


def test_incremental_decoding_through_the_cache_matches_a_full_forward():
    """Prefill, then one token at a time with the returned cache under the installed name: the logits equal those of
    one forward over the whole sequence (the region features reach the decoding steps too)."""
    model = tiny_model()
    config = model.config
    ids, _ = sample_ids(config, 2, [40, 41, config.region_token_ids[1], 42])
    visual = visual_inputs(config, [2])
    visual.pop("sam_pixel_values")
    full_ids = torch.tensor([ids])
    with torch.no_grad():
        full = model(input_ids=full_ids, **visual).logits
        prefix = len(ids) - 3
        out = model(input_ids=full_ids[:, :prefix], use_cache=True, **visual)
        cache = output_cache(out)
        assert cache is not None and cache.get_seq_length() == prefix
        steps = [out.logits[:, -1]]
        for t in range(prefix, len(ids)):
            out = model(input_ids=full_ids[:, t:t + 1], use_cache=True, region_embeds=out.region_embeds,
                        **cache_kwargs(cache))
            cache = output_cache(out)
            steps.append(out.logits[:, -1])
    torch.testing.assert_close(torch.stack(steps[:-1], 1), full[:, prefix - 1:-1], atol=1e-5, rtol=1e-4)
