"""PyTorch EarthGPT-X: a multimodal LLM for remote-sensing imagery steered by visual prompts.

Data flow (paper equation numbers):
    views -> mixed visual encoder (Eq. 1) -> V_img
    prompt maps -> spatial-aware encoder (Eq. 2) -> E_prompt
    hybrid fusion (Eq. 4-7) -> [V-P]_hybrid -> vision-to-language projector (Eq. 8) -> `<image>` token embeddings
    mask-pooled [V-P]_hybrid per prompt -> region projector -> `<region_feat>` token embeddings (SPEC 2.4)
    language model over [visual tokens ; text] (Eq. 9) -> next-token logits
    hidden state predicting [PIX] -> pixel perception (Eq. 13) -> mask

`EarthGPTXModel` holds everything up to the language model's hidden states; `EarthGPTXForConditionalGeneration`
adds the LM head and the mask head (pixel perception), as Llava's classes split theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.conversion_mapping import register_checkpoint_conversion_mapping
from transformers.core_model_loading import WeightRenaming
from transformers.modeling_outputs import BaseModelOutputWithPast, BaseModelOutputWithPooling, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.utils import can_return_tuple
from transformers.utils.import_utils import torch_compilable_check

from .configuration_earthgptx import EarthGPTXConfig, package_extension
from .generation_earthgptx import (
    CACHE_KEY,
    EarthGPTXGenerationMixin,
    cache_kwargs,
    check_finite,
    check_grounding_inputs,
    check_model_inputs,
    check_visual_inputs,
    output_cache,
    pop_cache,
)
from .mixed_visual_encoder import (
    EarthGPTXBandAdapter,
    EarthGPTXHybridFusion,
    EarthGPTXMixedVisualEncoder,
    EarthGPTXMultiModalProjector,
    EarthGPTXSpatialAwareEncoder,
    band_triple_weight,
    unpack_prompt_maps,
)
from .perception import (
    EarthGPTXPixelPerception,
    add_region_token_features,
    place_region_features,
    region_features,
    region_label_loss,
    total_loss,
)

# --------------------------------------------------------------------------------------------------------------------
# Output classes of the EarthGPT-X model, each extending transformers' own output class with our fields.


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


# --------------------------------------------------------------------------------------------------------------------
# `EarthGPTXPreTrainedModel`, the base class of the EarthGPT-X model classes (the blocks that hold transformers towers
# derive from `mixed_visual_encoder.EarthGPTXTowerBlock`).


# Modules that stay in full precision when a bitsandbytes config quantises the model: only the language model's linear
# layers are quantised (QLoRA's recipe; the towers are small next to the LLM, and bitsandbytes' CPU kernels do not
# take their narrow layers). transformers matches these from the start of the module names.
QUANTIZATION_SKIP_MODULES = ["model.vision_tower", "model.spatial_aware_encoder", "model.hybrid_fusion",
                             "model.multi_modal_projector", "model.region_projector", "model.region_position_projector",
                             "pixel_perception", "lm_head"]

# Checkpoints saved before the mask head moved out of `EarthGPTXModel` hold it under `model.pixel_perception.`:
# transformers' own checkpoint conversion renames those keys when they load.
LEGACY_KEY_RENAMES = {r"^model\.pixel_perception\.": "pixel_perception."}

# transformers 5.25 turns Hub kernels on by default in `from_pretrained`: layers fetched from the Hub at load time, and
# an error without the `kernels` package. Every load of ours passes this (5.21-5.24 accept it, False is their default).
NO_HUB_KERNELS = {"use_kernels": False}


# Parameters of the pretrained towers that EarthGPT-X's forward never reads: DINOv2's mask token (masked image
# modelling), ConvNeXt's final layer norm (it normalises the pooled output; Eq. (1) mixes the last feature map), and
# SAM's point, box and mask prompt embeddings (the [PIX] embedding is SAM's only prompt, LISA's design). They stay
# frozen from construction on, under every trainable preset: no optimizer state for them, and no "unused parameter"
# error from DistributedDataParallel.
UNUSED_TOWER_PATTERNS = (
    r"vision_tower\.dino\.embeddings\.mask_token$",
    r"vision_tower\.convnext\.layernorm\.",
    r"grounding_model\.prompt_encoder\.(point_embed|not_a_point_embed|mask_embed)\.",
)


class EarthGPTXPreTrainedModel(PreTrainedModel):
    config: EarthGPTXConfig
    config_class = EarthGPTXConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _skip_keys_device_placement = [CACHE_KEY]  # the cache stays where it is under device_map (installed name)
    # device_map="auto" never splits a residual block of the hybrid fusion (the towers add their own blocks)
    _no_split_modules = ["EarthGPTXFusionBlock"]
    # FlashAttention is claimed only where every part has it: SAM (the grounding encoder) does not.
    _supports_flash_attn = False
    _supports_sdpa = True
    _supports_attention_backend = True

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a bitsandbytes `quantization_config` without `llm_int8_skip_modules`
        quantises the language model only (`QUANTIZATION_SKIP_MODULES`). Hub kernels stay off unless asked
        (`NO_HUB_KERNELS`; pass `use_kernels=True` to opt in)."""
        kwargs = {**NO_HUB_KERNELS, **kwargs}
        quantization = kwargs.get("quantization_config")
        if quantization is not None and getattr(quantization, "quant_method", None) == "bitsandbytes" and \
                getattr(quantization, "llm_int8_skip_modules", None) is None:
            quantization.llm_int8_skip_modules = list(QUANTIZATION_SKIP_MODULES)
        return super().from_pretrained(*args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, with `auto_map` naming every Auto class a saved folder answers to.

        When the classes are registered for Auto classes (importing `earthgptx_hf` does it), the code files are
        copied next to the weights, so the folder loads with `trust_remote_code=True` without this package.
        Weights are saved in transformers' default layout (`save_original_format=True`); `EarthGPTXTrainer` saves its
        checkpoints under the current names, which its resume needs (`training/trainer.py`).
        """
        if self._auto_class is not None:
            module = "modeling_earthgptx"  # the file that defines both model classes (copied next to the weights)
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.update(
                {
                    "AutoModel": f"{module}.EarthGPTXModel",
                    "AutoModelForImageTextToText": f"{module}.EarthGPTXForConditionalGeneration",
                }
            )
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    def post_init(self):
        """`PreTrainedModel.post_init`, then the towers' parameters that the forward never reads are frozen
        (`UNUSED_TOWER_PATTERNS`)."""
        super().post_init()
        unused = re.compile("|".join(UNUSED_TOWER_PATTERNS))
        for name, parameter in self.named_parameters():
            if unused.search(name):
                parameter.requires_grad_(False)

    def set_trainable(self, preset: str, lora_config=None):
        """Freezes and unfreezes parameters by a named preset: `"paper"`, `"lora"` or `"full"`.

        See `earthgptx_hf.training.trainable` (the package's) for what each preset trains. Returns the model, or for `"lora"` the
        `peft.PeftModel` that wraps it.
        """
        apply_trainable_preset = package_extension("apply_trainable_preset", "set_trainable")
        return apply_trainable_preset(self, preset, lora_config=lora_config)

    def _init_weights(self, module):
        std = self.config.initializer_range
        # transformers.initialization skips tensors already loaded (flagged `_is_hf_initialized`).
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, EarthGPTXBandAdapter):  # starts as its band triple (the towers see those bands)
            init.copy_(module.weight, band_triple_weight(module.input_bands, module.init_bands).to(module.weight))
            init.zeros_(module.bias)


for _class_name in ("EarthGPTXForConditionalGeneration",):
    register_checkpoint_conversion_mapping(
        _class_name, [WeightRenaming(source_patterns=source, target_patterns=target)
                     for source, target in LEGACY_KEY_RENAMES.items()], overwrite=True
    )


class EarthGPTXModel(EarthGPTXPreTrainedModel):
    """Towers, hybrid fusion, projectors and language model, without the LM head and the mask head."""

    # A full EarthGPTXForConditionalGeneration checkpoint also holds the LM head and the mask head.
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\.", r"(^|\.)pixel_perception\."]

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
        self.post_init()

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    # --------------------------------------------------------------------------------------------------------------
    @can_return_tuple
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        convnext_pixel_values: torch.Tensor | None = None,
        prompt_maps: torch.Tensor | None = None,
        view_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> EarthGPTXImageFeatures:
        """Runs Eq. (1)-(8) and the region pooling.

        Args:
            pixel_values: `(B, V, 3, T, T)` views (global view first, then tiles): uint8 8-bit pixels (what the
                processor ships; normalised by the model for each tower) or floating, normalised for DINOv2.
            convnext_pixel_values: `(B, V, 3, T, T)` the same views for CLIP-ConvNeXt (optional; uint8 or floating
                normalised with CLIP statistics); without them ConvNeXt's input is derived from `pixel_values`.
            prompt_maps: `(B, V, k, T, T)` rasterised prompts, channel i = prompt i, k <= max_regions (missing or
                empty channels: no prompt), or `(B, V, k, T, ceil(T / 8))` uint8 bit-packed along the last axis
                (`np.packbits`, what the processor ships). `None` means no prompt. See `visual_inputs`.
            view_mask: `(B, V)` bool, False for padding views (images with fewer views than the batch maximum).
            output_hidden_states, output_attentions: also return the vision tower's (DINOv2's) hidden states and
                attentions, per view: `(B * V, tokens, D_dino)` each (default: the config's).
        """
        check_visual_inputs(self.config, pixel_values, convnext_pixel_values, prompt_maps, view_mask)
        check_finite(pixel_values=pixel_values, convnext_pixel_values=convnext_pixel_values, prompt_maps=prompt_maps)
        batch, views = pixel_values.shape[:2]
        tile, regions, grid = self.config.tile_size, self.config.max_regions, self.config.patches_per_side
        dtype = self.vision_tower.channel_mix.weight.dtype  # the model casts its float inputs itself
        if prompt_maps is None:
            prompt_maps = pixel_values.new_zeros((batch, views, regions, tile, tile))
        prompt_maps = unpack_prompt_maps(prompt_maps, regions, tile).to(dtype)

        flat = pixel_values.flatten(0, 1)  # the vision tower normalises uint8 views and casts to its dtype
        flat_convnext = None if convnext_pixel_values is None else convnext_pixel_values.flatten(0, 1)
        tower = self.vision_tower(flat, flat_convnext, output_hidden_states=output_hidden_states,
                                  output_attentions=output_attentions)
        image_tokens = tower.last_hidden_state  # Eq. (1): (B*V, g*g, D_v)
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
            region_embeds, region_weights = region_features(
                hybrid, prompt_maps, grid, token_mask, self.region_projector, self.region_position_projector,
                self.config.region_position_size)
        per_image = [embeds if token_mask is None else embeds[keep] for embeds, keep in
                     zip(image_embeds, token_mask if token_mask is not None else [None] * batch)]
        return EarthGPTXImageFeatures(
            last_hidden_state=hybrid,
            pooler_output=per_image,
            image_embeds=image_embeds,
            hybrid_features=hybrid,
            hidden_states=tower.hidden_states,
            attentions=tower.attentions,
            token_mask=token_mask,
            region_embeds=region_embeds,
            region_weights=region_weights,
        )

    def get_placeholder_mask(self, input_ids, inputs_embeds, token_id: int) -> torch.Tensor:
        """`(B, S)` bool, True at the placeholder `token_id`: from `input_ids`, or (when only `inputs_embeds` are
        given) where an embedding equals that token's embedding, as Llava finds its image tokens."""
        if input_ids is not None:
            return input_ids == token_id
        token = self.get_input_embeddings()(torch.full((), token_id, dtype=torch.long, device=inputs_embeds.device))
        return (inputs_embeds == token).all(-1)

    def get_special_token_ids(self, input_ids, inputs_embeds) -> torch.Tensor:
        """`(B, S)` ids that say where the placeholders and `<Region i>` tokens are: `input_ids` themselves, or (when
        only `inputs_embeds` are given) the id of each `<image>`, `<region_feat>` and `<Region i>` whose embedding a
        position holds and -1 elsewhere (`get_placeholder_mask`), so that both inputs get the same region features."""
        if input_ids is not None:
            return input_ids
        ids = torch.full(inputs_embeds.shape[:2], -1, dtype=torch.long, device=inputs_embeds.device)
        for token_id in (self.config.image_token_id, self.config.region_feature_token_id,
                         *self.config.region_token_ids):
            ids = ids.masked_fill(self.get_placeholder_mask(None, inputs_embeds, token_id), token_id)
        return ids

    def _place_image_features(self, input_ids, inputs_embeds, features: EarthGPTXImageFeatures):
        mask = self.get_placeholder_mask(input_ids, inputs_embeds, self.config.image_token_id)
        selected = torch.cat(list(features.pooler_output), dim=0).to(inputs_embeds.device, inputs_embeds.dtype)
        found = mask.sum()
        torch_compilable_check(  # one check over the batch, as Llava's (no per-sample host sync)
            found == selected.shape[0],
            lambda: f"Image features and image tokens do not match: the text holds {int(found)} <image> tokens but "
            f"the visual inputs give {selected.shape[0]} visual tokens (real views x tokens per view). Let the "
            "processor expand <image>.",
        )
        return inputs_embeds.masked_scatter(mask[..., None], selected)

    @can_return_tuple
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
        mm_encoder_outputs: dict | None = None,
        preceding_token_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> EarthGPTXModelOutputWithPast:
        r"""
        The KV cache comes in `kwargs` under the installed transformers' name (`cache` from 5.24, `past_key_values`
        before; see `kv_cache`) and goes to the language model under that name.
        region_embeds (`(B, K, H)`): the region features of an earlier call on the same images (generation passes
            them to the decoding steps, where the visual inputs are gone); computed from the visual inputs otherwise.
        mm_encoder_outputs (`{"image": EarthGPTXImageFeatures}`): features from `get_image_features`, instead of
            the visual inputs (generation computes them once before the prefill).
        preceding_token_ids (`(B,)`): with `config.region_feature_next_token`, the token before `input_ids` (the
            last one of the cached part; `generate()` passes it), so that a first token that follows a `<Region i>`
            gets its feature; without it the first token has no predecessor.
        """
        cache = pop_cache(kwargs)
        features = (mm_encoder_outputs or {}).get("image")
        check_model_inputs(self.config, input_ids, inputs_embeds, cache, pixel_values, features,
                           convnext_pixel_values=convnext_pixel_values, prompt_maps=prompt_maps, view_mask=view_mask)
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        token_ids = self.get_special_token_ids(input_ids, inputs_embeds)  # before any feature is placed

        if pixel_values is not None:
            features = self.get_image_features(pixel_values, convnext_pixel_values, prompt_maps, view_mask,
                                               return_dict=True)
        # without visual inputs, `<image>` ids are embedded as they are (Llava's rule: a text-only forward runs)
        if features is not None:
            inputs_embeds = self._place_image_features(token_ids, inputs_embeds, features)
        if features is not None and self.region_projector is not None:
            mask = self.get_placeholder_mask(token_ids, inputs_embeds, self.config.region_feature_token_id)
            inputs_embeds = place_region_features(mask, inputs_embeds, features.region_embeds,
                                                  features.region_weights, self.config.max_regions)
            region_embeds = features.region_embeds
        if region_embeds is not None:
            inputs_embeds = add_region_token_features(self.config, token_ids, inputs_embeds, region_embeds,
                                                      preceding_token_ids)

        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
            return_dict=True,
            **cache_kwargs(cache),
            **kwargs,
        )
        return EarthGPTXModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            **cache_kwargs(output_cache(outputs)),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            image_hidden_states=None if features is None else features.pooler_output,
            region_embeds=region_embeds,
        )


