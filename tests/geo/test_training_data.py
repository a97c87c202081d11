"""The `geo` data format (issue 35): GeoTIFF scenes in two CRSs and labels in a third become training windows whose
objects lie exactly on the planted pixels; a spatial validation split; training with per-step validation metrics;
prediction on a third scene."""

from __future__ import annotations

import json

import numpy as np
import torch
import pytest
from PIL import Image

from earthgptx_hf.data.annotated_images import DataArguments, load_annotated_images
from earthgptx_hf.models.earthgptx.visual_prompts import rle_to_mask

from .geo_training_inputs import BRIGHT, OBJECTS, SCENES, pixel_polygon, planted_labels, write_scene

WINDOW = 64


@pytest.fixture
def geo_data(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "a.tif", "a")
    write_scene(scenes / "b.tif", "b")
    write_scene(tmp_path / "c.tif", "c")
    from shapely.geometry import box

    bow_tie = __import__("shapely").Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    extra = [(box(-170, -80, -169, -79), "ship"),  # outside all scenes (EPSG:3857 metres near the origin)
             (pixel_polygon("a", (30, 100, 40, 110), "EPSG:3857"), "car"),  # unknown class
             (bow_tie, "ship")]  # invalid geometry
    labels = planted_labels(tmp_path / "labels.gpkg", crs="EPSG:3857", extra=extra)
    return tmp_path, str(scenes / "*.tif"), labels


def geo_args(scenes, labels, **options):
    return DataArguments(data_format="geo", scenes=scenes, labels=labels, window_size=WINDOW,
                         bands="red,green,blue", class_names="ship,tank", **options)


def scene_of(image) -> str:
    return image.id.split(":")[0]


def test_windows_hold_the_planted_objects_on_their_pixels(geo_data):
    tmp, scenes, labels = geo_data
    images, report = load_annotated_images(geo_args(scenes, labels), tmp / "work")
    found = {}
    for image in images:
        col, row = (int(v) for v in image.id.split(":")[1].split(",")[:2])
        pixels = np.asarray(Image.open(image.image))
        masks = [rle_to_mask(obj.mask) for obj in image.objects]
        background = ~np.any(masks, axis=0)
        for obj, mask in zip(image.objects, masks):
            x0, y0, x1, y1 = (round(v) for v in obj.bbox)
            assert np.allclose(obj.bbox, [x0, y0, x1, y1], atol=1e-3), obj.bbox  # exact pixel edges
            expected = np.zeros_like(mask)
            expected[y0:y1, x0:x1] = True
            assert (mask == expected).all()  # the instance mask is the planted rectangle, cut at the window
            assert pixels[mask].min() == pixels[mask].max() > pixels[background].max()  # on the bright pixels
            found.setdefault((scene_of(image), obj.category), []).append((x0 + col, y0 + row, x1 + col, y1 + row))
    for name in ("a", "b"):
        for rect, category in OBJECTS[name]:
            pieces = found[(name, category)]
            union = [min(p[0] for p in pieces if _inside(p, rect)), min(p[1] for p in pieces if _inside(p, rect)),
                     max(p[2] for p in pieces if _inside(p, rect)), max(p[3] for p in pieces if _inside(p, rect))]
            assert tuple(union) == rect
    assert report.objects_read == 8 and report.objects_kept == 5
    assert report.skipped == {"outside all scenes": 1, "unknown class": 1, "invalid geometry": 1}
    assert report.objects_read == report.objects_kept + sum(report.skipped.values())
    assert report.features_clipped == 1  # the ship across the first window edge of scene a, kept on both sides
    assert report.windows["kept"] == len(images) == 5


def _inside(piece, rect) -> bool:
    return rect[0] <= piece[0] and piece[2] <= rect[2] and rect[1] <= piece[1] and piece[3] <= rect[3]


def test_the_validation_split_holds_out_whole_spatial_blocks(geo_data):
    tmp, scenes, labels = geo_data
    images, report = load_annotated_images(geo_args(scenes, labels, validation_split=0.5, validation_block=1),
                                           tmp / "work")
    sides = {image.split for image in images}
    assert sides == {"train", "validation"}, [(i.id, i.split) for i in images]
    assert report.validation_windows == sum(i.split == "validation" for i in images)
    # overlapping windows: a window that reaches into a block of the other side is dropped, so the map blocks that
    # training windows touch and those that validation windows touch are disjoint
    images2, report2 = load_annotated_images(geo_args(scenes, labels, validation_split=0.5, validation_block=1,
                                                      window_overlap=0.5), tmp / "work2")
    assert report2.windows["straddles the validation boundary"] >= 1
    assert report2.objects_read == report2.objects_kept + sum(report2.skipped.values())
    touched = {"train": set(), "validation": set()}
    for image in images2:
        name = scene_of(image)
        col, row, w, h = (int(v) for v in image.id.split(":")[1].split(","))
        x0, y0 = SCENES[name][1]
        left, top = (x0 + 10 * col) / 640, (y0 - 10 * row) / 640  # 640 m blocks: 64 windows of 10 m pixels
        right, bottom = (x0 + 10 * (col + w)) / 640, (y0 - 10 * (row + h)) / 640
        blocks = {(name[0] != "b", bx, by) for bx in range(int(np.floor(left)), int(np.ceil(right)))
                  for by in range(int(np.floor(bottom)), int(np.ceil(top)))}
        touched[image.split] |= blocks
    assert touched["train"] and touched["validation"] and not touched["train"] & touched["validation"]


def test_spatial_split_refuses_windows_across_the_boundary():
    from earthgptx_hf.geo.spatial_split import SpatialSplit

    split = SpatialSplit(0.5, 100.0, "EPSG:32633", seed=0)
    sides = [split.side_of(50 + 100 * i, 50) for i in range(40)]
    i = next(k for k in range(39) if sides[k] != sides[k + 1])  # neighbouring blocks on different sides
    assert split.assign((100 * i + 10, 10, 100 * i + 90, 90)) == sides[i]
    assert split.assign((100 * i + 60, 10, 100 * i + 140, 90)) is None
    assert SpatialSplit(0.0, 100.0, "EPSG:32633").assign((0, 0, 1000, 1000)) == "train"


def test_target_gsd_resamples_windows_to_metres(geo_data):
    tmp, scenes, labels = geo_data
    args = geo_args(scenes, labels, window_unit="metres", target_gsd=20.0)
    args.window_size = 640.0  # 64 scene pixels at 10 m, seen as 32 pixels at 20 m
    images, _ = load_annotated_images(args, tmp / "work")
    assert {(image.width, image.height) for image in images} == {(32, 32)}
    first = next(i for i in images if i.id.startswith("a:0,0"))
    assert np.allclose(first.objects[0].bbox, [4, 4, 12, 10], atol=1e-3)


def test_band_presets_and_names_choose_the_bands(tmp_path):
    from earthgptx_hf.geo.bands import open_training_scene, preset_bands
    import rasterio

    path = write_scene(tmp_path / "a.tif", "a")
    with open_training_scene(path, bands="nir,red,green") as scene:
        assert scene.bands == (4, 3, 2)
    with rasterio.open(path) as dataset:  # descriptions blue..nir do not name sensor bands; 4 bands are no S2 order
        with pytest.raises(ValueError, match="band_preset='sentinel2_true_colour' needs a Sentinel-2 raster"):
            preset_bands(dataset, "sentinel2_true_colour")
    data = np.zeros((13, 8, 8), "uint16")
    with rasterio.open(tmp_path / "s2.tif", "w", driver="GTiff", width=8, height=8, count=13, dtype="uint16") as d:
        d.write(data)
    with open_training_scene(tmp_path / "s2.tif", band_preset="sentinel2_false_colour") as scene:
        assert scene.bands == (8, 4, 3)
    with rasterio.open(tmp_path / "l8.tif", "w", driver="GTiff", width=8, height=8, count=3, dtype="uint16") as d:
        d.write(data[:3])
        for i, name in enumerate(("SR_B5", "SR_B4", "SR_B3"), start=1):
            d.set_band_description(i, name)
    with open_training_scene(tmp_path / "l8.tif", band_preset="landsat9_false_colour") as scene:
        assert scene.bands == (1, 2, 3)


def test_validation_split_holds_out_images_of_pixel_formats(tmp_path):
    from earthgptx_hf.data.validation_split import split_images

    args = DataArguments(num_scenes=8, scene_size=64, split=None, scene_dir=str(tmp_path / "scenes"))
    images, _ = load_annotated_images(args, tmp_path)
    train, held = split_images(images, 0.25, seed=0)
    assert len(held) == 2 and len(train) == len(images) - 2
    assert not {i.image for i in train} & {i.image for i in held}
    assert split_images(images, 0.25, seed=0)[1] == held  # seeded


def test_eval_strategy_without_a_validation_split_is_refused_clearly(tmp_path):
    from earthgptx_hf.training.train import main

    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'run'}\nnum_scenes: 4\nscene_size: 64\nmax_steps: 1\n"
                      "eval_strategy: steps\neval_steps: 1\nreport_to: none\nuse_cpu: true\n")
    with pytest.raises(ValueError, match="eval_strategy='steps'.*set validation_split"):
        main([str(config)])


TRAIN_CONFIG = """\
data_format: geo
scenes: "{scenes}"
labels: {labels}
class_names: ship,tank
bands: red,green,blue
window_size: 64
validation_split: 0.5
validation_block: 1
validation_metric_samples: 2
tasks: classification,grounding
prompt_type: box
preset: tiny
output_dir: {out}
max_steps: 2
per_device_train_batch_size: 2
per_device_eval_batch_size: 2
eval_strategy: steps
eval_steps: 1
save_strategy: steps
save_steps: 1
load_best_model_at_end: true
metric_for_best_model: giou
greater_is_better: true
logging_steps: 1
report_to: none
use_cpu: true
seed: 0
disable_tqdm: true
"""


def test_end_to_end_train_with_spatial_validation_then_predict_a_third_scene(geo_data):
    from earthgptx_hf.geo.cli import main as predict
    from earthgptx_hf.training.train import main as train

    tmp, scenes, labels = geo_data
    config = tmp / "train.yaml"
    config.write_text(TRAIN_CONFIG.format(scenes=scenes, labels=labels, out=tmp / "run"))
    assert train([str(config)]) == 0
    history = json.loads((tmp / "run" / "log_history.json").read_text())
    evaluations = [h for h in history if "eval_loss" in h]
    assert [h["step"] for h in evaluations] == [1, 2]  # per-step validation loss
    metrics = [h for h in history if any(k in h for k in ("eval_giou", "eval_roc_accuracy"))]
    assert {h["step"] for h in metrics} == {1, 2}  # and task metrics, at every evaluation
    report = json.loads((tmp / "run" / "data_report.json").read_text())
    assert report["validation_records"] > 0 and report["training_records"] > 0
    assert report["windows"]["kept"] == 5
    out = tmp / "c.geojson"
    prompts = planted_labels(tmp / "c_prompts.gpkg", scenes=("c",))
    assert predict([str(tmp / "c.tif"), "--model", str(tmp / "run"), "--prompts", prompts, "--task", "classify",
                    "--bands", "red,green,blue", "--out", str(out), "--out-crs", "raster",
                    "--max-new-tokens", "4", "--progress", "false"]) == 0
    features = json.loads(out.read_text())["features"]
    (rect, _), = OBJECTS["c"]
    x0, y0 = SCENES["c"][1]
    expected = [x0 + 10 * rect[0], y0 - 10 * rect[3], x0 + 10 * rect[2], y0 - 10 * rect[1]]
    from shapely.geometry import shape

    assert len(features) == 1
    assert np.allclose(shape(features[0]["geometry"]).bounds, expected, atol=1e-3)  # the prompt on its pixels


def test_resample_to_gsd_gives_inference_the_training_scale(tmp_path):
    import rasterio

    from earthgptx_hf.geo.gsd import resample_to_gsd
    from earthgptx_hf.geo.raster import RasterScene

    scene = write_scene(tmp_path / "c.tif", "c")
    out = resample_to_gsd(scene, 20.0, tmp_path / "c_20m.tif", block_rows=7)
    with rasterio.open(out) as dataset:
        assert (dataset.width, dataset.height, dataset.transform.a, dataset.crs.to_string()) == (64, 64, 20.0,
                                                                                                   "EPSG:32633")
        assert dataset.transform.c == SCENES["c"][1][0] and dataset.descriptions[2] == "red"
        data = dataset.read(3)
    (rect, category), = OBJECTS["c"]
    half = [v // 2 for v in rect]  # the planted object at 20 m
    assert (data[half[1]:half[3], half[0]:half[2]] == BRIGHT[category]).all()
    assert data.sum() == 300 * (64 * 64 - 10 * 8) + BRIGHT[category] * 10 * 8
    with RasterScene(scene, bands="red,green,blue") as full:  # the training read of the same 640 m window
        from rasterio.windows import Window

        window, _ = full.read(Window(0, 0, 64, 64), out_shape=(32, 32))
    assert (window[..., 0] == data[:32, :32]).all()
    with pytest.raises(ValueError, match=r"out=.* exists"):
        resample_to_gsd(scene, 20.0, out)
    degrees = write_scene(tmp_path / "d.tif", "c", crs="EPSG:4326",
                          transform=rasterio.transform.from_origin(15, 41.6, 1e-4, 1e-4))
    with pytest.raises(ValueError, match=r"target_gsd needs each scene's ground sample distance.*EPSG:4326"):
        resample_to_gsd(degrees, 20.0, tmp_path / "d_20m.tif")


def test_mask_prompts_from_the_polygons_train(geo_data):
    from earthgptx_hf.training.train import main as train

    tmp, scenes, labels = geo_data
    config = tmp / "mask.yaml"
    text = TRAIN_CONFIG.format(scenes=scenes, labels=labels, out=tmp / "run_mask").replace("prompt_type: box",
                                                                                         "prompt_type: mask")
    config.write_text(text.replace("max_steps: 2", "max_steps: 1"))
    assert train([str(config)]) == 0
    from earthgptx_hf.data.annotated_images import load_annotated_images as load
    from earthgptx_hf.data.tasks import build_records

    images, _ = load(geo_args(scenes, labels), tmp / "work")
    records = build_records(images, tasks=("classification",), prompt_type="mask")
    prompt = records[0]["prompts"][0]
    assert prompt["type"] == "mask" and rle_to_mask(prompt["mask"]).sum() == 16 * 12  # the first ship's pixels


def test_four_band_scenes_train_the_band_adapter_then_predict(geo_data, capsys):
    """issue 35: `config_overrides` set `input_bands: 4`; the windows keep the 4 bands (GeoTIFFs, no band tagged
    alpha), the adapter trains, and earthgptx-predict reads 4 bands of a new scene for the trained model."""
    from earthgptx_hf import EarthGPTXForConditionalGeneration
    from earthgptx_hf.geo.cli import main as predict
    from earthgptx_hf.training.train import main as train

    tmp, scenes, labels = geo_data
    config = tmp / "train4.yaml"
    text = TRAIN_CONFIG.format(scenes=scenes, labels=labels, out=tmp / "run4").replace(
        "bands: red,green,blue", "bands: blue,green,red,nir\n"
        'config_overrides: \'{"input_bands": 4, "band_adapter_init": [2, 1, 0]}\'')
    config.write_text(text)
    assert train([str(config)]) == 0
    windows = sorted((tmp / "run4" / "geo_windows").glob("*.tif"))
    assert windows and not list((tmp / "run4" / "geo_windows").glob("*.png"))
    import rasterio

    with rasterio.open(windows[0]) as window:
        assert window.count == 4 and rasterio.enums.ColorInterp.alpha not in window.colorinterp
    model = EarthGPTXForConditionalGeneration.from_pretrained(tmp / "run4")
    assert model.config.input_bands == 4
    weight = model.model.vision_tower.band_adapter.weight.detach().flatten(1)
    assert not torch.equal(weight, torch.eye(4)[[2, 1, 0]])  # it trained
    out = tmp / "c4.geojson"
    prompts = planted_labels(tmp / "c4_prompts.gpkg", scenes=("c",))
    assert predict([str(tmp / "c.tif"), "--model", str(tmp / "run4"), "--prompts", prompts, "--task", "classify",
                    "--bands", "blue,green,red,nir", "--out", str(out), "--out-crs", "raster",
                    "--max-new-tokens", "4", "--progress", "false"]) == 0
    assert len(json.loads(out.read_text())["features"]) == 1
    assert predict([str(tmp / "c.tif"), "--model", str(tmp / "run4"), "--prompts", prompts, "--task", "classify",
                    "--bands", "red,green,blue", "--out", str(tmp / "c3.geojson"), "--progress", "false"]) != 0
    assert "the model takes input_bands=4" in capsys.readouterr().err


def _own_format(data_args, workdir):  # a user's plugin format (below)
    return [], None


def test_plugin_formats_are_entry_points_and_a_missing_extra_is_named(monkeypatch):
    """Issue 32: `data_format: geo` is found through the entry point group `earthgptx_hf.record_formats` (setup.cfg),
    not a module name the data layer holds; a user's own format plugs in the same way."""
    import sys
    from importlib.metadata import EntryPoint, entry_points

    from earthgptx_hf.data import formats
    from earthgptx_hf.geo.training_data import load_geo_images
    from earthgptx_hf.utils.extras import MissingExtraError

    (geo,) = [point for point in entry_points(group=formats.ENTRY_POINT_GROUP) if point.name == "geo"]
    assert geo.extras == ["geo"] and formats.plugin_loader("geo") is load_geo_images
    assert formats.PLUGIN_FORMATS["geo"] == "earthgptx_hf.geo.training_data:load_geo_images"
    with pytest.raises(ValueError, match=r"data_format='nope' is not a plugin format; known plugin formats: \['geo'\]"):
        formats.plugin_loader("nope")

    own = EntryPoint("own", f"{__name__}:_own_format", formats.ENTRY_POINT_GROUP)
    monkeypatch.setattr(formats, "entry_points", lambda group: [*entry_points(group=group), own])
    assert formats.plugin_loader("own") is _own_format and formats.known_formats() == ["geo", "own"]

    monkeypatch.setitem(sys.modules, "earthgptx_hf.geo.training_data", None)  # as if the geo extra were missing
    with pytest.raises(MissingExtraError, match=r"data_format='geo' .*the `geo` extra: pip install "
                                                r"'earthgptx-hf\[geo\]'\. Known plugin formats: \['geo', 'own'\]"):
        formats.plugin_loader("geo")
