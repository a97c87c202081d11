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

import http.client
import io
import math
import numbers
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass

import numpy as np
from PIL import Image
from transformers import GenerationConfig, Pipeline
from transformers.utils.chat_template_utils import Chat

from .conversation import Conversation, ConversationCache, conversation_key, reusable_prefix

# --------------------------------------------------------------------------------------------------------------------
# Images of `pipeline("visual-prompting")` from paths and http(s) URLs: a total download deadline and a size cap.
#
# This module fetches; it does not decode. A download comes back as an `io.BytesIO` named by its URL, which the image
# processor opens and decodes (`multi_source.open_image`, the one owner of the file rule: the errors name the argument,
# its index and the source, here the URL).
#
# Part of the pipeline's remote code in saved checkpoints (copied next to `visual_prompting.py`): it imports nothing
# from `earthgptx_hf`. The HTTP client is urllib's, with a watchdog: the clients at hand (urllib, httpx) bound each read
# or operation, not a whole download, so a server that sends a byte every half second would hold them indefinitely.


DEFAULT_TIMEOUT = 30.0  # seconds: a total deadline for one URL image (connection, headers and body)
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 2**20  # 64 MiB
_CHUNK = 64 * 1024
_URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def is_tensor(value) -> bool:
    """A torch tensor (checked by module: io.BytesIO has a `detach` method too)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _positive_number(value, name: str, default: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a finite number of seconds greater than 0 ({default}).")
    return float(value)


def _positive_int(value, name: str, default: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} must be a whole number at least 1 ({default}).")
    return int(value)


def check_timeout(timeout) -> float:
    """`timeout` (None: the 30 s default) as seconds, or a ValueError naming it."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    return _positive_number(timeout, "timeout", f"the total deadline of one URL download, default {DEFAULT_TIMEOUT:g}")


def check_max_download_bytes(max_download_bytes) -> int:
    """`max_download_bytes` (None: the 64 MiB default), or a ValueError naming it."""
    if max_download_bytes is None:
        return DEFAULT_MAX_DOWNLOAD_BYTES
    return _positive_int(max_download_bytes, "max_download_bytes",
                         f"the largest URL image in bytes, default {DEFAULT_MAX_DOWNLOAD_BYTES:,}")


def _deadline_opener(sockets: list) -> urllib.request.OpenerDirector:
    """An opener for http(s) only (redirects to ftp:// or file:// fail) whose connections record their sockets, so
    that a watchdog can cut them at the deadline."""

    class Connection(http.client.HTTPConnection):
        def connect(self):
            super().connect()
            sockets.append(self.sock)

    class SecureConnection(http.client.HTTPSConnection):
        def connect(self):
            super().connect()
            sockets.append(self.sock)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Connection, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(SecureConnection, req, context=self._context)

    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), Handler(), SecureHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPRedirectHandler(),
                    urllib.request.HTTPErrorProcessor(), urllib.request.UnknownHandler()):
        opener.add_handler(handler)
    return opener


