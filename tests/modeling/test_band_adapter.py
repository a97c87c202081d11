"""The learned band adapter (issue 35): N-band 8-bit views through a 1x1 convolution initialised to a band triple."""

import pytest
import torch
from transformers import AutoModelForImageTextToText

from earthgptx_hf import EarthGPTXConfig
from earthgptx_hf.models.earthgptx.mixed_visual_encoder import EarthGPTXBandAdapter
from earthgptx_hf.training.trainable import trainable_parameter_names

from .helpers import sample_ids, tiny_config, tiny_model

TRIPLE = [2, 1, 0]  # e.g. red, green, blue of a blue, green, red, near-infrared stack


def _bands_model(seed: int = 0):
    return tiny_model(seed, input_bands=4, band_adapter_init=TRIPLE)


def _uint8_views(config, bands: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tile = config.tile_size
    return torch.randint(0, 256, (2, config.num_views, bands, tile, tile), generator=g, dtype=torch.uint8)


def test_three_bands_have_no_adapter_and_saved_configs_without_the_fields_load():
    config = tiny_config()
    assert (config.input_bands, config.band_adapter_init) == (3, [0, 1, 2])
    assert tiny_model().model.vision_tower.band_adapter is None
    saved = config.to_dict()
    del saved["input_bands"], saved["band_adapter_init"]
    assert EarthGPTXConfig.from_dict(saved).input_bands == 3


def test_at_initialisation_the_n_band_model_sees_the_triple_as_the_rgb_model_sees_rgb():
    rgb_model, bands_model = tiny_model(), _bands_model(seed=1)
    missing, unexpected = bands_model.load_state_dict(rgb_model.state_dict(), strict=False)
    assert sorted(missing) == ["model.vision_tower.band_adapter.bias", "model.vision_tower.band_adapter.weight"]
    assert not unexpected
    adapter = bands_model.model.vision_tower.band_adapter
    assert isinstance(adapter, EarthGPTXBandAdapter)
    torch.testing.assert_close(adapter.weight.flatten(1), torch.eye(4)[TRIPLE], rtol=0, atol=0)
    views = _uint8_views(bands_model.config, 4)
    with torch.no_grad():
        expected = rgb_model.get_image_features(views[:, :, TRIPLE])
        got = bands_model.get_image_features(views)
        separate = bands_model.get_image_features(views, convnext_pixel_values=views)
    torch.testing.assert_close(got.image_embeds, expected.image_embeds, rtol=0, atol=1e-6)
    torch.testing.assert_close(separate.image_embeds, expected.image_embeds, rtol=0, atol=1e-6)


def test_the_adapter_learns_and_the_presets_train_it():
    model = _bands_model().train()
    config = model.config
    ids, _ = sample_ids(config, 0, [10, 11], [12, 2])
    input_ids = torch.tensor([ids])
    out = model(input_ids=input_ids, labels=input_ids, pixel_values=_uint8_views(config, 4)[:1])
    out.loss.backward()
    grad = model.model.vision_tower.band_adapter.weight.grad
    assert grad is not None and bool(grad[:, 3].abs().sum() > 0)  # the band outside the triple gets a gradient too
    assert {"model.vision_tower.band_adapter.weight", "model.vision_tower.band_adapter.bias"} <= \
        set(trainable_parameter_names(model, "paper"))
    from earthgptx_hf.training.trainable import LORA_MODULES_TO_SAVE
    assert "vision_tower.band_adapter" in LORA_MODULES_TO_SAVE


def test_save_and_load_keep_the_trained_adapter(tmp_path):
    model = _bands_model()
    with torch.no_grad():
        model.model.vision_tower.band_adapter.weight.add_(0.25)
    model.save_pretrained(tmp_path)
    assert "class EarthGPTXBandAdapter" in (tmp_path / "mixed_visual_encoder.py").read_text()  # remote code
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert (loaded.config.input_bands, loaded.config.band_adapter_init) == (4, TRIPLE)
    torch.testing.assert_close(loaded.model.vision_tower.band_adapter.weight,
                               model.model.vision_tower.band_adapter.weight, rtol=0, atol=0)
    views = _uint8_views(model.config, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded.get_image_features(views).image_embeds,
                                   model.get_image_features(views).image_embeds, rtol=0, atol=0)


def test_missing_adapter_weights_load_as_the_triple(tmp_path):
    tiny_model().save_pretrained(tmp_path)  # a 3-band checkpoint, fine-tuned with 4 bands
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path, input_bands=4, band_adapter_init=TRIPLE)
    adapter = loaded.model.vision_tower.band_adapter
    torch.testing.assert_close(adapter.weight.flatten(1), torch.eye(4)[TRIPLE], rtol=0, atol=0)
    assert bool((adapter.bias == 0).all())


@pytest.mark.parametrize("overrides, message", [
    ({"input_bands": 0}, "input_bands=0 must be a positive integer"),
    ({"input_bands": True}, "input_bands=True"),
    ({"input_bands": 4, "band_adapter_init": [0, 1]}, r"band_adapter_init=\[0, 1\] must be 3 integer band indices"),
    ({"input_bands": 4, "band_adapter_init": [0, 1, 4]}, r"in \[0, 4\)"),
    ({"input_bands": 4, "band_adapter_init": [0, 1, 1.0]}, "band_adapter_init"),
    ({"band_adapter_init": [2, 1, 0]}, "needs input_bands other than 3"),
])
def test_config_refuses_bad_band_fields(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)


def test_the_model_refuses_views_of_another_band_count_or_floating_bands():
    model = _bands_model()
    with pytest.raises(ValueError, match=r"input_bands=4"):
        model.get_image_features(_uint8_views(model.config, 3))
    with pytest.raises(ValueError, match="band adapter takes uint8"):
        model.get_image_features(_uint8_views(model.config, 4).float())
    with pytest.raises(ValueError, match=r"input_bands=3"):
        tiny_model().get_image_features(_uint8_views(model.config, 4))
