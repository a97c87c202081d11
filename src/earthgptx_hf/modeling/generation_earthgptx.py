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

import torch
from transformers import GenerationMixin
from transformers.generation.utils import GenerateBeamDecoderOnlyOutput
from transformers.utils import logging

from .input_checks import check_finite, check_sequence_length
from .outputs import EarthGPTXGenerateBeamOutput, EarthGPTXGenerateOutput

logger = logging.get_logger(__name__)

# Fields of `EarthGPTXImageFeatures` with one row per image; `pooler_output` is expanded by GenerationMixin itself.
_PER_IMAGE_FEATURES = ("image_embeds", "hybrid_features", "token_mask", "region_embeds", "region_weights")


class GenerationRecord(list):
    """One `generate()` call's own record, passed to every forward as `pix_hidden_states`: the list of the last
    position's hidden state of each step (it predicted that step's token), plus the region features of the prefill
    (`region_embeds`), which a follow-up turn reuses."""

    region_embeds: torch.Tensor | None = None


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


__all__ = ["EarthGPTXGenerationMixin"]
