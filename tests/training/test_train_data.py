"""`earthgptx-train`'s data (issue 36): prepared as it streams into Arrow files under `<output_dir>/prepared`
(`data/training_dataset.py`), not held in memory as records; a validation split still feeds the evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import TrainingArguments

from earthgptx_hf.training.train import ModelArguments, TrainDataArguments, train


def _arguments(out, **overrides):
    values = dict(output_dir=str(out), per_device_train_batch_size=2, per_device_eval_batch_size=2, max_steps=2,
                  learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to="none",
                  remove_unused_columns=False, use_cpu=True, seed=0, disable_tqdm=True)
    return TrainingArguments(**{**values, **overrides})


def _on_disk_under(dataset, folder: Path) -> bool:
    files = [Path(f["filename"]) for f in dataset.cache_files]
    return bool(files) and all(folder in f.parents for f in files)


def test_train_streams_its_data_to_disk_and_evaluates_the_held_out_records(tmp_path):
    out = tmp_path / "run"
    data = TrainDataArguments(num_scenes=8, scene_size=64, scene_dir=str(tmp_path / "scenes"),
                              tasks="classification,grounding", prompt_type="box", flip="horizontal",
                              balance_classes=True, validation_split=0.25, validation_metric_samples=1)
    model = ModelArguments(preset="tiny", trainable="paper", config_overrides='{"region_label_loss_weight": 0.5}')
    trainer = train(model, data, _arguments(out, eval_strategy="steps", eval_steps=1))
    # the Trainer's data are memory-mapped Arrow files under <output_dir>/prepared, not in-memory tables
    assert _on_disk_under(trainer.train_dataset, out / "prepared")
    assert _on_disk_under(trainer.eval_dataset, out / "prepared")
    report = json.loads((out / "data_report.json").read_text())
    assert report["training_records"] == len(trainer.train_dataset) > 0
    assert report["validation_records"] == len(trainer.eval_dataset) > 0
    assert {"augmentation", "class_balanced"} <= set(report) and report["prompts_emitted"] > 0
    # held-out records are neither flipped nor resampled, and never from a training image
    held = trainer.eval_dataset.select_columns(["id"])["id"]
    assert not any("#flip" in name for name in held) and len(set(held)) == len(held)
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "eval_loss" in h] == [1, 2]
    assert {h["step"] for h in history if "eval_roc_accuracy" in h or "eval_giou" in h} == {1, 2}


def test_the_region_label_check_reads_the_task_column(tmp_path):
    data = TrainDataArguments(num_scenes=4, scene_size=64, scene_dir=str(tmp_path / "scenes"), tasks="grounding")
    model = ModelArguments(preset="tiny", config_overrides='{"region_label_loss_weight": 0.5}')
    with pytest.raises(ValueError, match=r"region_label_loss_weight=0.5 but none of the \d+ training records is a "
                                         "classification record"):
        train(model, data, _arguments(tmp_path / "run"))
