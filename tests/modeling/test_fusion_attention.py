"""The hybrid fusion runs the attention implementation the model resolved (issue 36: it ran eager attention, about 16 %
slower to train, whenever the model was built without naming one, e.g. by `earthgptx-train` from a preset)."""

from __future__ import annotations

import torch
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration

from .helpers import tiny_config


def _fusion_calls(monkeypatch) -> list[str]:
    calls = []
    original = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def spy(module, *args, **kwargs):
        calls.append(type(module).__name__)
        return original(module, *args, **kwargs)

    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", spy)
    return calls


def test_plain_constructor_gives_the_fusion_the_models_implementation(monkeypatch):
    calls = _fusion_calls(monkeypatch)
    model = EarthGPTXForConditionalGeneration(tiny_config()).eval()
    assert model.config._attn_implementation == "sdpa"
    assert model.config.hybrid_fusion_config._attn_implementation == "sdpa"
    fusion = model.model.hybrid_fusion
    width = fusion.image_self_attention.norm_q.normalized_shape[0]
    prompt_width = fusion.prompt_feed_forward.fc1.in_features
    with torch.no_grad():
        fusion(torch.randn(2, 20, width), torch.randn(2, 20, prompt_width))
    assert calls.count("EarthGPTXAttention") == 3  # Eq. 4, 6 and 7


def test_an_implementation_named_on_the_fusion_config_is_kept():
    config = tiny_config()
    config.hybrid_fusion_config._attn_implementation = "eager"
    model = EarthGPTXForConditionalGeneration(config)
    assert model.config.hybrid_fusion_config._attn_implementation == "eager"
    assert model.config.text_config._attn_implementation == "sdpa"


def test_fusion_sdpa_and_eager_agree_in_training():
    torch.manual_seed(0)
    model = EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny")).train()
    fusion, config = model.model.hybrid_fusion, model.config.hybrid_fusion_config
    width = fusion.image_self_attention.norm_q.normalized_shape[0]
    prompt_width = fusion.prompt_feed_forward.fc1.in_features
    images, prompts = torch.randn(2, 20, width), torch.randn(2, 20, prompt_width)
    keep = torch.ones(2, 20, dtype=torch.bool)
    keep[1, 15:] = False  # a padding view's tokens
    outputs, grads = {}, {}
    for implementation in ("sdpa", "eager"):
        config._attn_implementation = implementation
        fusion.zero_grad()
        out = fusion(images, prompts, keep)
        out.square().sum().backward()
        outputs[implementation] = out.detach()
        grads[implementation] = fusion.cross_attention.attention.q_proj.weight.grad.clone()
    torch.testing.assert_close(outputs["sdpa"], outputs["eager"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads["sdpa"], grads["eager"], atol=1e-4, rtol=1e-4)
