"""What a scene's annotations say, in words: the ground truth of the image- and region-level text tasks.

An annotated image (a procedural scene, or any image whose objects have boxes and, better, masks) knows its modality,
its objects' classes, positions, sizes, orientations and masks, and their pairwise layout. The answers of the text
tasks are written from those facts, each with several templates so that the metrics do not reward one memorised
string; every template's rendering of the same facts is a valid reference (`references`), which the caption metrics
score against together.

| task | facts used |
|---|---|
| `scene` | the classes of the objects: a class holding more than half of them names the scene (`SCENE_TYPES`), else "mixed area" |
| `caption` (brief) | the modality, the scene class, the count of objects per class |
| `detailed_caption` | the same, plus each object's class and position (3 x 3 grid of the image), top to bottom |
| `region_caption` | the object's class, size band, orientation and position |
| `relation` | the pair's classes and positions, the direction from the first to the second (the relation word), their distance band and their relative size |

Size bands are areas relative to the image (`SIZE_BANDS`); orientation is the main axis of the mask (of the box
without one), in four directions, or none for round objects; distance bands split centre distances at a quarter of
the image diagonal; relative size compares areas at a ratio of 1.5.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..models.earthgptx.visual_prompts import rle_to_mask
from .annotations import AnnotatedImage, ObjectAnnotation

# a class that holds more than half of a scene's objects names the scene
SCENE_TYPES = {"ship": "harbor", "storage tank": "oil depot", "vehicle": "parking lot", "building": "residential area",
               "airplane": "airport"}
MIXED_SCENE = "mixed area"
# (upper bound of the object's area as a fraction of the image's, band); the last band has no bound
SIZE_BANDS = ((0.004, "small"), (0.012, "medium"), (math.inf, "large"))
ROUND = 1.5  # a main axis less than 1.5 times the cross axis has no orientation
NEAR = 0.25  # centre distance below a quarter of the image diagonal: "close to"
SIMILAR_SIZE = 1.5  # area ratio under which two objects are "about the same size"
DIRECTIONS = ("to the left of", "to the right of", "above", "below")
RELATION_WORD = re.compile("|".join(re.escape(d) for d in DIRECTIONS))
ORIENTATIONS = {"horizontal": "oriented horizontally", "vertical": "oriented vertically",
                "falling": "oriented from upper left to lower right", "rising": "oriented from lower left to upper right"}
MODALITY_WORDS = {"optical": "optical", "sar": "SAR", "infrared": "infrared"}
NUMBERS = ("no", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class ObjectFacts:
    category: str
    bbox: tuple[float, float, float, float]
    centre: tuple[float, float]
    area: float  # pixels of the mask (of the box without one)
    size: str  # SIZE_BANDS
    orientation: str | None  # ORIENTATIONS' keys, None for round objects
    position: str  # "upper left" ... "center" ... "lower right"


def _axes(obj: ObjectAnnotation) -> tuple[float, float, float, float]:
    """(area, main-axis angle in image coordinates (y down), main-axis spread, cross-axis spread)."""
    if obj.mask is not None:
        rows, cols = np.nonzero(rle_to_mask(obj.mask))
        if rows.size >= 3:
            points = np.stack([cols, rows]).astype(float)
            values, vectors = np.linalg.eigh(np.cov(points))
            main = vectors[:, 1]
            return float(rows.size), math.atan2(main[1], main[0]), float(values[1]), float(max(values[0], 1e-9))
    x1, y1, x2, y2 = obj.bbox
    width, height = max(x2 - x1, 1e-9), max(y2 - y1, 1e-9)
    angle = 0.0 if width >= height else math.pi / 2
    return width * height, angle, max(width, height) ** 2, min(width, height) ** 2


def position_phrase(box, width: int, height: int) -> str:
    """"top left", "top", ..., "center", ..., "bottom right": where the box centre falls in a 3 x 3 grid of the image
    (said as "at the <position>")."""
    cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
    row = ("top", "middle", "bottom")[min(2, max(0, int(cy * 3)))]
    col = ("left", "center", "right")[min(2, max(0, int(cx * 3)))]
    if row == "middle":
        return "center" if col == "center" else col
    return row if col == "center" else f"{row} {col}"


def _orientation(angle: float, spread: float, cross: float) -> str | None:
    if math.sqrt(spread / cross) < ROUND:
        return None
    degrees = math.degrees(angle) % 180  # an axis, not a direction
    if degrees < 22.5 or degrees >= 157.5:
        return "horizontal"
    if 67.5 <= degrees < 112.5:
        return "vertical"
    return "falling" if degrees < 90 else "rising"  # y grows downwards


def object_facts(obj: ObjectAnnotation, width: int, height: int) -> ObjectFacts:
    area, angle, spread, cross = _axes(obj)
    fraction = area / float(width * height)
    size = next(band for bound, band in SIZE_BANDS if fraction < bound)
    x1, y1, x2, y2 = (float(v) for v in obj.bbox)
    return ObjectFacts(obj.category, (x1, y1, x2, y2), ((x1 + x2) / 2, (y1 + y2) / 2), area, size,
                       _orientation(angle, spread, cross), position_phrase(obj.bbox, width, height))


def scene_class(categories: list[str]) -> str:
    """The scene named by a class holding more than half of the objects (`SCENE_TYPES`), else `MIXED_SCENE`."""
    for category, scene in SCENE_TYPES.items():
        if categories and categories.count(category) * 2 > len(categories):
            return scene
    return MIXED_SCENE


def plural(noun: str) -> str:
    """"ships", "buses": the English plural of a class name's last word (regular forms only)."""
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _plural(category: str, count: int) -> str:
    if count == 1:
        return with_article(category)
    return f"{NUMBERS[count] if count < len(NUMBERS) else count} {plural(category)}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def with_article(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


