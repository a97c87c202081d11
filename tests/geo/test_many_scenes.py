"""Many scenes (`earthgptx-predict --scenes`): scene sources, per-scene and footprint-filtered prompts, the manifest
and resume, the merged output, the local engine against the single-process command, and Ray (2 replicas, a corrupt
scene, a replica killed mid-run)."""

import json
import os
import signal

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from earthgptx_hf.data.procedural import generate_scene
from earthgptx_hf.utils.extras import MissingExtraError
from earthgptx_hf.geo import ray_engine
from earthgptx_hf.geo.cli import main
from earthgptx_hf.geo.many_scenes import ManySceneArguments, ManyScenes
from earthgptx_hf.geo.manifest import MANIFEST_NAME
from earthgptx_hf.geo.scene_sources import list_scenes

from .conftest import PIXEL, TRANSFORM, lonlat_feature, pixel_to_lonlat, write_geotiff

SIZE = 160


def damage_pixels(path) -> None:
    """Overwrites the start of every block: the file opens, its pixels cannot be decoded."""
    import rasterio

    with rasterio.open(path) as dataset:
        offsets = [int(dataset.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
                   for row in range(-(-dataset.height // 64)) for col in range(-(-dataset.width // 64))]
    data = bytearray(path.read_bytes())
    for offset in offsets:
        data[offset:offset + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))


def write_archive(folder, count=6, corrupt=3, damage="header"):
    """`count` small scenes (scene `corrupt` damaged: its header, or the pixels of every block), each with its
    prompts file, and a list file."""
    lines = []
    for i in range(count):
        pixels, objects = generate_scene(np.random.default_rng(i), "optical", SIZE)
        scene = write_geotiff(folder / f"s{i}.tif", pixels, block=64)
        if i == corrupt:
            damage_pixels(scene) if damage == "pixels" else scene.write_bytes(b"II*\x00" + b"damaged" * 20)
        (folder / f"s{i}.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
            lonlat_feature(Point((o.bbox[0] + o.bbox[2]) / 2, (o.bbox[1] + o.bbox[3]) / 2), name=o.category)
            for o in objects]}))
        lines.append(f"s{i}.tif\ts{i}.geojson")
    (folder / "scenes.txt").write_text("# scene<TAB>prompts\n" + "\n".join(lines) + "\n")
    return folder / "scenes.txt"


def arguments(listing, checkpoint, out_dir, **options):
    options = {"task": "classify", "max_new_tokens": 3, "progress": False, **options}
    return ManySceneArguments(scenes=str(listing), model=str(checkpoint), out_dir=str(out_dir), **options)


def single_process_outputs(folder, checkpoint, scenes):
    """Each scene through the one-scene command, as a user runs it today."""
    outputs = {}
    for i in scenes:
        out = folder / "single" / f"s{i}.geojson"
        assert main([str(folder / f"s{i}.tif"), "--model", str(checkpoint), "--prompts", str(folder / f"s{i}.geojson"),
                     "--task", "classify", "--out", str(out), "--max_new_tokens", "3", "--no_progress"]) == 0
        outputs[i] = out.read_bytes()
    return outputs


