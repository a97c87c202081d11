"""Generation for EarthGPT-X: `GenerationMixin` plus the masks of generated [PIX] tokens.

Every piece of per-call state lives in the call: the visual inputs go through generation's own multimodal mechanism
(`get_image_features` runs once before the prefill, its output travels as `mm_encoder_outputs` and is dropped after
the prefill by `prepare_inputs_for_generation`), the region features of the prefill are handed to the decoding steps
in `model_kwargs`, and the hidden states that predict the generated tokens are collected in a list passed as a
generation kwarg. Two threads generating with one model never share any of it.

A follow-up turn about the same image reuses the first turn's work (`EarthGPTXGenerateOutput.followup_kwargs`): the
KV cache (transformers' cache object, which already holds the visual tokens), the region features that `<Region i>`
tokens of the new question receive, and SAM's image embedding; the towers, the fusion and SAM's image encoder do not
run again (`EarthGPTXProcessor.next_turn` builds the follow-up's ids).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields

import torch
from transformers import GenerationMixin
from transformers.generation.utils import GenerateBeamDecoderOnlyOutput, GenerateDecoderOnlyOutput
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.utils import logging

from .mixed_visual_encoder import packed_width

# --------------------------------------------------------------------------------------------------------------------
# The KV cache under the name the installed transformers gives it.
#
# transformers 5.24 renamed the KV cache from `past_key_values` to `cache`: in the `ModelOutput` classes, in
# `generate()` and in every model's forward pass (`past_key_values` stays a deprecated alias until 5.40). The oldest
# releases of our declared range know only `past_key_values`. The name is read from transformers' own output class, not
# written down here, so this code, which checkpoints also carry as remote code, runs on every release of the range.


# The field that holds the KV cache in transformers' outputs, and the keyword its models and `generate()` use.
CACHE_KEY = next(f.name for f in fields(CausalLMOutputWithPast) if f.name in ("cache", "past_key_values"))
# Every name a caller may use for it: the installed one first, then the older ones the installed release still takes.
_CACHE_ALIASES = (CACHE_KEY, *(name for name in ("cache", "past_key_values") if name != CACHE_KEY))


def pop_cache(kwargs: dict):
    """Removes the KV cache from `kwargs`, whichever name it came under, and returns it (None when absent).

    Raises:
        ValueError: when two names carry a cache at once (transformers itself refuses that too).
    """
    given = {name: kwargs.pop(name) for name in _CACHE_ALIASES if name in kwargs}
    present = {name: value for name, value in given.items() if value is not None}
    if len(present) > 1:
        raise ValueError(
            f"The KV cache was given twice, as {' and '.join(present)}: pass it once, as `{CACHE_KEY}` "
            "(the name of the installed transformers release)."
        )
    return next(iter(present.values()), None)


def cache_kwargs(cache) -> dict:
    """`{name: cache}` under the installed release's name, for calling a model or building an output."""
    return {CACHE_KEY: cache}


def output_cache(outputs):
    """The KV cache of a transformers model output (None when it has none)."""
    return getattr(outputs, CACHE_KEY, None)


def crop_cache(cache, length: int) -> None:
    """Keeps the first `length` positions of `cache` (in place). `Cache.crop` takes the number of tokens to remove as a
    negative number on every release of the range (5.24 refuses a positive length, and `crop(0)` empties the cache
    before 5.24), so only a real removal calls it."""
    if not 0 <= length <= cache.get_seq_length():
        raise ValueError(f"length={length} must be between 0 and the cache's {cache.get_seq_length()} positions.")
    remove = cache.get_seq_length() - length
    if remove:
        cache.crop(-remove)


# --------------------------------------------------------------------------------------------------------------------
# Checks at the model boundary: every input is refused with a message naming it before the network runs.


def pix_predictor_positions(input_ids: torch.Tensor, pix_token_id: int) -> list[torch.Tensor]:
    """Positions whose hidden state predicts a [PIX] token (LISA's contract: the position before each [PIX]).

    Args:
        input_ids: `(B, S)`.

    Returns:
        per sample, a 1-D tensor of positions `t - 1` for every `t` with `input_ids[b, t] == pix_token_id`.
    """
    is_pix = input_ids == pix_token_id
    if is_pix[:, 0].any():
        raise ValueError("A [PIX] token stands at the first position of input_ids: no position predicts it.")
    return [torch.nonzero(row, as_tuple=False).flatten() - 1 for row in is_pix]


