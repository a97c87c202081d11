"""Hostile prompts of a scene (issue 31): malformed GeoJSON, invalid geometries, oversized and badly typed features,
multi-layer and disguised vector files, through `load_prompts` (what `ScenePredictor` and earthgptx-predict call).
Every error names the feature (`prompts[i]`), never the window it would have fallen in."""

from __future__ import annotations

import json

import numpy as np
import pytest
from shapely.geometry import LineString, Polygon, box

from earthgptx_hf.geo import Georeference
from earthgptx_hf.geo.output import write_geopackage
from earthgptx_hf.geo.prompts import load_prompts
from tests.geo.conftest import TRANSFORM, UTM, lonlat_feature

from .geo_inputs import geotiff, stub_predictor
from .harness import Hostile, parametrize, run_case

SCENE = Georeference(UTM, TRANSFORM, 200, 100, "scene.tif")
PIXEL_SCENE = Georeference(None, TRANSFORM, 200, 100, "plain.tif")


def load(prompts, **kwargs):
    return load_prompts(prompts, SCENE, **kwargs)


def collection(*features, **members):
    return {"type": "FeatureCollection", "features": list(features), **members}


def feature(geometry, **properties):
    return lonlat_feature(geometry, **properties)


def two_layer_gpkg(tmp):
    path = tmp / "prompts.gpkg"
    for layer, b in (("ships", box(10, 10, 30, 30)), ("tanks", box(50, 50, 70, 70))):
        document = collection(feature(b, name=layer))
        document["crs"] = {"type": "name", "properties": {"name": "EPSG:4326"}}
        _append_layer(document, path, layer)
    return str(path)


def _append_layer(document, path, layer):
    import pyogrio
    import shapely

    geometry = np.array([shapely.to_wkb(shapely.geometry.shape(f["geometry"])) for f in document["features"]],
                        dtype=object)
    names = np.array([f["properties"]["name"] for f in document["features"]], dtype=object)
    pyogrio.raw.write(str(path), geometry, [names], ["name"], layer=layer, driver="GPKG", geometry_type="Polygon",
                      crs="EPSG:4326", append=path.exists())


def ogr_vrt(tmp):
    """An OGR VRT (a vector description naming another file) named .gpkg."""
    (tmp / "outside.csv").write_text("x,y\n1,2\n")
    path = tmp / "prompts.gpkg"
    path.write_text(f'<OGRVRTDataSource><OGRVRTLayer name="p"><SrcDataSource>{tmp / "outside.csv"}</SrcDataSource>'
                    '<GeometryField encoding="PointFromColumns" x="x" y="y"/></OGRVRTLayer></OGRVRTDataSource>')
    return str(path)


def bow_tie():  # crosses itself and the scene's right edge: clipping needs its valid form
    return {"type": "polygon", "points": [[150, 10], [260, 90], [260, 10], [150, 90]]}


def clipped_polygon(out):
    assert len(out.prompts) == 1 and out.clipped == ["prompts[0]"]
    assert out.prompts[0].kind == "polygon" and out.prompts[0].pixel.is_valid
    assert out.prompts[0].pixel.bounds[2] <= 200


def one_from_layer(name):
    def check(out):
        assert len(out.prompts) == 1 and out.prompts[0].properties["name"] == name
    return check


def counts(n):
    def check(out):
        assert len(out.prompts) == n
    return check


MANY = [[float(x), float(y)] for x, y in zip(np.linspace(10, 190, 10_001), np.tile([10.0, 90.0], 5001)[:10_001])]

