"""Objects found by name over a scene (issue 34, `task="find"`): a 20,000 x 20,000 GeoTIFF with planted objects, some
well inside a window, some cut by window borders (one where 4 windows meet, one across 4 windows in a row), run
through the predictor's real window grid with a stub pipeline that finds the bright regions of each window; one
feature per object on its footprint. The merge rule on hand-built geometries; the command's errors."""

from __future__ import annotations

import itertools
import json
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely.geometry import box, shape

from earthgptx_hf.data.converters.regions import connected_regions
from earthgptx_hf.geo import ScenePredictor
from earthgptx_hf.geo.cli import main
from earthgptx_hf.geo.features import INSTANCE_PROPERTIES
from earthgptx_hf.geo.instances import Instance, merge_instances, same_object
from earthgptx_hf.geo.vectorise import mask_to_geometry
from earthgptx_hf.geo.windows import grid_windows
from earthgptx_hf.models.earthgptx.multi_source import DEFAULT_PERCENTILES
from earthgptx_hf.models.earthgptx.visual_prompting import TASK_SHORTCUTS

from .conftest import TO_LONLAT, TRANSFORM, UTM, lonlat_feature, write_geotiff

SIDE = 20_000
CANVAS, OVERLAP = 1024, 128  # the stub's canvas, and the predictor's default overlap (an eighth): tiles every 896 px
# planted objects: (shape, x0, y0, width, height, label); where they lie in the 23 x 23 grid of tiles
OBJECTS = [
    ("box", 300, 300, 60, 40, "ship"),  # inside tile (0, 0) only
    ("ellipse", 6572, 2988, 120, 50, "ship"),  # inside tile (3, 7) only
    ("box", 5450, 9100, 80, 50, "ship"),  # across cols 5 | 6: col 6 sees all of it
    ("ellipse", 5300, 9300, 300, 120, "ship"),  # across cols 5 | 6: each sees a part
    ("ellipse", 12000, 14200, 80, 300, "ship"),  # across rows 15 | 16: each sees a part
    ("ellipse", 9720, 14230, 400, 340, "ship"),  # where rows 15, 16 and cols 10, 11 meet: 4 windows, each a part
    ("box", 19800, 500, 100, 60, "ship"),  # across cols 21 | 22, the last (wider overlap) tile
    ("box", 12000, 15300, 100, 100, "ship"),  # two distinct neighbours 3 px apart, across rows 16 | 17
    ("box", 12103, 15300, 97, 100, "ship"),
    ("box", 1850, 16500, 1800, 30, "ship"),  # across cols 1 to 4: windows 1 and 3 share nothing (linked through 2)
    ("ellipse", 3500, 3000, 200, 100, "storage tank"),  # across cols 3 | 4, not a ship: never found
]
SHIPS = [i for i, o in enumerate(OBJECTS) if o[-1] == "ship"]


def object_mask(kind: str, width: int, height: int) -> np.ndarray:
    if kind == "box":
        return np.ones((height, width), bool)
    y, x = np.mgrid[:height, :width]
    return ((x + 0.5 - width / 2) / (width / 2)) ** 2 + ((y + 0.5 - height / 2) / (height / 2)) ** 2 <= 1


MASKS = [object_mask(kind, w, h) for kind, _, _, w, h, _ in OBJECTS]
VALUES = {100 + i: (o[-1], int(m.sum())) for i, (o, m) in enumerate(zip(OBJECTS, MASKS))}  # brightness -> object


def write_large_scene(path):
    """The 20,000^2 scene: tiled, DEFLATE, sparse (only the blocks the objects touch are written: ~50 kB)."""
    profile = {"driver": "GTiff", "width": SIDE, "height": SIDE, "count": 1, "dtype": "uint8", "crs": UTM,
               "transform": TRANSFORM, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
               "sparse_ok": True}
    with rasterio.open(path, "w+", **profile) as dataset:
        for i, ((_, x, y, w, h, _), mask) in enumerate(zip(OBJECTS, MASKS)):
            window = Window(x, y, w, h)
            current = dataset.read(1, window=window)
            current[mask] = 100 + i
            dataset.write(current, 1, window=window)
    return path


