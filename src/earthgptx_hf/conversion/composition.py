"""Composition of EarthGPT-X from separately pretrained parts (what the paper's training starts from).

`compose_from_pretrained_parts` reads the configs of a causal LM, DINOv2, (CLIP-)ConvNeXt and SAM checkpoints in
transformers format, refuses parts the composed model could not run (`check_parts`: the part and the field at fault,
before any weight is loaded), builds the EarthGPT-X config around their configs, then loads the parts and puts the
loaded modules into the model as they are (no copy, so peak memory is one model). The parts that exist in no
pretrained checkpoint (channel mix, spatial-aware encoder, hybrid fusion, projectors, language-to-pixel projection)
are created on the meta device and then initialised, as are the embedding rows of the added special tokens.

With the language model's tokenizer (`tokenizer=`, or `return_processor=True`), the special tokens take the ids that
follow the tokenizer's own (`special_token_base`), so that the processor built from that tokenizer and the composed
config agree, also for language models whose embedding has more rows than their tokenizer has ids.
"""

from __future__ import annotations

import os

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, PreTrainedConfig, SamModel
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from ..models.earthgptx.configuration_earthgptx import SPECIAL_TOKENS, EarthGPTXConfig
from ..models.earthgptx.generation_earthgptx import position_limit
from ..models.earthgptx.modeling_earthgptx import NO_HUB_KERNELS

# which sub-config of EarthGPTXConfig each part gives
PART_SUBCONFIGS = {"language_model": "text_config", "dino": "dino_config", "convnext": "convnext_config",
                   "sam": "grounding_config"}
PART_MODEL_TYPES = {"dino": "dinov2", "convnext": "convnext", "sam": "sam"}
# `language_model_kwargs` that also say where the language model's config (and tokenizer) is
SOURCE_KWARGS = ("gguf_file", "revision", "subfolder", "trust_remote_code", "token", "cache_dir", "local_files_only")


def _load(auto_class, source, **kwargs):
    if isinstance(source, torch.nn.Module):
        return source
    return auto_class.from_pretrained(source, **{**NO_HUB_KERNELS, **kwargs})


def _read_config(source, what: str, **kwargs) -> PreTrainedConfig:
    """The config of a part (a loaded model's, or read from its folder / Hub id without loading any weight)."""
    if isinstance(source, torch.nn.Module):
        return source.config
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path, a Hub id or a loaded model, got {type(source).__name__}.")
    try:
        return AutoConfig.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as error:
        raise ValueError(f"{what}={os.fspath(source)!r}: no transformers config could be read there ({error}).") \
            from None


def _part_config(config: PreTrainedConfig) -> dict:
    config = config.to_dict()
    for key in ("architectures", "_name_or_path", "transformers_version", "dtype", "torch_dtype", "auto_map"):
        config.pop(key, None)
    if (config.get("quantization_config") or {}).get("quant_method") == "gguf":
        # transformers dequantises GGUF weights on loading: the part is a plain float model, and a GGUF record left in
        # the config would make the saved EarthGPT-X checkpoint "GGUF-quantised", which transformers cannot save
        config.pop("quantization_config")
    return config


def _side(value) -> int:
    return int(value[0]) if isinstance(value, (list, tuple)) else int(value)


def convnext_output_side(convnext_config, side: int) -> int:
    """Side of ConvNeXt's last feature map for a `side` x `side` view; 0 when a layer gets less input than its kernel.

    The stem is a `patch_size` convolution of stride `patch_size`; every stage after the first starts with a 2 x 2
    convolution of stride 2 (transformers' `ConvNextStage`). E.g. ConvNeXt-L (4 stages) on 224 pixels: 224 // 4 = 56,
    then 28, 14, 7.
    """
    patch = _side(convnext_config.patch_size)
    out = side // patch if side >= patch else 0
    for _ in range(int(convnext_config.num_stages) - 1):
        out = out // 2 if out >= 2 else 0
    return out


