"""The text tasks scored as issue 33 asks: against every reference, per modality, and next to the prompt-blind
baselines that show what learning adds.

| task | figures | baseline (prompt-blind) |
|---|---|---|
| region_caption, caption, detailed_caption | BLEU-1..4, METEOR, ROUGE-L, CIDEr | the answer of a random other record of the group (another scene's caption, another region's description) |
| relation | the same, and the accuracy of the relation word (`scene_facts.DIRECTIONS`) | the same other-record answer; for the word, the majority word of the modality |
| scene | accuracy | the majority scene class of the modality |

A record's references are its `references` (every template's rendering of its facts, `data.scene_facts`) or its
answer. Baselines are fitted on the evaluated records themselves (as the classification's majority baseline is): the
most a model could score without reading the prompt, or the image for the majority answers.
"""

from __future__ import annotations

import random
from collections import Counter

from ..data.scene_facts import relation_word
from . import load_metric
from .metrics import caption_scores_by_subset, classification_accuracy

CAPTION_TASKS = ("region_caption", "relation", "caption", "detailed_caption")
BASELINE_SEED = 0


def references_of(record: dict) -> list[str]:
    """Every valid answer of the record's last turn: its `references`, or the answer."""
    return list(record.get("references") or [record["conversations"][-1]["value"]])


def other_record_answers(records: list[dict], seed: int = BASELINE_SEED) -> list[str]:
    """Per record, the answer of another record of the list, drawn (a random derangement, seeded)."""
    if len(records) < 2:
        return [records[0]["conversations"][-1]["value"]] * len(records)
    rng = random.Random(seed)
    answers = []
    for index in range(len(records)):
        other = rng.randrange(len(records) - 1)
        answers.append(records[other + (other >= index)]["conversations"][-1]["value"])
    return answers


def majority_by_modality(records: list[dict], labels: list) -> list:
    """Per record, the most frequent label among the records of its modality (ties: the first seen)."""
    counts: dict = {}
    for record, label in zip(records, labels):
        counts.setdefault(record.get("modality", "?"), Counter())[label] += 1
    return [counts[record.get("modality", "?")].most_common(1)[0][0] for record in records]


def _by_modality(records: list[dict]) -> dict[str, list[int]]:
    groups: dict = {}
    for index, record in enumerate(records):
        groups.setdefault(record.get("modality", "?"), []).append(index)
    return dict(sorted(groups.items()))


def _word_accuracy(said: list, truth: list, indices) -> float:
    indices = list(indices)
    return 100 * sum(said[i] is not None and said[i] == truth[i] for i in indices) / len(indices)


def caption_task_scores(task: str, records: list[dict], answers: list[str], clean=lambda text: text) -> dict:
    """The caption metrics of `answers` against every reference (`clean` applied to both, e.g. dropping a leading
    `<Region i>:`), overall and per modality, with the other-record baseline's figures under `baseline`; relations
    add `relation accuracy`."""
    references = [[clean(r) for r in references_of(record)] for record in records]
    predictions = [clean(a) for a in answers]
    modalities = _by_modality(records)
    subsets = {"all": range(len(records)), **modalities}
    scores = caption_scores_by_subset(predictions, references, modalities)
    # the headline figures through the shipped `evaluate` module (the same function, `metrics.caption_scores`)
    scores["all"] = load_metric("earthgptx_caption").compute(predictions=predictions, references=references)
    baseline = caption_scores_by_subset([clean(a) for a in other_record_answers(records)], references, subsets)
    figures = {**scores["all"], "baseline": _plain(baseline["all"]),
               "by_modality": {m: {**_plain(scores[m]), "samples": len(modalities[m]), "baseline": _plain(baseline[m])}
                               for m in modalities}}
    if task == "relation":
        truth = [relation_word(references_of(record)[0]) for record in records]
        said = [relation_word(answer) for answer in answers]
        majority = majority_by_modality(records, truth)
        for name, indices in subsets.items():
            row = figures if name == "all" else figures["by_modality"][name]
            row["relation accuracy"] = _word_accuracy(said, truth, indices)
            row["baseline"]["relation accuracy"] = _word_accuracy(majority, truth, indices)
    return figures


def _plain(scores: dict) -> dict:
    return {key: value for key, value in scores.items() if key != "SPICE_unavailable"}


def scene_scores(records: list[dict], answers: list[str]) -> dict:
    """Scene accuracy overall and per modality, with the majority class of the modality as the baseline."""
    truth = [record["conversations"][-1]["value"] for record in records]
    majority = majority_by_modality(records, truth)

    def accuracy(predictions, indices):
        indices = list(indices)
        return classification_accuracy([predictions[i] for i in indices], [truth[i] for i in indices])["accuracy"]

    modalities = _by_modality(records)
    overall = load_metric("earthgptx_scene_accuracy").compute(predictions=answers, references=truth)
    return {**overall,
            "baseline": {"accuracy": accuracy(majority, range(len(records)))},
            "by_modality": {m: {"samples": len(idx), "accuracy": accuracy(answers, idx),
                                "baseline": {"accuracy": accuracy(majority, idx)}} for m, idx in modalities.items()}}


