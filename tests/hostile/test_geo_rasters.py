"""Hostile rasters (issue 31): GDAL VRT and WMS descriptions disguised as `.tif` / `.png`, `/vsicurl/` scenes,
huge headers, palette, complex and no-data rasters, through the processor, the pipeline, the converters, training,
and `ScenePredictor` (earthgptx-predict). Nothing outside a root may be read, no URL fetched unless allowed, and no
header may commit the work to more than it can finish."""

from __future__ import annotations

import json
import time

import numpy as np

from earthgptx_hf.data.annotated_images import DataArguments
from earthgptx_hf.data.converters import read_coco
from earthgptx_hf.geo import read_raster_image
from earthgptx_hf.geo.raster import RasterScene
from earthgptx_hf.geo.windows import grid_windows, region_windows
from earthgptx_hf.models.earthgptx.multi_source import normalise_image, open_image
from earthgptx_hf.training.train import build_training_records

from .geo_inputs import (
    complex_tiff,
    geotiff,
    no_request,
    nodata_uint8,
    outside_geotiff,
    palette_tiff,
    raw_vrt,
    recording_server,
    secret_file,
    source_vrt,
    sparse_huge,
    stub_predictor,
    wms_file,
)
from .harness import Hostile, parametrize, run_case
from .test_images import process, run_pipe

REFUSED = r"GeoTIFF/COG, PNG or JPEG|PNG, JPEG, \(Geo\)TIFF, BMP, GIF or WebP"  # the allow-list, named in the message


def coco_over_outside(tmp):
    """A COCO set whose image inside the root is a VRT over a GeoTIFF outside it (same size as annotated)."""
    root = tmp / "ds"
    (root / "img").mkdir(parents=True)
    vrt = source_vrt(tmp, "v.png", outside_geotiff(tmp))
    (root / "img" / "v.png").write_text(open(vrt).read())
    data = {"images": [{"id": 1, "file_name": "v.png", "width": 16, "height": 16}],
            "categories": [{"id": 7, "name": "ship"}],
            "annotations": [{"id": 0, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5]}]}
    (root / "ann.json").write_text(json.dumps(data))
    return read_coco(root / "ann.json", root / "img")


def rs_mini_over_secret(tmp):
    """An rs_mini set (the training entry point) whose image is a VRT raw band over a file outside the root."""
    root = tmp / "ds"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "images" / "v.png").write_text(open(raw_vrt(tmp, "v.png", secret_file(tmp))).read())
    record = {"id": "v", "file": "images/v.png", "modality": "sar", "width": 16, "height": 4, "split": "train",
              "objects": [{"category": "ship", "bbox": [1, 1, 8, 3]}]}
    (root / "annotations" / "train.jsonl").write_text(json.dumps(record) + "\n")
    return root


def train_reads(tmp):
    """earthgptx-train's records of the set, and their pixels as the collator gets them."""
    root = rs_mini_over_secret(tmp)
    args = DataArguments(data_format="rs_mini", data_path=str(root / "annotations" / "train.jsonl"),
                         tasks="classification")
    records, _ = build_training_records(args, max_regions=8, workdir=tmp)
    return [normalise_image(r["image"]).pixels for r in records]


def eval_reads(tmp):
    """earthgptx-eval's records of the set, and their pixels as the evaluation's generation gets them."""
    from earthgptx_hf.evaluation.evaluate_model import EvalDataArguments
    from earthgptx_hf.evaluation.evaluation_data import load_evaluation_records

    root = rs_mini_over_secret(tmp)
    args = EvalDataArguments(data_format="rs_mini", data_path=str(root / "annotations" / "train.jsonl"),
                             tasks="classification", split="train")
    records = load_evaluation_records(args, ["box"], max_regions=8, workdir=tmp)
    records = [r for group in records.values() for r in group] if isinstance(records, dict) else records
    return [normalise_image(r["image"]).pixels for r in records]


