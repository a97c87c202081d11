"""Batched greedy generation for M-RSVP records, as every evaluation needs it: the record's conversation up to its last
answer (its first question, or a multi-turn conversation's earlier turns and the follow-up) through the chat template, the image and its prompts through the processor, `generate()`, and the processor's
post-processing (text, `<Region i>` answers, `[PIX]` masks at the size of the record's image)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


def chat_prompt(processor, question: str) -> str:
    """The user turn with the image placeholder, rendered by the processor's chat template with the generation
    prompt (the format the model is trained on)."""
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True)


ASSISTANT_ROLES = ("model", "gpt", "assistant")


def record_prompt(processor, record: dict) -> str:
    """The record's turns before its last answer, the image item opening the first user turn, rendered by the chat
    template with the generation prompt: for a single-turn record, `chat_prompt` of its question."""
    turns = list(record["conversations"])
    if turns and turns[-1]["from"] in ASSISTANT_ROLES:
        turns = turns[:-1]
    messages = [{"role": "assistant" if turn["from"] in ASSISTANT_ROLES else "user",
                 "content": [{"type": "text", "text": turn["value"]}]} for turn in turns]
    messages[0]["content"].insert(0, {"type": "image"})
    return processor.apply_chat_template(messages, add_generation_prompt=True)


@torch.no_grad()
def generate_for_records(model, processor, records: list[dict], batch_size: int = 8, max_new_tokens: int = 48,
                         progress: bool = True, desc: str = "generating", **generate_kwargs) -> list[dict]:
    """Per record, `{"text", "regions", "masks"}` as `EarthGPTXProcessor.post_process_generation` gives them.

    Greedy decoding unless `generate_kwargs` say otherwise; a progress bar counts records.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1.")
    model.eval()
    outputs = []
    generate_kwargs = {"do_sample": False, **generate_kwargs}
    with tqdm(total=len(records), desc=desc, unit="sample", disable=not progress) as bar:
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            sizes = [processor.image_processor.get_image_size(r["image"], argument=f"records[{start + i}]['image']")
                     for i, r in enumerate(chunk)]  # the masks come back at each image's own size
            inputs = processor(
                images=[r["image"] for r in chunk],
                text=[record_prompt(processor, r) for r in chunk],
                visual_prompts=[r["prompts"] for r in chunk],
                return_tensors="pt",
            ).to(model.device)  # float inputs stay float32: the model casts them to its towers' dtypes
            generated = model.generate(**inputs, max_new_tokens=max_new_tokens, return_dict_in_generate=True,
                                       **generate_kwargs)
            outputs += processor.post_process_generation(generated, inputs, target_sizes=sizes)
            bar.update(len(chunk))
    return outputs


__all__ = ["chat_prompt", "generate_for_records", "record_prompt"]