def test_scene_sources(tmp_path):
    for name in ("b", "a"):
        write_geotiff(tmp_path / f"{name}.tif", np.zeros((8, 8, 3), np.uint8))
    assert [s.id for s in list_scenes(str(tmp_path / "*.tif"))] == ["a", "b"]
    specs = list_scenes(str(tmp_path / "*.tif"), prompts="{stem}.geojson")
    assert specs[0].prompts == str(tmp_path / "a.geojson")
    stac = {"type": "FeatureCollection", "features": [
        {"id": "item-1", "assets": {"visual": {"href": "a.tif", "type": "image/tiff; application=geotiff"},
                                    "thumbnail": {"href": "a.png", "type": "image/png"},
                                    "prompts": {"href": "fields.geojson"}}}]}
    (tmp_path / "items.json").write_text(json.dumps(stac))
    (spec,) = list_scenes(str(tmp_path / "items.json"))
    assert (spec.id, spec.path, spec.prompts) == ("item-1", str(tmp_path / "a.tif"), str(tmp_path / "fields.geojson"))
    with pytest.raises(ValueError, match=r"item 0 \('item-1'\) has no asset 'red' \(--asset\); its assets"):
        list_scenes(str(tmp_path / "items.json"), asset="red")
    (tmp_path / "twice.txt").write_text(f"a.tif\nsub/a.tif\n")
    with pytest.raises(ValueError, match=r"scene id\(s\) \['a'\] repeat"):
        list_scenes(str(tmp_path / "twice.txt"))
    with pytest.raises(ValueError, match=r"prompts='\{stem\}_\{0\}.geojson' is not a valid per-scene template"):
        list_scenes(str(tmp_path / "*.tif"), prompts="{stem}_{0}.geojson")
    with pytest.raises(ValueError, match=r"scenes='nowhere.txt' is neither a glob"):
        list_scenes("nowhere.txt")


def test_local_engine_resumes_and_isolates_failures(tmp_path, checkpoint):
    listing = write_archive(tmp_path)
    out = tmp_path / "out"
    summary = ManyScenes(arguments(listing, checkpoint, out)).run()
    assert summary["states"] == {"done": 5, "failed": 1} and list(summary["failed"]) == ["s3"]
    assert "could not be opened as a raster" in summary["failed"]["s3"]
    single = single_process_outputs(tmp_path, checkpoint, [0, 1, 2, 4, 5])
    for i, expected in single.items():  # the same bytes as the one-scene command
        assert (out / "scenes" / f"s{i}.geojson").read_bytes() == expected
    merged = summary["merged"]
    assert merged["features"] == sum(len(json.loads(v)["features"]) for v in single.values())
    import pyogrio

    meta, _, _, columns = pyogrio.raw.read(merged["path"])
    assert set(columns[list(meta["fields"]).index("scene")]) == {"s0", "s1", "s2", "s4", "s5"}
    # a rerun retries the failure only; done outputs are left as they were
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "scenes").iterdir()}
    again = ManyScenes(arguments(listing, checkpoint, out)).run()
    assert (again["run_now"], again["left_as_they_were"], again["windows"]["windows_run"]) == (1, 5, 0)
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "scenes").iterdir()}
    # the scene repaired: the rerun runs it, and only it
    pixels, _ = generate_scene(np.random.default_rng(3), "optical", SIZE)
    (tmp_path / "s3.tif").unlink()
    write_geotiff(tmp_path / "s3.tif", pixels)
    third = ManyScenes(arguments(listing, checkpoint, out)).run()
    assert third["states"] == {"done": 6} and third["run_now"] == 1 and third["windows"]["windows_run"] >= 1
    records = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert [r["state"] for r in records if r.get("scene") == "s3"] == ["failed", "failed", "done"]
    # other options in the same folder are refused, naming them
    with pytest.raises(ValueError, match=r"holds a run with other options \(\['task'\]"):
        ManyScenes(arguments(listing, checkpoint, out, task="caption"))


