"""Evaluation: the papers' metrics as plain functions, and referring object classification with generation."""

from pathlib import Path

from .metrics import box_scores, caption_scores, classification_accuracy, mask_scores, roc_scores
from .region_classification import predict_regions, region_classification_report, swap_consistency

EVALUATE_MODULES = ("earthgptx_roc", "earthgptx_caption", "earthgptx_scene_accuracy", "earthgptx_masks",
                    "earthgptx_boxes")


def metric_path(name: str) -> str:
    """Folder of one of the package's `evaluate` metric modules: `evaluate.load(metric_path("earthgptx_roc"))`."""
    if name not in EVALUATE_MODULES:
        raise ValueError(f"Unknown metric module {name!r}; available: {list(EVALUATE_MODULES)}.")
    return str(Path(__file__).with_name("modules") / name)


__all__ = [
    "EVALUATE_MODULES",
    "metric_path",
    "roc_scores",
    "caption_scores",
    "classification_accuracy",
    "mask_scores",
    "box_scores",
    "predict_regions",
    "region_classification_report",
    "swap_consistency",
]
