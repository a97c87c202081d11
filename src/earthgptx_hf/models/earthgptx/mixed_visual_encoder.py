"""Mixed visual encoder (paper Eq. 1): V_img = Mix(DINOv2(I_v), CLIP-ConvNeXt(I_v)) for every view I_v.

SPHINX lineage (our decision, SPEC section 2.2): per view, the ConvNeXt feature map is resized to the DINOv2 patch
grid and concatenated on channels with the DINOv2 patch tokens; one Linear + LayerNorm mixes the channels.
Each tower's input is normalised here from the processor's uint8 views, with the config's statistics
(`visual_inputs`). With `config.input_bands` other than 3, the learned band adapter (`band_adapter`) first maps the
N 8-bit bands of each view to 3 channels in 8-bit units, which are then normalised for each tower as RGB is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, PreTrainedModel, ViTModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_earthgptx import EarthGPTXConfig, EarthGPTXFusionConfig

# Attributes `PreTrainedModel.post_init` gathers from its direct children; a block exposes its towers' under them.
_TOWER_SETS = ("_no_split_modules", "_skip_keys_device_placement", "_keep_in_fp32_modules",
               "_keep_in_fp32_modules_strict", "_keys_to_ignore_on_load_unexpected", "_keys_to_ignore_on_load_missing")


class EarthGPTXTowerBlock(nn.Module):
    """An `nn.Module` block holding transformers towers; call `expose_tower_properties()` at the end of `__init__`.

    The blocks are plain `nn.Module`s (the `DeepseekVLHybrid` layout), not `PreTrainedModel`s holding the composite
    config. `PreTrainedModel.post_init` gathers the towers' properties (tied weights, `_no_split_modules`, fp32
    modules, keys to ignore) from its direct children only, reading them as attributes, so each block exposes its
    towers' under the same attribute names."""

    def expose_tower_properties(self) -> None:
        self.all_tied_weights_keys = {}
        for attribute in _TOWER_SETS:
            setattr(self, attribute, set())
        for name, module in self.named_children():
            if not isinstance(module, PreTrainedModel):
                continue
            tied = getattr(module, "all_tied_weights_keys", None) or {}
            self.all_tied_weights_keys.update({f"{name}.{k}": f"{name}.{v}" for k, v in tied.items()})
            for attribute in _TOWER_SETS:
                getattr(self, attribute).update(getattr(module, attribute, None) or ())


# --------------------------------------------------------------------------------------------------------------------
# The processor's compact visual inputs as the towers take them (docs/performance.md, "Image processor outputs").
#
# The image processor ships 8-bit data and the model does the arithmetic, where it is cheap next to the towers:
#
# - Pixels (`pixel_values`, `convnext_pixel_values`, `sam_pixel_values`): **uint8** tensors are raw 8-bit pixels,
#   normalised here, in float32, with the statistics of the config (`(x - 255 mean) / (255 std)`, then cast to the
#   tower's dtype); **floating** tensors are taken as already normalised for their tower (the transformers convention,
#   and what callers who normalise themselves pass). Without `convnext_pixel_values`, ConvNeXt's input is derived from
#   `pixel_values`: normalised with its own statistics when they are uint8, and by the exact per-channel affine
#   `x_clip = (x_dino * std_dino + mean_dino - mean_clip) / std_clip` when they are floating (DINOv2-normalised).
# - The SAM view (`sam_view_input`): the processor pads it bottom-right with the 8-bit SAM mean colour; the model sets
#   the trailing rows and columns that hold exactly that colour to 0, SAM's padding value after normalisation, so the
#   grounding encoder sees what SAM's own processor gives. (Only an image whose own last rows or columns are entirely
#   that colour would have them set to 0 too, instead of within 0.0082 of 0.)
# - Prompt maps (`prompt_maps`, `(B, V, k, T, T')`): `k` at most `max_regions` channels (channel i = prompt i, the
#   missing channels are prompts that do not exist: zeros), and either one value per pixel (`T' = T`, any dtype, values
#   in [0, 1]) or, as the processor ships them, uint8 bits packed along the last axis by `np.packbits`
#   (`T' = ceil(T / 8)`, most significant bit first).


