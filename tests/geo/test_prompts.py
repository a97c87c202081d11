"""Prompts in map coordinates (GeoJSON in EPSG:4326 or any CRS, vector files) to the raster's pixel grid, exactly;
bad prompts refused naming the feature."""

import json

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box, mapping

from earthgptx_hf.geo import Georeference, box_geometries
from earthgptx_hf.geo.features import MapProjection, feature, pixels_to_map
from earthgptx_hf.geo.output import write_geopackage
from earthgptx_hf.geo.prompts import load_prompts

from .conftest import TRANSFORM, UTM, lonlat_feature, pixel_to_lonlat

SCENE = Georeference(crs=UTM, transform=TRANSFORM, width=300, height=200, source="scene.tif")


def test_map_prompts_land_on_the_pixel_grid_exactly():
    points = [(0.5, 0.5), (123.25, 77.75), (299.5, 199.5)]
    features = [lonlat_feature(Point(p), name=f"p{i}") for i, p in enumerate(points)]
    features.append(lonlat_feature(Polygon([(10, 10), (40, 12), (30, 50)]), name="field"))
    features.append(lonlat_feature(LineString([(100, 100), (150, 120)]), name="road", width=5))
    loaded = load_prompts({"type": "FeatureCollection", "features": features}, SCENE)
    assert [p.kind for p in loaded.prompts] == ["point", "point", "point", "polygon", "scribble"]
    for prompt, expected in zip(loaded.prompts, points):
        assert (prompt.pixel.x, prompt.pixel.y) == pytest.approx(expected, abs=1e-6)  # pixels: exact to 1e-6
    assert np.allclose(loaded.prompts[3].pixel.exterior.coords[:3], [(10, 10), (40, 12), (30, 50)], atol=1e-6)
    assert loaded.prompts[4].width == 5 and loaded.prompts[3].name == "prompts[3] (name 'field')"
    assert loaded.clipped == []


def test_pixel_to_map_is_exact_to_a_micro_degree():
    projection = MapProjection(UTM)  # EPSG:4326, RFC 7946
    corner = projection(pixels_to_map(Point(17, 33), SCENE))
    independent = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(
        500_000 + 17 * 10.0, 4_600_000 - 33 * 10.0)
    assert (corner.x, corner.y) == pytest.approx(independent, abs=1e-6)
    assert (corner.x, corner.y) == pytest.approx(pixel_to_lonlat(17, 33), abs=1e-9)
    utm = MapProjection(UTM, "raster")(pixels_to_map(Point(17, 33), SCENE))
    assert (utm.x, utm.y) == (500_170.0, 4_599_670.0)


def test_boxes_any_crs_and_pixel_prompts():
    # a box in UTM (metres): the pixel box that bounds it
    utm_box = box_geometries([[500_100, 4_599_500, 500_300, 4_599_800]], crs=UTM)
    (prompt,) = load_prompts(utm_box, SCENE, crs=UTM).prompts
    assert prompt.kind == "box" and prompt.extent == pytest.approx((10, 20, 30, 50), abs=1e-9)
    # the same box in EPSG:4326 (densified edges): it still bounds the pixel box
    lon1, lat1 = pixel_to_lonlat(10, 50)
    lon2, lat2 = pixel_to_lonlat(30, 20)
    (prompt,) = load_prompts(box_geometries([[lon1, lat1, lon2, lat2]]), SCENE).prompts
    x1, y1, x2, y2 = prompt.extent
    assert x1 <= 10 + 1e-6 and y1 <= 20 + 1e-6 and x2 >= 30 - 1e-6 and y2 >= 50 - 1e-6 and x2 - x1 < 21
    # a legacy "crs" member is honoured; pixel prompt dicts need no CRS
    legacy = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": UTM}},
              "features": [{"type": "Feature", "geometry": mapping(Point(500_005, 4_599_995)), "properties": {}}]}
    assert load_prompts(json.dumps(legacy), SCENE).prompts[0].extent[:2] == pytest.approx((0.5, 0.5))
    pixel = load_prompts([{"type": "box", "bbox": [1, 2, 3, 4]}, {"type": "point", "point": [5, 6]}],
                         Georeference(None, TRANSFORM, 10, 10, "plain.png")).prompts
    assert [p.kind for p in pixel] == ["box", "point"]
    assert pixel[0].to_window(1, 2, 0.5, 0.5) == {"type": "box", "bbox": [0.0, 0.0, 4.0, 4.0]}


def test_vector_files_geojson_and_geopackage(tmp_path):
    features = [lonlat_feature(Point(20.5, 30.5), name="tank"), lonlat_feature(box(50, 60, 80, 90), name="roof")]
    collection = {"type": "FeatureCollection", "features": [
        feature(shape_of(f), answer=f["properties"]["name"]) for f in features]}
    gpkg = write_geopackage(collection, tmp_path / "prompts.gpkg")
    geojson = tmp_path / "prompts.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    for path in (gpkg, geojson, str(geojson)):
        prompts = load_prompts(path, SCENE).prompts
        assert prompts[0].extent[:2] == pytest.approx((20.5, 30.5), abs=1e-6)
        assert prompts[1].extent == pytest.approx((50, 60, 80, 90), abs=1e-6)


def shape_of(feature_dict):
    from shapely.geometry import shape

    return shape(feature_dict["geometry"])


def test_bad_prompts_are_refused_naming_the_feature():
    far = lonlat_feature(Point(1000, 50), name="offshore buoy")
    with pytest.raises(ValueError, match=r"prompts\[1\] \(name 'offshore buoy'\) lies outside the scene 'scene.tif': "
                                         r"its pixel bounds \[1000.0, 50.0"):
        load_prompts([lonlat_feature(Point(5, 5)), far], SCENE)
    plain = Georeference(None, TRANSFORM, 300, 200, "plain.tif")
    with pytest.raises(ValueError, match="is a map geometry \\(in EPSG:4326\\), but the scene 'plain.tif' has no CRS"):
        load_prompts([lonlat_feature(Point(5, 5))], plain)
    with pytest.raises(ValueError, match="is a MultiPoint; a prompt is one Point, Polygon or LineString"):
        load_prompts([{"type": "MultiPoint", "coordinates": [[15, 41], [15.1, 41.1]]}], SCENE)
    with pytest.raises(ValueError, match="prompt_type='box' for a Point"):
        load_prompts([lonlat_feature(Point(5, 5), prompt_type="box")], SCENE)
    with pytest.raises(ValueError, match="prompt_crs='EPSG:999999' is not a CRS pyproj knows"):
        load_prompts([lonlat_feature(Point(5, 5))], SCENE, crs="EPSG:999999")
    with pytest.raises(ValueError, match="is not a file"):
        load_prompts("missing.geojson", SCENE)


def test_prompts_partly_outside_are_clipped_and_counted():
    loaded = load_prompts([lonlat_feature(box(-20, 10, 30, 40), name="half out")], SCENE)
    assert loaded.clipped == ["prompts[0] (name 'half out')"]
    assert loaded.prompts[0].extent == pytest.approx((0, 10, 30, 40), abs=1e-6)
