"""Evaluation: the papers' metrics as plain functions, and referring object classification with generation."""

from .metrics import box_scores, caption_scores, classification_accuracy, mask_scores, roc_scores
from .region_classification import predict_regions, region_classification_report, swap_consistency

__all__ = [
    "roc_scores",
    "caption_scores",
    "classification_accuracy",
    "mask_scores",
    "box_scores",
    "predict_regions",
    "region_classification_report",
    "swap_consistency",
]
