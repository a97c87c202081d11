"""EarthGPT-X configuration.

`EarthGPTXConfig` is a composite config in the transformers layout: one sub-config per tower, each built by
transformers' own config classes (`LlamaConfig` or any causal-LM config, `Dinov2Config`, `ConvNextConfig`,
`ViTConfig`, `SamConfig`) plus `EarthGPTXFusionConfig` for the hybrid fusion block, which has no library
counterpart.

Paper: EarthGPT-X (arXiv 2504.12795). The `paper` preset reproduces its tower choices (Llama-2-13B, DINOv2-L/14,
CLIP-ConvNeXt-L, SAM ViT-H, 448x448 input); `small` and `tiny` keep the same structure at sizes that train on a CPU.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

# Order of the special tokens appended after the language model's base vocabulary. The processor's tokenizer adds
# them in this order, so a preset's token ids are `base_vocab_size + index` (see `special_token_layout`).
SPECIAL_TOKENS = ("<image>", "[PIX]", "<region_feat>")
REGION_TOKEN_TEMPLATE = "<Region {}>"


# Entry points that the installed `earthgptx_hf` package gives these classes: the presets (`from_preset`), composition
# from pretrained parts, the trainable presets and the GeoTIFF reader. `earthgptx_hf/__init__.py` registers them when
# the package is imported; the folder never imports the package (its files are a checkpoint's remote code), so a
# process that loaded a checkpoint through remote code alone has none of them, and using one says so.
PACKAGE_EXTENSIONS: dict[str, Callable] = {}


def register_package_extension(name: str, function: Callable) -> None:
    """Makes `function` the package's `name` entry point (called by `earthgptx_hf/__init__.py`)."""
    PACKAGE_EXTENSIONS[name] = function


def package_extension(name: str, purpose: str | None = None) -> Callable | None:
    """The registered `name` entry point; None where it is absent and `purpose` is None, else an ImportError that
    names `purpose` and the package it needs."""
    function = PACKAGE_EXTENSIONS.get(name)
    if function is None and purpose is not None:
        raise ImportError(f"{purpose} comes with the earthgptx-hf package (pip install earthgptx-hf; import "
                          "earthgptx_hf): a checkpoint's remote code carries the model, not the package's "
                          f"{name.replace('_', ' ')}.")
    return function


def special_token_layout(base_vocab_size: int, max_regions: int) -> dict[str, Any]:
    """Token ids of the EarthGPT-X special tokens appended after a base vocabulary of `base_vocab_size` ids.

    Returns a dict with `image_token_id`, `pix_token_id`, `region_feature_token_id`, `region_token_ids`
    (one per region, `<Region 1>` first) and `vocab_size` (the extended vocabulary).
    """
    image_token_id, pix_token_id, region_feature_token_id = (base_vocab_size + i for i in range(3))
    first_region = base_vocab_size + len(SPECIAL_TOKENS)
    region_token_ids = list(range(first_region, first_region + max_regions))
    return {
        "image_token_id": image_token_id,
        "pix_token_id": pix_token_id,
        "region_feature_token_id": region_feature_token_id,
        "region_token_ids": region_token_ids,
        "vocab_size": first_region + max_regions,
    }


@strict
class EarthGPTXFusionConfig(PreTrainedConfig):
    r"""
    Configuration of the hybrid fusion block (paper Eq. 4-7), which mixes the mixed visual encoder's image tokens
    `V_img` with the spatial-aware encoder's prompt tokens `E_prompt`.

    hidden_size (`int`): width `D_v` of the fused visual tokens (also the output width of the mixed visual encoder).
    num_attention_heads (`int`): heads of the self- and cross-attention layers.
    intermediate_size (`int`): hidden width of the feed-forward networks.
    hidden_act (`str`): activation of the feed-forward networks.
    attention_dropout (`float`): dropout on attention probabilities during training.
    layer_norm_eps (`float`): epsilon of the pre-norm LayerNorms.

    The Linear layers are initialised with the composite config's `initializer_range` (`EarthGPTXConfig`).
    """

    model_type = "earthgptx_fusion"
    base_config_key = "hybrid_fusion_config"

    hidden_size: int = 1024
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "gelu"
    attention_dropout: float | int = 0.0
    layer_norm_eps: float = 1e-6

    def __post_init__(self, **kwargs):
        # configs saved before this field was removed carry it; the composite config's value was always the one used
        kwargs.pop("initializer_range", None)
        super().__post_init__(**kwargs)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hybrid_fusion_config.hidden_size ({self.hidden_size}) must be a multiple of "
                f"hybrid_fusion_config.num_attention_heads ({self.num_attention_heads})."
            )


