import numpy as np
import pytest
import torch
from PIL import Image

from earthgptx_hf.processing import normalise_image, robust_stretch


@pytest.mark.parametrize(
    "array, layout",
    [
        (np.zeros((20, 30), np.uint8), "HxW"),
        (np.zeros((20, 30, 1), np.uint8), "HxWx1"),
        (np.zeros((20, 30, 3), np.uint8), "HxWx3"),
        (np.zeros((3, 20, 30), np.uint8), "CxHxW"),
        (np.zeros((1, 20, 30), np.uint8), "1xHxW"),
    ],
)
def test_layouts_become_hwc_rgb(array, layout):
    out = normalise_image(array)
    assert out.pixels.shape == (20, 30, 3) and out.pixels.dtype == np.uint8, layout


def test_uint8_is_kept_and_single_channel_replicated():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = normalise_image(gray)
    assert np.array_equal(out.pixels[..., 0], gray) and np.array_equal(out.pixels[..., 2], gray)
    assert out.source_channels == 1


def test_uint16_and_float_are_stretched_by_robust_percentiles():
    rng = np.random.default_rng(0)
    sar = rng.gamma(1.0, 300.0, (64, 64)).astype(np.float32)  # speckle-like amplitudes
    sar[0, 0] = 1e9  # one extreme outlier does not set the scale
    out = normalise_image(sar).pixels[..., 0]
    low, high = np.percentile(sar, [2, 98])
    expected = np.clip((sar - low) / (high - low) * 255, 0, 255)
    assert np.abs(out - expected).max() <= 0.5 + 1e-3
    assert out.min() == 0 and out.max() == 255
    assert (out == 255).mean() == pytest.approx(0.02, abs=0.01)
    u16 = (sar.clip(0, 65535)).astype(np.uint16)
    assert normalise_image(u16).source_dtype == "uint16"
    db = 10 * np.log10(sar)  # SAR in dB, negative values too
    assert normalise_image(db.astype(np.float64)).pixels.max() == 255


def test_nan_and_inf_do_not_poison_the_image():
    image = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    image[:8] = np.nan
    image[8, :4] = np.inf
    image[9, :4] = -np.inf
    out = normalise_image(image)
    assert out.invalid_fraction == pytest.approx((8 * 32 + 8) / 1024)
    assert (out.pixels[:8] == 0).all() and out.pixels[10:].std() > 50
    all_nan = normalise_image(np.full((4, 4), np.nan, np.float32))
    assert (all_nan.pixels == 0).all() and all_nan.invalid_fraction == 1.0


def test_pil_images_files_and_tensors(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 250)).save(tmp_path / "u16.png")
    assert np.array_equal(normalise_image(tmp_path / "rgb.png").pixels, rgb)
    assert np.array_equal(normalise_image(Image.fromarray(rgb)).pixels, rgb)
    assert normalise_image(str(tmp_path / "u16.png")).source_dtype in ("uint16", "int32")
    assert np.array_equal(normalise_image(torch.from_numpy(rgb).permute(2, 0, 1)).pixels, rgb)
    assert normalise_image(Image.fromarray(rgb).convert("RGBA")).pixels.shape == (10, 12, 3)
    assert normalise_image(torch.rand(1, 10, 12, dtype=torch.float64)).pixels.shape == (10, 12, 3)


def test_constant_images_do_not_divide_by_zero():
    assert (normalise_image(np.full((5, 5), 7.0)).pixels == 0).all()
    assert robust_stretch(np.zeros((0,)))[0].size == 0