class FindStub:
    """The visual-prompting pipeline's `find` interface: every 8-connected bright region of a window whose class (its
    brightness) the query names is an instance, scored by how much of its object the window saw (0.5 + 0.45 x the
    seen fraction). All-zero windows answer "none" at once."""

    def __init__(self, canvas: int = CANVAS):
        images = SimpleNamespace(grid_pinpoints=None, tile_grid=(1, 1), tile_size=canvas, sam_image_size=64,
                                 max_regions=8, percentiles=DEFAULT_PERCENTILES)
        self.processor, self.model = SimpleNamespace(image_processor=images), None
        self.windows, self.queries = 0, set()

    def __call__(self, items, batch_size=1, **generate_kwargs):
        for item in items:
            assert item["task"] == "find" and item["prompts"] == []
            self.windows += 1
            self.queries.add(item["query"])
            yield [self.answer(item["image"][..., 0], item["query"])]

    @staticmethod
    def answer(image: np.ndarray, query: str) -> dict:
        instances = []
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        if rows.size:
            top, left = int(rows[0]), int(cols[0])
            crop = image[top : rows[-1] + 1, left : cols[-1] + 1]
            labels, count = connected_regions(crop > 0)
            for k in range(1, count + 1):
                region = labels == k
                label, area = VALUES[int(crop[region][0])]
                if label != query:
                    continue
                mask = np.zeros(image.shape, bool)
                mask[top : top + crop.shape[0], left : left + crop.shape[1]] = region
                ys, xs = np.nonzero(region)
                instances.append({"label": label, "mask": mask, "score": 0.5 + 0.45 * region.sum() / area,
                                  "box": [float(left + xs.min()), float(top + ys.min()), float(left + xs.max() + 1),
                                          float(top + ys.max() + 1)]})
        text = "\n".join(f"{i['label']} [PIX]" for i in instances) or "none"
        return {"generated_text": text, "masks": [i["mask"] for i in instances],
                "scores": [i["score"] for i in instances], "regions": [], "instances": instances, "dropped_masks": 0}


def planted_lonlat(i: int):
    """Object `i`'s exact pixel footprint on the map, EPSG:4326."""
    _, x, y, _, _, _ = OBJECTS[i]
    geometry = mask_to_geometry(MASKS[i], TRANSFORM @ Affine.translation(x, y), tolerance=0)
    return shapely.transform(geometry, lambda xy: np.column_stack(TO_LONLAT.transform(xy[:, 0], xy[:, 1])))


def expected_views(grid) -> dict[int, list[tuple[float, str]]]:
    """Per ship: (score, window) of every window that sees part of it, as the stub scores them."""
    views = {i: [] for i in SHIPS}
    for window in grid:
        for i in SHIPS:
            _, x, y, w, h, _ = OBJECTS[i]
            c0, r0 = max(x, window.col_off) - x, max(y, window.row_off) - y
            c1, r1 = min(x + w, window.col_off + window.width) - x, min(y + h, window.row_off + window.height) - y
            if c1 > c0 and r1 > r0:
                seen = MASKS[i][r0:r1, c0:c1].sum()
                views[i].append((0.5 + 0.45 * seen / MASKS[i].sum(), window.label))
    return views


@pytest.fixture(scope="module")
def large_scene(tmp_path_factory):
    return write_large_scene(tmp_path_factory.mktemp("find") / "scene.tif")