def test_a_shared_prompts_file_is_filtered_by_footprint(tmp_path, stub):
    from rasterio.transform import Affine

    pixels = np.full((64, 64, 3), 90, np.uint8)
    write_geotiff(tmp_path / "west.tif", pixels)
    far = Affine(PIXEL, 0.0, TRANSFORM.c + 64 * PIXEL, 0.0, -PIXEL, TRANSFORM.f)  # the next 640 m to the east
    write_geotiff(tmp_path / "east.tif", pixels, transform=far)
    write_geotiff(tmp_path / "away.tif", pixels, transform=Affine(PIXEL, 0, TRANSFORM.c + 10_000, 0, -PIXEL,
                                                                   TRANSFORM.f))
    shared = tmp_path / "fields.geojson"
    shared.write_text(json.dumps({"type": "FeatureCollection", "features": [
        lonlat_feature(Point(20, 20).buffer(5), name="west field"),
        lonlat_feature(Point(64 + 30, 30).buffer(5), name="east field")]}))
    args = ManySceneArguments(scenes=str(tmp_path / "*.tif"), model="unused", out_dir=str(tmp_path / "out"),
                              prompts=str(shared), task="segment", progress=False, masks=True)
    summary = ManyScenes(args).run(pipe=stub)
    assert summary["states"] == {"done": 2, "skipped": 1}
    assert "no prompt of prompts=" in summary["skipped"]["away"]
    assert sorted(p.name for p in (tmp_path / "out" / "scenes").glob("*.mask.tif")) == ["east.mask.tif",
                                                                                        "west.mask.tif"]
    for scene, centre in (("west", (20, 20)), ("east", (64 + 30, 30))):  # each scene got the prompt over it alone
        (feature,) = json.loads((tmp_path / "out" / "scenes" / f"{scene}.geojson").read_text())["features"]
        asked = shapely.from_wkt(feature["properties"]["prompt_geometry"]).centroid
        assert asked.distance(Point(pixel_to_lonlat(*centre))) < 1e-6


def test_ray_missing_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(MissingExtraError, match=r"--engine ray.*`distributed` extra.*earthgptx-hf\[distributed\]"):
        ray_engine.require_ray()


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_two_replicas_a_corrupt_scene_and_a_killed_replica(tmp_path, checkpoint, local_ray, monkeypatch):
    listing = write_archive(tmp_path, damage="pixels")  # s3 opens on the driver, its windows fail in the replicas
    out = tmp_path / "out"
    killed, seen = [], []
    receive = ray_engine.SceneAssembler.__call__

    def kill_mid_run(self, k, j, result, replica, stats):  # the replica of the 3rd window to return is killed
        seen.append(replica)
        if len(seen) == 3:
            os.kill(replica, signal.SIGKILL)
            killed.append((replica, sum(len(p.windows) for p in self.plans) - len(seen)))
        return receive(self, k, j, result, replica, stats)

    monkeypatch.setattr(ray_engine.SceneAssembler, "__call__", kill_mid_run)
    summary = ManyScenes(arguments(listing, checkpoint, out, engine="ray", replicas=2, cpus_per_replica=0.5,
                                   batch_size=1)).run()
    (pid, left), = killed
    assert left > 0  # windows were still to come when it died
    assert summary["states"] == {"done": 5, "failed": 1}
    assert "windows failed; first: ValueError: scene (" in summary["failed"]["s3"]
    assert "could not be decoded" in summary["failed"]["s3"]
    planned = sum(json.loads((out / "scenes" / f"s{i}.geojson").read_text())["earthgptx"]["windows"]
                  for i in (0, 1, 2, 4, 5))
    failed_windows = summary["windows"]["windows_failed_scenes"]
    assert failed_windows >= 1 and summary["windows"]["windows_run"] == planned
    assert len(seen) == planned + failed_windows  # every window returned, none twice
    assert len(summary["replicas"]) >= 2  # the killed replica's windows ran on another (or on its restart)
    single = single_process_outputs(tmp_path, checkpoint, [0, 1, 2, 4, 5])
    for i, expected in single.items():
        assert (out / "scenes" / f"s{i}.geojson").read_bytes() == expected
    monkeypatch.setattr(ray_engine.SceneAssembler, "__call__", receive)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "scenes").iterdir()}
    again = ManyScenes(arguments(listing, checkpoint, out, engine="ray", replicas=2, cpus_per_replica=0.5)).run()
    assert (again["run_now"], again["left_as_they_were"], list(again["failed"])) == (1, 5, ["s3"])
    assert again["windows"]["windows_run"] == 0  # nothing but the failure was tried: only s3's windows ran
    assert sum(r["windows"] for r in again["replicas"].values()) == again["windows"]["windows_failed_scenes"] \
        == failed_windows
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "scenes").iterdir()}


