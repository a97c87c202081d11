"""Post-processing of `generate()` outputs: answer text, regions, masks at the original size, their scores and their
regions; `EarthGPTXProcessor.post_process_generation` documents the result."""

from __future__ import annotations

import math
import numbers
import re

from .region_tags import REGION_TAG_PATTERN


def check_min_score(min_score) -> float | None:
    """`min_score` of mask post-processing: None, or a finite number in [0, 1] (a score is a predicted IoU);
    a ValueError naming it otherwise."""
    if min_score is None:
        return None
    if isinstance(min_score, bool) or not isinstance(min_score, numbers.Real) or not math.isfinite(min_score) \
            or not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score={min_score!r} must be None or a finite number in [0, 1]: masks whose score (the "
                         "IoU the model predicts for them) is below it are dropped.")
    return float(min_score)


def mask_regions(text: str, pix_token: str = "[PIX]") -> list[int | None]:
    """For every `pix_token` in `text`, the region its mask belongs to: the last `<Region i>` before it on the same
    line (`"<Region 2>: [PIX]"` -> 2), or None."""
    owners, current = [], None
    for match in re.finditer(rf"{REGION_TAG_PATTERN}|{re.escape(pix_token)}|\n", text):
        if match.group(0) == "\n":
            current = None
        elif match.group(1):
            current = int(match.group(1))
        else:
            owners.append(current)
    return owners


def post_process_generation(processor, outputs, inputs, target_sizes=None, mask_threshold: float = 0.0,
                            min_score: float | None = None) -> list[dict]:
    """`EarthGPTXProcessor.post_process_generation` (see there) for `processor`."""
    min_score = check_min_score(min_score)
    sequences = getattr(outputs, "sequences", outputs)
    pred_masks = getattr(outputs, "pred_masks", None)
    pred_scores = getattr(outputs, "pred_scores", None)
    batch, prompt_length = inputs["input_ids"].shape[:2]
    with_masks = [row for row in range(sequences.shape[0]) if pred_masks is not None and len(pred_masks[row])]
    if target_sizes is not None:
        if isinstance(target_sizes, (str, bytes)) or not hasattr(target_sizes, "__len__") or \
                len(target_sizes) != batch or any(len(size) != 2 for size in target_sizes):
            raise ValueError(f"target_sizes must hold one (height, width) per input image ({batch}), got "
                             f"{target_sizes!r}.")
        target_sizes = [tuple(int(v) for v in size) for size in target_sizes]
    masks, scores = {}, {}
    if with_masks:
        if target_sizes is None:
            raise ValueError("outputs hold masks: pass target_sizes, one (height, width) per input image (its "
                             "original size), to bring them back to the images.")
        input_index = getattr(outputs, "input_index", None)
        if input_index is None and sequences.shape[0] != batch:
            raise ValueError(f"outputs hold {sequences.shape[0]} sequences for {batch} inputs but no input_index: "
                             "pass what generate(..., return_dict_in_generate=True) returned.")
        for row in with_masks:
            given = "no" if pred_scores is None else len(pred_scores[row])
            if given != len(pred_masks[row]):
                raise ValueError(f"outputs.pred_masks[{row}] holds {len(pred_masks[row])} masks but "
                                 f"outputs.pred_scores gives {given} scores for it: pass what EarthGPT-X's generate(..., "
                                 "return_dict_in_generate=True) returned (one score per mask).")
            scores[row] = [float(v) for v in pred_scores[row].detach().float().cpu()]
        image_of = [int(i) for i in input_index] if input_index is not None else list(range(batch))
        processed = processor.image_processor.post_process_masks(
            [pred_masks[row] for row in with_masks], [target_sizes[image_of[row]] for row in with_masks],
            mask_threshold=mask_threshold)
        masks = {row: list(m.cpu().numpy()) for row, m in zip(with_masks, processed)}
    results = []
    for row in range(sequences.shape[0]):
        text = processor.decode_answer(sequences[row, prompt_length:])
        row_masks, row_scores = masks.get(row, []), scores.get(row, [])
        owners = (processor.mask_regions(text) + [None] * len(row_masks))[: len(row_masks)]
        keep = [k for k, score in enumerate(row_scores) if min_score is None or score >= min_score]
        results.append({"text": text, "regions": processor.parse_regions(text),
                        "masks": [row_masks[k] for k in keep], "scores": [row_scores[k] for k in keep],
                        "mask_regions": [owners[k] for k in keep], "dropped_masks": len(row_masks) - len(keep)})
    return results


__all__ = ["check_min_score", "mask_regions", "post_process_generation"]
