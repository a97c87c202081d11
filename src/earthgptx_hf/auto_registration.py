"""Registers EarthGPT-X with transformers' Auto classes (called once from `earthgptx_hf/__init__.py`).

Three registrations happen here:
- the in-process Auto mappings (`AutoConfig.register(...)`), so `AutoModelForImageTextToText.from_pretrained` works
  while `earthgptx_hf` is imported;
- `register_for_auto_class`, so that `save_pretrained` copies the code next to the weights and writes `auto_map`,
  and the saved folder loads with `trust_remote_code=True` where `earthgptx_hf` is not installed;
- the `visual-prompting` task in transformers' pipeline registry, so `pipeline("visual-prompting", model=...)` works;
  a pipeline saved with `save_pretrained` also writes `custom_pipelines` and its code, for `trust_remote_code=True`.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageTextToText, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .modeling import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXModel
from .pipelines import TASK, VisualPromptingPipeline
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
    if TASK not in PIPELINE_REGISTRY.get_supported_tasks() or \
            PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] is not VisualPromptingPipeline:
        PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=VisualPromptingPipeline,
                                            pt_model=AutoModelForImageTextToText, type="multimodal")
