"""`earthgptx-train` starting from pretrained parts: the YAML's `compose:` section (tiny parts saved here in the Hub
layouts; nothing is downloaded)."""

import json

import pytest
import torch
import yaml
from transformers import ConvNextConfig, Dinov2Model

from earthgptx_hf import EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.training.recipe import parse_stage, recipe_stages
from earthgptx_hf.training.train import ModelArguments, build_model, main, parse_arguments
from tests.modeling.test_composition import save_tiny_parts

TRAINING = {
    "preset": "tiny", "trainable": "paper", "data_format": "procedural", "num_scenes": 6, "scene_size": 64,
    "tasks": "classification,grounding", "per_device_train_batch_size": 2, "max_steps": 2, "logging_steps": 1,
    "save_strategy": "no", "report_to": "none", "use_cpu": True, "seed": 0, "disable_tqdm": True,
}


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return {name: str(path) for name, path in save_tiny_parts(tmp_path_factory.mktemp("parts")).items()}


def _yaml(tmp_path, **values):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({**TRAINING, "output_dir": str(tmp_path / "run"), **values}))
    return path


def test_earthgptx_train_composes_the_starting_model_from_the_compose_section(parts, tmp_path):
    assert main([str(_yaml(tmp_path, compose=parts))]) == 0
    run = tmp_path / "run"
    model = EarthGPTXForConditionalGeneration.from_pretrained(run)
    processor = EarthGPTXProcessor.from_pretrained(run)
    processor.check_model_config(model.config)
    assert model.config.image_token_id == 886  # after the language model's tokenizer (886 ids; 900 embedding rows)
    # the paper trainable preset keeps the pretrained towers as they were
    dino = Dinov2Model.from_pretrained(parts["dino"]).state_dict()
    for name, tensor in model.model.vision_tower.dino.state_dict().items():
        assert torch.equal(tensor, dino[name]), name
    history = json.loads((run / "log_history.json").read_text())
    assert [e["step"] for e in history if "loss" in e] == [1, 2]


BAD_SECTIONS = [  # (how the section is wrong, the refusal)
    (lambda p: {**p, "dinov2": p["dino"]}, r"compose\.dinov2 is not a compose key; .* Did you mean compose\.dino\?"),
    (lambda p: {k: v for k, v in p.items() if k != "sam"}, r"\['compose\.sam'\] missing"),
    (lambda p: {**p, "preset": "paper"}, r"compose\.preset: the config's top-level `preset` is the composition's"),
    (lambda p: {**p, "dtype": "fp8"}, r"compose\.dtype='fp8'; valid: \['float32', 'bfloat16', 'float16'\]"),
    (lambda p: {**p, "convnext": "./nowhere/convnext"}, r"compose\.convnext='./nowhere/convnext' is neither a folder"),
    (lambda p: [p["dino"]], r"compose must be a mapping of the parts"),
]


@pytest.mark.parametrize("index", range(len(BAD_SECTIONS)))
def test_a_wrong_compose_section_is_refused_naming_the_key(index, parts, tmp_path):
    section, message = BAD_SECTIONS[index]
    with pytest.raises(ValueError, match=message):
        parse_arguments([str(_yaml(tmp_path, compose=section(parts)))])


def test_compose_with_a_checkpoint_or_quantization_is_refused(parts, tmp_path):
    with pytest.raises(ValueError, match="compose and model_name_or_path='ckpt' both give the starting model"):
        parse_arguments([str(_yaml(tmp_path, compose=parts, model_name_or_path="ckpt"))])
    with pytest.raises(ValueError, match="compose with quantization='4bit' is not supported"):
        parse_arguments([str(_yaml(tmp_path, compose=parts, quantization="4bit"))])


def test_the_command_line_and_a_recipe_stage_take_the_section_too(parts, tmp_path):
    model_args = parse_arguments(["--output_dir", str(tmp_path / "run"), "--compose", json.dumps(parts)])[0]
    assert model_args.compose == {**parts, "dtype": "float32", "language_model_kwargs": {}}
    stage = recipe_stages([_yaml(tmp_path, compose=parts)])[0]
    assert parse_stage(stage)[0].compose["sam"] == parts["sam"]


def test_parts_that_do_not_fit_are_refused_naming_the_part(parts, tmp_path):
    config = ConvNextConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_stages=4)
    config.save_pretrained(tmp_path / "convnext")  # no weights: the refusal comes before any is loaded
    model_args = ModelArguments(preset="tiny", compose={**parts, "convnext": str(tmp_path / "convnext")})
    with pytest.raises(ValueError, match=r"compose: convnext: num_stages=4 .* at most 3 stages"):
        build_model(model_args, tmp_path)
