"""Output classes of the EarthGPT-X model, each extending transformers' own output class with our fields."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.generation.utils import GenerateDecoderOnlyOutput
from transformers.modeling_outputs import BaseModelOutputWithPast, BaseModelOutputWithPooling, CausalLMOutputWithPast

from .kv_cache import cache_kwargs, crop_cache, output_cache


@dataclass
class EarthGPTXImageFeatures(BaseModelOutputWithPooling):
    """What `get_image_features` returns; `generate()` keeps it for the prefill as `mm_encoder_outputs["image"]`.

    pooler_output: per image, `(n_i, H)` the projected visual tokens (Eq. 8) of its real views, in placeholder order:
        what the `<image>` tokens receive (transformers' multimodal convention, as in Llava).
    image_embeds: `(B, L, H)` the same tokens for every view, padding views included (L = views * tokens per view).
    hybrid_features: `(B, L, D_v)` [V-P]_hybrid tokens of every view, before the projector.
    token_mask: `(B, L)` bool, False for tokens of padding views.
    region_embeds: `(B, K, H)` projected mask-pooled feature of every prompt (None without region features).
    region_weights: `(B, K)` prompt coverage used for pooling (0 for prompts that cover nothing).
    """

    image_embeds: torch.Tensor | None = None
    hybrid_features: torch.Tensor | None = None
    token_mask: torch.Tensor | None = None
    region_embeds: torch.Tensor | None = None
    region_weights: torch.Tensor | None = None


@dataclass
class EarthGPTXModelOutputWithPast(BaseModelOutputWithPast):
    """`image_hidden_states`: per image, `(n_i, H)` projected visual tokens, when images were given;
    `region_embeds`: `(B, K, H)` the region features added to the `<Region i>` tokens."""

    image_hidden_states: list[torch.Tensor] | None = None
    region_embeds: torch.Tensor | None = None


@dataclass
class EarthGPTXCausalLMOutputWithPast(CausalLMOutputWithPast):
    """transformers' causal-LM output (loss, logits, KV cache, hidden states, attentions) plus:

    loss: weighted sum `ce_loss_weight * lm_loss + bce_loss_weight * mask_bce_loss + dice_loss_weight *
        mask_dice_loss + iou_loss_weight * mask_iou_loss + region_label_loss_weight * region_label_loss` (mask terms
        only when `gt_masks` are given, the region-label term only with its weight set and `region_labels` given).
    lm_loss, mask_bce_loss, mask_dice_loss: the unweighted parts, reported separately.
    region_label_loss: the unweighted cross-entropy of each region feature read through the LM head against the
        first token of its class (`region_label_loss.py`).
    mask_iou_loss: the unweighted MSE between the predicted IoU of each mask (its score) and its true IoU with the
        ground truth (binarised at 0.5, at the ground truth's size; detached).
    image_hidden_states: per image, `(n_i, H)` projected visual tokens, when images were given.
    region_embeds: `(B, K, H)` the region features added to the `<Region i>` tokens.
    pred_masks: per sample, `(n_pix, h, w)` mask logits in the SAM view's frame for every [PIX] in `input_ids`
        (when `sam_pixel_values` are given); with `multimask_output`, the candidate with the best predicted IoU.
    pred_scores: per sample, `(n_pix,)` the IoU the pixel decoder predicts for each mask of `pred_masks`.
    """

    lm_loss: torch.Tensor | None = None
    mask_bce_loss: torch.Tensor | None = None
    mask_dice_loss: torch.Tensor | None = None
    mask_iou_loss: torch.Tensor | None = None
    region_label_loss: torch.Tensor | None = None
    image_hidden_states: list[torch.Tensor] | None = None
    region_embeds: torch.Tensor | None = None
    pred_masks: list[torch.Tensor] | None = None
    pred_scores: list[torch.Tensor] | None = None


@dataclass
class EarthGPTXGenerateOutput(GenerateDecoderOnlyOutput):
    """`generate()` output with masks.

    pred_masks: per returned sequence, `(n_pix, h, w)` mask logits (SAM view frame) for every generated [PIX].
    pred_scores: per returned sequence, `(n_pix,)` each mask's score: the IoU the pixel decoder predicts for it.
    input_index: `(num_sequences,)` the row of the input batch each returned sequence belongs to (with
        `num_return_sequences > 1` several sequences share an image).
    region_embeds: `(num_sequences, K, H)` the region features the `<Region i>` tokens received (None without
        prompts' region features).
    sam_image_embeddings: `(B, C_sam, e, e)` SAM's image embedding of every input image, when it was computed (every
        image produced [PIX]) or given.
    """

    pred_masks: list[torch.Tensor] | None = None
    pred_scores: list[torch.Tensor] | None = None
    input_index: torch.LongTensor | None = None
    region_embeds: torch.Tensor | None = None
    sam_image_embeddings: torch.Tensor | None = None

    def followup_kwargs(self, keep: int | None = None) -> dict:
        """What a follow-up `generate()` about the same images reuses: the KV cache (under the installed
        transformers' name), the region features and SAM's image embedding (when computed). Pass them with the
        follow-up's ids (`EarthGPTXProcessor.next_turn`) instead of the visual inputs; SAM's view is still needed for
        masks when `sam_image_embeddings` is None.

        Args:
            keep: keep only the first `keep` cached positions (the part of the conversation the follow-up shares
                with this one, e.g. when an earlier question is edited); the cache is cropped in place.
        """
        cache = output_cache(self)
        if cache is None:
            raise ValueError("This output holds no KV cache: generate with use_cache=True (the default) to reuse it.")
        if keep is not None:
            crop_cache(cache, keep)
        reuse = {**cache_kwargs(cache), "region_embeds": self.region_embeds,
                 "sam_image_embeddings": self.sam_image_embeddings}
        return {key: value for key, value in reuse.items() if value is not None}


@dataclass
class EarthGPTXGenerateBeamOutput(EarthGPTXGenerateOutput):
    """`generate()` output of beam search and beam sampling (text only: masks need `num_beams=1`), with the fields
    of transformers' `GenerateBeamDecoderOnlyOutput`:

    sequences_scores: `(num_sequences,)` the final beam score of each returned sequence.
    beam_indices: `(num_sequences, length)` the beam each generated token came from.
    """

    sequences_scores: torch.FloatTensor | None = None
    beam_indices: torch.LongTensor | None = None


__all__ = ["EarthGPTXImageFeatures", "EarthGPTXModelOutputWithPast", "EarthGPTXCausalLMOutputWithPast",
           "EarthGPTXGenerateOutput", "EarthGPTXGenerateBeamOutput"]