def check_finite(**tensors: torch.Tensor | None) -> None:
    """Refuses NaN or inf in visual inputs, once, at the model boundary: they would make every logit NaN and
    `generate()` return padding silently. Raises ValueError naming the input and how many values are not finite."""
    for name, tensor in tensors.items():
        if tensor is None or not tensor.is_floating_point() or tensor.is_meta:  # meta tensors hold no values
            continue
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise ValueError(
                f"{name} holds {bad} NaN or infinite value(s) out of {tensor.numel()}: the model needs finite inputs. "
                "Give the processor the raw image (it maps NaN to nodata) rather than tensors with NaN."
            )


def position_limit(text_config) -> int | None:
    """The longest sequence the language model's positions cover: `max_position_embeddings` (or the RoPE parameters'
    `original_max_position_embeddings` when larger), times the RoPE scaling
    factor when the config scales RoPE to extend the context (`rope_parameters` / `rope_scaling` with a `factor`:
    linear, YaRN, Llama-3, LongRoPE), or None (no limit) for dynamic NTK scaling, which adapts to any length."""
    limit = getattr(text_config, "max_position_embeddings", None)
    rope = getattr(text_config, "rope_parameters", None) or getattr(text_config, "rope_scaling", None) or {}
    if limit is None or not isinstance(rope, dict):
        return limit
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type == "dynamic":
        return None
    original = max(limit, rope.get("original_max_position_embeddings") or 0)
    if rope_type != "default" and rope.get("factor"):
        return max(limit, int(original * float(rope["factor"])))
    return original


def check_sequence_length(config, new_tokens: int, cached_tokens: int = 0, where: str = "input_ids") -> None:
    """Refuses sequences longer than the language model's positions cover (`position_limit`) before the model runs
    (RoPE models would otherwise run on silently, past the positions they were trained for)."""
    limit = position_limit(config.text_config)
    if limit is not None and cached_tokens + new_tokens > limit:
        raise ValueError(
            f"{where} makes a sequence of {cached_tokens + new_tokens} tokens ({cached_tokens} cached + {new_tokens} "
            f"new), longer than the {limit} positions of the language model (max_position_embeddings="
            f"{config.text_config.max_position_embeddings}, times the RoPE scaling factor of rope_parameters if any). "
            "Shorten the text, use fewer views (a smaller image) or fewer new tokens, or extend the context with RoPE "
            "scaling."
        )


