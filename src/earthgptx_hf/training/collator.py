"""Data collator: M-RSVP examples -> one batch the model trains on.

Text layout (the processor's chat template): `<s>USER: {question}\\nASSISTANT: {answer}</s>` per turn, the image
and region preamble expanded in the first question. Labels are -100 everywhere except the model's answers (and their
`</s>`). For every `[PIX]` in the answers, `gt_masks` holds the mask of the region named by `pix_targets`, resized
into the SAM view's frame at the pixel decoder's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.dataset import example_to_record
from ..processing.visual_prompts import rle_to_mask

IGNORE_INDEX = -100


@dataclass
class EarthGPTXDataCollator:
    """
    Args:
        processor: an `EarthGPTXProcessor`.
        max_length: refuse (with the record's id) sequences longer than this; image tokens cannot be truncated.
        state_modality: state the modality in the text ("(modality: sar)"), as the processor's `modality=` does.
        pad_to_multiple_of: pad the sequence length to a multiple of this.
    """

    processor: object
    max_length: int | None = None
    state_modality: bool = False
    pad_to_multiple_of: int | None = None

    def __post_init__(self):
        tokenizer = self.processor.tokenizer
        self.bos, self.eos, self.pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        self.pix = self.processor.pix_token_id
        self.mask_size = self.processor.image_processor.sam_image_size // 4  # the pixel decoder's output size

    def _encode(self, text: str) -> list[int]:
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]

    def tokenize(self, record: dict, index: int, num_image_tokens: int) -> tuple[list[int], list[int]]:
        """Token ids and labels of one record's conversation."""
        turns = record["conversations"]
        ids, labels = [self.bos], [IGNORE_INDEX]
        for number, turn in enumerate(turns):
            if turn["from"] in ("user", "human"):
                question = self.processor.check_user_text(
                    turn["value"], f"record {record.get('id')!r} conversation turn {number}")
                if number == 0:
                    question = self.processor.expand_text(
                        question, index, num_image_tokens, len(record["prompts"]),
                        record.get("modality") if self.state_modality else None,
                    )
                piece = self._encode(("\n" if number else "") + f"USER: {question}\nASSISTANT: ")
                ids += piece
                labels += [IGNORE_INDEX] * len(piece)
            elif turn["from"] in ("model", "gpt", "assistant"):
                piece = self._encode(turn["value"]) + [self.eos]
                ids += piece
                labels += piece
            else:
                raise ValueError(f"Record {record.get('id')!r}: conversation turn {number} is from {turn['from']!r}; "
                                 "expected 'user' or 'model'.")
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(f"Record {record.get('id')!r} has {len(ids)} tokens, more than max_length="
                             f"{self.max_length}; its image tokens cannot be truncated.")
        return ids, labels

    def _gt_masks(self, record: dict, labels: list[int]) -> list[np.ndarray]:
        targets = list(record.get("pix_targets") or [])
        found = sum(1 for t in labels if t == self.pix)
        if found != len(targets):
            raise ValueError(f"Record {record.get('id')!r}: the answers hold {found} [PIX] tokens but pix_targets names "
                             f"{len(targets)} regions.")
        masks = []
        for region in targets:
            rle = (record.get("masks") or [None] * len(record["prompts"]))[region - 1]
            if rle is None:
                raise ValueError(f"Record {record.get('id')!r}: [PIX] refers to region {region}, which has no mask.")
            masks.append(self.processor.image_processor.resize_mask_to_sam_view(rle_to_mask(rle), self.mask_size))
        return masks

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        records = [example_to_record(e) if isinstance(e.get("prompts"), str) else e for e in examples]
        needs_masks = any(r.get("pix_targets") for r in records)
        image_inputs = self.processor.image_processor(
            [r["image"] for r in records], visual_prompts=[r["prompts"] for r in records], do_sam_view=needs_masks
        )
        per_view = self.processor.image_processor.tokens_per_view
        sequences, gt_masks = [], []
        for index, record in enumerate(records):
            ids, labels = self.tokenize(record, index, int(image_inputs["num_views"][index]) * per_view)
            sequences.append((ids, labels))
            gt_masks += self._gt_masks(record, labels)
        width = max(len(ids) for ids, _ in sequences)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(records), width), self.pad, dtype=torch.long)
        labels = torch.full((len(records), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(records), width), dtype=torch.long)
        for row, (ids, lab) in enumerate(sequences):  # right padding for training
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, : len(lab)] = torch.tensor(lab)
            attention_mask[row, : len(ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        for key in ("pixel_values", "convnext_pixel_values", "prompt_maps", "view_mask", "sam_pixel_values"):
            if key in image_inputs:
                batch[key] = torch.as_tensor(np.asarray(image_inputs[key]))
        if gt_masks:
            batch["gt_masks"] = torch.from_numpy(np.stack(gt_masks)).float()
        return batch


__all__ = ["EarthGPTXDataCollator", "IGNORE_INDEX"]
