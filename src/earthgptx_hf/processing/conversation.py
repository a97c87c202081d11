"""Follow-up turns: the ids of the next question of a conversation whose earlier turns are in the KV cache.

A follow-up about the same image and prompts does not re-encode the image: `generate()` takes the earlier turn's
cache, region features and SAM embedding (`EarthGPTXGenerateOutput.followup_kwargs`) and the whole conversation as
`input_ids`; only the tokens after the cached ones are computed. `next_turn_inputs` builds those ids from the earlier
turn's own tokens (not from its decoded text, which may tokenize differently), so the cached prefix stays valid:

    earlier sequence (prompt + answer) | EOS when the answer did not end with it | the template's next user turn

The next user turn is what the chat template adds after an assistant message (`turn_suffix`); a template that does
not render a conversation as an extension of its earlier turns is refused.
"""

from __future__ import annotations

import torch
from transformers.image_processing_utils import BatchFeature

from .chat import apply_edits
from .region_tags import region_reference_edits

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


__all__ = ["next_turn_inputs", "turn_suffix"]