def download(url: str, timeout: float | None = None, max_download_bytes: int | None = None,
             where: str = "images") -> bytes:
    """The body of an http(s) URL, within a total deadline (`timeout` seconds for the connection, the headers and the
    whole body, not per read) and a size cap (`max_download_bytes`: a larger Content-Length is refused before the body
    is read, and the bytes are counted while streaming, for servers that send none or lie)."""
    timeout, limit = check_timeout(timeout), check_max_download_bytes(max_download_bytes)
    deadline = time.monotonic() + timeout
    sockets, expired = [], threading.Event()

    def expire():  # shutdown (not close) interrupts a blocked recv on the socket
        expired.set()
        for sock in list(sockets):
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def too_slow():
        return TimeoutError(f"{where} ({url!r}) was not downloaded within timeout={timeout:g} s (a deadline for the "
                            "whole download, not per read); pass a larger timeout= if the server is just slow.")

    def too_large(size: str):
        return ValueError(f"{where} ({url!r}) is {size}, more than max_download_bytes={limit:,}; pass a larger "
                          "max_download_bytes= if the image is expected to be this large.")

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            response = _deadline_opener(sockets).open(url, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()
            raise ValueError(f"{where} ({url!r}) could not be downloaded: the server answered HTTP {err.code} "
                             f"{err.reason}.") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            if expired.is_set() or isinstance(err, TimeoutError) or isinstance(getattr(err, "reason", None),
                                                                              TimeoutError):
                raise too_slow() from None
            reason = getattr(err, "reason", None) or err
            if str(reason).startswith("unknown url type"):  # only http(s) handlers: a redirect elsewhere ends here
                reason = f"the server redirected it to a URL that is not http(s) ({reason})"
            raise ConnectionError(f"{where} ({url!r}) could not be downloaded: {reason}") from err
        with response:
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > limit:
                raise too_large(f"{int(declared):,} bytes (its Content-Length)")
            chunks, total = [], 0
            while True:
                try:
                    chunk = response.read1(_CHUNK)  # returns what one read brings: the deadline is checked often
                except (OSError, http.client.HTTPException) as err:
                    if expired.is_set() or isinstance(err, TimeoutError):
                        raise too_slow() from None
                    raise ConnectionError(f"{where} ({url!r}) could not be downloaded: {err!r}") from err
                if expired.is_set() or time.monotonic() > deadline:
                    raise too_slow()
                if not chunk:
                    return b"".join(chunks)
                total += len(chunk)
                if total > limit:
                    raise too_large(f"more than {limit:,} bytes (counted while downloading)")
                chunks.append(chunk)
    finally:
        watchdog.cancel()


def load_pipeline_image(image, timeout: float | None = None, where: str = "images", *,
                        max_download_bytes: int | None = None):
    """Fetches one image argument: PIL / numpy / torch pass through unchanged; a path is returned as it is once it
    names a file; an http(s) URL is downloaded (see `download`: `timeout` is a total deadline in seconds, 30 by
    default; `max_download_bytes` caps the body, 64 MiB by default) into an `io.BytesIO` whose `name` is the URL.
    Paths and downloads are opened and decoded by the image processor."""
    if isinstance(image, os.PathLike):
        image = os.fspath(image)
    if isinstance(image, str):
        scheme = _URL_SCHEME.match(image)
        if scheme and scheme.group(1).lower() in ("http", "https"):
            data = io.BytesIO(download(image, timeout, max_download_bytes, where))
            data.name = image  # how the image processor's errors name the download
            return data
        if scheme:
            hint = " (pass the local path itself)" if scheme.group(1).lower() == "file" else ""
            raise ValueError(f"{where} is the URL {image!r}, whose scheme {scheme.group(1)!r} is not supported: only "
                             f"http:// and https:// images are downloaded{hint}.")
        if not os.path.isfile(image):
            raise ValueError(f"{where} is {image!r}, which is neither a file nor an http(s) URL.")
        return image
    if isinstance(image, (Image.Image, np.ndarray)) or is_tensor(image):
        return image
    raise TypeError(f"{where} must be a PIL image, a path, a URL, a numpy array or a torch tensor, got "
                    f"{type(image).__name__}.")


# --------------------------------------------------------------------------------------------------------------------
# What one input of `pipeline("visual-prompting")` says: its image, its prompts and its instruction, from call
# arguments, a dict item or a chat; and the numbering of lists, datasets and generators (errors name `images[i]`, and a
# batch's per-image arguments take their i-th entry).
#
# Part of the pipeline's remote code in saved checkpoints (copied next to `visual_prompting.py`): it imports nothing
# from `earthgptx_hf`.


TASK_SHORTCUTS = ("classify", "caption", "detailed_caption", "relation", "segment", "find")

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
    ("find", "query"): "Segment {query}.",
}
# a query that opens with one of these words says which instances it means ("the largest ship", "every vehicle");
# any other ("ship", "storage tanks near the harbor") asks for every instance: "Segment every ship."
QUERY_DETERMINERS = ("the", "every", "all", "each", "any", "a", "an")
# no tag in a query (nor, `data.annotations.expression_problem`, in an expression people wrote): [PIX], <image>,
# <Region i>, <s>, </s>, <pad>, <region_feat>
QUERY_TAG = re.compile(r"\[PIX\]|<[^<>]{1,24}>")
ITEM_KEYS = ("prompts", "points", "boxes", "text", "task", "query", "modality")  # per call, per image of a batch, or per item
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
    messages when it is a chat (else None). A dict item's own values replace the call's; its `text`, `task` or
    `query` replaces all three of the call's (one instruction)."""
    if isinstance(value, Chat):
        return _chat_fields(value.messages, call, where), value.messages
    if not isinstance(value, Mapping):
        return {**call, "image": value}, None
    unknown = sorted(set(value) - {"image", *ITEM_KEYS})
    if unknown or "image" not in value:
        raise ValueError(f"{where} is a dict with keys {sorted(value)}: it needs 'image' and may have "
                         f"{list(ITEM_KEYS)} (a chat is a list of {{'role', 'content'}} messages).")
    own = {key: item for key, item in value.items() if item is not None}
    if "text" in own or "task" in own or "query" in own:
        call = {key: item for key, item in call.items() if key not in ("text", "task", "query")}
    return {**call, **own}, None


def _chat_fields(messages: list, call: dict, where: str) -> dict:
    """The image and the prompts of a chat's content items (the text is the chat itself)."""
    given = sorted(key for key in ("prompts", "points", "boxes", "text", "task", "query") if call.get(key) is not None)
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