def test_find_over_a_20000_pixel_scene_gives_one_feature_per_object(large_scene, tmp_path):
    stub = FindStub()
    predictor = ScenePredictor(stub, batch_size=8, progress=False, model_id="stub-find")
    start = time.perf_counter()
    tracemalloc.start()
    result = predictor.predict(large_scene, task="find", query="ship", mask_out=tmp_path / "ships.tif")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds = time.perf_counter() - start
    print(f"find over {SIDE:,}^2: {result.summary['windows']} windows in {seconds:.1f} s, peak {peak / 2**20:.1f} MB")
    # flat memory: the windows read ahead and the instances' geometries, not the 400-Mpixel scene (nor its mask)
    assert peak < 120 * 2**20, f"peak {peak / 2**20:.1f} MB"  # 73 MB measured (2026-12-07); the scene is 400 MB
    grid = grid_windows(SIDE, SIDE, CANVAS, OVERLAP)
    views = expected_views(grid)
    summary = result.summary
    assert summary["windows"] == summary["windows_run"] == stub.windows == len(grid) == 23 * 23
    assert stub.queries == {"ship"} and summary["query"] == "ship" and summary["task"] == "find"
    assert summary["instances_found"] == sum(len(v) for v in views.values())
    assert summary["instances_merged"] == summary["instances_found"] - len(SHIPS) > 0
    assert len(views[5]) == 4 and len(views[9]) == 4 and len(views[0]) == 1  # the corner, the long one, inside one
    assert summary["features"] == len(result.features) == len(SHIPS)  # one feature per object
    matched = {}
    for feature in result.features:
        geometry, properties = shape(feature["geometry"]), feature["properties"]
        assert list(properties) == list(INSTANCE_PROPERTIES)
        ious = {i: geometry.intersection(planted_lonlat(i)).area / geometry.union(planted_lonlat(i)).area
                for i in SHIPS}
        best = max(ious, key=ious.get)
        assert ious[best] > 0.9, (best, ious[best])  # the merged geometry is the whole object, on the map
        assert best not in matched
        matched[best] = feature
        score, window = max(views[best], key=lambda v: v[0])
        assert (properties["task"], properties["query"], properties["label"]) == ("find", "ship", "ship")
        assert properties["score"] == pytest.approx(score) and properties["window"] == window
        assert properties["merged_from"] == len(views[best])
        assert properties["source"] == "scene.tif" and properties["model"] == "stub-find"
        assert properties["box"] == pytest.approx(list(geometry.bounds))
    assert sorted(matched) == SHIPS
    assert matched[2]["properties"]["score"] == pytest.approx(0.95)  # col 6 saw all of it
    assert seconds < 30, f"{seconds:.1f} s"
    # the stitched mask: the i-th feature's object burnt with value i
    with rasterio.open(tmp_path / "ships.tif") as mask:
        assert mask.crs.to_string() == UTM and mask.transform == TRANSFORM and mask.shape == (SIDE, SIDE)
        for value, feature in enumerate(result.features, start=1):
            i = next(k for k, f in matched.items() if f is feature)
            _, x, y, w, h, _ = OBJECTS[i]
            burnt = mask.read(1, window=Window(x, y, w, h)) == value
            assert (burnt & MASKS[i]).sum() / (burnt | MASKS[i]).sum() > 0.9
        tank = OBJECTS[-1]
        assert not mask.read(1, window=Window(*tank[1:5])).any()  # not a ship: not found
    # written as GeoJSON and as a GeoPackage layer
    collection = json.loads(json.dumps(result.collection))
    assert collection["earthgptx"]["instances_found"] == summary["instances_found"]
    import pyogrio

    gpkg = result.write(tmp_path / "ships.gpkg")
    meta, _, geometries, columns = pyogrio.raw.read(gpkg)
    assert list(meta["fields"]) == list(INSTANCE_PROPERTIES) and len(geometries) == len(SHIPS)
    values = dict(zip(meta["fields"], columns))
    assert values["score"].dtype == np.float64 and values["merged_from"].dtype == np.int64
    assert json.loads(values["box"][0]) == pytest.approx(result.features[0]["properties"]["box"])


