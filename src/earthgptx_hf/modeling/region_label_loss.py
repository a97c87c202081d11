"""The region-label loss: each region feature, read through the LM head, names its object's class.

Not in the papers (whose towers are pretrained): an auxiliary loss for models trained from random weights, where the
only signal that makes a region feature tell its object from its neighbours reaches the towers through every layer
of the language model, and a small model learns to answer from the modality, the position in the list and the
previous answers instead (docs/real_data_recipe.md, "The region-label loss"). Here the gradient reaches the mask-pooled
feature directly: `lm_head(region_embeds[b, k])` is trained, with cross-entropy, to predict the first token of region
k's class (the token the answer "<Region k>: class" continues with). With tied embeddings this asks the feature to
resemble the class word's embedding; the `<Region k>` tokens carry the feature (SPEC 2.4), so the answer's class
token is then one attention step away. Weighted by `EarthGPTXConfig.region_label_loss_weight` (default 0: off); the
targets are the data collator's `region_labels` (`EarthGPTXDataCollator(region_labels=True)`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

IGNORE_INDEX = -100  # no target: torch's cross-entropy default, transformers' label convention


def region_label_loss(lm_head, region_embeds: torch.Tensor, region_labels: torch.Tensor) -> torch.Tensor | None:
    """Mean cross-entropy of `lm_head(region_embeds)` `(B, K, H)` against `region_labels` `(B, K')` token ids
    (-100: no target; K' <= K, the first K' regions); None when no region has a target."""
    if region_labels.dim() != 2 or region_labels.shape[0] != region_embeds.shape[0] or \
            region_labels.shape[1] > region_embeds.shape[1]:
        raise ValueError(f"region_labels has shape {tuple(region_labels.shape)}; expected (batch, regions) with "
                         f"batch {region_embeds.shape[0]} and at most {region_embeds.shape[1]} regions (max_regions).")
    region_labels = region_labels.to(region_embeds.device)
    wanted = region_labels != IGNORE_INDEX
    if not bool(wanted.any()):
        return None
    features = region_embeds[:, : region_labels.shape[1]][wanted]
    return F.cross_entropy(lm_head(features).float(), region_labels[wanted])


__all__ = ["IGNORE_INDEX", "region_label_loss"]
