"""What one input of `pipeline("visual-prompting")` says: its image, its prompts and its instruction, from call
arguments, a dict item or a chat; and the numbering of lists, datasets and generators (errors name `images[i]`, and a
batch's per-image arguments take their i-th entry).

Part of the pipeline's remote code in saved checkpoints (copied next to `visual_prompting.py`): it imports nothing
from `earthgptx_hf`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from transformers.utils.chat_template_utils import Chat

TASK_SHORTCUTS = ("classify", "caption", "detailed_caption", "relation", "segment")

# The instructions the shortcuts pick (the first paraphrase of each of the training templates where one exists).
INSTRUCTIONS = {
    ("classify", "regions"): "Please identify the object category of each marked region in the image.",
    ("classify", "image"): "What type of scene is shown in this remote sensing image?",
    ("caption", "region"): "Please provide a brief description of <Region 1>.",
    ("caption", "regions"): "Please provide a brief description of each marked region.",
    ("caption", "image"): "Describe this image briefly.",
    ("detailed_caption", "region"): "Please describe <Region 1> in detail.",
    ("detailed_caption", "regions"): "Please describe each marked region in detail.",
    ("detailed_caption", "image"): "Describe this image in detail.",
    ("relation", "regions"): "What is the relationship between <Region 1> and <Region 2>?",
    ("segment", "region"): "Please segment the object in <Region 1>.",
    ("segment", "regions"): "Please segment the objects in {regions}.",
}
ITEM_KEYS = ("prompts", "points", "boxes", "text", "task", "modality")  # per call, per image of a batch, or per item
_PER_IMAGE_LISTS = ("prompts", "points", "boxes")  # a list already for one image: a batch needs a list of them


def coordinates(value, size: int, name: str) -> list[list[float]]:
    """`[x, y]` or `[[x, y], ...]` (size 2), `[x1, y1, x2, y2]` or a list of them (size 4)."""
    array = np.asarray(value, dtype=float) if value is not None else np.zeros((0, size))
    if array.ndim == 1 and array.shape[0] == size:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != size or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a list of {'[x, y] points' if size == 2 else '[x1, y1, x2, y2] boxes'} in "
                         f"pixels, got {value!r}.")
    return array.tolist()


@dataclass(frozen=True)
class Item:
    """One input of a list, dataset or generator, with its position (errors name `images[i]`; per-image call
    arguments take their i-th entry). `count` is None for generators."""

    value: object
    index: int
    count: int | None


class Numbered:
    """A sized input (list, `KeyDataset`, ...) whose items know their index; picklable for DataLoader workers."""

    def __init__(self, inputs):
        self.inputs = inputs

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        return Item(self.inputs[index], index, len(self.inputs))


def numbered_stream(inputs):
    for index, value in enumerate(inputs):
        yield Item(value, index, None)


def for_image(value, name: str, index: int | None, count: int | None):
    """A call argument's value for image `index` of a batch (the value itself for a single input)."""
    if value is None or index is None or (name not in _PER_IMAGE_LISTS and isinstance(value, str)):
        return value
    if not isinstance(value, Sequence) or isinstance(value, str) or (count is not None and len(value) != count) \
            or index >= len(value):
        size = f" of length {len(value)}" if isinstance(value, Sequence) else ""
        images = f"{count} images" if count is not None else f"at least {index + 1} images"
        raise ValueError(f"{name} must give one entry per image ({images}) when several images are passed, got "
                         f"{type(value).__name__}{size}.")
    return value[index]


def fields_of(value, call: dict, where: str) -> tuple[dict, list | None]:
    """One input's image and per-item arguments (`call` holds the call's, already taken for this image), and its
    messages when it is a chat (else None). A dict item's own values replace the call's; its `text` or `task`
    replaces both of the call's (one instruction)."""
    if isinstance(value, Chat):
        return _chat_fields(value.messages, call, where), value.messages
    if not isinstance(value, Mapping):
        return {**call, "image": value}, None
    unknown = sorted(set(value) - {"image", *ITEM_KEYS})
    if unknown or "image" not in value:
        raise ValueError(f"{where} is a dict with keys {sorted(value)}: it needs 'image' and may have "
                         f"{list(ITEM_KEYS)} (a chat is a list of {{'role', 'content'}} messages).")
    own = {key: item for key, item in value.items() if item is not None}
    if "text" in own or "task" in own:
        call = {key: item for key, item in call.items() if key not in ("text", "task")}
    return {**call, **own}, None


