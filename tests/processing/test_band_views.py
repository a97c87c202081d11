"""N-band views for the model's band adapter (issue 35): the image processor keeps every band, the SAM view is the
adapter's initial triple, and a processor and model agree on `input_bands`."""

import numpy as np
import pytest
import torch

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.image_processing_earthgptx import EarthGPTXImageProcessor
from earthgptx_hf.models.earthgptx.multi_source import robust_stretch

TRIPLE = [2, 1, 0]
BOX = [{"type": "box", "bbox": [2, 2, 30, 20]}]


def _config(**overrides):
    return EarthGPTXConfig.from_preset("tiny", input_bands=4, band_adapter_init=TRIPLE, **overrides)


@pytest.mark.parametrize("shape", [(40, 60), (90, 30)])  # a canvas reduced for the global view, and one resized
def test_views_carry_every_band_and_the_sam_view_is_the_triple(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 4), dtype=np.uint8)
    bands = EarthGPTXImageProcessor.from_model_config(_config())(image, visual_prompts=BOX)
    rgb = EarthGPTXImageProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny"))(
        np.ascontiguousarray(image[..., TRIPLE]), visual_prompts=BOX)
    views = bands["pixel_values"][0]
    assert views.dtype == np.uint8 and views.shape[1] == 4 and views.shape[0] == rgb["pixel_values"].shape[1]
    # the triple's bands are rendered (resized, padded, reduced) exactly as the RGB processor renders RGB
    np.testing.assert_array_equal(views[:, TRIPLE], rgb["pixel_values"][0])
    np.testing.assert_array_equal(bands["sam_pixel_values"], rgb["sam_pixel_values"])
    assert bands["sam_pixel_values"].shape[1] == 3
    np.testing.assert_array_equal(bands["prompt_maps"], rgb["prompt_maps"])


def test_non_8_bit_bands_are_stretched_together_and_channels_first_is_read():
    image = np.random.default_rng(1).gamma(2.0, 900.0, (4, 56, 56)).astype(np.uint16)  # (C, H, W)
    image[3] *= 3  # a bright near-infrared band keeps its brightness relative to the others
    processor = EarthGPTXImageProcessor.from_model_config(_config(tile_grid=[1, 1]))
    views = processor(image)["pixel_values"][0]
    stretched, _ = robust_stretch(np.moveaxis(image, 0, -1))
    assert views[0, 3].mean() > 2 * views[0, 0].mean()
    assert abs(float(views[0].mean()) - float(stretched.mean())) < 3  # the global view of the same stretch


def test_other_band_counts_and_files_are_refused_naming_input_bands(tmp_path):
    processor = EarthGPTXImageProcessor.from_model_config(_config())
    with pytest.raises(ValueError, match="input_bands=4"):
        processor(np.zeros((32, 32, 3), np.uint8))
    path = tmp_path / "image.png"
    from PIL import Image
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(path)
    with pytest.raises(ValueError, match="input_bands=4"):
        processor(str(path))
    with pytest.raises(ValueError, match="do_rescale and do_normalize"):
        processor(np.zeros((32, 32, 4), np.uint8), do_normalize=True)
    with pytest.raises(ValueError, match="band_adapter_init"):
        EarthGPTXImageProcessor(input_bands=4, band_adapter_init=[0, 1, 4])


def test_processor_and_model_config_agree_on_bands():
    config = _config()
    processor = EarthGPTXProcessor.from_model_config(config)
    assert (processor.image_processor.input_bands, processor.image_processor.band_adapter_init) == (4, TRIPLE)
    processor.check_model_config(config)
    with pytest.raises(ValueError, match=r"input_bands: the config has 4, the image processor's input_bands is 3"):
        EarthGPTXProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny")).check_model_config(config)


def test_a_four_band_image_runs_forward_and_generate(tmp_path):
    config = _config()
    processor = EarthGPTXProcessor.from_model_config(config)
    processor.save_pretrained(tmp_path)
    loaded = EarthGPTXProcessor.from_pretrained(tmp_path)
    assert loaded.image_processor.input_bands == 4 and loaded.image_processor.band_adapter_init == TRIPLE
    torch.manual_seed(0)
    model = EarthGPTXForConditionalGeneration(config).eval()
    image = np.random.default_rng(2).integers(0, 4000, (40, 60, 4)).astype(np.uint16)
    inputs = loaded(images=image, text="What is in <Region 1>?", visual_prompts=BOX, return_tensors="pt")
    assert inputs["pixel_values"].shape[2] == 4 and inputs["sam_pixel_values"].shape[1] == 3
    with torch.no_grad():
        out = model(**inputs)
        gen = model.generate(**inputs, max_new_tokens=3, do_sample=False, return_dict_in_generate=True)
    assert torch.isfinite(out.logits).all()
    assert gen.sequences.shape[1] == inputs["input_ids"].shape[1] + 3
