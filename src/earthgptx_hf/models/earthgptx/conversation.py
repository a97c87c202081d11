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

import bisect
import dataclasses
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from transformers.image_processing_utils import BatchFeature

# --------------------------------------------------------------------------------------------------------------------
# The chat template and the conversation helpers of `EarthGPTXProcessor.apply_chat_template`.
#
# `CHAT_TEMPLATE` lays out turns as `USER: ...` and `ASSISTANT: ...{eos}`, one per line, with `<image>\n` where the user
# turn holds its image item; `add_generation_prompt` adds `\nASSISTANT: `. The assistant's text and its EOS are marked
# with `{% generation %}` ... `{% endgeneration %}`, transformers' marks for `return_assistant_tokens_mask`: training
# supervises exactly what the template marks, so a custom template that marks its assistant turns trains and infers
# with the same text.
#
# Conversations follow transformers' message format. A user turn's `{"type": "image", "image" | "url" | "path": ...}`
# item gives the conversation's image (one per conversation); its visual prompts come in the image item's
# `"visual_prompts"` key or in a `{"type": "visual_prompts", "visual_prompts": [...]}` item.


CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if not loop.first -%}{{ '\\n' }}{%- endif -%}"
    "{%- if message['content'] is string -%}{%- set items = [{'type': 'text', 'text': message['content']}] -%}"
    "{%- else -%}{%- set items = message['content'] -%}{%- endif -%}"
    "{%- if message['role'] == 'system' -%}"
    "{%- for item in items if item['type'] == 'text' -%}{{ item['text'] }}{%- endfor -%}"
    "{%- elif message['role'] == 'user' -%}"
    "{{ 'USER: ' }}"
    "{%- for item in items -%}"
    "{%- if item['type'] == 'image' -%}{{ '<image>\\n' }}{%- elif item['type'] == 'text' -%}{{ item['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- else -%}"
    "{{ 'ASSISTANT: ' }}"
    "{%- generation -%}"
    "{%- for item in items if item['type'] == 'text' -%}{{ item['text'] }}{%- endfor -%}{{ eos_token or '' }}"
    "{%- endgeneration -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '\\nASSISTANT: ' if messages else 'ASSISTANT: ' }}{%- endif -%}"
)

# The default template before it marked the answers with {% generation %} (processors saved with it hold it in
# chat_template.jinja): it renders the same text for the shipped tokenizer (EOS "</s>"), so such a processor takes the
# current default when it loads, instead of a training error on a template that marks nothing.
_LEGACY_TEMPLATE_1 = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
    "{%- for item in message['content'] if item['type'] == 'text' -%}{{ item['text'] }}{%- endfor -%}{%- endif -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ 'USER: ' if message['role'] == 'user' else 'ASSISTANT: ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<image>\\n' }}{%- elif item['type'] == 'text' -%}{{ item['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '</s>\\n' if message['role'] == 'assistant' else '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT: ' }}{%- endif -%}"
)
LEGACY_CHAT_TEMPLATES = (_LEGACY_TEMPLATE_1,)

IMAGE_KEYS = ("image", "url", "path")  # transformers' keys of an image item (a URL is fetched by the processor)


def resolve_template(templates, chat_template=None) -> str:
    """The template string: `chat_template` itself, one of the processor's named `templates`, or their default."""
    if chat_template is None:
        chat_template = templates.get("default") if isinstance(templates, dict) else templates
    elif isinstance(templates, dict) and chat_template in templates:
        chat_template = templates[chat_template]
    if not isinstance(chat_template, str):
        raise ValueError(f"No chat template to use: the processor's are {templates!r}; pass chat_template.")
    return chat_template


def reads_variable(template: str, name: str) -> bool:
    """Whether a chat template mentions the variable `name` (a word of its source): the test for `tools=` and
    `documents=`, which a template that never reads them would drop silently."""
    return re.search(rf"\b{re.escape(name)}\b", template) is not None


def _plain(value):
    """Message objects (dataclasses, pydantic models) inside `value` -> dicts; media and scalars as they are."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value) if type(value) in (list, tuple) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return value


def message_dicts(conversation):
    """One conversation or a batch, of message dicts or message objects (dataclasses; pydantic models such as the
    OpenAI SDK's; objects with `.messages`) -> the same as plain dicts, keys whose value is None dropped (an API's
    `content=None`), as transformers 5.25's `apply_chat_template` takes them (5.21 takes dicts only)."""
    def messages(one):
        out = []
        for message in _plain(getattr(one, "messages", one)):
            if not isinstance(message, dict):
                raise TypeError(f"Chat messages must be dicts, dataclasses or pydantic models, got {message!r}.")
            out.append({key: value for key, value in message.items() if value is not None})
        return out

    first = conversation[0] if isinstance(conversation, (list, tuple)) and conversation else None
    if isinstance(first, (list, tuple)) or hasattr(first, "messages"):
        return [messages(one) for one in conversation]
    return messages(conversation)


