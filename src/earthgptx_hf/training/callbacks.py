"""Trainer callbacks: the loss parts in the logs, a wall-clock budget, and the loss curve as a PNG."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from ..evaluation.visualization import save_figure

LOSS_PARTS = ("lm_loss", "mask_bce_loss", "mask_dice_loss", "mask_iou_loss", "region_label_loss")


class TimeBudgetCallback(TrainerCallback):
    """Stops training (after the current step, saving as the Trainer's strategy says) once `minutes` of wall-clock
    time have passed since training began, and records where it stopped in `stopped_at_step`."""

    def __init__(self, minutes: float):
        if minutes <= 0:
            raise ValueError(f"minutes={minutes} must be positive.")
        self.seconds = 60.0 * minutes
        self.start = None
        self.stopped_at_step = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.start is not None and time.monotonic() - self.start >= self.seconds:
            control.should_training_stop = True
            self.stopped_at_step = state.global_step
        return control


class LossPartsCallback(TrainerCallback):
    """Adds the mean CE (`lm_loss`), BCE, Dice, mask-score IoU (`mask_iou_loss`) and region-label
    (`region_label_loss`) losses since the last log to the Trainer's logs.

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

    def _gather(self, args) -> dict[str, float]:
        """Means since the last log; across processes in distributed runs (every process calls `on_log`).

        With `average_tokens_across_devices`, each process's `lm_loss` is its token sum over the global token count,
        so the processes' values add up to the global mean; the mask losses (BCE, Dice, IoU) are per-mask means and the
        region-label loss a per-region mean: they are averaged."""
        import torch.distributed as dist

        values = torch.tensor([[self.sums[n], float(self.counts[n])] for n in LOSS_PARTS], dtype=torch.float64)
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if world > 1:
            device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
            values = values.to(device) if device is not None else values
            dist.all_reduce(values)
            values = values.cpu()
        parts = {}
        for (total, count), name in zip(values.tolist(), LOSS_PARTS):
            if count:
                mean = total / count
                if world > 1 and name == "lm_loss" and getattr(args, "average_tokens_across_devices", False):
                    mean *= world
                parts[name] = round(mean, 4)
        return parts

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or "loss" not in logs:
            return
        parts = self._gather(args)
        logs.update(parts)
        if state.log_history:
            state.log_history[-1].update(parts)
        self.sums = {name: 0.0 for name in LOSS_PARTS}
        self.counts = {name: 0 for name in LOSS_PARTS}

    def on_train_end(self, args, state, control, **kwargs):
        self.handle.remove()


def plot_loss_curve(log_history: list[dict], path: str | Path, title: str = "EarthGPT-X training loss") -> Path:
    """Writes the training loss (and its CE / BCE / Dice / IoU parts when logged) against the step as a PNG."""
    from ..utils.extras import require

    matplotlib = require("matplotlib", extra="plots", purpose="Plotting the loss curve")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

    entries = [e for e in log_history if "loss" in e and "step" in e]
    figure, axis = plt.subplots(figsize=(7, 4), dpi=110)
    for key, label in (("loss", "total loss"), ("lm_loss", "CE (text)"), ("mask_bce_loss", "BCE (mask)"),
                       ("mask_dice_loss", "Dice (mask)"), ("mask_iou_loss", "IoU MSE (mask score)"),
                       ("region_label_loss", "CE (region label)")):
        points = [(e["step"], e[key]) for e in entries if key in e]
        if points:
            axis.plot(*zip(*points), label=label, linewidth=1.6 if key == "loss" else 1.0)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    if entries:
        axis.legend()
    else:  # a run shorter than logging_steps: say so on the picture instead of an empty legend
        axis.text(0.5, 0.5, "no loss logged (fewer steps than logging_steps)", ha="center", va="center",
                  transform=axis.transAxes)
    return save_figure(figure, path)


__all__ = ["LossPartsCallback", "TimeBudgetCallback", "plot_loss_curve", "LOSS_PARTS"]
