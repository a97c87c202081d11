"""Rasters as inputs: band selection and order, 8/16-bit and float, no-data from the file's mask, the scene's stretch
over a decimated overview, and GeoTIFFs through the processor, the pipeline's image rule and the converters."""

import numpy as np
import pytest
from rasterio.windows import Window

from earthgptx_hf import EarthGPTXImageProcessor
from earthgptx_hf.data.annotations import image_size as converter_image_size
from earthgptx_hf.geo import GeoreferencedArray, read_raster_image
from earthgptx_hf.geo import raster as raster_module
from earthgptx_hf.geo.raster import RasterScene
from earthgptx_hf.models.earthgptx.multi_source import DEFAULT_PERCENTILES, image_size, normalise_image, open_image

from .conftest import TRANSFORM, UTM, write_geotiff


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 60, 3)).astype(np.uint8)


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_both_band_orders_read_the_same_pixels(tmp_path, rgb, interleave):
    path = write_geotiff(tmp_path / "rgb.tif", rgb, interleave=interleave, descriptions=["red", "green", "blue"])
    with RasterScene(path) as scene:
        pixels, valid = scene.read_rgb()
        assert valid.all() and np.array_equal(pixels, rgb)  # 8-bit kept as it is
    with RasterScene(path, bands=(3, 2, 1)) as scene:
        assert np.array_equal(scene.read_rgb()[0], rgb[..., ::-1])
    with RasterScene(path, bands="blue,green,red") as scene:  # band names (the descriptions)
        assert np.array_equal(scene.read_rgb(Window(10, 5, 20, 8))[0], rgb[5:13, 10:30, ::-1])
    with RasterScene(path, bands=[2]) as scene:  # one band: replicated, as single-band SAR is today
        assert np.array_equal(scene.read_rgb()[0], np.repeat(rgb[..., 1:2], 3, axis=-1))


def test_band_selection_is_refused_clearly(tmp_path, rgb):
    path = write_geotiff(tmp_path / "rgb.tif", rgb, descriptions=["red", "green", "blue"])
    with pytest.raises(ValueError, match=r"bands=\(4, 3, 2\): band 4 is out of range; the raster has 3 band\(s\), "
                                         r"numbered 1 to 3 \(1: red, 2: green, 3: blue\)"):
        RasterScene(path, bands=(4, 3, 2))
    with pytest.raises(ValueError, match="'nir' is neither a band number"):
        RasterScene(path, bands=("nir", "red", "green"))
    with pytest.raises(ValueError, match="selects 2 bands; EarthGPT-X takes 1"):
        RasterScene(path, bands=(1, 2))
    four = write_geotiff(tmp_path / "four.tif", np.zeros((8, 8, 4), np.uint16))
    with pytest.raises(ValueError, match="has 4 bands .* choose them with bands="):
        RasterScene(four)
    with RasterScene(four, bands=(4, 3, 2)) as scene:
        assert scene.bands == (4, 3, 2)


