"""Pixel perception (paper Eq. 13): [PIX] hidden state -> mask.

    R_lp: language-to-pixel projection, an MLP H -> H -> C_sam (LISA's `text_hidden_fcs`).
    G:    grounding encoder, SAM's ViT on the square SAM view (`grounding_model.vision_encoder`).
    P:    pixel decoder, SAM's mask decoder, prompted with R_lp(h_[PIX]) as a sparse prompt embedding and, added to
          SAM's no-mask embedding, as the dense prompt (a decoder trained from scratch ignores the sparse token alone;
          docs/model.md).

The grounding model is transformers' `SamModel`, so SAM checkpoints load into it unchanged. The block belongs to
`EarthGPTXForConditionalGeneration` (the mask head), not to `EarthGPTXModel`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import SamModel

from .configuration_earthgptx import EarthGPTXConfig
from .pretrained_earthgptx import EarthGPTXTowerBlock


class EarthGPTXPixelPerception(EarthGPTXTowerBlock):
    def __init__(self, config: EarthGPTXConfig):
        super().__init__()
        hidden = config.text_config.hidden_size
        prompt_width = config.grounding_config.prompt_encoder_config.hidden_size
        self.text_to_pixel = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, prompt_width)
        )
        self.grounding_model = SamModel(config.grounding_config)
        self.expose_tower_properties()

    @property
    def low_res_mask_size(self) -> int:
        """Side of the masks the pixel decoder returns (4x the grounding encoder's embedding grid)."""
        return 4 * self.grounding_model.config.prompt_encoder_config.image_embedding_size

    def encode_image(self, sam_pixel_values: torch.Tensor) -> torch.Tensor:
        """G: `(B, 3, S, S)` -> image embeddings `(B, C_sam, S/16, S/16)`."""
        dtype = self.grounding_model.vision_encoder.get_input_embeddings().projection.weight.dtype
        return self.grounding_model.vision_encoder(sam_pixel_values.to(dtype))[0]

    def predict_masks(
        self,
        hidden_states: torch.Tensor,
        positions: list[torch.Tensor],
        sam_pixel_values: torch.Tensor,
        image_index: torch.Tensor | list[int] | None = None,
    ) -> list[torch.Tensor]:
        """Eq. (13) for the given positions.

        Args:
            hidden_states: `(N, S, H)` final hidden states of N sequences.
            positions: per sequence, the positions whose hidden state predicts a [PIX].
            sam_pixel_values: `(B, 3, S_sam, S_sam)` SAM views of the B images.
            image_index: `(N,)` the image of each sequence (default: sequence i shows image i). The grounding
                encoder runs once per image that some sequence needs, however many sequences share it.

        Returns:
            per sequence, `(n_pix, h, w)` mask logits in the SAM view's frame.
        """
        size = self.low_res_mask_size
        masks = [hidden_states.new_zeros((0, size, size)) for _ in positions]
        with_pix = [i for i, pos in enumerate(positions) if pos.numel() > 0]
        if not with_pix:
            return masks
        index = list(range(len(positions))) if image_index is None else [int(i) for i in image_index]
        if len(index) != len(positions):
            raise ValueError(f"image_index has {len(index)} entries for {len(positions)} sequences.")
        images = sorted({index[i] for i in with_pix})
        embeddings = self.encode_image(sam_pixel_values[images])
        slot = {image: k for k, image in enumerate(images)}
        decoded = self.decode_masks(
            [hidden_states[i, positions[i]] for i in with_pix], embeddings[[slot[index[i]] for i in with_pix]]
        )
        for i, mask in zip(with_pix, decoded):
            masks[i] = mask
        return masks

    def decode_masks(self, pix_hidden_states: list[torch.Tensor], image_embeddings: torch.Tensor) -> list[torch.Tensor]:
        """R_lp and P.

        Args:
            pix_hidden_states: per image, `(n_i, H)` last-layer hidden states of the positions that predict [PIX].
            image_embeddings: `(B, C_sam, e, e)` from `encode_image`, one row per entry of `pix_hidden_states`.

        Returns:
            per image, `(n_i, 4e, 4e)` mask logits in the frame of the SAM view.
        """
        sam = self.grounding_model
        size = self.low_res_mask_size
        positional = sam.get_image_wide_positional_embeddings()
        dense = sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        masks = []
        for index, hidden in enumerate(pix_hidden_states):
            if hidden.shape[0] == 0:
                masks.append(image_embeddings.new_zeros((0, size, size)))
                continue
            count = hidden.shape[0]
            embedding = image_embeddings[index : index + 1].expand(count, -1, -1, -1)  # one decoder row per [PIX]
            prompt = self.text_to_pixel(hidden.to(next(self.text_to_pixel.parameters()).dtype)).to(embedding.dtype)
            logits, _ = sam.mask_decoder(
                image_embeddings=embedding,
                image_positional_embeddings=positional.to(embedding.dtype).expand(count, -1, -1, -1),
                sparse_prompt_embeddings=prompt[:, None, None, :],  # (n, 1, 1, C): one sparse prompt per row
                # and on every image position, so that the mask depends on the prompt from the first step
                dense_prompt_embeddings=dense.to(embedding.dtype) + prompt[:, :, None, None],
                multimask_output=False,
            )
            masks.append(logits[:, 0, 0])
        return masks


def mask_losses(pred_logits: torch.Tensor, gt_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mask averaged BCE and Dice losses (LISA's `sigmoid_ce_loss` and `dice_loss`).

    Args:
        pred_logits: `(N, h, w)` mask logits; resized (bilinear) to the ground truth's size when they differ.
        gt_masks: `(N, H, W)` binary ground truth in the frame of the SAM view.
    """
    pred_logits = pred_logits.float()
    gt = gt_masks.to(pred_logits.device, torch.float32)
    if pred_logits.shape[-2:] != gt.shape[-2:]:
        pred_logits = F.interpolate(pred_logits[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[
            :, 0
        ]
    bce = F.binary_cross_entropy_with_logits(pred_logits, gt, reduction="none").flatten(1).mean(1).mean()
    prob = pred_logits.sigmoid().flatten(1)
    gt = gt.flatten(1)
    scale, eps = 1000.0, 1e-6
    numerator = 2 * (prob / scale * gt).sum(-1)
    denominator = (prob / scale).sum(-1) + (gt / scale).sum(-1)
    dice = (1 - (numerator + eps) / (denominator + eps)).mean()
    return bce, dice


__all__ = ["EarthGPTXPixelPerception", "mask_losses"]