# ---------------------------------------------------------------------------------------------------------------------
# Markdown
BASELINE_NAMES = {"scene": "majority class of the modality", "referring": "the class's most frequent location", "relation": "another record's answer; majority word",
                  "caption": "another scene's caption", "detailed_caption": "another scene's caption",
                  "region_caption": "another region's description"}


def _cell(value) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def text_modality_markdown(rows: dict, columns: list[str], names: dict) -> list[str]:
    """Per prompt type and modality: the figures and, below each, its baseline's."""
    lines = ["Per modality (each row's baseline below it):", "",
             "| prompt | modality | samples | " + " | ".join(columns) + " |", "|---|---|---:|" + "---:|" * len(columns)]
    for kind, figures in rows.items():
        for modality, row in figures.get("by_modality", {}).items():
            name = names.get(kind, kind)
            lines.append(f"| {name} | {modality} | {row.get('samples', '-')} | "
                         + " | ".join(_cell(row.get(c)) for c in columns) + " |")
            lines.append(f"| {name} | {modality}, baseline | - | "
                         + " | ".join(_cell(row["baseline"].get(c)) for c in columns) + " |")
    return lines + [""]


def follow_up_markdown(rows: dict, names: dict) -> list[str]:
    """The follow-up segmentation table (`follow_ups.follow_up_scores`)."""
    lines = ["The segment question asked after the model's own answer to \"classify the regions\" (follow-up), and "
             "the same question as the first turn. Right [PIX] count: share of answers with one mask token per region asked.",
             "", "| prompt | conversations | follow-up gIoU | follow-up cIoU | follow-up: right [PIX] count | "
             "first-turn gIoU | first-turn cIoU | first turn: right [PIX] count |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, figures in rows.items():
        if not figures.get("samples"):
            continue
        follow, first = figures["follow-up"], figures["first turn"]
        lines.append(f"| {names.get(kind, kind)} | {figures['samples']} | {_cell(follow['gIoU'])} | "
                     f"{_cell(follow['cIoU'])} | {_cell(follow['right [PIX] count'])} % | {_cell(first['gIoU'])} | "
                     f"{_cell(first['cIoU'])} | {_cell(first['right [PIX] count'])} % |")
    return lines + [""]


# (task, the figure that says most, the key of its baseline's figure or None)
HEADLINES = (("classification", "accuracy", "majority_baseline"), ("scene", "accuracy", "accuracy"),
             ("caption", "CIDEr", "CIDEr"), ("detailed_caption", "CIDEr", "CIDEr"),
             ("region_caption", "CIDEr", "CIDEr"), ("relation", "relation accuracy", "relation accuracy"),
             ("relation", "CIDEr", "CIDEr"), ("grounding", "gIoU", None), ("referring", "Acc@0.5", "Acc@0.5"),
             ("referring", "mIoU", "mIoU"), ("referring", "instance_recall", "instance_recall"),
             ("referring", "none_accuracy", "none_accuracy"))


def _baseline_figure(task: str, figures: dict, key: str | None):
    """The baseline's figure `key` of one row: classification keeps its majority baseline at the top level (its
    modality rows hold the size prior), the text tasks under `baseline`; None where there is no baseline."""
    if key is None:
        return None
    return figures.get(key) if task == "classification" else (figures.get("baseline") or {}).get(key)


def headline_markdown(results: dict, names: dict) -> list[str]:
    """One line per task and prompt type: the figure that says most and its baseline's (where one exists); the
    follow-up segmentation against the same question as a first turn."""
    lines = ["| task | prompt | figure | model | baseline |", "|---|---|---|---:|---:|"]
    for task, figure, baseline in HEADLINES:
        for kind, figures in results.get(task, {}).items():
            if figures.get(figure) is None:  # a figure this row does not have (negatives have no Acc@0.5)
                continue
            base = _baseline_figure(task, figures, baseline)
            lines.append(f"| {task} | {names.get(kind, kind)} | {figure} | {_cell(figures[figure])} | "
                         f"{_cell(base)} |")
    for kind, figures in results.get("conversation", {}).items():
        if figures.get("samples"):
            lines.append(f"| conversation | {names.get(kind, kind)} | follow-up gIoU (first turn) | "
                         f"{_cell(figures['follow-up']['gIoU'])} | {_cell(figures['first turn']['gIoU'])} |")
            lines.append(f"| conversation | {names.get(kind, kind)} | follow-ups with the right [PIX] count % | "
                         f"{_cell(figures['follow-up']['right [PIX] count'])} | - |")
    return lines + [""]


__all__ = ["BASELINE_NAMES", "CAPTION_TASKS", "HEADLINES", "caption_task_scores", "follow_up_markdown",
           "headline_markdown", "majority_by_modality",
           "other_record_answers", "references_of", "scene_scores", "text_modality_markdown"]
