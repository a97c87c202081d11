"""EarthGPT-X, shaped as transformers ships a model: the code a saved checkpoint carries, and nothing else.

Every module here imports only the standard library, torch, transformers (and its `huggingface_hub`), numpy and PIL,
never the rest of `earthgptx_hf` (`tests/test_layering.py` proves it), because `save_pretrained` copies these files
next to the weights and they must run where the package is not installed. The files, in reading order:

- `configuration_earthgptx.py`: `EarthGPTXConfig` (and the fusion's sub-config);
- `modeling_earthgptx.py`: outputs, `EarthGPTXPreTrainedModel`, `EarthGPTXModel`, `EarthGPTXForConditionalGeneration`;
- `mixed_visual_encoder.py`: the blocks before the LLM: mixed visual encoder (Eq. (1)), band adapter, spatial-aware
  encoder, hybrid fusion, projector;
- `perception.py`: region features (`<Region i>` tokens) and pixel perception (`[PIX]` -> mask, Eq. (4)-(6));
- `generation_earthgptx.py`: the forward's input checks, the cache helpers and `generate()`'s mixin;
- `image_processing_earthgptx.py`, `multi_source.py`, `visual_prompts.py`: images and visual prompts to tensors;
- `processing_earthgptx.py`, `post_processing.py`, `conversation.py`: text, chat template, answers back to regions and
  masks, follow-up turns;
- `visual_prompting.py`: `pipeline("visual-prompting")`.

The package side (presets, composition from pretrained parts, trainable presets, raster reading) registers itself
through `register_package_extension` (`configuration_earthgptx.py`) when `earthgptx_hf` is imported; the folder never
imports it.
"""

from .configuration_earthgptx import EarthGPTXConfig, EarthGPTXFusionConfig
from .generation_earthgptx import EarthGPTXGenerateBeamOutput, EarthGPTXGenerateOutput
from .image_processing_earthgptx import EarthGPTXImageProcessor
from .modeling_earthgptx import (
    EarthGPTXCausalLMOutputWithPast,
    EarthGPTXForConditionalGeneration,
    EarthGPTXModel,
    EarthGPTXPreTrainedModel,
)
from .processing_earthgptx import EarthGPTXProcessor
from .visual_prompting import TASK, VisualPromptingPipeline

__all__ = [
    "EarthGPTXConfig",
    "EarthGPTXFusionConfig",
    "EarthGPTXModel",
    "EarthGPTXPreTrainedModel",
    "EarthGPTXForConditionalGeneration",
    "EarthGPTXCausalLMOutputWithPast",
    "EarthGPTXGenerateBeamOutput",
    "EarthGPTXGenerateOutput",
    "EarthGPTXImageProcessor",
    "EarthGPTXProcessor",
    "TASK",
    "VisualPromptingPipeline",
]
