"""Pixel perception (paper Eq. 13): [PIX] hidden state -> mask.

    R_lp: language-to-pixel projection, an MLP H -> H -> C_sam (LISA's `text_hidden_fcs`).
    G:    grounding encoder, SAM's ViT on the square SAM view (`grounding_model.vision_encoder`).
    P:    pixel decoder, SAM's mask decoder, prompted with R_lp(h_[PIX]) as a sparse prompt embedding and, added to
          SAM's no-mask embedding, as the dense prompt (a decoder trained from scratch ignores the sparse token alone;
          docs/model.md). P also predicts each mask's IoU (SAM's IoU head), trained against the true IoU: the
          mask's score. With `multimask_output`, P decodes SAM's 3 candidates and keeps the best by predicted IoU.

The grounding model is transformers' `SamModel`, so SAM checkpoints load into it unchanged. The block belongs to
`EarthGPTXForConditionalGeneration` (the mask head), not to `EarthGPTXModel`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import SamModel

from .configuration_earthgptx import EarthGPTXConfig
from .generation_earthgptx import concat_gt_masks, pix_predictor_positions
from .mixed_visual_encoder import EarthGPTXTowerBlock, mask_pool_regions, sam_view_input

# --------------------------------------------------------------------------------------------------------------------
# How prompt i's region feature enters the language model (SPEC 2.4).
#
# - `region_features`: the feature of each prompt, the region projector of its mask-pooled [V-P]_hybrid tokens plus,
#   with a `region_position_projector`, a linear embedding of its map on the global view (Osprey's spatial token).
# - `place_region_features`: the features replace the `<region_feat>` placeholders of the prompt's preamble.
# - `add_region_reference_features`: they are added to every `<Region i>` token, in the prompt and in generated text,
#   so that "<Region i>" means the i-th prompt wherever it is written.
# - `add_region_next_token_features` (`config.region_feature_next_token`, off by default): they are also added to the
#   token right after each `<Region i>` (not its `<region_feat>`). In an answer "<Region i>: class" that token, ":",
#   is the position that predicts the class, so the feature is in its own residual stream instead of one attention
#   step away, as the `[PIX]` answers "<Region i>[PIX]" have it at `<Region i>` (`data/tasks.py`).


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


# --------------------------------------------------------------------------------------------------------------------
# The region-label loss: each region feature, read through the LM head, names its object's class.
#
# Not in the papers (whose towers are pretrained): an auxiliary loss for models trained from random weights, where the
# only signal that makes a region feature tell its object from its neighbours reaches the towers through every layer
# of the language model, and a small model learns to answer from the modality, the position in the list and the
# previous answers instead (docs/real_data_recipe.md, "The region-label loss"). Here the gradient reaches the mask-pooled
# feature directly: `lm_head(region_embeds[b, k])` is trained, with cross-entropy, to predict the first token of region
# k's class (the token the answer "<Region k>: class" continues with). With tied embeddings this asks the feature to
# resemble the class word's embedding; the `<Region k>` tokens carry the feature (SPEC 2.4), so the answer's class
# token is then one attention step away. Weighted by `EarthGPTXConfig.region_label_loss_weight` (default 0: off); the
# targets are the data collator's `region_labels` (`EarthGPTXDataCollator(region_labels=True)`).


IGNORE_INDEX = -100  # no target: torch's cross-entropy default, transformers' label convention


def add_region_token_features(config, token_ids, inputs_embeds, region_embeds, preceding_token_ids=None):
    """Each prompt's region feature added to its `<Region i>` references and, with `region_feature_next_token`, to
    the token after each (`preceding_token_ids`: the token before `token_ids`, for a continuation)."""
    inputs_embeds = add_region_reference_features(token_ids, inputs_embeds, region_embeds, config.region_token_ids)
    if config.region_feature_next_token:
        inputs_embeds = add_region_next_token_features(token_ids, inputs_embeds, region_embeds,
                                                       config.region_token_ids, config.region_feature_token_id,
                                                       preceding_token_ids)
    return inputs_embeds


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


class EarthGPTXPixelPerception(EarthGPTXTowerBlock):
    def __init__(self, config: EarthGPTXConfig):
        super().__init__()
        hidden = config.text_config.hidden_size
        prompt_width = config.grounding_config.prompt_encoder_config.hidden_size
        self.text_to_pixel = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, prompt_width)
        )
        self.grounding_model = SamModel(config.grounding_config)
        self.sam_statistics = (tuple(config.sam_image_mean), tuple(config.sam_image_std))  # for encode_image
        self.expose_tower_properties()

    @property
    def low_res_mask_size(self) -> int:
        """Side of the masks the pixel decoder returns (4x the grounding encoder's embedding grid)."""
        return 4 * self.grounding_model.config.prompt_encoder_config.image_embedding_size

    def num_candidates(self, multimask_output: bool) -> int:
        """Masks decoded per [PIX]: SAM's multimask candidates with `multimask_output`, else its single mask."""
        return self.grounding_model.config.mask_decoder_config.num_multimask_outputs if multimask_output else 1

    def encode_image(self, sam_pixel_values: torch.Tensor) -> torch.Tensor:
        """G: `(B, 3, S, S)` SAM views -> image embeddings `(B, C_sam, S/16, S/16)`.

        uint8 views (what the processor ships: padded bottom-right with the SAM mean colour) are normalised here with
        the config's `sam_image_mean` / `sam_image_std` and their padding set to 0; floating views are taken as
        already normalised (SAM's convention, padding 0). See `visual_inputs.sam_view_input`."""
        dtype = self.grounding_model.vision_encoder.get_input_embeddings().projection.weight.dtype
        return self.grounding_model.vision_encoder(sam_view_input(sam_pixel_values, *self.sam_statistics, dtype))[0]

    def pix_outputs(self, input_ids, hidden_states, sam_pixel_values, gt_masks, config: EarthGPTXConfig) -> dict:
        """The forward's mask outputs: `pred_masks` and `pred_scores` of the [PIX] tokens in `input_ids` (the best
        candidate of each, `best_candidate`) and, with `gt_masks` (one per [PIX], in reading order), their BCE, Dice
        and IoU losses (`candidate_losses`), unweighted. Empty without `sam_pixel_values` or [PIX] tokens."""
        if sam_pixel_values is None:
            return {}
        positions = pix_predictor_positions(input_ids, config.pix_token_id)
        gt = None
        if gt_masks is not None:
            gt = concat_gt_masks(gt_masks)
            n_pix = sum(int(p.numel()) for p in positions)
            if gt.shape[0] != n_pix:
                raise ValueError(
                    f"gt_masks holds {gt.shape[0]} masks but input_ids hold {n_pix} [PIX] tokens: give exactly one "
                    "mask per [PIX], in reading order."
                )
        if not any(p.numel() for p in positions):
            return {}
        candidates, scores = self.predict_masks(
            hidden_states, positions, sam_pixel_values, multimask_output=config.multimask_output, candidates=True
        )
        best = [best_candidate(m, s) for m, s in zip(candidates, scores)]
        parts = {"pred_masks": [m for m, _ in best], "pred_scores": [s for _, s in best]}
        if gt is not None:
            parts["mask_bce_loss"], parts["mask_dice_loss"], parts["mask_iou_loss"] = candidate_losses(
                torch.cat(candidates, dim=0), torch.cat(scores, dim=0), gt, config.bce_loss_weight,
                config.dice_loss_weight)
        return parts

    def predict_masks(
        self,
        hidden_states: torch.Tensor,
        positions: list[torch.Tensor],
        sam_pixel_values: torch.Tensor | None,
        image_index: torch.Tensor | list[int] | None = None,
        multimask_output: bool = False,
        candidates: bool = False,
        image_embeddings: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Eq. (13) for the given positions.

        Args:
            hidden_states: `(N, S, H)` final hidden states of N sequences.
            positions: per sequence, the positions whose hidden state predicts a [PIX].
            sam_pixel_values: `(B, 3, S_sam, S_sam)` SAM views of the B images.
            image_index: `(N,)` the image of each sequence (default: sequence i shows image i). The grounding
                encoder runs once per image that some sequence needs, however many sequences share it.
            multimask_output, candidates: see `decode_masks`.
            image_embeddings: `(B, C_sam, e, e)` the grounding encoder's output for the B images, computed earlier
                (`encode_image`): the encoder does not run (`sam_pixel_values` may then be None).

        Returns:
            `(masks, scores)`: per sequence, `(n_pix, h, w)` mask logits in the SAM view's frame and `(n_pix,)` the
            IoU the pixel decoder predicts for each (with `candidates`: `(n_pix, k, h, w)` and `(n_pix, k)`).
        """
        size, k = self.low_res_mask_size, self.num_candidates(multimask_output)
        shape = (0, k, size, size) if candidates else (0, size, size)
        masks = [hidden_states.new_zeros(shape) for _ in positions]
        scores = [hidden_states.new_zeros(shape[:-2]) for _ in positions]
        with_pix = [i for i, pos in enumerate(positions) if pos.numel() > 0]
        if not with_pix:
            return masks, scores
        index = list(range(len(positions))) if image_index is None else [int(i) for i in image_index]
        if len(index) != len(positions):
            raise ValueError(f"image_index has {len(index)} entries for {len(positions)} sequences.")
        images = sorted({index[i] for i in with_pix})
        if image_embeddings is not None:
            embeddings, slot = image_embeddings, {image: image for image in images}
        elif sam_pixel_values is None:
            raise ValueError("predict_masks needs sam_pixel_values or image_embeddings to decode masks.")
        else:
            embeddings = self.encode_image(sam_pixel_values[images])
            slot = {image: k for k, image in enumerate(images)}
        decoded_masks, decoded_scores = self.decode_masks(
            [hidden_states[i, positions[i]] for i in with_pix], embeddings[[slot[index[i]] for i in with_pix]],
            multimask_output=multimask_output, candidates=candidates,
        )
        for i, mask, score in zip(with_pix, decoded_masks, decoded_scores):
            masks[i], scores[i] = mask, score
        return masks, scores

    def decode_masks(
        self,
        pix_hidden_states: list[torch.Tensor],
        image_embeddings: torch.Tensor,
        multimask_output: bool = False,
        candidates: bool = False,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """R_lp and P.

        With `multimask_output` (the model passes `config.multimask_output`), SAM's mask decoder returns its
        `num_multimask_outputs` (3) candidates per prompt with their predicted IoU (`iou_scores`), and the candidate
        with the highest predicted IoU is kept, as SAM's predictor does; otherwise its single-mask output (the paper's
        path).

        Args:
            pix_hidden_states: per image, `(n_i, H)` last-layer hidden states of the positions that predict [PIX].
            image_embeddings: `(B, C_sam, e, e)` from `encode_image`, one row per entry of `pix_hidden_states`.
            multimask_output: decode SAM's multimask candidates (False: its single-mask output, the paper's path).
            candidates: keep every candidate (training takes its loss over them).

        Returns:
            `(masks, scores)`: per image, `(n_i, 4e, 4e)` mask logits in the frame of the SAM view and `(n_i,)` their
            predicted IoU; with `candidates`, `(n_i, k, 4e, 4e)` and `(n_i, k)` (k = `num_candidates`).
        """
        sam = self.grounding_model
        size, k = self.low_res_mask_size, self.num_candidates(multimask_output)
        positional = sam.get_image_wide_positional_embeddings()
        dense = sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        masks, scores = [], []
        for index, hidden in enumerate(pix_hidden_states):
            if hidden.shape[0] == 0:
                masks.append(image_embeddings.new_zeros((0, k, size, size)))
                scores.append(image_embeddings.new_zeros((0, k)))
                continue
            count = hidden.shape[0]
            embedding = image_embeddings[index : index + 1].expand(count, -1, -1, -1)  # one decoder row per [PIX]
            prompt = self.text_to_pixel(hidden.to(next(self.text_to_pixel.parameters()).dtype)).to(embedding.dtype)
            logits, iou_scores = sam.mask_decoder(
                image_embeddings=embedding,
                image_positional_embeddings=positional.to(embedding.dtype).expand(count, -1, -1, -1),
                sparse_prompt_embeddings=prompt[:, None, None, :],  # (n, 1, 1, C): one sparse prompt per row
                # and on every image position, so that the mask depends on the prompt from the first step
                dense_prompt_embeddings=dense.to(embedding.dtype) + prompt[:, :, None, None],
                multimask_output=multimask_output,
            )
            masks.append(logits[:, 0])  # (n, k, h, w)
            scores.append(iou_scores[:, 0])  # (n, k)
        if not candidates:
            picked = [best_candidate(m, s) for m, s in zip(masks, scores)]
            masks, scores = [m for m, _ in picked], [s for _, s in picked]
        return masks, scores


def best_candidate(masks: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(n, k, h, w)` candidate logits and `(n, k)` predicted IoU -> `(n, h, w)` and `(n,)`: per row, the candidate
    with the highest predicted IoU (the only one when k = 1)."""
    best = scores.argmax(dim=1)
    rows = torch.arange(masks.shape[0], device=masks.device)
    return masks[rows, best], scores[rows, best]