def test_16_bit_and_float_are_stretched_over_valid_pixels_with_no_data_from_the_file(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.uniform(100, 5000, (64, 64)).astype(np.uint16)
    values[:16] = 0  # no-data rows
    path16 = write_geotiff(tmp_path / "sar16.tif", values, nodata=0)
    floats = values.astype(np.float32) / 1000 - 2
    floats[:16] = np.nan
    floats[20, 20] = -9999.0  # a nodata value, not NaN
    floats[:16] = -9999.0
    pathf = write_geotiff(tmp_path / "float.tif", floats, nodata=-9999.0)
    for path, data in ((path16, values.astype(np.float32)), (pathf, floats)):
        with RasterScene(path) as scene:
            pixels, valid = scene.read_rgb()
            invalid = ~valid
            assert invalid[:16].all() and not invalid[16:].sum() > 1
            low, high = np.percentile(data[valid], DEFAULT_PERCENTILES)
            assert scene.limits == pytest.approx((low, high), rel=1e-5)  # the percentiles of the valid pixels only
            assert (pixels[invalid] == 0).all() and pixels.shape == (64, 64, 3)
            assert pixels[valid].max() == 255 and pixels[valid].min() == 0
            # a window gets the scene's stretch, not its own
            part, _ = scene.read_rgb(Window(0, 40, 64, 4))
            assert np.array_equal(part, pixels[40:44])


def test_the_stretch_is_computed_over_a_decimated_overview(tmp_path, monkeypatch):
    values = np.tile(np.arange(200, dtype=np.uint16), (300, 1))
    path = write_geotiff(tmp_path / "ramp.tif", values)
    monkeypatch.setattr(raster_module, "OVERVIEW_PIXELS", 1_500)
    reads = []
    original = RasterScene.read

    def spy(self, window=None, out_shape=None):
        reads.append(out_shape)
        return original(self, window, out_shape)

    monkeypatch.setattr(RasterScene, "read", spy)
    with RasterScene(path) as scene:
        low, high = scene.limits
    (shape,) = reads
    assert shape[0] * shape[1] <= 1_600 and shape[0] < 300  # decimated, never the whole array
    assert low == pytest.approx(4, abs=3) and high == pytest.approx(195, abs=3)


def test_a_geotiff_is_an_input_of_the_processor_and_the_converters(tmp_path):
    values = np.random.default_rng(2).uniform(0, 1, (48, 64, 3)).astype(np.float32)
    values[:4] = np.nan
    path = write_geotiff(tmp_path / "float3.tif", values)
    opened = open_image(path)
    assert isinstance(opened, GeoreferencedArray) and opened.shape == (48, 64, 3)
    assert opened.georeference.crs.to_string() == UTM and opened.georeference.transform == TRANSFORM
    assert opened.georeference.source == "float3.tif"
    assert image_size(path) == (48, 64) and converter_image_size(path) == (64, 48)  # converters: (width, height)
    normalised = normalise_image(path)  # the NaN rule: no-data rows out of the stretch, 0 after it
    assert normalised.pixels.shape == (48, 64, 3) and (normalised.pixels[:4] == 0).all()
    assert normalised.invalid_fraction == pytest.approx(4 / 48)
    processed = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64)(
        str(path), visual_prompts=[{"type": "box", "bbox": [4, 8, 30, 40]}], return_tensors="np", return_metadata=True)
    assert processed["original_sizes"].tolist() == [[48, 64]]
    with pytest.raises(ValueError, match="more than max_pixels=1,000. Run a scene this large with "
                                         "earthgptx_hf.geo.ScenePredictor"):
        open_image(path, max_pixels=1_000)
    with pytest.raises(ValueError, match="has 4 bands"):
        read_raster_image(write_geotiff(tmp_path / "four.tif", np.zeros((8, 8, 4), np.uint16)), max_pixels=10**6)


def test_the_georeferenced_array_loses_its_georeference_when_cropped(tmp_path, rgb):
    opened = open_image(write_geotiff(tmp_path / "rgb.tif", rgb))
    assert opened.copy().georeference is opened.georeference
    assert opened[:10].georeference is None
    import pickle

    assert pickle.loads(pickle.dumps(opened)).georeference == opened.georeference


def test_the_gdal_block_cache_is_64_mib_not_64_bytes():
    """rasterio passes an integer GDAL_CACHEMAX to GDALSetCacheMax64 (bytes): `gdal_env` must give it bytes (issue 36:
    64 meant a 64-byte cache, and dense scenes decompressed every block again)."""
    import rasterio

    from earthgptx_hf.geo.opening import GDAL_CACHE_MB, gdal_env, untrusted_env

    for env in (gdal_env, untrusted_env):
        with env():
            assert rasterio.env.getenv()["GDAL_CACHEMAX"] == GDAL_CACHE_MB * 2**20
