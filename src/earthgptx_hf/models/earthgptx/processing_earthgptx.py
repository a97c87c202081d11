"""EarthGPT-X processor: image processor + tokenizer, and the text contract with the model.

- `<image>` stands for one image; it is expanded to the image's visual token count (views x tokens per view) and
  prepended (with a newline) when the text has none.
- `<Region i>` (alias `<Mark i>`, rewritten to `<Region i>`) is the i-th visual prompt of that image, in the order
  given; a reference to a prompt that does not exist is an error.
- With region features (the model's `use_region_features`), the processor adds the region preamble
  `<Region 1><region_feat> <Region 2><region_feat> ...` after the image: the model fills each `<region_feat>` with the
  mask-pooled feature of that prompt.
- `[PIX]` is a special token; the model decodes a mask for every `[PIX]` it generates.
- Keyword arguments follow transformers' processor API (`EarthGPTXProcessorKwargs`): the tokenizer's and the image
  processor's, flat or in `text_kwargs` / `images_kwargs` / `common_kwargs`, routed by `ProcessorMixin._merge_kwargs`;
  a name neither takes is refused with a suggestion. Batches are padded on the left by default (generation); pass
  `padding_side="right"` for training.
- Text-only calls (no `images`) tokenise the text as it is (an LLM-only question); a batch is all text-only or all
  with one image per text.
- The output holds the model's inputs only; post-processing takes the original image sizes (`target_sizes`), as
  transformers' post-processors do.
- `check_model_config` is the one check that a processor and a model agree (token ids, view and prompt geometry).
"""


import difflib
import math
import numbers
import re

from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import ImageInput
from transformers.processing_utils import ImagesKwargs, ProcessingKwargs, ProcessorMixin, TextKwargs, Unpack
from transformers.utils.chat_template_utils import render_jinja_template

from .configuration_earthgptx import package_extension
from .conversation import (
    CHAT_TEMPLATE,
    LEGACY_CHAT_TEMPLATES,
    REGION_TAG_PATTERN,
    REGION_TAG_TEMPLATE,
    apply_edits,
    check_conversation_text,
    conversation_prompts,
    cut,
    is_batched,
    message_dicts,
    next_turn_inputs,
    parse_region_answers,
    reads_variable,
    region_reference_edits,
    resolve_template,
)
from .image_geometry import mask_box
from .image_processing_earthgptx import METADATA, PIXEL_STATISTICS, EarthGPTXImagesKwargs, as_batch

# --------------------------------------------------------------------------------------------------------------------
# The inputs of `EarthGPTXProcessor.__call__`, checked and laid out one per text: texts, images (flat or nested per
# text, as `ProcessorMixin.apply_chat_template` gives them), modalities, and the keyword arguments, which
# `ProcessorMixin._merge_kwargs` routes once they are known to be the tokenizer's or the image processor's.


MODALITIES = ("optical", "sar", "infrared")
URL = re.compile(r"^https?://", re.IGNORECASE)
# the flags of transformers' `ProcessingKwargs` (5.25; `text_kwargs` in 5.21) the processor honours
OUTPUT_FLAGS = ("return_text_replacement_offsets", "return_mm_token_type_ids")
INPUTS = ("images", "text", "visual_prompts", "modality")


def check_call_kwargs(kwargs: dict, kwargs_class, image_processor) -> None:
    """Refuses keyword arguments that neither the tokenizer (`kwargs_class`'s `text_kwargs`) nor the image processor
    (`images_kwargs`, its `valid_kwargs`) takes, flat or nested (`padding_sidee=`, `size=`, `num_frames=2`), with a
    suggestion, where `ProcessorMixin._merge_kwargs` would ignore them with a warning. Inputs and arguments of videos
    and audio given as None (as `ProcessorMixin.apply_chat_template` passes them) are taken out of `kwargs`."""
    annotations = kwargs_class.__annotations__
    text = set(annotations["text_kwargs"].__annotations__)
    images = set(annotations["images_kwargs"].__annotations__) | set(image_processor.valid_kwargs.__annotations__)
    other = {"videos", "audio", "videos_kwargs", "audio_kwargs", *annotations["videos_kwargs"].__annotations__,
             *annotations["audio_kwargs"].__annotations__} - text - set(ImagesKwargs.__annotations__)
    nested = {"text_kwargs": text, "images_kwargs": images, "common_kwargs": text | images}
    flat = text | images | set(nested) | set(OUTPUT_FLAGS)
    for name in [name for name in kwargs if name in other and kwargs[name] is None]:
        del kwargs[name]
    for name, value in kwargs.items():
        valid, where = (nested[name], f"{name}[{{!r}}]") if name in nested else (flat, "{!r}")
        for key in value if name in nested else [name]:
            if key in other:
                what = f"{key}=" if key in ("videos", "audio") else f"{where.format(key)} (videos or audio)"
                raise ValueError(f"{what} is not supported: EarthGPT-X takes images and text.")
            if key not in valid:
                close = difflib.get_close_matches(key, sorted(valid | set(INPUTS)), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"EarthGPTXProcessor got an unexpected keyword argument {where.format(key)}.{hint} "
                                f"Valid tokenizer arguments: {sorted(text)}; image processor arguments: "
                                f"{sorted(images)}.")


