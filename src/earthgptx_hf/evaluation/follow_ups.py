"""Follow-up segmentation in a conversation (issue 33): does the model, asked to segment `<Region j>` after it
classified the regions, answer with the right number of `[PIX]`, and are those masks as good as when the same
question opens the conversation?

From each held-out conversation record with a segment follow-up:
1. the first question (classify the regions) is generated;
2. the first segment follow-up is asked after the model's own first answer (`follow-up`; references to regions that
   were not prompted taken out, `said_turn`);
3. the same segment question is asked alone, as a first turn (`first turn`).
Both are scored as grounding (masks paired with their region by `<Region i>`): gIoU and cIoU, and the share of answers
with as many `[PIX]` as regions asked (one, or every prompted region with a mask).
"""

from __future__ import annotations

import re

from ..models.earthgptx.configuration_earthgptx import SPECIAL_TOKENS
from .generation import generate_for_records
from .grounding import grounding_scores

REGION = re.compile(r"<Region (\d+)>")
PIX_TOKEN = SPECIAL_TOKENS[1]


def said_turn(text: str, num_prompts: int) -> str:
    """The model's own answer as the assistant turn of a follow-up: its references to regions that were not prompted
    (an undertrained model writes `<Region 7>` with two prompts) taken out, since the processor refuses a
    conversation that refers to them."""
    return REGION.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= num_prompts else "", text).strip()


def _segment_turn(record: dict) -> tuple[dict, dict, list[int]] | None:
    """The first segment follow-up's question, answer and regions (those of its `[PIX]`, in order), or None."""
    turns = record["conversations"]
    # the builder's `turn_tasks`; a records file of people's conversations has none: a later answer with [PIX] is one
    tasks = record.get("turn_tasks") or [
        "grounding" if PIX_TOKEN in turn["value"] else "other" for turn in turns[1::2]]
    for number, task in enumerate(tasks[1:], start=1):
        if task == "grounding":
            question, answer = turns[2 * number], turns[2 * number + 1]
            return question, answer, [int(region) for region in REGION.findall(answer["value"])]
    return None


def follow_up_scores(model, processor, records: list[dict], mask_metric, batch_size: int = 8,
                     max_new_tokens: int = 48, progress: bool = True) -> tuple[dict, list[dict]]:
    """The follow-up figures of `records` (conversation records; those without a segment follow-up are skipped) and,
    per record asked, the follow-up's output. `mask_metric` is the `earthgptx_masks` module's compute."""
    asked = [(record, turn) for record in records if (turn := _segment_turn(record)) is not None]
    if not asked:
        return {"samples": 0}, []
    first = generate_for_records(model, processor, [{**r, "conversations": r["conversations"][:2], "pix_targets": []}
                                                    for r, _ in asked], batch_size, max_new_tokens, progress=progress,
                                 desc="conversation / first turn")
    follow, alone = [], []
    for (record, (question, answer, regions)), opened in zip(asked, first):
        said = {"from": "model", "value": said_turn(opened["text"], len(record["prompts"]))}
        base = {**record, "pix_targets": regions, "task": "grounding"}
        follow.append({**base, "conversations": [record["conversations"][0], said, question, answer]})
        alone.append({**base, "conversations": [question, answer]})
    figures = {"samples": len(asked)}
    outputs = {}
    for name, group in (("follow-up", follow), ("first turn", alone)):
        outputs[name] = generate_for_records(model, processor, group, batch_size, max_new_tokens, progress=progress,
                                             desc=f"conversation / {name}")
        scores, _ = grounding_scores(group, outputs[name], mask_metric)
        right = sum(o["text"].count(processor.pix_token) == len(r["pix_targets"])
                    for o, r in zip(outputs[name], group))
        figures[name] = {"gIoU": scores["gIoU"], "cIoU": scores["cIoU"], "right [PIX] count": 100 * right / len(group)}
    return figures, outputs["follow-up"]


__all__ = ["follow_up_scores", "said_turn"]
