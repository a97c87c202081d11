"""The `compose:` section of an `earthgptx-train` config: training starts from a model composed of pretrained parts
(`EarthGPTXForConditionalGeneration.from_pretrained_parts`), with the processor that matches it.

    preset: paper            # the composition's preset; also the training defaults (lr 2e-5, weight decay 0.01)
    trainable: paper         # LLM q/k/v + fusion cross-attention + the parts no checkpoint has
    compose:
      language_model: meta-llama/Llama-2-13b-hf   # any causal LM with its tokenizer: folder or Hub id
      dino: facebook/dinov2-large
      convnext: clip-convnext-large-hf           # open_clip weights converted with load_open_clip_convnext
      sam: facebook/sam-vit-huge
      dtype: bfloat16                            # optional: float32 (default), bfloat16 or float16
      language_model_kwargs: {gguf_file: model.gguf}   # optional: more from_pretrained arguments of the LLM

The tokenizer is the language model's own unless the config's `tokenizer` names another; `config_overrides` applies
to the composed config as it does to a preset's. The section is checked when the arguments are parsed
(`check_compose_section`, from `ModelArguments`), before anything is loaded or trained; parts that do not fit the
preset are refused by the composition, naming the part and the field, before any weight is loaded.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import torch

COMPOSE_PARTS = ("language_model", "dino", "convnext", "sam")
COMPOSE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
COMPOSE_KEYS = COMPOSE_PARTS + ("dtype", "language_model_kwargs")
# keys people may put in the section that have their own field in the config
OWN_FIELDS = {
    "preset": "the config's top-level `preset` is the composition's preset (it also gives the training defaults)",
    "tokenizer": "the config's top-level `tokenizer` replaces the language model's own",
    "config_overrides": "the config's top-level `config_overrides` applies to the composed config",
    "trainable": "the config's top-level `trainable` says what trains",
}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _as_mapping(compose) -> dict:
    if isinstance(compose, str):  # the command line gives JSON
        try:
            compose = json.loads(compose)
        except json.JSONDecodeError as error:
            raise ValueError(f"compose={compose!r} is not valid JSON ({error}); give a mapping of the parts, e.g. "
                             "'{\"language_model\": \"path\", \"dino\": ..., \"convnext\": ..., \"sam\": ...}'.") \
                from None
    if not isinstance(compose, dict):
        raise ValueError(f"compose must be a mapping of the parts {list(COMPOSE_PARTS)} to their folders or Hub ids, "
                         f"got {type(compose).__name__} {compose!r}.")
    return dict(compose)


def _check_part(name: str, value) -> str:
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ValueError(f"compose.{name}={value!r} must be a folder or a Hub id of the {name} checkpoint.")
    value = str(value)
    if not Path(value).exists() and (not HUB_ID.match(value) or value.startswith(".")):
        raise ValueError(f"compose.{name}={value!r} is neither a folder here nor a Hub id (owner/name).")
    return value


def check_compose_section(model_args) -> dict | None:
    """`model_args.compose` checked and normalised (a dict; None without the section): unknown and missing keys are
    refused naming `compose.<key>`, as are a part that is neither a folder here nor a Hub id, a `dtype` other than
    `COMPOSE_DTYPES`, and the fields composition cannot go with (`model_name_or_path`, `quantization`)."""
    if model_args.compose is None:
        return None
    compose = _as_mapping(model_args.compose)
    for key in compose:
        if key in OWN_FIELDS:
            raise ValueError(f"compose.{key}: {OWN_FIELDS[key]}; move it out of the compose section.")
        if key not in COMPOSE_KEYS:
            close = difflib.get_close_matches(key, COMPOSE_KEYS, n=1)
            hint = f" Did you mean compose.{close[0]}?" if close else ""
            raise ValueError(f"compose.{key} is not a compose key; valid: {list(COMPOSE_KEYS)}.{hint}")
    missing = [f"compose.{name}" for name in COMPOSE_PARTS if compose.get(name) is None]
    if missing:
        raise ValueError(f"{missing} missing: composing needs all four parts {list(COMPOSE_PARTS)} (folders or Hub "
                         "ids).")
    for name in COMPOSE_PARTS:
        compose[name] = _check_part(name, compose[name])
    if compose.setdefault("dtype", "float32") not in COMPOSE_DTYPES:
        raise ValueError(f"compose.dtype={compose['dtype']!r}; valid: {list(COMPOSE_DTYPES)}.")
    if not isinstance(compose.setdefault("language_model_kwargs", {}), dict):
        raise ValueError(f"compose.language_model_kwargs={compose['language_model_kwargs']!r} must be a mapping of "
                         "from_pretrained arguments (e.g. {gguf_file: model.gguf}).")
    if model_args.model_name_or_path:
        raise ValueError(f"compose and model_name_or_path={model_args.model_name_or_path!r} both give the starting "
                         "model: keep one (compose builds it from pretrained parts, model_name_or_path loads a saved "
                         "EarthGPT-X checkpoint).")
    if model_args.quantization:
        raise ValueError(f"compose with quantization={model_args.quantization!r} is not supported: compose once, save "
                         "the model, and train from it with model_name_or_path and quantization.")
    return compose


def compose_model(model_args, config_overrides: dict):
    """`(model, processor)` composed from `model_args.compose` (checked by `check_compose_section`) at
    `model_args.preset`, with `config_overrides` and `model_args.tokenizer` (default: the language model's)."""
    from ..models.earthgptx import EarthGPTXForConditionalGeneration

    compose = model_args.compose
    try:
        return EarthGPTXForConditionalGeneration.from_pretrained_parts(
            **{name: compose[name] for name in COMPOSE_PARTS}, preset=model_args.preset,
            dtype=COMPOSE_DTYPES[compose["dtype"]], language_model_kwargs=compose["language_model_kwargs"],
            tokenizer=model_args.tokenizer, return_processor=True, **config_overrides,
        )
    except ValueError as error:
        raise ValueError(f"compose: {error}") from None
