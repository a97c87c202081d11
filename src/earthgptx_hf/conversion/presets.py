"""The named configurations of `EarthGPTXConfig.from_preset`, and processors that match a config or a preset
(`EarthGPTXProcessor.from_preset` / `from_model_config`); `earthgptx_hf/__init__.py` registers them with the model
folder (`register_package_extension`). The configurations: "paper" follows SPEC section 1 exactly (its towers
equal the reference architectures as transformers builds them, checked by `python -m earthgptx_hf.tools.inspect_model --preset
paper`); "small" (CPU-trainable) and "tiny" (tests) keep the same structure. Plain data: the config checks them."""

from __future__ import annotations

import copy
import os
from typing import Any

from transformers import PreTrainedConfig

from ..models.earthgptx.configuration_earthgptx import (
    PAPER_BASE_VOCAB_SIZE,
    PAPER_TOWERS,
    REGION_TOKEN_TEMPLATE,
    SPECIAL_TOKENS,
    EarthGPTXConfig,
    special_token_layout,
)
from ..models.earthgptx.image_processing_earthgptx import EarthGPTXImageProcessor
from .tokenization import add_earthgptx_tokens, load_llama_tokenizer, load_shipped_tokenizer

PRESETS = ("paper", "small", "tiny")
# Size of the tokenizer shipped with the package (`earthgptx_hf.conversion.tokenization`), used by `small` and `tiny`.
SHIPPED_BASE_VOCAB_SIZE = 886

