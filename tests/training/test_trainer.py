"""The stock Trainer on the tiny model: every trainable preset, QLoRA, logging, resume, the CLI (with the presets'
training defaults, and a LoRA run whose folder loads and evaluates), and DDP."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback, TrainingArguments, set_seed

from earthgptx_hf.training.trainer import EarthGPTXTrainer
from earthgptx_hf.data import build_records, generate_scenes, records_to_dataset
from earthgptx_hf.training.activation_checkpointing import is_activation_checkpointing
from earthgptx_hf.training import EarthGPTXDataCollator
from earthgptx_hf.training.callbacks import LossPartsCallback
from earthgptx_hf.data import DataArguments
from earthgptx_hf.training.train import ModelArguments, TrainDataArguments, build_model, parse_arguments, train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    images, _ = generate_scenes(tmp_path_factory.mktemp("scenes"), 8, size=64, seed=0)
    return records_to_dataset(build_records(images, tasks=("classification", "grounding"), seed=0))


def _args(output_dir, **overrides):
    values = dict(output_dir=str(output_dir), per_device_train_batch_size=4, max_steps=3, learning_rate=1e-3,
                  logging_steps=1, save_strategy="no", report_to="none", remove_unused_columns=False, use_cpu=True,
                  train_sampling_strategy="sequential", seed=0, disable_tqdm=True)
    values.update(overrides)
    return TrainingArguments(**values)


def _trainer(model, processor, dataset, args):
    trainer = EarthGPTXTrainer(model=model, args=args, train_dataset=dataset, data_collator=EarthGPTXDataCollator(processor))
    trainer.callback_handler.callbacks.insert(0, LossPartsCallback(model))
    return trainer


@pytest.mark.parametrize("preset", ["paper", "lora", "full"])
def test_a_few_trainer_steps_for_each_preset(preset, dataset, tmp_path):
    set_seed(0)
    # the LoRA run also uses gradient checkpointing (PEFT needs the inputs to require grads: build_model does it)
    model, processor = build_model(ModelArguments(preset="tiny", trainable=preset), tmp_path,
                                   gradient_checkpointing=preset == "lora")
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainer = _trainer(model, processor, dataset, _args(tmp_path))
    trainer.train()
    losses = [e for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 3 and all(e["lm_loss"] > 0 for e in losses)
    assert any("mask_bce_loss" in e and "mask_dice_loss" in e and "mask_iou_loss" in e for e in losses)  # grounding
    params = dict(model.named_parameters())
    assert any(not torch.equal(params[n], v) for n, v in trainable.items())
    assert all(torch.equal(params[n], v) for n, v in frozen.items())
    if preset == "paper":
        assert not any("vision_tower.dino" in n for n in trainable)
    if preset == "lora":
        assert is_activation_checkpointing(model.base_model.model)


def test_qlora_with_a_4bit_language_model(dataset, tmp_path):
    pytest.importorskip("bitsandbytes")
    set_seed(0)
    model, processor = build_model(ModelArguments(preset="tiny", trainable="lora", quantization="4bit"), tmp_path)
    linear = model.base_model.model.model.language_model.layers[0].mlp.gate_proj
    assert type(linear).__name__ == "Linear4bit"
    trainer = _trainer(model, processor, dataset, _args(tmp_path, max_steps=2))
    trainer.train()
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in trainer.state.log_history if "loss" in e)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_save = True
            control.should_training_stop = True


SAMPLING = "random"


def _final_weights(output_dir, dataset, resume=None, stop=None):
    set_seed(0)
    model, processor = build_model(ModelArguments(preset="tiny", trainable="full"), output_dir)
    args = _args(output_dir, max_steps=6, save_strategy="steps", save_steps=3, train_sampling_strategy=SAMPLING)
    trainer = _trainer(model, processor, dataset, args)
    if stop:
        trainer.add_callback(StopAt(stop))
    trainer.train(resume_from_checkpoint=resume)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_resume_from_a_checkpoint_ends_with_the_same_weights(dataset, tmp_path):
    straight = _final_weights(tmp_path / "straight", dataset)
    _final_weights(tmp_path / "interrupted", dataset, stop=3)
    checkpoint = tmp_path / "interrupted" / "checkpoint-3"
    assert checkpoint.is_dir()
    resumed = _final_weights(tmp_path / "interrupted", dataset, resume=str(checkpoint))
    for name, value in straight.items():
        torch.testing.assert_close(resumed[name], value, rtol=1e-5, atol=1e-6, msg=name)


CONFIG = """
preset: tiny
trainable: full
data_format: procedural
num_scenes: 10
scene_size: 64
tasks: classification,grounding
output_dir: {out}
per_device_train_batch_size: {batch}
max_steps: 3
learning_rate: 0.001
logging_steps: 1
save_strategy: "no"
report_to: none
use_cpu: true
seed: 0
train_sampling_strategy: sequential
disable_tqdm: true
"""


def test_cli_trains_from_a_yaml_file_and_writes_its_outputs(tmp_path):
    from earthgptx_hf.training.train import main

    config = tmp_path / "train.yaml"
    config.write_text(CONFIG.format(out=tmp_path / "run", batch=2))
    assert main([str(config)]) == 0
    run = tmp_path / "run"
    for name in ("model.safetensors", "config.json", "processor_config.json", "loss_curve.png", "data_report.json",
                 "log_history.json"):
        assert (run / name).exists(), name
    report = json.loads((run / "data_report.json").read_text())
    assert report["source"].startswith("procedural") and report["prompts_emitted"] > 0
    history = json.loads((run / "log_history.json").read_text())
    assert [e["step"] for e in history if "loss" in e] == [1, 2, 3] and "lm_loss" in history[0]


def test_lora_training_writes_a_folder_that_loads_and_evaluates(tmp_path):
    """`--trainable lora` saves the adapters merged into the weights: the folder is a plain checkpoint that
    `from_pretrained` and the Auto class load, and that `earthgptx-eval` evaluates."""
    from transformers import AutoModelForImageTextToText

    from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration
    from earthgptx_hf.evaluation.evaluate_model import EvalArguments, EvalDataArguments, run_evaluation

    config = tmp_path / "lora.yaml"
    config.write_text(CONFIG.format(out=tmp_path / "run", batch=2).replace("trainable: full", "trainable: lora"))
    trainer = train(*parse_arguments([str(config)]))
    run = tmp_path / "run"
    assert not (run / "adapter_config.json").exists() and (run / "model.safetensors").exists()
    loaded = EarthGPTXForConditionalGeneration.from_pretrained(run)
    auto = AutoModelForImageTextToText.from_pretrained(run)
    assert type(auto) is EarthGPTXForConditionalGeneration and not any("lora" in k for k in loaded.state_dict())
    trained = trainer.model.state_dict()
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, trained[name], msg=name)
        torch.testing.assert_close(auto.state_dict()[name], value, msg=name)
    set_seed(0)  # the weights train() started from
    start = EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny")).state_dict()
    changed = {name for name, value in loaded.state_dict().items() if not torch.equal(value, start[name])}
    assert any("self_attn.q_proj" in name for name in changed)  # a merged adapter
    assert not any("vision_tower.dino" in name for name in changed)  # frozen
    summary = run_evaluation(
        EvalArguments(model=str(run), output_dir=str(tmp_path / "eval"), max_samples=2, max_new_tokens=3,
                      gallery_size=0, semantic_similarity=False),
        EvalDataArguments(num_scenes=4, scene_size=64, scene_dir=str(tmp_path / "eval_scenes"),
                          tasks="classification"), progress=False)
    assert all(row["samples"] >= 1 for row in summary["results"]["classification"].values())


def test_training_defaults_follow_the_model_preset(tmp_path):
    """`paper`: the paper's AdamW, weight decay 0.01, learning rate 2e-5, for the fields the input leaves unset."""
    out = ["--output_dir", str(tmp_path)]
    _, _, args = parse_arguments(["--preset", "paper", *out])
    assert (args.learning_rate, args.weight_decay) == (2e-5, 0.01)
    assert EarthGPTXTrainer.get_optimizer_cls_and_kwargs(args)[0] is torch.optim.AdamW
    _, _, args = parse_arguments(["--preset=paper", "--learning_rate", "1e-4", *out])
    assert (args.learning_rate, args.weight_decay) == (1e-4, 0.01)  # what the input sets wins
    _, _, args = parse_arguments(out)
    assert (args.learning_rate, args.weight_decay) == (1e-3, 0.01)  # tiny, the default preset: from random weights
    _, _, args = parse_arguments(["--model_name_or_path", "runs/some-checkpoint", *out])
    assert (args.learning_rate, args.weight_decay) == (2e-5, 0.01)  # fine-tuning trained weights: the paper's recipe
    for name, text in (("paper.yaml", f"preset: paper\noutput_dir: {tmp_path}\nweight_decay: 0.1\n"),
                       ("paper.json", json.dumps({"preset": "paper", "output_dir": str(tmp_path),
                                                  "weight_decay": 0.1}))):
        (tmp_path / name).write_text(text)
        _, _, args = parse_arguments([str(tmp_path / name)])
        assert (args.learning_rate, args.weight_decay) == (2e-5, 0.1), name
    (tmp_path / "bad.yaml").write_text(f"preset: huge\noutput_dir: {tmp_path}\n")
    with pytest.raises(ValueError, match=r"preset='huge' has no training defaults; valid: \['paper', 'small',"):
        parse_arguments([str(tmp_path / "bad.yaml")])