def is_batched(conversation) -> bool:
    """A list of conversations, as `ProcessorMixin.apply_chat_template` tells them apart from one conversation."""
    return isinstance(conversation, (list, tuple)) and bool(conversation) and isinstance(conversation[0],
                                                                                         (list, tuple))


def check_conversation_text(processor, conversations) -> None:
    """Refuses reserved tokens (`processor.check_user_text`) in every turn but the assistant's, which may hold the
    `[PIX]` a model wrote; each text item, then the items joined (a token split across two items is that token)."""
    for c, messages in enumerate(conversations):
        for m, message in enumerate(messages):
            if message.get("role") == "assistant":
                continue
            content = message.get("content")
            items = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            where = f"conversation[{c}][{m}] ({message.get('role')})"
            texts = [processor.check_user_text(item.get("text"), f"{where} content[{i}] text")
                     for i, item in enumerate(items) if item.get("type") == "text"]
            processor.check_user_text("".join(texts), f"{where} text")


def conversation_prompts(conversations) -> list[list]:
    """The visual prompts of each conversation's image; checks that each conversation has at most one image item
    (none: a text-only conversation, which has no visual prompts)."""
    prompts = []
    for c, messages in enumerate(conversations):
        images, image_prompts = 0, []
        for message in messages:
            content = message.get("content")
            for item in [] if isinstance(content, str) else content or []:
                if item.get("type") == "image":
                    images += sum(key in item for key in IMAGE_KEYS)
                    image_prompts = item.get("visual_prompts", image_prompts)
                elif item.get("type") == "visual_prompts":
                    image_prompts = item["visual_prompts"]
        if images > 1 or (not images and image_prompts):
            raise ValueError(f"conversation[{c}] has {images} images and {len(image_prompts)} visual prompts: a "
                             "conversation has one {'type': 'image', 'image' (or 'url', 'path'): ...} content item, "
                             "or none (text only, without visual prompts).")
        prompts.append(image_prompts)
    return prompts


def shift(offsets: list[dict], position: int) -> int:
    """Where character `position` of a text lands once the edits `offsets` (transformers' `text_replacement_offsets`:
    `span` in the text, `new_span` in the edited text, in order) are made: shifted by every edit that ends at or
    before it (the rule of `ProcessorMixin.apply_chat_template`'s assistant masks)."""
    ends = [edit["span"][1] for edit in offsets]
    gained = [0] + [edit["new_span"][1] - edit["span"][1] for edit in offsets]
    return position + gained[bisect.bisect_right(ends, position)]


