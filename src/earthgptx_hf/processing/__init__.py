"""Pre- and post-processing: multi-source images, views, visual prompts, tokenisation, masks back to the image."""

from .image_processing_earthgptx import EarthGPTXImageProcessor
from .multi_source import normalise_image
from .stretch import robust_stretch
from .processing_earthgptx import CHAT_TEMPLATE, MODALITIES, EarthGPTXProcessor
from .tokenization import add_earthgptx_tokens, load_llama_tokenizer, load_shipped_tokenizer
from .views import plan_layout, render_views
from .visual_prompts import PROMPT_TYPES, mask_to_rle, rasterise_prompts, rle_to_mask, validate_prompts

__all__ = [
    "EarthGPTXImageProcessor",
    "EarthGPTXProcessor",
    "CHAT_TEMPLATE",
    "MODALITIES",
    "PROMPT_TYPES",
    "normalise_image",
    "robust_stretch",
    "plan_layout",
    "render_views",
    "validate_prompts",
    "rasterise_prompts",
    "mask_to_rle",
    "rle_to_mask",
    "add_earthgptx_tokens",
    "load_llama_tokenizer",
    "load_shipped_tokenizer",
]
