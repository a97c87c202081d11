"""Registers EarthGPT-X with transformers' Auto classes (called once from `earthgptx_hf/__init__.py`).

Two registrations happen here:
- the in-process Auto mappings (`AutoConfig.register(...)`), so `AutoModelForImageTextToText.from_pretrained` works
  while `earthgptx_hf` is imported;
- `register_for_auto_class`, so that `save_pretrained` copies the code next to the weights and writes `auto_map`,
  and the saved folder loads with `trust_remote_code=True` where `earthgptx_hf` is not installed.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageTextToText, AutoProcessor

from .modeling import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXModel
from .processing import EarthGPTXImageProcessor, EarthGPTXProcessor

# Every Auto class a saved EarthGPT-X folder answers to, with the class it resolves to.
MODEL_AUTO_MAP = {
    "AutoModel": EarthGPTXModel,
    "AutoModelForImageTextToText": EarthGPTXForConditionalGeneration,
}


def register_auto_classes() -> None:
    AutoConfig.register(EarthGPTXConfig.model_type, EarthGPTXConfig, exist_ok=True)
    EarthGPTXConfig.register_for_auto_class("AutoConfig")
    for auto_name, model_class in MODEL_AUTO_MAP.items():
        auto_class = {"AutoModel": AutoModel, "AutoModelForImageTextToText": AutoModelForImageTextToText}[auto_name]
        auto_class.register(EarthGPTXConfig, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_name)
    AutoImageProcessor.register(EarthGPTXConfig, image_processor_classes={"pil": EarthGPTXImageProcessor},
                                exist_ok=True)
    EarthGPTXImageProcessor.register_for_auto_class("AutoImageProcessor")
    AutoProcessor.register(EarthGPTXConfig, EarthGPTXProcessor, exist_ok=True)
    EarthGPTXProcessor.register_for_auto_class("AutoProcessor")