# The language model's own vocabulary in the paper configuration (Llama-2's tokenizer): the special-token ids of a
# default `EarthGPTXConfig()` follow it.
PAPER_BASE_VOCAB_SIZE = 32000
# The towers of a default `EarthGPTXConfig()` (a sub-config left as None): the paper's (SPEC section 1).
PAPER_TOWERS: dict[str, dict[str, Any]] = {
    "text_config": {  # Llama-2-13B
        "model_type": "llama", "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
        "num_attention_heads": 40, "num_key_value_heads": 40, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
    },
    "dino_config": {  # facebook/dinov2-large
        "model_type": "dinov2", "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
        "mlp_ratio": 4, "patch_size": 14, "image_size": 518, "layerscale_value": 1.0,
    },
    "convnext_config": {  # CLIP-ConvNeXt-L (open_clip convnext_large_d): ConvNeXt-L stages
        "model_type": "convnext", "depths": [3, 3, 27, 3], "hidden_sizes": [192, 384, 768, 1536],
        "num_stages": 4, "layer_norm_eps": 1e-6,
    },
    "spatial_config": {  # randomly initialised ViT over the prompt maps, patch grid of DINOv2
        "model_type": "vit", "hidden_size": 1024, "num_hidden_layers": 6, "num_attention_heads": 16,
        "intermediate_size": 4096,
    },
    "hybrid_fusion_config": {"hidden_size": 1024, "num_attention_heads": 16, "intermediate_size": 4096},
    "grounding_config": {  # facebook/sam-vit-huge
        "model_type": "sam",
        "vision_config": {
            "hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
            "global_attn_indexes": [7, 15, 23, 31], "output_channels": 256, "image_size": 1024,
        },
    },
}

# The statistics the model normalises uint8 visual inputs with (the image processor's attributes of the same names).
PIXEL_STATISTICS = ("image_mean", "image_std", "convnext_image_mean", "convnext_image_std", "sam_image_mean",
                    "sam_image_std")


