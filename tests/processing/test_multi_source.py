import io
import re
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from earthgptx_hf.models.earthgptx import EarthGPTXImageProcessor
from earthgptx_hf.models.earthgptx.multi_source import normalise_image, robust_stretch
from earthgptx_hf.models.earthgptx.multi_source import MIN_VALID_FRACTION, image_size, open_image


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
    all_nan = normalise_image(np.full((4, 4), np.nan, np.float32), min_valid_fraction=0.0)  # opt-in: black
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


# --- no-data ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
def test_images_without_valid_pixels_are_refused(fill):
    with pytest.raises(ValueError, match=r"images\[1\] has only 0.00% finite pixels .*min_valid_fraction=0.01"):
        EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=32)(
            [np.zeros((8, 8), np.uint8), np.full((8, 8), fill, np.float32)])


def test_the_valid_fraction_threshold_is_one_percent():
    assert MIN_VALID_FRACTION == 0.01
    image = np.full((100, 200), np.nan, np.float32)
    image.flat[:100] = 1.0  # 0.5 % valid
    with pytest.raises(ValueError, match=r"images has only 0.50% finite pixels \(99.50% NaN or inf"):
        normalise_image(image)
    image.flat[:200] = np.arange(200)  # exactly 1 %: kept, the no-data is black
    out = normalise_image(image)
    assert out.invalid_fraction == pytest.approx(0.99) and out.pixels.reshape(-1, 3)[:200, 0].max() == 255
    with pytest.raises(ValueError, match=r"min_valid_fraction=0.5"):
        normalise_image(image, min_valid_fraction=0.5)
    with pytest.raises(ValueError, match=r"min_valid_fraction=2 must be a number between 0 and 1"):
        normalise_image(image, min_valid_fraction=2)


def test_float64_beyond_float32_range_is_bright_not_nodata():
    image = np.full((10, 10), 1e300)
    image[:5] = 0.0
    out = normalise_image(image)
    assert out.invalid_fraction == 0.0 and out.pixels[5:].min() == 255 and out.pixels[:5].max() == 0


# --- complex (SLC) SAR ---------------------------------------------------------------------------------------------
def test_complex_images_are_refused_or_taken_as_amplitude():
    rng = np.random.default_rng(5)
    slc = (rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16))).astype(np.complex64)
    with pytest.raises(TypeError, match=r"images is complex \(complex64\).*np.abs\(image\).*complex_to='amplitude'"):
        normalise_image(slc)
    with pytest.raises(TypeError, match=r"images is complex \(complex64\)"):
        normalise_image(torch.from_numpy(slc).conj())
    amplitude = normalise_image(slc, complex_to="amplitude")
    assert np.array_equal(amplitude.pixels, normalise_image(np.abs(slc)).pixels)
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=32, complex_to="amplitude")
    assert processor(slc, return_tensors="np")["pixel_values"].shape[-1] == 28
    assert processor.to_dict()["complex_to"] == "amplitude"
    with pytest.raises(ValueError, match=r"complex_to='phase' is not one of \[None, 'amplitude'\]"):
        EarthGPTXImageProcessor(complex_to="phase")


def test_bfloat16_tensors_are_read():
    assert normalise_image(torch.rand(12, 10, dtype=torch.bfloat16)).pixels.shape == (12, 10, 3)


# --- layouts -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 640, 4), (3, 640, 4), (1, 20, 4), (1, 640, 3), (3, 20, 1), (3, 20, 3),
                                   (1, 20, 1), (3, 3, 3)])
def test_ambiguous_channel_layouts_are_refused(shape):
    """Both readings fit: (H, W, C) and (C, H, W)."""
    with pytest.raises(ValueError, match=r"images has the ambiguous shape .*Pass a 2-D \(H, W\) band, a PIL image"):
        normalise_image(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("shape, size", [((4, 20, 3), (4, 20)), ((640, 3, 1), (640, 3)), ((3, 20, 30), (20, 30)),
                                         ((1, 20, 640), (20, 640)), ((20, 3, 3), (20, 3))])
def test_unambiguous_layouts_keep_working(shape, size):
    assert normalise_image(np.zeros(shape, np.uint8)).size == size


# --- broken files --------------------------------------------------------------------------------------------------
def _truncated(tmp_path, name, **save):
    rgb = np.random.default_rng(6).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(rgb).save(path, **save)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.tif"])
def test_truncated_files_name_the_argument_index_and_path(tmp_path, name):
    path = _truncated(tmp_path, name)
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=32)
    images = [np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), str(path)]
    with pytest.raises(ValueError, match=rf"images\[2\] \('{path}'\) could not be decoded: .*truncated"):
        processor(images)
    with Image.open(path) as lazy:  # an opened but undecoded PIL image names its file too
        with pytest.raises(ValueError, match=rf"images \('{path}'\) could not be decoded"):
            normalise_image(lazy)


