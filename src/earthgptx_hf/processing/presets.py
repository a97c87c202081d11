"""Processors that match a model config or a preset (package-only: not part of the code saved with checkpoints)."""

from __future__ import annotations

import os

from ..modeling.configuration_earthgptx import PRESETS, REGION_TOKEN_TEMPLATE, SPECIAL_TOKENS, EarthGPTXConfig
from .image_processing_earthgptx import EarthGPTXImageProcessor
from .tokenization import add_earthgptx_tokens, load_llama_tokenizer, load_shipped_tokenizer


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