def batch_texts(text) -> list[str]:
    """`text` -> one string per sample."""
    if text is None:
        raise ValueError("text is required (e.g. the task instruction).")
    if not isinstance(text, (str, list, tuple)):
        raise TypeError(f"text[0] must be a string (or text a list of strings, one per image), got "
                        f"{type(text).__name__}.")
    return [text] if isinstance(text, str) else list(text)


def batch_images(images, count: int, visual_prompts, modality, fetch) -> list | None:
    """One image per text, flat or nested per text -> a flat list (URLs fetched with `fetch`), or None for a text-only
    call (`images=None`, or an empty list per text). The model pairs sequence i with image i (region features, `[PIX]`
    masks, follow-up turns), so a batch that mixes text-only and image samples is refused."""
    flat = []
    for i, item in enumerate([] if images is None else as_batch(images, "images")):
        if isinstance(item, (list, tuple)):
            if len(item) > 1:
                raise ValueError(f"images[{i}] holds {len(item)} images; EarthGPT-X takes one image per text.")
            item = item[0] if item else None
        flat.append(fetch(item) if isinstance(item, str) and URL.match(item) else item)
    without = [i for i, image in enumerate(flat) if image is None]
    if flat and len(flat) != count:
        raise ValueError(f"text has {count} entries but there are {len(flat)} images: give one text per image.")
    if flat and len(without) < len(flat):
        if without:
            raise ValueError(f"texts {without} have no image but the others have one: a batch is all text-only or "
                             "all with one image per text; process text-only samples in a batch of their own.")
        return flat
    if any(visual_prompts or []) or any(value is not None for value in as_batch(modality, "modality")):
        raise ValueError("visual_prompts and modality describe images, but this call has none (text only).")
    return None


def batch_modalities(modality, batch: int) -> list:
    """`modality` (one for all, or one per image) -> one per image, each None or one of `MODALITIES`."""
    values = [modality] * batch if modality is None or isinstance(modality, str) else list(modality)
    if len(values) != batch:
        raise ValueError(f"modality has {len(values)} entries but there are {batch} images.")
    for value in values:
        if value is not None and value not in MODALITIES:
            raise ValueError(f"modality={value!r} is not one of {list(MODALITIES)}.")
    return values


# --------------------------------------------------------------------------------------------------------------------
# Post-processing of `generate()` outputs: answer text, regions, masks at the original size, their scores and their
# regions; `EarthGPTXProcessor.post_process_generation` documents the result.


def check_min_score(min_score) -> float | None:
    """`min_score` of mask post-processing: None, or a finite number in [0, 1] (a score is a predicted IoU);
    a ValueError naming it otherwise."""
    if min_score is None:
        return None
    if isinstance(min_score, bool) or not isinstance(min_score, numbers.Real) or not math.isfinite(min_score) \
            or not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score={min_score!r} must be None or a finite number in [0, 1]: masks whose score (the "
                         "IoU the model predicts for them) is below it are dropped.")
    return float(min_score)


def mask_regions(text: str, pix_token: str = "[PIX]") -> list[int | None]:
    """For every `pix_token` in `text`, the region its mask belongs to: the last `<Region i>` before it on the same
    line (`"<Region 2>: [PIX]"` -> 2), or None."""
    owners, current = [], None
    for match in re.finditer(rf"{REGION_TAG_PATTERN}|{re.escape(pix_token)}|\n", text):
        if match.group(0) == "\n":
            current = None
        elif match.group(1):
            current = int(match.group(1))
        else:
            owners.append(current)
    return owners


