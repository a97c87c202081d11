"""Builders of tiny-model inputs with the exact layout the processor produces (no processor needed)."""

from __future__ import annotations

import torch

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration


def tiny_config(**overrides) -> EarthGPTXConfig:
    return EarthGPTXConfig.from_preset("tiny", **overrides)


def tiny_model(seed: int = 0, **overrides) -> EarthGPTXForConditionalGeneration:
    torch.manual_seed(seed)
    return EarthGPTXForConditionalGeneration(tiny_config(**overrides)).eval()


def box_map(tile: int, x0: int, y0: int, x1: int, y1: int) -> torch.Tensor:
    m = torch.zeros(tile, tile)
    m[y0:y1, x0:x1] = 1.0
    return m


def sample_ids(config: EarthGPTXConfig, num_prompts: int, text: list[int], answer: list[int] | None = None):
    """`<s> <image>*N <Region i><region_feat>... text [answer]` as token ids; returns (ids, answer_start)."""
    ids = [config.text_config.bos_token_id] + [config.image_token_id] * config.num_image_tokens
    for i in range(num_prompts):
        ids += [config.region_token_ids[i], config.region_feature_token_id]
    ids += text
    start = len(ids)
    if answer:
        ids += answer
    return ids, start


def visual_inputs(config: EarthGPTXConfig, num_prompts: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random views and one box map per prompt (different place per prompt), plus the SAM view."""
    g = torch.Generator().manual_seed(seed)
    batch, views, tile = len(num_prompts), config.num_views, config.tile_size
    pixel_values = torch.randn(batch, views, 3, tile, tile, generator=g)
    prompt_maps = torch.zeros(batch, views, config.max_regions, tile, tile)  # the processor's layout
    for b, n in enumerate(num_prompts):
        for k in range(n):
            x0 = (3 + 5 * k) % (tile - 6)
            prompt_maps[b, :, k] = box_map(tile, x0, 2 + k, x0 + 6, 10 + k)
    sam = config.grounding_image_size
    return {
        "pixel_values": pixel_values,
        "convnext_pixel_values": pixel_values * 0.5,
        "prompt_maps": prompt_maps,
        "sam_pixel_values": torch.randn(batch, 3, sam, sam, generator=g),
    }


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def right_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def training_batch(config: EarthGPTXConfig):
    """Two right-padded samples with answers; sample 0 has one [PIX], sample 1 two. Returns model kwargs."""
    pix = config.pix_token_id
    ids0, s0 = sample_ids(config, 2, [10, 11, 12], [20, 21, pix, 22, 2])
    ids1, s1 = sample_ids(config, 1, [13, 14], [30, pix, 31, pix, 2])
    ids, mask = right_pad([ids0, ids1], 0)
    labels = ids.clone()
    labels[mask == 0] = -100
    labels[0, :s0] = -100
    labels[1, :s1] = -100
    g = torch.Generator().manual_seed(1)
    size = config.grounding_image_size
    gt_masks = (torch.rand(3, size, size, generator=g) > 0.5).float()
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "gt_masks": gt_masks,
            **visual_inputs(config, [2, 1])}
