"""Regions of a record in pairs: the ground-truth class of each region, the first pair of regions whose classes
differ, and the record with two prompts swapped. A leaf module: the prompt-swap check
(`region_classification.swap_consistency`), the binding preference (`binding_preference`) and the class priors
(`class_priors`) all read records through it.
"""

from __future__ import annotations

import copy


def region_truth(record: dict) -> dict[int, str]:
    """`{region index (1-based): ground-truth class}` parsed from the record's answer."""
    from ..models.earthgptx.processing_earthgptx import EarthGPTXProcessor

    return EarthGPTXProcessor.parse_regions(record["conversations"][1]["value"])


def first_differing_pair(record: dict) -> tuple[int, int] | None:
    """The first two regions (1-based, in reading order: the lowest i, then the lowest j > i) whose ground-truth
    classes differ and which both have a prompt; None when the record has no such pair."""
    truth = {i: label for i, label in region_truth(record).items() if 1 <= i <= len(record.get("prompts", []))}
    order = sorted(truth)
    for a, i in enumerate(order):
        for j in order[a + 1:]:
            if truth[i] != truth[j]:
                return i, j
    return None


def swap_prompts(record: dict, i: int, j: int) -> dict:
    """A copy of `record` whose prompts (and masks) i and j (1-based) trade places; the text is not changed."""
    record = copy.deepcopy(record)
    for key in ("prompts", "masks"):
        values = record.get(key)
        if values is not None and len(values) >= j:
            values[i - 1], values[j - 1] = values[j - 1], values[i - 1]
    return record


__all__ = ["first_differing_pair", "region_truth", "swap_prompts"]
