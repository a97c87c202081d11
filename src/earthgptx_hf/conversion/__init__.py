"""Building EarthGPT-X models and processors: named presets (`conversion.presets`, behind `EarthGPTXConfig.from_preset`
and `EarthGPTXProcessor.from_preset`), composition from separately pretrained parts (`conversion.composition`, behind
`EarthGPTXForConditionalGeneration.from_pretrained_parts`), the open_clip ConvNeXt converter, the tokenizers, and
loading a checkpoint into the pipeline. Clients of the model folder (`earthgptx_hf.models.earthgptx`); the folder
reaches them only through the entry points that `earthgptx_hf/__init__.py` registers. Exported: what users call
themselves."""

from .convert_open_clip_convnext import convert_open_clip_convnext_state_dict, load_open_clip_convnext
from .loading import load_visual_prompting
from .tokenization import add_earthgptx_tokens, load_llama_tokenizer, load_shipped_tokenizer

__all__ = [
    "add_earthgptx_tokens",
    "convert_open_clip_convnext_state_dict",
    "load_llama_tokenizer",
    "load_open_clip_convnext",
    "load_shipped_tokenizer",
    "load_visual_prompting",
]
