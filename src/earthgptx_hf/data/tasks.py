"""Task builders: `AnnotatedImage`s -> M-RSVP records (SPEC section 4) with paraphrase templates.

Record:
    {"id", "image", "modality", "width", "height", "source", "task",
     "prompts": [prompt dicts], "conversations": [{"from": "user"|"model", "value": str}, ...],
     "masks": [RLE or None per prompt], "pix_targets": [region index (1-based) of each [PIX] in the answers],
     "text_source": "template" | "human"}

`text_source` says whether the answers were written by people (captions, referring expressions) or generated from
templates and labels; instructions always come from the templates below.

Tasks:
- `classification`: referring object classification; up to `max_regions` objects per record (several records for
  crowded images); prompt type box, point, free-form or mask (the object's mask, its box when it has none); answer
  "<Region 1>: label" per line.
- `region_caption`: the referring expression when people wrote one, else the object's facts in words
  (`scene_facts`: size, orientation, position; three templates, all of them the record's `references`).
- `scene`: scene classification with the image-level box [0, 0, W, H]: people's label, or (procedural scenes, or
  `describe_scenes=True`) the class named by the objects (`scene_facts.scene_class`).
- `caption`: brief captioning with the image-level box; one record per human caption, or (as for `scene`) one
  written from the facts.
- `detailed_caption`: as `caption`, with every object's position (from the facts only).
- `relation`: relationship analysis of two regions, from their facts (positions, direction, distance, size).
- `conversation`: two to four turns about one image (`conversations.py`): classify, then follow-ups.
- `referring`: text-referring grounding without a visual prompt (`referring.py`): "Segment every ship." answered
  "ship at the top left[PIX]" per instance or "none"; expressions from the facts (as for `scene`) and from people.
- `grounding`: pixel grounding, answered "<Region 1>[PIX]", for every object that has a mask. With
  `grounding_regions` (e.g. (1, 2, 3)) the objects with masks of an image are split, in a seeded random order, into
  questions about several regions at once: each record's region count is drawn uniformly from the sizes that the
  objects still left allow, and answered one line per region, "<Region 1>[PIX]\n<Region 2>[PIX]", with `pix_targets`
  [1, 2, ...] in that reading order (one gt mask per [PIX]). Every object with a mask is asked about once in that
  cut; objects left over when no allowed size fits (sizes "2,3" and one object) are not asked about. When the cut
  holds no question about the largest allowed number of the image's objects, one more record asks about that many.
"""

from __future__ import annotations

import numpy as np

from ..models.earthgptx.conversation import region_tag
from .annotations import AnnotatedImage, ConversionReport, ObjectAnnotation
from .conversations import conversation_turns
from .freeform import box_to_freeform
from .referring import ReferringBuilder
from .scene_facts import (
    CAPTION_TEMPLATES,
    DETAILED_CAPTION_TEMPLATES,
    REGION_CAPTION_TEMPLATES,
    RELATION_TEMPLATES,
    caption_fields,
    object_facts,
    region_fields,
    relation_fields,
    render,
    scene_class,
)

TASKS = ("classification", "region_caption", "scene", "caption", "detailed_caption", "relation", "grounding",
         "conversation", "referring")
# how a record's prompts are sampled (`prompt_type`), not the geometry types of `visual_prompts.PROMPT_TYPES`;
# mask: the object's own mask (a box where it has none); mixed: one of box, point and freeform per record
PROMPT_REGIMES = ("box", "point", "freeform", "mixed", "mask")