def _stats(values, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float32, device=like.device).reshape(-1, 1, 1)


def normalise_pixels(pixels: torch.Tensor, mean, std, dtype: torch.dtype) -> torch.Tensor:
    """`(..., 3, H, W)` pixels -> the tower's input in `dtype`: uint8 is normalised with `mean` / `std` (in [0, 1]
    units, as transformers' image processors take them), floating is already normalised and only cast."""
    if pixels.is_floating_point():
        return pixels.to(dtype)
    scale = 255.0 * _stats(std, pixels)  # the processor's former float32 rule, operation for operation
    return pixels.to(torch.float32).sub_(255.0 * _stats(mean, pixels)).div_(scale).to(dtype)


def normalise_pixel_units(pixels: torch.Tensor, mean, std, dtype: torch.dtype) -> torch.Tensor:
    """`(..., 3, H, W)` float32 values in 8-bit units (0-255; the band adapter's output) -> the tower's input in
    `dtype`, `(x - 255 mean) / (255 std)`: what `normalise_pixels` computes for uint8, out of place (autograd)."""
    return ((pixels - 255.0 * _stats(mean, pixels)) / (255.0 * _stats(std, pixels))).to(dtype)


def renormalise(pixel_values: torch.Tensor, source: tuple, target: tuple, dtype: torch.dtype) -> torch.Tensor:
    """Floating pixels normalised with `source` = (mean, std) -> normalised with `target` (exact per-channel
    affine in float32); uint8 pixels are normalised with `target` directly."""
    if not pixel_values.is_floating_point():
        return normalise_pixels(pixel_values, *target, dtype)
    mean_s, std_s, mean_t, std_t = (_stats(values, pixel_values) for values in (*source, *target))
    return (pixel_values.to(torch.float32) * std_s + (mean_s - mean_t)).div_(std_t).to(dtype)


def padding_colour(mean) -> torch.Tensor:
    """The 8-bit padding colour of a mean in [0, 1] units: `round(255 mean)` in float64, half to even, the image
    processor's `mean_colour` (numpy's rule; the saved model code cannot import the processor's, a test pins them)."""
    return torch.round(torch.as_tensor(mean, dtype=torch.float64) * 255).to(torch.uint8)


def sam_view_input(pixels: torch.Tensor, mean, std, dtype: torch.dtype) -> torch.Tensor:
    """`(B, 3, S, S)` SAM views -> the grounding encoder's input: floating views as given (already normalised,
    padding 0); uint8 views normalised, then their trailing rows and columns of the padding colour set to 0."""
    if pixels.is_floating_point():
        return pixels.to(dtype)
    out = normalise_pixels(pixels, mean, std, torch.float32)
    colour = padding_colour(mean).to(pixels.device)[:, None]

    def kept(dim: int) -> torch.Tensor:  # (B, S): 1 up to the last line along `dim` not entirely of the colour, then 0
        padding = ((pixels.amin(dim) == colour) & (pixels.amax(dim) == colour)).all(1)  # (amin/amax: fast kernels)
        return (~padding.flip(-1).to(torch.uint8).cumprod(-1).flip(-1).bool()).to(out.dtype)

    return out.mul_(kept(-1)[:, None, :, None]).mul_(kept(-2)[:, None, None, :]).to(dtype)


