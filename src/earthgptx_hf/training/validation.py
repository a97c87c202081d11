"""Validation during training: the held-out records (`validation_split`, `data/validation_split.py`) as the
Trainer's `eval_dataset`, and the task metrics of `earthgptx-eval` on them at every evaluation.

The Trainer computes the validation loss itself (`eval_loss`; `prediction_loss_only`, so that no logits are
gathered). `ValidationMetricsCallback` then generates answers for up to `samples` validation records of each task and
scores them as `earthgptx-eval` does (`evaluation.evaluate_model.evaluate_records`): ROC accuracy and S-IoU for
classification (`eval_roc_accuracy`, `eval_roc_s_iou`), gIoU and cIoU for grounding (`eval_giou`, `eval_ciou`). The
figures are added to the evaluation's metrics, so that `metric_for_best_model` may name them and
`load_best_model_at_end` keeps the best checkpoint by them, and logged (the log history, `log_history.json`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from transformers import TrainerCallback

from ..evaluation.evaluation_data import record_prompt_type

logger = logging.getLogger(__name__)
FIGURES = {("classification", "accuracy"): "roc_accuracy", ("classification", "S-IoU"): "roc_s_iou",
           ("grounding", "gIoU"): "giou", ("grounding", "cIoU"): "ciou"}


def check_eval_strategy(training_args, validation_records) -> None:
    """`validation_records`: the held-out records (a list or a `datasets.Dataset`; None or empty when nothing is held
    out). A ValueError when the Trainer is asked to evaluate but nothing is held out (the Trainer's own message, "didn't
    pass an eval_dataset", names neither cause nor cure)."""
    strategy = str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy))
    if strategy != "no" and not validation_records:
        raise ValueError(f"eval_strategy={strategy!r} evaluates during training, but no validation data is held "
                         "out: set validation_split (e.g. 0.2: spatial blocks for data_format geo, a fraction of the "
                         "images for the other formats), or eval_strategy='no'.")
    if training_args.load_best_model_at_end and not validation_records:
        raise ValueError("load_best_model_at_end=True keeps the best checkpoint by its validation figures, but no "
                         "validation data is held out: set validation_split.")


class ValidationMetricsCallback(TrainerCallback):
    """Adds the task metrics of `records` (up to `samples` per task; any iterable of records, read once here) to
    every evaluation (module docstring)."""

    def __init__(self, processor, records: Iterable[dict], samples: int = 16, max_new_tokens: int = 32):
        self.processor, self.max_new_tokens = processor, max_new_tokens
        self.groups: dict = {}
        for record in records:
            if record.get("task") in ("classification", "grounding"):
                group = self.groups.setdefault((record["task"], record_prompt_type(record)), [])
                if len(group) < samples:
                    group.append(record)
        self.history: list[dict] = []

    def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
        if not self.groups or model is None or metrics is None:
            return control
        from ..evaluation.evaluate_model import evaluate_records  # generation and the evaluate metrics: when used

        training = model.training
        model.eval()
        try:
            results, _ = evaluate_records(model, self.processor, self.groups,
                                          batch_size=args.per_device_eval_batch_size,
                                          max_new_tokens=self.max_new_tokens, semantic_similarity=False,
                                          progress=False)
        finally:
            model.train(training)
        figures = {}
        for (task, figure), name in FIGURES.items():
            values = [scores[figure] for scores in results.get(task, {}).values() if scores.get(figure) is not None]
            if values:
                figures[f"eval_{name}"] = float(sum(values) / len(values))
        metrics.update(figures)
        self.history.append({"step": state.global_step, **figures})
        state.log_history.append({"step": state.global_step, **figures})
        logger.info("validation metrics at step %d: %s", state.global_step, figures)
        return control


__all__ = ["ValidationMetricsCallback", "check_eval_strategy"]
