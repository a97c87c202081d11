"""Named, tested conversion of CLIP-ConvNeXt weights from open_clip / timm key layout into transformers' `ConvNextModel`.

open_clip's ConvNeXt towers (e.g. `convnext_large_d_320`, the CLIP-ConvNeXt-L of SPHINX and EarthGPT-X) wrap a timm
`ConvNeXt` trunk under `visual.trunk.`. The mapping per timm name:

    stem.0                       -> embeddings.patch_embeddings          (4x4 stride-4 conv)
    stem.1                       -> embeddings.layernorm                 (LayerNorm2d)
    stages.i.downsample.0 / .1   -> encoder.stages.i.downsampling_layer.0 / .1   (LayerNorm2d, 2x2 conv)
    stages.i.blocks.j.conv_dw    -> encoder.stages.i.layers.j.dwconv
    stages.i.blocks.j.norm       -> encoder.stages.i.layers.j.layernorm
    stages.i.blocks.j.mlp.fc1/2  -> encoder.stages.i.layers.j.pwconv1/2   (1x1 conv weights are flattened)
    stages.i.blocks.j.gamma      -> encoder.stages.i.layers.j.layer_scale_parameter
    head.norm / norm_pre         -> layernorm                             (final norm)

Everything else (the CLIP projection head `visual.head.*`, the text tower, `logit_scale`) is returned as unused.
"""

from __future__ import annotations

import os
import re

import torch

OPEN_CLIP_PREFIXES = ("visual.trunk.", "trunk.", "")

_RULES = (
    (r"^stem\.0\.", "embeddings.patch_embeddings."),
    (r"^stem\.1\.", "embeddings.layernorm."),
    (r"^stages\.(\d+)\.downsample\.(\d)\.", r"encoder.stages.\1.downsampling_layer.\2."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.", r"encoder.stages.\1.layers.\2.dwconv."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.norm\.", r"encoder.stages.\1.layers.\2.layernorm."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.", r"encoder.stages.\1.layers.\2.pwconv1."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.", r"encoder.stages.\1.layers.\2.pwconv2."),
    (r"^stages\.(\d+)\.blocks\.(\d+)\.gamma$", r"encoder.stages.\1.layers.\2.layer_scale_parameter"),
    (r"^(head\.norm|norm_pre)\.", "layernorm."),
)


def convert_open_clip_convnext_state_dict(
    state_dict: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Renames an open_clip / timm ConvNeXt state dict into `ConvNextModel` keys.

    Args:
        state_dict: a whole open_clip CLIP state dict (`visual.trunk.*` keys), a `trunk.*` dict, or a bare timm
            ConvNeXt state dict.

    Returns:
        `(converted, unused)`: the `ConvNextModel` state dict and the input keys that were not converted.
    """
    prefix = next((p for p in OPEN_CLIP_PREFIXES if p and any(k.startswith(p) for k in state_dict)), "")
    converted, unused = {}, []
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            unused.append(key)
            continue
        name = key[len(prefix):]
        for pattern, replacement in _RULES:
            if re.search(pattern, name):
                new_name = re.sub(pattern, replacement, name)
                if re.search(r"pwconv[12]\.weight$", new_name) and value.ndim == 4:
                    value = value.flatten(1)  # timm `conv_mlp=True` stores the MLP as 1x1 convs
                converted[new_name] = value
                break
        else:
            unused.append(key)
    if not converted:
        raise ValueError(
            "No ConvNeXt weights found in state_dict: expected timm keys such as 'stem.0.weight' or "
            f"'stages.0.blocks.0.conv_dw.weight', optionally under one of the prefixes {OPEN_CLIP_PREFIXES[:-1]}."
        )
    return converted, unused


def checkpoint_depths(converted: dict) -> list[int]:
    """Blocks per stage of a converted state dict (its `encoder.stages.{i}.layers.{j}` keys)."""
    depths: dict[int, int] = {}
    for key in converted:
        found = re.match(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.", key)
        if found:
            stage, block = int(found.group(1)), int(found.group(2))
            depths[stage] = max(depths.get(stage, 0), block + 1)
    return [depths.get(i, 0) for i in range(max(depths, default=-1) + 1)]


def load_open_clip_convnext(checkpoint: str | os.PathLike | dict, config) -> torch.nn.Module:
    """Builds a transformers `ConvNextModel` for `config` and loads an open_clip / timm checkpoint into it.

    Args:
        checkpoint: a state dict, or a path to a `.safetensors` or `.bin`/`.pt` file (loaded with
            `weights_only=True`).
        config: the matching `ConvNextConfig` (depths and widths must agree with the checkpoint).

    Raises:
        ValueError: when a `ConvNextModel` weight is missing from the checkpoint or has another shape, or the
            checkpoint has weights the model has not (more stages or blocks than `config`).
    """
    from transformers import ConvNextModel

    if not isinstance(checkpoint, dict):
        path = os.fspath(checkpoint)
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            checkpoint = load_file(path)
        else:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            checkpoint = checkpoint.get("state_dict", checkpoint)
    converted, _ = convert_open_clip_convnext_state_dict(checkpoint)
    model = ConvNextModel(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    wrong = sorted(k for k in set(expected) & set(converted) if expected[k].shape != converted[k].shape)
    extra = sorted(set(converted) - set(expected))  # e.g. stages or blocks the config does not have
    if missing or wrong or extra:
        raise ValueError(
            f"The checkpoint (depths={checkpoint_depths(converted)}) does not fit ConvNextModel(depths="
            f"{list(config.depths)}, hidden_sizes={list(config.hidden_sizes)}): missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, wrong shape {wrong[:5]}, not in the model {extra[:5]}"
            f"{'...' if len(extra) > 5 else ''}. Give the config of the checkpoint's architecture."
        )
    model.load_state_dict({k: converted[k] for k in expected})
    return model


__all__ = ["convert_open_clip_convnext_state_dict", "load_open_clip_convnext"]