def test_files_pil_cannot_identify(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"images\[3\] \('.*empty.png'\) is not a readable image: it is empty"):
        normalise_image(tmp_path / "empty.png", index=3)
    with pytest.raises(ValueError, match=r"images \('.*text.png'\) is not a readable image: PIL cannot identify"):
        normalise_image(tmp_path / "text.png")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height 8-bit grey pixels and holds none (a decompression-bomb probe)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decompression_bombs_and_oversized_files_are_refused_before_decoding(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header_only(100_000, 100_000))
    with pytest.raises(ValueError, match=r"images \('.*bomb.png'\) declares more pixels than PIL's "
                                         r"decompression-bomb limit.*MAX_IMAGE_PIXELS"):
        normalise_image(tmp_path / "bomb.png")
    (tmp_path / "big.png").write_bytes(png_header_only(9_000, 9_000))  # above max_pixels, below PIL's limit
    with pytest.raises(ValueError, match=r"images has 9000x9000 = 81,000,000 pixels, more than max_pixels=1,000,000"):
        normalise_image(tmp_path / "big.png", max_pixels=1_000_000)


# --- the rules others call: image_size (layout) and open_image (files) ------------------------------------------------
@pytest.mark.parametrize("image", [
    np.zeros((20, 30), np.uint8), np.zeros((20, 30, 1), np.uint16), np.zeros((20, 30, 3), np.float32),
    np.zeros((3, 20, 30), np.uint8), np.zeros((1, 20, 640), np.uint8), np.zeros((4, 20, 3), np.uint8),
    np.zeros((640, 3, 1), np.uint8), torch.zeros(3, 20, 30), torch.zeros(20, 30, dtype=torch.bfloat16),
    Image.new("I;16", (30, 20)),
], ids=lambda image: f"{type(image).__name__}{tuple(getattr(image, 'shape', ()))}")
def test_image_size_is_the_size_normalise_image_reads(image):
    assert image_size(image) == normalise_image(image).size


@pytest.mark.parametrize("shape", [(5,), (1, 640, 4), (3, 20, 3), (20, 30, 4), (1, 1, 3, 16, 16), (0, 10)])
def test_image_size_refuses_what_normalise_image_refuses_with_its_message(shape):
    with pytest.raises(ValueError) as refused:
        normalise_image(np.zeros(shape, np.uint8), index=2)
    with pytest.raises(ValueError, match=re.escape(str(refused.value))):
        image_size(np.zeros(shape, np.uint8), index=2)


def test_image_size_of_a_file_reads_only_its_header(tmp_path):
    (tmp_path / "big.png").write_bytes(png_header_only(9_000, 7_000))  # no pixel data: decoding would fail
    assert image_size(tmp_path / "big.png") == (7_000, 9_000)


def test_open_image_decodes_paths_and_named_downloads(tmp_path):
    rgb = np.random.default_rng(8).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    assert np.array_equal(np.asarray(open_image(tmp_path / "a.png")), rgb)
    download = io.BytesIO(data)
    download.name = "https://example.org/a.png"
    assert np.array_equal(normalise_image(download).pixels, rgb)
    cut = io.BytesIO(data[: len(data) // 2])
    cut.name = "https://example.org/a.png"
    with pytest.raises(ValueError, match=r"images\[1\] \('https://example.org/a.png'\) could not be decoded: "
                                         r".*truncated"):
        open_image(cut, index=1)
    with pytest.raises(ValueError, match=r"images \('https://example.org/b.png'\) is not a readable image: PIL "
                                         r"cannot identify its format \(5 bytes\)"):
        open_image(_named(b"hello", "https://example.org/b.png"))
    with pytest.raises(ValueError, match=r"images is not a readable image: it is empty"):
        open_image(io.BytesIO(b""))  # unnamed: the argument alone
    with pytest.raises(ValueError, match=r"images has 7000x9000 = 63,000,000 pixels, more than max_pixels=1,000"):
        open_image(_named(png_header_only(9_000, 7_000), "big.png"), max_pixels=1_000)
    with pytest.raises(TypeError, match=r"images\[3\] must be a path or a binary file object, got int"):
        open_image(5, index=3)


def _named(data: bytes, name: str) -> io.BytesIO:
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer
