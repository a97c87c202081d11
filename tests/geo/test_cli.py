"""`earthgptx-predict`: flags, a YAML file of options, the run on a saved checkpoint, bad input, and the `geo` extra."""

import json
import sys

import numpy as np
import pytest
from shapely.geometry import Point

from earthgptx_hf.data.procedural import generate_scene
from earthgptx_hf.utils.extras import MissingExtraError, require
from earthgptx_hf.geo.cli import PredictArguments, main, parse_arguments

from .conftest import lonlat_feature, write_geotiff


def test_options_from_flags_and_a_yaml_file(tmp_path):
    args = parse_arguments(["scene.tif", "--model", "m", "--mask-out", "mask.tif", "--bands", "3,2,1",
                            "--batch-size", "4"])
    assert isinstance(args, PredictArguments)
    assert (args.scene, args.model, args.mask_out, args.bands, args.batch_size) == ("scene.tif", "m", "mask.tif",
                                                                                    "3,2,1", 4)
    config = tmp_path / "predict.yaml"
    config.write_text("scene: a.tif\nmodel: hub/id\ntask: segment\nbatch_size: 2\nout: r.gpkg\n")
    args = parse_arguments([str(config), "--batch-size", "3"])  # flags override the file
    assert (args.scene, args.model, args.task, args.batch_size, args.out) == ("a.tif", "hub/id", "segment", 3, "r.gpkg")
    config.write_text("scene: a.tif\nmodle: typo\n")
    with pytest.raises(SystemExit, match=r"unknown option\(s\) \['modle'\]"):
        parse_arguments([str(config)])
    with pytest.raises(SystemExit):
        parse_arguments(["scene.tif"])  # no --model


def test_the_command_writes_georeferenced_results(tmp_path, checkpoint, capsys):
    pixels, objects = generate_scene(np.random.default_rng(6), "optical", 96)
    scene = write_geotiff(tmp_path / "scene.tif", pixels)
    prompts = tmp_path / "prompts.geojson"
    prompts.write_text(json.dumps({"type": "FeatureCollection", "features": [
        lonlat_feature(Point((o.bbox[0] + o.bbox[2]) / 2, (o.bbox[1] + o.bbox[3]) / 2), name=o.category)
        for o in objects]}))
    out = tmp_path / "result.geojson"
    assert main([str(scene), "--model", str(checkpoint), "--prompts", str(prompts), "--task", "classify",
                 "--out", str(out), "--mask-out", str(tmp_path / "mask.tif"), "--max_new_tokens", "3",
                 "--no_progress"]) == 0
    collection = json.loads(out.read_text())
    assert len(collection["features"]) == len(objects) and "crs" not in collection  # RFC 7946: EPSG:4326
    assert collection["earthgptx"]["windows_run"] >= 1 and collection["features"][0]["properties"]["model"]
    printed = capsys.readouterr().out
    assert f"scene.tif: {len(objects)} features (classify) -> {out}" in printed
    # an existing output is kept unless --overwrite (checked before the model loads)
    assert main([str(scene), "--model", str(checkpoint), "--prompts", str(prompts), "--out", str(out),
                 "--no_progress"]) == 2
    assert f"out={str(out)!r} exists; pass --overwrite" in capsys.readouterr().err
    # bad input: a clear message and exit status 2
    prompts.write_text(json.dumps(lonlat_feature(Point(5000, 5), name="far away")))
    assert main([str(scene), "--model", str(checkpoint), "--prompts", str(prompts), "--out", str(out),
                 "--overwrite", "--no_progress"]) == 2
    assert "prompts[0] (name 'far away') lies outside the scene 'scene.tif'" in capsys.readouterr().err


def test_a_missing_geo_extra_is_named(monkeypatch, tmp_path):
    from earthgptx_hf.models.earthgptx.multi_source import normalise_image

    scene = write_geotiff(tmp_path / "float3.tif", np.ones((8, 8, 3), np.float32))
    monkeypatch.setitem(sys.modules, "rasterio", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "earthgptx_hf.geo.raster", None)
    with pytest.raises(MissingExtraError, match=r"needs the Python module `rasterio`.*`geo` extra.*"
                                                r"pip install 'earthgptx-hf\[geo\]'"):
        require("rasterio", extra="geo", purpose="earthgptx_hf.geo")
    with pytest.raises(ValueError, match=r"float3.tif.*needs the `geo` extra: pip install 'earthgptx-hf\[geo\]'"):
        normalise_image(scene)  # PIL alone cannot read a 3-band float TIFF


def test_target_gsd_runs_the_model_at_the_training_resolution(tmp_path, checkpoint, capsys):
    """Issue 35: `--target-gsd` resamples the scene as the `geo` training data did; the features stay in map
    coordinates, the mask is written at the target GSD, and a scene without a known GSD is refused."""
    import rasterio

    pixels, objects = generate_scene(np.random.default_rng(7), "optical", 96)
    scene = write_geotiff(tmp_path / "scene.tif", pixels)  # 10 m pixels (conftest)
    prompts = tmp_path / "prompts.geojson"
    prompts.write_text(json.dumps({"type": "FeatureCollection", "features": [
        lonlat_feature(Point((o.bbox[0] + o.bbox[2]) / 2, (o.bbox[1] + o.bbox[3]) / 2), name=o.category)
        for o in objects]}))
    out, mask = tmp_path / "result.geojson", tmp_path / "mask.tif"
    assert main([str(scene), "--model", str(checkpoint), "--prompts", str(prompts), "--task", "segment",
                 "--out", str(out), "--mask-out", str(mask), "--max_new_tokens", "3", "--target-gsd", "20",
                 "--no_progress"]) == 0
    collection = json.loads(out.read_text())
    assert len(collection["features"]) == len(objects)
    assert collection["earthgptx"]["source"] == str(scene) and collection["earthgptx"]["target_gsd"] == 20
    with rasterio.open(mask) as written, rasterio.open(scene) as original:
        assert written.res == (20.0, 20.0) and written.bounds == original.bounds
    assert f"scene.tif: {len(objects)} features (segment)" in capsys.readouterr().out
    plain = write_geotiff(tmp_path / "plain.tif", pixels, crs=None, transform=None)
    assert main([str(plain), "--model", str(checkpoint), "--out", str(tmp_path / "r2.geojson"), "--target-gsd", "20",
                 "--no_progress"]) == 2
    assert "target_gsd" in capsys.readouterr().err
    assert main([str(scene), "--model", str(checkpoint), "--out", str(tmp_path / "r3.geojson"), "--target-gsd",
                 "-1", "--no_progress"]) == 2
    assert "target_gsd=-1.0 must be a positive number" in capsys.readouterr().err
