"""Hostile training recipes (issue 31): every field is checked when the file is read and every stage before the
first one trains, through `earthgptx-train`'s parser (`train.parse_arguments`) and the recipe runner
(`recipe.run_recipe`, `recipe_stages`). A wrong value is a ValueError naming the file, the field and the value."""

from __future__ import annotations

import yaml

from earthgptx_hf.training import recipe
from earthgptx_hf.training.train import parse_arguments

from .harness import Hostile, parametrize, run_case

STAGE = {"preset": "tiny", "trainable": "full", "data_format": "procedural", "num_scenes": 4, "scene_size": 32,
         "tasks": "classification", "max_steps": 1, "per_device_train_batch_size": 2, "learning_rate": 0.001,
         "report_to": "none", "use_cpu": True, "save_strategy": "no", "dataloader_num_workers": 0}


def config(tmp, name="train.yaml", **changes):
    values = {**STAGE, "output_dir": str(tmp / "runs" / name.split(".")[0]), **changes}
    path = tmp / name
    path.write_text(yaml.safe_dump({k: v for k, v in values.items() if v is not ...}))
    return str(path)


def parsed(tmp, **changes):
    return parse_arguments([config(tmp, **changes)])


def trains_nothing(call):
    """`call(tmp)` must raise before any stage writes its output folder."""
    def run(tmp):
        try:
            return call(tmp)
        finally:
            assert not (tmp / "runs").exists(), "a stage trained before the recipe was refused"
    return run


def two_stages(tmp, start):
    first = config(tmp, "stage1.yaml")
    second = config(tmp, "stage2.yaml", model_name_or_path=start(tmp), preset=...)
    return recipe.run_recipe([first, second])


def float_rate(out):
    _, _, training = out
    assert training.learning_rate == 2e-5 and isinstance(training.learning_rate, float)


CASES = [
    Hostile("learning_rate: abc", lambda t: parsed(t, learning_rate="abc"), raises=ValueError,
            match=r"train.yaml: learning_rate='abc' is not a number"),
    Hostile("per_device_train_batch_size: -3", lambda t: parsed(t, per_device_train_batch_size=-3), raises=ValueError,
            match=r"train.yaml: per_device_train_batch_size=-3 must be greater than 0"),
    Hostile("per_device_train_batch_size: 2.5", lambda t: parsed(t, per_device_train_batch_size=2.5),
            raises=ValueError, match=r"per_device_train_batch_size=2.5 is not a whole number"),
    Hostile("learning_rate: .nan", lambda t: parsed(t, learning_rate=float("nan")), raises=ValueError,
            match=r"learning_rate=nan is not a number"),
    Hostile("config_overrides that is not JSON", lambda t: parsed(t, config_overrides="{region_label_loss_weight: 1"),
            raises=ValueError,
            match=r"train.yaml: config_overrides='\{region_label_loss_weight: 1' is not valid JSON"),
    Hostile("config_overrides that is a JSON list", lambda t: parsed(t, config_overrides="[1, 2]"), raises=ValueError,
            match=r"config_overrides='\[1, 2\]' is a JSON list"),
    Hostile("config_overrides naming an unknown field", lambda t: parsed(t, config_overrides='{"no_such": 1}'),
            raises=ValueError, match=r"train.yaml: config_overrides names unknown field\(s\) \['no_such'\]"),
    Hostile("YAML with a python tag",
            lambda t: parse_arguments([_text(t, "learning_rate: !!python/name:os.system\n")]),
            raises=ValueError, match=r"t.yaml is not a valid YAML file of arguments"),
    Hostile("learning_rate: 2e-5 (a string to PyYAML) is read as a number", lambda t: parsed(t, learning_rate="2e-5"),
            check=float_rate),
    Hostile("recipe: a bad field of stage 2 is refused before stage 1 trains", trains_nothing(
        lambda t: recipe.run_recipe([config(t, "stage1.yaml"), config(t, "stage2.yaml", learning_rate="abc")])),
            raises=ValueError, match=r"stage2.yaml: learning_rate='abc' is not a number"),
    Hostile("recipe: stage 2 starts from a folder that does not exist", trains_nothing(
        lambda t: two_stages(t, lambda t: str(t / "runs" / "stage1x"))), raises=ValueError,
            match=r"stage2.yaml: model_name_or_path='.*stage1x' is neither an earlier stage's output_dir"),
    Hostile("recipe: output_dir runs/.. under --output_root", trains_nothing(
        lambda t: recipe.recipe_stages([config(t, output_dir="runs/..")], output_root=t / "root")),
            raises=ValueError, match=r"output_dir='runs/..' has no folder name to place under output_root="),
    Hostile("recipe: stage 2 starting from stage 1's output is accepted",
            lambda t: recipe.check_starts(["s1", "s2"], [{"output_dir": str(t / "a")},
                                                         {"output_dir": str(t / "b"), "model_name_or_path":
                                                          str(t / "a")}]), check=lambda out: None),
]


def _text(tmp, text):
    (tmp / "t.yaml").write_text(text)
    return str(tmp / "t.yaml")


@parametrize(CASES)
def test_hostile_recipe(case, tmp_path):
    run_case(case, tmp_path)
