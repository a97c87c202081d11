"""The EarthGPT-X network: configuration, towers, fusion, pixel perception and the transformers model classes."""

from .convert_open_clip_convnext import convert_open_clip_convnext_state_dict, load_open_clip_convnext
from .configuration_earthgptx import EarthGPTXConfig, EarthGPTXFusionConfig, special_token_layout
from .modeling_earthgptx import (
    EarthGPTXCausalLMOutputWithPast,
    EarthGPTXForConditionalGeneration,
    EarthGPTXGenerateBeamOutput,
    EarthGPTXGenerateOutput,
    EarthGPTXModel,
    EarthGPTXPreTrainedModel,
)
from .trainable import TRAINABLE_PRESETS, apply_trainable_preset, trainable_parameter_names

__all__ = [
    "EarthGPTXConfig",
    "EarthGPTXFusionConfig",
    "EarthGPTXModel",
    "EarthGPTXPreTrainedModel",
    "EarthGPTXForConditionalGeneration",
    "EarthGPTXCausalLMOutputWithPast",
    "EarthGPTXGenerateBeamOutput",
    "EarthGPTXGenerateOutput",
    "special_token_layout",
    "convert_open_clip_convnext_state_dict",
    "load_open_clip_convnext",
    "TRAINABLE_PRESETS",
    "apply_trainable_preset",
    "trainable_parameter_names",
]
