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
| right instance count | share of the queries answered with as many masks as they have targets | ours |

The prompt-blind baseline (`location_prior`) answers every query with one box: its class's median box over the
evaluated records, the most frequent location for that class.

Matching is greedy by IoU, highest first. For instances that do not overlap one another this is the maximum one-to-one
matching at the 0.5 threshold: a mask with IoU >= 0.5 against a target covers more than half of the target, so two
disjoint targets cannot both match it (COCO's evaluation matches greedily too, by score).
"""

from __future__ import annotations

import numpy as np

from ..models.earthgptx.visual_prompts import rle_to_mask
from .metrics import box_iou, mask_box

# the rows of `earthgptx-eval --tasks referring`: the query kinds of `data.referring`, grouped as the benchmarks are
QUERY_GROUPS = {"single": ("class", "position", "size", "relation", "human"), "every": ("every",),
                "negative": ("negative",)}
QUERY_GROUP_NAMES = {"single": "Text: single-instance expressions", "every": 'Text: "every X"',
                     "negative": "Text: absent class (negatives)"}


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


def query_group(record: dict) -> str:
    """The row of a referring record (`QUERY_GROUPS`, by its `query_kind`; "single" for a record without one, a
    people's expression read from a records file)."""
    kind = record.get("query_kind") or "human"
    for group, kinds in QUERY_GROUPS.items():
        if kind in kinds:
            return group
    raise ValueError(f"record {record.get('id')!r}: query_kind={kind!r} is not one of "
                     f"{[k for kinds in QUERY_GROUPS.values() for k in kinds]}.")


def target_masks(record: dict) -> list[np.ndarray]:
    """The record's target masks (one per `[PIX]` of its answer), decoded at the image size."""
    return [rle_to_mask(rle, where=f"record {record.get('id')!r} masks[{i}]")
            for i, rle in enumerate(record.get("masks") or [])]


def location_prior(records: list[dict], targets: list[list] | None = None) -> dict:
    """The prompt-blind baseline's answer per class: the median box (centre and size, as fractions of the image) of
    that class's targets in `records`, and under None the median over every class (for a class without targets).
    `targets`: the records' target masks, when decoded already (`target_masks`)."""
    boxes: dict = {}
    for record, masks in zip(records, targets if targets is not None else map(target_masks, records)):
        for mask in masks:
            box = mask_box(mask)
            if box is not None:
                h, w = mask.shape
                entry = [(box[0] + box[2]) / 2 / w, (box[1] + box[3]) / 2 / h, (box[2] - box[0]) / w,
                         (box[3] - box[1]) / h]
                boxes.setdefault(record.get("query_class"), []).append(entry)
                boxes.setdefault(None, []).append(entry)
    return {key: np.median(np.asarray(value), axis=0) for key, value in boxes.items()}


def prior_masks(record: dict, prior: dict) -> list[np.ndarray]:
    """The baseline's answer: one instance, the box of its class's `location_prior` (the most common count of
    targets is one, and a prompt-blind guess cannot tell an absent class), filled at the record's image size."""
    height, width = int(record["height"]), int(record["width"])
    centre_x, centre_y, box_w, box_h = prior.get(record.get("query_class"), prior.get(None, (0.5, 0.5, 0.25, 0.25)))
    x1, x2 = int(round((centre_x - box_w / 2) * width)), int(round((centre_x + box_w / 2) * width))
    y1, y2 = int(round((centre_y - box_h / 2) * height)), int(round((centre_y + box_h / 2) * height))
    mask = np.zeros((height, width), bool)
    mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = True
    return [mask]


def referring_task_scores(records: list[dict], outputs: list[dict], prior: dict | None = None) -> dict:
    """`referring_scores` of the model's masks (`outputs[i]["masks"]`) against the records' targets, and under
    `baseline` those of the prompt-blind location prior (`prior`, default fitted on `records`)."""
    references = [target_masks(record) for record in records]
    figures = referring_scores([o["masks"] for o in outputs], references)
    prior = location_prior(records, references) if prior is None else prior
    figures["baseline"] = referring_scores([prior_masks(record, prior) for record in records], references)
    figures["right instance count"] = 100 * float(np.mean([len(o["masks"]) == len(r)
                                                           for o, r in zip(outputs, references)]))
    return figures


__all__ = ["QUERY_GROUPS", "QUERY_GROUP_NAMES", "location_prior", "match_instances", "prior_masks", "query_group",
           "referring_scores", "referring_task_scores", "target_masks"]
