import pytest

from earthgptx_hf import EarthGPTXConfig
from earthgptx_hf.models.earthgptx.configuration_earthgptx import special_token_layout
from transformers import AutoConfig


@pytest.mark.parametrize("name", ["paper", "small", "tiny"])
def test_presets_build_and_round_trip(name, tmp_path):
    config = EarthGPTXConfig.from_preset(name)
    assert config.model_type == "earthgptx"
    assert config.spatial_config.num_channels == config.max_regions
    assert config.num_image_tokens == config.num_views * (config.tile_size // config.dino_config.patch_size) ** 2
    # special tokens follow the base vocabulary in the documented order
    assert config.pix_token_id == config.image_token_id + 1
    assert config.region_feature_token_id == config.image_token_id + 2
    assert config.region_token_ids == list(range(config.image_token_id + 3, config.image_token_id + 3 + config.max_regions))
    assert config.text_config.vocab_size == config.region_token_ids[-1] + 1
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, EarthGPTXConfig)
    assert {**loaded.to_dict(), "_name_or_path": ""} == {**config.to_dict(), "_name_or_path": ""}


def test_paper_preset_matches_spec():
    config = EarthGPTXConfig.from_preset("paper")
    assert (config.canvas_size, config.tile_size, config.tile_grid) == ((448, 448), 224, [2, 2])
    assert config.text_config.hidden_size == 5120 and config.text_config.num_hidden_layers == 40
    assert config.dino_config.hidden_size == 1024 and config.dino_config.patch_size == 14
    assert list(config.convnext_config.depths) == [3, 3, 27, 3]
    assert config.grounding_config.vision_config.hidden_size == 1280
    assert config.grounding_image_size == 1024
    assert (config.ce_loss_weight, config.bce_loss_weight, config.dice_loss_weight) == (1.0, 2.0, 0.5)
    assert config.image_token_id == 32000  # right after the Llama-2 vocabulary


def test_overrides_update_or_replace_sub_configs():
    config = EarthGPTXConfig.from_preset("tiny", max_regions=6, text_config={"num_hidden_layers": 3})
    assert config.max_regions == 6 and config.spatial_config.num_channels == 6
    assert config.text_config.num_hidden_layers == 3 and config.text_config.hidden_size == 64
    replaced = EarthGPTXConfig.from_preset(
        "tiny", base_vocab_size=100,
        text_config={"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "num_key_value_heads": 1},
    )
    assert replaced.text_config.model_type == "qwen2"
    assert replaced.image_token_id == 100 and replaced.text_config.vocab_size == 100 + 3 + 8


def test_nested_overrides_update_one_field_and_old_configs_keep_no_position_embedding(tmp_path):
    config = EarthGPTXConfig.from_preset("tiny", grounding_config={"vision_config": {"image_size": 128},
                                                                   "prompt_encoder_config": {"image_size": 128}})
    assert config.grounding_config.vision_config.image_size == 128
    assert config.grounding_config.vision_config.hidden_size == 32  # the preset's other fields stay
    assert config.grounding_config.prompt_encoder_config.image_embedding_size == 8
    assert all(EarthGPTXConfig.from_preset(name).region_position_size == 16 for name in ("paper", "small", "tiny"))
    config.save_pretrained(tmp_path)
    import json

    saved = json.loads((tmp_path / "config.json").read_text())
    saved.pop("region_position_size")  # a checkpoint saved before the field existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert EarthGPTXConfig.from_pretrained(tmp_path).region_position_size == 0


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"name='huge'.*'paper', 'small', 'tiny'"):
        EarthGPTXConfig.from_preset("huge")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"spatial_config": {"patch_size": 7}}, "spatial_config.patch_size"),
        ({"tile_size": 30}, "tile_size"),
        ({"image_size": 14}, "image_size"),
        ({"tile_grid": [0, 2]}, "tile_grid"),
        ({"pix_token_id": 10_000}, "pix_token_id"),
        ({"grounding_config": {"mask_decoder_config": {"hidden_size": 48}}}, "mask_decoder_config.hidden_size"),
    ],
)
def test_inconsistent_towers_raise_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        if "grounding_config" in overrides:
            base = EarthGPTXConfig.from_preset("tiny").grounding_config.to_dict()
            base["mask_decoder_config"]["hidden_size"] = 48
            EarthGPTXConfig.from_preset("tiny", grounding_config=base)
        else:
            EarthGPTXConfig.from_preset("tiny", **overrides)


def test_spatial_channels_must_equal_max_regions():
    config = EarthGPTXConfig.from_preset("tiny").to_dict()
    config["spatial_config"]["num_channels"] = 3
    with pytest.raises(ValueError, match="num_channels"):
        EarthGPTXConfig(**config)


def test_special_token_layout():
    layout = special_token_layout(10, 2)
    assert layout == {"image_token_id": 10, "pix_token_id": 11, "region_feature_token_id": 12,
                      "region_token_ids": [13, 14], "vocab_size": 15}


def test_pixel_statistics_default_to_the_towers_and_old_configs_load_with_them(tmp_path):
    """The model normalises the processor's uint8 inputs with these; a config saved before they existed gets the
    statistics its processor used (ImageNet for DINOv2 and SAM, OpenAI CLIP for ConvNeXt)."""
    import json

    from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

    from earthgptx_hf.models.earthgptx.configuration_earthgptx import PIXEL_STATISTICS

    expected = {"image_mean": IMAGENET_DEFAULT_MEAN, "image_std": IMAGENET_DEFAULT_STD,
                "convnext_image_mean": OPENAI_CLIP_MEAN, "convnext_image_std": OPENAI_CLIP_STD,
                "sam_image_mean": IMAGENET_DEFAULT_MEAN, "sam_image_std": IMAGENET_DEFAULT_STD}
    config = EarthGPTXConfig.from_preset("tiny", image_mean=(0.5, 0.5, 0.5))
    assert config.image_mean == [0.5, 0.5, 0.5]
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["image_mean"] == [0.5, 0.5, 0.5]
    for key in PIXEL_STATISTICS:
        saved.pop(key)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = EarthGPTXConfig.from_pretrained(tmp_path)
    assert {key: getattr(loaded, key) for key in PIXEL_STATISTICS} == {k: list(v) for k, v in expected.items()}


@pytest.mark.parametrize("value", [[0.5, 0.5], [0.5, 0.5, 0.0], [0.5, float("nan"), 0.5], [0.5, True, 0.5]])
def test_bad_pixel_statistics_are_refused_by_name(value):
    with pytest.raises(ValueError, match=r"sam_image_std=.* must be 3 finite numbers \(R, G, B.*all positive"):
        EarthGPTXConfig.from_preset("tiny", sam_image_std=value)
