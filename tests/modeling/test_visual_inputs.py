"""The processor's 8-bit outputs give the model exactly what the former float32 outputs gave (`visual_inputs`)."""

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.mixed_visual_encoder import unpack_prompt_maps

from .helpers import tiny_model


def _former(x: torch.Tensor, mean, std) -> torch.Tensor:
    """The processor's former float32 normalisation of uint8 `(..., 3, H, W)` pixels (written out independently)."""
    mean, std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    return (x.float() - mean * 255.0) / (std * 255.0)


class PixAtStep(LogitsProcessor):
    """Forces [PIX] at one decoding step in every row, so that generate() decodes a mask."""

    def __init__(self, prompt_length: int, step: int, pix: int):
        self.prompt_length, self.step, self.pix = prompt_length, step, pix

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] - self.prompt_length == self.step:
            scores[:] = -float("inf")
            scores[:, self.pix] = 0.0
        return scores


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def inputs(model):
    """The processor's outputs for two images of different shapes and prompt counts, and the text with [PIX]."""
    processor = EarthGPTXProcessor.from_model_config(model.config)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (50, 80, 3), dtype=np.uint8), rng.integers(0, 256, (90, 40, 3), dtype=np.uint8)]
    prompts = [[{"type": "box", "bbox": [5, 5, 30, 30]}, {"type": "point", "point": [60, 20]},
                {"type": "circle", "center": [40, 30], "radius": 8}], [{"type": "box", "bbox": [2, 50, 30, 80]}]]
    out = processor(images=images, text=["<Region 1> and <Region 3>?", "<Region 1>?"], visual_prompts=prompts,
                    return_tensors="pt")
    return processor, out


def _former_outputs(processor, out) -> dict:
    """What the processor shipped before: two float32 normalised copies of the views, dense max_regions maps and the
    float32 SAM view padded with SAM's 0 after normalisation."""
    images = processor.image_processor
    batch, views, count, tile, _ = out["prompt_maps"].shape
    dense = torch.zeros(batch, views, images.max_regions, tile, tile, dtype=torch.uint8)
    dense[:, :, :count] = torch.from_numpy(np.unpackbits(out["prompt_maps"].numpy(), axis=-1)[..., :tile])
    sam = _former(out["sam_pixel_values"], images.sam_image_mean, images.sam_image_std)
    for b, size in enumerate([(50, 80), (90, 40)]):
        rh, rw = images.reshaped_input_size(size)
        sam[b, :, rh:], sam[b, :, :, rw:] = 0, 0
    return dict(out, pixel_values=_former(out["pixel_values"], images.image_mean, images.image_std),
                convnext_pixel_values=_former(out["pixel_values"], images.convnext_image_mean,
                                              images.convnext_image_std),
                prompt_maps=dense, sam_pixel_values=sam)


def test_the_towers_get_each_their_own_normalisation_of_the_uint8_views(model, inputs):
    processor, out = inputs
    seen = {}
    hooks = [getattr(model.model.vision_tower, name).register_forward_pre_hook(
        lambda module, args, kwargs, name=name: seen.__setitem__(name, kwargs["pixel_values"]), with_kwargs=True)
        for name in ("dino", "convnext")]
    try:
        with torch.no_grad():
            model.model.get_image_features(out["pixel_values"], prompt_maps=out["prompt_maps"])
    finally:
        for hook in hooks:
            hook.remove()
    images, views = processor.image_processor, out["pixel_values"].flatten(0, 1)
    assert torch.equal(seen["dino"], _former(views, images.image_mean, images.image_std))
    assert torch.equal(seen["convnext"], _former(views, images.convnext_image_mean, images.convnext_image_std))


