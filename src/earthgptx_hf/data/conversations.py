"""Multi-turn conversations about one image and its prompts (the paper's Fig. 4): classify the marked regions first,
then one to three follow-ups, each one of segment `<Region j>` (or every region), the relation between two regions,
or a region's caption, in a seeded random order.

Every assistant turn is trained (the collator's labels cover each `{% generation %}` segment of the chat template),
and every `[PIX]` of every turn has its region in `pix_targets`, in reading order across the turns. The answers are
the single-turn tasks' (`tasks.TEMPLATES`, `scene_facts`), so a follow-up asks in the words a first turn would.
"""

from __future__ import annotations

import numpy as np

from ..models.earthgptx.conversation import region_tag
from .annotations import AnnotatedImage, ObjectAnnotation
from .scene_facts import REGION_CAPTION_TEMPLATES, RELATION_TEMPLATES, object_facts, region_fields, relation_fields, render

FOLLOW_UPS = ("grounding", "relation", "region_caption")
MAX_FOLLOW_UPS = 3


def _regions(text: str, first: int, second: int | None = None) -> str:
    """A template written for `<Region 1>` (and `<Region 2>`) said of regions `first` (and `second`)."""
    text = text.replace("<Region 1>", "\0first\0").replace("<Region 2>", "\0second\0")
    text = text.replace("\0first\0", region_tag(first))
    return text if second is None else text.replace("\0second\0", region_tag(second))


def _segment(pick, rng, masked: list[int], templates: dict, grounding_answers: dict) -> tuple[str, str, list[int]]:
    """A segment follow-up: about one region with a mask or, half of the time when two or more have masks, about all
    of them (as the app's and the pipeline's `segment` asks about every prompt), answered one `<Region i>[PIX]` line
    per region. Returns the question, the answer and the regions of its `[PIX]`, in order."""
    if len(masked) >= 2 and rng.random() < 0.5:
        names = [region_tag(i) for i in masked]
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        masks = "\n".join(f"{name}[PIX]" for name in names)
        return pick(grounding_answers["questions"]).format(regions=listed), \
            pick(grounding_answers["several"]).format(masks=masks), list(masked)
    region = pick(masked)
    return _regions(pick(templates["grounding"]), region), _regions(pick(grounding_answers["one"]), region), [region]


def conversation_turns(rng: np.random.Generator, image: AnnotatedImage, objects: list[ObjectAnnotation],
                       templates: dict, grounding_answers: dict) -> tuple[list[dict], list[int], list[str]]:
    """The turns of one conversation about `objects` (prompted as `<Region 1>`... in this order): `(conversations,
    pix_targets, turn_tasks)`, `turn_tasks` naming the task of each assistant turn. Segment follow-ups ask only about
    regions with masks (`_segment`); a conversation gets between one and `MAX_FOLLOW_UPS` follow-ups.
    `grounding_answers`: the grounding task's answers for one region (`one`, written for `<Region 1>`), its questions
    and answers about several (`questions`, `several`: with `{regions}` and `{masks}`)."""
    def pick(options):
        return options[int(rng.integers(len(options)))]

    facts = [object_facts(obj, image.width, image.height) for obj in objects]
    answer = "\n".join(f"{region_tag(i + 1)}: {obj.category}" for i, obj in enumerate(objects))
    turns = [{"from": "user", "value": pick(templates["classification"])}, {"from": "model", "value": answer}]
    pix_targets, turn_tasks = [], ["classification"]
    masked = [i + 1 for i, obj in enumerate(objects) if obj.mask is not None]
    for _ in range(int(rng.integers(1, MAX_FOLLOW_UPS + 1))):
        allowed = [task for task in FOLLOW_UPS if (task != "grounding" or masked) and
                   (task != "relation" or len(objects) >= 2)]
        task = pick(allowed)
        if task == "grounding":
            question, answer, regions = _segment(pick, rng, masked, templates, grounding_answers)
            pix_targets += regions
        elif task == "relation":
            first, second = (int(v) + 1 for v in rng.choice(len(objects), 2, replace=False))
            question = _regions(pick(templates["relation"]), first, second)
            fields = relation_fields(facts[first - 1], facts[second - 1], image.width, image.height)
            answer = _regions(pick(render(RELATION_TEMPLATES, fields)), first, second)
        else:
            region = int(rng.integers(len(objects))) + 1
            question = _regions(pick(templates["region_caption"]), region)
            answer = pick(render(REGION_CAPTION_TEMPLATES, region_fields(facts[region - 1])))
        turns += [{"from": "user", "value": question}, {"from": "model", "value": answer}]
        turn_tasks.append(task)
    return turns, pix_targets, turn_tasks


__all__ = ["FOLLOW_UPS", "MAX_FOLLOW_UPS", "conversation_turns"]
