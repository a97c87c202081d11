"""Teacher-forced binding preference: does the model score the right answer higher with the prompts where they are
than with two of them swapped?

The swap check (`region_classification.swap_consistency`) needs the model's two generated answers to differ; a
model that gives every region of an image the same class has nothing to swap ("0 of 0"). This measure is graded
and always defined: for the pair of regions (i, j) of different classes of a record (`region_pairs.first_differing_pair`), the
log-likelihood of the ground-truth answer under the record's prompts minus the same under prompts i and j swapped
(the answer text stays, so under the swap it names the wrong class for both regions):

    log_ratio = log p(answer | prompts) - log p(answer | prompts with i <-> j)

A model that reads its prompts gives log_ratio > 0; one that answers from the image, the label distribution or the
position in the list gives ~0 (0 when it ignores the prompts altogether). Reported: `pairs`, `preferred`
(log_ratio > `PREFERENCE_TOLERANCE`, above float noise), `preferred_rate` and `mean_log_ratio` (nats per record).
The answer is scored as `generate()` would see it: the question through the chat template, then the answer's tokens.
"""

from __future__ import annotations

import torch

from .generation import chat_prompt
from .region_pairs import first_differing_pair, swap_prompts

PREFERENCE_TOLERANCE = 1e-3  # nats: a smaller log_ratio is float noise, not a preference


@torch.no_grad()
def answer_log_likelihoods(model, processor, records: list[dict]) -> list[float]:
    """Sum of the log-probabilities of each record's answer tokens after its question, laid out as generation lays
    them out (`generation.chat_prompt`, then the answer's tokens as if generated), one record at a time."""
    model.eval()
    scores = []
    for record in records:
        inputs = processor(images=[record["image"]], text=[chat_prompt(processor, record["conversations"][0]["value"])],
                           visual_prompts=[record["prompts"]], return_tensors="pt").to(model.device)
        answer = processor.tokenizer(record["conversations"][1]["value"], add_special_tokens=False,
                                     return_tensors="pt")["input_ids"].to(model.device)
        length = inputs["input_ids"].shape[1]
        inputs["input_ids"] = torch.cat([inputs["input_ids"], answer], dim=1)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        logits = model(**inputs).logits[0, length - 1 : -1].float()
        scores.append(float(torch.log_softmax(logits, dim=-1).gather(1, answer[0][:, None]).sum()))
    return scores


def binding_preference(model, processor, records: list[dict]) -> dict:
    """`{pairs, preferred, preferred_rate, mean_log_ratio}` over the classification records with two regions of
    different classes (see the module docstring); zeros and None when there is no such record."""
    originals, swapped = [], []
    for record in records:
        pair = first_differing_pair(record) if record.get("task", "classification") == "classification" else None
        if pair is not None:
            originals.append(record)
            swapped.append(swap_prompts(record, *pair))
    if not originals:
        return {"pairs": 0, "preferred": 0, "preferred_rate": 0.0, "mean_log_ratio": None}
    ratios = [a - b for a, b in zip(answer_log_likelihoods(model, processor, originals),
                                    answer_log_likelihoods(model, processor, swapped))]
    preferred = sum(ratio > PREFERENCE_TOLERANCE for ratio in ratios)
    return {"pairs": len(ratios), "preferred": preferred, "preferred_rate": preferred / len(ratios),
            "mean_log_ratio": sum(ratios) / len(ratios)}


__all__ = ["PREFERENCE_TOLERANCE", "answer_log_likelihoods", "binding_preference"]