# Text-referring grounding ("Segment every ship."): no prompt, so no `<Region i>` to bind a mask to. Each instance is
# one line, "<class> at the <position>[PIX]", top to bottom, and "none" when nothing matches. The position (the 3 x 3
# grid cell of `scene_facts.position_phrase`) is written before `[PIX]`, with no space, so that the state predicting
# `[PIX]` is the last word of "class at the position": it reads which instance is meant from the words it has just
# written, as a region answer's `[PIX]` reads its region from the `<Region i>` token before it (docs/training.md).
# Two "ship" lines would otherwise differ only in where they stand in the answer.
INSTANCE_SEPARATOR = " at the "
NO_INSTANCE = "none"


def instance_answer(label: str, position: str | None = None, pix_token: str = "[PIX]") -> str:
    """One instance's line of a text-referring answer: `"ship at the top left[PIX]"` (`"ship[PIX]"` without a
    position). `instance_labels` reads it back."""
    return f"{label}{INSTANCE_SEPARATOR}{position}{pix_token}" if position else f"{label}{pix_token}"


def instance_labels(text: str, pix_token: str = "[PIX]") -> list[str | None]:
    """For every `pix_token` in `text`, the class its line names before it (`instance_answer`'s format: "ship at the
    top left[PIX]" -> "ship"), without `<Region i>` tags and punctuation; None when the line names nothing (a region
    answer, "<Region 1>[PIX]")."""
    labels = []
    for line in text.split("\n"):
        for before in line.split(pix_token)[:-1]:  # a second [PIX] on a line: what follows the first names it
            words = re.sub(REGION_TAG_PATTERN, " ", before).split(INSTANCE_SEPARATOR)[0].strip(" \t.,:;")
            words = re.sub(r"^(sure|here (is|are) the masks?)\b[,:]?", "", words, flags=re.I).strip(" \t.,:;")
            labels.append(words or None)
    return labels


def post_process_generation(processor, outputs, inputs, target_sizes=None, mask_threshold: float = 0.0,
                            min_score: float | None = None) -> list[dict]:
    """`EarthGPTXProcessor.post_process_generation` (see there) for `processor`."""
    min_score = check_min_score(min_score)
    sequences = getattr(outputs, "sequences", outputs)
    pred_masks = getattr(outputs, "pred_masks", None)
    pred_scores = getattr(outputs, "pred_scores", None)
    batch, prompt_length = inputs["input_ids"].shape[:2]
    with_masks = [row for row in range(sequences.shape[0]) if pred_masks is not None and len(pred_masks[row])]
    if target_sizes is not None:
        if isinstance(target_sizes, (str, bytes)) or not hasattr(target_sizes, "__len__") or \
                len(target_sizes) != batch or any(len(size) != 2 for size in target_sizes):
            raise ValueError(f"target_sizes must hold one (height, width) per input image ({batch}), got "
                             f"{target_sizes!r}.")
        target_sizes = [tuple(int(v) for v in size) for size in target_sizes]
    masks, scores = {}, {}
    if with_masks:
        if target_sizes is None:
            raise ValueError("outputs hold masks: pass target_sizes, one (height, width) per input image (its "
                             "original size), to bring them back to the images.")
        input_index = getattr(outputs, "input_index", None)
        if input_index is None and sequences.shape[0] != batch:
            raise ValueError(f"outputs hold {sequences.shape[0]} sequences for {batch} inputs but no input_index: "
                             "pass what generate(..., return_dict_in_generate=True) returned.")
        for row in with_masks:
            given = "no" if pred_scores is None else len(pred_scores[row])
            if given != len(pred_masks[row]):
                raise ValueError(f"outputs.pred_masks[{row}] holds {len(pred_masks[row])} masks but "
                                 f"outputs.pred_scores gives {given} scores for it: pass what EarthGPT-X's generate(..., "
                                 "return_dict_in_generate=True) returned (one score per mask).")
            scores[row] = [float(v) for v in pred_scores[row].detach().float().cpu()]
        image_of = [int(i) for i in input_index] if input_index is not None else list(range(batch))
        processed = processor.image_processor.post_process_masks(
            [pred_masks[row] for row in with_masks], [target_sizes[image_of[row]] for row in with_masks],
            mask_threshold=mask_threshold)
        masks = {row: list(m.cpu().numpy()) for row, m in zip(with_masks, processed)}
    results = []
    for row in range(sequences.shape[0]):
        text = processor.decode_answer(sequences[row, prompt_length:])
        row_masks, row_scores = masks.get(row, []), scores.get(row, [])
        owners = (processor.mask_regions(text) + [None] * len(row_masks))[: len(row_masks)]
        labels = (instance_labels(text, processor.pix_token) + [None] * len(row_masks))[: len(row_masks)]
        keep = [k for k, score in enumerate(row_scores) if min_score is None or score >= min_score]
        results.append({"text": text, "regions": processor.parse_regions(text),
                        "masks": [row_masks[k] for k in keep], "scores": [row_scores[k] for k in keep],
                        "mask_regions": [owners[k] for k in keep], "mask_labels": [labels[k] for k in keep],
                        "mask_boxes": [mask_box(row_masks[k]) for k in keep],
                        "dropped_masks": len(row_masks) - len(keep)})
    return results


