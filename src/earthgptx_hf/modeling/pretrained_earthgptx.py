"""`EarthGPTXPreTrainedModel`, the base class of the EarthGPT-X model classes, and `EarthGPTXTowerBlock`, the base
of the paper-named blocks that hold transformers towers (mixed visual encoder, spatial-aware encoder, pixel
perception).

The blocks are plain `nn.Module`s (the `DeepseekVLHybrid` layout), not `PreTrainedModel`s holding the composite
config. `PreTrainedModel.post_init` gathers the towers' properties (tied weights, `_no_split_modules`, fp32 modules,
keys to ignore) from its direct children only, reading them as attributes, so each block exposes its towers' under
the same attribute names.
"""

from __future__ import annotations

from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.conversion_mapping import register_checkpoint_conversion_mapping
from transformers.core_model_loading import WeightRenaming

from .band_adapter import EarthGPTXBandAdapter, band_triple_weight
from .configuration_earthgptx import EarthGPTXConfig
from .kv_cache import CACHE_KEY
from .trainable import apply_trainable_preset, freeze_unused_tower_parameters


# Modules that stay in full precision when a bitsandbytes config quantises the model: only the language model's linear
# layers are quantised (QLoRA's recipe; the towers are small next to the LLM, and bitsandbytes' CPU kernels do not
# take their narrow layers). transformers matches these from the start of the module names.
QUANTIZATION_SKIP_MODULES = ["model.vision_tower", "model.spatial_aware_encoder", "model.hybrid_fusion",
                             "model.multi_modal_projector", "model.region_projector", "model.region_position_projector",
                             "pixel_perception", "lm_head"]

# Checkpoints saved before the mask head moved out of `EarthGPTXModel` hold it under `model.pixel_perception.`:
# transformers' own checkpoint conversion renames those keys when they load.
LEGACY_KEY_RENAMES = {r"^model\.pixel_perception\.": "pixel_perception."}
_TOWER_SETS = ("_no_split_modules", "_skip_keys_device_placement", "_keep_in_fp32_modules",
               "_keep_in_fp32_modules_strict", "_keys_to_ignore_on_load_unexpected", "_keys_to_ignore_on_load_missing")


# transformers 5.25 turns Hub kernels on by default in `from_pretrained`: layers fetched from the Hub at load time, and
# an error without the `kernels` package. Every load of ours passes this (5.21-5.24 accept it, False is their default).
NO_HUB_KERNELS = {"use_kernels": False}


class EarthGPTXTowerBlock(nn.Module):
    """An `nn.Module` block holding transformers towers; call `expose_tower_properties()` at the end of `__init__`."""

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
        (`trainable.UNUSED_TOWER_PATTERNS`)."""
        super().post_init()
        freeze_unused_tower_parameters(self)

    def set_trainable(self, preset: str, lora_config=None):
        """Freezes and unfreezes parameters by a named preset: `"paper"`, `"lora"` or `"full"`.

        See `earthgptx_hf.modeling.trainable` for what each preset trains. Returns the model, or for `"lora"` the
        `peft.PeftModel` that wraps it.
        """
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


__all__ = ["EarthGPTXPreTrainedModel", "EarthGPTXTowerBlock", "LEGACY_KEY_RENAMES", "NO_HUB_KERNELS",
           "QUANTIZATION_SKIP_MODULES"]
