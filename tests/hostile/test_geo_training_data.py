"""Hostile inputs of the `geo` training-data format (issue 35): mismatched CRSs, empty and invalid geometries,
labels outside every scene, unknown classes, no-data windows, band counts and alpha bands. Each row is a clear error
(naming the option or file and what is valid) or a counted skip."""

from __future__ import annotations

import json

import numpy as np
import rasterio
import shapely
from shapely.geometry import Point, Polygon, box

from earthgptx_hf.data.annotated_images import DataArguments, load_annotated_images
from tests.geo.geo_training_inputs import SCENES, pixel_polygon, planted_labels, write_labels, write_scene

from .harness import Hostile, parametrize, run_case


def load(tmp, labels=None, scenes=None, **options):
    """The geo loader on scene a (written unless `scenes` is given) and `labels` (default: a's planted labels)."""
    if scenes is None:
        scenes = write_scene(tmp / "a.tif", "a")
    labels = labels or planted_labels(tmp / "labels.gpkg", scenes=("a",))
    options = {"window_size": 64, "bands": "red,green,blue", **options}
    return load_annotated_images(DataArguments(data_format="geo", scenes=scenes, labels=labels, **options),
                                 tmp / "work")


def with_features(tmp, extra, crs="EPSG:4326"):
    good = [(pixel_polygon("a", (8, 8, 24, 20), crs), "ship")]
    return write_labels(tmp / "labels.gpkg", good + extra, crs)


def skipped(reason, count=1):
    def check(result):
        images, report = result
        assert report.skipped.get(reason) == count, report.skipped
        assert report.objects_read == report.objects_kept + sum(report.skipped.values())
        assert images  # the good label is still used
    return check


def windows(reason):
    def check(result):
        _, report = result
        assert report.windows.get(reason, 0) >= 1, report.windows
    return check


def declared_wrong_crs(tmp):
    """Labels whose coordinates are UTM metres, but the file says EPSG:4326."""
    scene = write_scene(tmp / "a.tif", "a")
    utm = pixel_polygon("a", (8, 8, 24, 20), "EPSG:32633")
    return load(tmp, write_labels(tmp / "labels.gpkg", [(utm, "ship")], "EPSG:4326"), scenes=scene)


def geojson_labels(tmp, features):
    path = tmp / "labels.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return str(path)


def four_band_rgbn(tmp):
    """A 4-band uint8 RGBN GeoTIFF written with GDAL's defaults: band 4 is tagged alpha."""
    crs, _ = SCENES["a"]
    from tests.geo.geo_training_inputs import transform_of

    path = tmp / "rgbn.tif"
    with rasterio.open(path, "w", driver="GTiff", width=128, height=128, count=4, dtype="uint8", crs=crs,
                       transform=transform_of("a")) as dataset:
        data = np.full((4, 128, 128), 40, "uint8")
        data[:, 8:20, 8:24] = 200
        data[3] = 0  # near-infrared 0 here: read as alpha, this would make every pixel no-data
        data[3, :, :64] = 90
        dataset.write(data)
    return str(path)