class EarthGPTXProcessorKwargs(ProcessingKwargs, total=False):
    """The keyword arguments of `EarthGPTXProcessor.__call__`: the tokenizer's (transformers' `TextKwargs`) and the
    image processor's (`EarthGPTXImagesKwargs`), flat or nested; batches are padded, on the left (generation)."""

    text_kwargs: TextKwargs
    images_kwargs: EarthGPTXImagesKwargs
    _defaults = {"text_kwargs": {"padding": True, "padding_side": "left"}}


class EarthGPTXProcessor(ProcessorMixin):
    r"""
    Args:
        image_processor (`EarthGPTXImageProcessor`): views, prompt maps and the SAM view.
        tokenizer: the language model's tokenizer with the EarthGPT-X tokens (`add_earthgptx_tokens`).
        use_region_features (`bool`): add the `<Region i><region_feat>` preamble (must match the model config).
        chat_template (`str`, *optional*): defaults to `CHAT_TEMPLATE` (USER: / ASSISTANT: turns).
        image_token, pix_token, region_feature_token: the special token strings (the defaults are the ones
            `EarthGPTXConfig` lays out).
        region_token_template: kept for saved processors; only `"<Region {}>"` (what answers are read with).
    """

    valid_processor_kwargs = EarthGPTXProcessorKwargs

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        use_region_features: bool = True,
        chat_template=None,
        image_token: str = "<image>",
        pix_token: str = "[PIX]",
        region_feature_token: str = "<region_feat>",
        region_token_template: str = REGION_TAG_TEMPLATE,
        **kwargs,
    ):
        self.use_region_features = use_region_features
        self.image_token = image_token
        self.pix_token = pix_token
        self.region_feature_token = region_feature_token
        if region_token_template != REGION_TAG_TEMPLATE:
            # the tokenizer's added region tokens, the training records, answer parsing, [PIX] pairing, metrics and
            # the app all write and read region_tags.REGION_TAG_TEMPLATE: another template would be rendered into
            # prompts but never read back from generated text
            raise ValueError(f"region_token_template={region_token_template!r} is not supported: the region tokens "
                             f"are {REGION_TAG_TEMPLATE!r} (models/earthgptx/conversation.py), which the tokenizer adds "
                             "and answers are read with; leave the argument out.")
        self.region_token_template = region_token_template
        if chat_template is None or chat_template in LEGACY_CHAT_TEMPLATES:  # see chat.LEGACY_CHAT_TEMPLATES
            chat_template = CHAT_TEMPLATE
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)
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
        processor_from_preset = package_extension("processor_from_preset", "EarthGPTXProcessor.from_preset")
        return processor_from_preset(cls, name, tokenizer=tokenizer, **image_processor_kwargs)

    @classmethod
    def from_model_config(cls, config, tokenizer=None, **image_processor_kwargs) -> "EarthGPTXProcessor":
        """A processor for an `EarthGPTXConfig`: image sizes and token ids match it.

        Args:
            tokenizer: a loaded tokenizer, a path (folder or SentencePiece file), or None for the shipped tokenizer.
        """
        processor_from_model_config = package_extension("processor_from_model_config",
                                                        "EarthGPTXProcessor.from_model_config")
        return processor_from_model_config(cls, config, tokenizer=tokenizer, **image_processor_kwargs)

    def check_model_config(self, config) -> None:
        """Raises one ValueError that lists every disagreement between this processor and a model's
        `EarthGPTXConfig`; call it where a processor and a model meet (pipeline, evaluation, demo).

        Compared: the tokenizer's ids of `<image>`, `[PIX]`, `<region_feat>` and `<Region 1>` ... `<Region K>` with
        `image_token_id`, `pix_token_id`, `region_feature_token_id` and `region_token_ids`; the tokenizer's size with
        `text_config.vocab_size` (no id beyond the embedding); `use_region_features`; and the image processor's
        `max_regions`, `tile_size`, `tile_grid` (unless it picks grids from `grid_pinpoints`), `patch_size` and
        `sam_image_size` with `max_regions`, `tile_size`, `tile_grid`, `dino_config.patch_size` and
        `grounding_image_size`; and the pixel statistics (`image_mean`, `image_std`, `convnext_image_*`,
        `sam_image_*`), with which the model normalises the processor's uint8 outputs; and `input_bands` and
        `band_adapter_init` (the bands of the views and of the SAM view).
        """
        tokenizer, images = self.tokenizer, self.image_processor
        patch = config.dino_config.patch_size
        regions = [self.region_token_template.format(i + 1) for i in range(len(config.region_token_ids))]
        compared = [  # (field, what this processor has, what the config has, where this processor's value comes from)
            ("image_token_id", tokenizer.convert_tokens_to_ids(self.image_token), config.image_token_id,
             f"the tokenizer's id of {self.image_token!r}"),
            ("pix_token_id", tokenizer.convert_tokens_to_ids(self.pix_token), config.pix_token_id,
             f"the tokenizer's id of {self.pix_token!r}"),
            ("region_feature_token_id", tokenizer.convert_tokens_to_ids(self.region_feature_token),
             config.region_feature_token_id, f"the tokenizer's id of {self.region_feature_token!r}"),
            ("region_token_ids", tokenizer.convert_tokens_to_ids(regions), list(config.region_token_ids),
             f"the tokenizer's ids of {regions[0]!r} ... {regions[-1]!r}"),
            ("use_region_features", self.use_region_features, config.use_region_features,
             "the processor's use_region_features"),
            ("max_regions", images.max_regions, config.max_regions, "the image processor's max_regions"),
            ("tile_size", images.tile_size, config.tile_size, "the image processor's tile_size"),
            ("dino_config.patch_size", images.patch_size, patch if isinstance(patch, int) else patch[0],
             "the image processor's patch_size"),
            ("grounding_image_size", images.sam_image_size, config.grounding_image_size,
             "the image processor's sam_image_size (the SAM view)"),
        ]
        if not images.grid_pinpoints:
            compared.append(("tile_grid", list(images.tile_grid), list(config.tile_grid),
                             "the image processor's tile_grid"))
        compared += [(key, [float(v) for v in getattr(images, key)], [float(v) for v in getattr(config, key)],
                      f"the image processor's {key}") for key in PIXEL_STATISTICS]
        compared += [(key, getattr(images, key, default), getattr(config, key, default),
                      f"the image processor's {key}")
                     for key, default in (("input_bands", 3), ("band_adapter_init", [0, 1, 2]))]
        problems = [f"{field}: the config has {theirs!r}, {where} is {ours!r}"
                    for field, ours, theirs, where in compared if ours != theirs]
        if len(tokenizer) > config.text_config.vocab_size:
            problems.append(f"text_config.vocab_size: the config has {config.text_config.vocab_size}, the tokenizer "
                            f"has {len(tokenizer)} ids (ids beyond the language model's embedding)")
        if problems:
            raise ValueError("The processor does not match the model config:\n- " + "\n- ".join(problems) + "\nUse "
                             "the processor saved with the model, or EarthGPTXProcessor.from_model_config(config).")

    # -----------------------------------------------------------------------------------------------------------------
    @property
    def reserved_tokens(self) -> list[str]:
        """Tokens people may not type: the processor writes `<region_feat>`, the model writes `[PIX]`, and the
        tokenizer's own markers (BOS, EOS, padding, unknown) come from the chat template and the tokenizer."""
        return self._reserved_tokens(rendered=False)

    def _reserved_tokens(self, rendered: bool) -> list[str]:
        """The one list of reserved tokens. In a `rendered` prompt (the chat template's output) the template's EOS and
        the answers' `[PIX]` stand legitimately (training texts), so only the others are refused there."""
        tokenizer = self.tokenizer
        tokens = [self.region_feature_token, None if rendered else self.pix_token, tokenizer.bos_token,
                  None if rendered else tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token]
        return list(dict.fromkeys(token for token in tokens if token))

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

    def expand_text(self, text: str, index: int, num_tokens: int, num_prompts: int, modality: str | None = None) -> str:
        """Validates the region references of `text` (image `index` has `num_prompts` prompts), rewrites `<Mark i>`,
        and expands `<image>` (prepended when missing) to `num_tokens` image tokens plus the region preamble."""
        return self._expand(text, index, num_tokens, num_prompts, modality)[0]

    def _expand(self, text: str, index: int, num_tokens: int | None, num_prompts: int, modality: str | None = None,
                strip_bos: bool = True) -> tuple[str, list[dict]]:
        """`expand_text`, with the edits it made (transformers' `text_replacement_offsets`). A leading BOS is the
        tokenizer's: removed when the tokenizer adds it (`strip_bos`), kept as the BOS token otherwise. With
        `num_tokens=None` the text has no image (a text-only call): `<image>` and region references are refused."""
        where = f"text[{index}]"
        if not isinstance(text, str):
            raise TypeError(f"{where} must be a string, got {type(text).__name__}.")
        # `text` is the rendered prompt (`_reserved_tokens(rendered=True)`); a template may open with BOS
        tokenizer = self.tokenizer
        lead = len(tokenizer.bos_token) if tokenizer.bos_token and text.startswith(tokenizer.bos_token) else 0
        for token in self._reserved_tokens(rendered=True):
            if token in text[lead:]:
                raise ValueError(f"{where} contains the reserved token {token!r}, which only the processor or the "
                                 "tokenizer writes; remove it from the text.")
        edits = [(0, lead, "", "text")] if lead and strip_bos else []
        image = f"image {index}" if num_tokens is not None else "a text-only call (no images)"
        edits += region_reference_edits(text, num_prompts, where, image, start=lead)
        places = [match.start() for match in re.finditer(re.escape(self.image_token), text)]
        if num_tokens is None and places:
            raise ValueError(f"{where} holds {self.image_token!r} but no images were given: pass images=, or remove "
                             f"{self.image_token!r} for a text-only call.")
        if len(places) > 1:
            raise ValueError(f"{where} holds {len(places)} <image> tokens; EarthGPT-X takes one image per text.")
        if num_tokens is None:
            return apply_edits(text, edits)
        block = self.image_token * num_tokens
        if self.use_region_features and num_prompts:
            block += " " + " ".join(
                self.region_token_template.format(i) + self.region_feature_token for i in range(1, num_prompts + 1)
            )
        if modality is not None:
            block += f" (modality: {modality})"
        if places:
            edits.append((places[0], places[0] + len(self.image_token), block, "image"))
        else:
            edits.append((lead, lead, block + "\n", "image"))
        return apply_edits(text, sorted(edits, key=lambda edit: edit[:2]))

    def __call__(self, images: ImageInput | None = None, text: str | list[str] | None = None, visual_prompts=None,
                 modality: str | list[str | None] | None = None,
                 **kwargs: Unpack[EarthGPTXProcessorKwargs]) -> BatchFeature:
        """
        Args:
            images: one image per text (PIL, path, http(s) URL, numpy, torch; optical, SAR or infrared), flat or nested
                per text (`[[image], ...]`); None for a text-only call. A URL is fetched by transformers' `load_image`
                (as `ProcessorMixin` does), which converts it to RGB.
            text: one text per image (a single string for a single image).
            visual_prompts: per image, a list of prompt dicts (a flat list for a single image).
            modality: "optical" | "sar" | "infrared" (one for all, or one per image); stated in the text when given.
            **kwargs: `EarthGPTXProcessorKwargs`: the tokenizer's (`padding`, `padding_side`, `truncation`,
                `max_length`, `return_offsets_mapping`, ...) and the image processor's (`do_sam_view`, `do_rescale`,
                ...), flat or in `text_kwargs` / `images_kwargs` / `common_kwargs`; `return_tensors` ("pt", "np" or
                None); `return_text_replacement_offsets=True` adds the edits made to each text (read by
                `apply_chat_template(return_assistant_tokens_mask=True)`); `return_mm_token_type_ids=True` marks the
                image tokens (1) in `mm_token_type_ids`.

        Returns:
            `BatchFeature` with `input_ids`, `attention_mask` and the image processor's model inputs; the model
            consumes it directly.
        """
        check_call_kwargs(kwargs, self.valid_processor_kwargs, self.image_processor)
        merged = self._merge_kwargs(self.valid_processor_kwargs, tokenizer_init_kwargs=self.tokenizer.init_kwargs,
                                    **kwargs)
        text_kwargs, images_kwargs = merged["text_kwargs"], merged["images_kwargs"]
        return_tensors = text_kwargs.pop("return_tensors", None)
        images_kwargs.pop("return_tensors", None)
        flags = {flag: bool(text_kwargs.pop(flag, None) or merged.get(flag)) for flag in OUTPUT_FLAGS}
        add_special_tokens = text_kwargs.pop("add_special_tokens", None) is not False
        texts = batch_texts(text)
        images = batch_images(images, len(texts), visual_prompts, modality, self.image_processor.fetch_images)
        image_inputs, expanded = {}, []
        if images is None:
            expanded = [self._expand(t, i, None, 0, strip_bos=add_special_tokens) for i, t in enumerate(texts)]
        else:
            modalities = batch_modalities(modality, len(images))
            image_inputs = self.image_processor(images, visual_prompts=visual_prompts, return_metadata=True,
                                                **images_kwargs)
            metadata = {key: image_inputs.pop(key) for key in METADATA}  # for the text, not for the model
            tokens_per_view = self.image_processor.tokens_per_view
            expanded = [
                self._expand(t, i, int(metadata["num_views"][i]) * tokens_per_view, int(metadata["num_prompts"][i]),
                             modalities[i], strip_bos=add_special_tokens)
                for i, t in enumerate(texts)
            ]
        text_inputs = self.tokenizer([t for t, _ in expanded], add_special_tokens=add_special_tokens, **text_kwargs)
        data = {**text_inputs, **image_inputs}
        if flags["return_text_replacement_offsets"]:
            data["text_replacement_offsets"] = [offsets for _, offsets in expanded]
        if flags["return_mm_token_type_ids"]:
            data["mm_token_type_ids"] = self.create_mm_token_type_ids(text_inputs["input_ids"])
        return BatchFeature(data=data, tensor_type=return_tensors, skip_tensor_conversion=["text_replacement_offsets"])

    # -----------------------------------------------------------------------------------------------------------------
    def apply_chat_template(self, conversation, chat_template=None, tools=None, documents=None, **kwargs):
        """`ProcessorMixin.apply_chat_template`, with its arguments and defaults (`tokenize=False`,
        `return_dict=False`, `add_generation_prompt`, `continue_final_message`, `return_assistant_tokens_mask`,
        `processor_kwargs`, ...), for EarthGPT-X conversations (module `chat`): messages are dicts or message objects
        (dataclasses, pydantic models such as the OpenAI SDK's); each conversation has at most one image item
        (`"image"`, `"url"` or `"path"`) and its visual prompts (`"visual_prompts"`); a conversation without one is
        text-only. Text a person wrote may not hold reserved tokens (`check_user_text`). `tools` and `documents` are
        refused unless the template reads them (the default template has no tool or document turns). With
        `tokenize=True` the result is this processor's output for the rendered text (`input_ids` only, unless
        `return_dict=True`).
        """
        template = resolve_template(self.chat_template, chat_template)
        for name, value in (("tools", tools), ("documents", documents)):
            if value is not None and not reads_variable(template, name):
                raise ValueError(f"{name}= is not supported: the chat template never reads {name!r} (EarthGPT-X's "
                                 f"default template has no tool or document turns). Leave {name} out, or pass a "
                                 f"chat_template that renders them.")
        conversation = message_dicts(conversation)
        conversations = conversation if is_batched(conversation) else [conversation]
        check_conversation_text(self, conversations)
        if kwargs.get("tokenize"):
            processor_kwargs = dict(kwargs.pop("processor_kwargs", None) or {})
            processor_kwargs.setdefault("visual_prompts", conversation_prompts(conversations))
            kwargs["processor_kwargs"] = processor_kwargs
        return super().apply_chat_template(conversation, chat_template=chat_template, tools=tools, documents=documents,
                                           **kwargs)

    def assistant_segments(self, conversation, num_tokens: int, num_prompts: int, modality: str | None = None,
                           chat_template=None, index: int = 0) -> list[tuple[str, bool]]:
        """One conversation's training text, cut where the model is supervised: `[(text, is_assistant), ...]`.

        The pieces join into what `apply_chat_template(conversation)` renders, expanded as `__call__` expands it
        (`num_tokens` image tokens, the preamble of `num_prompts` prompts, `modality`; image `index` in errors). The
        assistant pieces are what the template marks with `{% generation %}` ... `{% endgeneration %}`, found by
        transformers' `render_jinja_template(return_assistant_tokens_mask=True)`, as `apply_chat_template` finds them.
        Tokenising the pieces one by one keeps each prompt's tokens those of inference.
        """
        template = resolve_template(self.chat_template, chat_template)
        conversation = message_dicts(conversation)
        check_conversation_text(self, [conversation])
        rendered, spans = render_jinja_template(conversations=[conversation], chat_template=template,
                                                return_assistant_tokens_mask=True, **self.tokenizer.special_tokens_map)
        if not spans[0] and any(message.get("role") == "assistant" for message in conversation):
            raise ValueError("The chat template marks no assistant turn with {% generation %} ... {% endgeneration %}, so "
                             "nothing would be supervised: mark the assistant's text and EOS as CHAT_TEMPLATE does.")
        return cut(*self._expand(rendered[0], index, num_tokens, num_prompts, modality), spans[0])

    # -----------------------------------------------------------------------------------------------------------------
    def decode_answer(self, token_ids) -> str:
        """Generated ids -> text, keeping `<Region i>` and `[PIX]`, dropping padding, BOS and EOS."""
        text = self.tokenizer.decode(token_ids, skip_special_tokens=False)
        for token in {self.tokenizer.pad_token, self.tokenizer.bos_token, self.tokenizer.eos_token} - {None}:
            text = text.replace(token, "")
        return text.strip()

    parse_regions = staticmethod(parse_region_answers)  # `"<Region 1>: ship"` -> `{1: "ship"}` (region_tags)

    check_min_score = staticmethod(check_min_score)  # min_score of post_process_generation (the pipeline's too)

    def mask_regions(self, text: str) -> list[int | None]:
        """For every `[PIX]` in `text`, the region its mask belongs to: the last `<Region i>` before it on the same
        line (`"<Region 2>: [PIX]"` -> 2), or None (`post_processing.mask_regions`, the one owner of that rule)."""
        return mask_regions(text, self.pix_token)

    def post_process_generation(self, outputs, inputs, target_sizes=None, mask_threshold: float = 0.0,
                                min_score: float | None = None) -> list[dict]:
        """Per returned sequence: `{"text": str, "regions": {index: answer}, "masks": [bool (H, W) numpy],
        "scores": [float], "mask_regions": [int | None], "mask_labels": [str | None], "mask_boxes": [[x1, y1, x2, y2] | None],
        "dropped_masks": int}`.

        `masks` hold one mask per `[PIX]` of the answer, in order; `scores[k]` is mask k's score (the IoU the model
        predicts for it, `outputs.pred_scores`) and `mask_regions[k]` its region (`mask_regions`), `mask_labels[k]` the class its line names (`instance_labels`: a
        text-referring answer's "ship at the top left[PIX]") and `mask_boxes[k]` its tight box (`image_geometry.mask_box`). With `min_score`,
        masks scoring below it are removed (with their scores and regions) and counted in `dropped_masks`.

        Args:
            outputs: what `model.generate(**inputs, return_dict_in_generate=True)` returned (or plain sequences);
                its `input_index` tells which input each sequence answers.
            inputs: this processor's output that went into `generate` (for the prompt length).
            target_sizes: one (height, width) per input image, its original size (`image.shape[:2]`,
                `(image.height, image.width)`); required when `outputs` hold masks, which come back at that size.
            mask_threshold: mask logits above it are foreground.
            min_score: None (keep every mask) or a number in [0, 1]: the lowest score a mask may keep.
        """
        return post_process_generation(self, outputs, inputs, target_sizes=target_sizes,
                                       mask_threshold=mask_threshold, min_score=min_score)

    def next_turn(self, previous, text, attention_mask=None, return_tensors: str | None = "pt") -> BatchFeature:
        """The ids of a follow-up question about the same images (`conversation.next_turn_inputs`): the earlier
        turn's sequences, their end of turn, then `text` as the next user turn and the assistant prompt of the chat
        template. Give them to `generate()` with `previous.followup_kwargs()`: the image is not encoded again."""
        return next_turn_inputs(self, previous, text, attention_mask=attention_mask, return_tensors=return_tensors)

    @property
    def model_input_names(self) -> list[str]:
        return list(dict.fromkeys(self.tokenizer.model_input_names + self.image_processor.model_input_names))


__all__ = ["INSTANCE_SEPARATOR", "NO_INSTANCE", "instance_answer", "instance_labels", "MODALITIES", "OUTPUT_FLAGS", "check_call_kwargs", "batch_texts", "batch_images", "batch_modalities",
           "check_min_score", "mask_regions", "post_process_generation", "EarthGPTXProcessor",
           "EarthGPTXProcessorKwargs"]
