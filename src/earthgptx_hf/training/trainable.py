"""Named trainable presets (SPEC section 2.7): which parameters learn, by name, in one place.

- `paper`: what the paper trains (the LLM's self-attention q/k/v projections and the hybrid fusion's cross-attention)
  plus every part that starts from random weights when the model is composed from separately pretrained
  checkpoints: the mixed encoder's channel mix (and its band adapter, when `input_bands` is not 3: it starts as
  a band triple, and learns to let the other bands in), the spatial-aware encoder, the whole hybrid fusion, the
  projectors, the language-to-pixel projection R_lp and SAM's mask decoder (the pixel decoder P, fine-tuned as in
  LISA), and the input embeddings and LM head, which hold the rows of the added special tokens (`<image>`, `[PIX]`,
  `<Region i>`) that the pretrained LLM has never seen (LISA trains them too). Frozen: DINOv2, ConvNeXt, SAM's image
  and prompt encoders, and the rest of the LLM.
- `lora`: PEFT LoRA adapters on the LLM's attention projections; the same from-scratch parts as `paper` are trained
  in full (`modules_to_save`). Returns a `PeftModel`.
- `full`: every parameter the forward reads (all but `UNUSED_TOWER_PATTERNS`, frozen from construction on).
"""

from __future__ import annotations

import re

from torch import nn

from ..models.earthgptx.modeling_earthgptx import UNUSED_TOWER_PATTERNS

TRAINABLE_PRESETS = ("paper", "lora", "full")

# Parameter-name patterns (regular expressions searched in `named_parameters()` names).
FROM_SCRATCH_PATTERNS = (
    r"vision_tower\.(channel_mix|mix_norm)\.",
    r"vision_tower\.band_adapter\.",
    r"spatial_aware_encoder\.",
    r"hybrid_fusion\.",
    r"multi_modal_projector\.",
    r"region_projector\.",
    r"region_position_projector\.",
    r"pixel_perception\.text_to_pixel\.",
    r"pixel_perception\.grounding_model\.mask_decoder\.",
)
NEW_TOKEN_PATTERNS = (r"language_model\.embed_tokens\.", r"(^|\.)lm_head\.")
LLM_QKV_PATTERN = r"language_model\..*self_attn\.(q_proj|k_proj|v_proj)\."
PAPER_PATTERNS = (LLM_QKV_PATTERN, *FROM_SCRATCH_PATTERNS, *NEW_TOKEN_PATTERNS)

# Module names PEFT keeps fully trainable next to the LoRA adapters (suffix match on module names).
LORA_MODULES_TO_SAVE = (
    "vision_tower.channel_mix",
    "vision_tower.mix_norm",
    "vision_tower.band_adapter",
    "spatial_aware_encoder",
    "hybrid_fusion",
    "multi_modal_projector",
    "region_projector",
    "region_position_projector",
    "pixel_perception.text_to_pixel",
    "grounding_model.mask_decoder",
    "embed_tokens",
    "lm_head",
)
LORA_TARGET_MODULES = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"


def trainable_parameter_names(model: nn.Module, preset: str) -> list[str]:
    """Names of the parameters that `preset` trains (for `paper` and `full`)."""
    if preset == "full":
        unused = re.compile("|".join(UNUSED_TOWER_PATTERNS))
        return [name for name, _ in model.named_parameters() if not unused.search(name)]
    if preset == "paper":
        pattern = re.compile("|".join(PAPER_PATTERNS))
        return [name for name, _ in model.named_parameters() if pattern.search(name)]
    raise ValueError(f"trainable_parameter_names takes preset='paper' or 'full', got {preset!r}.")


def apply_trainable_preset(model: nn.Module, preset: str, lora_config=None):
    """Sets `requires_grad` according to a named preset.

    Args:
        model: an `EarthGPTXForConditionalGeneration` (or `EarthGPTXModel`).
        preset: one of `TRAINABLE_PRESETS`.
        lora_config: for `lora`, a `peft.LoraConfig` to use instead of the default (r=16, alpha=32, dropout 0.05 on
            the LLM's q/k/v/o projections, from-scratch parts in `modules_to_save`).

    Returns:
        the model (`paper`, `full`) or a `peft.PeftModel` wrapping it (`lora`).
    """
    if preset not in TRAINABLE_PRESETS:
        raise ValueError(f"Unknown trainable preset={preset!r}; valid presets are {list(TRAINABLE_PRESETS)}.")
    if preset == "lora":
        from peft import LoraConfig, get_peft_model

        if lora_config is None:
            lora_config = LoraConfig(
                r=16,
                lora_alpha=32,
                lora_dropout=0.05,
                target_modules=LORA_TARGET_MODULES,
                modules_to_save=list(LORA_MODULES_TO_SAVE),
            )
        return get_peft_model(model, lora_config)
    trainable = set(trainable_parameter_names(model, preset))
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in trainable)
    return model


__all__ = ["TRAINABLE_PRESETS", "apply_trainable_preset", "trainable_parameter_names"]
