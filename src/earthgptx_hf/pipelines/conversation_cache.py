"""The pipeline's memory of recent conversations: a follow-up about the same image and prompts reuses the earlier
call's KV cache, region features and SAM embedding, so the towers, the fusion and SAM's image encoder do not run again.

A call is matched to a remembered one by its image's pixels and its prompts; it then reuses the longest prefix its
tokens share with the remembered sequence (the earlier prompt and answer), as long as that prefix holds every visual
token (the image and the region preamble come first in the user turn). A chat that repeats the earlier turns, a new
task on the same image, or an edited question all share that prefix; only the tokens after it are computed.

Part of the pipeline's remote code in saved checkpoints (copied next to `visual_prompting.py`): it imports nothing
from `earthgptx_hf`; cropping the cache is the model output's own rule (`followup_kwargs(keep=...)`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np


def _canonical(value):
    """JSON-able form of prompts (numbers as floats, numpy arrays and tensors by their bytes)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return {"array": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(), "shape": value.shape,
                "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)  # [5, 5, 30, 30] and [5.0, 5.0, 30.0, 30.0] are one box
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def conversation_key(image, prompts) -> str:
    """A digest of an image's pixels (PIL, numpy or torch) and its prompts."""
    pixels = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    digest = hashlib.sha256()
    digest.update(f"{pixels.shape}{pixels.dtype}{getattr(image, 'mode', '')}".encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    digest.update(json.dumps(_canonical(prompts), default=str).encode())
    return digest.hexdigest()


@dataclass
class Conversation:
    """A remembered call: its tokens (prompt and answer, 1-D) and its `generate()` output (cache, region features,
    SAM embedding)."""

    tokens: object
    output: object


class ConversationCache:
    """The last `size` conversations (least recently used first out); `size=0` remembers none.

    `take` removes the conversation it returns, so two calls running at once never extend one cache; the caller
    `put`s the newer state back."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[str, Conversation] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, key: str) -> Conversation | None:
        return self._entries.pop(key, None)

    def put(self, key: str, conversation: Conversation) -> None:
        if self.size <= 0:
            return
        self._entries[key] = conversation
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def reusable_prefix(cached_tokens, input_ids, visual_token_ids, cached_length: int) -> int:
    """How many leading positions of `input_ids` (1-D) the cache of `cached_tokens` can give: their common prefix,
    at most the `cached_length` cached positions and one less than the input (the last input token is fed to get the
    next one). 0 when that prefix does not hold every visual token of the input (then nothing is reused)."""
    cached = np.asarray(cached_tokens)
    new = np.asarray(input_ids)
    length = min(len(cached), len(new))
    differs = np.nonzero(cached[:length] != new[:length])[0]
    common = int(differs[0]) if len(differs) else length
    keep = min(common, int(cached_length), len(new) - 1)
    visual = np.nonzero(np.isin(new, list(visual_token_ids)))[0]
    if keep <= 0 or (len(visual) and keep <= int(visual[-1])):
        return 0
    return keep


__all__ = ["Conversation", "ConversationCache", "conversation_key", "reusable_prefix"]
