"""Checks at the model boundary: every input is refused with a message naming it before the network runs."""

from __future__ import annotations

import torch

from .visual_inputs import packed_width


def pix_predictor_positions(input_ids: torch.Tensor, pix_token_id: int) -> list[torch.Tensor]:
    """Positions whose hidden state predicts a [PIX] token (LISA's contract: the position before each [PIX]).

    Args:
        input_ids: `(B, S)`.

    Returns:
        per sample, a 1-D tensor of positions `t - 1` for every `t` with `input_ids[b, t] == pix_token_id`.
    """
    is_pix = input_ids == pix_token_id
    if is_pix[:, 0].any():
        raise ValueError("A [PIX] token stands at the first position of input_ids: no position predicts it.")
    return [torch.nonzero(row, as_tuple=False).flatten() - 1 for row in is_pix]


def check_finite(**tensors: torch.Tensor | None) -> None:
    """Refuses NaN or inf in visual inputs, once, at the model boundary: they would make every logit NaN and
    `generate()` return padding silently. Raises ValueError naming the input and how many values are not finite."""
    for name, tensor in tensors.items():
        if tensor is None or not tensor.is_floating_point() or tensor.is_meta:  # meta tensors hold no values
            continue
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise ValueError(
                f"{name} holds {bad} NaN or infinite value(s) out of {tensor.numel()}: the model needs finite inputs. "
                "Give the processor the raw image (it maps NaN to nodata) rather than tensors with NaN."
            )


def position_limit(text_config) -> int | None:
    """The longest sequence the language model's positions cover: `max_position_embeddings` (or the RoPE parameters'
    `original_max_position_embeddings` when larger), times the RoPE scaling
    factor when the config scales RoPE to extend the context (`rope_parameters` / `rope_scaling` with a `factor`:
    linear, YaRN, Llama-3, LongRoPE), or None (no limit) for dynamic NTK scaling, which adapts to any length."""
    limit = getattr(text_config, "max_position_embeddings", None)
    rope = getattr(text_config, "rope_parameters", None) or getattr(text_config, "rope_scaling", None) or {}
    if limit is None or not isinstance(rope, dict):
        return limit
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type == "dynamic":
        return None
    original = max(limit, rope.get("original_max_position_embeddings") or 0)
    if rope_type != "default" and rope.get("factor"):
        return max(limit, int(original * float(rope["factor"])))
    return original


def check_sequence_length(config, new_tokens: int, cached_tokens: int = 0, where: str = "input_ids") -> None:
    """Refuses sequences longer than the language model's positions cover (`position_limit`) before the model runs
    (RoPE models would otherwise run on silently, past the positions they were trained for)."""
    limit = position_limit(config.text_config)
    if limit is not None and cached_tokens + new_tokens > limit:
        raise ValueError(
            f"{where} makes a sequence of {cached_tokens + new_tokens} tokens ({cached_tokens} cached + {new_tokens} "
            f"new), longer than the {limit} positions of the language model (max_position_embeddings="
            f"{config.text_config.max_position_embeddings}, times the RoPE scaling factor of rope_parameters if any). "
            "Shorten the text, use fewer views (a smaller image) or fewer new tokens, or extend the context with RoPE "
            "scaling."
        )


def check_pixel_dtype(name: str, tensor: torch.Tensor | None) -> None:
    """The dtype rule of pixel inputs (`visual_inputs`): uint8 (8-bit pixels, the model normalises them) or floating
    (already normalised); anything else is refused naming the input."""
    if tensor is not None and tensor.dtype != torch.uint8 and not tensor.is_floating_point():
        raise ValueError(f"{name} has dtype {tensor.dtype}: give uint8 8-bit pixels (what the processor ships; the "
                         "model normalises them) or floating values already normalised for the tower.")


