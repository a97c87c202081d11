"""Referring object classification with generation: predictions per region, accuracy, the prompt-swap check.

The full metric set of the papers (SS, S-IoU, captioning metrics) is the evaluation package's job; this module holds
what training needs to see whether a model reads its prompts: exact-label accuracy and whether swapping two prompts
swaps the two answers.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict

from .generation import generate_for_records


def _truth(record: dict) -> dict[int, str]:
    from ..processing.processing_earthgptx import EarthGPTXProcessor

    return EarthGPTXProcessor.parse_regions(record["conversations"][1]["value"])


def predict_regions(model, processor, records: list[dict], batch_size: int = 8, max_new_tokens: int = 48,
                    progress: bool = True) -> list[dict[int, str]]:
    """Generates the answer to each record's first question (chat template, greedy) and parses the regions."""
    outputs = generate_for_records(model, processor, records, batch_size, max_new_tokens, progress=progress)
    return [output["regions"] for output in outputs]


def region_classification_report(records: list[dict], predictions: list[dict[int, str]]) -> dict:
    """Exact-label accuracy overall and per modality, with the majority-class baseline of the same regions."""
    correct, total = Counter(), Counter()
    labels = defaultdict(Counter)
    for record, predicted in zip(records, predictions):
        modality = record.get("modality", "optical")
        for index, label in _truth(record).items():
            for key in ("all", modality):
                total[key] += 1
                correct[key] += predicted.get(index) == label
                labels[key][label] += 1
    return {
        key: {"regions": total[key], "accuracy": correct[key] / total[key],
              "majority_baseline": labels[key].most_common(1)[0][1] / total[key],
              "majority_class": labels[key].most_common(1)[0][0]}
        for key in total
    }


def swap_consistency(model, processor, records: list[dict], predictions: list[dict[int, str]],
                     batch_size: int = 8) -> dict:
    """Swaps the first two prompts of every record with two or more; where the model's two answers differed, counts
    how often the answers swap with them (the binding check of SPEC 2.4)."""
    candidates = [i for i, (r, p) in enumerate(zip(records, predictions))
                  if len(r["prompts"]) >= 2 and p.get(1) is not None and p.get(2) is not None and p[1] != p[2]]
    swapped_records = []
    for i in candidates:
        record = copy.deepcopy(records[i])
        record["prompts"][0], record["prompts"][1] = record["prompts"][1], record["prompts"][0]
        swapped_records.append(record)
    swapped = predict_regions(model, processor, swapped_records, batch_size, progress=False) if candidates else []
    agree = sum(s.get(1) == predictions[i][2] and s.get(2) == predictions[i][1] for i, s in zip(candidates, swapped))
    return {"pairs": len(candidates), "swapped": agree, "rate": agree / len(candidates) if candidates else 0.0}


__all__ = ["predict_regions", "region_classification_report", "swap_consistency"]
