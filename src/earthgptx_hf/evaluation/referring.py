"""Referring-expression grounding scored as its public benchmarks score it (issue 34's metrics; the task, its data and
its command come with that issue): one query ("the largest ship", "every vehicle") per sample, answered with zero or
more instance masks.

| figure | how | benchmark |
|---|---|---|
| Acc@0.5 | share of single-instance queries whose predicted box (the tight box of the union of the predicted masks) has IoU >= 0.5 with the target's box | DIOR-RSVG / OPT-RSVG visual grounding |
| mIoU | mean over the queries with a target of IoU(union of predicted masks, union of target masks) | RRSIS-D, RefSegRS (their "mIoU"; gIoU in LISA's terms) |
| oIoU | summed intersections over summed unions over the same queries | RRSIS-D, RefSegRS (their "oIoU"; cIoU) |
| instance precision / recall | predicted instances matched one to one to target instances at mask IoU >= 0.5, over all queries: matched / predicted, matched / targets | ours, for "every X" queries |
| none accuracy | share of the queries without a target (negatives) answered with no mask | ours |

Matching is greedy by IoU, highest first. For instances that do not overlap one another this is the maximum one-to-one
matching at the 0.5 threshold: a mask with IoU >= 0.5 against a target covers more than half of the target, so two
disjoint targets cannot both match it (COCO's evaluation matches greedily too, by score).
"""

from __future__ import annotations

import numpy as np

from .metrics import box_iou, mask_box


def _iou(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    inter, union = int((a & b).sum()), int((a | b).sum())
    return (inter / union if union else 1.0), inter, union


def _union(masks, shape) -> np.ndarray:
    union = np.zeros(shape, bool)
    for mask in masks:
        union |= np.asarray(mask, bool)
    return union


def match_instances(predicted: list, targets: list, threshold: float = 0.5) -> int:
    """How many predicted masks are matched one to one to target masks at IoU >= `threshold` (greedy by IoU)."""
    pairs = sorted(((_iou(np.asarray(p, bool), np.asarray(t, bool))[0], i, j) for i, p in enumerate(predicted)
                    for j, t in enumerate(targets)), reverse=True)
    used_p, used_t, matched = set(), set(), 0
    for iou, i, j in pairs:
        if iou < threshold:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            matched += 1
    return matched


def referring_scores(predictions: list[list], references: list[list], threshold: float = 0.5) -> dict:
    """The figures of the module docstring (x100), with the counts behind them.

    Args:
        predictions: per query, the predicted instance masks (bool `(H, W)`, any number, none for "none").
        references: per query, the target instance masks (none for a negative query).
    """
    if len(predictions) != len(references) or not references:
        raise ValueError(f"predictions ({len(predictions)}) and references ({len(references)}) must be non-empty and "
                         "of the same length.")
    hits = singles = inter_total = union_total = matched = predicted = targets = negatives = silent = 0
    ious = []
    for index, (preds, refs) in enumerate(zip(predictions, references)):
        preds, refs = [np.asarray(m, bool) for m in preds], [np.asarray(m, bool) for m in refs]
        shapes = {m.shape for m in preds + refs}
        if len(shapes) > 1:
            raise ValueError(f"query {index}: masks of different shapes {sorted(shapes)}; give them at the image "
                             "size.")
        predicted, targets = predicted + len(preds), targets + len(refs)
        if not refs:
            negatives, silent = negatives + 1, silent + (not preds)
            continue
        shape = refs[0].shape
        iou, inter, union = _iou(_union(preds, shape), _union(refs, shape))
        ious.append(iou)
        inter_total, union_total = inter_total + inter, union_total + union
        matched += match_instances(preds, refs, threshold)
        if len(refs) == 1:
            singles += 1
            box = mask_box(_union(preds, shape))
            hits += box is not None and box_iou(box, mask_box(refs[0])) >= threshold
    return {
        "Acc@0.5": 100 * hits / singles if singles else None, "single_queries": singles,
        "mIoU": 100 * float(np.mean(ious)) if ious else None,
        "oIoU": 100 * inter_total / union_total if union_total else None, "queries_with_targets": len(ious),
        "instance_precision": 100 * matched / predicted if predicted else None,
        "instance_recall": 100 * matched / targets if targets else None,
        "matched": matched, "predicted_instances": predicted, "target_instances": targets,
        "none_accuracy": 100 * silent / negatives if negatives else None, "negatives": negatives,
    }


__all__ = ["match_instances", "referring_scores"]