def _chat_fields(messages: list, call: dict, where: str) -> dict:
    """The image and the prompts of a chat's content items (the text is the chat itself)."""
    given = sorted(key for key in ("prompts", "points", "boxes", "text", "task") if call.get(key) is not None)
    if given:
        raise ValueError(f"{given} cannot be combined with a chat ({where}): put the instruction in the messages "
                         "and the prompts in a {'type': 'visual_prompts', 'visual_prompts': [...]} content item.")
    images, prompts = [], []
    for message in messages:
        content = message.get("content")
        for item in content if isinstance(content, list) else []:
            if item.get("type") == "image":
                images.append(next((item[key] for key in ("image", "url", "path") if key in item), None))
                prompts += list(item.get("visual_prompts") or [])
            elif item.get("type") == "visual_prompts":
                prompts += list(item.get("visual_prompts") or [])
    if len(images) != 1 or images[0] is None:
        raise ValueError(f"The chat ({where}) must hold exactly one {{'type': 'image', 'image' | 'url' | 'path': "
                         f"...}} content item (EarthGPT-X answers about one image), found {len(images)}"
                         + (" without an image" if images and images[0] is None else "") + ".")
    return {"image": images[0], "prompts": prompts, "modality": call.get("modality")}


def collect_prompts(fields: dict, where: str) -> list:
    """`prompts`, then `points`, then `boxes`, as prompt dicts (validated later by the image processor)."""
    prompts = fields.get("prompts")
    if prompts is not None and (isinstance(prompts, Mapping) or not isinstance(prompts, Sequence)):
        raise TypeError(f"prompts for {where} must be a list of prompt dicts, got {type(prompts).__name__}.")
    prompts = list(prompts or [])
    prompts += [{"type": "point", "point": p} for p in coordinates(fields.get("points"), 2, "points")]
    prompts += [{"type": "box", "bbox": b} for b in coordinates(fields.get("boxes"), 4, "boxes")]
    return prompts


def task_of(fields: dict, prompts: list) -> str | None:
    """The task shortcut a call asks for (`task=`, else classify with prompts and caption without); None for `text=`,
    a free instruction."""
    if fields.get("text") is not None:
        return None
    return fields.get("task") or ("classify" if prompts else "caption")


def instruction(fields: dict, prompts: list, width: int, height: int, where: str) -> tuple[str, list]:
    """The instruction (`text`, or the `task` shortcut's) and the prompts (the whole-image box for image-level tasks
    without prompts)."""
    text, task = fields.get("text"), fields.get("task")
    if text is not None and task is not None:
        raise ValueError("Pass either text= (your instruction) or task= (a shortcut), not both.")
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text for {where} must be a non-empty string, got {text!r}.")
        return text, prompts
    task = task_of(fields, prompts)
    if task not in TASK_SHORTCUTS:
        raise ValueError(f"task={task!r} is not one of {list(TASK_SHORTCUTS)} (or pass text=...).")
    if task == "relation" and len(prompts) != 2:
        raise ValueError(f"task='relation' needs exactly 2 prompts for {where}, got {len(prompts)}.")
    if task == "segment" and not prompts:
        raise ValueError(f"task='segment' needs at least one prompt (points=, boxes= or prompts=) for {where}.")
    if not prompts:  # image-level: the whole-image box, as in training
        return INSTRUCTIONS[(task, "image")], [{"type": "box", "bbox": [0, 0, width, height]}]
    key = (task, "region") if len(prompts) == 1 and (task, "region") in INSTRUCTIONS else (task, "regions")
    regions = [f"<Region {i + 1}>" for i in range(len(prompts))]
    listed = ", ".join(regions[:-1]) + f" and {regions[-1]}" if len(regions) > 1 else regions[0]
    return INSTRUCTIONS[key].format(regions=listed), prompts


__all__ = ["task_of", "TASK_SHORTCUTS", "INSTRUCTIONS", "ITEM_KEYS", "Item", "Numbered", "numbered_stream", "for_image",
           "fields_of", "collect_prompts", "instruction", "coordinates"]