def check_visual_inputs(config, pixel_values, convnext_pixel_values, prompt_maps, view_mask) -> None:
    """Shapes and dtypes of the processor's visual inputs (`EarthGPTXModel.get_image_features` documents them)."""
    tile, bands = config.tile_size, getattr(config, "input_bands", 3)
    if pixel_values.ndim != 5 or pixel_values.shape[2] != bands or tuple(pixel_values.shape[-2:]) != (tile, tile):
        raise ValueError(
            f"pixel_values must have shape (batch, views, {bands}, {tile}, {tile}) ({bands} bands: the config's "
            f"input_bands={bands}), got {tuple(pixel_values.shape)}."
        )
    batch, views = pixel_values.shape[:2]
    if convnext_pixel_values is not None and convnext_pixel_values.shape != pixel_values.shape:
        raise ValueError(
            f"convnext_pixel_values must have the shape of pixel_values {tuple(pixel_values.shape)}, got "
            f"{tuple(convnext_pixel_values.shape)}."
        )
    check_pixel_dtype("pixel_values", pixel_values)
    check_pixel_dtype("convnext_pixel_values", convnext_pixel_values)
    if bands != 3:
        for name, tensor in (("pixel_values", pixel_values), ("convnext_pixel_values", convnext_pixel_values)):
            if tensor is not None and tensor.dtype != torch.uint8:
                raise ValueError(f"{name} has dtype {tensor.dtype}, but with input_bands={bands} the band adapter "
                                 "takes uint8 8-bit bands (what the processor ships), not values already normalised.")
    if prompt_maps is not None:
        shape, packed = tuple(prompt_maps.shape), packed_width(tile)
        if len(shape) != 5 or shape[:2] != (batch, views) or shape[2] > config.max_regions or \
                shape[3] != tile or shape[4] not in (tile, packed):
            raise ValueError(
                f"prompt_maps must have shape ({batch}, {views}, k, {tile}, {tile}) (batch, views, prompts, tile, "
                f"tile) with k <= max_regions={config.max_regions} to match pixel_values, or ({batch}, {views}, k, "
                f"{tile}, {packed}) bit-packed along the last axis (np.packbits, what the processor ships): channel "
                f"i is the map of prompt i, missing or empty channels are no prompt, got {shape}."
            )
        if shape[4] != tile and prompt_maps.dtype != torch.uint8:
            raise ValueError(f"prompt_maps of shape {shape} are bit-packed (np.packbits) and must be uint8, got "
                             f"{prompt_maps.dtype}.")
    if view_mask is not None and tuple(view_mask.shape) != (batch, views):
        raise ValueError(f"view_mask must have shape ({batch}, {views}), got {tuple(view_mask.shape)}.")


def check_grounding_inputs(config, input_ids, labels, gt_masks, sam_pixel_values) -> None:
    """What the [PIX] mask head needs, refused before the language model runs."""
    if gt_masks is not None and sam_pixel_values is None:
        raise ValueError(
            "gt_masks were given but sam_pixel_values is None: the grounding encoder needs the SAM view of "
            "each image to predict the masks of [PIX] tokens."
        )
    if labels is not None and gt_masks is None and bool((labels == config.pix_token_id).any()):
        raise ValueError(
            "labels contain [PIX] tokens but no grounding inputs were given: pass gt_masks (one per [PIX]) and "
            "sam_pixel_values, or remove [PIX] from the answers."
        )
    if (gt_masks is not None or sam_pixel_values is not None) and input_ids is None:
        raise ValueError("Masks for [PIX] need input_ids to find the [PIX] tokens; inputs_embeds were given.")
    check_pixel_dtype("sam_pixel_values", sam_pixel_values)
    check_finite(sam_pixel_values=sam_pixel_values)


def concat_gt_masks(gt_masks) -> torch.Tensor:
    """`gt_masks` as one `(N, h, w)` tensor (a tensor, or a list of per-sample tensors)."""
    if isinstance(gt_masks, torch.Tensor):
        if gt_masks.ndim != 3:
            raise ValueError(f"gt_masks must be (num_pix, H, W) or a list of such tensors, got shape "
                             f"{tuple(gt_masks.shape)}.")
        return gt_masks
    if isinstance(gt_masks, (list, tuple)):
        parts = [m for m in gt_masks if m is not None and m.shape[0] > 0]
        if not parts:
            return torch.zeros(0, 1, 1)
        return torch.cat([m if m.ndim == 3 else m[None] for m in parts], dim=0)
    raise TypeError(f"gt_masks must be a tensor or a list of tensors, got {type(gt_masks).__name__}.")


__all__ = ["pix_predictor_positions", "check_finite", "check_pixel_dtype", "check_sequence_length", "position_limit",
           "check_visual_inputs", "check_grounding_inputs", "concat_gt_masks"]
