"""Referring object classification with generation: predictions per region, accuracy, the prompt-swap check.

The full metric set of the papers (SS, S-IoU, captioning metrics) is the evaluation package's job; this module holds
what training needs to see whether a model reads its prompts: exact-label accuracy and whether swapping two prompts
swaps the two answers.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from .generation import generate_for_records
from .region_pairs import first_differing_pair, region_truth, swap_prompts


def predict_regions(model, processor, records: list[dict], batch_size: int = 8, max_new_tokens: int = 48,
                    progress: bool = True) -> list[dict[int, str]]:
    """Generates the answer to each record's first question (chat template, greedy) and parses the regions."""
    outputs = generate_for_records(model, processor, records, batch_size, max_new_tokens, progress=progress)
    return [output["regions"] for output in outputs]


def region_classification_report(records: list[dict], predictions: list[dict[int, str]], keep=None) -> dict:
    """Exact-label accuracy overall and per modality, with the majority-class baseline of the same regions.

    `keep(modality, label)` (optional) selects the regions that count (e.g. those whose class occurs in the training
    split); a key with no region kept is left out."""
    correct, total = Counter(), Counter()
    labels = defaultdict(Counter)
    for record, predicted in zip(records, predictions):
        modality = record.get("modality", "optical")
        for index, label in region_truth(record).items():
            if keep is not None and not keep(modality, label):
                continue
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
                     batch_size: int = 8, per_record: dict | None = None) -> dict:
    """The binding check of SPEC 2.4 on records whose regions differ in class. For each record, the first pair of
    regions with different ground-truth classes (`region_pairs.first_differing_pair`; classification records only) is a `pair`;
    where the model's two original answers to them differed (`differing`), the two prompts (and their masks) are
    swapped and the record asked again; `swapped` counts the records whose two answers then followed their prompts.
    `rate` = swapped / differing (0.0 when nothing differed). A model that answers from the label distribution or
    the position in the list gives few differing pairs, or answers that stay in place.

    `per_record` (a dict, optional; the evaluation writes it into predictions.jsonl as each record's `swap`) is
    filled by record index: the pair's `regions` [i, j], their ground-truth `classes`, the `answers` to them, and
    for a differing pair the `swapped_answers` (to i and j, asked with the prompts swapped) and whether it
    `followed`."""
    per_record = {} if per_record is None else per_record
    pairs, candidates, swapped_records = 0, [], []
    for index, (record, predicted) in enumerate(zip(records, predictions)):
        if record.get("task", "classification") != "classification":
            continue
        pair = first_differing_pair(record)
        if pair is None:
            continue
        pairs += 1
        i, j = pair
        truth = region_truth(record)
        per_record[index] = {"regions": [i, j], "classes": [truth[i], truth[j]],
                             "answers": [predicted.get(i), predicted.get(j)]}
        if predicted.get(i) is None or predicted.get(j) is None or predicted[i] == predicted[j]:
            continue
        candidates.append((index, i, j))
        swapped_records.append(swap_prompts(record, i, j))
    answers = predict_regions(model, processor, swapped_records, batch_size, progress=False) if candidates else []
    agree = 0
    for (index, i, j), answer in zip(candidates, answers):
        followed = answer.get(i) == predictions[index][j] and answer.get(j) == predictions[index][i]
        agree += followed
        per_record[index].update(swapped_answers=[answer.get(i), answer.get(j)], followed=followed)
    return {"pairs": pairs, "differing": len(candidates), "swapped": agree,
            "rate": agree / len(candidates) if candidates else 0.0}


__all__ = ["predict_regions", "region_classification_report", "swap_consistency"]