def test_the_command_dispatches_many_scenes_and_reports(tmp_path, checkpoint, capsys):
    listing = write_archive(tmp_path, count=2, corrupt=1)
    out = tmp_path / "out"
    command = ["--scenes", str(listing), "--model", str(checkpoint), "--out-dir", str(out), "--task", "classify",
               "--max_new_tokens", "3", "--no_progress"]
    assert main(command) == 1  # a scene failed: the exit status says so
    printed = capsys.readouterr().out
    assert "scenes: 2 (done 1, failed 1); run now: 2, left as they were: 0" in printed
    assert "failed  s1: ValueError: scene (" in printed and f"merged: {out / 'all_scenes.gpkg'} (" in printed
    assert json.loads((out / "summary.json").read_text())["states"] == {"done": 1, "failed": 1}
    # an output folder inside an input (the checkpoint) is refused before any scene runs
    assert main([*command[:4], "--out-dir", str(checkpoint / "runs"), *command[6:]]) == 2
    assert "would overwrite the input model" in capsys.readouterr().err
    (out / "stray.tif").write_bytes(b"x")  # an output folder the scenes' glob reaches is refused
    assert main(["--scenes", str(tmp_path / "**" / "*.tif"), *command[2:]]) == 2
    assert "lists files inside out_dir=" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*command, "--engine", "spark"])
    assert "--engine: invalid choice: 'spark' (choose from 'local', 'ray')" in capsys.readouterr().err


def test_the_ray_assembly_equals_the_single_process_masks_included(tmp_path, stub):
    """The Ray path without Ray: windows planned on the driver, run as a replica runs them (in one batch, returned in
    reverse order), assembled with their masks stitched; the single process's features and mask GeoTIFF exactly."""
    import pickle
    from collections import OrderedDict

    import rasterio

    from earthgptx_hf.geo.predictor import ScenePredictor
    from earthgptx_hf.geo.raster import RasterScene
    from earthgptx_hf.geo.scene_sources import SceneSpec

    listing = write_archive(tmp_path, count=1, corrupt=-1)
    scene, prompts = str(tmp_path / "s0.tif"), str(tmp_path / "s0.geojson")
    predictor = ScenePredictor(stub, batch_size=2, progress=False, model_id="stub")
    single = predictor.predict(scene, prompts, task="segment", mask_out=tmp_path / "single.tif")
    with RasterScene(scene) as raster:
        planned, georeference = predictor.plan(raster, prompts), raster.georeference
    plan = ray_engine.ScenePlan(SceneSpec("s0", scene), georeference, planned[3], "segment", planned[0], planned[1],
                                planned[2], {})
    replica = ray_engine.WindowReplica.__new__(ray_engine.WindowReplica)  # its model: the stub, not a checkpoint
    replica.pipe, replica.percentiles, replica.batch_size = stub, stub.processor.image_processor.percentiles, 2
    replica.generate_kwargs, replica.scenes = predictor.generate_kwargs, OrderedDict()
    replica.load_s = replica.busy_s = 0.0
    rows = list(ray_engine.window_rows([plan], {"bands": None, "complex_to": None, "allow_virtual": False}))
    out = replica({name: np.array([row[name] for row in rows], dtype=object) for name in ("scene", "window", "job")})
    done, failed = [], []
    assembler = ray_engine.SceneAssembler(predictor, [plan], on_done=lambda p, r: done.append(r),
                                          on_failed=lambda p, e: failed.append(e),
                                          mask_output=lambda p: tmp_path / "ray.tif")
    for k in reversed(range(len(rows))):
        assembler(0, int(out["window"][k]), pickle.loads(out["result"][k]), 1, {"peak_mib": 1.0})
    assert failed == [] and len(done) == 1 and len(rows) == single.summary["windows"] >= 2
    assert json.dumps(done[0].collection) == json.dumps(single.collection)
    assert done[0].summary["masks"] == single.summary["masks"] >= 1
    with rasterio.open(tmp_path / "single.tif") as a, rasterio.open(tmp_path / "ray.tif") as b:
        one, two = a.read(1), b.read(1)
    assert one.any() and np.array_equal(one, two) and b.crs == a.crs and b.transform == a.transform