def packed_width(tile: int) -> int:
    """Bytes per row of a bit-packed `tile`-wide prompt map (`np.packbits` pads the last byte with zeros)."""
    return -(-tile // 8)


def unpack_prompt_maps(prompt_maps: torch.Tensor, regions: int, tile: int) -> torch.Tensor:
    """`(B, V, k, T, T)` or bit-packed `(B, V, k, T, ceil(T / 8))` uint8 maps -> `(B, V, regions, T, T)` (dtype kept;
    packed maps come out as uint8 {0, 1}), the channels after the k-th zeros. `check_visual_inputs` checks shapes."""
    if prompt_maps.shape[-1] != tile:  # np.packbits(axis=-1): bit 7 of byte j is pixel 8 j
        shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=prompt_maps.device)
        bits = prompt_maps[..., None].bitwise_right_shift(shifts).bitwise_and_(1)
        prompt_maps = bits.flatten(-2)[..., :tile]
    count = prompt_maps.shape[2]
    if count == regions:
        return prompt_maps
    dense = prompt_maps.new_zeros(prompt_maps.shape[:2] + (regions,) + prompt_maps.shape[3:])
    dense[:, :, :count] = prompt_maps
    return dense


# --------------------------------------------------------------------------------------------------------------------
# The learned band adapter: N-band 8-bit views -> the 3 channels the pretrained towers take (issue 35).
#
# With `EarthGPTXConfig.input_bands = N` (not 3), `pixel_values` carry N bands per view and the mixed visual encoder
# maps them to 3 channels with a 1x1 convolution before each tower's own normalisation:
#
#     x_3 = W x_N + b      (per pixel; W is 3 x N, b is 3; in 8-bit units, 0-255)
#
# It starts as the band triple `band_adapter_init` (W one-hot on those bands, b = 0), so at initialisation the towers
# see exactly the 8-bit values of those three bands, normalised as RGB was: a pretrained model starts where it was.
# Training it (the `paper` and `lora` presets do) lets the other bands in. The adapter works on 8-bit bands (uint8
# views, as the processor ships them): floating, already normalised views cannot go through it and are refused
# (`input_checks.check_visual_inputs`). docs/model.md says when to train it.


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


# --------------------------------------------------------------------------------------------------------------------
# Vision-to-language projector F_vl-p (paper Eq. 8) and region feature pooling (SPEC section 2.4).


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


# --------------------------------------------------------------------------------------------------------------------
# Spatial-aware encoder (paper Eq. 2): E_prompt = ViT(V_p).
#
# A randomly initialised ViT (transformers' `ViTModel`) whose input channels are the `max_regions` rasterised prompt
# maps of one view (channel i = prompt i) and whose patch grid equals the DINOv2 one, so that prompt token j and image
# token j describe the same pixels.


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


# --------------------------------------------------------------------------------------------------------------------
# Hybrid fusion (paper Eq. 4-7): mixes image tokens V_img with prompt tokens E_prompt.
#
#     V_sa           = SA(V_img)            Eq. (4)
#     E_ff           = FF(E_prompt)         Eq. (5)
#     H_ca           = CA(V_sa, E_ff)       Eq. (6)
#     [V-P]_hybrid   = SA(H_ca + E_ff)      Eq. (7)
#
# SA and CA are pre-norm transformer blocks (attention + feed-forward, residual connections) over all the visual
# tokens of one image (every view); CA takes its queries from V_sa and its keys and values from E_ff. Attention runs
# through transformers' attention interface (`ALL_ATTENTION_FUNCTIONS`, chosen by `config._attn_implementation`:
# "sdpa", "eager" or a registered kernel), as in transformers' own models. The `cross_attention` block is the "cross-attention
# fusion module" that the paper trains together with the LLM's q/k/v projections.