def cut(text: str, offsets: list[dict], spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` (edited by `offsets`) cut at `spans` (character spans of the text before the edits):
    `[(piece, inside a span), ...]`, empty pieces left out."""
    pieces, last = [], 0
    for start, end in spans:
        start, end = shift(offsets, start), shift(offsets, end)
        pieces += [(text[last:start], False), (text[start:end], True)]
        last = end
    pieces.append((text[last:], False))
    return [(piece, inside) for piece, inside in pieces if piece]


def apply_edits(text: str, edits: list[tuple[int, int, str, str]]) -> tuple[str, list[dict]]:
    """Replaces `text[start:end]` by `new` for each `(start, end, new, kind)` (in order, not overlapping); returns the
    new text and the edits as transformers' `text_replacement_offsets` (`kind` is their `type`)."""
    pieces, offsets, last, gained = [], [], 0, 0
    for start, end, new, kind in edits:
        pieces += [text[last:start], new]
        offsets.append({"type": kind, "span": (start, end), "new_span": (start + gained, start + gained + len(new)),
                        "text": text[start:end], "replacement": new})
        gained += len(new) - (end - start)
        last = end
    pieces.append(text[last:])
    return "".join(pieces), offsets


# --------------------------------------------------------------------------------------------------------------------
# The `<Region i>` tag: how the i-th visual prompt of an image (1-based) is written in questions, answers, the app and
# plots, and how it is read back from generated text (region answers parsed, `[PIX]` masks paired, metrics). One owner,
# so that what is written and what is read never disagree.


REGION_TAG_TEMPLATE = "<Region {}>"  # the processor's default `region_token_template`, one added token per region
# generated text is read leniently: a model may drop or double the space
REGION_TAG_PATTERN = r"<Region\s*(\d+)>"
REGION_TAG = re.compile(REGION_TAG_PATTERN)


# what a person may write: `<Region i>` or its alias `<Mark i>` (rewritten to `<Region i>` by the processor)
REGION_REFERENCE = re.compile(r"<(Region|Mark)\s*(\d+)>")
REGION_ANSWER = re.compile(REGION_TAG_PATTERN + r"\s*:\s*(.*?)\s*$")


def region_tag(index: int) -> str:
    """`region_tag(2)` -> `"<Region 2>"` (1-based, as the prompts are numbered)."""
    return REGION_TAG_TEMPLATE.format(index)


def region_reference_edits(text: str, num_prompts: int, where: str = "text", image: str = "the image",
                           start: int = 0) -> list[tuple[int, int, str, str]]:
    """The rule of region references: every `<Region i>` / `<Mark i>` of `text` (from `start`) must name one of the
    image's `num_prompts` prompts (a ValueError naming it otherwise); returns the edits (`chat.apply_edits`) that
    rewrite the aliases to the region tag."""
    edits = []
    for match in REGION_REFERENCE.finditer(text, start):
        number = int(match.group(2))
        if not 1 <= number <= num_prompts:
            raise ValueError(
                f"{where} refers to {match.group(0)}, but {image} has {num_prompts} visual prompt(s): "
                f"valid references are <Region 1> ... <Region {num_prompts}>." if num_prompts else
                f"{where} refers to {match.group(0)}, but {image} has no visual prompt."
            )
        if match.group(0) != region_tag(number):
            edits.append((match.start(), match.end(), region_tag(number), "text"))
    return edits


def parse_region_answers(text: str) -> dict[int, str]:
    """`"<Region 1>: ship\\n<Region 2>: storage tank"` -> `{1: "ship", 2: "storage tank"}`.

    Lines that are not region answers are ignored; a repeated region keeps its first answer; a trailing period is
    removed.
    """
    regions: dict[int, str] = {}
    for line in re.split(r"[\n;]", text):
        starts = [tag.start() for tag in REGION_TAG.finditer(line)]  # one answer from each tag to the next
        for start, stop in zip(starts, starts[1:] + [len(line)]):
            match = REGION_ANSWER.match(line[start:stop].strip())
            if match and int(match.group(1)) not in regions:
                regions[int(match.group(1))] = match.group(2).strip().rstrip(".").strip()
    return regions


# --------------------------------------------------------------------------------------------------------------------
# Follow-up turns: the ids of the next question of a conversation whose earlier turns are in the KV cache.
#
# A follow-up about the same image and prompts does not re-encode the image: `generate()` takes the earlier turn's
# cache, region features and SAM embedding (`EarthGPTXGenerateOutput.followup_kwargs`) and the whole conversation as
# `input_ids`; only the tokens after the cached ones are computed. `next_turn_inputs` builds those ids from the earlier
# turn's own tokens (not from its decoded text, which may tokenize differently), so the cached prefix stays valid:
#
#     earlier sequence (prompt + answer) | EOS when the answer did not end with it | the template's next user turn
#
# The next user turn is what the chat template adds after an assistant message (`turn_suffix`); a template that does
# not render a conversation as an extension of its earlier turns is refused.


_PLACEHOLDER = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def turn_suffix(processor, text: str) -> str:
    """The text the chat template writes after an assistant message for a next user turn `text` and the assistant
    prompt (`"\\nUSER: {text}\\nASSISTANT: "` for `CHAT_TEMPLATE`)."""
    before = processor.apply_chat_template(_PLACEHOLDER)
    after = processor.apply_chat_template([*_PLACEHOLDER, {"role": "user", "content": text}],
                                          add_generation_prompt=True)
    if not after.startswith(before):
        raise ValueError("The processor's chat template does not render a conversation as its earlier turns followed "
                         "by the new one, so a follow-up cannot reuse the cached turns; run the whole conversation "
                         "again (processor + generate without the cache).")
    return after[len(before):]


def _rows(previous) -> tuple[torch.Tensor, torch.Tensor | None]:
    sequences = getattr(previous, "sequences", previous)
    if not isinstance(sequences, torch.Tensor) or sequences.ndim != 2:
        raise TypeError(f"previous must be what generate() returned (or its (N, L) sequences), got "
                        f"{type(previous).__name__}.")
    return sequences, getattr(previous, "input_index", None)


def _answer_mask(tokens: torch.Tensor, prompt_mask: torch.Tensor, eos_id: int, pad_id: int | None) -> torch.Tensor:
    """`(N, L)` attention mask of the earlier turn: the prompt's own mask, then every generated token up to its first
    EOS; the padding generation wrote after a finished answer is masked (the follow-up does not attend to it)."""
    prompt_length = prompt_mask.shape[1]
    generated = tokens[:, prompt_length:]
    ended = (generated == eos_id).long().cumsum(dim=1)
    keep = (ended == 0) | ((ended == 1) & (generated == eos_id))
    if pad_id is not None and pad_id != eos_id:
        keep &= generated != pad_id
    return torch.cat([prompt_mask.to(torch.long), keep.to(torch.long)], dim=1)


def next_turn_inputs(processor, previous, text, attention_mask=None, return_tensors: str | None = "pt") -> BatchFeature:
    """`input_ids` and `attention_mask` of the next turn of each conversation in `previous`.

    Args:
        processor: an `EarthGPTXProcessor`.
        previous: what `generate(..., return_dict_in_generate=True)` returned for the earlier turn (or its sequences).
        text: the follow-up question, one string for every sequence or one per sequence; it may refer to
            `<Region i>` (`<Mark i>`) of the image's prompts, and may not hold reserved tokens or `<image>`.
        attention_mask: the earlier turn's input attention mask (`inputs["attention_mask"]`, one row per input
            image); needed when the earlier inputs were padded. Default: every prompt token counts.
        return_tensors: "pt" (default), "np" or None.

    Returns:
        `BatchFeature` with `input_ids` `(N, L')` (the earlier sequences, then the new turn; rows whose new turn is
        shorter are padded between the two, masked) and `attention_mask`.
    """
    tokenizer = processor.tokenizer
    sequences, input_index = _rows(previous)
    rows = sequences.shape[0]
    texts = [text] * rows if isinstance(text, str) else list(text) if isinstance(text, (list, tuple)) else None
    if texts is None or len(texts) != rows:
        raise ValueError(f"text must be a string or a list of {rows} strings (one per sequence of previous), got "
                         f"{text!r}.")
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    if attention_mask is None:  # no prompt padding: only the padding after finished answers is masked
        prompt_mask = torch.ones_like(sequences) if pad_id is None or pad_id == eos_id else \
            (sequences != pad_id).to(torch.long)
    else:
        given = torch.as_tensor(attention_mask).to(sequences.device)
        if input_index is not None and given.shape[0] != rows:  # num_return_sequences: one row per sequence
            given = given[torch.as_tensor(input_index, device=given.device)]
        if given.ndim != 2 or given.shape[0] != rows or given.shape[1] > sequences.shape[1]:
            raise ValueError(f"attention_mask of shape {tuple(given.shape)} is not the earlier turn's input mask for "
                             f"its {rows} sequences of length {sequences.shape[1]}.")
        prompt_mask = _answer_mask(sequences, given, eos_id, pad_id)
    feature_id = tokenizer.convert_tokens_to_ids(processor.region_feature_token)
    new_rows = []
    for row, question in enumerate(texts):
        where = "text" if isinstance(text, str) else f"text[{row}]"
        processor.check_user_text(question, where)
        if processor.image_token in question:
            raise ValueError(f"{where} holds {processor.image_token!r}: a follow-up is about the conversation's image "
                             "and adds none.")
        if processor.use_region_features:  # the image's prompt count is written in its region preamble
            prompts = int((sequences[row] == feature_id).sum())
            question = apply_edits(question, region_reference_edits(
                question, prompts, where, f"the conversation of sequence {row}"))[0]
        real = sequences[row][prompt_mask[row].bool()]
        ids = [] if len(real) and int(real[-1]) == eos_id else [eos_id]  # the end of the earlier answer
        ids += tokenizer(turn_suffix(processor, question), add_special_tokens=False)["input_ids"]
        new_rows.append(ids)
    width = max(len(ids) for ids in new_rows)
    fill = pad_id if pad_id is not None else eos_id
    extra = torch.full((rows, width), fill, dtype=sequences.dtype, device=sequences.device)
    extra_mask = torch.zeros((rows, width), dtype=torch.long, device=sequences.device)
    for row, ids in enumerate(new_rows):  # right-aligned: the last position of every row is a real token
        if ids:
            extra[row, width - len(ids):] = torch.as_tensor(ids, dtype=sequences.dtype)
            extra_mask[row, width - len(ids):] = 1
    data = {"input_ids": torch.cat([sequences, extra], dim=1), "attention_mask": torch.cat([prompt_mask, extra_mask], 1)}
    if return_tensors != "pt":
        data = {key: value.cpu().numpy() for key, value in data.items()}
        if return_tensors is None:
            data = {key: value.tolist() for key, value in data.items()}
    return BatchFeature(data=data, tensor_type=return_tensors)


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


__all__ = ["CHAT_TEMPLATE", "LEGACY_CHAT_TEMPLATES", "IMAGE_KEYS", "resolve_template", "reads_variable",
           "message_dicts", "is_batched", "check_conversation_text", "conversation_prompts", "shift", "cut",
           "apply_edits", "REGION_TAG_TEMPLATE", "REGION_TAG_PATTERN", "REGION_TAG", "REGION_REFERENCE", "region_tag",
           "region_reference_edits", "parse_region_answers", "next_turn_inputs", "turn_suffix", "Conversation",
           "ConversationCache", "conversation_key", "reusable_prefix"]