def check_model_inputs(config, input_ids, inputs_embeds, cache, pixel_values, features, **views) -> None:
    """`EarthGPTXModel.forward`'s arguments: exactly one of `input_ids` / `inputs_embeds`, within the positions the
    language model has (`check_sequence_length`), `pixel_values` or precomputed image `features` (not both), and the
    other view tensors (`views`, by name) only with `pixel_values`."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("You must specify exactly one of input_ids or inputs_embeds.")
    check_sequence_length(config, (input_ids if input_ids is not None else inputs_embeds).shape[1],
                          cache.get_seq_length() if cache is not None else 0)
    if pixel_values is not None and features is not None:
        raise ValueError("Give pixel_values or mm_encoder_outputs['image'], not both.")
    stray = [name for name, value in views.items() if value is not None]
    if pixel_values is None and stray:
        raise ValueError(f"{stray} were given without pixel_values: they describe the views of pixel_values.")


def check_pixel_dtype(name: str, tensor: torch.Tensor | None) -> None:
    """The dtype rule of pixel inputs (`visual_inputs`): uint8 (8-bit pixels, the model normalises them) or floating
    (already normalised); anything else is refused naming the input."""
    if tensor is not None and tensor.dtype != torch.uint8 and not tensor.is_floating_point():
        raise ValueError(f"{name} has dtype {tensor.dtype}: give uint8 8-bit pixels (what the processor ships; the "
                         "model normalises them) or floating values already normalised for the tower.")


def check_visual_inputs(config, pixel_values, convnext_pixel_values, prompt_maps, view_mask) -> None:
    """Shapes and dtypes of the processor's visual inputs (`EarthGPTXModel.get_image_features` documents them)."""
    tile, bands = config.tile_size, getattr(config, "input_bands", 3)
    if pixel_values.ndim != 5 or pixel_values.shape[2] != bands or tuple(pixel_values.shape[-2:]) != (tile, tile):
        raise ValueError(
            f"pixel_values must have shape (batch, views, {bands}, {tile}, {tile}) ({bands} bands: the config's "
            f"input_bands={bands}), got {tuple(pixel_values.shape)}."
        )
    batch, views = pixel_values.shape[:2]
    if convnext_pixel_values is not None and convnext_pixel_values.shape != pixel_values.shape:
        raise ValueError(
            f"convnext_pixel_values must have the shape of pixel_values {tuple(pixel_values.shape)}, got "
            f"{tuple(convnext_pixel_values.shape)}."
        )
    check_pixel_dtype("pixel_values", pixel_values)
    check_pixel_dtype("convnext_pixel_values", convnext_pixel_values)
    if bands != 3:
        for name, tensor in (("pixel_values", pixel_values), ("convnext_pixel_values", convnext_pixel_values)):
            if tensor is not None and tensor.dtype != torch.uint8:
                raise ValueError(f"{name} has dtype {tensor.dtype}, but with input_bands={bands} the band adapter "
                                 "takes uint8 8-bit bands (what the processor ships), not values already normalised.")
    if prompt_maps is not None:
        shape, packed = tuple(prompt_maps.shape), packed_width(tile)
        if len(shape) != 5 or shape[:2] != (batch, views) or shape[2] > config.max_regions or \
                shape[3] != tile or shape[4] not in (tile, packed):
            raise ValueError(
                f"prompt_maps must have shape ({batch}, {views}, k, {tile}, {tile}) (batch, views, prompts, tile, "
                f"tile) with k <= max_regions={config.max_regions} to match pixel_values, or ({batch}, {views}, k, "
                f"{tile}, {packed}) bit-packed along the last axis (np.packbits, what the processor ships): channel "
                f"i is the map of prompt i, missing or empty channels are no prompt, got {shape}."
            )
        if shape[4] != tile and prompt_maps.dtype != torch.uint8:
            raise ValueError(f"prompt_maps of shape {shape} are bit-packed (np.packbits) and must be uint8, got "
                             f"{prompt_maps.dtype}.")
    if view_mask is not None and tuple(view_mask.shape) != (batch, views):
        raise ValueError(f"view_mask must have shape ({batch}, {views}), got {tuple(view_mask.shape)}.")


def check_grounding_inputs(config, input_ids, labels, gt_masks, sam_pixel_values) -> None:
    """What the [PIX] mask head needs, refused before the language model runs."""
    if gt_masks is not None and sam_pixel_values is None:
        raise ValueError(
            "gt_masks were given but sam_pixel_values is None: the grounding encoder needs the SAM view of "
            "each image to predict the masks of [PIX] tokens."
        )
    if labels is not None and gt_masks is None and bool((labels == config.pix_token_id).any()):
        raise ValueError(
            "labels contain [PIX] tokens but no grounding inputs were given: pass gt_masks (one per [PIX]) and "
            "sam_pixel_values, or remove [PIX] from the answers."
        )
    if (gt_masks is not None or sam_pixel_values is not None) and input_ids is None:
        raise ValueError("Masks for [PIX] need input_ids to find the [PIX] tokens; inputs_embeds were given.")
    check_pixel_dtype("sam_pixel_values", sam_pixel_values)
    check_finite(sam_pixel_values=sam_pixel_values)


def concat_gt_masks(gt_masks) -> torch.Tensor:
    """`gt_masks` as one `(N, h, w)` tensor (a tensor, or a list of per-sample tensors)."""
    if isinstance(gt_masks, torch.Tensor):
        if gt_masks.ndim != 3:
            raise ValueError(f"gt_masks must be (num_pix, H, W) or a list of such tensors, got shape "
                             f"{tuple(gt_masks.shape)}.")
        return gt_masks
    if isinstance(gt_masks, (list, tuple)):
        parts = [m for m in gt_masks if m is not None and m.shape[0] > 0]
        if not parts:
            return torch.zeros(0, 1, 1)
        return torch.cat([m if m.ndim == 3 else m[None] for m in parts], dim=0)
    raise TypeError(f"gt_masks must be a tensor or a list of tensors, got {type(gt_masks).__name__}.")