def _check_part_types(configs: dict) -> None:
    for name, expected in PART_MODEL_TYPES.items():
        if configs[name].model_type != expected:
            raise ValueError(f"{name} must be a {expected} checkpoint, got model_type={configs[name].model_type!r}.")
    text = configs["language_model"]
    if getattr(text, "is_encoder_decoder", False) or text.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(f"language_model must be a decoder-only causal LM (AutoModelForCausalLM), got model_type="
                         f"{text.model_type!r}.")


def check_parts(configs: dict, reference: EarthGPTXConfig, preset: str) -> None:
    """Refuses parts the composed model cannot run with the geometry of `reference` (the preset with the overrides),
    naming the part and the field: before the EarthGPT-X config is built and before any weight is loaded.

    `configs`: the parts' configs by part name (`PART_SUBCONFIGS`). Checked: the model types; 3-channel towers;
    DINOv2's `patch_size` divides `tile_size` (each view is cut into DINOv2 patches); ConvNeXt's stem and stages leave
    a feature map on a `tile_size` view (a ConvNeXt with more stages than the view allows would fail only when it
    runs, inside a convolution).
    """
    _check_part_types(configs)
    tile, where = reference.tile_size, f"(tile_size of preset {preset!r}, with any override)"
    for name in ("dino", "convnext"):
        channels = configs[name].num_channels
        if channels != 3:
            raise ValueError(f"{name}: num_channels={channels}, but the views are RGB: give a 3-channel {name}.")
    if configs["sam"].vision_config.num_channels != 3:
        raise ValueError(f"sam: vision_config.num_channels={configs['sam'].vision_config.num_channels}, but the SAM "
                         "view is RGB: give a 3-channel SAM.")
    patch = _side(configs["dino"].patch_size)
    if tile % patch:
        raise ValueError(f"dino: patch_size={patch} does not divide the {tile}-pixel views {where}; give a DINOv2 "
                         f"whose patch size divides {tile}, or a tile_size that is a multiple of {patch}.")
    convnext = configs["convnext"]
    if convnext_output_side(convnext, tile) < 1:
        stages, side, fitting = int(convnext.num_stages), tile // _side(convnext.patch_size), 0
        while side >= 1 and fitting < stages:
            fitting, side = fitting + 1, side // 2
        raise ValueError(
            f"convnext: num_stages={stages} (hidden_sizes={list(convnext.hidden_sizes)}) with patch_size="
            f"{_side(convnext.patch_size)} reduces a {tile}-pixel view {where} to nothing: the stem divides it by "
            f"{_side(convnext.patch_size)} and each of the {stages - 1} later stages halves it. The preset's ConvNeXt "
            f"has {reference.convnext_config.num_stages} stages; give a ConvNeXt with at most "
            f"{fitting} stages, or a preset / tile_size with larger views."
        )


def check_language_model_fit(config: EarthGPTXConfig, tokenizer_size: int, embedding_rows: int) -> None:
    """Refuses a language model whose positions cannot hold one image's tokens (the visual tokens and the region
    preamble, `<Region i><region_feat>` for every region), or whose tokenizer has more ids of its own
    (`tokenizer_size`, `special_token_base`) than its embedding has rows."""
    needed = config.num_image_tokens + (2 * config.max_regions if config.use_region_features else 0)
    limit = position_limit(config.text_config)
    if limit is not None and limit < needed:
        raise ValueError(
            f"language_model: max_position_embeddings={config.text_config.max_position_embeddings} (with its RoPE "
            f"scaling: {limit} positions) cannot hold one image: {config.num_image_tokens} visual tokens "
            f"({config.num_views} views x {config.tokens_per_view}) and up to {needed - config.num_image_tokens} "
            "region tokens. Give a language model with a longer context, or fewer / smaller views (tile_grid, "
            "tile_size)."
        )
    if tokenizer_size > embedding_rows:
        raise ValueError(f"language_model: vocab_size={embedding_rows} embedding rows, but its tokenizer has "
                         f"{tokenizer_size} ids: give the tokenizer that belongs to this language model.")