# ---------------------------------------------------------------------------------------------------------------------
# the merge rule on hand-built geometries: windows A = [0, 100] and B = [80, 180] share x in [80, 100]
A, B = box(0, 0, 100, 100), box(80, 0, 180, 100)
A_LABEL, B_LABEL = "0,0,100,100", "80,0,100,100"


def seen(geometry, footprint, label, score, window, index=0):
    return Instance(geometry.intersection(footprint), footprint, label, score, window, index)


def test_two_halves_of_one_object_are_one():
    ship = box(60, 40, 120, 60)
    left, right = seen(ship, A, "ship", 0.7, A_LABEL), seen(ship, B, "ship", 0.8, B_LABEL)
    plain = left.geometry.intersection(right.geometry).area / left.geometry.union(right.geometry).area
    assert plain < 0.5 and same_object(left, right)  # plain IoU would keep both; within [80, 100] they are equal
    (merged,) = merge_instances([left, right])
    assert merged.geometry.equals(ship) and merged.merged_from == 2
    assert (merged.score, merged.window, merged.label) == (0.8, B_LABEL, "ship")


def test_two_distinct_neighbours_stay_two():
    x, y = box(60, 40, 90, 60), box(91, 40, 130, 60)  # 1 unit apart, across the shared strip
    found = [seen(x, A, "ship", 0.9, A_LABEL, 0), seen(y, A, "ship", 0.6, A_LABEL, 1),
             seen(x, B, "ship", 0.6, B_LABEL, 0), seen(y, B, "ship", 0.9, B_LABEL, 1)]
    merged = merge_instances(found)
    assert len(merged) == 2 and merged[0].geometry.equals(x) and merged[1].geometry.equals(y)
    assert [m.window for m in merged] == [A_LABEL, B_LABEL] and [m.merged_from for m in merged] == [2, 2]


def test_a_partial_and_a_full_view_are_one_with_the_full_extent():
    wide_b = box(60, 0, 160, 100)
    ship = box(70, 40, 110, 60)  # wholly inside window B, cut by window A's edge at x = 100
    partial, full = seen(ship, A, "ship", 0.6, A_LABEL), seen(ship, wide_b, "boat", 0.9, "60,0,100,100")
    (merged,) = merge_instances([partial, full])
    assert merged.geometry.equals(ship) and merged.geometry.bounds == full.geometry.bounds
    assert (merged.label, merged.score, merged.merged_from) == ("boat", 0.9, 2)


def test_intersection_over_the_smaller_merges_a_view_inside_another():
    small, large = box(85, 40, 90, 45), box(80, 30, 100, 70)  # IoU 1/32 within the strip; IoS 1
    a, b = Instance(small, A, "ship", 0.5, A_LABEL), Instance(large, B, "ship", 0.7, B_LABEL)
    assert small.area / large.area < 0.5 and same_object(a, b)
    (merged,) = merge_instances([a, b])
    assert merged.geometry.equals(large) and merged.score == 0.7
    apart = Instance(box(70, 40, 90, 45), A, "ship", 0.5, A_LABEL)  # half of it in the strip: IoS 0.5 there
    assert same_object(apart, b) and not same_object(apart, Instance(box(80, 30, 84, 70), B, "ship", 0.7, B_LABEL))


def test_instances_of_one_window_are_never_merged_and_order_does_not_matter():
    one, two = box(10, 10, 40, 40), box(20, 20, 50, 50)  # overlapping, but the model told them apart
    same_window = [Instance(one, A, "ship", 0.9, A_LABEL, 2), Instance(two, A, "ship", 0.8, A_LABEL, 3)]
    assert len(merge_instances(same_window)) == 2
    ship, other = box(60, 40, 120, 60), box(85, 80, 95, 90)
    found = [seen(ship, A, "ship", 0.7, A_LABEL, 0), seen(ship, B, "ship", 0.7, B_LABEL, 0),
             seen(other, A, "buoy", 0.5, A_LABEL, 1), seen(other, B, "buoy", 0.5, B_LABEL, 1), *same_window]
    reference = [(m.geometry.wkb, m.label, m.score, m.window, m.merged_from) for m in merge_instances(found)]
    for order in itertools.islice(itertools.permutations(found), 0, None, 97):
        assert [(m.geometry.wkb, m.label, m.score, m.window, m.merged_from)
                for m in merge_instances(list(order))] == reference
    assert reference[0][3] == A_LABEL and reference[0][2] == 0.7  # a tie: the first window in row-major order
    with pytest.raises(ValueError, match=r"iou_threshold=0 must be in \(0, 1\]"):
        merge_instances(found, iou_threshold=0)


