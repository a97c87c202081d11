"""EarthGPT-X processor: image processor + tokenizer, and the text contract with the model.

- `<image>` stands for one image; it is expanded to the image's visual token count (views x tokens per view) and
  prepended (with a newline) when the text has none.
- `<Region i>` (alias `<Mark i>`, rewritten to `<Region i>`) is the i-th visual prompt of that image, in the order
  given; a reference to a prompt that does not exist is an error.
- With region features (the model's `use_region_features`), the processor adds the region preamble
  `<Region 1><region_feat> <Region 2><region_feat> ...` after the image: the model fills each `<region_feat>` with the
  mask-pooled feature of that prompt.
- `[PIX]` is a special token; the model decodes a mask for every `[PIX]` it generates.
- Batches are padded on the left by default (generation); pass `padding_side="right"` for training.
"""

from __future__ import annotations

import difflib
import inspect
import re

from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .image_processing_earthgptx import as_batch

MODALITIES = ("optical", "sar", "infrared")
REGION_REFERENCE = re.compile(r"<(Region|Mark)\s*(\d+)>")
REGION_ANSWER = re.compile(r"<Region\s*(\d+)>\s*:\s*(.*?)\s*$")

CHAT_TEMPLATE = (
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


class EarthGPTXProcessor(ProcessorMixin):
    r"""
    Args:
        image_processor (`EarthGPTXImageProcessor`): views, prompt maps and the SAM view.
        tokenizer: the language model's tokenizer with the EarthGPT-X tokens (`add_earthgptx_tokens`).
        use_region_features (`bool`): add the `<Region i><region_feat>` preamble (must match the model config).
        chat_template (`str`, *optional*): defaults to `CHAT_TEMPLATE` (USER: / ASSISTANT: turns).
        image_token, pix_token, region_feature_token, region_token_template: the special token strings (the
            defaults are the ones `EarthGPTXConfig` lays out).
    """

    attributes = ["image_processor", "tokenizer"]

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        use_region_features: bool = True,
        chat_template=None,
        image_token: str = "<image>",
        pix_token: str = "[PIX]",
        region_feature_token: str = "<region_feat>",
        region_token_template: str = "<Region {}>",
        **kwargs,
    ):
        self.use_region_features = use_region_features
        self.image_token = image_token
        self.pix_token = pix_token
        self.region_feature_token = region_feature_token
        self.region_token_template = region_token_template
        super().__init__(image_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE, **kwargs)
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.pix_token_id = tokenizer.convert_tokens_to_ids(self.pix_token)
        if self.image_token_id is None or self.image_token_id == tokenizer.unk_token_id:
            raise ValueError("The tokenizer has no <image> token: prepare it with add_earthgptx_tokens().")

    # -----------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, tokenizer=None, **image_processor_kwargs) -> "EarthGPTXProcessor":
        """A processor that matches `EarthGPTXConfig.from_preset(name)`, offline.

        Args:
            name: `"tiny"` and `"small"` use the tokenizer shipped with the package; `"paper"` needs the Llama-2
                tokenizer given as `tokenizer` (a tokenizer folder or a SentencePiece `tokenizer.model` file).
            tokenizer: a tokenizer folder or file for any preset (its vocabulary must match the preset's).
        """
        try:  # (kept out of the code copied next to saved checkpoints, which needs no preset)
            from earthgptx_hf.processing.presets import processor_from_preset
        except ImportError as error:
            raise ImportError("EarthGPTXProcessor.from_preset needs the earthgptx_hf package installed.") from error
        return processor_from_preset(cls, name, tokenizer=tokenizer, **image_processor_kwargs)

    @classmethod
    def from_model_config(cls, config, tokenizer=None, **image_processor_kwargs) -> "EarthGPTXProcessor":
        """A processor for an `EarthGPTXConfig`: image sizes and token ids match it.

        Args:
            tokenizer: a loaded tokenizer, a path (folder or SentencePiece file), or None for the shipped tokenizer.
        """
        try:
            from earthgptx_hf.processing.presets import processor_from_model_config
        except ImportError as error:
            raise ImportError("EarthGPTXProcessor.from_model_config needs the earthgptx_hf package installed.") from error
        return processor_from_model_config(cls, config, tokenizer=tokenizer, **image_processor_kwargs)

    # -----------------------------------------------------------------------------------------------------------------
    @property
    def reserved_tokens(self) -> list[str]:
        """Tokens people may not type: the processor writes `<region_feat>`, the model writes `[PIX]`, and the
        tokenizer's own markers (BOS, EOS, padding, unknown) come from the chat template and the tokenizer."""
        tokenizer = self.tokenizer
        special = [tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token]
        return list(dict.fromkeys(t for t in [self.region_feature_token, self.pix_token, *special] if t))

    def check_user_text(self, text: str, where: str = "text") -> str:
        """Refuses a reserved token (`reserved_tokens`) in text a person wrote (a user turn, an instruction, an
        annotation's question), naming the token; returns the text. A typed `<region_feat>` would otherwise take a
        region feature slot and be reported as a missing prompt."""
        if not isinstance(text, str):
            raise TypeError(f"{where} must be a string, got {type(text).__name__}.")
        for token in self.reserved_tokens:
            if token in text:
                raise ValueError(
                    f"{where} contains the reserved token {token!r}, which the processor, the model or the chat "
                    f"template writes; remove it from the text (reserved: {self.reserved_tokens})."
                )
        return text

    def _check_tokenizer_kwargs(self, kwargs: dict) -> None:
        """Misspelt keyword arguments (`padding_sidee=`) are refused instead of being ignored by the tokenizer."""
        valid = [name for name, parameter in inspect.signature(self.tokenizer.__call__).parameters.items()
                 if parameter.kind is parameter.KEYWORD_ONLY or parameter.kind is parameter.POSITIONAL_OR_KEYWORD]
        texts = ("self", "text", "text_pair", "text_target", "text_pair_target")
        valid = [name for name in valid if name not in texts]
        for name in kwargs:
            if name not in valid:
                close = difflib.get_close_matches(name, valid + ["images", "text", "visual_prompts", "modality"], n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"EarthGPTXProcessor got an unexpected keyword argument {name!r}.{hint} Valid "
                                f"tokenizer arguments: {sorted(valid)}.")

    def expand_text(self, text: str, index: int, num_tokens: int, num_prompts: int, modality: str | None = None) -> str:
        """Validates the region references of `text` (image `index` has `num_prompts` prompts), rewrites `<Mark i>`,
        and expands `<image>` (prepended when missing) to `num_tokens` image tokens plus the region preamble."""
        where = f"text[{index}]"
        if not isinstance(text, str):
            raise TypeError(f"{where} must be a string, got {type(text).__name__}.")
        # `text` is the rendered prompt: the chat template's `</s>` and answers' `[PIX]` may stand in it (training),
        # and a template may open with BOS (the tokenizer adds it itself); the tokens no template or answer writes
        # may not
        tokenizer = self.tokenizer
        if tokenizer.bos_token and text.startswith(tokenizer.bos_token):
            text = text[len(tokenizer.bos_token):]
        for token in (self.region_feature_token, tokenizer.bos_token, tokenizer.pad_token, tokenizer.unk_token):
            if token and token in text:
                raise ValueError(f"{where} contains the reserved token {token!r}, which only the processor or the "
                                 "tokenizer writes; remove it from the text.")

        def check_reference(match: re.Match) -> str:
            number = int(match.group(2))
            if not 1 <= number <= num_prompts:
                raise ValueError(
                    f"{where} refers to {match.group(0)}, but image {index} has {num_prompts} visual prompt(s): "
                    f"valid references are <Region 1> ... <Region {num_prompts}>." if num_prompts else
                    f"{where} refers to {match.group(0)}, but image {index} has no visual prompt."
                )
            return self.region_token_template.format(number)

        text = REGION_REFERENCE.sub(check_reference, text)
        count = text.count(self.image_token)
        if count > 1:
            raise ValueError(f"{where} holds {count} <image> tokens; EarthGPT-X takes one image per text.")
        if count == 0:
            text = f"{self.image_token}\n{text}"
        block = self.image_token * num_tokens
        if self.use_region_features and num_prompts:
            block += " " + " ".join(
                self.region_token_template.format(i) + self.region_feature_token for i in range(1, num_prompts + 1)
            )
        if modality is not None:
            block += f" (modality: {modality})"
        return text.replace(self.image_token, block, 1)

    def __call__(
        self,
        images=None,
        text: str | list[str] | None = None,
        visual_prompts=None,
        modality: str | list[str | None] | None = None,
        return_tensors: str | None = None,
        padding: bool | str = True,
        padding_side: str = "left",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            images: one image or a list (PIL, path, numpy, torch; optical, SAR or infrared).
            text: one text per image (a single string for a single image).
            visual_prompts: per image, a list of prompt dicts (a flat list for a single image).
            modality: "optical" | "sar" | "infrared" (one for all, or one per image); stated in the text when given.
            return_tensors: "pt", "np" or None.
            padding, padding_side: tokenizer padding (left by default, for generation).
            **kwargs: passed to the tokenizer (e.g. `truncation`, `max_length`).

        Returns:
            `BatchFeature` with `input_ids`, `attention_mask` and the image processor's outputs; the model consumes it
            directly.
        """
        if images is None:
            raise ValueError("images is required: EarthGPT-X answers about an image.")
        images = as_batch(images, "images")
        if text is None:
            raise ValueError("text is required (e.g. the task instruction).")
        if not isinstance(text, (str, list, tuple)):
            raise TypeError(f"text[0] must be a string (or text a list of strings, one per image), got "
                            f"{type(text).__name__}.")
        texts = [text] if isinstance(text, str) else list(text)
        if len(texts) != len(images):
            raise ValueError(f"text has {len(texts)} entries but there are {len(images)} images: give one text per "
                             "image.")
        modalities = self._modalities(modality, len(images))
        self._check_tokenizer_kwargs(kwargs)
        image_inputs = self.image_processor(images, visual_prompts=visual_prompts)
        tokens_per_view = self.image_processor.tokens_per_view
        expanded = [
            self.expand_text(t, i, int(image_inputs["num_views"][i]) * tokens_per_view,
                              int(image_inputs["num_prompts"][i]), modalities[i])
            for i, t in enumerate(texts)
        ]
        text_inputs = self.tokenizer(expanded, padding=padding, padding_side=padding_side, **kwargs)
        return BatchFeature(data={**text_inputs, **image_inputs}, tensor_type=return_tensors)

    @staticmethod
    def _modalities(modality, batch: int) -> list:
        values = [modality] * batch if modality is None or isinstance(modality, str) else list(modality)
        if len(values) != batch:
            raise ValueError(f"modality has {len(values)} entries but there are {batch} images.")
        for value in values:
            if value is not None and value not in MODALITIES:
                raise ValueError(f"modality={value!r} is not one of {list(MODALITIES)}.")
        return values

    # -----------------------------------------------------------------------------------------------------------------
    def apply_chat_template(self, conversation, chat_template=None, **kwargs):
        """transformers' message format, with images and visual prompts in the user turns.

        A content item `{"type": "image", "image": ...}` gives the image (`"url"`/`"path"` also work),
        `{"type": "visual_prompts", "visual_prompts": [...]}` (or a `"visual_prompts"` key on the image item) gives its
        prompts. With `tokenize=True` the result is this processor's output for the rendered text.
        """
        tokenize = kwargs.pop("tokenize", False)
        return_dict = kwargs.pop("return_dict", tokenize)
        add_generation_prompt = kwargs.pop("add_generation_prompt", False)
        conversations = [conversation] if conversation and isinstance(conversation[0], dict) else conversation
        for c, messages in enumerate(conversations):
            for m, message in enumerate(messages):
                if message.get("role") == "assistant":  # answers may hold [PIX]; people write every other turn
                    continue
                content = message.get("content")
                items = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
                where = f"conversation[{c}][{m}] ({message.get('role')})"
                texts = []
                for i, item in enumerate(items):
                    if item.get("type") == "text":
                        texts.append(self.check_user_text(item.get("text"), f"{where} content[{i}] text"))
                # the template joins the items: a token split across two of them is still that token
                self.check_user_text("".join(texts), f"{where} text")
        texts = [
            super(EarthGPTXProcessor, self).apply_chat_template(
                c, chat_template=chat_template, tokenize=False, add_generation_prompt=add_generation_prompt
            )
            for c in conversations
        ]
        if not tokenize:
            return texts[0] if len(texts) == 1 and conversation and isinstance(conversation[0], dict) else texts
        images, prompts = [], []
        for c in conversations:
            image, image_prompts = None, []
            for message in c:
                content = message.get("content")
                if isinstance(content, str):
                    continue
                for item in content:
                    if item.get("type") == "image":
                        image = item.get("image", item.get("path", item.get("url")))
                        image_prompts = item.get("visual_prompts", image_prompts)
                    elif item.get("type") == "visual_prompts":
                        image_prompts = item["visual_prompts"]
            if image is None:
                raise ValueError("Each conversation needs one {'type': 'image'} content item.")
            images.append(image)
            prompts.append(image_prompts)
        text = [t.removeprefix(self.tokenizer.bos_token or "") for t in texts]
        out = self(images=images, text=text, visual_prompts=prompts, **kwargs)
        return out if return_dict else out["input_ids"]

    # -----------------------------------------------------------------------------------------------------------------
    def decode_answer(self, token_ids) -> str:
        """Generated ids -> text, keeping `<Region i>` and `[PIX]`, dropping padding, BOS and EOS."""
        text = self.tokenizer.decode(token_ids, skip_special_tokens=False)
        for token in {self.tokenizer.pad_token, self.tokenizer.bos_token, self.tokenizer.eos_token} - {None}:
            text = text.replace(token, "")
        return text.strip()

    @staticmethod
    def parse_regions(text: str) -> dict[int, str]:
        """`"<Region 1>: ship\\n<Region 2>: storage tank"` -> `{1: "ship", 2: "storage tank"}`.

        Lines that are not region answers are ignored; a repeated region keeps its first answer; a trailing period is
        removed.
        """
        regions: dict[int, str] = {}
        for line in re.split(r"[\n;]|(?=<Region\s*\d+>)", text):
            match = REGION_ANSWER.match(line.strip())
            if match and int(match.group(1)) not in regions:
                regions[int(match.group(1))] = match.group(2).strip().rstrip(".").strip()
        return regions

    def post_process_generation(self, outputs, inputs, mask_threshold: float = 0.0) -> list[dict]:
        """Per image: `{"text": str, "regions": {index: answer}, "masks": [bool (H, W) numpy at the original size]}`.

        Args:
            outputs: what `model.generate(**inputs, return_dict_in_generate=True)` returned (or plain sequences).
            inputs: this processor's output that went into `generate`.
        """
        sequences = getattr(outputs, "sequences", outputs)
        pred_masks = getattr(outputs, "pred_masks", None)
        prompt_length = inputs["input_ids"].shape[1]
        expand = sequences.shape[0] // inputs["input_ids"].shape[0]
        results = []
        for row in range(sequences.shape[0]):
            image = row // expand
            text = self.decode_answer(sequences[row, prompt_length:])
            masks = []
            if pred_masks is not None and pred_masks[row].shape[0]:
                masks = list(
                    self.image_processor.post_process_masks(
                        pred_masks[row], inputs["original_sizes"][image], inputs["reshaped_input_sizes"][image],
                        threshold=mask_threshold,
                    ).cpu().numpy()
                )
            results.append({"text": text, "regions": self.parse_regions(text), "masks": masks})
        return results

    @property
    def model_input_names(self) -> list[str]:
        return list(dict.fromkeys(self.tokenizer.model_input_names + self.image_processor.model_input_names))


__all__ = ["EarthGPTXProcessor", "CHAT_TEMPLATE", "MODALITIES"]