def special_token_base(tokenizer, embedding_rows: int) -> int:
    """The id of `<image>`, the first EarthGPT-X token: right after the tokenizer's own ids (`len(tokenizer)`), or
    where a tokenizer that has the EarthGPT-X tokens already put it; the embedding's row count without a tokenizer."""
    if tokenizer is None:
        return embedding_rows
    if SPECIAL_TOKENS[0] in tokenizer.get_vocab():
        return tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS[0])
    return len(tokenizer)


def load_tokenizer(source, **source_kwargs):
    """The language model's tokenizer: a loaded one as it is; a folder or Hub id through `AutoTokenizer` (with
    `source_kwargs`, e.g. the `gguf_file` in it); a SentencePiece `tokenizer.model` file through the package's
    `load_llama_tokenizer`. A tokenizer without a padding token pads with its unknown (or end-of-sequence) token, as
    the paper preset does."""
    if not isinstance(source, (str, os.PathLike)):
        tokenizer = source
    elif os.path.isfile(source):
        try:  # (kept out of the code copied next to saved checkpoints, which composes nothing)
            from earthgptx_hf.conversion.tokenization import load_llama_tokenizer
        except ImportError as error:
            raise ImportError("A tokenizer.model file needs the earthgptx_hf package installed.") from error
        tokenizer = load_llama_tokenizer(source)
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, **source_kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return tokenizer


def composed_config(preset: str, configs: dict, base_vocab: int, config_overrides: dict) -> EarthGPTXConfig:
    """The EarthGPT-X config of `preset` with the parts' configs as its sub-configs; a disagreement the config finds
    is raised naming the part that gave the sub-config."""
    overrides = dict(config_overrides)
    spatial = dict(overrides.pop("spatial_config", {}) or {})  # its patch grid follows DINOv2's
    text = _part_config(configs["language_model"])
    text.pop("vocab_size", None)  # base_vocab_size + the special tokens
    parts = {key: _part_config(configs[name]) for name, key in PART_SUBCONFIGS.items() if name != "language_model"}
    try:
        return EarthGPTXConfig.from_preset(preset, base_vocab_size=base_vocab, text_config=text,
                                           spatial_config=spatial, **parts, **overrides)
    except ValueError as error:
        given = ", ".join(f"{key} from {name}" for name, key in PART_SUBCONFIGS.items())
        raise ValueError(f"The parts do not fit preset {preset!r}: {error} ({given}.)") from None


