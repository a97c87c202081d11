"""`pipeline("visual-prompting")`: an image (optical, SAR, infrared), visual prompts and an instruction in; the answer,
one answer per prompted region and the `[PIX]` masks, with their scores, out.

    from transformers import pipeline
    import earthgptx_hf  # registers the task; or load a saved checkpoint with trust_remote_code=True

    pipe = pipeline("visual-prompting", model="path/or/hub-id")
    pipe("scene.png", boxes=[[10, 20, 60, 80]], task="classify")
    # [{"generated_text": "<Region 1>: ship", "regions": [{"index": 1, "prompt": {...}, "answer": "ship", ...}],
    #   "masks": [], "scores": [], "dropped_masks": 0, "input_text": "USER: ..."}]
    pipe(["a.png", sar_array], points=[[[30, 40]], [[5, 5], [60, 12]]], task="segment", batch_size=2)
    pipe(KeyDataset(dataset, "image"), task="caption", batch_size=8, num_workers=2)  # streams, like every pipeline
    pipe([{"role": "user", "content": [{"type": "image", "url": "https://..."},
                                       {"type": "visual_prompts", "visual_prompts": [{"type": "box", ...}]},
                                       {"type": "text", "text": "What is <Region 1>?"}]}])

`__call__` is `Pipeline.__call__`: lists, generators, datasets, `batch_size` and `num_workers` work as in every
pipeline. `preprocess` fetches one image and renders its prompt; a batch goes through the processor in `_forward`
(the processor owns the padding of views, prompt maps and tokens), then `generate()` and the processor's
post-processing (masks at each image's original size); `postprocess` shapes one image's results.

This file is also the pipeline's remote code in saved checkpoints: it imports nothing from `earthgptx_hf`. The image
rules (layout, opening and decoding files) belong to the image processor, which the pipeline calls.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sized
from dataclasses import dataclass

import numpy as np
from PIL import Image
from transformers import GenerationConfig, Pipeline

from .conversation_cache import Conversation, ConversationCache, conversation_key, reusable_prefix
from .image_loading import (
    _positive_int,
    check_max_download_bytes,
    check_timeout,
    download,
    is_tensor,
    load_pipeline_image,
)
from .pipeline_inputs import (
    INSTRUCTIONS,
    ITEM_KEYS,
    TASK_SHORTCUTS,
    Item,
    Numbered,
    collect_prompts,
    fields_of,
    for_image,
    instruction,
    numbered_stream,
    task_of,
)

TASK = "visual-prompting"
MASK_FORMATS = ("numpy", "pil")

GENERATION_KEYS = frozenset(k for k in vars(GenerationConfig()) if not k.startswith("_")) | {"generation_config"}


def check_batch_size(batch_size) -> int:
    """`batch_size` (None: 1), or a ValueError naming it."""
    if batch_size is None:
        return 1
    return _positive_int(batch_size, "batch_size", "images per generate() call")


def check_num_workers(num_workers) -> int:
    """`num_workers` (None: 0), or a ValueError naming it."""
    if num_workers is None:
        return 0
    return _whole_number(num_workers, "num_workers", "DataLoader processes that fetch and prepare images; 0 prepares "
                         "them in this process")


def _whole_number(value, name: str, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name}={value!r} must be a whole number at least 0 ({meaning}).")
    return int(value)


def _finite_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number (a mask logit threshold, default 0.0).")
    return float(value)


def _optional_bool(value, name: str):
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be True or False.")
    return value


@dataclass
class _Prepared:
    """What `preprocess` hands to `_forward`: one image, ready for the processor, and what `postprocess` needs."""

    image: object
    text: str
    prompts: list
    modality: str | None
    target_size: tuple[int, int]  # (height, width) of the original image
    chat: list | None  # the messages, for chat inputs
    continue_final_message: bool = False
    task: str | None = None  # the task shortcut asked (None: a free instruction or a chat)


class VisualPromptingPipeline(Pipeline):
    """Visual prompting with EarthGPT-X.

    Inputs (the first argument): one image, a list of images, a dataset (`KeyDataset`) or a generator; an item may
    also be a dict with `image` and any of the per-item arguments below, or a chat (a list of `{"role", "content"}`
    messages whose content holds one `{"type": "image", "image" | "url" | "path": ...}` item, optionally a
    `{"type": "visual_prompts", "visual_prompts": [...]}` item, and the text), as in `image-text-to-text`.
    Images: PIL image, path, http(s) URL, numpy array (H, W), (H, W, C) incl. uint16 SAR, or torch tensor.

    Per-item arguments (one value for all images, or, for a list of images, one entry per image):
        prompts: SPEC prompt dicts (`{"type": "box", "bbox": [...]}` etc.): a list for one image.
        points / boxes: shorthands, `[[x, y], ...]` / `[[x1, y1, x2, y2], ...]`; the prompts are numbered `prompts`,
            then `points`, then `boxes`.
        text: the instruction; it goes through the model's chat template.
        task: instead of `text`, one of `classify` (each region's category; the scene without prompts), `caption`,
            `detailed_caption` (a region, or the whole image without prompts), `relation` (two regions), `segment`
            (a `[PIX]` mask per region). Default: `classify` with prompts, `caption` without.
        modality: "optical" | "sar" | "infrared", stated in the text when given.

    Conversations: the pipeline remembers its last `conversation_cache_size` calls (a constructor argument, 1 by
    default; 0 remembers none) by image pixels and prompts. A call on the same image and prompts whose tokens extend
    the visual part of a remembered one (a chat repeating the earlier turns, a new task) continues from its KV cache,
    region features and SAM embedding: the towers, the fusion and SAM's image encoder do not run again. This applies
    to calls of one image at a time (`batch_size=1`) with one returned sequence and no beam search.

    Other arguments:
        mask_threshold: logit threshold of the masks (0.0); a finite number.
        min_score: None (default: every mask) or a number in [0, 1]: masks whose score is below it are dropped (and
            counted in `dropped_masks`).
        mask_format: "numpy" (default: boolean `(H, W)` arrays, the mask-generation convention) or "pil" ("L" images,
            0 / 255).
        return_full_text: False (default): `generated_text` is the answer; True: the prompt text followed by the
            answer (for a chat, the messages with the answer as a new assistant message, or appended to a final
            assistant message that it continues).
        continue_final_message: for chats, continue the final (assistant) message instead of starting a new one;
            by default when the chat ends with an assistant message.
        batch_size: images per `generate()` call, a whole number at least 1; num_workers: DataLoader workers.
        timeout: total deadline in seconds for downloading one URL image (connection, headers and body), 30 s.
        max_download_bytes: the largest URL image, in bytes (64 MiB); a larger Content-Length is refused before the
            body is read, and the bytes are counted while streaming.
        generation parameters (`max_new_tokens`, `num_return_sequences`, `do_sample`, `generation_config`, ...) go
            to `generate()`; greedy decoding with `max_new_tokens=64` by default.

    Returns:
        For one input, a list with one dict per returned sequence; for a list, a list of such lists (an iterator of
        them for datasets and generators). A dict holds `generated_text`, `regions` (`[{"index", "prompt", "answer",
        "mask", "score"}]`; `mask` is the region's `[PIX]` mask when the answer has "<Region i>: [PIX]", else None,
        and `score` its score), `masks` (one per kept `[PIX]`, in order, at the original image size), `scores` (one
        per mask, as in the mask-generation pipeline: the IoU the model predicts for it), `dropped_masks` (how many
        `min_score` removed) and `input_text` (the rendered prompt; the messages for a chat). For a georeferenced
        raster (a GeoTIFF path, with the package's `geo` extra), also `geometries`: the regions as a GeoJSON
        FeatureCollection in EPSG:4326 (each mask vectorised, else the prompt; `earthgptx_hf.geo.features`).
    """

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False
    _pipeline_calls_generate = True
    _default_generation_config = GenerationConfig(max_new_tokens=64, do_sample=False)

    def __init__(self, *args, conversation_cache_size: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.conversations = ConversationCache(_whole_number(
            conversation_cache_size, "conversation_cache_size", "conversations remembered for follow-ups; 0 remembers "
            "none"))
        if self._batch_size is not None:
            self._batch_size = check_batch_size(self._batch_size)
        if self._num_workers is not None:
            self._num_workers = check_num_workers(self._num_workers)
        if self.processor is None:
            raise ValueError("The visual-prompting pipeline needs the model's processor (EarthGPTXProcessor): pass "
                             "processor=... or load from a checkpoint folder that has processor_config.json.")
        self.processor.check_model_config(self.model.config)  # token ids, regions, tiles, SAM size agree

    def _sanitize_parameters(self, mask_threshold=None, min_score=None, mask_format=None, return_full_text=None,
                             continue_final_message=None, timeout=None, max_download_bytes=None, generate_kwargs=None,
                             **kwargs):
        items = {key: kwargs.pop(key) for key in ITEM_KEYS if key in kwargs}
        items = {key: value for key, value in items.items() if value is not None}
        unknown = sorted(set(kwargs) - GENERATION_KEYS)
        if unknown:
            raise TypeError(f"visual-prompting pipeline got unexpected argument(s) {unknown}; valid: "
                            f"{', '.join(ITEM_KEYS)}, mask_threshold, min_score, mask_format, return_full_text, "
                            "continue_final_message, batch_size, num_workers, timeout, max_download_bytes and "
                            "generation parameters.")
        preprocess = dict(items)
        if timeout is not None:
            preprocess["timeout"] = check_timeout(timeout)
        if max_download_bytes is not None:
            preprocess["max_download_bytes"] = check_max_download_bytes(max_download_bytes)
        if continue_final_message is not None:
            preprocess["continue_final_message"] = _optional_bool(continue_final_message, "continue_final_message")
        forward = {}
        if generate_kwargs or kwargs:
            forward["generate_kwargs"] = {**(generate_kwargs or {}), **kwargs}
        if mask_threshold is not None:  # applied in _forward, where the masks are still on the model's device
            forward["mask_threshold"] = _finite_number(mask_threshold, "mask_threshold")
        if min_score is not None and self.processor is not None:  # the processor's rule, checked before any image
            forward["min_score"] = self.processor.check_min_score(min_score)
        postprocess = {}
        if mask_format is not None:
            if mask_format not in MASK_FORMATS:
                raise ValueError(f"mask_format={mask_format!r} is not one of {list(MASK_FORMATS)}.")
            postprocess["mask_format"] = mask_format
        if return_full_text is not None:
            postprocess["return_full_text"] = _optional_bool(return_full_text, "return_full_text")
        return preprocess, forward, postprocess

    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        """`Pipeline.get_iterator` over numbered items, after checking `batch_size` and `num_workers`."""
        numbered = Numbered(inputs) if isinstance(inputs, Sized) else numbered_stream(inputs)
        return super().get_iterator(numbered, check_num_workers(num_workers), check_batch_size(batch_size),
                                    preprocess_params, forward_params, postprocess_params)

    # -----------------------------------------------------------------------------------------------------------------
    def preprocess(self, inputs, timeout=None, max_download_bytes=None, continue_final_message=None, **call):
        index = count = None
        if isinstance(inputs, Item):
            inputs, index, count = inputs.value, inputs.index, inputs.count
        where = "images" if index is None else f"images[{index}]"
        call = {key: for_image(value, key, index, count) for key, value in call.items()}
        fields, chat = fields_of(inputs, call, where)
        image_processor = self.processor.image_processor
        image = load_pipeline_image(fields["image"], timeout, where, max_download_bytes=max_download_bytes)
        if not isinstance(image, (Image.Image, np.ndarray)) and not is_tensor(image):  # a path or a download
            image = image_processor.open_image(image, argument="images", index=index)
        height, width = image_processor.get_image_size(image, argument="images", index=index)
        prompts = collect_prompts(fields, where)
        if chat is not None:
            if continue_final_message is None:  # ending with the assistant: a prefill, as in image-text-to-text
                continue_final_message = chat[-1]["role"] == "assistant"
            text = self.processor.apply_chat_template(chat, add_generation_prompt=not continue_final_message,
                                                      continue_final_message=continue_final_message)
        else:
            question, prompts = instruction(fields, prompts, width, height, where)
            conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            text = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        return {"item": _Prepared(image, text, prompts, fields.get("modality"), (height, width), chat,
                                  bool(continue_final_message), None if chat is not None else task_of(fields, prompts))}

    # -----------------------------------------------------------------------------------------------------------------
    def _forward(self, model_inputs, generate_kwargs=None, mask_threshold: float = 0.0,
                 min_score: float | None = None):
        items = model_inputs["item"]
        items = items if isinstance(items, list) else [items]  # a batch (collated) or one item (batch_size=1)
        inputs = self.processor(images=[it.image for it in items], text=[it.text for it in items],
                                visual_prompts=[it.prompts for it in items], modality=[it.modality for it in items],
                                return_tensors="pt").to(self.device)
        generate_kwargs = self._prepare_generate_kwargs(dict(generate_kwargs or {}), return_dict_in_generate=True)
        key = conversation_key(items[0].image, items[0].prompts) if len(items) == 1 else None
        outputs = self._generate_reusing(key, inputs, generate_kwargs)
        if key is not None and outputs.sequences.shape[0] == 1:
            self.conversations.put(key, Conversation(outputs.sequences[0].cpu(), outputs))
        if getattr(outputs, "input_index", None) is None:
            raise RuntimeError(f"{type(self.model).__name__}.generate(return_dict_in_generate=True) returned no "
                               "input_index: the pipeline needs the input row of every returned sequence.")
        decoded = self.processor.post_process_generation(outputs, inputs, target_sizes=[it.target_size for it in items],
                                                         mask_threshold=mask_threshold, min_score=min_score)
        owners = outputs.input_index.tolist()  # the model's mapping of sequences to images
        per_item = [[row for row, owner in zip(decoded, owners) if owner == i] for i in range(len(items))]
        # lists with one entry per item: Pipeline's iterator hands each item its own entries
        return {"decoded": per_item, "item": items}

    def _generate_reusing(self, key, inputs, generate_kwargs):
        """`generate()`, continuing the remembered conversation of this image and prompts when the new tokens
        extend its visual part (`conversation_cache`): only the tokens after the shared prefix are computed."""
        remembered = self.conversations.take(key) if key is not None else None
        keep = 0
        config = generate_kwargs.get("generation_config") or self.model.generation_config
        one_row = all((generate_kwargs.get(name) or getattr(config, name, 1) or 1) == 1
                      for name in ("num_return_sequences", "num_beams"))  # the cache holds one row
        if remembered is not None and one_row:
            config = self.model.config
            keep = reusable_prefix(remembered.tokens, inputs["input_ids"][0].cpu(),
                                   (config.image_token_id, config.region_feature_token_id), len(remembered.tokens) - 1)
        if not keep:
            return self.model.generate(**inputs, **generate_kwargs)
        reuse = remembered.output.followup_kwargs(keep=keep)
        text = {name: inputs[name] for name in ("input_ids", "attention_mask")}
        if "sam_image_embeddings" not in reuse and "sam_pixel_values" in inputs:
            text["sam_pixel_values"] = inputs["sam_pixel_values"]
        return self.model.generate(**text, **reuse, **generate_kwargs)

    def postprocess(self, model_outputs, mask_format: str = "numpy", return_full_text: bool = False):
        item, rows = model_outputs["item"], model_outputs["decoded"]
        if isinstance(item, list):  # batch_size=1: the lists of a one-item batch
            (item,), (rows,) = item, rows
        results = []
        for row in rows:
            masks = [np.asarray(mask, dtype=bool) for mask in row["masks"]]
            if mask_format == "pil":
                masks = [Image.fromarray(mask.astype(np.uint8) * 255) for mask in masks]  # mode "L"
            owned = {}  # region -> (mask, score) of its first mask (the processor binds masks to regions)
            for owner, mask, score in zip(row["mask_regions"], masks, row["scores"]):
                owned.setdefault(owner, (mask, score))
            results.append({
                "generated_text": self._full_text(item, row["text"]) if return_full_text else row["text"],
                "regions": [{"index": i + 1, "prompt": p, "answer": row["regions"].get(i + 1),
                             "mask": owned.get(i + 1, (None, None))[0], "score": owned.get(i + 1, (None, None))[1]}
                            for i, p in enumerate(item.prompts)],
                "masks": masks,
                "scores": list(row["scores"]),
                "dropped_masks": row["dropped_masks"],
                "input_text": item.chat if item.chat is not None else item.text,
            })
        georeference = getattr(item.image, "georeference", None)  # a GeoTIFF read by earthgptx_hf.geo (geo extra)
        if georeference is not None and georeference.is_georeferenced:
            for result in results:  # the regions on the map: a GeoJSON FeatureCollection in EPSG:4326
                result["geometries"] = georeference.features(result, task=item.task,
                                                            model=self.model.name_or_path or None)
        return results

    @staticmethod
    def _full_text(item: _Prepared, answer: str):
        """The prompt followed by the answer, as `image-text-to-text` writes it with `return_full_text=True`."""
        if item.chat is None:
            return item.text + answer
        if not item.continue_final_message:
            return [*item.chat, {"role": "assistant", "content": answer}]
        last = dict(item.chat[-1])
        if isinstance(last["content"], str):
            last["content"] += answer
        else:
            texts = [i for i, part in enumerate(last["content"]) if part.get("type") == "text"]
            content = list(last["content"])
            if texts:
                content[texts[-1]] = {**content[texts[-1]], "text": content[texts[-1]]["text"] + answer}
            else:
                content.append({"type": "text", "text": answer})
            last["content"] = content
        return [*item.chat[:-1], last]

    def save_pretrained(self, save_directory, **kwargs):
        """The model (with this pipeline's code and `custom_pipelines` in its config when registered) and the
        processor."""
        super().save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)


__all__ = ["VisualPromptingPipeline", "TASK", "TASK_SHORTCUTS", "INSTRUCTIONS", "MASK_FORMATS", "load_pipeline_image",
           "download", "check_batch_size", "check_num_workers"]
