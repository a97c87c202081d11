"""Referring object classification per source (modality): accuracy next to what a model that does not read its
prompts would score, and the rows restricted to classes seen in training.

One row per modality: regions, exact-label accuracy, the majority-class baseline (the best constant answer,
`region_classification_report`) and the size-prior baseline (the best constant answer per box-size bin,
`class_priors.size_prior_baseline`). With `seen_classes` (the classes per modality of another split of the same data,
e.g. the training split) each modality gets a second row, "<modality> (classes seen in <split>)", computed on the
regions whose class occurs in that split for that modality: rs_mini's optical test classes are mostly absent from
its optical training split, and a model cannot name a class it was never taught.
"""

from __future__ import annotations

from .class_priors import size_prior_baseline
from .region_classification import region_classification_report


def _rows(records, predictions, size_bins: int, keep=None) -> dict:
    report = region_classification_report(records, predictions, keep)
    priors = size_prior_baseline(records, size_bins, keep)
    return {modality: {"regions": row["regions"], "accuracy": 100 * row["accuracy"],
                       "majority_baseline": 100 * row["majority_baseline"], "majority_class": row["majority_class"],
                       "size_prior_baseline": 100 * priors[modality]["size_prior_baseline"],
                       "size_bins": priors[modality]["bins"]}
            for modality, row in sorted(report.items()) if modality != "all"}


def seen_label(modality: str, split: str) -> str:
    return f"{modality} (classes seen in {split})"


def modality_rows(records: list[dict], predictions: list[dict[int, str]], size_bins: int = 8,
                  seen_classes: tuple[str, dict[str, set[str]]] | None = None) -> dict:
    """`{row name: figures (x100)}`: one row per modality, and with `seen_classes = (split, {modality: classes})`
    one more per modality on the regions of seen classes (`regions_unseen` counts those left out; a modality with no
    seen region keeps its row with `regions` 0 and no figures)."""
    rows = _rows(records, predictions, size_bins)
    if seen_classes is None:
        return rows
    split, classes = seen_classes
    seen = _rows(records, predictions, size_bins, keep=lambda modality, label: label in classes.get(modality, ()))
    out = {}
    for modality, row in rows.items():
        out[modality] = row
        kept = seen.get(modality, {"regions": 0, "accuracy": None, "majority_baseline": None, "majority_class": None,
                                   "size_prior_baseline": None, "size_bins": []})
        out[seen_label(modality, split)] = {**kept, "regions_unseen": row["regions"] - kept["regions"]}
    return out


def _cell(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def modality_markdown(rows: dict, prompt_type_names: dict) -> list[str]:
    """The Markdown lines of the per-source table of a classification result (`{prompt type: figures}`)."""
    lines = ["| prompt | source | regions | accuracy | majority-class baseline (class) | size-prior baseline |",
             "|---|---|---:|---:|---|---:|"]
    for kind, figures in rows.items():
        for modality, row in figures.get("by_modality", {}).items():
            majority = "-" if row["majority_baseline"] is None else \
                f"{row['majority_baseline']:.1f} ({row['majority_class']})"
            lines.append(f"| {prompt_type_names.get(kind, kind)} | {modality} | {row['regions']} | "
                         f"{_cell(row['accuracy'])} | {majority} | {_cell(row['size_prior_baseline'])} |")
    return lines + [""] if len(lines) > 2 else []


def swap_cell(swap: dict) -> str:
    """"7 of 10 (70 %), 12 pairs": swapped of differing, the rate, and the records with a pair of different
    classes."""
    rate = f" ({100 * swap['rate']:.0f} %)" if swap["differing"] else ""
    return f"{swap['swapped']} of {swap['differing']}{rate}, {swap['pairs']} pairs"


def binding_cell(binding: dict) -> str:
    """"31 of 50 (62 %), +0.84 nats": pairs whose true answer scored higher with the prompts in place than swapped,
    the rate and the mean log-likelihood ratio (`binding_preference.binding_preference`)."""
    if not binding["pairs"]:
        return "0 pairs"
    return (f"{binding['preferred']} of {binding['pairs']} ({100 * binding['preferred_rate']:.0f} %), "
            f"{binding['mean_log_ratio']:+.2f} nats")


__all__ = ["binding_cell", "modality_markdown", "modality_rows", "seen_label", "swap_cell"]
