"""The named configurations of `EarthGPTXConfig.from_preset`: "paper" follows SPEC section 1 exactly (its towers
equal the reference architectures as transformers builds them, checked by `python -m earthgptx_hf.inspect --preset
paper`); "small" (CPU-trainable) and "tiny" (tests) keep the same structure. Plain data: the config checks them."""

from __future__ import annotations

from typing import Any

PRESETS = ("paper", "small", "tiny")
# The language model's own vocabulary in the paper configuration (Llama-2's tokenizer): the special-token ids of a
# default `EarthGPTXConfig()` follow it.
PAPER_BASE_VOCAB_SIZE = 32000
# Size of the tokenizer shipped with the package (`earthgptx_hf.processing.tokenization`), used by `small` and `tiny`.
SHIPPED_BASE_VOCAB_SIZE = 886

PRESET_SPECS: dict[str, dict[str, Any]] = {
    "paper": {
        "base_vocab_size": PAPER_BASE_VOCAB_SIZE,  # Llama-2 tokenizer
        "text_config": {  # Llama-2-13B
            "model_type": "llama", "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
            "num_attention_heads": 40, "num_key_value_heads": 40, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        },
        "dino_config": {  # facebook/dinov2-large
            "model_type": "dinov2", "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
            "mlp_ratio": 4, "patch_size": 14, "image_size": 518, "layerscale_value": 1.0,
        },
        "convnext_config": {  # CLIP-ConvNeXt-L (open_clip convnext_large_d): ConvNeXt-L stages
            "model_type": "convnext", "depths": [3, 3, 27, 3], "hidden_sizes": [192, 384, 768, 1536],
            "num_stages": 4, "layer_norm_eps": 1e-6,
        },
        "spatial_config": {  # randomly initialised ViT over the prompt maps, patch grid of DINOv2
            "model_type": "vit", "hidden_size": 1024, "num_hidden_layers": 6, "num_attention_heads": 16,
            "intermediate_size": 4096,
        },
        "hybrid_fusion_config": {"hidden_size": 1024, "num_attention_heads": 16, "intermediate_size": 4096},
        "grounding_config": {  # facebook/sam-vit-huge
            "model_type": "sam",
            "vision_config": {
                "hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
                "global_attn_indexes": [7, 15, 23, 31], "output_channels": 256, "image_size": 1024,
            },
        },
        "tile_size": 224, "tile_grid": [2, 2], "max_regions": 16, "region_position_size": 16,
    },
    "small": {
        "base_vocab_size": SHIPPED_BASE_VOCAB_SIZE,
        "text_config": {
            "model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
            "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 2048,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        },
        "dino_config": {
            "model_type": "dinov2", "hidden_size": 192, "num_hidden_layers": 4, "num_attention_heads": 3,
            "mlp_ratio": 4, "patch_size": 14, "image_size": 112,
        },
        "convnext_config": {
            "model_type": "convnext", "depths": [1, 1, 2], "hidden_sizes": [48, 96, 192], "num_stages": 3,
            "layer_norm_eps": 1e-6, "image_size": 112,
        },
        "spatial_config": {
            "model_type": "vit", "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 256,
        },
        "hybrid_fusion_config": {"hidden_size": 192, "num_attention_heads": 4, "intermediate_size": 384},
        "grounding_config": {
            "model_type": "sam",
            "vision_config": {
                "hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 2, "global_attn_indexes": [1],
                "output_channels": 64, "image_size": 256, "window_size": 4, "mlp_dim": 192,
                "num_pos_feats": 32,
            },
            "prompt_encoder_config": {"hidden_size": 64, "image_size": 256, "mask_input_channels": 8},
            "mask_decoder_config": {
                "hidden_size": 64, "mlp_dim": 128, "num_attention_heads": 4, "iou_head_hidden_dim": 64,
            },
        },
        "tile_size": 112, "tile_grid": [2, 2], "max_regions": 8, "region_position_size": 16,
    },
    "tiny": {
        "base_vocab_size": SHIPPED_BASE_VOCAB_SIZE,
        "text_config": {
            "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        },
        "dino_config": {
            "model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "mlp_ratio": 2, "patch_size": 14, "image_size": 28,
        },
        "convnext_config": {
            "model_type": "convnext", "depths": [1, 1], "hidden_sizes": [16, 32], "num_stages": 2,
            "layer_norm_eps": 1e-6, "image_size": 28,
        },
        "spatial_config": {
            "model_type": "vit", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64,
        },
        "hybrid_fusion_config": {"hidden_size": 48, "num_attention_heads": 2, "intermediate_size": 96},
        "grounding_config": {
            "model_type": "sam",
            "vision_config": {
                "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "global_attn_indexes": [1],
                "output_channels": 32, "image_size": 64, "window_size": 2, "mlp_dim": 64,
                "num_pos_feats": 16,
            },
            "prompt_encoder_config": {"hidden_size": 32, "image_size": 64, "mask_input_channels": 4},
            "mask_decoder_config": {
                "hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32,
            },
        },
        "tile_size": 28, "tile_grid": [2, 2], "max_regions": 8, "region_position_size": 16,
        # 32-64-wide layers start too close to zero with the usual 0.02 (training stalls for hundreds of steps)
        "initializer_range": 0.1,
    },
}



__all__ = ["PAPER_BASE_VOCAB_SIZE", "PRESET_SPECS", "PRESETS", "SHIPPED_BASE_VOCAB_SIZE"]
