"""`pipeline("visual-prompting")`: an image (optical, SAR, infrared), visual prompts and an instruction in; the answer,
one answer per prompted region and the `[PIX]` masks out.

    from transformers import pipeline
    import earthgptx_hf  # registers the task; or load a saved checkpoint with trust_remote_code=True

    pipe = pipeline("visual-prompting", model="path/or/hub-id")
    pipe("scene.png", boxes=[[10, 20, 60, 80]], task="classify")
    # [{"generated_text": "<Region 1>: ship", "regions": [{"index": 1, "prompt": {...}, "answer": "ship"}],
    #   "masks": [], "input_text": "USER: ..."}]
    pipe(["a.png", sar_array], points=[[[30, 40]], [[5, 5], [60, 12]]], task="segment", max_new_tokens=16)

This file is also the pipeline's remote code in saved checkpoints: it imports nothing from `earthgptx_hf`.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image
from transformers import GenerationConfig, Pipeline

from .image_loading import (
    _positive_int,
    check_max_download_bytes,
    check_timeout,
    download,
    load_pipeline_image,
)

TASK = "visual-prompting"
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
GENERATION_KEYS = frozenset(k for k in vars(GenerationConfig()) if not k.startswith("_")) | {"generation_config"}
def _is_image(value) -> bool:
    return isinstance(value, (str, os.PathLike, Image.Image, np.ndarray)) or hasattr(value, "detach")


def check_batch_size(batch_size) -> int:
    """`batch_size` (None: 1), or a ValueError naming it."""
    if batch_size is None:
        return 1
    return _positive_int(batch_size, "batch_size", "images per generate() call")


def _finite_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number (a mask logit threshold, default 0.0).")
    return float(value)


def pix_owners(text: str) -> list[int | None]:
    """For every `[PIX]` in `text`, the region it belongs to: the last `<Region i>` before it on the same line
    ("<Region 2>: [PIX]" -> 2), or None."""
    owners, current = [], None
    for match in re.finditer(r"<Region\s*(\d+)>|\[PIX\]|\n", text):
        if match.group(0) == "\n":
            current = None
        elif match.group(1):
            current = int(match.group(1))
        else:
            owners.append(current)
    return owners


def model_input_dtype(model):
    """The dtype the model's float inputs take: that of its (never quantised) input embeddings, so that bf16 models
    get bf16 pixels and bitsandbytes-quantised ones full-precision pixels."""
    return model.get_input_embeddings().weight.dtype


def _image_size(image) -> tuple[int, int]:
    """(width, height)"""
    if isinstance(image, Image.Image):
        return image.size
    shape = tuple(image.shape)
    if len(shape) < 2:  # not an image: the image processor refuses it with its message
        return 0, 0
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):  # channels first
        return shape[2], shape[1]
    return shape[1], shape[0]


def _per_image(value, count: int, batched: bool, name: str) -> list:
    """Splits a per-call argument into one entry per image (the value itself for a single image)."""
    if value is None:
        return [None] * count
    if not batched:
        return [value]
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != count:
        raise ValueError(f"{name} must give one entry per image ({count} images) when a list of images is passed, "
                         f"got {type(value).__name__}"
                         + (f" of length {len(value)}" if isinstance(value, Sequence) else "") + ".")
    return list(value)


def _coordinates(value, size: int, name: str) -> list[list[float]]:
    """`[x, y]` or `[[x, y], ...]` (size 2), `[x1, y1, x2, y2]` or a list of them (size 4)."""
    array = np.asarray(value, dtype=float) if value is not None else np.zeros((0, size))
    if array.ndim == 1 and array.shape[0] == size:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != size or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a list of {'[x, y] points' if size == 2 else '[x1, y1, x2, y2] boxes'} in "
                         f"pixels, got {value!r}.")
    return array.tolist()


class VisualPromptingPipeline(Pipeline):
    """Visual prompting with EarthGPT-X.

    Call arguments:
        images: one image or a list: PIL image, path, http(s) URL, numpy array (H, W), (H, W, C) incl. uint16 SAR, or
            torch tensor.
        prompts: SPEC prompt dicts (`{"type": "box", "bbox": [...]}` etc.): a list for one image, a list of lists for a
            batch.
        points / boxes: shorthands, `[[x, y], ...]` / `[[x1, y1, x2, y2], ...]` (per image for a batch); the prompts
            are numbered `prompts`, then `points`, then `boxes`.
        text: the instruction (one, or one per image); it goes through the model's chat template.
        task: instead of `text`, one of `classify` (each region's category; the scene without prompts), `caption`,
            `detailed_caption` (a region, or the whole image without prompts), `relation` (two regions), `segment`
            (a `[PIX]` mask per region). Default: `classify` with prompts, `caption` without.
        modality: "optical" | "sar" | "infrared" (one, or one per image), stated in the text when given.
        mask_threshold: logit threshold of the masks (0.0); a finite number.
        batch_size: images per `generate()` call, a whole number at least 1.
        timeout: total deadline in seconds for downloading one URL image (connection, headers and body), 30 s.
        max_download_bytes: the largest URL image, in bytes (64 MiB); a larger Content-Length is refused before the
            body is read, and the bytes are counted while streaming.
        generation parameters (`max_new_tokens`, `num_beams`, `do_sample`, `generation_config`, ...) go to
            `generate()`; greedy decoding with `max_new_tokens=64` by default.

    Returns:
        For one image, a list with one dict per returned sequence; for a list of images, a list of such lists. A dict
        holds `generated_text`, `regions` (`[{"index", "prompt", "answer", "mask"}]`; `mask` is the region's
        `[PIX]` mask when the answer has "<Region i>: [PIX]", else None), `masks` (PIL "L" images at the original
        size, one per `[PIX]`, in order) and `input_text` (the rendered prompt).
    """

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False
    _pipeline_calls_generate = True
    _default_generation_config = GenerationConfig(max_new_tokens=64, do_sample=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._batch_size is not None:
            self._batch_size = check_batch_size(self._batch_size)
        if self.processor is None:
            raise ValueError("The visual-prompting pipeline needs the model's processor (EarthGPTXProcessor): pass "
                             "processor=... or load from a checkpoint folder that has processor_config.json.")

    def _sanitize_parameters(self, mask_threshold=None, timeout=None, max_download_bytes=None, generate_kwargs=None,
                             **kwargs):
        unknown = sorted(set(kwargs) - GENERATION_KEYS)
        if unknown:
            raise TypeError(f"visual-prompting pipeline got unexpected argument(s) {unknown}; valid: images, prompts, "
                            "points, boxes, text, task, modality, mask_threshold, batch_size, timeout, "
                            "max_download_bytes and generation parameters.")
        forward = {"generate_kwargs": {**(generate_kwargs or {}), **kwargs}}
        postprocess = {} if mask_threshold is None else {"mask_threshold": _finite_number(mask_threshold,
                                                                                          "mask_threshold")}
        preprocess = {}
        if timeout is not None:
            preprocess["timeout"] = check_timeout(timeout)
        if max_download_bytes is not None:
            preprocess["max_download_bytes"] = check_max_download_bytes(max_download_bytes)
        return preprocess, forward, postprocess

    # -----------------------------------------------------------------------------------------------------------------
    def __call__(self, images, prompts=None, *, text=None, task=None, points=None, boxes=None, modality=None,
                 batch_size: int | None = None, **kwargs):
        batched = isinstance(images, (list, tuple))
        if batched and not images:
            raise ValueError("images is an empty list.")
        image_list = list(images) if batched else [images]
        count = len(image_list)
        if text is not None and task is not None:
            raise ValueError("Pass either text= (your instruction) or task= (a shortcut), not both.")
        texts = [text] * count if isinstance(text, str) or text is None else _per_image(text, count, batched, "text")
        tasks = [task] * count if isinstance(task, str) or task is None else _per_image(task, count, batched, "task")
        modalities = [modality] * count if isinstance(modality, str) or modality is None else \
            _per_image(modality, count, batched, "modality")
        prompt_lists = _per_image(prompts, count, batched, "prompts")
        point_lists = _per_image(points, count, batched, "points")
        box_lists = _per_image(boxes, count, batched, "boxes")
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        preprocess_params = {**self._preprocess_params, **preprocess_params}
        forward_params = {**self._forward_params, **forward_params}
        postprocess_params = {**self._postprocess_params, **postprocess_params}
        items = [
            {"image": image_list[i], "prompts": prompt_lists[i], "points": point_lists[i], "boxes": box_lists[i],
             "text": texts[i], "task": tasks[i], "modality": modalities[i], "where": f"images[{i}]" if batched else
             "images"}
            for i in range(count)
        ]
        size = check_batch_size(batch_size if batch_size is not None else self._batch_size)
        results = []
        for start in range(0, count, size):
            model_inputs = self.preprocess(items[start : start + size], **preprocess_params)
            model_outputs = self.forward(model_inputs, **forward_params)
            results += self.postprocess(model_outputs, **postprocess_params)
        self.call_count += 1
        return results if batched else results[0]

    # -----------------------------------------------------------------------------------------------------------------
    def _instruction(self, item: dict, prompts: list, width: int, height: int) -> tuple[str, list]:
        if item["text"] is not None:
            if not isinstance(item["text"], str) or not item["text"].strip():
                raise ValueError(f"text for {item['where']} must be a non-empty string, got {item['text']!r}.")
            return item["text"], prompts
        task = item["task"] or ("classify" if prompts else "caption")
        if task not in TASK_SHORTCUTS:
            raise ValueError(f"task={task!r} is not one of {list(TASK_SHORTCUTS)} (or pass text=...).")
        if task == "relation" and len(prompts) != 2:
            raise ValueError(f"task='relation' needs exactly 2 prompts for {item['where']}, got {len(prompts)}.")
        if task == "segment" and not prompts:
            raise ValueError(f"task='segment' needs at least one prompt (points=, boxes= or prompts=) for "
                             f"{item['where']}.")
        if not prompts:  # image-level: the whole-image box, as in training
            return INSTRUCTIONS[(task, "image")], [{"type": "box", "bbox": [0, 0, width, height]}]
        key = (task, "region") if len(prompts) == 1 and (task, "region") in INSTRUCTIONS else (task, "regions")
        regions = [f"<Region {i + 1}>" for i in range(len(prompts))]
        listed = ", ".join(regions[:-1]) + f" and {regions[-1]}" if len(regions) > 1 else regions[0]
        return INSTRUCTIONS[key].format(regions=listed), prompts

    def preprocess(self, items: list[dict], timeout=None, max_download_bytes=None):
        images, texts, all_prompts, modalities = [], [], [], []
        max_pixels = getattr(getattr(self.processor, "image_processor", None), "max_pixels", None)
        for item in items:
            image = load_pipeline_image(item["image"], timeout, item["where"], max_download_bytes=max_download_bytes,
                                        max_pixels=max_pixels)
            width, height = _image_size(image)
            prompts = item["prompts"]
            if prompts is not None and (isinstance(prompts, Mapping) or not isinstance(prompts, Sequence)):
                raise TypeError(f"prompts for {item['where']} must be a list of prompt dicts, got "
                                f"{type(prompts).__name__}.")
            prompts = list(prompts or [])
            prompts += [{"type": "point", "point": p} for p in _coordinates(item["points"], 2, "points")]
            prompts += [{"type": "box", "bbox": b} for b in _coordinates(item["boxes"], 4, "boxes")]
            instruction, prompts = self._instruction(item, prompts, width, height)
            conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]
            texts.append(self.processor.apply_chat_template(conversation, add_generation_prompt=True))
            images.append(image)
            all_prompts.append(prompts)
            modalities.append(item["modality"])
        inputs = self.processor(images=images, text=texts, visual_prompts=all_prompts, modality=modalities,
                                return_tensors="pt")
        return {"inputs": inputs, "prompts": all_prompts, "texts": texts}

    def _forward(self, model_inputs, generate_kwargs=None):
        inputs = model_inputs["inputs"]
        dtype = model_input_dtype(self.model)
        model_kwargs = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in inputs.items()}
        generate_kwargs = self._prepare_generate_kwargs(dict(generate_kwargs or {}), return_dict_in_generate=True)
        outputs = self.model.generate(**model_kwargs, **generate_kwargs)
        return {**model_inputs, "outputs": outputs}

    def postprocess(self, model_outputs, mask_threshold: float = 0.0):
        inputs = model_outputs["inputs"]
        decoded = self.processor.post_process_generation(model_outputs["outputs"], inputs, mask_threshold)
        per_image = len(decoded) // len(model_outputs["prompts"])
        results = []
        for image_index, (prompts, text) in enumerate(zip(model_outputs["prompts"], model_outputs["texts"])):
            sequences = []
            for row in decoded[image_index * per_image : (image_index + 1) * per_image]:
                masks = [Image.fromarray(np.asarray(m, np.uint8) * 255) for m in row["masks"]]  # mode "L"
                region_masks = {}
                for owner, mask in zip(pix_owners(row["text"]), masks):
                    region_masks.setdefault(owner, mask)
                sequences.append({
                    "generated_text": row["text"],
                    "regions": [{"index": i + 1, "prompt": p, "answer": row["regions"].get(i + 1),
                                 "mask": region_masks.get(i + 1)} for i, p in enumerate(prompts)],
                    "masks": masks,
                    "input_text": text,
                })
            results.append(sequences)
        return results

    def save_pretrained(self, save_directory, **kwargs):
        """The model (with this pipeline's code and `custom_pipelines` in its config when registered) and the
        processor."""
        super().save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)


__all__ = ["VisualPromptingPipeline", "TASK", "TASK_SHORTCUTS", "INSTRUCTIONS", "load_pipeline_image", "download",
           "model_input_dtype", "pix_owners"]
