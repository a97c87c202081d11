"""Training: the data collator, Trainer callbacks and the `earthgptx-train` command."""

from .callbacks import LossPartsCallback, TimeBudgetCallback, plot_loss_curve
from .collator import IGNORE_INDEX, EarthGPTXDataCollator

__all__ = ["EarthGPTXDataCollator", "IGNORE_INDEX", "LossPartsCallback", "TimeBudgetCallback", "plot_loss_curve"]
