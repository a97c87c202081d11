"""How prompt i's region feature enters the language model (SPEC 2.4).

- `region_features`: the feature of each prompt, the region projector of its mask-pooled [V-P]_hybrid tokens plus,
  with a `region_position_projector`, a linear embedding of its map on the global view (Osprey's spatial token).
- `place_region_features`: the features replace the `<region_feat>` placeholders of the prompt's preamble.
- `add_region_reference_features`: they are added to every `<Region i>` token, in the prompt and in generated text,
  so that "<Region i>" means the i-th prompt wherever it is written.
- `add_region_next_token_features` (`config.region_feature_next_token`, off by default): they are also added to the
  token right after each `<Region i>` (not its `<region_feat>`). In an answer "<Region i>: class" that token, ":",
  is the position that predicts the class, so the feature is in its own residual stream instead of one attention
  step away, as the `[PIX]` answers "<Region i>[PIX]" have it at `<Region i>` (`data/tasks.py`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .projector import mask_pool_regions


def region_features(hybrid, prompt_maps, grid: int, token_mask, region_projector, region_position_projector,
                    position_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(B, N, D)` fused tokens and `(B, V, K, T, T)` prompt maps -> `(B, K, H)` region features and `(B, K)` pooling
    weights (0: the prompt covers no token; its feature is zeros, not the projectors' biases)."""
    pooled, region_weights = mask_pool_regions(hybrid, prompt_maps, grid, token_mask)
    region_embeds = region_projector(pooled)
    if region_position_projector is not None:  # where the prompt is: its map on the global view
        coarse = F.adaptive_avg_pool2d(prompt_maps[:, 0], position_size).flatten(2)  # (B, K, size * size)
        region_embeds = region_embeds + region_position_projector(coarse.to(region_embeds.dtype))
    return region_embeds * (region_weights > 0)[..., None].to(pooled.dtype), region_weights


def place_region_features(mask, inputs_embeds, region_embeds, region_weights, max_regions: int) -> torch.Tensor:
    """Writes region k's feature at the k-th `<region_feat>` of each sample (`mask`: `(B, S)` bool, True there).
    Refuses more placeholders than `max_regions` and a placeholder whose prompt map is empty in every view."""
    counts = mask.sum(1)
    if counts.max() > max_regions:
        raise ValueError(f"A sample holds {int(counts.max())} <region_feat> tokens but max_regions is {max_regions}.")
    wanted = torch.arange(max_regions, device=counts.device)[None, :] < counts[:, None]
    empty = wanted & (region_weights <= 0)
    if empty.any():
        sample, region = (int(v) for v in torch.nonzero(empty)[0])
        raise ValueError(
            f"Sample {sample} refers to region {region + 1} with a <region_feat> token but prompt map "
            f"{region + 1} is empty in every view: give a prompt for every referenced region."
        )
    return inputs_embeds.masked_scatter(mask[..., None], region_embeds[wanted].to(inputs_embeds.dtype))


def add_region_reference_features(input_ids, inputs_embeds, region_embeds, region_token_ids) -> torch.Tensor:
    """Adds prompt i's region feature to every `<Region i>` token: `(B, S)` ids, `(B, S, H)` embeddings, `(B, K, H)`
    region features, the K ids of `<Region 1>` ... `<Region K>` -> embeddings."""
    region_ids = torch.as_tensor(region_token_ids, device=input_ids.device)
    one_hot = (input_ids[..., None] == region_ids).to(inputs_embeds.dtype)  # (B, S, K)
    return inputs_embeds + torch.einsum("bsk,bkh->bsh", one_hot, region_embeds.to(inputs_embeds.dtype))


def preceding_tokens(input_ids, preceding_token_ids=None) -> torch.Tensor:
    """`(B, S)`: the token before each of `input_ids` `(B, S)`; before the first, `preceding_token_ids` `(B,)` (the
    last token of the cached part, which generation passes) or -1 (no token)."""
    first = torch.full_like(input_ids[:, :1], -1) if preceding_token_ids is None else \
        torch.as_tensor(preceding_token_ids, device=input_ids.device).reshape(-1, 1).to(input_ids.dtype)
    return torch.cat([first, input_ids[:, :-1]], dim=1)


def add_region_next_token_features(input_ids, inputs_embeds, region_embeds, region_token_ids, region_feature_token_id,
                                   preceding_token_ids=None) -> torch.Tensor:
    """Adds prompt i's region feature to the token after every `<Region i>`, unless that token is `<region_feat>`
    (which holds the feature already): `add_region_reference_features` with each token's predecessor as its id."""
    previous = preceding_tokens(input_ids, preceding_token_ids)
    previous = previous.masked_fill(input_ids == region_feature_token_id, -1)
    return add_region_reference_features(previous, inputs_embeds, region_embeds, region_token_ids)


__all__ = ["add_region_next_token_features", "add_region_reference_features", "place_region_features",
           "preceding_tokens", "region_features"]