CASES = [
    Hostile("labels declared in the wrong CRS fall on no scene: an error naming the CRSs", declared_wrong_crs,
            raises=ValueError, match=r"falls on any of the 1 scene.*check the label file's CRS"),
    Hostile("label_crs contradicting the file's own CRS",
            lambda tmp: load(tmp, label_crs="EPSG:32633"), raises=ValueError,
            match=r"label_crs='EPSG:32633' differs from the CRS EPSG:4326"),
    Hostile("a label outside every scene is counted",
            lambda tmp: load(tmp, with_features(tmp, [(box(100, 10, 101, 11), "ship")])),
            check=skipped("outside all scenes")),
    Hostile("a label in a scene far from the other",
            lambda tmp: load(tmp, planted_labels(tmp / "l.gpkg", scenes=("a", "b"))),
            check=skipped("outside all scenes", 2)),
    Hostile("an unknown class is counted",
            lambda tmp: load(tmp, with_features(tmp, [(pixel_polygon("a", (40, 8, 50, 20)), "car")]),
                             class_names="ship,tank"),
            check=skipped("unknown class")),
    Hostile("a label without a class value is counted as unknown",
            lambda tmp: load(tmp, geojson_labels(tmp, [
                {"type": "Feature", "geometry": shapely.geometry.mapping(pixel_polygon("a", (8, 8, 24, 20))),
                 "properties": {"class": "ship"}},
                {"type": "Feature", "geometry": shapely.geometry.mapping(pixel_polygon("a", (40, 8, 50, 20))),
                 "properties": {"class": None}}])),
            check=skipped("unknown class")),
    Hostile("a self-intersecting polygon is counted as invalid",
            lambda tmp: load(tmp, with_features(tmp, [(Polygon([(15, 41), (15.1, 41.1), (15.1, 41), (15, 41.1)]),
                                                       "ship")])),
            check=skipped("invalid geometry")),
    Hostile("an empty geometry and a null geometry are counted as invalid",
            lambda tmp: load(tmp, geojson_labels(tmp, [
                {"type": "Feature", "geometry": shapely.geometry.mapping(pixel_polygon("a", (8, 8, 24, 20))),
                 "properties": {"class": "ship"}},
                {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []},
                 "properties": {"class": "ship"}},
                {"type": "Feature", "geometry": None, "properties": {"class": "ship"}}])),
            check=skipped("invalid geometry", 2)),
    Hostile("a line label is counted as invalid (labels are polygons or points)",
            lambda tmp: load(tmp, with_features(tmp, [(shapely.LineString([(15, 41), (15.1, 41.1)]), "ship")])),
            check=skipped("invalid geometry")),
    Hostile("a label file without a usable label",
            lambda tmp: load(tmp, write_labels(tmp / "l.gpkg", [(Point(15, 41).buffer(0.001), "car")]),
                             class_names="ship"),
            raises=ValueError, match=r"holds no usable label.*'class' attribute naming one of \['ship'\]"),
    Hostile("a label file that is not a vector file",
            lambda tmp: load(tmp, str(write_scene(tmp / "not_labels.gpkg", "a"))), raises=ValueError,
            match=r"neither GeoJSON, a GeoPackage nor a Shapefile"),
    Hostile("no-data windows are skipped and counted",
            lambda tmp: load(tmp, scenes=write_scene(tmp / "a.tif", "a", nodata_rows=60)),
            check=windows("no-data window")),
    Hostile("a scene of 4 bands without bands= is refused naming its bands",
            lambda tmp: load(tmp, bands=None), raises=ValueError,
            match=r"has 4 bands \(1: blue, 2: green, 3: red, 4: nir\).*bands="),
    Hostile("a band out of range", lambda tmp: load(tmp, bands="5,3,2"), raises=ValueError,
            match=r"band 5 is out of range; the raster has 4 band"),
    Hostile("two bands", lambda tmp: load(tmp, bands="red,green"), raises=ValueError, match=r"selects 2 bands"),
    Hostile("a band preset the raster cannot hold", lambda tmp: load(tmp, bands=None,
                                                                     band_preset="sentinel2_true_colour"),
            raises=ValueError, match=r"band_preset='sentinel2_true_colour' needs a Sentinel-2 raster"),
    Hostile("an unknown band preset", lambda tmp: load(tmp, bands=None, band_preset="modis"), raises=ValueError,
            match=r"band_preset='modis' is not a preset; valid"),
    Hostile("bands and a preset together", lambda tmp: load(tmp, band_preset="landsat8_true_colour"),
            raises=ValueError, match=r"both choose the bands; give one"),
    Hostile("the alpha-band trap: a 4-band uint8 RGBN GeoTIFF is refused by default",
            lambda tmp: load(tmp, scenes=four_band_rgbn(tmp), bands=None), raises=ValueError,
            match=r"band 4 of its 4 is tagged alpha.*alpha_band=data.*alpha_band=mask"),
    Hostile("the alpha band read as data when asked",
            lambda tmp: load(tmp, scenes=four_band_rgbn(tmp), bands="4,1,2", alpha_band="data"),
            check=lambda result: _nir_read_as_data(*result)),
    Hostile("the alpha band taken as a mask when asked: its zeros are no-data",
            lambda tmp: load(tmp, scenes=four_band_rgbn(tmp), bands="1,2,3", alpha_band="mask"),
            check=lambda result: _check(result[1].windows["no-data window"] == 2, result[1].windows)),
    Hostile("window_unit metres on a scene in degrees is refused",
            lambda tmp: load(tmp, scenes=write_scene(tmp / "a.tif", "a", crs="EPSG:4326",
                                                    transform=rasterio.transform.from_origin(15, 41.6, 1e-4, 1e-4)),
                             window_unit="metres"),
            raises=ValueError, match=r"window_unit=metres needs each scene's ground sample distance.*EPSG:4326"),
    Hostile("target_gsd on a scene without a CRS is refused",
            lambda tmp: load(tmp, scenes=write_scene(tmp / "a.tif", "a", crs=None), target_gsd=5.0),
            raises=ValueError, match=r"target_gsd needs each scene's ground sample distance.*has no CRS"),
    Hostile("a negative target_gsd", lambda tmp: load(tmp, target_gsd=-1.0), raises=ValueError,
            match=r"target_gsd=-1.0 must be a positive number"),
    Hostile("a scene without a CRS cannot hold map labels",
            lambda tmp: load(tmp, scenes=write_scene(tmp / "a.tif", "a", crs=None)), raises=ValueError,
            match=r"has no CRS, so map labels cannot be placed"),
    Hostile("a scene glob that matches nothing", lambda tmp: load(tmp, scenes=str(tmp / "none*.tif")),
            raises=ValueError, match=r"matches no file"),
    Hostile("a VRT disguised as a scene", lambda tmp: load(tmp, scenes=_vrt(tmp)), raises=ValueError,
            match=r"GeoTIFF/COG, PNG or JPEG"),
    Hostile("a validation split that holds no block out",
            lambda tmp: _train_records(tmp, validation_split=0.01, validation_block=64), raises=ValueError,
            match=r"validation_split=0.01 held out no spatial block"),
    Hostile("validation_split out of range", lambda tmp: DataArguments(validation_split=1.0), raises=ValueError,
            match=r"validation_split=1.0 must be a number in \[0, 1\)"),
    Hostile("a label file of two layers without label_layer", lambda tmp: load(tmp, _two_layers(tmp)),
            raises=ValueError, match=r"has 2 layers .*name the one to read with label_layer="),
    Hostile("a label_layer the file does not have", lambda tmp: load(tmp, _two_layers(tmp), label_layer="roads"),
            raises=ValueError, match=r"label_layer='roads' is not a layer of .*two.gpkg"),
    Hostile("a zero window", lambda tmp: load(tmp, window_size=0), raises=ValueError,
            match=r"window_size=0 must be a number greater than 0"),
]