class EarthGPTXForConditionalGeneration(EarthGPTXGenerationMixin, EarthGPTXPreTrainedModel):
    """EarthGPT-X with the LM head and the [PIX] mask head; `generate()` also returns masks."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}
    # tensor parallelism: the language model's own plan shards its layers; the LM head is sharded column-wise and
    # gathered, as Llava's is (transformers' common test checks that tied weights are sharded together)
    _tp_plan = {"lm_head": "colwise_gather_output"}

    def __init__(self, config: EarthGPTXConfig):
        super().__init__(config)
        self.model = EarthGPTXModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.pixel_perception = EarthGPTXPixelPerception(config)
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
        tokenizer=None,
        return_processor: bool = False,
        **config_overrides,
    ) -> "EarthGPTXForConditionalGeneration":
        """Builds EarthGPT-X from separately pretrained checkpoints in transformers format, e.g.
        `from_pretrained_parts("meta-llama/Llama-2-13b-hf", "facebook/dinov2-large", convnext_folder,
        "facebook/sam-vit-huge")`. The package's `earthgptx_hf.conversion.composition.compose_from_pretrained_parts`
        does it and documents the arguments."""
        compose = package_extension("compose_from_pretrained_parts", "from_pretrained_parts")
        return compose(
            cls, language_model, dino, convnext, sam, preset=preset, dtype=dtype,
            language_model_kwargs=language_model_kwargs, tokenizer=tokenizer, return_processor=return_processor,
            **config_overrides,
        )

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def get_image_features(self, pixel_values, convnext_pixel_values=None, prompt_maps=None, view_mask=None, **kwargs):
        return self.model.get_image_features(pixel_values, convnext_pixel_values, prompt_maps, view_mask, **kwargs)

    # --------------------------------------------------------------------------------------------------------------
    # forward, in named steps
    def _language_modeling_loss(self, logits, labels, **kwargs):
        if labels is None:
            return None
        return self.loss_function(logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs)

    def _pixel_outputs(self, input_ids, hidden_states, sam_pixel_values, gt_masks) -> dict:
        """Masks, scores and mask losses of the [PIX] tokens (Eq. 13; `EarthGPTXPixelPerception.pix_outputs`)."""
        return self.pixel_perception.pix_outputs(input_ids, hidden_states, sam_pixel_values, gt_masks, self.config)

    def _region_label_loss(self, region_embeds, region_labels):
        """`region_label_loss` (module `region_label_loss`) when its weight is set and targets are given."""
        if region_labels is None or region_embeds is None or not self.config.region_label_loss_weight:
            return None
        return region_label_loss(self.lm_head, region_embeds, region_labels)

    @can_return_tuple
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
        mm_encoder_outputs: dict | None = None,
        pix_hidden_states: list | None = None,
        region_labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> EarthGPTXCausalLMOutputWithPast:
        r"""
        sam_pixel_values (`(B, 3, S, S)`): the SAM view of each image (longest side resized to S, padded); needed
            to decode masks for [PIX] tokens.
        gt_masks (`(N, h, w)` or a list of per-sample `(n_b, h, w)`): ground-truth masks in the SAM view's frame
            (any size; the predicted logits are resized to it), one per [PIX] token of `input_ids`, in reading order.
        labels (`(B, S)`): next-token targets, -100 where no loss is taken.
        pix_hidden_states (`list`): generation's per-call collector; the last position's final hidden state of
            this forward is appended to it (`generate()` decodes the masks of generated [PIX] from them).
        region_labels (`(B, K)`): per prompt, the first token of its object's class (-100: none), the targets of the
            region-label loss (`config.region_label_loss_weight`; the collator's `region_labels=True` makes them).

        The KV cache travels in `kwargs` under the installed transformers' name, as in `EarthGPTXModel.forward`.
        """
        check_grounding_inputs(self.config, input_ids, labels, gt_masks, sam_pixel_values)
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
            mm_encoder_outputs=mm_encoder_outputs,
            return_dict=True,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if pix_hidden_states is not None:
            pix_hidden_states.append(hidden_states[:, -1].detach())
        logits = self.lm_head(slice_logits_to_keep(hidden_states, logits_to_keep))
        lm_loss = self._language_modeling_loss(logits, labels, **kwargs)
        pixel = self._pixel_outputs(input_ids, hidden_states, sam_pixel_values, gt_masks)
        region_loss = self._region_label_loss(outputs.region_embeds, region_labels)
        return EarthGPTXCausalLMOutputWithPast(
            loss=total_loss(self.config, lm_loss, pixel, region_loss),
            lm_loss=lm_loss,
            region_label_loss=region_loss,
            logits=logits,
            **cache_kwargs(output_cache(outputs)),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            image_hidden_states=outputs.image_hidden_states,
            region_embeds=outputs.region_embeds,
            **pixel,
        )


__all__ = ["EarthGPTXImageFeatures", "EarthGPTXModelOutputWithPast", "EarthGPTXCausalLMOutputWithPast",
           "EarthGPTXPreTrainedModel", "LEGACY_KEY_RENAMES", "NO_HUB_KERNELS", "QUANTIZATION_SKIP_MODULES",
           "EarthGPTXModel", "EarthGPTXForConditionalGeneration"]
