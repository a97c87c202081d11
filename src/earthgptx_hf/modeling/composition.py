"""Composition of EarthGPT-X from separately pretrained parts (what the paper's training starts from).

`compose_from_pretrained_parts` loads a causal LM, DINOv2, (CLIP-)ConvNeXt and SAM checkpoints in transformers
format, builds the EarthGPT-X config around their configs, and puts the loaded modules into the model as they are
(no copy, so peak memory is one model). The parts that exist in no pretrained checkpoint (channel mix, spatial-aware
encoder, hybrid fusion, projectors, language-to-pixel projection) are created on the meta device and then
initialised, as are the embedding rows of the added special tokens.
"""

from __future__ import annotations

import os

import torch
from transformers import AutoModel, AutoModelForCausalLM, SamModel

from .configuration_earthgptx import SPECIAL_TOKENS
from .pretrained_earthgptx import NO_HUB_KERNELS


def _load(auto_class, source, what: str, **kwargs):
    if isinstance(source, torch.nn.Module):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path, a Hub id or a loaded model, got {type(source).__name__}.")
    return auto_class.from_pretrained(source, **{**NO_HUB_KERNELS, **kwargs})


def _part_config(model) -> dict:
    config = model.config.to_dict()
    for key in ("architectures", "_name_or_path", "transformers_version", "dtype", "torch_dtype", "auto_map"):
        config.pop(key, None)
    if (config.get("quantization_config") or {}).get("quant_method") == "gguf":
        # transformers dequantises GGUF weights on loading: the part is a plain float model, and a GGUF record left in
        # the config would make the saved EarthGPT-X checkpoint "GGUF-quantised", which transformers cannot save
        config.pop("quantization_config")
    return config


def compose_from_pretrained_parts(
    model_class,
    language_model,
    dino,
    convnext,
    sam,
    preset: str = "paper",
    dtype: torch.dtype | None = None,
    language_model_kwargs: dict | None = None,
    **config_overrides,
):
    """See `EarthGPTXForConditionalGeneration.from_pretrained_parts`."""
    from .configuration_earthgptx import EarthGPTXConfig

    lm = _load(AutoModelForCausalLM, language_model, "language_model", dtype=dtype, **(language_model_kwargs or {}))
    dino_model = _load(AutoModel, dino, "dino", dtype=dtype)
    convnext_model = _load(AutoModel, convnext, "convnext", dtype=dtype)
    sam_model = _load(SamModel, sam, "sam", dtype=dtype)
    for name, part, expected in (("dino", dino_model, "dinov2"), ("convnext", convnext_model, "convnext"),
                                 ("sam", sam_model, "sam")):
        if part.config.model_type != expected:
            raise ValueError(f"{name} must be a {expected} checkpoint, got model_type={part.config.model_type!r}.")

    base_vocab = lm.get_input_embeddings().weight.shape[0]
    max_regions = config_overrides.get("max_regions", EarthGPTXConfig.from_preset(preset).max_regions)
    text_config = _part_config(lm)
    text_config.pop("vocab_size", None)
    spatial_override = dict(config_overrides.pop("spatial_config", {}) or {})  # its patch grid follows DINOv2's
    config = EarthGPTXConfig.from_preset(
        preset,
        base_vocab_size=base_vocab,
        text_config=text_config,
        dino_config=_part_config(dino_model),
        convnext_config=_part_config(convnext_model),
        grounding_config=_part_config(sam_model),
        spatial_config=spatial_override,
        **config_overrides,
    )
    # Rows for <image>, [PIX], <region_feat>, <Region 1..K> (initialised by transformers' mean resizing).
    lm.resize_token_embeddings(base_vocab + len(SPECIAL_TOKENS) + max_regions, mean_resizing=True)

    with torch.device("meta"):
        model = model_class(config)
    inner = model.model
    inner.language_model = lm.get_decoder()
    model.lm_head = lm.get_output_embeddings()
    inner.vision_tower.dino = dino_model
    inner.vision_tower.convnext = convnext_model
    model.pixel_perception.grounding_model = sam_model

    device = lm.get_input_embeddings().weight.device
    loaded = [lm, dino_model, convnext_model, sam_model]
    for part in loaded:
        for tensor in list(part.parameters()) + list(part.buffers()):
            tensor._is_hf_initialized = True
    for module in model.modules():
        if any(t.is_meta for t in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))):
            module.to_empty(device=device, recurse=False)
    model.initialize_weights()  # initialises only the tensors not flagged `_is_hf_initialized`, i.e. the new parts
    model.tie_weights()
    if dtype is not None:
        model.to(dtype)
    return model
