"""Text-referring grounding records: a question with no visual prompt ("Segment every ship.", "Segment the largest
storage tank.", "Is there an airplane? Segment it.") answered with one line per instance it refers to,
"ship at the top left[PIX]", top to bottom, or "none" (the processor's `instance_answer`, the one owner of that
format; docs/model.md says why the position stands before `[PIX]`).

Expressions written from a scene's facts (`scene_facts`; procedural scenes, whose objects are all there is, or
`describe_scenes=True` for data annotated exhaustively), at most one record per kind and image:

| kind | asked when | example | targets |
|---|---|---|---|
| `every` | a class of the image (drawn by instance, so classes with several come up more) | "Segment every ship." | all its instances |
| `class` | a class with one instance | "Segment the ship." | it |
| `position` | a class with two or more, one alone in its 3 x 3 grid cell | "Segment the ship at the top left." | it |
| `size` | a class with two or more, the largest (smallest) over 1.5 times the next one's area (under 1/1.5) | "Segment the largest ship." | it |
| `relation` | a class with two or more, one the only one of them in its direction from an object alone of its class | "Segment the ship to the left of the storage tank." | it |
| `negative` | half of the images: a class of the data's vocabulary absent from the image | "Segment every airplane." | none: "none" |

`class`, `position`, `size` and `relation` are single-instance queries: one of the kinds that apply is drawn per image.
Expressions written by people (`ObjectAnnotation.expression`: DIOR-RSVG, OPT-RSVG, RRSIS-D, RefSegRS) give kind
`human`, one record per expression, for any source. An object without a mask (DIOR-RSVG has boxes) is answered with
its box as the mask (`box_mask`): those benchmarks score boxes.

Record fields beyond SPEC section 4's: `prompts` is empty; `masks` holds the targets' masks in answer order and
`pix_targets` is `[1, ..., n]`; `query_kind` (above) and `query_class` (the class asked about) let the evaluation
split its figures by kind and fit its prompt-blind baseline.
"""

from __future__ import annotations

import numpy as np

from ..models.earthgptx.processing_earthgptx import NO_INSTANCE, instance_answer
from ..models.earthgptx.visual_prompts import mask_to_rle
from .annotations import AnnotatedImage, ObjectAnnotation
from .scene_facts import SIMILAR_SIZE, ObjectFacts, object_facts, plural, relation_fields, with_article

SINGLE_KINDS = ("class", "position", "size", "relation")
QUERY_KINDS = ("every", *SINGLE_KINDS, "negative", "human")

# The first template of each kind is the instruction `pipeline(task="find", query=...)` writes (`find_instruction`):
# "Segment every ship." for query="ship", "Segment the largest ship." for query="the largest ship".
QUESTIONS = {
    "every": ["Segment every {cls}.", "Find all {plural} in the image and segment them.",
              "Are there any {plural}? Segment them."],
    "class": ["Segment the {cls}.", "Where is the {cls}? Segment it.", "Is there {a_cls}? Segment it."],
    "position": ["Segment the {cls} at the {position}.", "Find the {cls} at the {position} and segment it."],
    "size": ["Segment the {extreme} {cls}.", "Which {cls} is the {extreme}? Segment it."],
    "relation": ["Segment the {cls} {direction} the {reference}.",
                 "Find the {cls} {direction} the {reference} and segment it."],
    "human": ["Segment {expression}.", "Find {expression} and segment it.", "Please segment {expression}."],
}
NEGATIVE_KINDS = ("every", "class")  # a negative is asked as "every X" or as "Is there an X?"
NEGATIVE_SHARE = 0.5  # the share of images that also get a negative query


def box_mask(obj: ObjectAnnotation, width: int, height: int) -> dict:
    """The object's mask, or its box filled (COCO RLE) when it has none."""
    if obj.mask is not None:
        return obj.mask
    x1, y1, x2, y2 = (int(round(float(v))) for v in obj.bbox)
    mask = np.zeros((height, width), bool)
    mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = True
    return mask_to_rle(mask)


def reading_order(facts: list[ObjectFacts]) -> list[int]:
    """Indices of `facts` top to bottom, then left to right (by box centre): the order of an answer's lines."""
    return sorted(range(len(facts)), key=lambda i: (facts[i].centre[1], facts[i].centre[0]))


def _expression(text: str) -> str:
    """A person's expression as the object of "Segment ...": no final stop, a lower-case first letter unless the
    first word is an acronym."""
    text = " ".join(text.strip().rstrip(".").split())
    first = text.split(" ", 1)[0]
    return text if first.isupper() and len(first) > 1 else text[:1].lower() + text[1:]