def counted_objects(facts: list[ObjectFacts]) -> str:
    """"two ships, a storage tank and a vehicle": classes by count, then by name."""
    counts = {}
    for fact in facts:
        counts[fact.category] = counts.get(fact.category, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return _join([_plural(category, count) for category, count in ordered]) if ordered else "no objects"


def _located(fact: ObjectFacts) -> str:
    return f"{with_article(fact.category)} at the {fact.position}"


CAPTION_TEMPLATES = (
    "{article_modality} image of {article_scene} with {objects}.",
    "{article_scene_cap} in {article_modality} image, with {objects}.",
    "{objects_cap} in {article_modality} image of {article_scene}.",
)
DETAILED_CAPTION_TEMPLATES = (
    "This {modality} image shows {article_scene} with {count} objects: {located}.",
    "{article_modality_cap} view of {article_scene} containing {objects}. From top to bottom: {located}.",
    "The {modality} image contains {count} objects in {article_scene}: {located}.",
)
REGION_CAPTION_TEMPLATES = (
    "{article_size} {category}{orientation} at the {position} of the image.",
    "{size_cap} {category}{orientation}, at the {position}.",
    "The region holds {article_size} {category}{orientation}, located at the {position}.",
)
# Each region's position is said before the direction: the direction then follows from two words the answer has
# already written, which the small models here learn, where comparing two region features inside the network they
# did not (relation-word accuracy at chance; docs/training.md)
RELATION_TEMPLATES = (
    "The {a} in <Region 1> at the {a_position} is {direction} the {b} in <Region 2> at the {b_position}, {distance} "
    "it, and {relative} it.",
    "<Region 1> ({a}, {a_position}) is {direction} <Region 2> ({b}, {b_position}); it is {distance} it and "
    "{relative} it.",
    "{a_cap} in <Region 1> at the {a_position}: {direction} the {b} in <Region 2> at the {b_position}, {distance} "
    "it, {relative} it.",
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def caption_fields(image: AnnotatedImage, facts: list[ObjectFacts]) -> dict:
    modality = MODALITY_WORDS.get(image.modality, image.modality)
    scene = scene_class([fact.category for fact in facts])
    objects = counted_objects(facts)
    ordered = sorted(facts, key=lambda fact: (fact.centre[1], fact.centre[0]))
    return {"modality": modality, "article_modality": with_article(modality), "article_modality_cap": _cap(with_article(modality)),
            "article_scene": with_article(scene), "article_scene_cap": _cap(with_article(scene)), "objects": objects,
            "objects_cap": _cap(objects), "count": NUMBERS[len(facts)] if len(facts) < len(NUMBERS) else len(facts),
            "located": _join([_located(fact) for fact in ordered]) if ordered else "nothing"}


def region_fields(fact: ObjectFacts) -> dict:
    orientation = "" if fact.orientation is None else " " + ORIENTATIONS[fact.orientation]
    return {"article_size": with_article(fact.size), "size_cap": _cap(fact.size), "category": fact.category,
            "orientation": orientation, "position": fact.position}


def relation_fields(a: ObjectFacts, b: ObjectFacts, width: int, height: int) -> dict:
    dx, dy = b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]
    if abs(dx) >= abs(dy):
        direction = "to the left of" if dx > 0 else "to the right of"
    else:
        direction = "above" if dy > 0 else "below"
    distance = "close to" if math.hypot(dx, dy) < NEAR * math.hypot(width, height) else "far from"
    ratio = a.area / max(b.area, 1e-9)
    relative = "larger than" if ratio > SIMILAR_SIZE else "smaller than" if ratio < 1 / SIMILAR_SIZE else \
        "about the same size as"
    return {"a": a.category, "a_cap": _cap(with_article(a.category)), "b": b.category, "direction": direction,
            "distance": distance, "relative": relative, "a_position": a.position, "b_position": b.position}


def render(templates, fields: dict) -> list[str]:
    """Every template of a task rendered with the same facts: the references of that answer."""
    return [_cap(template.format(**fields)) for template in templates]


def relation_word(text: str) -> str | None:
    """The direction a relation answer states first ("to the left of", ...), or None."""
    match = RELATION_WORD.search(text)
    return None if match is None else match.group(0)


__all__ = ["CAPTION_TEMPLATES", "DETAILED_CAPTION_TEMPLATES", "DIRECTIONS", "MIXED_SCENE", "REGION_CAPTION_TEMPLATES",
           "RELATION_TEMPLATES", "SCENE_TYPES", "ObjectFacts", "caption_fields", "counted_objects", "object_facts",
           "plural", "position_phrase", "region_fields", "relation_fields", "relation_word", "render", "scene_class", "with_article"]