# ---------------------------------------------------------------------------------------------------------------------
def test_find_needs_a_query_and_no_prompts(tmp_path, capsys):
    scene = write_geotiff(tmp_path / "scene.tif", np.zeros((60, 60), np.uint8))
    predictor = ScenePredictor(FindStub(56), progress=False)
    with pytest.raises(ValueError, match=r"query for task='find' \(--query\) must be a non-empty string.*got None"):
        predictor.predict(scene, task="find")
    with pytest.raises(ValueError, match=r"query for task='find' \(--query\) must be a non-empty string.*got '  '"):
        predictor.predict(scene, task="find", query="  ")
    with pytest.raises(ValueError, match="prompts were given with task='find', which takes none"):
        predictor.predict(scene, [lonlat_feature(box(5, 5, 20, 20))], task="find", query="ship")
    with pytest.raises(ValueError, match=r"query='ship' is only for task='find' \(--task find\); got task='caption'"):
        predictor.predict(scene, query="ship")
    empty = predictor.predict(scene, task="find", query="ship")  # nothing bright: no feature, valid output
    assert empty.features == [] and empty.summary["instances_found"] == 0
    # the command: refused before the model loads (there is no model "m")
    out = str(tmp_path / "r.geojson")
    assert main([str(scene), "--model", "m", "--task", "find", "--out", out]) == 2
    assert "query for task='find' (--query) must be a non-empty string" in capsys.readouterr().err
    assert main([str(scene), "--model", "m", "--query", "ship", "--out", out]) == 2
    assert "query='ship' is only for task='find' (--task find)" in capsys.readouterr().err
    prompts = tmp_path / "prompts.geojson"
    prompts.write_text(json.dumps(lonlat_feature(box(5, 5, 20, 20))))
    assert main([str(scene), "--model", "m", "--task", "find", "--query", "ship", "--prompts", str(prompts),
                 "--out", out]) == 2
    assert "prompts were given with task='find'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
needs_find = pytest.mark.skipif("find" not in TASK_SHORTCUTS, reason="the pipeline has no task='find' yet")


@needs_find
def test_the_tiny_model_finds_through_the_real_pipeline(tmp_path, tiny_pipe, checkpoint, capsys):
    """An untrained model, end to end: only that it runs and writes valid GeoJSON (its masks are noise)."""
    from earthgptx_hf.data.procedural import generate_scene

    pixels, _ = generate_scene(np.random.default_rng(4), "optical", 128)
    scene = write_geotiff(tmp_path / "scene.tif", pixels)
    predictor = ScenePredictor(tiny_pipe, batch_size=2, progress=False, max_new_tokens=3,
                               sequence_bias={(tiny_pipe.model.config.pix_token_id,): 100.0})  # masks: [PIX] first
    result = predictor.predict(scene, task="find", query="ship", mask_out=tmp_path / "mask.tif")
    summary = result.summary
    assert summary["windows_run"] == summary["windows"] > 1 and summary["instances_found"] >= 1
    assert len(result.features) == summary["instances_found"] - summary["instances_merged"] >= 1
    for feature in result.features:
        assert shape(feature["geometry"]).is_valid and feature["properties"]["merged_from"] >= 1
        assert 0 <= feature["properties"]["score"] <= 1
    out = tmp_path / "ships.geojson"
    assert main([str(scene), "--model", str(checkpoint), "--task", "find", "--query", "ship", "--out", str(out),
                 "--max_new_tokens", "3", "--no_progress"]) == 0
    collection = json.loads(out.read_text())
    assert collection["type"] == "FeatureCollection" and collection["earthgptx"]["task"] == "find"
    assert all(shape(f["geometry"]).is_valid for f in collection["features"])
    assert "'ship': " in capsys.readouterr().out