TEMPLATES = {
    "classification": [
        "Please identify the object category of each marked region in the image.",
        "What is the category of the object in each marked region?",
        "Classify every region marked in the image.",
        "Name the object inside each visual prompt.",
        "Tell me what each marked region contains.",
    ],
    "region_caption": [
        "Please provide a brief description of <Region 1>.",
        "Describe the object in <Region 1>.",
        "What can you see in <Region 1>? Answer briefly.",
        "Give a short caption of <Region 1>.",
    ],
    "scene": [
        "What type of scene is shown in this remote sensing image?",
        "Classify the scene of the image.",
        "Which scene category does this image belong to?",
    ],
    "caption": [
        "Describe this image briefly.",
        "Please generate a short caption of the image.",
        "Give a one-sentence description of the image.",
    ],
    "detailed_caption": [
        "Describe this image in detail.",
        "Please give a detailed description of the image.",
        "What does this image show? Describe every object and where it is.",
    ],
    "relation": [
        "What is the relationship between <Region 1> and <Region 2>?",
        "How are <Region 1> and <Region 2> placed relative to each other?",
        "Describe the spatial relation of <Region 1> to <Region 2>.",
    ],
    "grounding": [
        "Please segment the object in <Region 1>.",
        "Segment <Region 1> and output its mask.",
        "Can you segment <Region 1> in this image?",
    ],
}
# The mask of region i is answered "<Region i>[PIX]": the position that predicts [PIX] is the <Region i> token itself,
# which carries the region's feature and position, so R_lp reads them from the residual stream. With LISA's "Sure, it
# is [PIX]." (or "<Region 1>: [PIX]") the [PIX] state has to fetch them by attention, and the small models here
# learned masks that ignored the prompt (docs/training.md).
GROUNDING_ANSWERS = ["<Region 1>[PIX]", "Sure, <Region 1>[PIX].", "Here is the mask: <Region 1>[PIX]."]
# Several regions in one question: the same style, one "<Region i>[PIX]" line per region (the processor binds each
# [PIX] to the last <Region i> before it on its line).
GROUNDING_MULTI_TEMPLATES = [
    "Please segment the objects in {regions}.",
    "Segment {regions} and output their masks.",
    "Can you segment {regions} in this image?",
]
GROUNDING_MULTI_ANSWERS = ["{masks}", "Sure, {masks}.", "Here are the masks: {masks}."]


def parse_grounding_regions(value, argument: str = "grounding_regions") -> tuple[int, ...]:
    """`"1,2,3"` (or a sequence of ints) -> `(1, 2, 3)`: the region counts a grounding question may ask for, sorted,
    without repeats. Raises `ValueError` naming `argument` unless every entry is a positive integer."""
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    sizes = []
    for item in items:
        if isinstance(item, bool) or not str(item).isdigit() or int(item) < 1:
            raise ValueError(f"{argument}={value!r}: {item!r} is not a positive integer; give region counts per "
                             "grounding question as positive integers, e.g. '1,2,3'.")
        sizes.append(int(item))
    if not sizes:
        raise ValueError(f"{argument}={value!r} names no region count; give positive integers, e.g. '1,2,3'.")
    return tuple(sorted(set(sizes)))


def _region_list(count: int) -> str:
    """"<Region 1>, <Region 2> and <Region 3>"."""
    names = [region_tag(i + 1) for i in range(count)]
    return names[0] if count == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


