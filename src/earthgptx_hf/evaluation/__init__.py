"""Evaluation: the papers' metrics as `evaluate` modules (their bodies are plain functions in `metrics`), and
referring object classification with generation (`region_classification`, `earthgptx-eval` in `evaluate_model`).
The package exports what the README and docs call and the `evaluate` modules' entry points; the rest lives in its
modules."""

from functools import lru_cache
from pathlib import Path

from .metrics import box_scores, caption_scores, classification_accuracy, mask_scores, roc_scores

EVALUATE_MODULES = ("earthgptx_roc", "earthgptx_caption", "earthgptx_scene_accuracy", "earthgptx_masks",
                    "earthgptx_boxes")


def metric_path(name: str) -> str:
    """Folder of one of the package's `evaluate` metric modules: `evaluate.load(metric_path("earthgptx_roc"))`."""
    if name not in EVALUATE_MODULES:
        raise ValueError(f"Unknown metric module {name!r}; available: {list(EVALUATE_MODULES)}.")
    return str(Path(__file__).with_name("modules") / name)


@lru_cache(maxsize=None)
def load_metric(name: str):
    """One of the package's metric modules, loaded by `evaluate` from its folder (kept in memory, no cache files):
    `load_metric("earthgptx_masks").compute(predictions=..., references=...)`. `earthgptx-eval` computes through
    these."""
    import evaluate

    return evaluate.load(metric_path(name), keep_in_memory=True)


__all__ = [
    "EVALUATE_MODULES",
    "metric_path",
    "load_metric",
    "roc_scores",
    "caption_scores",
    "classification_accuracy",
    "mask_scores",
    "box_scores",
]