logger = logging.get_logger(__name__)

# Fields of `EarthGPTXImageFeatures` with one row per image; `pooler_output` is expanded by GenerationMixin itself.
_PER_IMAGE_FEATURES = ("image_embeds", "hybrid_features", "token_mask", "region_embeds", "region_weights")


class GenerationRecord(list):
    """One `generate()` call's own record, passed to every forward as `pix_hidden_states`: the list of the last
    position's hidden state of each step (it predicted that step's token), plus the region features of the prefill
    (`region_embeds`), which a follow-up turn reuses."""

    region_embeds: torch.Tensor | None = None


@dataclass
class EarthGPTXGenerateOutput(GenerateDecoderOnlyOutput):
    """`generate()` output with masks.

    pred_masks: per returned sequence, `(n_pix, h, w)` mask logits (SAM view frame) for every generated [PIX].
    pred_scores: per returned sequence, `(n_pix,)` each mask's score: the IoU the pixel decoder predicts for it.
    input_index: `(num_sequences,)` the row of the input batch each returned sequence belongs to (with
        `num_return_sequences > 1` several sequences share an image).
    region_embeds: `(num_sequences, K, H)` the region features the `<Region i>` tokens received (None without
        prompts' region features).
    sam_image_embeddings: `(B, C_sam, e, e)` SAM's image embedding of every input image, when it was computed (every
        image produced [PIX]) or given.
    """

    pred_masks: list[torch.Tensor] | None = None
    pred_scores: list[torch.Tensor] | None = None
    input_index: torch.LongTensor | None = None
    region_embeds: torch.Tensor | None = None
    sam_image_embeddings: torch.Tensor | None = None

    def followup_kwargs(self, keep: int | None = None) -> dict:
        """What a follow-up `generate()` about the same images reuses: the KV cache (under the installed
        transformers' name), the region features and SAM's image embedding (when computed). Pass them with the
        follow-up's ids (`EarthGPTXProcessor.next_turn`) instead of the visual inputs; SAM's view is still needed for
        masks when `sam_image_embeddings` is None.

        Args:
            keep: keep only the first `keep` cached positions (the part of the conversation the follow-up shares
                with this one, e.g. when an earlier question is edited); the cache is cropped in place.
        """
        cache = output_cache(self)
        if cache is None:
            raise ValueError("This output holds no KV cache: generate with use_cache=True (the default) to reuse it.")
        if keep is not None:
            crop_cache(cache, keep)
        reuse = {**cache_kwargs(cache), "region_embeds": self.region_embeds,
                 "sam_image_embeddings": self.sam_image_embeddings}
        return {key: value for key, value in reuse.items() if value is not None}


@dataclass
class EarthGPTXGenerateBeamOutput(EarthGPTXGenerateOutput):
    """`generate()` output of beam search and beam sampling (text only: masks need `num_beams=1`), with the fields
    of transformers' `GenerateBeamDecoderOnlyOutput`:

    sequences_scores: `(num_sequences,)` the final beam score of each returned sequence.
    beam_indices: `(num_sequences, length)` the beam each generated token came from.
    """

    sequences_scores: torch.FloatTensor | None = None
    beam_indices: torch.LongTensor | None = None


