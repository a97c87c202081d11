"""Data collator: M-RSVP examples -> one batch the model trains on.

The text of a record is its conversation rendered by the processor's chat template, as inference renders it
(`EarthGPTXProcessor.assistant_segments`): the image item in the first user turn, the image and region preamble
expanded as the processor expands them. Labels are -100 everywhere except what the template marks as the assistant's
(`{% generation %}`: the answers and their EOS). Each piece is tokenised on its own, so a prompt's tokens are the ones
the model sees at inference. For every `[PIX]` in the answers, `gt_masks` holds the mask of the region named by
`pix_targets` in the SAM view's frame (`sam_image_size` square, like `sam_pixel_values`). With `region_labels=True`,
`region_labels` holds the targets of the region-label loss (`models/earthgptx/perception.py`): per prompt of a
classification record, the first token of its class as the answer tokenises it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from ..data.dataset import example_to_record
from ..models.earthgptx.perception import IGNORE_INDEX  # the model's (labels and region_labels), -100 as in torch
from ..models.earthgptx.conversation import region_tag
from ..models.earthgptx.visual_prompts import rle_to_mask


def _undecoded(image):
    """A row's image for the processor: a `datasets.Image(decode=False)` dict (N-band windows, which PIL cannot
    decode) as its path or its bytes; anything else as it is."""
    if isinstance(image, dict) and ("path" in image or "bytes" in image):
        return image["path"] if image.get("bytes") is None else io.BytesIO(image["bytes"])
    return image

ROLES = {"user": "user", "human": "user", "model": "assistant", "gpt": "assistant", "assistant": "assistant"}


@dataclass
class EarthGPTXDataCollator:
    """
    Args:
        processor: an `EarthGPTXProcessor` (its chat template lays out the text; it must mark the assistant turns with
            `{% generation %}`, as the default one does).
        max_length: refuse (with the record's id) sequences longer than this; image tokens cannot be truncated.
        state_modality: state the modality in the text ("(modality: sar)"), as the processor's `modality=` does.
        pad_to_multiple_of: pad the sequence length to a multiple of this.
        region_labels: also return `region_labels` `(B, max_regions)`: for each prompt of a classification record, the
            token that follows "<Region i>:" in its answer (the first token of the class), -100 elsewhere (other
            tasks, padding prompts). The targets of `EarthGPTXConfig.region_label_loss_weight`.
    """

    processor: object
    max_length: int | None = None
    state_modality: bool = False
    pad_to_multiple_of: int | None = None
    region_labels: bool = False

    def __post_init__(self):
        self.pad = self.processor.tokenizer.pad_token_id
        self.pix = self.processor.pix_token_id

    def messages(self, record: dict) -> list[dict]:
        """The record's conversation in transformers' message format (the image item opens the first user turn
        unless the question places `<image>` itself); user turns are checked for reserved tokens."""
        messages = []
        for number, turn in enumerate(record["conversations"]):
            role = ROLES.get(turn["from"])
            if role is None:
                raise ValueError(f"Record {record.get('id')!r}: conversation turn {number} is from {turn['from']!r}; "
                                 "expected 'user' or 'model'.")
            text = turn["value"]
            if role == "user":
                text = self.processor.check_user_text(text, f"record {record.get('id')!r} conversation turn {number}")
            content = [{"type": "text", "text": text}]
            if number == 0 and self.processor.image_token not in text:
                content.insert(0, {"type": "image"})
            messages.append({"role": role, "content": content})
        return messages

    def tokenize(self, record: dict, index: int, num_image_tokens: int) -> tuple[list[int], list[int]]:
        """Token ids and labels of one record's conversation."""
        segments = self.processor.assistant_segments(
            self.messages(record), num_image_tokens, len(record["prompts"]),
            record.get("modality") if self.state_modality else None, index=index,
        )
        ids, labels = [], []
        for number, (text, assistant) in enumerate(segments):
            # the first piece opens the sequence: the tokenizer adds its own start (BOS), as at inference
            piece = self.processor.tokenizer(text, add_special_tokens=number == 0)["input_ids"]
            ids += piece
            labels += piece if assistant else [IGNORE_INDEX] * len(piece)
        if self.max_length is not None and len(ids) > self.max_length:
            raise ValueError(f"Record {record.get('id')!r} has {len(ids)} tokens, more than max_length="
                             f"{self.max_length}; its image tokens cannot be truncated.")
        return ids, labels

    def region_label_ids(self, record: dict) -> list[int]:
        """Per prompt of `record`, the first token of its class in the answer (IGNORE_INDEX when the record is not a
        classification record or its answer names no class for that prompt). The answer line "<Region i>: class" is
        tokenised whole and without its class, so the token is the one the answer continues with."""
        targets = [IGNORE_INDEX] * len(record["prompts"])
        if record.get("task") != "classification":
            return targets
        answers = [t["value"] for t in record["conversations"] if ROLES.get(t["from"]) == "assistant"]
        classes = self.processor.parse_regions(answers[0]) if answers else {}
        tokenizer = self.processor.tokenizer
        for index, label in classes.items():
            if not 1 <= index <= len(targets) or not label:
                continue
            prefix = tokenizer(f"{region_tag(index)}:", add_special_tokens=False)["input_ids"]
            line = tokenizer(f"{region_tag(index)}: {label}", add_special_tokens=False)["input_ids"]
            if len(line) > len(prefix) and line[: len(prefix)] == prefix:
                targets[index - 1] = line[len(prefix)]
        return targets

    def _gt_masks(self, record: dict, labels: list[int]) -> list[np.ndarray]:
        targets = list(record.get("pix_targets") or [])
        found = sum(1 for t in labels if t == self.pix)
        if found != len(targets):
            raise ValueError(f"Record {record.get('id')!r}: the answers hold {found} [PIX] tokens but pix_targets names "
                             f"{len(targets)} regions.")
        masks, given = [], record.get("masks") or [None] * len(record["prompts"])
        for region in targets:
            if isinstance(region, bool) or not isinstance(region, int) or not 1 <= region <= len(given):
                raise ValueError(f"Record {record.get('id')!r}: pix_targets names mask {region!r}, but the record has "
                                 f"{len(given)} masks (one per prompt, or per target of a referring answer): give "
                                 f"1 to {len(given)}.")
            rle = given[region - 1]
            if rle is None:
                raise ValueError(f"Record {record.get('id')!r}: [PIX] refers to region {region}, which has no mask.")
            mask = rle_to_mask(rle, where=f"record {record.get('id')!r} masks[{region - 1}]")
            masks.append(self.processor.image_processor.resize_mask_to_sam_view(mask))
        return masks

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        records = [example_to_record(e) if isinstance(e.get("prompts"), str) else e for e in examples]
        needs_masks = any(r.get("pix_targets") for r in records)
        image_inputs = self.processor.image_processor(
            [_undecoded(r["image"]) for r in records], visual_prompts=[r["prompts"] for r in records],
            do_sam_view=needs_masks,
            return_metadata=True,
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
        for key in self.processor.image_processor.model_input_names:
            if key in image_inputs:
                batch[key] = torch.as_tensor(np.asarray(image_inputs[key]))
        if self.region_labels:
            width = self.processor.image_processor.max_regions
            batch["region_labels"] = torch.full((len(records), width), IGNORE_INDEX, dtype=torch.long)
            for row, record in enumerate(records):
                targets = self.region_label_ids(record)[:width]
                batch["region_labels"][row, : len(targets)] = torch.tensor(targets, dtype=torch.long)
        if gt_masks:  # (n_pix, S, S) in the SAM view's frame; the model resizes its mask logits to them
            batch["gt_masks"] = torch.from_numpy(np.stack(gt_masks)).float()
        return batch


__all__ = ["EarthGPTXDataCollator", "IGNORE_INDEX"]
