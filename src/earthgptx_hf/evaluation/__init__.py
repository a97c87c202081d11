"""Evaluation helpers (so far: referring object classification accuracy and the prompt-swap binding check)."""

from .region_classification import predict_regions, region_classification_report, swap_consistency

__all__ = ["predict_regions", "region_classification_report", "swap_consistency"]
