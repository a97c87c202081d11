"""Hostile output paths (issue 31): an output never destroys an input, an existing output is kept unless `--overwrite`,
a failed run leaves no half file, missing folders are created, the suffix says what is written, and GeoPackage layer
names are checked. Through `ScenePredictor.predict` / `SceneResult.write` and earthgptx-predict's checks
(`geo.cli.check_outputs`, run before the model loads)."""

from __future__ import annotations

import json

from shapely.geometry import box

from earthgptx_hf.geo.cli import PredictArguments, check_outputs
from tests.geo.conftest import lonlat_feature

from .geo_inputs import geotiff, stub_predictor
from .harness import Hostile, parametrize, run_case


def prompts_file(tmp):
    path = tmp / "prompts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection",
                                "features": [lonlat_feature(box(10, 10, 40, 40), prompt_type="box")]}))
    return str(path)


def segment(tmp, mask_out=None, **kwargs):
    return stub_predictor().predict(geotiff(tmp), prompts_file(tmp), task="segment", mask_out=mask_out, **kwargs)


def unchanged(path):
    """Runs `call`; then checks that `path` (an input) still has its bytes, and re-raises."""
    def wrap(call):
        def run(tmp):
            target = path(tmp)
            before = target.read_bytes() if target.exists() else None
            try:
                return call(tmp)
            finally:
                assert before is None or target.read_bytes() == before, f"{target} was changed"
        return run
    return wrap


def mask_over_scene(tmp):
    scene = geotiff(tmp)
    return stub_predictor().predict(scene, prompts_file(tmp), task="segment", mask_out=scene)


def out_over_prompts(tmp):
    result = segment(tmp)
    return result.write(tmp / "prompts.geojson")


def existing_out(tmp, overwrite=False):
    (tmp / "result.geojson").write_text("keep me")
    return segment(tmp).write(tmp / "result.geojson", overwrite=overwrite)


def existing_mask(tmp):
    (tmp / "mask.tif").write_bytes(b"keep me")
    return segment(tmp, mask_out=tmp / "mask.tif")


class Broken:
    """The stand-in pipeline, failing on the first batch."""

    def __init__(self, pipe):
        self.pipe = pipe

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, items, **kwargs):
        for _ in self.pipe(items, **kwargs):
            raise RuntimeError("the model failed")
        yield from ()


def failing_run(tmp):
    predictor = stub_predictor()
    predictor.pipe = Broken(predictor.pipe)
    try:
        predictor.predict(geotiff(tmp), prompts_file(tmp), task="segment", mask_out=tmp / "mask.tif")
    except RuntimeError:
        return sorted(p.name for p in tmp.iterdir())
    raise AssertionError("the broken pipeline did not fail")


def nothing_partial(names):
    assert "mask.tif" not in names and not any(".partial" in n for n in names), names


def written_in_new_folder(tmp):
    result = segment(tmp, mask_out=tmp / "new" / "deeper" / "mask.tif")
    return result.mask_path, result.write(tmp / "other" / "result.geojson")


def both_exist(paths):
    assert all(p.is_file() for p in paths), paths


def replaced(path):
    assert json.loads(path.read_text())["type"] == "FeatureCollection"


def cli_args(tmp, **changes):
    values = {"scene": geotiff(tmp), "model": str(_model_dir(tmp)), "prompts": prompts_file(tmp),
              "out": str(tmp / "result.geojson")}
    return PredictArguments(**{**values, **changes})


def _model_dir(tmp):
    (tmp / "model").mkdir(exist_ok=True)
    (tmp / "model" / "config.json").write_text("{}")
    return tmp / "model"


