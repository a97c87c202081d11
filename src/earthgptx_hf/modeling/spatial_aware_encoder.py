"""Spatial-aware encoder (paper Eq. 2): E_prompt = ViT(V_p).

A randomly initialised ViT (transformers' `ViTModel`) whose input channels are the `max_regions` rasterised prompt
maps of one view (channel i = prompt i) and whose patch grid equals the DINOv2 one, so that prompt token j and image
token j describe the same pixels.
"""

from __future__ import annotations

import torch
from transformers import ViTModel

from .configuration_earthgptx import EarthGPTXConfig
from .pretrained_earthgptx import EarthGPTXTowerBlock


class EarthGPTXSpatialAwareEncoder(EarthGPTXTowerBlock):
    def __init__(self, config: EarthGPTXConfig):
        super().__init__()
        self.vit = ViTModel(config.spatial_config, add_pooling_layer=False)
        self.expose_tower_properties()

    def forward(self, prompt_maps: torch.Tensor) -> torch.Tensor:
        """
        Args:
            prompt_maps: `(N, K, T, T)` prompt maps of N views, values in [0, 1].

        Returns:
            `E_prompt`: `(N, grid * grid, C_s)` patch tokens (the [CLS] token is dropped).
        """
        return self.vit(pixel_values=prompt_maps).last_hidden_state[:, 1:]


__all__ = ["EarthGPTXSpatialAwareEncoder"]
