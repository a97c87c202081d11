"""Scenes end to end: a GeoTIFF written by the test (UTM, known transform) and prompts in EPSG:4326 in; features whose
mask polygons land on the objects, a stitched mask GeoTIFF, no-data tiles skipped and counted, tiles with overlap, a
prompt on a tile border answered once, and memory that does not grow with the scene."""

import json
import tracemalloc

import numpy as np
import pytest
import rasterio
import shapely
from shapely.geometry import Point, box, shape

from earthgptx_hf.data.procedural import generate_scene
from earthgptx_hf.geo import ScenePredictor
from earthgptx_hf.geo.features import PROPERTIES

from .conftest import TRANSFORM, UTM, lonlat_feature, pixel_to_lonlat, write_geotiff

OFFSET = (150, 40)  # where the 128-pixel scene lies in the raster (col, row)


def _lonlat_box(x1, y1, x2, y2):
    corners = [pixel_to_lonlat(x, y) for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
    from shapely.geometry import Polygon

    return Polygon(corners)


def _round_trip(tmp_path, stub, pixels, objects, offset=OFFSET, size=(260, 400), max_read=None):
    """Writes `pixels` into a larger UTM raster at `offset`, prompts every object's box in EPSG:4326, runs the stub
    (masks = the prompts) and checks that each polygon lands on its object on the map."""
    rng = np.random.default_rng(0)
    canvas = rng.integers(40, 90, (*size, 3)).astype(np.uint8)
    h, w = pixels.shape[:2]
    canvas[offset[1] : offset[1] + h, offset[0] : offset[0] + w] = pixels if pixels.ndim == 3 else pixels[..., None]
    scene = write_geotiff(tmp_path / "scene.tif", canvas)
    boxes = [[b[0] + offset[0], b[1] + offset[1], b[2] + offset[0], b[3] + offset[1]]
             for b in (np.round(o.bbox).astype(int).tolist() for o in objects)]
    features = [lonlat_feature(box(*b), prompt_type="box", name=f"object {i}") for i, b in enumerate(boxes)]
    predictor = ScenePredictor(stub, batch_size=2, tolerance=0, progress=False, model_id="stub-model",
                               max_read=max_read)
    result = predictor.predict(scene, {"type": "FeatureCollection", "features": features}, task="segment",
                               mask_out=tmp_path / "mask.tif")
    assert result.summary["prompts"] == len(boxes) and result.summary["masks"] == len(boxes)
    for i, (feature, b) in enumerate(zip(result.features, boxes)):
        properties = feature["properties"]
        assert list(properties) == list(PROPERTIES) and properties["region"] == i + 1
        assert (properties["prompt_type"], properties["task"], properties["answer"]) == ("box", "segment", "[PIX]")
        assert properties["mask_score"] == 0.9 and properties["source"] == "scene.tif"
        assert properties["model"] == "stub-model" and properties["tile"] is None
        polygon, truth = shape(feature["geometry"]), _lonlat_box(*b)
        assert polygon.intersection(truth).area / polygon.union(truth).area > 0.999  # lands on the object
        corners = np.array(truth.exterior.coords)
        assert all(np.abs(np.array(polygon.exterior.coords) - c).sum(axis=1).min() < 1e-6 for c in corners)
    with rasterio.open(tmp_path / "mask.tif") as mask:
        assert mask.crs.to_string() == UTM and mask.transform == TRANSFORM and mask.count == 1
        values = mask.read(1)
    expected = np.zeros(size, np.uint8)
    for i, (x1, y1, x2, y2) in reversed(list(enumerate(boxes))):  # the first region keeps overlapping pixels
        expected[y1:y2, x1:x2] = i + 1
    assert np.array_equal(values, expected)
    return result


def test_round_trip_on_a_procedural_scene(tmp_path, stub):
    pixels, objects = generate_scene(np.random.default_rng(3), "optical", 128)
    result = _round_trip(tmp_path, stub, pixels, objects)
    assert all(item["image"].dtype == np.uint8 and item["image"].shape[:2] == (56, 56) for item in stub.items)
    assert json.loads(json.dumps(result.collection))["type"] == "FeatureCollection"


def test_round_trip_on_an_rs_mini_image(tmp_path, stub, rs_mini, rs_mini_records):
    from PIL import Image

    from earthgptx_hf.data.annotations import ObjectAnnotation

    record = next(r for r in rs_mini_records.values() if r["modality"] == "optical" and r["objects"]
                  and r["width"] <= 600 and r["height"] <= 600)
    pixels = np.asarray(Image.open(rs_mini / record["file"]).convert("RGB"))
    objects = [ObjectAnnotation(category=o["category"], bbox=o["bbox"]) for o in record["objects"][:4]]
    _round_trip(tmp_path, stub, pixels, objects, offset=(20, 10), size=(pixels.shape[0] + 40, pixels.shape[1] + 60),
                max_read=2048)  # large objects' windows at full resolution: the masks are exact


def test_the_tiny_model_segments_and_the_masks_are_vectorised(tmp_path, tiny_pipe):
    pixels, objects = generate_scene(np.random.default_rng(4), "optical", 128)
    scene = write_geotiff(tmp_path / "scene.tif", pixels)
    centres = [Point((o.bbox[0] + o.bbox[2]) / 2, (o.bbox[1] + o.bbox[3]) / 2) for o in objects]
    predictor = ScenePredictor(tiny_pipe, batch_size=2, progress=False, max_new_tokens=2,
                               sequence_bias={(tiny_pipe.model.config.pix_token_id,): 100.0})
    result = predictor.predict(scene, [lonlat_feature(c) for c in centres], task="segment",
                               mask_out=tmp_path / "mask.tif")
    # the untrained model writes "[PIX][PIX]", not "<Region i>: [PIX]": in a window of several prompts its masks
    # belong to no region, and are counted
    summary = result.summary
    assert len(result.features) == len(centres) and summary["masks"] >= 1
    assert summary["masks"] + summary["unbound_masks"] >= len(centres)
    (single,) = predictor.predict(scene, [lonlat_feature(centres[0])], task="segment").features
    assert single["geometry"]["type"] in ("Polygon", "MultiPolygon") and single["properties"]["mask_score"] is not None
    for feature in result.features:
        score = feature["properties"]["mask_score"]
        assert score is None or 0 <= score <= 1
        assert feature["geometry"]["type"] in (("Point",) if score is None else ("Polygon", "MultiPolygon"))
    gpkg = result.write(tmp_path / "result.gpkg")
    import pyogrio

    assert pyogrio.read_info(gpkg)["features"] == len(centres)


def test_all_no_data_tiles_are_skipped_and_counted(tmp_path, stub):
    values = np.zeros((200, 300), np.uint16)
    values[20:80, 30:90] = np.random.default_rng(0).integers(1, 5000, (60, 60))
    scene = write_geotiff(tmp_path / "sparse.tif", values, nodata=0)
    result = ScenePredictor(stub, progress=False).predict(scene, task="caption")
    summary = result.summary
    assert summary["windows"] == 4 * 6 and summary["windows_run"] == len(stub.items) == len(result.features)
    assert summary["skipped_nodata"] == summary["windows"] - summary["windows_run"] > 0
    assert all(f["properties"]["answer"] == "a tile" and f["properties"]["tile"] for f in result.features)
    # a prompt on no-data is counted with its name, not dropped silently
    lost = lonlat_feature(Point(250, 150), name="lost")
    result = ScenePredictor(stub, progress=False).predict(scene, [lonlat_feature(Point(50, 50)), lost])
    assert result.summary["prompts_on_nodata"] == ["prompts[1] (name 'lost')"] and len(result.features) == 1


def test_a_prompt_on_a_tile_border_is_answered_once(tmp_path, stub):
    scene = write_geotiff(tmp_path / "big.tif", np.full((170, 170, 3), 120, np.uint8))  # > 56 both ways
    predictor = ScenePredictor(stub, progress=False)
    tiles = predictor.predict(scene, task="caption")
    assert tiles.summary["windows"] == 16  # 4 x 4 tiles of 56, overlapping
    stub.items.clear()
    straddling = lonlat_feature(box(40, 40, 60, 60), prompt_type="box")  # across the first tiles' borders
    result = predictor.predict(scene, [straddling], task="segment")
    assert len(stub.items) == 1 and len(result.features) == 1  # one window holds the whole prompt
    col, row, width, height = map(int, result.features[0]["properties"]["window"].split(","))
    assert col <= 40 and row <= 40 and col + width >= 60 and row + height >= 60
    polygon, truth = shape(result.features[0]["geometry"]), _lonlat_box(40, 40, 60, 60)
    assert polygon.intersection(truth).area / polygon.union(truth).area > 0.999


@pytest.mark.parametrize("kind", ["uint16", "float32"])
def test_16_bit_and_float_scenes_get_one_stretch(tmp_path, stub, kind):
    ramp = np.tile(np.linspace(0, 3000, 120), (120, 1)).astype(kind)
    values = np.stack([ramp, ramp[::-1], ramp.T], -1) if kind == "float32" else ramp
    scene = write_geotiff(tmp_path / f"{kind}.tif", values)
    ScenePredictor(stub, progress=False).predict(scene, task="caption", bands=(3, 2, 1) if kind == "float32" else None)
    first, last = stub.items[0]["image"], stub.items[-1]["image"]
    assert first.dtype == np.uint8 and first.shape == (56, 56, 3)
    assert first[:, 0].mean() != last[:, -1].mean()  # the scene's stretch: the ramp's ends differ across tiles


def test_peak_memory_does_not_grow_with_the_scene(tmp_path, stub):
    """A 3,000^2 16-bit scene (a float32 copy would be 36 MB) runs with a few MB of Python-visible peak."""
    side = 3_000
    path = tmp_path / "large.tif"
    profile = {"driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "uint16", "crs": UTM,
               "transform": TRANSFORM, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dataset:  # written window by window too
        block = (np.add.outer(np.arange(256), np.arange(256)) * 7 + 100).astype(np.uint16)
        for row in range(0, side, 1024):
            rows = min(1024, side - row)
            dataset.write(np.tile(block, (4, 16))[None, :rows, :side], window=rasterio.windows.Window(0, row, side, rows))
    prompts = [lonlat_feature(box(x, x, x + 30, x + 30), prompt_type="box") for x in (100, 1400, 2900)]
    predictor = ScenePredictor(stub, progress=False)
    tracemalloc.start()
    result = predictor.predict(path, prompts, task="segment", mask_out=tmp_path / "mask.tif")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.summary["masks"] == 3
    print(f"peak {peak / 2**20:.1f} MB")
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MB"  # the overview (1 Mpixel) and one window, not the scene


def test_the_pipeline_output_carries_geometries_for_a_georeferenced_input(tmp_path, tiny_pipe):
    pixels, _ = generate_scene(np.random.default_rng(5), "optical", 64)
    scene = write_geotiff(tmp_path / "scene.tif", pixels)
    bias = {(tiny_pipe.model.config.pix_token_id,): 100.0}
    out = tiny_pipe(str(scene), boxes=[[4, 4, 30, 30], [30, 30, 60, 50]], task="segment", max_new_tokens=3,
                    sequence_bias=bias)[0]
    geometries = out["geometries"]
    assert geometries["type"] == "FeatureCollection" and len(geometries["features"]) == 2
    for feature, (x1, y1, x2, y2) in zip(geometries["features"], [[4, 4, 30, 30], [30, 30, 60, 50]]):
        prompt = shape(feature["geometry"]) if feature["properties"]["mask_score"] is None else None
        assert feature["properties"]["prompt_type"] == "box" and feature["properties"]["task"] == "segment"
        truth = _lonlat_box(x1, y1, x2, y2)
        for geometry in (shapely.from_wkt(feature["properties"]["prompt_geometry"]), prompt):
            if geometry is not None:  # the prompt on the map (and the feature's geometry when it has no mask)
                assert geometry.intersection(truth).area / geometry.union(truth).area > 0.999
                assert geometry.hausdorff_distance(truth) < 1e-6
    from PIL import Image

    Image.fromarray(pixels).save(tmp_path / "plain.png")
    assert "geometries" not in tiny_pipe(str(tmp_path / "plain.png"), boxes=[[4, 4, 30, 30]], max_new_tokens=2)[0]
    default = tiny_pipe(str(scene), boxes=[[4, 4, 30, 30]], max_new_tokens=2)[0]["geometries"]["features"]
    free = tiny_pipe(str(scene), boxes=[[4, 4, 30, 30]], text="What is <Region 1>?", max_new_tokens=2)[0]
    assert default[0]["properties"]["task"] == "classify" and free["geometries"]["features"][0]["properties"][
        "task"] is None  # a free instruction names no task


def test_bad_input_is_refused_clearly(tmp_path, stub):
    scene = write_geotiff(tmp_path / "scene.tif", np.full((80, 90, 3), 100, np.uint8))
    from PIL import Image

    Image.fromarray(np.full((80, 90, 3), 100, np.uint8)).save(tmp_path / "plain.tif")  # a TIFF without a CRS
    plain = tmp_path / "plain.tif"
    predictor = ScenePredictor(stub, progress=False)
    inside = lonlat_feature(Point(10, 10), name="well")
    with pytest.raises(ValueError, match=r"prompts\[0\] \(name 'well'\) is a map geometry .* 'plain.tif' has no CRS"):
        predictor.predict(plain, [inside])
    with pytest.raises(ValueError, match=r"prompts\[1\] \(name 'far away'\) lies outside the scene 'scene.tif'"):
        predictor.predict(scene, [inside, lonlat_feature(Point(500, 10), name="far away")])
    with pytest.raises(ValueError, match=r"bands=\(4, 3, 2\): band 4 is out of range; the raster has 3 band"):
        predictor.predict(scene, [inside], bands=(4, 3, 2))
    with pytest.raises(ValueError, match="out_crs='EPSG:999999' is not a CRS pyproj knows"):
        ScenePredictor(stub, out_crs="EPSG:999999")
    with pytest.raises(ValueError, match="task='relation' is not one of"):
        predictor.predict(scene, [inside], task="relation")
    assert stub.items == []  # nothing reached the model


def test_the_pipelines_find_on_a_georeferenced_input_gives_one_feature_per_instance(tmp_path, tiny_pipe):
    pixels, _ = generate_scene(np.random.default_rng(5), "optical", 64)
    scene = write_geotiff(tmp_path / "scene.tif", pixels)
    bias = {(tiny_pipe.model.config.pix_token_id,): 100.0}
    out = tiny_pipe(str(scene), task="find", query="ship", max_new_tokens=3, sequence_bias=bias)[0]
    features = out["geometries"]["features"]
    drawn = [i for i in out["instances"] if i["box"] is not None]  # empty masks have no geometry
    assert len(features) == len(drawn)
    for feature, instance in zip(features, drawn):
        properties = feature["properties"]
        assert properties["task"] == "find" and properties["query"] == "ship"
        assert properties["score"] == pytest.approx(instance["score"]) and properties["merged_from"] == 1
        x1, y1, x2, y2 = instance["box"]  # the mask's box in pixels, on the map: the feature's bounds (to 0.1 m)
        assert shape(feature["geometry"]).bounds == pytest.approx(_lonlat_box(x1, y1, x2, y2).bounds, abs=1e-6)