def find_instruction(query, where: str = "query") -> str:
    """The instruction of `task="find"`: "Segment every ship." for `query="ship"` (or "ships"), "Segment the largest
    ship." for `query="the largest ship"` (`QUERY_DETERMINERS`), the first of the training templates
    (`data/referring.py`)."""
    if not isinstance(query, str) or not any(c.isalnum() for c in query) \
            or not query.replace("\n", " ").isprintable():
        raise ValueError(f"query for {where} must be a non-empty string of printable text naming what to find (e.g. "
                         f"'ship', 'every vehicle', 'the largest storage tank'), got {query!r}.")
    if QUERY_TAG.search(query):  # the processor's tokens, or a region the query has no prompt for
        raise ValueError(f"query for {where} names what to find in words; it cannot hold the tag "
                         f"{QUERY_TAG.search(query).group()!r} ([PIX], <image>, <Region i> and the other special "
                         f"tokens are written by the processor), got {query!r}.")
    first, *rest = query.strip(" \t\n.?!").split()
    if first.lower() in QUERY_DETERMINERS:  # as the training questions write it: "Segment every ship."
        query = " ".join([first.lower(), *rest])
    else:
        query = " ".join(["every", first, *rest])
    return INSTRUCTIONS[("find", "query")].format(query=query)


def instruction(fields: dict, prompts: list, width: int, height: int, where: str) -> tuple[str, list]:
    """The instruction (`text`, or the `task` shortcut's) and the prompts (the whole-image box for image-level tasks
    without prompts; none for `find`, a text query)."""
    text, task, query = fields.get("text"), fields.get("task"), fields.get("query")
    if text is not None and task is not None:
        raise ValueError("Pass either text= (your instruction) or task= (a shortcut), not both.")
    if query is not None and task != "find":
        raise ValueError(f"query={query!r} is the text query of task='find' (for {where}); got task={task!r}.")
    if task == "find":
        if prompts:
            raise ValueError(f"task='find' searches the image for query= and takes no prompts; {where} has "
                             f"{len(prompts)} (use task='segment' to segment prompted regions).")
        return find_instruction(query, f"{where} (task='find')"), []
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
    query: str | None = None  # what task="find" searches for


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
            (a `[PIX]` mask per region), `find` (no prompts: every instance that `query` names, one `[PIX]` mask
            each, in `instances`). Default: `classify` with prompts, `caption` without.
        query: what `task="find"` looks for: a class ("ship": every ship) or an expression ("the largest ship").
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
        `min_score` removed), `instances` (one per kept mask: `{"label", "mask", "score", "box"}`, the class its
        answer line names, e.g. "ship" for `find`'s "ship at the top left[PIX]", else None, and the mask's tight box
        `[x1, y1, x2, y2]` in pixels, None when empty) and `input_text` (the rendered prompt; the messages for a chat). For a georeferenced
        raster (a GeoTIFF path, with the package's `geo` extra), also `geometries`: the regions as a GeoJSON
        FeatureCollection in EPSG:4326 (each mask vectorised, else the prompt; `earthgptx_hf.geo.features`), for
        `find` the instances (`earthgptx_hf.geo.instances`).
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
        task = None if chat is not None else task_of(fields, prompts)
        return {"item": _Prepared(image, text, prompts, fields.get("modality"), (height, width), chat,
                                  bool(continue_final_message), task, fields.get("query") if task == "find" else None)}

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
                "instances": [{"label": label, "mask": mask, "score": score, "box": box} for label, mask, score, box
                              in zip(row["mask_labels"], masks, row["scores"], row["mask_boxes"])],
                "dropped_masks": row["dropped_masks"],
                "input_text": item.chat if item.chat is not None else item.text,
            })
        georeference = getattr(item.image, "georeference", None)  # a GeoTIFF read by earthgptx_hf.geo (geo extra)
        if georeference is not None and georeference.is_georeferenced:
            query = {"query": item.query} if item.task == "find" else {}  # find: the instances, else the regions
            for result in results:  # on the map: a GeoJSON FeatureCollection in EPSG:4326
                result["geometries"] = georeference.features(result, task=item.task,
                                                            model=self.model.name_or_path or None, **query)
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


__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_MAX_DOWNLOAD_BYTES", "check_timeout", "check_max_download_bytes", "download",
           "load_pipeline_image", "is_tensor", "task_of", "TASK_SHORTCUTS", "INSTRUCTIONS", "QUERY_DETERMINERS",
           "find_instruction", "ITEM_KEYS", "Item",
           "Numbered", "numbered_stream", "for_image", "fields_of", "collect_prompts", "instruction", "coordinates",
           "VisualPromptingPipeline", "TASK", "MASK_FORMATS", "check_batch_size", "check_num_workers"]