def _resize_to(pred_logits: torch.Tensor, size) -> torch.Tensor:
    """`(N, h, w)` logits, bilinearly resized to `size` when they differ (float32)."""
    pred_logits = pred_logits.float()
    if pred_logits.shape[-2:] != tuple(size):
        pred_logits = F.interpolate(pred_logits[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return pred_logits


def per_mask_losses(pred_logits: torch.Tensor, gt_masks: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-mask BCE and Dice losses (LISA's `sigmoid_ce_loss` and `dice_loss` before their mean over masks) and the
    true IoU of each binarised prediction (sigmoid > 0.5 against gt > 0.5; 1 when both are empty), detached.

    Args:
        pred_logits: `(N, h, w)` mask logits; resized (bilinear) to the ground truth's size when they differ.
        gt_masks: `(N, H, W)` binary ground truth in the frame of the SAM view.

    Returns:
        `(bce, dice, iou)`, each `(N,)`.
    """
    gt = gt_masks.to(pred_logits.device, torch.float32)
    pred_logits = _resize_to(pred_logits, gt.shape[-2:])
    bce = F.binary_cross_entropy_with_logits(pred_logits, gt, reduction="none").flatten(1).mean(1)
    prob = pred_logits.sigmoid().flatten(1)
    gt = gt.flatten(1)
    scale, eps = 1000.0, 1e-6
    numerator = 2 * (prob / scale * gt).sum(-1)
    denominator = (prob / scale).sum(-1) + (gt / scale).sum(-1)
    dice = 1 - (numerator + eps) / (denominator + eps)
    with torch.no_grad():
        pred, truth = pred_logits.flatten(1) > 0, gt > 0.5  # sigmoid(x) > 0.5 <=> x > 0
        intersection, union = (pred & truth).sum(-1).float(), (pred | truth).sum(-1).float()
        iou = torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))
    return bce, dice, iou


def candidate_losses(
    pred_logits: torch.Tensor, pred_scores: torch.Tensor, gt_masks: torch.Tensor, bce_weight: float,
    dice_weight: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask losses and the IoU-head loss over the k candidates of each [PIX].

    The mask losses are those of the candidate whose weighted loss `bce_weight * BCE + dice_weight * Dice` is
    lowest, so only it learns from the mask (SAM's rule for its multimask output); with k = 1 they are LISA's
    per-mask means. The IoU head learns on every candidate: the MSE between its predicted IoU and the true IoU
    (`per_mask_losses`, detached) of that candidate, SAM's IoU loss.

    Args:
        pred_logits: `(N, k, h, w)` candidate mask logits.
        pred_scores: `(N, k)` predicted IoU.
        gt_masks: `(N, H, W)` ground truth.

    Returns:
        `(bce, dice, iou_loss)`, unweighted means over the N masks (the IoU loss over the N * k candidates).
    """
    count, k = pred_logits.shape[:2]
    gt = gt_masks.to(pred_logits.device).repeat_interleave(k, dim=0)
    bce, dice, iou = (v.reshape(count, k) for v in per_mask_losses(pred_logits.flatten(0, 1), gt))
    best = (bce_weight * bce + dice_weight * dice).detach().argmin(dim=1, keepdim=True)
    iou_loss = F.mse_loss(pred_scores.float(), iou)
    return bce.gather(1, best).mean(), dice.gather(1, best).mean(), iou_loss


def total_loss(config, lm_loss, pixel: dict, region_loss=None):
    """The training objective: `ce_loss_weight` x the LM loss, plus (with ground-truth masks) `bce_loss_weight` x BCE
    + `dice_loss_weight` x Dice + `iou_loss_weight` x the score's MSE of the [PIX] masks (LISA's 1.0 / 2.0 / 0.5),
    plus `region_label_loss_weight` x the region-label loss when given. None without an LM loss."""
    if lm_loss is None:
        return None
    loss = config.ce_loss_weight * lm_loss
    if region_loss is not None:
        loss = loss + config.region_label_loss_weight * region_loss
    if "mask_bce_loss" in pixel:
        loss = loss + config.bce_loss_weight * pixel["mask_bce_loss"] + \
            config.dice_loss_weight * pixel["mask_dice_loss"] + config.iou_loss_weight * pixel["mask_iou_loss"]
    return loss


__all__ = ["add_region_token_features", "total_loss", "add_region_next_token_features", "add_region_reference_features", "place_region_features",
           "preceding_tokens", "region_features", "IGNORE_INDEX", "region_label_loss", "EarthGPTXPixelPerception",
           "best_candidate", "candidate_losses", "per_mask_losses"]
