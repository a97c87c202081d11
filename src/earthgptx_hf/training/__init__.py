"""Training: the data collator, Trainer callbacks and the `earthgptx-train` command."""

from .callbacks import LossPartsCallback, TimeBudgetCallback, plot_loss_curve
from ..models.earthgptx.perception import IGNORE_INDEX
from .collator import EarthGPTXDataCollator

__all__ = ["EarthGPTXDataCollator", "IGNORE_INDEX", "LossPartsCallback", "TimeBudgetCallback", "plot_loss_curve"]