def test_forward_and_generate_masks_equal_those_of_the_former_float_outputs(model, inputs):
    processor, out = inputs
    former = _former_outputs(processor, out)
    with torch.no_grad():
        new, old = model(**out), model(**former)
        assert torch.equal(new.logits, old.logits)
        assert torch.equal(new.region_embeds, old.region_embeds)
        # the SAM view: uint8 padded with the mean colour gives SAM's zero padding exactly
        assert torch.equal(model.pixel_perception.encode_image(out["sam_pixel_values"]),
                           model.pixel_perception.encode_image(former["sam_pixel_values"]))
        gen = [model.generate(**kwargs, max_new_tokens=3, do_sample=False, return_dict_in_generate=True,
                              logits_processor=LogitsProcessorList([PixAtStep(out["input_ids"].shape[1], 1,
                                                                              model.config.pix_token_id)]))
               for kwargs in (out, former)]
    assert torch.equal(gen[0].sequences, gen[1].sequences)
    assert [tuple(m.shape[:1]) for m in gen[0].pred_masks] == [(1,), (1,)]  # one generated [PIX] per row
    assert all(torch.equal(a, b) for a, b in zip(gen[0].pred_masks, gen[1].pred_masks))


def test_floating_views_alone_give_convnext_the_clip_normalisation(model, inputs):
    processor, out = inputs
    former = _former_outputs(processor, out)
    with torch.no_grad():
        both = model.model.get_image_features(former["pixel_values"], former["convnext_pixel_values"],
                                              former["prompt_maps"])
        derived = model.model.get_image_features(former["pixel_values"], prompt_maps=former["prompt_maps"])
    torch.testing.assert_close(derived.image_embeds, both.image_embeds, atol=1e-5, rtol=1e-5)


def test_packed_maps_and_fewer_channels_are_the_dense_maps(model, inputs):
    processor, out = inputs
    former = _former_outputs(processor, out)
    dense, packed = former["prompt_maps"], out["prompt_maps"]  # (2, 5, 8, 28, 28) and (2, 5, 3, 28, 4)
    assert torch.equal(unpack_prompt_maps(packed, 8, 28), dense)
    with torch.no_grad():
        reference = model.model.get_image_features(out["pixel_values"], prompt_maps=dense.float())
        for maps in (packed, dense[:, :, :3], dense[:, :, :3].bool()):
            features = model.model.get_image_features(out["pixel_values"], prompt_maps=maps)
            assert torch.equal(features.image_embeds, reference.image_embeds)
            assert torch.equal(features.region_embeds, reference.region_embeds)
        # a reference to a prompt whose channel is missing is an empty prompt
        with pytest.raises(ValueError, match=r"Sample 0 refers to region 3"):
            model(**dict(out, prompt_maps=packed[:, :, :2]))


def test_unpacking_matches_numpy_for_every_bit_and_tile_width():
    rng = np.random.default_rng(1)
    for tile in (14, 28, 112):
        bits = rng.integers(0, 2, (2, 3, 4, tile, tile), dtype=np.uint8)
        packed = torch.from_numpy(np.packbits(bits, axis=-1))
        assert torch.equal(unpack_prompt_maps(packed, 6, tile)[:, :, :4], torch.from_numpy(bits))


def test_pixels_of_another_integer_dtype_are_refused_by_name(model, inputs):
    _, out = inputs
    with pytest.raises(ValueError, match=r"pixel_values has dtype torch.int64: give uint8 8-bit pixels"):
        model(**dict(out, pixel_values=out["pixel_values"].long()))
    with pytest.raises(ValueError, match=r"sam_pixel_values has dtype torch.int32"):
        model(**dict(out, sam_pixel_values=out["sam_pixel_values"].int()))


def test_a_bfloat16_model_normalises_in_float32_then_casts(inputs):
    processor, out = inputs
    model = tiny_model().to(torch.bfloat16)
    seen = {}
    hook = model.model.vision_tower.dino.register_forward_pre_hook(
        lambda module, args, kwargs: seen.__setitem__("dino", kwargs["pixel_values"]), with_kwargs=True)
    try:
        with torch.no_grad():
            logits = model(**out).logits
    finally:
        hook.remove()
    images = processor.image_processor
    expected = _former(out["pixel_values"].flatten(0, 1), images.image_mean, images.image_std).to(torch.bfloat16)
    assert torch.isfinite(logits).all() and torch.equal(seen["dino"], expected)