def kept_none(reason):
    def check(out):
        images, report = out
        assert images == [] and report.images_skipped.get(reason) == 1, report
    return check


def colours(out):
    pixels = out.pixels
    assert pixels[0, 0].tolist() == [255, 0, 0] and pixels[0, -1].tolist() == [0, 0, 255]  # 1: red, 2: blue
    assert pixels[-1, 0].tolist() == [0, 0, 0] and pixels[-1, -1].tolist() == [255, 0, 0]  # 0: black


def lazy_grid(grid):
    assert len(grid) == 20409**2 and grid[-1].tile == (20408, 20408)


def quick_groups(seconds):
    def check(out):
        windows, elapsed = out
        assert sum(len(w.members) for w in windows) == 3000 and elapsed < seconds, elapsed
    return check


def timed(call):
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


def scattered_points(n=3000, side=20000):
    xy = np.random.default_rng(0).uniform(0, side, (n, 2))
    return np.column_stack([xy, xy])


def amplitude(out):
    pixels, valid = out
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8 and valid.all()


def opened_virtual(out):
    assert out.shape == (16, 16) and (np.asarray(out) == 201).all()


CASES = [
    # the processor, the pipeline, the predictor: a VRT or WMS named .tif / .png is refused, nothing leaks
    Hostile("processor: VRT raw band over /etc/passwd named .tif",
            lambda t: process(raw_vrt(t, "scene.tif", secret_file(t))), raises=ValueError, match=REFUSED),
    Hostile("processor: VRT over a GeoTIFF outside named .png",
            lambda t: process(source_vrt(t, "scene.png", outside_geotiff(t))), raises=ValueError, match=REFUSED),
    Hostile("pipeline: VRT raw band named .png", lambda t: run_pipe(raw_vrt(t, "scene.png", secret_file(t))),
            raises=ValueError, match=REFUSED),
    Hostile("pipeline: VRT whose source is /vsicurl/ (no request)",
            no_request(lambda t, url: run_pipe(source_vrt(t, "scene.tif", f"/vsicurl/{url}/x.tif"))),
            raises=ValueError, match=REFUSED),
    Hostile("processor: GDAL_WMS named .tif (no request)",
            no_request(lambda t, url: process(wms_file(t, "scene.tif", url))), raises=ValueError, match=REFUSED),
    Hostile("predict: VRT over a GeoTIFF outside named .tif",
            lambda t: stub_predictor().predict(source_vrt(t, "scene.tif", outside_geotiff(t))),
            raises=ValueError, match=REFUSED),
    Hostile("predict: GDAL_WMS named .tif (no request)",
            no_request(lambda t, url: stub_predictor().predict(wms_file(t, "scene.tif", url))),
            raises=ValueError, match=REFUSED),
    Hostile("predict: /vsicurl/ scene without --allow-remote (no request)",
            no_request(lambda t, url: stub_predictor().predict(f"/vsicurl/{url}/scene.tif")),
            raises=ValueError, match=r"remote path.*allow_remote=True \(--allow-remote\)"),
    Hostile("predict: http scene without --allow-remote (no request)",
            no_request(lambda t, url: stub_predictor().predict(f"{url}/scene.tif")),
            raises=ValueError, match=r"allow_remote=True"),
    Hostile("predict: /vsizip/ path refused", lambda t: stub_predictor().predict(f"/vsizip/{t}/a.zip/scene.tif"),
            raises=ValueError, match=r"GDAL virtual path.*--allow-virtual"),
    Hostile("predict --allow-remote: a server sending a byte every 0.5 s meets the deadline",
            lambda t: _slow_scene(t), raises=TimeoutError, match=r"timeout=2 s"),
    Hostile("read_raster_image(allow_virtual=True) opens a trusted VRT (the opt-in)",
            lambda t: read_raster_image(source_vrt(t, "trusted.vrt", outside_geotiff(t)), max_pixels=10**6,
                                        allow_virtual=True), check=opened_virtual),
    # converters and training: a VRT inside the root over a file outside it is not read
    Hostile("coco: image in the root is a VRT over a GeoTIFF outside", coco_over_outside,
            check=kept_none("unreadable image")),
    Hostile("train: rs_mini image is a VRT raw band over a file outside", train_reads, raises=ValueError,
            match=REFUSED),
    Hostile("eval: rs_mini image is a VRT raw band over a file outside", eval_reads, raises=ValueError, match=REFUSED),
    # bounded work
    Hostile("grid of a 10^6 x 10^6 header is lazy", lambda t: grid_windows(10**6, 10**6, 56, 7), check=lazy_grid,
            seconds=10),
    Hostile("predict: a sparse 10^6 x 10^6 header is refused before reading",
            lambda t: stub_predictor().predict(sparse_huge(t)), raises=ValueError,
            match=r"416,527,281 windows, more than max_windows=100,000", seconds=20),
    Hostile("3,000 scattered point prompts group in well under a second",
            lambda t: timed(lambda: region_windows(scattered_points(), 20000, 20000, 448)), check=quick_groups(2.0)),
    # wrong errors and silent acceptances
    Hostile("predict: complex SLC band gives the documented complex message (a ValueError)",
            lambda t: stub_predictor().predict(complex_tiff(t)), raises=ValueError,
            match=r"is complex \(complex64\).*amplitude"),
    Hostile("RasterScene complex_to='amplitude' reads the modulus",
            lambda t: RasterScene(complex_tiff(t), complex_to="amplitude").read_rgb(), check=amplitude),
    Hostile("palette TIFF is read as its colours", lambda t: normalise_image(palette_tiff(t)), check=colours),
    Hostile("all-no-data uint8 raster is refused", lambda t: open_image(nodata_uint8(t)), raises=ValueError,
            match=r"0.00% valid pixels .*no-data.*min_valid_fraction=0.01"),
    Hostile("a 1x1 RGB GeoTIFF is not an ambiguous layout", lambda t: normalise_image(geotiff(t, "one.tif", np.ones(
        (1, 1, 3), np.uint8))), check=lambda out: np.testing.assert_equal(out.pixels.shape, (1, 1, 3))),
    Hostile("rasters keep working: a plain GeoTIFF opens", lambda t: open_image(geotiff(t)),
            check=lambda out: np.testing.assert_equal(out.shape, (96, 128, 3))),
]


