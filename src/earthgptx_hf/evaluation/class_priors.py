"""Oracle prior baselines of referring object classification: what a model that reads only the modality, or only the
modality and the size of the prompt, can score at best.

A model that has learned the label distribution per modality (and the typical size of each class) without reading
which object a prompt marks answers at these baselines; accuracy above them is what reading the prompt adds.

- per modality: the best constant answer, the majority class of the evaluated regions of that modality (the
  `majority_baseline` of `region_classification_report`, which owns it);
- per modality x box-size bin: the regions of a modality are cut into `bins` bins at the quantiles of their prompt's
  box area (fitted on the evaluated regions themselves), and each bin answers its own majority class. It is an upper
  bound (the bins and answers are fitted on the very regions scored), computed from the records and their ground
  truth only, never from a model.

A prompt's box is the box around it as the processor sees it (`visual_prompts.prompt_bounds`): a point has area 0, a
free-form shape the area of its bounding box.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from ..models.earthgptx.visual_prompts import rle_to_mask
from ..models.earthgptx.visual_prompts import prompt_bounds
from .region_pairs import region_truth


def prompt_area(prompt: dict) -> float:
    """Area in pixels of the box around one prompt (0 for a point; a mask prompt: the box around its pixels)."""
    if prompt.get("type") == "mask":
        mask = prompt["mask"]
        rows, cols = np.nonzero(rle_to_mask(mask) if isinstance(mask, dict) else np.asarray(mask, bool))
        return float((np.ptp(cols) + 1) * (np.ptp(rows) + 1)) if rows.size else 0.0
    x1, y1, x2, y2 = prompt_bounds(prompt)
    return max(0.0, float(x2) - float(x1)) * max(0.0, float(y2) - float(y1))


def check_size_bins(bins, argument: str = "size_bins") -> int:
    """`bins` when it is a positive integer; `ValueError` naming `argument` otherwise."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"{argument}={bins!r} must be a positive integer (the number of box-size bins per "
                         "modality; 1 gives the majority-class baseline).")
    return int(bins)


def size_bin_edges(areas, bins: int) -> np.ndarray:
    """The `bins - 1` inner edges that cut `areas` at its quantiles (repeated edges merge bins of tied areas)."""
    check_size_bins(bins)
    if bins == 1 or not len(areas):
        return np.empty(0)
    return np.quantile(np.asarray(areas, float), np.linspace(0, 1, bins + 1)[1:-1])


def size_bin(area: float, edges: np.ndarray) -> int:
    """The bin (0-based) of `area`: the number of inner edges at or below it."""
    return int(np.searchsorted(edges, area, side="right"))


def classification_regions(records: list[dict], keep=None) -> list[tuple[str, str, float]]:
    """`(modality, ground-truth label, prompt box area)` of every region of the classification records (regions
    1..n answered in the reference, n the number of prompts); `keep(modality, label)` selects as in
    `region_classification_report`."""
    regions = []
    for record in records:
        modality = record.get("modality", "optical")
        prompts = record.get("prompts", [])
        for index, label in region_truth(record).items():
            if not 1 <= index <= len(prompts) or (keep is not None and not keep(modality, label)):
                continue
            regions.append((modality, label, prompt_area(prompts[index - 1])))
    return regions


def size_prior_baseline(records: list[dict], bins: int = 8, keep=None) -> dict:
    """Per modality: `{"regions", "size_prior_baseline" (fraction), "bins": [{"max_area", "regions",
    "class", "share"}]}`, the best constant answer per box-size bin (see the module docstring). `max_area` is the
    bin's upper edge (None for the last bin); bins that hold no region (tied edges) are left out."""
    check_size_bins(bins)
    by_modality = defaultdict(list)
    for modality, label, area in classification_regions(records, keep):
        by_modality[modality].append((label, area))
    report = {}
    for modality, regions in sorted(by_modality.items()):
        edges = size_bin_edges([area for _, area in regions], bins)
        counts = defaultdict(Counter)
        for label, area in regions:
            counts[size_bin(area, edges)][label] += 1
        rows, correct = [], 0
        for index in sorted(counts):
            label, count = counts[index].most_common(1)[0]
            total = sum(counts[index].values())
            correct += count
            rows.append({"max_area": float(edges[index]) if index < len(edges) else None, "regions": total,
                         "class": label, "share": count / total})
        report[modality] = {"regions": len(regions), "size_prior_baseline": correct / len(regions), "bins": rows}
    return report


__all__ = ["check_size_bins", "classification_regions", "prompt_area", "size_bin", "size_bin_edges",
           "size_prior_baseline"]
