"""Trainer callbacks: the loss parts in the logs, and the loss curve as a PNG."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import TrainerCallback

LOSS_PARTS = ("lm_loss", "mask_bce_loss", "mask_dice_loss")


class LossPartsCallback(TrainerCallback):
    """Adds the mean CE (`lm_loss`), BCE and Dice losses since the last log to the Trainer's logs.

    The stock `Trainer` logs only the total `loss` the model returns; this callback reads the parts from the model's
    outputs through a forward hook (training steps only) and writes their means into the logged dict and
    `state.log_history`.
    """

    def __init__(self, model: torch.nn.Module):
        self.sums = {name: 0.0 for name in LOSS_PARTS}
        self.counts = {name: 0 for name in LOSS_PARTS}
        self.handle = model.register_forward_hook(self._record)

    def _record(self, module, args, output):
        if not module.training:
            return
        for name in LOSS_PARTS:
            value = getattr(output, name, None)
            if value is not None:
                self.sums[name] += float(value.detach())
                self.counts[name] += 1

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or "loss" not in logs:
            return
        parts = {name: round(self.sums[name] / self.counts[name], 4) for name in LOSS_PARTS if self.counts[name]}
        logs.update(parts)
        if state.log_history:
            state.log_history[-1].update(parts)
        self.sums = {name: 0.0 for name in LOSS_PARTS}
        self.counts = {name: 0 for name in LOSS_PARTS}

    def on_train_end(self, args, state, control, **kwargs):
        self.handle.remove()


def plot_loss_curve(log_history: list[dict], path: str | Path, title: str = "EarthGPT-X training loss") -> Path:
    """Writes the training loss (and its CE / BCE / Dice parts when logged) against the step as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [e for e in log_history if "loss" in e and "step" in e]
    figure, axis = plt.subplots(figsize=(7, 4), dpi=110)
    for key, label in (("loss", "total loss"), ("lm_loss", "CE (text)"), ("mask_bce_loss", "BCE (mask)"),
                       ("mask_dice_loss", "Dice (mask)")):
        points = [(e["step"], e[key]) for e in entries if key in e]
        if points:
            axis.plot(*zip(*points), label=label, linewidth=1.6 if key == "loss" else 1.0)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


__all__ = ["LossPartsCallback", "plot_loss_curve", "LOSS_PARTS"]
