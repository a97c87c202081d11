"""Training: the data collator, Trainer callbacks (`training.callbacks`) and the `earthgptx-train` command
(`training.train`). The package exports what the README and docs call; the rest lives in its modules."""

from .collator import EarthGPTXDataCollator

__all__ = ["EarthGPTXDataCollator"]