CASES = [
    Hostile("--mask-out is the scene", unchanged(lambda t: t / "scene.tif")(mask_over_scene), raises=ValueError,
            match=r"mask_out='.*scene.tif' would overwrite the input scene"),
    Hostile("--out is the prompts file", unchanged(lambda t: t / "prompts.geojson")(out_over_prompts),
            raises=ValueError, match=r"out='.*prompts.geojson' would overwrite the input prompts"),
    Hostile("--out exists, no --overwrite", unchanged(lambda t: t / "result.geojson")(existing_out),
            raises=ValueError, match=r"out='.*result.geojson' exists; pass --overwrite"),
    Hostile("--out exists, --overwrite", lambda t: existing_out(t, overwrite=True), check=replaced),
    Hostile("--mask-out exists, no --overwrite", unchanged(lambda t: t / "mask.tif")(existing_mask),
            raises=ValueError, match=r"mask_out='.*mask.tif' exists; pass --overwrite"),
    Hostile("a failing run leaves no mask and no partial file", failing_run, check=nothing_partial),
    Hostile("--mask-out and --out in missing folders are created", written_in_new_folder, check=both_exist),
    Hostile("--mask-out mask.png", lambda t: segment(t, mask_out=t / "mask.png"), raises=ValueError,
            match=r"mask_out='.*mask.png' has the suffix '.png'; what it writes needs one of \['.tif', '.tiff'\]"),
    Hostile("--out result.shp", lambda t: segment(t).write(t / "result.shp"), raises=ValueError,
            match=r"out='.*result.shp' has the suffix '.shp'"),
    Hostile("--mask-out under a file", lambda t: segment(t, mask_out=t / "prompts.geojson" / "mask.tif"),
            raises=ValueError, match=r"is a file, not a folder|would overwrite the input prompts"),
    Hostile("--mask-out whose folder cannot be created", lambda t: segment(t, mask_out="/proc/egx/mask.tif"),
            raises=ValueError, match=r"mask_out='/proc/egx/mask.tif': its folder cannot be created"),
    Hostile("gpkg layer gpkg_contents", lambda t: segment(t).write(t / "r.gpkg", layer="gpkg_contents"),
            raises=ValueError, match=r"layer='gpkg_contents' is not a valid GeoPackage layer name"),
    Hostile("gpkg layer ''", lambda t: segment(t).write(t / "r.gpkg", layer=""), raises=ValueError,
            match=r"layer='' is not a valid GeoPackage layer name"),
    Hostile("earthgptx-predict: --out inside the checkpoint folder (before loading)",
            lambda t: check_outputs(cli_args(t, out=str(t / "model" / "config.json"))), raises=ValueError,
            match=r"out='.*config.json' would overwrite the input model"),
    Hostile("earthgptx-predict: --out is the options file",
            lambda t: check_outputs(cli_args(t, out=str(t / "predict.json")), config=_written(t, "predict.json")),
            raises=ValueError, match=r"would overwrite the input config"),
    Hostile("earthgptx-predict: --mask-out is the scene (before loading)",
            lambda t: check_outputs(cli_args(t, mask_out=str(t / "scene.tif"))), raises=ValueError,
            match=r"mask_out='.*scene.tif' would overwrite the input scene"),
]


def _written(tmp, name):
    (tmp / name).write_text("{}")
    return str(tmp / name)


@parametrize(CASES)
def test_hostile_geo_output(case, tmp_path):
    run_case(case, tmp_path)


# earthgptx-eval's output folder (its files are its own; none may replace an input)
def eval_into(tmp, where):
    from earthgptx_hf.evaluation.evaluate_model import EvalArguments, EvalDataArguments, check_output_dir

    model = _model_dir(tmp)
    (tmp / "data").mkdir(exist_ok=True)
    (tmp / "data" / "results.json").write_text("{}")  # a data file that happens to have an output's name
    data = EvalDataArguments(data_format="records", data_path=str(tmp / "data" / "results.json"))
    return check_output_dir(EvalArguments(model=str(model), output_dir=str(where(tmp))), data)


EVAL_CASES = [
    Hostile("earthgptx-eval: --output_dir is the checkpoint folder", lambda t: eval_into(t, lambda t: t / "model"),
            raises=ValueError, match=r"output_dir='.*model' would write results.json over the input model"),
    Hostile("earthgptx-eval: results.json would replace the data file", lambda t: eval_into(t, lambda t: t / "data"),
            raises=ValueError, match=r"would write results.json over the input data_path"),
    Hostile("earthgptx-eval: a folder of its own", lambda t: eval_into(t, lambda t: t / "eval"),
            check=lambda out: _equal_name(out, "eval")),
]


def _equal_name(path, name):
    assert path.name == name, path


@parametrize(EVAL_CASES)
def test_hostile_eval_output(case, tmp_path):
    run_case(case, tmp_path)