@strict
class EarthGPTXConfig(PreTrainedConfig):
    r"""
    Configuration of [`EarthGPTXForConditionalGeneration`]. `EarthGPTXConfig()` is the paper configuration.

    Sub-configs (each a dict or a config object; `None` gives that tower in the `paper` preset):
        text_config: the language model, any causal-LM config (`model_type` picks the class; Llama-2-13B by default).
        dino_config: DINOv2 tower of the mixed visual encoder (`Dinov2Config`; DINOv2-L/14 by default).
        convnext_config: CLIP-ConvNeXt tower of the mixed visual encoder (`ConvNextConfig`; ConvNeXt-L by default).
        spatial_config: spatial-aware encoder, a ViT (`ViTConfig`). Three of its fields are derived, not chosen:
            `num_channels = max_regions` (channel i is the rasterised map of prompt i), `patch_size =
            dino_config.patch_size` (prompt token j and image token j cover the same pixels, Eq. 7 adds them) and
            `image_size = tile_size` (it reads the prompt maps of one view). A dict that sets one of them to another
            value is refused.
        hybrid_fusion_config: hybrid fusion block (`EarthGPTXFusionConfig`).
        grounding_config: SAM (`SamConfig`; ViT-H by default): grounding encoder G, prompt encoder, pixel decoder P.

    Image geometry (our decision, SPEC section 2.1): an image is fitted into a canvas of `tile_grid` x `tile_size`
    pixels (`canvas_size`); the views are one global view of the canvas resized to `tile_size` plus the `tile_grid`
    crops. Every view gives `(tile_size // patch_size) ** 2` visual tokens.

    Token ids (explicit, as in `LlavaConfig`; the defaults are the paper layout, appended after Llama-2's 32,000
    ids): `image_token_id` (the `<image>` placeholder, one per visual token), `pix_token_id` (`[PIX]`),
    `region_feature_token_id` (`<region_feat>`), `region_token_ids` (`<Region 1>` ... `<Region max_regions>`; by
    default the `max_regions` ids that follow `region_feature_token_id`). A processor's tokenizer must give the same
    ids: `EarthGPTXProcessor.check_model_config` says where they differ.

    With `use_region_features`, every `<Region i>` token also carries prompt i's region feature (added to its
    embedding, in the prompt and in generated text), which is what lets the model bind answers to prompts
    (docs/training.md). The region feature is the projected mask-pooled visual feature plus, when
    `region_position_size > 0`, a linear embedding of the prompt's map on the global view reduced to
    `region_position_size` x `region_position_size` (Osprey's spatial token; docs/model.md). The presets use 16; the
    default 0 keeps checkpoints saved before this field existed loading as they were trained.
    `region_feature_next_token` (default False; not in the papers) adds the feature to the token right after each
    `<Region i>` too (not its `<region_feat>`): in an answer "<Region i>: class" that is the ":" that predicts the
    class (`models/earthgptx/perception.py`).

    Loss weights (SPEC section 2.5, LISA defaults): `ce_loss_weight`, `bce_loss_weight`, `dice_loss_weight`.

    Mask scores (SAM's IoU prediction head, in the pixel decoder): `iou_loss_weight` (default 1.0, SAM's weight of its
    IoU MSE) weighs `mask_iou_loss`, the mean squared error between the IoU the head predicts for each mask and that
    mask's true IoU with its ground truth (detached); the prediction is each mask's score (`pred_scores`).
    `multimask_output` (default False: the paper's single-mask path) decodes SAM's `num_multimask_outputs` (3)
    candidates per `[PIX]` and keeps the one with the highest predicted IoU; in training only the candidate with the
    lowest mask loss learns from the mask, as in SAM, and the IoU head learns on all of them. Configs saved before
    these fields existed load with the defaults.

    `region_label_loss_weight` (default 0: off; not in the papers) weighs `region_label_loss`, the cross-entropy of
    each region feature read through the LM head against the first token of its object's class
    (`models/earthgptx/perception.py`): for models trained from random weights, where the region features otherwise
    do not learn to tell objects apart (docs/real_data_recipe.md).

    Pixel statistics (the image processor's, in [0, 1] units; `EarthGPTXProcessor.check_model_config` compares them):
    `image_mean` / `image_std` (DINOv2: ImageNet), `convnext_image_mean` / `convnext_image_std` (CLIP-ConvNeXt: OpenAI
    CLIP) and `sam_image_mean` / `sam_image_std` (SAM: ImageNet). The model normalises uint8 visual inputs with them
    and derives ConvNeXt's input from DINOv2-normalised `pixel_values` (`visual_inputs`). Configs saved before these
    fields existed load with the defaults, which are the statistics their processors used.

    Bands (issue 35): `input_bands` (default 3) is the number of channels of `pixel_values`. Any other value adds the
    learned band adapter (`models/earthgptx/mixed_visual_encoder.py`), a 1x1 convolution from the `input_bands` 8-bit bands to the
    towers' 3 channels, initialised to the band triple `band_adapter_init` (0-based band indices, default [0, 1, 2])
    so that pretrained towers start on those three bands exactly as they saw RGB; docs/model.md says when to train
    it. With 3 bands there is no adapter and `band_adapter_init` must stay [0, 1, 2]. Configs saved before these
    fields existed load with the defaults.
    """

    model_type = "earthgptx"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
        "dino_config": SubConfigSpec(config_class=AutoConfig, model_type="dinov2"),
        "convnext_config": SubConfigSpec(config_class=AutoConfig, model_type="convnext"),
        "spatial_config": SubConfigSpec(config_class=AutoConfig, model_type="vit"),
        "hybrid_fusion_config": EarthGPTXFusionConfig,
        "grounding_config": SubConfigSpec(config_class=AutoConfig, model_type="sam"),
    }

    text_config: dict | PreTrainedConfig | None = None
    dino_config: dict | PreTrainedConfig | None = None
    convnext_config: dict | PreTrainedConfig | None = None
    spatial_config: dict | PreTrainedConfig | None = None
    hybrid_fusion_config: dict | PreTrainedConfig | None = None
    grounding_config: dict | PreTrainedConfig | None = None

    tile_size: int = 224
    tile_grid: list[int] | tuple[int, int] = (2, 2)
    max_regions: int = 16
    projector_hidden_act: str = "gelu"
    use_region_features: bool = True
    region_position_size: int = 0
    region_feature_next_token: bool = False

    image_token_id: int = PAPER_BASE_VOCAB_SIZE
    pix_token_id: int = PAPER_BASE_VOCAB_SIZE + 1
    region_feature_token_id: int = PAPER_BASE_VOCAB_SIZE + 2
    region_token_ids: list[int] | tuple[int, ...] | None = None

    ce_loss_weight: float | int = 1.0
    bce_loss_weight: float | int = 2.0
    dice_loss_weight: float | int = 0.5
    iou_loss_weight: float | int = 1.0
    region_label_loss_weight: float | int = 0.0
    multimask_output: bool = False
    image_mean: list[float | int] | tuple[float, ...] = tuple(IMAGENET_DEFAULT_MEAN)
    image_std: list[float | int] | tuple[float, ...] = tuple(IMAGENET_DEFAULT_STD)
    convnext_image_mean: list[float | int] | tuple[float, ...] = tuple(OPENAI_CLIP_MEAN)
    convnext_image_std: list[float | int] | tuple[float, ...] = tuple(OPENAI_CLIP_STD)
    sam_image_mean: list[float | int] | tuple[float, ...] = tuple(IMAGENET_DEFAULT_MEAN)
    sam_image_std: list[float | int] | tuple[float, ...] = tuple(IMAGENET_DEFAULT_STD)
    input_bands: int = 3
    band_adapter_init: list[int] | tuple[int, ...] | None = None
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        self.tile_grid = [int(v) for v in self.tile_grid]
        legacy_image_size = kwargs.pop("image_size", None)
        if legacy_image_size is not None and [int(legacy_image_size)] * 2 != list(self.canvas_size):
            raise ValueError(
                f"image_size={legacy_image_size} is not a field of EarthGPTXConfig: the canvas is tile_grid x "
                f"tile_size = {list(self.canvas_size)} pixels (rows, cols). Set tile_size or tile_grid instead "
                "(a saved config whose image_size equals its canvas still loads)."
            )
        paper = PAPER_TOWERS
        for key in self.sub_configs_defaults:
            if getattr(self, key) is None:  # the paper's tower, sized for this config's special tokens
                setattr(self, key, copy.deepcopy(paper[key]))
        if isinstance(self.text_config, dict) and "vocab_size" not in self.text_config:
            self.text_config["vocab_size"] = PAPER_BASE_VOCAB_SIZE + len(SPECIAL_TOKENS) + self.max_regions
        self._derive_spatial_config(before_conversion=True)
        super().__post_init__(**kwargs)
        self._derive_spatial_config(before_conversion=False)
        # As in LlavaConfig: a language model with tied embeddings (e.g. SmolLM2) keeps them tied here.
        if not self.tie_word_embeddings and getattr(self.text_config, "tie_word_embeddings", False):
            self.tie_word_embeddings = True
        if self.region_token_ids is None:
            first = int(self.region_feature_token_id) + 1
            self.region_token_ids = list(range(first, first + self.max_regions))
        self.region_token_ids = [int(v) for v in self.region_token_ids]
        self._check_towers_fit()
        self._check_switches()
        self._check_mask_scores()
        self._check_pixel_statistics()
        self._check_bands()

    def _check_bands(self) -> None:
        """`input_bands` a positive integer; `band_adapter_init` three band indices below it (stored as a list)."""
        bands = self.input_bands
        if isinstance(bands, bool) or not isinstance(bands, int) or bands < 1:
            raise ValueError(f"input_bands={bands!r} must be a positive integer (the channels of pixel_values; 3 "
                             "without the band adapter).")
        triple = [0, 1, 2] if self.band_adapter_init is None else self.band_adapter_init
        if not isinstance(triple, (list, tuple)) or len(triple) != 3 or \
                any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < bands for v in triple):
            raise ValueError(f"band_adapter_init={triple!r} must be 3 integer band indices in [0, {bands}) (0-based, "
                             f"below input_bands={bands}): the bands the adapter starts as, e.g. [2, 1, 0] for "
                             "the red, green and blue of a blue, green, red, near-infrared stack.")
        if bands == 3 and list(triple) != [0, 1, 2]:
            raise ValueError(f"band_adapter_init={list(triple)} needs input_bands other than 3: with 3 bands there is "
                             "no band adapter (reorder the bands in the processor instead, or leave it out).")
        self.band_adapter_init = [int(v) for v in triple]

    def _check_pixel_statistics(self) -> None:
        """Each statistic is 3 finite numbers (one per RGB channel), every std positive; stored as lists."""
        for key in PIXEL_STATISTICS:
            values = getattr(self, key)
            numbers = [v for v in values if not isinstance(v, bool) and isinstance(v, (int, float))]
            if len(values) != 3 or len(numbers) != 3 or not all(math.isfinite(v) for v in numbers) or \
                    (key.endswith("std") and min(numbers) <= 0):
                raise ValueError(f"{key}={values!r} must be 3 finite numbers (R, G, B, in [0, 1] pixel units)"
                                 + (", all positive." if key.endswith("std") else "."))
            setattr(self, key, [float(v) for v in numbers])

    def _check_switches(self) -> None:
        """The on/off fields are True or False (a JSON override of "yes" or 1 is refused, not read as truthy)."""
        for key in ("use_region_features", "region_feature_next_token", "multimask_output"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key}={getattr(self, key)!r} must be true or false.")

    def _check_mask_scores(self) -> None:
        """`iou_loss_weight` and `region_label_loss_weight` are finite numbers at least 0; `multimask_output` needs
        SAM's multimask tokens."""
        for key, meaning in (("iou_loss_weight", "the weight of the mask score's IoU loss; SAM's is 1.0"),
                             ("region_label_loss_weight", "the weight of the region-label loss; 0 turns it off")):
            weight = getattr(self, key)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or \
                    weight < 0:
                raise ValueError(f"{key}={weight!r} must be a finite number at least 0 ({meaning}).")
        if self.multimask_output and self.grounding_config.mask_decoder_config.num_multimask_outputs < 1:
            raise ValueError("multimask_output=True needs grounding_config.mask_decoder_config.num_multimask_outputs "
                             "at least 1 (SAM has 3).")

    def _derive_spatial_config(self, before_conversion: bool) -> None:
        """Sets the spatial-aware encoder's derived fields (see the class docstring); before the sub-configs are
        built, refuses a dict that gives one of them another value."""
        spatial, dino = self.spatial_config, self.dino_config
        dino_patch = dino.get("patch_size", 14) if isinstance(dino, dict) else dino.patch_size
        derived = {"num_channels": self.max_regions, "patch_size": _as_int(dino_patch), "image_size": self.tile_size}
        if before_conversion:
            if isinstance(spatial, dict):
                for key, value in derived.items():
                    if key in spatial and _as_int(spatial[key]) != value:
                        raise ValueError(
                            f"spatial_config.{key}={spatial[key]!r} disagrees with the value it is derived from "
                            f"({value}: num_channels = max_regions, patch_size = dino_config.patch_size, image_size "
                            "= tile_size). Leave it out."
                        )
            return
        for key, value in derived.items():
            setattr(spatial, key, value)

    def _check_towers_fit(self):
        """Checks the fields that cannot be derived; raises ValueError naming the field at fault."""
        patch = _as_int(self.dino_config.patch_size)
        if self.tile_size % patch != 0:
            raise ValueError(
                f"tile_size ({self.tile_size}) must be a multiple of dino_config.patch_size ({patch}): each view is "
                "cut into DINOv2 patches."
            )
        if len(self.tile_grid) != 2 or min(self.tile_grid) < 1:
            raise ValueError(f"tile_grid must be two positive integers [rows, cols], got {self.tile_grid}.")
        if self.max_regions < 1:
            raise ValueError(f"max_regions must be at least 1, got {self.max_regions}.")
        if len(self.region_token_ids) != self.max_regions:
            raise ValueError(
                f"region_token_ids has {len(self.region_token_ids)} ids but max_regions is {self.max_regions}."
            )
        sam = self.grounding_config
        widths = {sam.vision_config.output_channels, sam.prompt_encoder_config.hidden_size,
                  sam.mask_decoder_config.hidden_size}
        if len(widths) != 1:
            raise ValueError(
                "grounding_config: vision_config.output_channels, prompt_encoder_config.hidden_size and "
                f"mask_decoder_config.hidden_size must be equal, got {sorted(widths)}."
            )
        if 2 * sam.vision_config.num_pos_feats != sam.vision_config.output_channels:
            raise ValueError(
                f"grounding_config.vision_config.num_pos_feats ({sam.vision_config.num_pos_feats}) must be half of "
                f"output_channels ({sam.vision_config.output_channels}): SAM's positional encoding has that width."
            )
        if _as_int(sam.prompt_encoder_config.image_size) != _as_int(sam.vision_config.image_size):
            raise ValueError(
                f"grounding_config.prompt_encoder_config.image_size ({sam.prompt_encoder_config.image_size}) must "
                f"equal grounding_config.vision_config.image_size ({sam.vision_config.image_size})."
            )
        vocab = self.text_config.vocab_size
        ids = {"image_token_id": self.image_token_id, "pix_token_id": self.pix_token_id,
               "region_feature_token_id": self.region_feature_token_id}
        ids.update({f"region_token_ids[{i}]": value for i, value in enumerate(self.region_token_ids)})
        for key, value in ids.items():
            if not 0 <= value < vocab:
                raise ValueError(
                    f"{key} ({value}) is outside the language model's vocabulary [0, {vocab}) "
                    f"(text_config.vocab_size). Give the ids your tokenizer assigned to the EarthGPT-X special tokens "
                    "(EarthGPTXProcessor.from_model_config adds them), or build the config with from_preset."
                )
        if len(set(ids.values())) != len(ids):
            raise ValueError(f"The special-token ids must all differ, got {ids}.")

    # ----------------------------------------------------------------------------------------------------------
    @property
    def num_views(self) -> int:
        """Views per image: one global view plus the tile grid."""
        return 1 + self.tile_grid[0] * self.tile_grid[1]

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(height, width) of the canvas the tiles are cut from: `tile_grid` x `tile_size`."""
        return self.tile_grid[0] * self.tile_size, self.tile_grid[1] * self.tile_size

    @property
    def patches_per_side(self) -> int:
        return self.tile_size // _as_int(self.dino_config.patch_size)

    @property
    def tokens_per_view(self) -> int:
        return self.patches_per_side**2

    @property
    def num_image_tokens(self) -> int:
        """Number of `<image>` placeholder tokens one image expands to with the default view layout."""
        return self.num_views * self.tokens_per_view

    @property
    def grounding_image_size(self) -> int:
        """Side of the square SAM view (longest side resized to it, then padded)."""
        return _as_int(self.grounding_config.vision_config.image_size)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> EarthGPTXConfig:
        """A named configuration: `"paper"` (the paper's towers: Llama-2-13B, DINOv2-L/14, CLIP-ConvNeXt-L, SAM ViT-H at
        448x448), `"small"` (CPU-trainable, same structure) or `"tiny"` (tests), with `overrides` (fields; a
        sub-config dict without `model_type` updates the preset's fields). The presets are the package's
        (`earthgptx_hf.conversion.presets.config_from_preset`, which documents the rules)."""
        return package_extension("config_from_preset", "EarthGPTXConfig.from_preset")(cls, name, **overrides)


def _as_int(value) -> int:
    """Sizes in transformers configs may be an int or a pair; EarthGPT-X uses square patches and images."""
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise ValueError(f"EarthGPT-X needs square sizes, got {value}.")
        return int(value[0])
    return int(value)


__all__ = ["EarthGPTXConfig", "EarthGPTXFusionConfig", "PAPER_BASE_VOCAB_SIZE", "PAPER_TOWERS", "PIXEL_STATISTICS",
           "REGION_TOKEN_TEMPLATE", "SPECIAL_TOKENS", "package_extension", "register_package_extension",
           "special_token_layout"]
