"""The chat template and the conversation helpers of `EarthGPTXProcessor.apply_chat_template`.

`CHAT_TEMPLATE` lays out turns as `USER: ...` and `ASSISTANT: ...{eos}`, one per line, with `<image>\\n` where the user
turn holds its image item; `add_generation_prompt` adds `\\nASSISTANT: `. The assistant's text and its EOS are marked
with `{% generation %}` ... `{% endgeneration %}`, transformers' marks for `return_assistant_tokens_mask`: training
supervises exactly what the template marks, so a custom template that marks its assistant turns trains and infers
with the same text.

Conversations follow transformers' message format. A user turn's `{"type": "image", "image" | "url" | "path": ...}`
item gives the conversation's image (one per conversation); its visual prompts come in the image item's
`"visual_prompts"` key or in a `{"type": "visual_prompts", "visual_prompts": [...]}` item.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Mapping

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


__all__ = ["CHAT_TEMPLATE", "LEGACY_CHAT_TEMPLATES", "IMAGE_KEYS", "resolve_template", "reads_variable",
           "message_dicts", "is_batched", "check_conversation_text",
           "conversation_prompts", "shift", "cut", "apply_edits"]