class EarthGPTXGenerationMixin(GenerationMixin):
    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, *args, **kwargs):
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        # the decoding steps see no visual input: they reuse the prefill's region features for `<Region i>` tokens
        if getattr(outputs, "region_embeds", None) is not None:
            model_kwargs["region_embeds"] = outputs.region_embeds
            record = model_kwargs.get("pix_hidden_states")
            if isinstance(record, GenerationRecord):
                record.region_embeds = outputs.region_embeds
        return model_kwargs

    def prepare_inputs_for_generation(self, input_ids, *args, **kwargs):
        """GenerationMixin's inputs plus, with `config.region_feature_next_token`, `preceding_token_ids`: the token
        before this step's ids (a decoding step sees one new token, whose predecessor may be a `<Region i>`)."""
        inputs = super().prepare_inputs_for_generation(input_ids, *args, **kwargs)
        step = inputs.get("input_ids")
        if self.config.region_feature_next_token and step is not None and input_ids is not None \
                and step.shape[1] < input_ids.shape[1]:
            inputs["preceding_token_ids"] = input_ids[:, input_ids.shape[1] - step.shape[1] - 1]
        return inputs

    # generate() checks its kwargs against this method's parameters: keep the installed GenerationMixin's
    prepare_inputs_for_generation.__signature__ = inspect.signature(GenerationMixin.prepare_inputs_for_generation)

    def _expand_multimodal_outputs(self, input_ids, mm_encoder_output, expand_size=1, inputs_embeds=None):
        """GenerationMixin expands `pooler_output` for `num_return_sequences`; the per-image fields go the same way
        (one image per sequence, so each row is repeated `expand_size` times in place)."""
        mm_encoder_output = super()._expand_multimodal_outputs(
            input_ids, mm_encoder_output, expand_size=expand_size, inputs_embeds=inputs_embeds
        )
        features = mm_encoder_output.get("image")
        if features is not None and expand_size > 1:
            for key in _PER_IMAGE_FEATURES:
                value = getattr(features, key, None)
                if value is not None:
                    setattr(features, key, value.repeat_interleave(expand_size, dim=0))
        return mm_encoder_output

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, sam_pixel_values: torch.Tensor | None = None,
                 sam_image_embeddings: torch.Tensor | None = None, **kwargs):
        """`GenerationMixin.generate` plus masks.

        With `return_dict_in_generate=True` the output is an `EarthGPTXGenerateOutput`, whose `input_index[i]` is
        the input row (image) of sequence i. With `sam_pixel_values` too, `pred_masks[i]` holds `(n_pix, h, w)`
        mask logits (SAM view frame) for every [PIX] generated in sequence i and `pred_scores[i]` their `(n_pix,)`
        scores (the IoU the pixel decoder predicts). The hidden state that predicted each token is kept while
        generating (the KV cache stays on); the grounding encoder then runs once per image whose sequences produced
        [PIX], however many sequences an image has. Works with `input_ids` or `inputs_embeds`.
        Masks need greedy or sampling decoding (`num_beams=1`) without an assistant model.

        Follow-up turns: `sam_image_embeddings` (`(B, C_sam, e, e)`, what an earlier call returned) replace
        `sam_pixel_values` (SAM's image encoder does not run); with the earlier call's KV cache and `region_embeds`
        (`outputs.followup_kwargs()`) and the whole conversation as `input_ids`, only the new tokens are computed:

            first = model.generate(**inputs, return_dict_in_generate=True)
            follow = processor.next_turn(first, "And <Region 2>?", attention_mask=inputs["attention_mask"])
            second = model.generate(**follow, **first.followup_kwargs(), return_dict_in_generate=True)

        The cache is extended in place (copy it with `copy.deepcopy` to branch a conversation).
        """
        generation_config = kwargs.get("generation_config") or self.generation_config
        return_dict = kwargs.get("return_dict_in_generate", generation_config.return_dict_in_generate)
        sam_given = sam_pixel_values is not None or sam_image_embeddings is not None
        want_masks = sam_given and return_dict
        if sam_given and not return_dict:
            logger.warning_once(
                "sam_pixel_values were given but masks are only returned with return_dict_in_generate=True."
            )
        if sam_pixel_values is not None and sam_image_embeddings is not None:
            raise ValueError("Give sam_pixel_values or sam_image_embeddings (from an earlier turn), not both.")
        if want_masks:
            num_beams = kwargs.get("num_beams", generation_config.num_beams) or 1
            if num_beams != 1 or kwargs.get("assistant_model") is not None:
                raise ValueError(
                    f"Masks for [PIX] need num_beams=1 and no assistant_model (got num_beams={num_beams}); "
                    "drop sam_pixel_values to use beam search for text only."
                )
        check_finite(sam_pixel_values=sam_pixel_values)  # refused before the first token, not after generation
        input_ids = inputs if inputs is not None else kwargs.get("input_ids")
        prompt = input_ids if input_ids is not None else kwargs.get("inputs_embeds")
        max_new_tokens = kwargs.get("max_new_tokens", generation_config.max_new_tokens)
        if prompt is not None and max_new_tokens is not None:
            check_sequence_length(self.config, prompt.shape[1] + int(max_new_tokens),
                                  where="input_ids + max_new_tokens")
        per_image = kwargs.get("num_return_sequences", generation_config.num_return_sequences) or 1
        # this call's own: forward appends each step's last hidden state. An assistant model (assisted decoding)
        # is called with the main call's model kwargs, this record among them: it gets a record of its own.
        kwargs.pop("pix_hidden_states", None)
        record = GenerationRecord()
        output = super().generate(inputs, pix_hidden_states=record, **kwargs)
        if not return_dict:
            return output
        region_embeds = record.region_embeds if record.region_embeds is not None else kwargs.get("region_embeds")
        if not want_masks:
            # the input row of every sequence, the one owner of that mapping (post-processing reads it)
            index = torch.arange(output.sequences.shape[0] // per_image, device=output.sequences.device)
            beam = isinstance(output, GenerateBeamDecoderOnlyOutput)
            output_class = EarthGPTXGenerateBeamOutput if beam else EarthGPTXGenerateOutput
            return output_class(**output, input_index=index.repeat_interleave(per_image), region_embeds=region_embeds)
        prompt_length = input_ids.shape[1] if input_ids is not None else 0  # with inputs_embeds: new tokens only
        return self._attach_masks(output, record, prompt_length, sam_pixel_values, sam_image_embeddings, per_image,
                                  region_embeds)

    def _attach_masks(self, output, collected, prompt_length: int, sam_pixel_values, sam_image_embeddings,
                      per_image: int, region_embeds):
        new_tokens = output.sequences[:, prompt_length:]
        if len(collected) != new_tokens.shape[1]:
            raise RuntimeError(
                f"generate() collected {len(collected)} hidden states for {new_tokens.shape[1]} generated tokens: "
                "each decoding step must run one forward (chunked prefill and assisted decoding do not give masks)."
            )
        sam = sam_pixel_values if sam_pixel_values is not None else sam_image_embeddings
        images = sam.shape[0]
        if new_tokens.shape[0] != images * per_image:
            raise RuntimeError(
                f"generate() returned {new_tokens.shape[0]} sequences for {images} SAM views and "
                f"num_return_sequences={per_image}."
            )
        input_index = torch.arange(images, device=new_tokens.device).repeat_interleave(per_image)
        if not collected:
            hidden = new_tokens.new_zeros((new_tokens.shape[0], 0, self.config.text_config.hidden_size)).float()
        else:
            hidden = torch.stack(collected, dim=1)  # hidden[:, s] predicted new_tokens[:, s]
        positions = [torch.nonzero(row == self.config.pix_token_id).flatten() for row in new_tokens]
        needed = {int(input_index[i]) for i, pos in enumerate(positions) if pos.numel()}
        if sam_image_embeddings is None and len(needed) == images:  # every image is encoded: kept for follow-ups
            sam_image_embeddings = self.pixel_perception.encode_image(sam_pixel_values.to(self.device))
        pred_masks, pred_scores = self.pixel_perception.predict_masks(
            hidden, positions, None if sam_pixel_values is None else sam_pixel_values.to(self.device),
            image_index=input_index.tolist(), multimask_output=self.config.multimask_output,
            image_embeddings=None if sam_image_embeddings is None else sam_image_embeddings.to(self.device),
        )
        return EarthGPTXGenerateOutput(**output, pred_masks=pred_masks, pred_scores=pred_scores,
                                       input_index=input_index, region_embeds=region_embeds,
                                       sam_image_embeddings=sam_image_embeddings)


__all__ = ["CACHE_KEY", "pop_cache", "cache_kwargs", "output_cache", "crop_cache", "pix_predictor_positions",
           "check_finite", "check_pixel_dtype", "check_sequence_length", "position_limit", "check_visual_inputs",
           "check_grounding_inputs", "concat_gt_masks", "EarthGPTXGenerationMixin"]
