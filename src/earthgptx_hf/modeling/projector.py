"""Vision-to-language projector F_vl-p (paper Eq. 8) and region feature pooling (SPEC section 2.4)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers.activations import ACT2FN


class EarthGPTXMultiModalProjector(nn.Module):
    """Eq. (8): H_v = F_vl-p([V-P]_hybrid), a two-layer MLP from the visual width to the LLM width."""

    def __init__(self, in_features: int, out_features: int, act: str = "gelu"):
        super().__init__()
        self.linear_1 = nn.Linear(in_features, out_features)
        self.act = ACT2FN[act]
        self.linear_2 = nn.Linear(out_features, out_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(hidden_states)))


def mask_pool_regions(
    features: torch.Tensor, prompt_maps: torch.Tensor, grid: int, token_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask-pooled feature of every prompt (Osprey / GPT4RoI style).

    Args:
        features: `(B, V * grid * grid, D)` visual tokens of each image (views in order, row-major patches).
        prompt_maps: `(B, V, K, T, T)` prompt maps of every view.
        grid: patch grid side.
        token_mask: `(B, V * grid * grid)` bool, False for tokens of padding views.

    Returns:
        `(B, K, D)` pooled features (weighted by how much of each patch the prompt covers, over every view) and
        `(B, K)` total weights (0 where a prompt covers no patch).
    """
    batch, views, regions = prompt_maps.shape[:3]
    weights = F.adaptive_avg_pool2d(prompt_maps.flatten(0, 1).float(), grid)  # (B*V, K, g, g)
    weights = weights.view(batch, views, regions, grid * grid).permute(0, 2, 1, 3).reshape(batch, regions, -1)
    if token_mask is not None:
        weights = weights * token_mask[:, None, :].to(weights.dtype)
    total = weights.sum(-1)
    pooled = torch.einsum("bkl,bld->bkd", weights.to(features.dtype), features)
    pooled = pooled / total.clamp_min(1e-6)[..., None].to(features.dtype)
    return pooled, total


__all__ = ["EarthGPTXMultiModalProjector", "mask_pool_regions"]