class RecordBuilder:
    """Builds records; one builder per dataset so that its random choices are reproducible under `seed`."""

    def __init__(self, tasks=("classification",), prompt_type: str = "mixed", max_regions: int = 8, seed: int = 0,
                 freeform_noise: float = 0.15, grounding_regions=(1,), describe_scenes: bool | None = None,
                 vocabulary=()):
        unknown = set(tasks) - set(TASKS)
        if unknown:
            raise ValueError(f"Unknown tasks {sorted(unknown)}; valid tasks are {list(TASKS)}.")
        if prompt_type not in PROMPT_REGIMES:
            raise ValueError(f"prompt_type={prompt_type!r} is not one of {list(PROMPT_REGIMES)}.")
        self.tasks, self.prompt_type, self.max_regions = tuple(tasks), prompt_type, max_regions
        self.rng = np.random.default_rng(seed)
        self.freeform_noise = freeform_noise
        self.grounding_regions = parse_grounding_regions(grounding_regions)
        self.describe_scenes = describe_scenes
        # the data's classes, which referring negatives ask about: given, and those of every image built
        self.vocabulary: list[str] = sorted(set(vocabulary))
        if "grounding" in self.tasks and self.grounding_regions[-1] > max_regions:
            raise ValueError(f"grounding_regions={grounding_regions!r} asks for {self.grounding_regions[-1]} regions "
                             f"per question but max_regions={max_regions}; give counts of at most {max_regions}.")

    def _template(self, task: str) -> str:
        return self._choice(TEMPLATES[task])

    def _choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def _written(self, templates, fields: dict) -> tuple[str, list[str]]:
        """One template's answer, drawn, and every template's (the references the metrics score it against)."""
        references = render(templates, fields)
        return self._choice(references), references

    def _prompt(self, obj: ObjectAnnotation, image: AnnotatedImage, kind: str) -> dict:
        if obj.point is not None or kind == "point":
            return {"type": "point", "point": obj.point or self._point_on(obj)}
        if kind == "mask" and obj.mask is not None:
            return {"type": "mask", "mask": obj.mask}
        if kind == "freeform":
            return box_to_freeform(obj.bbox, self.rng, image.width, image.height, noise=self.freeform_noise)
        return {"type": "box", "bbox": [round(float(v), 2) for v in obj.bbox]}

    def _point_on(self, obj: ObjectAnnotation) -> list[float]:
        """A point on the object: a mask pixel when there is a mask, else near the box centre."""
        if obj.mask is not None:
            from ..models.earthgptx.visual_prompts import rle_to_mask

            rows, cols = np.nonzero(rle_to_mask(obj.mask))
            if rows.size:
                pick = int(self.rng.integers(rows.size))
                return [float(cols[pick]) + 0.5, float(rows[pick]) + 0.5]
        x1, y1, x2, y2 = obj.bbox
        jitter = self.rng.uniform(-0.2, 0.2, 2)
        return [round((x1 + x2) / 2 + jitter[0] * (x2 - x1), 2), round((y1 + y2) / 2 + jitter[1] * (y2 - y1), 2)]

    def _kind(self) -> str:
        if self.prompt_type == "mixed":
            return ("box", "point", "freeform")[int(self.rng.integers(3))]
        return self.prompt_type

    @staticmethod
    def _record(image: AnnotatedImage, task: str, suffix: str, prompts, question: str, answer: str,
                masks=None, pix_targets=None, text_source: str = "template", references=None,
                conversations=None) -> dict:
        """One record; `conversations` (several turns) replaces the one `question` / `answer` turn pair."""
        extra = {} if references is None else {"references": references}
        if conversations is None:
            conversations = [{"from": "user", "value": question}, {"from": "model", "value": answer}]
        return {**extra,
            "id": f"{image.id}#{task}{suffix}", "image": image.image, "modality": image.modality,
            "width": image.width, "height": image.height, "source": image.source, "task": task,
            "prompts": prompts, "conversations": conversations,
            "masks": masks if masks is not None else [None] * len(prompts), "pix_targets": pix_targets or [],
            "text_source": text_source,
        }

    def build(self, images: list[AnnotatedImage], report: ConversionReport | None = None) -> list[dict]:
        records = []
        if "referring" in self.tasks:  # negatives ask about classes of the data that an image lacks
            self.vocabulary = sorted(set(classes_of(images)) | set(self.vocabulary))
        for image in images:
            records.extend(self.build_one(image))
        if report is not None:
            report.records += len(records)
            report.prompts_emitted += sum(len(r["prompts"]) for r in records)
        return records

    def build_one(self, image: AnnotatedImage) -> list[dict]:
        objects = list(image.objects)
        records = []
        if "classification" in self.tasks and objects:
            records.extend(self._classification(image, objects))
        if "region_caption" in self.tasks:
            records.extend(self._region_captions(image, objects))
        records.extend(self._image_level(image, objects))
        if "relation" in self.tasks and len(objects) >= 2:
            i, j = (int(v) for v in self.rng.choice(len(objects), 2, replace=False))
            kind = self._kind()
            answer, references = self._written(RELATION_TEMPLATES, relation_fields(
                object_facts(objects[i], image.width, image.height), object_facts(objects[j], image.width, image.height),
                image.width, image.height))
            records.append(self._record(image, "relation", f"{i}-{j}", [self._prompt(objects[i], image, kind),
                                                                        self._prompt(objects[j], image, kind)],
                                        self._template("relation"), answer, [objects[i].mask, objects[j].mask],
                                        references=references))
        if "grounding" in self.tasks:
            records.extend(self._grounding(image, objects))
        if "conversation" in self.tasks:
            records.extend(self._conversation(image, objects))
        if "referring" in self.tasks:
            records.extend(self._referring(image, objects))
        return records

    def _classification(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        records = []
        order = self.rng.permutation(len(objects))
        for start in range(0, len(order), self.max_regions):
            chosen = [objects[i] for i in order[start : start + self.max_regions]]
            kind = self._kind()
            prompts = [self._prompt(o, image, kind) for o in chosen]
            answer = "\n".join(f"{region_tag(i + 1)}: {o.category}" for i, o in enumerate(chosen))
            records.append(self._record(image, "classification", f"{start // self.max_regions}:{kind}", prompts,
                                        self._template("classification"), answer, [o.mask for o in chosen]))
        return records

    def _region_captions(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        """The referring expression people wrote, else the object's facts in words (`scene_facts`)."""
        records = []
        for index, obj in enumerate(objects):
            if obj.expression:
                answer, source, references = obj.expression, "human", None
            else:
                fields = region_fields(object_facts(obj, image.width, image.height))
                (answer, references), source = self._written(REGION_CAPTION_TEMPLATES, fields), "template"
            records.append(self._record(image, "region_caption", str(index), [self._prompt(obj, image, self._kind())],
                                        self._template("region_caption"), answer, [obj.mask], text_source=source,
                                        references=references))
        return records

    def _describes(self, image: AnnotatedImage) -> bool:
        """Whether the image's scene class and captions are written from its objects when people wrote none: by
        default for procedural scenes only, whose objects are all there is (`describe_scenes` decides otherwise)."""
        return image.source == "procedural" if self.describe_scenes is None else self.describe_scenes

    def _image_level(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        """Scene class, brief captions and detailed captions, with the image-level box as the prompt."""
        whole = [{"type": "box", "bbox": [0, 0, image.width, image.height]}]
        described = self._describes(image) and objects
        facts = [object_facts(o, image.width, image.height) for o in objects] if described else []
        fields = caption_fields(image, facts) if described else None
        records = []
        scene = image.scene or (scene_class([fact.category for fact in facts]) if described else None)
        if "scene" in self.tasks and scene:
            records.append(self._record(image, "scene", "", whole, self._template("scene"), scene))
        if "caption" in self.tasks:
            for index, caption in enumerate(image.captions):
                records.append(self._record(image, "caption", str(index), whole, self._template("caption"), caption,
                                            text_source="human"))
            if described and not image.captions:
                answer, references = self._written(CAPTION_TEMPLATES, fields)
                records.append(self._record(image, "caption", "", whole, self._template("caption"), answer,
                                            references=references))
        if "detailed_caption" in self.tasks and described:
            answer, references = self._written(DETAILED_CAPTION_TEMPLATES, fields)
            records.append(self._record(image, "detailed_caption", "", whole, self._template("detailed_caption"),
                                        answer, references=references))
        return records

    def _grounding_groups(self, masked: list[int]) -> list[list[int]]:
        """The objects (indices) of each grounding question: one each for sizes (1,), else a seeded random order cut
        into groups whose sizes are drawn uniformly from the allowed sizes that the objects left can fill, plus one
        question about the largest allowed number of the image's objects when the cut made none that large (a cut
        rarely draws the largest size first: without it, questions about many regions would be rare)."""
        if self.grounding_regions == (1,):
            return [[index] for index in masked]
        order = [masked[i] for i in self.rng.permutation(len(masked))]
        groups, left = [], order
        while True:
            allowed = [k for k in self.grounding_regions if k <= len(left)]
            if not allowed:
                break
            size = allowed[int(self.rng.integers(len(allowed)))]
            groups.append(left[:size])
            left = left[size:]
        largest = max((k for k in self.grounding_regions if k <= len(order)), default=1)
        if largest > 1 and all(len(group) < largest for group in groups):
            groups.append([order[i] for i in self.rng.permutation(len(order))[:largest]])
        return groups

    def _grounding(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        records = []
        for group in self._grounding_groups([i for i, o in enumerate(objects) if o.mask is not None]):
            chosen = [objects[i] for i in group]
            if len(chosen) == 1:
                answer = GROUNDING_ANSWERS[int(self.rng.integers(len(GROUNDING_ANSWERS)))]
                kind = self._kind()
                prompts = [self._prompt(chosen[0], image, kind)]
                question = self._template("grounding")
            else:
                masks = "\n".join(f"{region_tag(i + 1)}[PIX]" for i in range(len(chosen)))
                answer = GROUNDING_MULTI_ANSWERS[int(self.rng.integers(len(GROUNDING_MULTI_ANSWERS)))].format(
                    masks=masks)
                kind = self._kind()
                prompts = [self._prompt(o, image, kind) for o in chosen]
                template = GROUNDING_MULTI_TEMPLATES[int(self.rng.integers(len(GROUNDING_MULTI_TEMPLATES)))]
                question = template.format(regions=_region_list(len(chosen)))
            records.append(self._record(image, "grounding", "-".join(map(str, group)), prompts, question, answer,
                                        [o.mask for o in chosen], pix_targets=list(range(1, len(chosen) + 1))))
        return records

    def _conversation(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        """One multi-turn conversation (`conversations.conversation_turns`) about two to four of the image's objects
        (at most `max_regions`), prompted with one prompt type."""
        if len(objects) < 2:
            return []
        count = int(self.rng.integers(2, min(4, len(objects), self.max_regions) + 1))
        chosen = [objects[int(i)] for i in self.rng.permutation(len(objects))[:count]]
        kind = self._kind()
        answers = {"one": GROUNDING_ANSWERS, "questions": GROUNDING_MULTI_TEMPLATES, "several": GROUNDING_MULTI_ANSWERS}
        turns, pix_targets, turn_tasks = conversation_turns(self.rng, image, chosen, TEMPLATES, answers)
        record = self._record(image, "conversation", f":{kind}", [self._prompt(o, image, kind) for o in chosen],
                              None, None, [o.mask for o in chosen], pix_targets=pix_targets, conversations=turns)
        return [{**record, "turn_tasks": turn_tasks}]


    def _referring(self, image: AnnotatedImage, objects: list[ObjectAnnotation]) -> list[dict]:
        """Text queries without prompts (`referring.ReferringBuilder`): people's expressions, and, where the image
        is described from its facts (`_describes`), `every`, single-instance and negative queries (about a class of
        `vocabulary`, which also learns the classes of each image built, as a stream of images gives them)."""
        if not set(o.category for o in objects) <= set(self.vocabulary):
            self.vocabulary = sorted(set(self.vocabulary) | {o.category for o in objects})
        builder = ReferringBuilder(self.rng, self.vocabulary)
        queries = builder.human(image, objects)
        if self._describes(image):
            queries += builder.from_facts(image, objects)
        records = []
        for query in queries:
            record = self._record(image, "referring", query["suffix"], [], query["question"], query["answer"],
                                  query["masks"], pix_targets=list(range(1, len(query["masks"]) + 1)),
                                  text_source="human" if query["kind"] == "human" else "template")
            records.append({**record, "query_kind": query["kind"], "query_class": query["class"]})
        return records


def classes_of(images) -> list[str]:
    """The object classes of `images` (a list; a generator is not consumed: no classes), sorted."""
    return sorted({o.category for image in images for o in image.objects}) if isinstance(images, (list, tuple)) \
        else []


def build_records(images: list[AnnotatedImage], tasks=("classification",), prompt_type: str = "mixed",
                  max_regions: int = 8, seed: int = 0, report: ConversionReport | None = None,
                  grounding_regions=(1,)) -> list[dict]:
    """`RecordBuilder(...).build(images, report)` in one call. `grounding_regions` (region counts per grounding
    question, e.g. (1, 2, 3) or "1,2,3") defaults to the paper's one region per question here; the commands'
    `DataArguments.grounding_regions` default to the mix "1,2,3"."""
    return RecordBuilder(tasks, prompt_type, max_regions, seed, grounding_regions=grounding_regions).build(images,
                                                                                                           report)


__all__ = ["TASKS", "TEMPLATES", "GROUNDING_MULTI_TEMPLATES", "RecordBuilder", "build_records", "classes_of",
           "parse_grounding_regions"]