def test_many_scenes_find_runs_each_scene_and_merges_into_one_layer(tmp_path):
    """`earthgptx-predict --scenes ... --task find --query ship` (the local engine): each scene's objects once, across
    its window borders, and every scene's in the merged GeoPackage with the find columns."""
    import pyogrio

    from earthgptx_hf.geo.many_scenes import ManySceneArguments, ManyScenes

    ship = MASKS[0]  # a 60 x 40 box, value 100: "ship" to the stub
    for name, (x, y) in {"a": (100, 20), "b": (10, 150)}.items():  # a: across the first column border (at 112)
        pixels = np.zeros((256, 256), np.uint8)
        pixels[y : y + 40, x : x + 60][ship] = 100
        write_geotiff(tmp_path / f"{name}.tif", pixels)
    args = ManySceneArguments(scenes=str(tmp_path / "*.tif"), model="unused", out_dir=str(tmp_path / "out"),
                              task="find", query="ship", progress=False)
    summary = ManyScenes(args).run(pipe=FindStub(canvas=128))
    assert summary["states"] == {"done": 2}
    for name in ("a", "b"):
        (feature,) = json.loads((tmp_path / "out" / "scenes" / f"{name}.geojson").read_text())["features"]
        assert feature["properties"]["label"] == "ship" and feature["properties"]["query"] == "ship"
    info = pyogrio.read_info(tmp_path / "out" / "all_scenes.gpkg")
    assert info["features"] == 2 and {"label", "score", "merged_from", "query", "scene"} <= set(info["fields"])
    for bad, message in (({"query": None}, "must be a non-empty string"), ({"engine": "ray"}, "engine='local'")):
        with pytest.raises(ValueError, match=message):
            ManyScenes(ManySceneArguments(**{**vars(args), "out_dir": str(tmp_path / "other"), **bad}))


def test_a_find_result_with_a_nan_score_or_a_mask_of_another_size_is_refused(tmp_path):
    """A window's instance with a NaN score (it would win every merge and write NaN into the GeoJSON) or a mask not
    at the window image's size (it would land in the window's corner) is an error naming the window and value."""
    scene = write_geotiff(tmp_path / "scene.tif", np.full((60, 60), 7, np.uint8))

    class Answering(FindStub):
        def __init__(self, instance):
            super().__init__(56)
            self.instance = instance

        def __call__(self, items, batch_size=1, **generate_kwargs):
            for item in items:
                mask = self.instance.get("mask", np.ones(item["image"].shape[:2], bool))
                yield [{"generated_text": "ship[PIX]", "masks": [mask], "scores": [self.instance["score"]],
                        "regions": [], "instances": [{"label": "ship", "box": None, **self.instance, "mask": mask}],
                        "dropped_masks": 0}]

    with pytest.raises(ValueError, match=r"window 0,0,\d+,\d+'s instances\[0\] has score=nan; a score is a finite"):
        ScenePredictor(Answering({"score": float("nan")}), progress=False).predict(scene, task="find", query="ship")
    with pytest.raises(ValueError, match=r"instances\[0\] has a mask of shape \(5, 5\); .* at the window image's size"):
        ScenePredictor(Answering({"score": 0.5, "mask": np.ones((5, 5), bool)}), progress=False).predict(
            scene, task="find", query="ship")
    with pytest.raises(ValueError, match=r"iou_threshold='0.5' must be in \(0, 1\]"):
        merge_instances([], iou_threshold="0.5")