CASES = [
    # malformed GeoJSON: a clear ValueError naming the member or feature, not an AttributeError
    Hostile("legacy crs that is a string", lambda t: load(collection(feature(box(1, 1, 5, 5)), crs="EPSG:32633")),
            raises=ValueError, match=r"prompts\['crs'\] is 'EPSG:32633'; a legacy GeoJSON crs is"),
    Hostile("features that is a dict", lambda t: load({"type": "FeatureCollection", "features": {"a": 1}}),
            raises=ValueError, match=r"prompts\['features'\] is a dict; a FeatureCollection's features are a list"),
    Hostile("a feature that is a string", lambda t: load(collection("not a feature")), raises=ValueError,
            match=r"prompts\[0\] is a str \('not a feature'\); a prompt is a GeoJSON Feature"),
    Hostile("properties that are a list", lambda t: load(collection({**feature(box(1, 1, 5, 5)), "properties": [1]})),
            raises=ValueError, match=r"prompts\[0\] has properties of type list"),
    Hostile("GeoJSON file that is not JSON", lambda t: load(_written(t, "p.geojson", "{not json")), raises=ValueError,
            match=r"prompts='.*p.geojson' is not valid GeoJSON"),
    Hostile("GeoJSON file with a byte-order mark", lambda t: load(_written(t, "b.geojson", "\ufeff" + json.dumps(
        collection(feature(box(1, 1, 5, 5)))))), check=counts(1)),
    Hostile("JSON nested 100,000 deep", lambda t: load("[" * 100_000 + "]" * 100_000), raises=ValueError,
            match=r"prompts is a string that is neither a file nor GeoJSON: maximum recursion depth"),
    # invalid geometries: errors name the feature; a bow-tie is clipped through its valid form
    Hostile("bow-tie polygon that needs clipping", lambda t: load_prompts([bow_tie()], PIXEL_SCENE),
            check=clipped_polygon),
    Hostile("infinite vertex", lambda t: load(collection({"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[15, 41], [float("inf"), 41], [15, 41.5], [15, 41]]]}})),
            raises=ValueError, match=r"prompts\[0\] has a coordinate that is not a finite number"),
    Hostile("pixel polygon over the vertex limit names the feature, not the window",
            lambda t: load_prompts([{"type": "polygon", "points": MANY}], PIXEL_SCENE), raises=ValueError,
            match=r"prompts\[0\] has 10001 vertices; at most 10000"),
    Hostile("map polygon over the vertex limit names the feature",
            lambda t: load(collection(feature(Polygon(MANY), name="big"))), raises=ValueError,
            match=r"prompts\[0\] \(name 'big'\) has 10001 vertices"),
    Hostile("width 'abc'", lambda t: load(collection(feature(LineString([(1, 1), (5, 5)]), width="abc"))),
            raises=ValueError, match=r"prompts\[0\] has width='abc'; a scribble's width is a number of pixels"),
    Hostile("width -4 on a pixel scribble", lambda t: load_prompts(
        [{"type": "scribble", "points": [[1, 1], [9, 9]], "width": -4}], PIXEL_SCENE), raises=ValueError,
            match=r"prompts\[0\] .*width=-4"),
    # vector files: every layer read or the layer named; only GeoJSON / GeoPackage / Shapefile
    Hostile("GeoPackage with two layers and no layer named", lambda t: load(two_layer_gpkg(t)), raises=ValueError,
            match=r"has 2 layers \['ships', 'tanks'\]: name the one to read with prompt_layer="),
    Hostile("GeoPackage with two layers, layer named", lambda t: load(two_layer_gpkg(t), layer="tanks"),
            check=one_from_layer("tanks")),
    Hostile("prompt layer that does not exist", lambda t: load(two_layer_gpkg(t), layer="boats"), raises=ValueError,
            match=r"prompt_layer='boats' is not a layer of .*; its layers: \['ships', 'tanks'\]"),
    Hostile("OGR VRT named .gpkg (names another file)", lambda t: load(ogr_vrt(t)), raises=ValueError,
            match=r"neither GeoJSON, a GeoPackage nor a Shapefile"),
    Hostile("predict: prompt errors name the feature",
            lambda t: stub_predictor().predict(geotiff(t), collection(feature(box(1, 1, 5, 5)), "x")),
            raises=ValueError, match=r"prompts\[1\] is a str"),
]


def _written(tmp, name, text):
    (tmp / name).write_text(text)
    return str(tmp / name)


@parametrize(CASES)
def test_hostile_geo_prompt(case, tmp_path):
    run_case(case, tmp_path)


def test_a_geojson_file_is_read_as_json_not_through_gdal(tmp_path):
    path = tmp_path / "p.geojson"
    path.write_text(json.dumps(collection(feature(box(1, 1, 5, 5), name="a"))))
    assert load(str(path)).prompts[0].name == "prompts[0] (name 'a')"
    gpkg = write_geopackage(collection(feature(box(1, 1, 5, 5), name="a")), tmp_path / "one.gpkg")
    assert len(load(str(gpkg)).prompts) == 1  # one layer: no name needed
    with pytest.raises(ValueError, match="prompts="):
        load(str(tmp_path / "missing.geojson"))