def _two_layers(tmp):
    import pyogrio.raw

    path = tmp / "two.gpkg"
    for layer in ("ships", "tanks"):
        geometry = np.array([shapely.to_wkb(pixel_polygon("a", (8, 8, 24, 20)))], dtype=object)
        pyogrio.raw.write(str(path), geometry, [np.array(["ship"], dtype=object)], ["class"], layer=layer,
                          driver="GPKG", geometry_type="Polygon", crs="EPSG:4326", append=path.exists())
    return str(path)


def _check(condition, detail):
    assert condition, detail


def _nir_read_as_data(images, report):
    """Every window with labels is kept (the zero near-infrared half is data, not no-data), and the window's first
    channel is the near-infrared band."""
    assert report.windows["kept"] == 3 and "no-data window" not in report.windows, report.windows
    import PIL.Image

    values = {image.id.split(":")[1]: np.asarray(PIL.Image.open(image.image))[..., 0] for image in images}
    assert (values["0,0,64,64"] == 90).all() and (values["64,64,64,64"] == 0).all()


def _vrt(tmp):
    path = tmp / "scene.tif"
    path.write_text('<VRTDataset rasterXSize="8" rasterYSize="8"></VRTDataset>')
    return str(path)


def _train_records(tmp, **options):
    from earthgptx_hf.training.train import build_training_records

    scenes = write_scene(tmp / "a.tif", "a")
    args = DataArguments(data_format="geo", scenes=scenes, labels=planted_labels(tmp / "l.gpkg", scenes=("a",)),
                         window_size=64, bands="red,green,blue", **options)
    return build_training_records(args, 4, tmp / "work", validation=[])


@parametrize(CASES)
def test_hostile_geo_training_data(case, tmp_path):
    run_case(case, tmp_path)


def test_a_huge_header_costs_nothing_before_its_windows_are_read():
    from types import SimpleNamespace

    from earthgptx_hf.geo.training_data import _windows

    args = SimpleNamespace(window_sampling="grid", window_overlap=0.0)
    count, windows = _windows(10**7, 10**7, (256, 256), args, None)
    assert count == 39063 ** 2 and next(windows) == (0, 0)
    count, windows = _windows(300, 100, (256, 256), args, None)
    assert list(windows) == [(0, 0), (44, 0)]  # the last window ends at the edge; a short scene is taken whole