def test_train_refuses_a_processor_that_disagrees_with_its_model(tmp_path):
    from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor

    model = EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny"))
    processor = EarthGPTXProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny", max_regions=4))
    data = TrainDataArguments(num_scenes=2, scene_size=64, scene_dir=str(tmp_path / "scenes"))
    with pytest.raises(ValueError, match="max_regions"):
        train(ModelArguments(), data, _args(tmp_path / "run"), model_and_processor=(model, processor))
    assert not (tmp_path / "scenes").exists()


@pytest.mark.skipif(shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists(),
                    reason="accelerate launcher not installed")
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "LOCAL_RANK", "RANK", "WORLD_SIZE"))}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    scenes = tmp_path / "scenes"
    runs = {}
    for name, processes, batch in (("single", 1, 4), ("ddp", 2, 2)):
        config = tmp_path / f"{name}.yaml"
        # 8 training records and drop_last: every global batch holds the same 4 records in both runs
        config.write_text(CONFIG.format(out=tmp_path / name, batch=batch).replace("tasks: classification,grounding",
                                                                                   "tasks: classification")
                          + f"scene_dir: {scenes}\ndataloader_drop_last: true\n")
        launcher = str(Path(sys.executable).parent / "accelerate")
        # `--multi_gpu` picks torch's distributed launcher; on a CPU-only machine the processes use gloo
        mode = ["--multi_gpu"] if processes > 1 else ["--cpu"]
        command = [launcher, "launch", *mode, "--num_processes", str(processes), "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "earthgptx_hf.training.train",
                   str(config)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        runs[name] = json.loads((tmp_path / name / "log_history.json").read_text())
    # the logged losses, the trained weights, and the trained models' loss on the same batch all agree
    from earthgptx_hf import EarthGPTXForConditionalGeneration, EarthGPTXProcessor
    from earthgptx_hf.training.train import build_training_records

    records, _ = build_training_records(DataArguments(data_format="procedural", num_scenes=10, scene_size=64,
                                                      tasks="classification", scene_dir=str(scenes)), 8, tmp_path, 0)
    models = {name: EarthGPTXForConditionalGeneration.from_pretrained(tmp_path / name).eval() for name in runs}
    processor = EarthGPTXProcessor.from_pretrained(tmp_path / "single")
    batch = EarthGPTXDataCollator(processor)(records[:4])
    with torch.no_grad():
        losses = {name: float(model(**batch).loss) for name, model in models.items()}
    assert losses["ddp"] == pytest.approx(losses["single"], rel=1e-3)
    single, ddp = dict(models["single"].named_parameters()), dict(models["ddp"].named_parameters())
    for name, value in single.items():
        torch.testing.assert_close(ddp[name], value, rtol=1e-3, atol=1e-4, msg=name)
    logged = {name: [(e["loss"], e["lm_loss"]) for e in history if "loss" in e] for name, history in runs.items()}
    assert len(records) == 8 and len(logged["ddp"]) == 3
    assert [x for pair in logged["ddp"] for x in pair] == pytest.approx([x for pair in logged["single"] for x in pair],
                                                                       rel=1e-3)


def test_training_records_ask_for_the_configured_regions_per_grounding_question(tmp_path):
    from earthgptx_hf.training.train import build_training_records

    def counts(value):
        data = TrainDataArguments(data_format="procedural", num_scenes=10, scene_size=64, tasks="grounding",
                                  scene_objects="3,3", scene_dir=str(tmp_path / "scenes"), grounding_regions=value)
        records, _ = build_training_records(data, 8, tmp_path, 0)
        return {len(r["pix_targets"]) for r in records}

    assert counts("3") == {3} and counts("1") == {1} and counts("1,2,3") == {1, 2, 3}
    with pytest.raises(ValueError, match="grounding_regions='1,x'"):
        parse_arguments(["--output_dir", str(tmp_path), "--grounding_regions", "1,x"])


def test_config_overrides_apply_to_a_checkpoint_and_are_checked(tmp_path):
    """`config_overrides` with `model_name_or_path`: applied to the checkpoint's config (they were ignored before),
    checked as a new config is, unknown names refused; the weights are the checkpoint's."""
    from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration
    from earthgptx_hf.training.train import checkpoint_config

    torch.manual_seed(0)
    source = tmp_path / "ckpt"
    saved = EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny"))
    saved.save_pretrained(source)
    args = ModelArguments(model_name_or_path=str(source), trainable="full",
                          config_overrides=json.dumps({"region_label_loss_weight": 0.25}))
    model, _ = build_model(args, tmp_path)
    assert model.config.region_label_loss_weight == 0.25
    assert torch.equal(model.lm_head.weight, saved.lm_head.weight)
    assert checkpoint_config(str(source), {}).to_dict() == saved.config.to_dict()
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['region_label_weight'\]"):
        checkpoint_config(str(source), {"region_label_weight": 1.0})
    with pytest.raises(ValueError, match=r"region_label_loss_weight=-1 must be a finite number at least 0"):
        checkpoint_config(str(source), {"region_label_loss_weight": -1})
    # a sub-config dict changes the fields it names and keeps the checkpoint's others, as from_preset's overrides do
    dropout = checkpoint_config(str(source), {"text_config": {"attention_dropout": 0.1}}).text_config
    assert dropout.attention_dropout == 0.1
    assert dropout.hidden_size == saved.config.text_config.hidden_size == 64
    assert dropout.num_hidden_layers == saved.config.text_config.num_hidden_layers


def test_training_with_the_region_label_loss_logs_it(tmp_path):
    """The collator makes the targets when the model's weight is set; the loss part is logged and plotted."""
    config = tmp_path / "train.yaml"
    config.write_text(CONFIG.format(out=tmp_path / "run", batch=2)
                      + "config_overrides: '{\"region_label_loss_weight\": 0.5}'\n")
    from earthgptx_hf.training.train import main

    assert main([str(config)]) == 0
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    parts = [e["region_label_loss"] for e in history if "region_label_loss" in e]
    assert parts and all(value > 0 for value in parts)


def test_the_region_label_loss_without_classification_records_is_refused(tmp_path):
    """A weight set on data that holds no classification record would train nothing from it: refused, named."""
    from earthgptx_hf.training.train import main

    config = tmp_path / "train.yaml"
    config.write_text(CONFIG.format(out=tmp_path / "run", batch=2).replace("classification,grounding", "grounding")
                      + "config_overrides: '{\"region_label_loss_weight\": 0.5}'\n")
    with pytest.raises(ValueError, match=r"region_label_loss_weight=0.5 but none of the \d+ training records"):
        main([str(config)])
