"""Mixed visual encoder (paper Eq. 1): V_img = Mix(DINOv2(I_v), CLIP-ConvNeXt(I_v)) for every view I_v.

SPHINX lineage (our decision, SPEC section 2.2): per view, the ConvNeXt feature map is resized to the DINOv2 patch
grid and concatenated on channels with the DINOv2 patch tokens; one Linear + LayerNorm mixes the channels.
Each tower's input is normalised here from the processor's uint8 views, with the config's statistics
(`visual_inputs`). With `config.input_bands` other than 3, the learned band adapter (`band_adapter`) first maps the
N 8-bit bands of each view to 3 channels in 8-bit units, which are then normalised for each tower as RGB is.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel
from transformers.modeling_outputs import BaseModelOutput

from .band_adapter import EarthGPTXBandAdapter
from .configuration_earthgptx import EarthGPTXConfig
from .pretrained_earthgptx import EarthGPTXTowerBlock
from .visual_inputs import normalise_pixel_units, normalise_pixels, renormalise


def resize_feature_map_to_grid(feature_map: torch.Tensor, grid: int) -> torch.Tensor:
    """Resizes a convolutional feature map to a square token grid.

    Args:
        feature_map: `(N, C, h, w)`.
        grid: side of the target grid (the DINOv2 patch grid).

    Returns:
        `(N, grid * grid, C)` tokens in row-major order, matching ViT patch order.
    """
    if feature_map.shape[-2:] != (grid, grid):
        feature_map = F.interpolate(feature_map, size=(grid, grid), mode="bilinear", align_corners=False)
    return feature_map.flatten(2).transpose(1, 2)


class EarthGPTXMixedVisualEncoder(EarthGPTXTowerBlock):
    """DINOv2 + CLIP-ConvNeXt, both transformers' own classes, followed by the channel mix of Eq. (1)."""

    def __init__(self, config: EarthGPTXConfig):
        super().__init__()
        # N-band input (input_bands != 3): a 1x1 convolution to the towers' 3 channels, before their normalisation
        self.band_adapter = EarthGPTXBandAdapter(config) if config.input_bands != 3 else None
        self.dino = AutoModel.from_config(config.dino_config)
        # ConvNeXt has no attention layer: it always runs "eager", whatever the rest of the model uses (e.g. sdpa).
        self.convnext = AutoModel.from_config(config.convnext_config, attn_implementation="eager")
        self.grid = config.patches_per_side
        in_features = config.dino_config.hidden_size + config.convnext_config.hidden_sizes[-1]
        self.channel_mix = nn.Linear(in_features, config.hybrid_fusion_config.hidden_size)
        self.mix_norm = nn.LayerNorm(config.hybrid_fusion_config.hidden_size, eps=config.hybrid_fusion_config.layer_norm_eps)
        self.dino_statistics = (tuple(config.image_mean), tuple(config.image_std))
        self.convnext_statistics = (tuple(config.convnext_image_mean), tuple(config.convnext_image_std))
        self.expose_tower_properties()

    def forward(self, pixel_values: torch.Tensor, convnext_pixel_values: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, output_attentions: bool | None = None) -> BaseModelOutput:
        """
        Args:
            pixel_values: `(N, 3, T, T)` views: uint8 8-bit pixels (the processor's), normalised here for each tower,
                or floating, already normalised for DINOv2. With the band adapter, `(N, input_bands, T, T)` uint8.
            convnext_pixel_values: `(N, 3, T, T)` the same views for CLIP-ConvNeXt (uint8, or floating normalised
                with CLIP statistics); `None` derives them from `pixel_values` (`visual_inputs.renormalise`). With
                the band adapter, uint8 bands like `pixel_values`, through the same adapter.

            output_hidden_states, output_attentions: also return DINOv2's hidden states (embeddings and every layer)
                and attentions (the ViT of the pair; ConvNeXt has no attention and one output per stage).

        Returns:
            `last_hidden_state`: `V_img`, `(N, grid * grid, D_v)`; `hidden_states`, `attentions`: DINOv2's, when asked.
        """
        dtype = self.channel_mix.weight.dtype
        if self.band_adapter is not None:  # 8-bit bands -> 3 channels in 8-bit units, then each tower's statistics
            rgb = self.band_adapter(pixel_values)
            convnext_rgb = rgb if convnext_pixel_values is None else self.band_adapter(convnext_pixel_values)
            pixel_values = normalise_pixel_units(rgb, *self.dino_statistics, dtype)
            convnext_input = normalise_pixel_units(convnext_rgb, *self.convnext_statistics, dtype)
        elif convnext_pixel_values is None:
            convnext_input = renormalise(pixel_values, self.dino_statistics, self.convnext_statistics, dtype)
        else:
            convnext_input = normalise_pixels(convnext_pixel_values, *self.convnext_statistics, dtype)
        if self.band_adapter is None:
            pixel_values = normalise_pixels(pixel_values, *self.dino_statistics, dtype)
        # DINOv2 returns [CLS] (+ registers) then the patch tokens; keep the last grid*grid tokens.
        requested = {name: value for name, value in (("output_hidden_states", output_hidden_states),
                                                     ("output_attentions", output_attentions)) if value is not None}
        dino = self.dino(pixel_values=pixel_values, **requested)  # unset: DINOv2's config decides
        dino_tokens = dino.last_hidden_state[:, -self.grid * self.grid :]
        convnext_map = self.convnext(pixel_values=convnext_input).last_hidden_state
        convnext_tokens = resize_feature_map_to_grid(convnext_map, self.grid).to(dino_tokens.dtype)
        # Eq. (1): channel-wise concatenation, then the channel mix.
        mixed = self.mix_norm(self.channel_mix(torch.cat([dino_tokens, convnext_tokens], dim=-1)))
        return BaseModelOutput(last_hidden_state=mixed, hidden_states=dino.hidden_states, attentions=dino.attentions)


__all__ = ["EarthGPTXMixedVisualEncoder", "resize_feature_map_to_grid"]
