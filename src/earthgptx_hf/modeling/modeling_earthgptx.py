"""PyTorch EarthGPT-X: a multimodal LLM for remote-sensing imagery steered by visual prompts.

Data flow (paper equation numbers):
    views -> mixed visual encoder (Eq. 1) -> V_img
    prompt maps -> spatial-aware encoder (Eq. 2) -> E_prompt
    hybrid fusion (Eq. 4-7) -> [V-P]_hybrid -> vision-to-language projector (Eq. 8) -> `<image>` token embeddings
    mask-pooled [V-P]_hybrid per prompt -> region projector -> `<region_feat>` token embeddings (SPEC 2.4)
    language model over [visual tokens ; text] (Eq. 9) -> next-token logits
    hidden state predicting [PIX] -> pixel perception (Eq. 13) -> mask
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, GenerationMixin
from transformers.generation.utils import GenerateDecoderOnlyOutput
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.utils import ModelOutput, logging

from .composition import compose_from_pretrained_parts
from .configuration_earthgptx import EarthGPTXConfig
from .hybrid_fusion import EarthGPTXHybridFusion
from .kv_cache import cache_kwargs, output_cache, pop_cache
from .mixed_visual_encoder import EarthGPTXMixedVisualEncoder
from .pixel_perception import EarthGPTXPixelPerception, mask_losses
from .pretrained_earthgptx import EarthGPTXPreTrainedModel
from .projector import EarthGPTXMultiModalProjector, mask_pool_regions
from .spatial_aware_encoder import EarthGPTXSpatialAwareEncoder

logger = logging.get_logger(__name__)

# Keys of the processor's output that describe the images for post-processing; the network does not use them, so
# `model(**inputs)` and `model.generate(**inputs)` accept and drop them.
PROCESSOR_METADATA = ("original_sizes", "reshaped_input_sizes", "num_views", "num_prompts")


def _drop_processor_metadata(kwargs: dict) -> dict:
    for key in PROCESSOR_METADATA:
        kwargs.pop(key, None)
    return kwargs


# ------------------------------------------------------------------------------------------------------------------
# Outputs
@dataclass
class EarthGPTXImageFeatures(ModelOutput):
    """
    hybrid_features: `(B, L, D_v)` [V-P]_hybrid tokens of every view (L = views * tokens per view).
    image_embeds: `(B, L, H)` the same after the vision-to-language projector (Eq. 8).
    token_mask: `(B, L)` bool, False for tokens of padding views.
    region_embeds: `(B, K, H)` projected mask-pooled feature of every prompt (None without region features).
    region_weights: `(B, K)` prompt coverage used for pooling (0 for prompts that cover nothing).
    """

    hybrid_features: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    token_mask: torch.Tensor | None = None
    region_embeds: torch.Tensor | None = None
    region_weights: torch.Tensor | None = None


@dataclass
class EarthGPTXModelOutputWithPast(BaseModelOutputWithPast):
    """`image_hidden_states`: `(B, L, H)` projected visual tokens, when images were given; `region_embeds`:
    `(B, K, H)` the region features added to the `<Region i>` tokens."""

    image_hidden_states: torch.Tensor | None = None
    region_embeds: torch.Tensor | None = None


@dataclass
class EarthGPTXCausalLMOutputWithPast(CausalLMOutputWithPast):
    """transformers' causal-LM output (loss, logits, KV cache, hidden states, attentions) plus:

    loss: weighted sum `ce_loss_weight * lm_loss + bce_loss_weight * mask_bce_loss + dice_loss_weight *
        mask_dice_loss` (mask terms only when `gt_masks` are given).
    lm_loss, mask_bce_loss, mask_dice_loss: the unweighted parts, reported separately.
    image_hidden_states: `(B, L, H)` projected visual tokens, when images were given.
    region_embeds: `(B, K, H)` the region features added to the `<Region i>` tokens.
    pred_masks: per sample, `(n_pix, h, w)` mask logits in the SAM view's frame for every [PIX] in `input_ids`
        (when `sam_pixel_values` are given).
    """

    lm_loss: torch.Tensor | None = None
    mask_bce_loss: torch.Tensor | None = None
    mask_dice_loss: torch.Tensor | None = None
    image_hidden_states: torch.Tensor | None = None
    region_embeds: torch.Tensor | None = None
    pred_masks: list[torch.Tensor] | None = None


@dataclass
class EarthGPTXGenerateOutput(GenerateDecoderOnlyOutput):
    """`generate()` output with, per returned sequence, `(n_pix, h, w)` mask logits for every generated [PIX]."""

    pred_masks: list[torch.Tensor] | None = None


# ------------------------------------------------------------------------------------------------------------------
# Helpers
def pix_predictor_positions(input_ids: torch.Tensor, pix_token_id: int) -> list[torch.Tensor]:
    """Positions whose hidden state predicts a [PIX] token (LISA's contract: the position before each [PIX]).

    Args:
        input_ids: `(B, S)`.

    Returns:
        per sample, a 1-D tensor of positions `t - 1` for every `t` with `input_ids[b, t] == pix_token_id`.
    """
    is_pix = input_ids == pix_token_id
    if is_pix[:, 0].any():
        raise ValueError("A [PIX] token stands at the first position of input_ids: no position predicts it.")
    return [torch.nonzero(row, as_tuple=False).flatten() - 1 for row in is_pix]


def check_finite(**tensors: torch.Tensor | None) -> None:
    """Refuses NaN or inf in visual inputs, once, at the model boundary: they would make every logit NaN and
    `generate()` return padding silently. Raises ValueError naming the input and how many values are not finite."""
    for name, tensor in tensors.items():
        if tensor is None or not tensor.is_floating_point():
            continue
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise ValueError(
                f"{name} holds {bad} NaN or infinite value(s) out of {tensor.numel()}: the model needs finite inputs. "
                "Give the processor the raw image (it maps NaN to nodata) rather than tensors with NaN."
            )


def check_sequence_length(config, new_tokens: int, cached_tokens: int = 0, where: str = "input_ids") -> None:
    """Refuses sequences longer than the language model's `max_position_embeddings` before the model runs (RoPE
    models would otherwise run on silently, past the positions they were trained for)."""
    limit = getattr(config.text_config, "max_position_embeddings", None)
    if limit is not None and cached_tokens + new_tokens > limit:
        raise ValueError(
            f"{where} makes a sequence of {cached_tokens + new_tokens} tokens ({cached_tokens} cached + {new_tokens} "
            f"new), longer than the language model's max_position_embeddings={limit}. Shorten the text, use fewer "
            "views (a smaller image) or fewer new tokens."
        )


def _concat_gt_masks(gt_masks) -> torch.Tensor:
    if isinstance(gt_masks, torch.Tensor):
        if gt_masks.ndim != 3:
            raise ValueError(f"gt_masks must be (num_pix, H, W) or a list of such tensors, got shape "
                             f"{tuple(gt_masks.shape)}.")
        return gt_masks
    if isinstance(gt_masks, (list, tuple)):
        parts = [m for m in gt_masks if m is not None and m.shape[0] > 0]
        if not parts:
            return torch.zeros(0, 1, 1)
        return torch.cat([m if m.ndim == 3 else m[None] for m in parts], dim=0)
    raise TypeError(f"gt_masks must be a tensor or a list of tensors, got {type(gt_masks).__name__}.")


# ------------------------------------------------------------------------------------------------------------------
class EarthGPTXModel(EarthGPTXPreTrainedModel):
    """Towers, hybrid fusion, projectors, language model and pixel perception, without the LM head."""

    # A full EarthGPTXForConditionalGeneration checkpoint also holds the LM head, which this class does not use.
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\."]

    def __init__(self, config: EarthGPTXConfig):
        super().__init__(config)
        self.vision_tower = EarthGPTXMixedVisualEncoder(config)
        self.spatial_aware_encoder = EarthGPTXSpatialAwareEncoder(config)
        self.hybrid_fusion = EarthGPTXHybridFusion(config.hybrid_fusion_config, config.spatial_config.hidden_size)
        self.multi_modal_projector = EarthGPTXMultiModalProjector(
            config.hybrid_fusion_config.hidden_size, config.text_config.hidden_size, config.projector_hidden_act
        )
        self.region_projector = (
            EarthGPTXMultiModalProjector(
                config.hybrid_fusion_config.hidden_size, config.text_config.hidden_size, config.projector_hidden_act
            )
            if config.use_region_features
            else None
        )
        self.region_position_projector = (
            nn.Linear(config.region_position_size**2, config.text_config.hidden_size)
            if config.use_region_features and config.region_position_size > 0
            else None
        )
        self.language_model = AutoModel.from_config(config.text_config)
        self.pixel_perception = EarthGPTXPixelPerception(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    # --------------------------------------------------------------------------------------------------------------
    def _check_visual_inputs(self, pixel_values, convnext_pixel_values, prompt_maps, view_mask):
        tile = self.config.tile_size
        if pixel_values.ndim != 5 or pixel_values.shape[2] != 3 or tuple(pixel_values.shape[-2:]) != (tile, tile):
            raise ValueError(
                f"pixel_values must have shape (batch, views, 3, {tile}, {tile}), got {tuple(pixel_values.shape)}."
            )
        batch, views = pixel_values.shape[:2]
        if convnext_pixel_values is not None and convnext_pixel_values.shape != pixel_values.shape:
            raise ValueError(
                f"convnext_pixel_values must have the shape of pixel_values {tuple(pixel_values.shape)}, got "
                f"{tuple(convnext_pixel_values.shape)}."
            )
        if prompt_maps is not None:
            if prompt_maps.ndim != 5 or prompt_maps.shape[:2] != (batch, views) or tuple(
                prompt_maps.shape[-2:]
            ) != (tile, tile):
                raise ValueError(
                    f"prompt_maps must have shape ({batch}, {views}, num_prompts, {tile}, {tile}) to match "
                    f"pixel_values, got {tuple(prompt_maps.shape)}."
                )
            if prompt_maps.shape[2] > self.config.max_regions:
                raise ValueError(
                    f"prompt_maps has {prompt_maps.shape[2]} prompt channels but the model takes at most "
                    f"max_regions={self.config.max_regions} prompts per image."
                )
        if view_mask is not None and tuple(view_mask.shape) != (batch, views):
            raise ValueError(f"view_mask must have shape ({batch}, {views}), got {tuple(view_mask.shape)}.")

    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        convnext_pixel_values: torch.Tensor | None = None,
        prompt_maps: torch.Tensor | None = None,
        view_mask: torch.Tensor | None = None,
    ) -> EarthGPTXImageFeatures:
        """Runs Eq. (1)-(8) and the region pooling.

        Args:
            pixel_values: `(B, V, 3, T, T)` views (global view first, then tiles) normalised for DINOv2.
            convnext_pixel_values: `(B, V, 3, T, T)` the same views normalised for CLIP-ConvNeXt (optional: the
                processor always gives them; without them ConvNeXt reads `pixel_values`).
            prompt_maps: `(B, V, K, T, T)` rasterised prompts, K <= `max_regions` (missing channels are empty maps).
                `None` means no prompt.
            view_mask: `(B, V)` bool, False for padding views (images with fewer views than the batch maximum).
        """
        self._check_visual_inputs(pixel_values, convnext_pixel_values, prompt_maps, view_mask)
        batch, views = pixel_values.shape[:2]
        tile, regions, grid = self.config.tile_size, self.config.max_regions, self.config.patches_per_side
        dtype = next(self.vision_tower.channel_mix.parameters()).dtype
        if prompt_maps is None:
            prompt_maps = pixel_values.new_zeros((batch, views, regions, tile, tile))
        elif prompt_maps.shape[2] < regions:
            pad = prompt_maps.new_zeros((batch, views, regions - prompt_maps.shape[2], tile, tile))
            prompt_maps = torch.cat([prompt_maps, pad], dim=2)
        prompt_maps = prompt_maps.to(dtype)

        flat = pixel_values.flatten(0, 1).to(dtype)
        flat_convnext = None if convnext_pixel_values is None else convnext_pixel_values.flatten(0, 1).to(dtype)
        image_tokens = self.vision_tower(flat, flat_convnext)  # Eq. (1): (B*V, g*g, D_v)
        prompt_tokens = self.spatial_aware_encoder(prompt_maps.flatten(0, 1))  # Eq. (2): (B*V, g*g, C_s)
        image_tokens = image_tokens.reshape(batch, views * grid * grid, -1)
        prompt_tokens = prompt_tokens.reshape(batch, views * grid * grid, -1).to(image_tokens.dtype)

        token_mask = None
        if view_mask is not None:
            token_mask = view_mask.to(torch.bool).repeat_interleave(grid * grid, dim=1)
        hybrid = self.hybrid_fusion(image_tokens, prompt_tokens, token_mask)  # Eq. (4)-(7)
        image_embeds = self.multi_modal_projector(hybrid)  # Eq. (8)

        region_embeds = region_weights = None
        if self.region_projector is not None:
            pooled, region_weights = mask_pool_regions(hybrid, prompt_maps, grid, token_mask)
            region_embeds = self.region_projector(pooled)
            if self.region_position_projector is not None:  # where the prompt is: its map on the global view
                size = self.config.region_position_size
                coarse = F.adaptive_avg_pool2d(prompt_maps[:, 0], size).flatten(2)  # (B, K, size * size)
                region_embeds = region_embeds + self.region_position_projector(coarse.to(region_embeds.dtype))
            # a prompt that covers nothing has no feature (zeros, not the projectors' biases)
            region_embeds = region_embeds * (region_weights > 0)[..., None].to(pooled.dtype)
        return EarthGPTXImageFeatures(
            hybrid_features=hybrid,
            image_embeds=image_embeds,
            token_mask=token_mask,
            region_embeds=region_embeds,
            region_weights=region_weights,
        )

    def _scatter_image_features(self, input_ids, inputs_embeds, features: EarthGPTXImageFeatures):
        image_token_mask = input_ids == self.config.image_token_id
        expected = (
            features.token_mask.sum(1)
            if features.token_mask is not None
            else torch.full((input_ids.shape[0],), features.image_embeds.shape[1], device=input_ids.device)
        )
        found = image_token_mask.sum(1)
        if not torch.equal(found.cpu(), expected.cpu()):
            raise ValueError(
                "Image features and image tokens do not match: input_ids hold "
                f"{found.tolist()} <image> tokens per sample but the visual inputs give {expected.tolist()} "
                "visual tokens per sample (views x tokens per view). Let the processor expand <image>."
            )
        embeds = features.image_embeds
        selected = embeds[features.token_mask] if features.token_mask is not None else embeds.flatten(0, 1)
        return inputs_embeds.masked_scatter(image_token_mask[..., None], selected.to(inputs_embeds.dtype))

    def _scatter_region_features(self, input_ids, inputs_embeds, features: EarthGPTXImageFeatures):
        region_token_mask = input_ids == self.config.region_feature_token_id
        counts = region_token_mask.sum(1)
        if counts.max() > self.config.max_regions:
            raise ValueError(
                f"A sample holds {int(counts.max())} <region_feat> tokens but max_regions is "
                f"{self.config.max_regions}."
            )
        wanted = torch.arange(self.config.max_regions, device=counts.device)[None, :] < counts[:, None]
        empty = wanted & (features.region_weights <= 0)
        if empty.any():
            sample, region = (int(v) for v in torch.nonzero(empty)[0])
            raise ValueError(
                f"Sample {sample} refers to region {region + 1} with a <region_feat> token but prompt map "
                f"{region + 1} is empty in every view: give a prompt for every referenced region."
            )
        selected = features.region_embeds[wanted].to(inputs_embeds.dtype)
        return inputs_embeds.masked_scatter(region_token_mask[..., None], selected)

    def _add_region_reference_features(self, input_ids, inputs_embeds, region_embeds):
        """Adds prompt i's region feature to every `<Region i>` token (SPEC 2.4: "<Region i>" means the i-th prompt).

        `(B, S)` ids, `(B, S, H)` embeddings, `(B, K, H)` region features -> embeddings."""
        region_ids = torch.as_tensor(self.config.region_token_ids, device=input_ids.device)
        one_hot = (input_ids[..., None] == region_ids).to(inputs_embeds.dtype)  # (B, S, K)
        return inputs_embeds + torch.einsum("bsk,bkh->bsh", one_hot, region_embeds.to(inputs_embeds.dtype))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        convnext_pixel_values: torch.Tensor | None = None,
        prompt_maps: torch.Tensor | None = None,
        view_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        region_embeds: torch.Tensor | None = None,
        **kwargs,
    ) -> EarthGPTXModelOutputWithPast:
        r"""
        The KV cache comes in `kwargs` under the installed transformers' name (`cache` from 5.24, `past_key_values`
        before; see `kv_cache`) and goes to the language model under that name.
        region_embeds (`(B, K, H)`): the region features of an earlier call on the same images (generation passes
            them to the decoding steps, where the visual inputs are gone); computed from the visual inputs otherwise.
        """
        _drop_processor_metadata(kwargs)
        cache = pop_cache(kwargs)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds.")
        check_sequence_length(self.config, (input_ids if input_ids is not None else inputs_embeds).shape[1],
                              cache.get_seq_length() if cache is not None else 0)
        if pixel_values is not None:
            check_finite(pixel_values=pixel_values, convnext_pixel_values=convnext_pixel_values,
                         prompt_maps=prompt_maps)
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)

        image_embeds = None
        if pixel_values is not None:
            if input_ids is None:
                raise ValueError("pixel_values need input_ids: visual features are placed at <image> tokens.")
            features = self.get_image_features(pixel_values, convnext_pixel_values, prompt_maps, view_mask)
            inputs_embeds = self._scatter_image_features(input_ids, inputs_embeds, features)
            if self.region_projector is not None:
                inputs_embeds = self._scatter_region_features(input_ids, inputs_embeds, features)
                region_embeds = features.region_embeds
            image_embeds = features.image_embeds
        elif input_ids is not None and (input_ids == self.config.image_token_id).any() and cache is None:
            raise ValueError("input_ids contain <image> tokens but pixel_values is None.")
        if region_embeds is not None and input_ids is not None:
            inputs_embeds = self._add_region_reference_features(input_ids, inputs_embeds, region_embeds)

        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
            **cache_kwargs(cache),
            **kwargs,
        )
        return EarthGPTXModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            **cache_kwargs(output_cache(outputs)),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            image_hidden_states=image_embeds,
            region_embeds=region_embeds,
        )


class EarthGPTXForConditionalGeneration(EarthGPTXPreTrainedModel, GenerationMixin):
    """EarthGPT-X with the LM head and the [PIX] mask head; `generate()` also returns masks."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: EarthGPTXConfig):
        super().__init__(config)
        self.model = EarthGPTXModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        # Filled by `generate()` with the last-position hidden state of every forward (None outside generate).
        self._pix_hidden_states: list[torch.Tensor] | None = None
        self.post_init()

    @classmethod
    def from_pretrained_parts(
        cls,
        language_model,
        dino,
        convnext,
        sam,
        preset: str = "paper",
        dtype: torch.dtype | None = None,
        language_model_kwargs: dict | None = None,
        **config_overrides,
    ) -> "EarthGPTXForConditionalGeneration":
        """Builds EarthGPT-X from separately pretrained checkpoints in transformers format.

        Args:
            language_model: any causal LM (path, Hub id or loaded model), e.g. `meta-llama/Llama-2-13b-hf`.
            dino: a DINOv2 checkpoint, e.g. `facebook/dinov2-large`.
            convnext: a ConvNeXt checkpoint in transformers format; convert CLIP-ConvNeXt weights from open_clip with
                `earthgptx_hf.modeling.load_open_clip_convnext` first (and pass the model or its saved folder).
            sam: a SAM checkpoint, e.g. `facebook/sam-vit-huge`.
            preset: the preset whose non-tower settings (image and tile sizes, spatial-aware encoder, fusion width,
                `max_regions`) are used.
            dtype: dtype to load the parts in and to cast the new parts to.
            language_model_kwargs: extra `from_pretrained` arguments for the LLM (e.g. `gguf_file=...`,
                `quantization_config=...`).
            **config_overrides: fields of `EarthGPTXConfig.from_preset` to override.

        The towers keep their pretrained weights unchanged; the new parts (channel mix, spatial-aware encoder,
        hybrid fusion, projectors, R_lp) and the special-token embedding rows are initialised. Train them with
        `model.set_trainable("paper")` (or `"lora"`).
        """
        return compose_from_pretrained_parts(
            cls, language_model, dino, convnext, sam, preset=preset, dtype=dtype,
            language_model_kwargs=language_model_kwargs, **config_overrides,
        )

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def get_image_features(self, pixel_values, convnext_pixel_values=None, prompt_maps=None, view_mask=None):
        return self.model.get_image_features(pixel_values, convnext_pixel_values, prompt_maps, view_mask)

    # --------------------------------------------------------------------------------------------------------------
    def predict_masks(
        self, last_hidden_state: torch.Tensor, positions: list[torch.Tensor], sam_pixel_values: torch.Tensor
    ) -> list[torch.Tensor]:
        """Eq. (13) for the given positions.

        Args:
            last_hidden_state: `(B, S, H)` final hidden states.
            positions: per sample, positions whose hidden state predicts a [PIX].
            sam_pixel_values: `(B, 3, S_sam, S_sam)` SAM views.

        Returns:
            per sample, `(n_pix, h, w)` mask logits in the SAM view's frame.
        """
        with_pix = [b for b, pos in enumerate(positions) if pos.numel() > 0]
        size = self.model.pixel_perception.low_res_mask_size
        masks = [last_hidden_state.new_zeros((0, size, size)) for _ in positions]
        if not with_pix:
            return masks
        embeddings = self.model.pixel_perception.encode_image(sam_pixel_values[with_pix])
        decoded = self.model.pixel_perception.decode_masks(
            [last_hidden_state[b, positions[b]] for b in with_pix], embeddings
        )
        for b, mask in zip(with_pix, decoded):
            masks[b] = mask
        return masks

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        convnext_pixel_values: torch.Tensor | None = None,
        prompt_maps: torch.Tensor | None = None,
        view_mask: torch.Tensor | None = None,
        sam_pixel_values: torch.Tensor | None = None,
        gt_masks: torch.Tensor | list[torch.Tensor] | None = None,
        region_embeds: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> EarthGPTXCausalLMOutputWithPast:
        r"""
        sam_pixel_values (`(B, 3, S, S)`): the SAM view of each image (longest side resized to S, padded); needed
            to decode masks for [PIX] tokens.
        gt_masks (`(N, h, w)` or a list of per-sample `(n_b, h, w)`): ground-truth masks in the SAM view's frame,
            one per [PIX] token of `input_ids`, in reading order.
        labels (`(B, S)`): next-token targets, -100 where no loss is taken.

        The KV cache travels in `kwargs` under the installed transformers' name, as in `EarthGPTXModel.forward`.
        """
        _drop_processor_metadata(kwargs)
        cache = pop_cache(kwargs)
        config = self.config
        pix_in_labels = labels is not None and bool((labels == config.pix_token_id).any())
        if gt_masks is not None and sam_pixel_values is None:
            raise ValueError(
                "gt_masks were given but sam_pixel_values is None: the grounding encoder needs the SAM view of "
                "each image to predict the masks of [PIX] tokens."
            )
        if pix_in_labels and gt_masks is None:
            raise ValueError(
                "labels contain [PIX] tokens but no grounding inputs were given: pass gt_masks (one per [PIX]) and "
                "sam_pixel_values, or remove [PIX] from the answers."
            )
        if (gt_masks is not None or sam_pixel_values is not None) and input_ids is None:
            raise ValueError("Masks for [PIX] need input_ids to find the [PIX] tokens; inputs_embeds were given.")
        check_finite(sam_pixel_values=sam_pixel_values)

        outputs = self.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            convnext_pixel_values=convnext_pixel_values,
            prompt_maps=prompt_maps,
            view_mask=view_mask,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            region_embeds=region_embeds,
            **cache_kwargs(cache),
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if self._pix_hidden_states is not None:
            self._pix_hidden_states.append(hidden_states[:, -1].detach())
        logits = self.lm_head(slice_logits_to_keep(hidden_states, logits_to_keep))

        lm_loss = bce = dice = None
        if labels is not None:
            lm_loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=config.text_config.vocab_size, **kwargs
            )

        pred_masks = None
        if sam_pixel_values is not None:
            positions = pix_predictor_positions(input_ids, config.pix_token_id)
            if gt_masks is not None:
                gt = _concat_gt_masks(gt_masks)
                n_pix = sum(int(p.numel()) for p in positions)
                if gt.shape[0] != n_pix:
                    raise ValueError(
                        f"gt_masks holds {gt.shape[0]} masks but input_ids hold {n_pix} [PIX] tokens: give exactly "
                        "one mask per [PIX], in reading order."
                    )
            if any(p.numel() for p in positions):
                pred_masks = self.predict_masks(hidden_states, positions, sam_pixel_values)
                if gt_masks is not None:
                    bce, dice = mask_losses(torch.cat(pred_masks, dim=0), gt)

        loss = None
        if lm_loss is not None:
            loss = config.ce_loss_weight * lm_loss
            if bce is not None:
                loss = loss + config.bce_loss_weight * bce + config.dice_loss_weight * dice
        return EarthGPTXCausalLMOutputWithPast(
            loss=loss,
            lm_loss=lm_loss,
            mask_bce_loss=bce,
            mask_dice_loss=dice,
            logits=logits,
            **cache_kwargs(output_cache(outputs)),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            image_hidden_states=outputs.image_hidden_states,
            region_embeds=outputs.region_embeds,
            pred_masks=pred_masks,
        )

    # --------------------------------------------------------------------------------------------------------------
    # Generation
    _PREFILL_ONLY_INPUTS = ("convnext_pixel_values", "prompt_maps", "view_mask")

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool = False, **kwargs):
        model_inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        # `pixel_values` is dropped after prefill by GenerationMixin; our other visual inputs are dropped here.
        if not is_first_iteration and kwargs.get("use_cache", True):
            for key in self._PREFILL_ONLY_INPUTS:
                model_inputs.pop(key, None)
        return model_inputs

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, *args, **kwargs):
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        # the decoding steps see no visual input: they reuse the prefill's region features for `<Region i>` tokens
        if getattr(outputs, "region_embeds", None) is not None:
            model_kwargs["region_embeds"] = outputs.region_embeds
        return model_kwargs

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, sam_pixel_values: torch.Tensor | None = None, **kwargs):
        """`GenerationMixin.generate` plus masks.

        With `sam_pixel_values` and `return_dict_in_generate=True`, the output is an `EarthGPTXGenerateOutput`
        whose `pred_masks[i]` holds `(n_pix, h, w)` mask logits (SAM view frame) for every [PIX] generated in
        sequence i. The hidden state that predicted each token is kept while generating (the KV cache stays on);
        the grounding encoder runs once after generation, only for sequences that produced [PIX]. Masks need
        greedy or sampling decoding (`num_beams=1`) without an assistant model.
        """
        _drop_processor_metadata(kwargs)
        generation_config = kwargs.get("generation_config") or self.generation_config
        return_dict = kwargs.get("return_dict_in_generate", generation_config.return_dict_in_generate)
        want_masks = sam_pixel_values is not None and return_dict
        if sam_pixel_values is not None and not return_dict:
            logger.warning_once(
                "sam_pixel_values were given but masks are only returned with return_dict_in_generate=True."
            )
        if want_masks:
            num_beams = kwargs.get("num_beams", generation_config.num_beams) or 1
            if num_beams != 1 or kwargs.get("assistant_model") is not None:
                raise ValueError(
                    f"Masks for [PIX] need num_beams=1 and no assistant_model (got num_beams={num_beams}); "
                    "drop sam_pixel_values to use beam search for text only."
                )
        input_ids = inputs if inputs is not None else kwargs.get("input_ids")
        # refused before the first token, not after generation
        check_finite(sam_pixel_values=sam_pixel_values)
        max_new_tokens = kwargs.get("max_new_tokens", generation_config.max_new_tokens)
        prompt = input_ids if input_ids is not None else kwargs.get("inputs_embeds")
        if prompt is not None and max_new_tokens is not None:
            check_sequence_length(self.config, prompt.shape[1] + int(max_new_tokens),
                                  where="input_ids + max_new_tokens")
        self._pix_hidden_states = [] if want_masks else None
        try:
            output = super().generate(inputs, **kwargs)
            collected = self._pix_hidden_states
        finally:
            self._pix_hidden_states = None
        if not want_masks:
            return output

        prompt_length = input_ids.shape[1]
        new_tokens = output.sequences[:, prompt_length:]
        hidden = torch.stack(collected[: new_tokens.shape[1]], dim=1)  # hidden[:, s] predicted new_tokens[:, s]
        if hidden.shape[0] != new_tokens.shape[0]:
            raise RuntimeError("Collected hidden states do not match the generated sequences.")
        expand = output.sequences.shape[0] // sam_pixel_values.shape[0]
        sam_views = sam_pixel_values.repeat_interleave(expand, dim=0).to(self.device)
        positions = [torch.nonzero(row == self.config.pix_token_id).flatten() for row in new_tokens]
        pred_masks = self.predict_masks(hidden, positions, sam_views)
        return EarthGPTXGenerateOutput(**output, pred_masks=pred_masks)


__all__ = [
    "EarthGPTXPreTrainedModel",
    "EarthGPTXModel",
    "EarthGPTXForConditionalGeneration",
    "EarthGPTXCausalLMOutputWithPast",
    "EarthGPTXGenerateOutput",
    "pix_predictor_positions",
    "check_finite",
    "check_sequence_length",
]
