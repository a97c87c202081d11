"""The learned band adapter: N-band 8-bit views -> the 3 channels the pretrained towers take (issue 35).

With `EarthGPTXConfig.input_bands = N` (not 3), `pixel_values` carry N bands per view and the mixed visual encoder
maps them to 3 channels with a 1x1 convolution before each tower's own normalisation:

    x_3 = W x_N + b      (per pixel; W is 3 x N, b is 3; in 8-bit units, 0-255)

It starts as the band triple `band_adapter_init` (W one-hot on those bands, b = 0), so at initialisation the towers
see exactly the 8-bit values of those three bands, normalised as RGB was: a pretrained model starts where it was.
Training it (the `paper` and `lora` presets do) lets the other bands in. The adapter works on 8-bit bands (uint8
views, as the processor ships them): floating, already normalised views cannot go through it and are refused
(`input_checks.check_visual_inputs`). docs/model.md says when to train it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def band_triple_weight(input_bands: int, bands, dtype=torch.float32) -> torch.Tensor:
    """The adapter weight that selects `bands` (3 band indices): `(3, input_bands, 1, 1)`, row i one-hot on band
    `bands[i]`."""
    weight = torch.zeros(3, input_bands, 1, 1, dtype=dtype)
    for channel, band in enumerate(bands):
        weight[channel, int(band), 0, 0] = 1.0
    return weight


class EarthGPTXBandAdapter(nn.Module):
    """A 1x1 convolution from `config.input_bands` 8-bit bands to 3 channels, initialised to the band triple
    `config.band_adapter_init` (`EarthGPTXPreTrainedModel._init_weights`, `reset_to_band_triple`)."""

    def __init__(self, config):
        super().__init__()
        self.input_bands = int(config.input_bands)
        self.init_bands = tuple(int(band) for band in config.band_adapter_init)
        self.weight = nn.Parameter(band_triple_weight(self.input_bands, self.init_bands))
        self.bias = nn.Parameter(torch.zeros(3))

    @torch.no_grad()
    def reset_to_band_triple(self) -> None:
        """Weight one-hot on `init_bands`, bias 0: the output is those three bands, unchanged."""
        self.weight.copy_(band_triple_weight(self.input_bands, self.init_bands, self.weight.dtype))
        self.bias.zero_()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """`(N, input_bands, H, W)` uint8 bands -> `(N, 3, H, W)` float32 in 8-bit units (0-255 for the triple at
        initialisation), computed in float32 whatever the adapter's dtype (exact for the one-hot triple)."""
        return F.conv2d(pixels.to(torch.float32), self.weight.to(torch.float32), self.bias.to(torch.float32))

    def extra_repr(self) -> str:
        return f"input_bands={self.input_bands}, init_bands={list(self.init_bands)}"


__all__ = ["EarthGPTXBandAdapter", "band_triple_weight"]
