"""EarthGPT-X for Hugging Face transformers: a visual-prompting multimodal LLM for optical, SAR and infrared imagery.

Importing the package registers the config and model classes with transformers' Auto classes.
"""

from .auto_registration import register_auto_classes
from .processing import EarthGPTXImageProcessor, EarthGPTXProcessor
from .modeling import (
    EarthGPTXConfig,
    EarthGPTXForConditionalGeneration,
    EarthGPTXGenerateBeamOutput,
    EarthGPTXGenerateOutput,
    EarthGPTXModel,
    EarthGPTXPreTrainedModel,
)

__version__ = "0.1.0"

register_auto_classes()

__all__ = [
    "EarthGPTXConfig",
    "EarthGPTXModel",
    "EarthGPTXPreTrainedModel",
    "EarthGPTXForConditionalGeneration",
    "EarthGPTXGenerateBeamOutput",
    "EarthGPTXGenerateOutput",
    "EarthGPTXImageProcessor",
    "EarthGPTXProcessor",
    "register_auto_classes",
]
