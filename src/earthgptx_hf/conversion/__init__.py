"""Building EarthGPT-X models and processors: named presets, composition from separately pretrained parts, the
open_clip ConvNeXt converter, the shipped tokenizer, and loading a checkpoint into the pipeline. Clients of the model
folder (`earthgptx_hf.models.earthgptx`); the folder reaches them only through the entry points that
`earthgptx_hf/__init__.py` registers."""

from .composition import compose_from_pretrained_parts
from .convert_open_clip_convnext import convert_open_clip_convnext_state_dict, load_open_clip_convnext
from .loading import load_visual_prompting
from .presets import PRESETS, config_from_preset
from .tokenization import add_earthgptx_tokens, load_llama_tokenizer, load_shipped_tokenizer

__all__ = [
    "PRESETS",
    "add_earthgptx_tokens",
    "compose_from_pretrained_parts",
    "config_from_preset",
    "convert_open_clip_convnext_state_dict",
    "load_llama_tokenizer",
    "load_open_clip_convnext",
    "load_shipped_tokenizer",
    "load_visual_prompting",
]
