"""EarthGPT-X for Hugging Face transformers: a visual-prompting multimodal LLM for optical, SAR and infrared imagery.

The model is `earthgptx_hf.models.earthgptx`, a folder shaped as transformers ships a model (the code a checkpoint
carries). Everything else is its client, in layers (`tests/test_layering.py`):

    models.earthgptx <- {conversion, data} <- {training, evaluation} <- geo <- {app, tools}

(`utils` holds two standard-library helpers any layer may use.) Importing the package wires it together, here and
nowhere else:
- transformers' Auto classes and the `visual-prompting` pipeline task learn the model's classes, and the classes are
  registered for Auto classes, so `save_pretrained` copies their code next to the weights (`auto_map`);
- the model folder gets the package's entry points (`register_package_extension`): the presets of
  `EarthGPTXConfig.from_preset` / `EarthGPTXProcessor.from_preset`, composition from pretrained parts, the trainable
  presets of `set_trainable`, and, with the `geo` extra, the GeoTIFF reader. Each is imported when first used.
"""

import importlib

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageTextToText, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .models.earthgptx import (
    TASK,
    EarthGPTXConfig,
    EarthGPTXForConditionalGeneration,
    EarthGPTXGenerateBeamOutput,
    EarthGPTXGenerateOutput,
    EarthGPTXImageProcessor,
    EarthGPTXModel,
    EarthGPTXPreTrainedModel,
    EarthGPTXProcessor,
    VisualPromptingPipeline,
)
from .models.earthgptx.configuration_earthgptx import register_package_extension

__version__ = "0.1.0"

# Every Auto class a saved EarthGPT-X folder answers to, with the class it resolves to.
MODEL_AUTO_MAP = {"AutoModel": (AutoModel, EarthGPTXModel),
                  "AutoModelForImageTextToText": (AutoModelForImageTextToText, EarthGPTXForConditionalGeneration)}

# name -> (module, function) of the package's entry points into the model folder
PACKAGE_EXTENSIONS = {
    "config_from_preset": ("earthgptx_hf.conversion.presets", "config_from_preset"),
    "processor_from_preset": ("earthgptx_hf.conversion.presets", "processor_from_preset"),
    "processor_from_model_config": ("earthgptx_hf.conversion.presets", "processor_from_model_config"),
    "compose_from_pretrained_parts": ("earthgptx_hf.conversion.composition", "compose_from_pretrained_parts"),
    "apply_trainable_preset": ("earthgptx_hf.training.trainable", "apply_trainable_preset"),
}


def _imported_when_called(module: str, name: str):
    """`module.name`, imported at its first call (so that `import earthgptx_hf` stays light)."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"`{module}.{name}` (imported when first called)."
    return call


def raster_reader_for(source):
    """`earthgptx_hf.geo.raster.raster_reader_for(source)`; None where the `geo` extra cannot be imported (the
    processor then reads TIFFs through PIL, and names the extra when PIL cannot)."""
    try:
        from .geo.raster import raster_reader_for as geo_reader_for
    except ImportError:
        return None
    return geo_reader_for(source)


def register_package_extensions() -> None:
    for name, (module, function) in PACKAGE_EXTENSIONS.items():
        register_package_extension(name, _imported_when_called(module, function))
    register_package_extension("raster_reader_for", raster_reader_for)


def register_auto_classes() -> None:
    """transformers' in-process Auto mappings, `register_for_auto_class` (so that `save_pretrained` copies the code
    and writes `auto_map`) and the `visual-prompting` task."""
    AutoConfig.register(EarthGPTXConfig.model_type, EarthGPTXConfig, exist_ok=True)
    EarthGPTXConfig.register_for_auto_class("AutoConfig")
    for auto_name, (auto_class, model_class) in MODEL_AUTO_MAP.items():
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


register_package_extensions()
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
    "VisualPromptingPipeline",
    "register_auto_classes",
]
