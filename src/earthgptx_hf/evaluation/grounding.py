"""Pixel grounding with several regions per question, and the calibration of the mask scores.

Pairing: every predicted mask belongs to the `<Region i>` the processor bound it to (`"mask_regions"` of
`EarthGPTXProcessor.post_process_generation`, the one owner of that rule), never to its position among the masks.
Region i of a record (an entry of its `pix_targets`) is scored against the first mask bound to i; a region without a
mask is *missing* (scored as an empty mask, IoU 0), and a mask bound to no region, to a region the question did not
ask for, or to a region that already has one is *extra* (true IoU 0). Both are counted.

Calibration: each mask's `"scores"` entry (the IoU head's prediction) against its true IoU (extra masks: 0), as a
Spearman rank correlation; and, at `min_score`, the masks kept (score >= min_score) and dropped, with the mean IoU
of the kept masks next to that of all the masks (gIoU over the masks a user keeps, before and after the filter).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..models.earthgptx.visual_prompts import rle_to_mask
from .visualization import save_figure
from .metrics import spearman_correlation


def _iou(pred: np.ndarray, gt: np.ndarray) -> tuple[float, int, int]:
    inter, union = int((pred & gt).sum()), int((pred | gt).sum())
    return (1.0 if union == 0 else inter / union), inter, union


def pair_masks_by_region(record: dict, output: dict) -> dict:
    """The masks of one answer paired with the record's regions by `<Region i>`.

    Returns:
        `{"regions": [{"region", "gt", "mask" (bool array or None), "score", "iou"}] in pix_targets order,
        "extra": [{"region", "score"}]}`.
    """
    masks = list(output.get("masks") or [])
    owners = output.get("mask_regions")
    if masks and owners is None:
        raise ValueError(f"record {record.get('id')!r}: the output holds {len(masks)} mask(s) but no 'mask_regions'; "
                         "pass what EarthGPTXProcessor.post_process_generation returns (it binds each mask to its "
                         "<Region i>).")
    owners = list(owners or [])
    scores = output.get("scores")
    scores = list(scores) if scores is not None else [None] * len(masks)
    if not len(owners) == len(scores) == len(masks):
        raise ValueError(f"record {record.get('id')!r}: {len(masks)} masks, {len(scores)} scores and {len(owners)} "
                         "mask_regions; post_process_generation gives one of each per mask.")
    targets = list(record.get("pix_targets") or [])
    first: dict = {}
    extra = []
    for mask, owner, score in zip(masks, owners, scores):
        if owner in targets and owner not in first:
            first[owner] = (np.asarray(mask, bool), score)
        else:
            extra.append({"region": owner, "score": None if score is None else float(score)})
    regions = []
    for target in targets:
        gt = rle_to_mask(record["masks"][target - 1]).astype(bool)
        mask, score = first.get(target, (None, None))
        if mask is not None and mask.shape != gt.shape:
            raise ValueError(f"record {record.get('id')!r}: the mask of <Region {target}> has shape {mask.shape} but "
                             f"its ground truth {gt.shape}; post-process the masks to the image size.")
        regions.append({"region": target, "gt": gt, "mask": mask, "score": None if score is None else float(score),
                        "iou": _iou(mask if mask is not None else np.zeros_like(gt), gt)[0]})
    return {"regions": regions, "extra": extra}


def calibration_points(pairing: dict) -> list[tuple[float, float]]:
    """(score, true IoU) of every scored mask of one answer; extra masks have true IoU 0."""
    points = [(r["score"], r["iou"]) for r in pairing["regions"] if r["mask"] is not None and r["score"] is not None]
    return points + [(e["score"], 0.0) for e in pairing["extra"] if e["score"] is not None]


def calibration_scores(points, min_score: float) -> dict:
    """Spearman correlation of score and true IoU, and the masks kept and dropped at `min_score` (x100 IoUs)."""
    points = [(float(s), float(i)) for s, i in points]
    kept = [i for s, i in points if s >= min_score]
    return {
        "scored_masks": len(points),
        "spearman": spearman_correlation([s for s, _ in points], [i for _, i in points]),
        "min_score": min_score,
        "gIoU_all_masks": 100 * float(np.mean([i for _, i in points])) if points else None,
        "gIoU_kept_masks": 100 * float(np.mean(kept)) if kept else None,
        "kept": len(kept),
        "dropped": len(points) - len(kept),
    }


def _mask_figures(pairings: list[dict], mask_metric) -> dict:
    regions = [r for p in pairings for r in p["regions"]]
    predicted = [(r["mask"] if r["mask"] is not None else np.zeros_like(r["gt"])).astype(np.uint8) for r in regions]
    figures = mask_metric(predicted, [r["gt"].astype(np.uint8) for r in regions])
    figures["missing_masks"] = sum(r["mask"] is None for r in regions)
    figures["extra_masks"] = sum(len(p["extra"]) for p in pairings)
    return figures


def grounding_scores(records: list[dict], outputs: list[dict], mask_metric, min_score: float = 0.5) -> tuple:
    """The grounding figures of one group of records, overall and per number of regions per question.

    Args:
        mask_metric: `(predictions, references) -> {"gIoU", "cIoU", "masks"}` (the `earthgptx_masks` module).

    Returns:
        `(figures, pairings)`: figures with `gIoU`, `cIoU`, `masks`, `missing_masks`, `extra_masks`, `no_mask`,
        `by_regions` ({"1": {"questions", "gIoU", "cIoU", "masks", "missing_masks", "extra_masks"}, ...}) and
        `calibration` (`calibration_scores`); the pairings (one `pair_masks_by_region` per record) for the boxes,
        the predictions file and the plot.
    """
    pairings = [pair_masks_by_region(r, o) for r, o in zip(records, outputs)]
    figures = _mask_figures(pairings, mask_metric)
    figures["no_mask"] = sum(not o.get("masks") for o in outputs)
    by_count = defaultdict(list)
    for pairing in pairings:
        by_count[len(pairing["regions"])].append(pairing)
    figures["by_regions"] = {str(k): {"questions": len(group), **_mask_figures(group, mask_metric)}
                             for k, group in sorted(by_count.items())}
    figures["calibration"] = calibration_scores([pt for p in pairings for pt in calibration_points(p)], min_score)
    return figures, pairings


def _cell(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def grounding_markdown(rows: dict, names: dict, calibration: dict | None = None) -> list[str]:
    """Markdown lines: gIoU / cIoU per prompt type and number of regions per question, and the score calibration per
    prompt type (plus an "All" row from `calibration`)."""
    lines = ["Per number of regions per question (masks paired with regions by `<Region i>`):", "",
             "| prompt | regions per question | questions | masks | gIoU | cIoU | missing masks | extra masks |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, figures in rows.items():
        for count, row in figures.get("by_regions", {}).items():
            lines.append(f"| {names.get(kind, kind)} | {count} | {row['questions']} | {row['masks']} | "
                         f"{_cell(row['gIoU'])} | {_cell(row['cIoU'])} | {row['missing_masks']} | "
                         f"{row['extra_masks']} |")
    calibrations = [(names.get(kind, kind), figures["calibration"]) for kind, figures in rows.items()
                    if "calibration" in figures]
    if calibration is not None:
        calibrations.append(("All", calibration))
    if calibrations:
        lines += ["", "Mask-score calibration (score: the IoU head's prediction; extra masks have true IoU 0):", "",
                  "| prompt | scored masks | Spearman (score, IoU) | gIoU of all masks | min_score | gIoU of kept masks "
                  "| kept | dropped |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, c in calibrations:
            lines.append(f"| {name} | {c['scored_masks']} | {_cell(c['spearman'], 2)} | "
                         f"{_cell(c['gIoU_all_masks'])} | {c['min_score']:g} | {_cell(c['gIoU_kept_masks'])} | "
                         f"{c['kept']} | {c['dropped']} |")
    return lines + [""]


def plot_calibration(points_by_kind: dict[str, list], path, min_score: float, title: str | None = None):
    """Writes score vs true IoU (one colour per prompt type) with the mean IoU per score bin, the diagonal and the
    `min_score` line as a PNG (matplotlib, the `plots` extra)."""

    from ..utils.extras import require

    matplotlib = require("matplotlib", extra="plots", purpose="Plotting the mask-score calibration")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

    everything = [pt for points in points_by_kind.values() for pt in points]
    figure, axis = plt.subplots(figsize=(5.5, 5), dpi=110)
    for kind, points in points_by_kind.items():
        if points:
            scores, ious = zip(*points)
            axis.scatter(scores, ious, s=9, alpha=0.45, label=f"{kind} ({len(points)})")
    if everything:
        scores, ious = (np.asarray(v, float) for v in zip(*everything))
        edges = np.linspace(0.0, 1.0, 11)
        bins = np.clip(np.digitize(scores, edges) - 1, 0, len(edges) - 2)
        centres = [(edges[b] + edges[b + 1]) / 2 for b in range(len(edges) - 1) if (bins == b).any()]
        means = [ious[bins == b].mean() for b in range(len(edges) - 1) if (bins == b).any()]
        axis.plot(centres, means, "k-o", linewidth=1.6, markersize=4, label="mean IoU per score bin")
        rho = spearman_correlation(scores.tolist(), ious.tolist())
        title = title or ("mask score calibration" + (f": Spearman {rho:.2f}" if rho is not None else ""))
    else:
        axis.text(0.5, 0.5, "no scored masks", ha="center", va="center", transform=axis.transAxes)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.axvline(min_score, color="tab:red", linestyle="--", linewidth=1, label=f"min_score {min_score:g}")
    axis.set_xlabel("mask score (predicted IoU)")
    axis.set_ylabel("true IoU")
    axis.set_title(title or "mask score calibration")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    return save_figure(figure, path)


__all__ = ["pair_masks_by_region", "calibration_points", "calibration_scores", "grounding_scores",
           "grounding_markdown", "plot_calibration"]