def compose_from_pretrained_parts(
    model_class,
    language_model,
    dino,
    convnext,
    sam,
    preset: str = "paper",
    dtype: torch.dtype | None = None,
    language_model_kwargs: dict | None = None,
    tokenizer=None,
    return_processor: bool = False,
    **config_overrides,
):
    """`EarthGPTXForConditionalGeneration.from_pretrained_parts`: builds EarthGPT-X (`model_class`) from separately
    pretrained checkpoints in transformers format.

    Args:
        language_model: any causal LM (path, Hub id or loaded model), e.g. `meta-llama/Llama-2-13b-hf`.
        dino: a DINOv2 checkpoint, e.g. `facebook/dinov2-large`.
        convnext: a ConvNeXt checkpoint in transformers format; convert CLIP-ConvNeXt weights from open_clip with
            `earthgptx_hf.conversion.load_open_clip_convnext` first (and pass the model or its saved folder).
        sam: a SAM checkpoint, e.g. `facebook/sam-vit-huge`.
        preset: the preset whose non-tower settings (image and tile sizes, spatial-aware encoder, fusion width,
            `max_regions`) are used.
        dtype: dtype to load the parts in and to cast the new parts to.
        language_model_kwargs: extra `from_pretrained` arguments for the LLM (e.g. `gguf_file=...`,
            `quantization_config=...`).
        tokenizer: the LLM's tokenizer (loaded, folder, Hub id or `tokenizer.model`); the special tokens then take
            the ids that follow its own. Defaults to `language_model`'s with `return_processor`.
        return_processor: also return the matching `EarthGPTXProcessor` (the tokenizer with `<image>`, `[PIX]`,
            `<region_feat>`, `<Region i>` added, and the image processor of the composed config): `(model,
            processor)`.
        **config_overrides: fields of `EarthGPTXConfig.from_preset` to override.

    Parts the composed model could not run are refused before any weight is loaded, naming the part and the
    field (`check_parts`). The towers keep their pretrained weights unchanged; the new parts (channel
    mix, spatial-aware encoder, hybrid fusion, projectors, R_lp) and the special-token embedding rows are
    initialised. Train them with `model.set_trainable("paper")` (or `"lora"`).

    Returns the model, or `(model, processor)` with `return_processor=True` (the processor is built and checked
    against the config before any weight is loaded).
    """
    lm_kwargs = dict(language_model_kwargs or {})
    lm_source_kwargs = {k: v for k, v in lm_kwargs.items() if k in SOURCE_KWARGS}
    sources = {"language_model": language_model, "dino": dino, "convnext": convnext, "sam": sam}
    configs = {name: _read_config(source, name, **(lm_source_kwargs if name == "language_model" else {}))
               for name, source in sources.items()}
    towers = set(PART_SUBCONFIGS.values()) | {"spatial_config"}
    reference = EarthGPTXConfig.from_preset(preset, **{k: v for k, v in config_overrides.items() if k not in towers})
    check_parts(configs, reference, preset)

    if tokenizer is None and return_processor:
        if not isinstance(language_model, (str, os.PathLike)):
            raise ValueError("return_processor=True with a loaded language_model needs tokenizer= (its tokenizer, or "
                             "the folder or Hub id it was loaded from).")
        tokenizer = load_tokenizer(language_model, **lm_source_kwargs)  # where the language model is
    elif tokenizer is not None:
        tokenizer = load_tokenizer(tokenizer)
    rows = (language_model.get_input_embeddings().weight.shape[0] if isinstance(language_model, torch.nn.Module)
            else configs["language_model"].vocab_size)
    base = special_token_base(tokenizer, rows)
    config = composed_config(preset, configs, base, config_overrides)
    check_language_model_fit(config, base, rows)
    processor = _processor(config, tokenizer) if return_processor else None

    lm = _load(AutoModelForCausalLM, language_model, dtype=dtype, **lm_kwargs)
    parts = [_load(AutoModel, dino, dtype=dtype), _load(AutoModel, convnext, dtype=dtype),
             _load(SamModel, sam, dtype=dtype)]
    model = _assemble(model_class, config, lm, *parts, base_vocab=base, dtype=dtype)
    return (model, processor) if return_processor else model


def _processor(config: EarthGPTXConfig, tokenizer):
    """The `EarthGPTXProcessor` of `config` around `tokenizer` (EarthGPT-X tokens added; ids checked)."""
    try:  # (kept out of the code copied next to saved checkpoints, which composes nothing)
        from earthgptx_hf.models.earthgptx import EarthGPTXProcessor
    except ImportError as error:
        raise ImportError("return_processor=True needs the earthgptx_hf package installed.") from error
    return EarthGPTXProcessor.from_model_config(config, tokenizer=tokenizer)


def _assemble(model_class, config, lm, dino, convnext, sam, base_vocab: int, dtype):
    """The model of `config` around the loaded parts, with the new parts and special-token rows initialised."""
    if lm.get_input_embeddings().weight.shape[0] != base_vocab:
        # a padded embedding whose last rows no token uses: the special tokens follow the tokenizer's ids instead
        lm.resize_token_embeddings(base_vocab)
    # Rows for <image>, [PIX], <region_feat>, <Region 1..K> (initialised by transformers' mean resizing).
    lm.resize_token_embeddings(config.text_config.vocab_size, mean_resizing=True)

    with torch.device("meta"):
        model = model_class(config)
    inner = model.model
    inner.language_model = lm.get_decoder()
    model.lm_head = lm.get_output_embeddings()
    inner.vision_tower.dino = dino
    inner.vision_tower.convnext = convnext
    model.pixel_perception.grounding_model = sam

    device = lm.get_input_embeddings().weight.device
    for part in (lm, dino, convnext, sam):
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
