"""Batched greedy generation for M-RSVP records, as every evaluation needs it: the record's first question through
the chat template, the image and its prompts through the processor, `generate()`, and the processor's
post-processing (text, `<Region i>` answers, `[PIX]` masks at the original image size)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..pipelines.visual_prompting import model_input_dtype


def chat_prompt(processor, question: str) -> str:
    """The user turn with the image placeholder, rendered by the processor's chat template with the generation
    prompt (the format the model is trained on)."""
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True)


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
            inputs = processor(
                images=[r["image"] for r in chunk],
                text=[chat_prompt(processor, r["conversations"][0]["value"]) for r in chunk],
                visual_prompts=[r["prompts"] for r in chunk],
                return_tensors="pt",
            ).to(model.device)
            dtype = model_input_dtype(model)
            for key, value in inputs.items():  # image inputs follow the model's dtype (bf16 inference)
                if torch.is_floating_point(value):
                    inputs[key] = value.to(dtype)
            generated = model.generate(**inputs, max_new_tokens=max_new_tokens, return_dict_in_generate=True,
                                       **generate_kwargs)
            outputs += processor.post_process_generation(generated, inputs)
            bar.update(len(chunk))
    return outputs


__all__ = ["chat_prompt", "generate_for_records"]