class ReferringBuilder:
    """The referring records of one image, drawing with `rng` (the `RecordBuilder`'s, so that datasets are
    reproducible under their seed). `vocabulary`: the classes negatives are drawn from."""

    def __init__(self, rng: np.random.Generator, vocabulary=()):
        self.rng, self.vocabulary = rng, tuple(vocabulary)

    def _pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def question(self, kind: str, **fields) -> str:
        return self._pick(QUESTIONS[kind]).format(**fields)

    def fields(self, category: str) -> dict:
        return {"cls": category, "plural": plural(category), "a_cls": with_article(category)}

    def human(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        """One query per expression people wrote."""
        out = []
        for index, obj in enumerate(objects):
            if obj.expression and obj.expression.strip():
                fact = object_facts(obj, image.width, image.height)
                out.append(self._query(image, "human", obj.category, [(obj, fact)], f"{index}",
                                       self.question("human", expression=_expression(obj.expression))))
        return out

    def from_facts(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        """`every`, one single-instance kind and `negative` queries written from the image's facts (the table)."""
        facts = [object_facts(o, image.width, image.height) for o in objects]
        by_class: dict[str, list[int]] = {}
        for index in reading_order(facts):
            by_class.setdefault(facts[index].category, []).append(index)
        out = []
        if by_class:  # a class drawn in proportion to its instances: "every" asks about several where there are
            category = self._pick([c for c in sorted(by_class) for _ in by_class[c]])
            targets = [(objects[i], facts[i]) for i in by_class[category]]
            out.append(self._query(image, "every", category, targets, "", self.question("every",
                                                                                        **self.fields(category))))
        singles = [query for query in (self._single(kind, image, objects, facts, by_class) for kind in SINGLE_KINDS)
                   if query is not None]
        if singles:
            out.append(self._pick(singles))
        absent = sorted(set(self.vocabulary) - set(by_class))
        if absent and self.rng.random() < NEGATIVE_SHARE:
            category, kind = self._pick(absent), self._pick(NEGATIVE_KINDS)
            out.append(self._query(image, "negative", category, [], "", self.question(kind, **self.fields(category))))
        return out

    def _single(self, kind, image, objects, facts, by_class) -> dict | None:
        """A query of `kind` (a single-instance kind) about one object, or None where none applies."""
        candidates = []  # (class, target index, question fields)
        for category, members in sorted(by_class.items()):
            if kind == "class" and len(members) == 1:
                candidates.append((category, members[0], {}))
            elif kind == "position" and len(members) >= 2:
                cells = [facts[i].position for i in members]
                candidates += [(category, i, {"position": facts[i].position}) for i in members
                               if cells.count(facts[i].position) == 1]
            elif kind == "size" and len(members) >= 2:
                candidates += self._extremes(category, members, facts)
            elif kind == "relation" and len(members) >= 2:
                candidates += self._relations(category, members, facts, by_class, image)
        if not candidates:
            return None
        category, target, extra = self._pick(candidates)
        question = self.question(kind, **self.fields(category), **extra)
        return self._query(image, kind, category, [(objects[target], facts[target])], str(target), question)

    @staticmethod
    def _extremes(category: str, members: list[int], facts: list[ObjectFacts]) -> list:
        by_area = sorted(members, key=lambda i: facts[i].area)
        out = []
        if facts[by_area[-1]].area > SIMILAR_SIZE * facts[by_area[-2]].area:
            out.append((category, by_area[-1], {"extreme": "largest"}))
        if facts[by_area[0]].area * SIMILAR_SIZE < facts[by_area[1]].area:
            out.append((category, by_area[0], {"extreme": "smallest"}))
        return out

    @staticmethod
    def _relations(category, members, facts, by_class, image) -> list:
        out = []
        for other, anchors in sorted(by_class.items()):
            if other == category or len(anchors) != 1:
                continue
            anchor = facts[anchors[0]]
            directions = [relation_fields(facts[i], anchor, image.width, image.height)["direction"] for i in members]
            out += [(category, i, {"direction": d, "reference": other}) for i, d in zip(members, directions)
                    if directions.count(d) == 1]
        return out

    @staticmethod
    def _query(image: AnnotatedImage, kind: str, category: str, targets: list, suffix: str, question: str) -> dict:
        """A record's parts: question, answer (the targets top to bottom), masks, kind and class."""
        ordered = sorted(targets, key=lambda target: (target[1].centre[1], target[1].centre[0]))
        answer = "\n".join(instance_answer(obj.category, fact.position) for obj, fact in ordered) or NO_INSTANCE
        return {"kind": kind, "class": category, "suffix": f"{kind}{suffix}", "question": question,
                "answer": answer, "masks": [box_mask(obj, image.width, image.height) for obj, _ in ordered]}


__all__ = ["NEGATIVE_KINDS", "NEGATIVE_SHARE", "QUERY_KINDS", "QUESTIONS", "SINGLE_KINDS", "ReferringBuilder", "box_mask",
           "reading_order"]
