"""The shipped two-stage recipe (configs/recipe_stage1.yaml, configs/recipe_stage2.yaml) parses into the
`earthgptx-train` arguments, and stage 2 starts from stage 1's output folder."""

import json
from pathlib import Path

import yaml

from earthgptx_hf.training.train import parse_arguments

ROOT = Path(__file__).resolve().parents[2]
STAGE1, STAGE2 = ROOT / "configs" / "recipe_stage1.yaml", ROOT / "configs" / "recipe_stage2.yaml"


def test_both_recipe_files_parse_and_stage_two_starts_from_stage_one():
    model1, data1, train1 = parse_arguments([str(STAGE1)])
    model2, data2, train2 = parse_arguments([str(STAGE2)])
    assert model1.preset in ("small", "tiny") and model1.model_name_or_path is None
    assert data1.data_format == "procedural" and train1.max_steps > 0
    # stage 2: the checkpoint of stage 1, real rs_mini data mixed with procedural records
    assert Path(model2.model_name_or_path) == Path(train1.output_dir)
    assert data2.data_format == "rs_mini" and Path(data2.data_path).parts[:3] == ("..", "shared", "data")
    assert data2.split == "train" and 0 < data2.procedural_share < 1 and data2.balance_classes
    # crops at the zoom-in scale and pair crops (the measured setting X of docs/real_data_recipe.md)
    assert data2.region_crops == 12 and data2.pair_crops == 8 and data2.flip == "horizontal"
    assert data2.pair_partners == "disjoint"
    assert train2.max_steps == 1150 and train1.max_steps == 200
    # the region-label loss and the feature after <Region i> in stage 2 only (setting X): overrides of stage 1's config
    assert model1.config_overrides is None
    assert json.loads(model2.config_overrides) == {"region_label_loss_weight": 2.0, "region_feature_next_token": True}
    # its procedural records are stage 1's scenes, drawn with the same settings (read back, not drawn again)
    assert Path(data2.scene_dir) == Path(train1.output_dir) / "scenes"
    for name in ("num_scenes", "scene_size", "scene_objects", "object_scale"):
        assert getattr(data2, name) == getattr(data1, name), name
    # a checkpoint would take the paper's fine-tuning rate (2e-5); the recipe sets its own
    assert yaml.safe_load(STAGE2.read_text())["learning_rate"] == train2.learning_rate > 2e-5
    assert Path(train2.output_dir) != Path(train1.output_dir)


def test_the_recipe_moves_under_an_output_root_and_onto_other_real_data(tmp_path):
    from earthgptx_hf.training.recipe import parse_stage, recipe_stages

    stage1, stage2 = recipe_stages([STAGE1, STAGE2], tmp_path / "mine",
                                   {"data_path": "elsewhere/train.jsonl", "image_dir": None})
    assert stage1["output_dir"] == str(tmp_path / "mine" / "recipe_stage1")
    assert "data_path" not in stage1  # the procedural stage keeps its own data
    # stage 2 follows stage 1 to its new place: the checkpoint and the scenes
    assert stage2["model_name_or_path"] == stage1["output_dir"]
    assert stage2["scene_dir"] == str(Path(stage1["output_dir"]) / "scenes")
    assert stage2["output_dir"] == str(tmp_path / "mine" / "recipe_stage2")
    assert stage2["data_path"] == "elsewhere/train.jsonl" and stage2["data_format"] == "rs_mini"
    model2, data2, train2 = parse_stage(stage2)  # as earthgptx-train parses it
    assert model2.model_name_or_path == stage1["output_dir"] and data2.data_path == "elsewhere/train.jsonl"
    assert train2.remove_unused_columns is False and train2.learning_rate == yaml.safe_load(
        STAGE2.read_text())["learning_rate"]
    # without an output root the files are taken as they are
    assert recipe_stages([STAGE1, STAGE2])[1]["model_name_or_path"] == yaml.safe_load(STAGE1.read_text())["output_dir"]


def test_bad_recipes_are_refused(tmp_path):
    import pytest

    from earthgptx_hf.training.recipe import recipe_stages

    no_output = tmp_path / "a.yaml"
    no_output.write_text("preset: tiny\n")
    with pytest.raises(ValueError, match="a.yaml has no output_dir"):
        recipe_stages([no_output])
    with pytest.raises(ValueError, match="both write to"):
        recipe_stages([STAGE1, STAGE1])
    with pytest.raises(ValueError, match=r"\['max_steps'\] cannot be replaced"):
        recipe_stages([STAGE1], real_data={"max_steps": 3})
    with pytest.raises(ValueError, match="at least one stage"):
        recipe_stages([])


def test_the_real_only_variant_parses_and_trains_crops_from_random_weights():
    model, data, train = parse_arguments([str(ROOT / "configs" / "recipe_real_only.yaml")])
    assert model.preset == "small" and model.model_name_or_path is None
    assert data.data_format == "rs_mini" and data.split == "train" and data.procedural_share == 0
    assert data.region_crops == 8 and data.balance_classes and data.flip == "horizontal"
    assert train.max_steps == 900 and train.learning_rate == 1e-3
    assert Path(train.output_dir) not in (Path("runs/recipe_stage1"), Path("runs/recipe_stage2"))
