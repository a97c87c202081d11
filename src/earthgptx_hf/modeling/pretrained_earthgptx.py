"""`EarthGPTXPreTrainedModel`: the base class of the EarthGPT-X model classes and of the paper-named blocks.

The blocks that hold transformers towers (mixed visual encoder, spatial-aware encoder, pixel perception) derive
from it too, so that transformers gathers the towers' properties (tied weights, `_no_split_modules`, ...) through
them: `PreTrainedModel.post_init` collects those from direct `PreTrainedModel` children only.
"""

from __future__ import annotations

from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from .configuration_earthgptx import EarthGPTXConfig
from .kv_cache import CACHE_KEY
from .trainable import apply_trainable_preset


# Modules that stay in full precision when a bitsandbytes config quantises the model: only the language model's linear
# layers are quantised (QLoRA's recipe; the towers are small next to the LLM, and bitsandbytes' CPU kernels do not
# take their narrow layers). transformers matches these from the start of the module names.
QUANTIZATION_SKIP_MODULES = ["model.vision_tower", "model.spatial_aware_encoder", "model.hybrid_fusion",
                             "model.multi_modal_projector", "model.region_projector", "model.region_position_projector",
                             "model.pixel_perception", "lm_head"]


class EarthGPTXPreTrainedModel(PreTrainedModel):
    config: EarthGPTXConfig
    config_class = EarthGPTXConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _skip_keys_device_placement = [CACHE_KEY]  # the cache stays where it is under device_map (installed name)
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_attention_backend = True

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a bitsandbytes `quantization_config` without `llm_int8_skip_modules`
        quantises the language model only (`QUANTIZATION_SKIP_MODULES`)."""
        quantization = kwargs.get("quantization_config")
        if quantization is not None and getattr(quantization, "quant_method", None) == "bitsandbytes" and \
                getattr(quantization, "llm_int8_skip_modules", None) is None:
            quantization.llm_int8_skip_modules = list(QUANTIZATION_SKIP_MODULES)
        return super().from_pretrained(*args, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, with `auto_map` naming every Auto class a saved folder answers to.

        When the classes are registered for Auto classes (importing `earthgptx_hf` does it), the code files are
        copied next to the weights, so the folder loads with `trust_remote_code=True` without this package.
        Weights are saved under the current module names (`save_original_format=False` unless given).
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
        # Save the weights under the module names they have now, not transformers' legacy layouts of the towers
        # (ViT's "encoder.layer.N.attention.attention.key", ...): `Trainer` resumes a checkpoint by loading its raw
        # state dict, which must match the module names or the towers would silently keep their old weights.
        kwargs.setdefault("save_original_format", False)
        return super().save_pretrained(save_directory, *args, **kwargs)

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


__all__ = ["EarthGPTXPreTrainedModel", "QUANTIZATION_SKIP_MODULES"]