class EarthGPTXFeedForward(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = ACT2FN[act]
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(hidden_states)))


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention in the attention-interface signature (each transformers model keeps its own).

    `query` `(B, heads, L, d)`, `key`/`value` `(B, heads, S, d)`, `attention_mask` additive `(B, 1, 1, S)`.
    Returns `(B, L, heads, d)` and the attention weights."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class EarthGPTXAttention(nn.Module):
    """Multi-head attention with separate query and key/value inputs (self-attention when they are the same)."""

    is_causal = False  # read by the attention interface

    def __init__(self, config: EarthGPTXFusionConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, queries: torch.Tensor, keys_values: torch.Tensor, key_padding_mask: torch.Tensor | None = None):
        """
        Args:
            queries: `(B, L, D)`; keys_values: `(B, S, D)`.
            key_padding_mask: `(B, S)` bool, True where a key may be attended to.
        """
        q, k, v = self._split(self.q_proj(queries)), self._split(self.k_proj(keys_values)), self._split(
            self.v_proj(keys_values)
        )
        attention_mask = None
        if key_padding_mask is not None:  # additive form: what every attention implementation takes
            blocked = torch.finfo(q.dtype).min
            attention_mask = torch.zeros(key_padding_mask.shape, dtype=q.dtype, device=q.device)
            attention_mask = attention_mask.masked_fill(~key_padding_mask.to(torch.bool), blocked)[:, None, None, :]
        attention_interface: Callable = eager_attention_forward
        if self.config._attn_implementation is not None:  # None: the block is used on its own (eager)
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
        out, _ = attention_interface(
            self, q, k, v, attention_mask, scaling=self.scaling, dropout=self.dropout if self.training else 0.0
        )
        return self.o_proj(out.reshape(queries.shape))


class EarthGPTXFusionBlock(nn.Module):
    """Pre-norm transformer block: x = x + Attn(LN(x), LN(kv)); x = x + FFN(LN(x))."""

    def __init__(self, config: EarthGPTXFusionConfig, cross: bool):
        super().__init__()
        self.cross = cross
        self.norm_q = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.norm_kv = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if cross else None
        self.attention = EarthGPTXAttention(config)
        self.norm_ffn = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = EarthGPTXFeedForward(
            config.hidden_size, config.intermediate_size, config.hidden_size, config.hidden_act
        )

    def forward(self, hidden_states, keys_values=None, key_padding_mask=None):
        queries = self.norm_q(hidden_states)
        keys_values = self.norm_kv(keys_values) if self.cross else queries
        hidden_states = hidden_states + self.attention(queries, keys_values, key_padding_mask)
        return hidden_states + self.ffn(self.norm_ffn(hidden_states))


class EarthGPTXHybridFusion(nn.Module):
    def __init__(self, config: EarthGPTXFusionConfig, prompt_hidden_size: int):
        super().__init__()
        self.image_self_attention = EarthGPTXFusionBlock(config, cross=False)
        self.prompt_feed_forward = EarthGPTXFeedForward(
            prompt_hidden_size, config.intermediate_size, config.hidden_size, config.hidden_act
        )
        self.cross_attention = EarthGPTXFusionBlock(config, cross=True)
        self.hybrid_self_attention = EarthGPTXFusionBlock(config, cross=False)

    def forward(
        self, image_tokens: torch.Tensor, prompt_tokens: torch.Tensor, token_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """
        Args:
            image_tokens: `V_img`, `(B, L, D_v)`: all visual tokens of each image.
            prompt_tokens: `E_prompt`, `(B, L, C_s)`, aligned one-to-one with `image_tokens`.
            token_mask: `(B, L)` bool, False for tokens of padding views (excluded as attention keys).

        Returns:
            `[V-P]_hybrid`, `(B, L, D_v)`.
        """
        v_sa = self.image_self_attention(image_tokens, key_padding_mask=token_mask)  # Eq. (4)
        e_ff = self.prompt_feed_forward(prompt_tokens)  # Eq. (5)
        h_ca = self.cross_attention(v_sa, keys_values=e_ff, key_padding_mask=token_mask)  # Eq. (6)
        return self.hybrid_self_attention(h_ca + e_ff, key_padding_mask=token_mask)  # Eq. (7)


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


__all__ = ["normalise_pixels", "normalise_pixel_units", "renormalise", "padding_colour", "sam_view_input",
           "packed_width", "unpack_prompt_maps", "EarthGPTXBandAdapter", "band_triple_weight",
           "EarthGPTXMultiModalProjector", "mask_pool_regions", "EarthGPTXSpatialAwareEncoder",
           "EarthGPTXHybridFusion", "EarthGPTXFusionBlock", "EarthGPTXAttention", "EarthGPTXFeedForward",
           "eager_attention_forward", "EarthGPTXMixedVisualEncoder", "resize_feature_map_to_grid"]