PRESET_SPECS: dict[str, dict[str, Any]] = {
    "paper": {
        "base_vocab_size": PAPER_BASE_VOCAB_SIZE,  # Llama-2 tokenizer
        **copy.deepcopy(PAPER_TOWERS),
        "tile_size": 224, "tile_grid": [2, 2], "max_regions": 16, "region_position_size": 16,
    },
    "small": {
        "base_vocab_size": SHIPPED_BASE_VOCAB_SIZE,
        "text_config": {
            "model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
            "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 2048,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        },
        "dino_config": {
            "model_type": "dinov2", "hidden_size": 192, "num_hidden_layers": 4, "num_attention_heads": 3,
            "mlp_ratio": 4, "patch_size": 14, "image_size": 112,
        },
        "convnext_config": {
            "model_type": "convnext", "depths": [1, 1, 2], "hidden_sizes": [48, 96, 192], "num_stages": 3,
            "layer_norm_eps": 1e-6, "image_size": 112,
        },
        "spatial_config": {
            "model_type": "vit", "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 256,
        },
        "hybrid_fusion_config": {"hidden_size": 192, "num_attention_heads": 4, "intermediate_size": 384},
        "grounding_config": {
            "model_type": "sam",
            "vision_config": {
                "hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 2, "global_attn_indexes": [1],
                "output_channels": 64, "image_size": 256, "window_size": 4, "mlp_dim": 192,
                "num_pos_feats": 32,
            },
            "prompt_encoder_config": {"hidden_size": 64, "image_size": 256, "mask_input_channels": 8},
            "mask_decoder_config": {
                "hidden_size": 64, "mlp_dim": 128, "num_attention_heads": 4, "iou_head_hidden_dim": 64,
            },
        },
        "tile_size": 112, "tile_grid": [2, 2], "max_regions": 8, "region_position_size": 16,
    },
    "tiny": {
        "base_vocab_size": SHIPPED_BASE_VOCAB_SIZE,
        "text_config": {
            "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        },
        "dino_config": {
            "model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "mlp_ratio": 2, "patch_size": 14, "image_size": 28,
        },
        "convnext_config": {
            "model_type": "convnext", "depths": [1, 1], "hidden_sizes": [16, 32], "num_stages": 2,
            "layer_norm_eps": 1e-6, "image_size": 28,
        },
        "spatial_config": {
            "model_type": "vit", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64,
        },
        "hybrid_fusion_config": {"hidden_size": 48, "num_attention_heads": 2, "intermediate_size": 96},
        "grounding_config": {
            "model_type": "sam",
            "vision_config": {
                "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "global_attn_indexes": [1],
                "output_channels": 32, "image_size": 64, "window_size": 2, "mlp_dim": 64,
                "num_pos_feats": 16,
            },
            "prompt_encoder_config": {"hidden_size": 32, "image_size": 64, "mask_input_channels": 4},
            "mask_decoder_config": {
                "hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32,
            },
        },
        "tile_size": 28, "tile_grid": [2, 2], "max_regions": 8, "region_position_size": 16,
        # 32-64-wide layers start too close to zero with the usual 0.02 (training stalls for hundreds of steps)
        "initializer_range": 0.1,
    },
}


def update_config_dict(target: dict, update: dict) -> None:
    """Applies `update` to the config dict `target` in place: a dict without `model_type` updates the fields of the
    dict it replaces (nested dicts too); anything else (a whole sub-config naming its model_type, a plain field)
    replaces it. The rule of `from_preset`'s and the trainer's `config_overrides`."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict) and "model_type" not in value:
            update_config_dict(target[key], value)
        else:
            target[key] = value


def config_from_preset(cls, name: str, **overrides) -> EarthGPTXConfig:
    """`EarthGPTXConfig.from_preset`: builds a named configuration of `cls`. Nothing given is modified (dicts and configs are copied).

    Args:
        name: `"paper"` (the paper's towers: Llama-2-13B, DINOv2-L/14, CLIP-ConvNeXt-L, SAM ViT-H at 448x448),
            `"small"` (CPU-trainable, same structure) or `"tiny"` (tests; the whole model runs in milliseconds).
        **overrides: fields to replace (e.g. `max_regions=8`). A sub-config given as a dict without
            `model_type` updates the preset's fields, nested dicts too (`grounding_config={"vision_config":
            {"image_size": 128}}` changes that one field); one with `model_type` (or a config object) replaces it.
            `base_vocab_size` sets the language model's own vocabulary; the text config's `vocab_size` is
            always `base_vocab_size + 3 + max_regions` and the special-token ids follow it, unless given.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset name={name!r}; valid presets are {list(PRESETS)}.")
    unknown = sorted(set(overrides) - set(cls.__dataclass_fields__) - {"base_vocab_size"})
    if unknown:
        hint = " (the canvas is tile_grid x tile_size)" if "image_size" in unknown else ""
        raise ValueError(f"from_preset got unknown field(s) {unknown}{hint}; valid are the fields of "
                         "EarthGPTXConfig (see its docstring) and base_vocab_size.")
    spec = copy.deepcopy(PRESET_SPECS[name])
    for key, value in overrides.items():
        value = value.to_dict() if isinstance(value, PreTrainedConfig) else copy.deepcopy(value)
        if key.endswith("_config") and isinstance(value, dict) and "model_type" not in value:
            update_config_dict(spec[key], value)  # partial update of the preset's sub-config
        else:
            spec[key] = value  # a whole sub-config (it names its model_type) or a top-level field
    max_regions = spec.get("max_regions", 16)
    layout = special_token_layout(spec.pop("base_vocab_size"), max_regions)
    spec["text_config"]["vocab_size"] = layout.pop("vocab_size")
    for key, value in layout.items():
        spec.setdefault(key, value)
    return cls(**spec)


def processor_from_model_config(processor_class, config: EarthGPTXConfig, tokenizer=None, **image_processor_kwargs):
    """See `EarthGPTXProcessor.from_model_config`."""
    if tokenizer is None:
        tokenizer = load_shipped_tokenizer()
    elif isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = load_llama_tokenizer(tokenizer)
    add_earthgptx_tokens(tokenizer, config.max_regions)
    processor = processor_class(
        image_processor=EarthGPTXImageProcessor.from_model_config(config, **image_processor_kwargs),
        tokenizer=tokenizer,
        use_region_features=config.use_region_features,
        image_token=SPECIAL_TOKENS[0],
        pix_token=SPECIAL_TOKENS[1],
        region_feature_token=SPECIAL_TOKENS[2],
        region_token_template=REGION_TOKEN_TEMPLATE,
    )
    processor.check_model_config(config)  # e.g. a tokenizer whose ids are not the ones the config was built for
    return processor


def processor_from_preset(processor_class, name: str, tokenizer=None, **image_processor_kwargs):
    """See `EarthGPTXProcessor.from_preset`."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset name={name!r}; valid presets are {list(PRESETS)}.")
    if tokenizer is None and name == "paper":
        raise ValueError(
            "The paper preset uses the Llama-2 tokenizer, which is not shipped with this package: pass "
            "tokenizer='path/to/llama-2 tokenizer folder or tokenizer.model'."
        )
    return processor_from_model_config(processor_class, EarthGPTXConfig.from_preset(name), tokenizer=tokenizer,
                                       **image_processor_kwargs)


__all__ = ["PRESETS", "PRESET_SPECS", "SHIPPED_BASE_VOCAB_SIZE", "config_from_preset", "processor_from_model_config",
           "processor_from_preset", "update_config_dict"]