def _slow_scene(tmp):
    with recording_server(slow=True) as (url, _):
        predictor = stub_predictor(allow_remote=True, timeout=2)
        return predictor.predict(f"/vsicurl/{url}/scene.tif")


@parametrize(CASES)
def test_hostile_geo_raster(case, tmp_path):
    run_case(case, tmp_path)



def hub_ready_predictor(tmp):
    """`ScenePredictor.from_pretrained` (earthgptx-predict) on a Hub-ready folder, without --trust_remote_code: the
    app's loader, so the package's classes load it (it refused before)."""
    from earthgptx_hf import EarthGPTXProcessor
    from earthgptx_hf.geo import ScenePredictor
    from earthgptx_hf.tools.hub import save_hub_ready
    from tests.modeling.helpers import tiny_model

    model = tiny_model()
    save_hub_ready(tmp / "hub", model, EarthGPTXProcessor.from_model_config(model.config))
    return ScenePredictor.from_pretrained(tmp / "hub", progress=False)


def loaded_like_the_app(predictor):
    from earthgptx_hf import EarthGPTXForConditionalGeneration

    assert isinstance(predictor.pipe.model, EarthGPTXForConditionalGeneration), type(predictor.pipe.model)


LOADING = [Hostile("predict loads a Hub-ready folder as the app does (one loader)", hub_ready_predictor,
                   check=loaded_like_the_app, seconds=60)]


@parametrize(LOADING)
def test_one_loader_for_every_entry_point(case, tmp_path):
    run_case(case, tmp_path)
