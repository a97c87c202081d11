import math

import pytest
import torch

from earthgptx_hf.training.trainable import trainable_parameter_names
from earthgptx_hf.models.earthgptx.generation_earthgptx import pix_predictor_positions

from .helpers import tiny_model, training_batch


def _grads(model):
    return {n: p.grad for n, p in model.named_parameters()}


def test_forward_losses_are_finite_and_weighted_as_configured():
    model = tiny_model().train()
    out = model(**training_batch(model.config))
    for name in ("loss", "lm_loss", "mask_bce_loss", "mask_dice_loss", "mask_iou_loss"):
        assert torch.isfinite(getattr(out, name)), name
    c = model.config
    expected = c.ce_loss_weight * out.lm_loss + c.bce_loss_weight * out.mask_bce_loss + \
        c.dice_loss_weight * out.mask_dice_loss + c.iou_loss_weight * out.mask_iou_loss
    torch.testing.assert_close(out.loss, expected)
    # untrained random mask logits are near 0: BCE close to log(2)
    assert abs(out.mask_bce_loss.item() - math.log(2)) < 0.2
    assert [m.shape[0] for m in out.pred_masks] == [1, 2]


@pytest.mark.parametrize("preset", ["paper", "full"])
def test_gradients_only_where_the_preset_says(preset):
    model = tiny_model().train()
    model.set_trainable(preset)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(trainable_parameter_names(model, preset))
    model(**training_batch(model.config)).loss.backward()
    with_grad = {n for n, g in _grads(model).items() if g is not None}
    assert with_grad <= trainable
    assert all(torch.isfinite(g).all() for g in _grads(model).values() if g is not None)
    must_learn = [
        "language_model.layers.0.self_attn.q_proj", "language_model.layers.1.self_attn.v_proj",
        "hybrid_fusion.cross_attention", "hybrid_fusion.image_self_attention", "spatial_aware_encoder",
        "multi_modal_projector", "region_projector", "text_to_pixel", "mask_decoder", "vision_tower.channel_mix",
        "lm_head",
    ]
    for part in must_learn:
        assert any(part in n and model.get_parameter(n).grad.abs().sum() > 0 for n in with_grad), part
    if preset == "paper":
        frozen = ["vision_tower.dino", "vision_tower.convnext", "grounding_model.vision_encoder",
                  "self_attn.o_proj", "mlp.gate_proj", "grounding_model.prompt_encoder"]
        for part in frozen:
            names = [n for n, _ in model.named_parameters() if part in n]
            assert names and not any(n in with_grad for n in names), part


def test_lora_preset_trains_adapters_and_new_parts_only():
    peft_model = tiny_model().train().set_trainable("lora")
    out = peft_model(**training_batch(peft_model.base_model.model.config))
    out.loss.backward()
    named = dict(peft_model.named_parameters())
    with_grad = {n for n, p in named.items() if p.grad is not None}
    assert with_grad <= {n for n, p in named.items() if p.requires_grad}
    assert any("lora_A" in n for n in with_grad) and any("lora_B" in n for n in with_grad)
    assert any("hybrid_fusion" in n for n in with_grad) and any("mask_decoder" in n for n in with_grad)
    assert not any("q_proj.base_layer" in n for n in with_grad)
    assert not any("vision_tower.dino" in n for n in with_grad)


def test_pix_hidden_state_comes_from_the_position_before_each_pix():
    model = tiny_model()
    batch = training_batch(model.config)
    ids = batch["input_ids"]
    positions = pix_predictor_positions(ids, model.config.pix_token_id)
    for row, pos in zip(ids, positions):
        assert torch.all(row[pos + 1] == model.config.pix_token_id)
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k not in ("labels", "gt_masks")}, output_hidden_states=True)
        hidden = out.hidden_states[-1]
        expected, scores = model.pixel_perception.predict_masks(hidden, positions, batch["sam_pixel_values"])
    for got, want in zip(out.pred_masks, expected):
        torch.testing.assert_close(got, want)
    for got, want in zip(out.pred_scores, scores):
        torch.testing.assert_close(got, want)
    # the two [PIX] of sample 1 give two different masks (different hidden states)
    assert not torch.allclose(out.pred_masks[1][0], out.pred_masks[1][1])


def test_padding_does_not_change_masks_or_losses_of_a_sample():
    model = tiny_model()
    batch = training_batch(model.config)
    with torch.no_grad():
        both = model(**{k: v for k, v in batch.items() if k not in ("labels", "gt_masks")})
        length = int(batch["attention_mask"][0].sum())
        single = {
            "input_ids": batch["input_ids"][:1, :length], "attention_mask": batch["attention_mask"][:1, :length],
            **{k: batch[k][:1] for k in ("pixel_values", "convnext_pixel_values", "sam_pixel_values")},
            "prompt_maps": batch["prompt_maps"][:1],
        }
        alone = model(**single)
    torch.testing.assert_close(both.pred_masks[0], alone.pred_masks[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(both.logits[0, :length], alone.logits[0], atol=1e-4, rtol=1e-4)


def test_mask_pooling_follows_the_prompt_maps():
    from earthgptx_hf.models.earthgptx.mixed_visual_encoder import mask_pool_regions

    grid, views = 2, 2
    features = torch.randn(1, views * grid * grid, 3)
    maps = torch.zeros(1, views, 2, 4, 4)
    maps[0, 0, 0, :2, :2] = 1  # region 1: the whole top-left patch of view 0
    maps[0, 1, 1, 2:, 2:] = 1  # region 2: the whole bottom-right patch of view 1
    maps[0, 1, 1, 0, 0] = 1  # ... and a quarter of the top-left patch of view 1
    pooled, weights = mask_pool_regions(features, maps, grid)
    torch.testing.assert_close(pooled[0, 0], features[0, 0])
    torch.testing.assert_close(pooled[0, 1], (features[0, 7] + 0.25 * features[0, 4]) / 1.25)
    torch.testing.assert_close(weights[0], torch.tensor([1.0, 1.25]))
    swapped, _ = mask_pool_regions(features, maps.flip(2), grid)
    torch.testing.assert_close(swapped, pooled.flip(1))


def test_region_features_carry_the_prompt_position():
    """Two prompts with identical pooled features (a constant image) still get different region features: the
    position embedding of the prompt's map on the global view."""
    model = tiny_model()
    config = model.config
    tile = config.tile_size
    pixel_values = torch.zeros(1, config.num_views, 3, tile, tile)
    maps = torch.zeros(1, config.num_views, config.max_regions, tile, tile)
    maps[0, :, 0, :4, :4] = 1
    maps[0, :, 1, -4:, -4:] = 1
    with torch.no_grad():
        with_position = model.model.get_image_features(pixel_values, prompt_maps=maps).region_embeds
        model.model.region_position_projector.weight.zero_()
        model.model.region_position_projector.bias.zero_()
        without = model.model.get_image_features(pixel_values, prompt_maps=maps).region_embeds
    assert (with_position[0, 0] - with_position[0, 1]).abs().max() > (without[0, 0] - without[0, 1]).abs().max() + 1e-3
    assert tiny_model(region_position_size=0).model.region_position_projector is None


def test_the_pix_state_is_both_the_sparse_and_the_dense_prompt_of_sams_decoder(monkeypatch):
    """R_lp's output reaches SAM's mask decoder as one sparse prompt per [PIX] and, added to SAM's no-mask embedding,
    as the dense prompt at every position (a decoder trained from scratch ignores the sparse token alone)."""
    model = tiny_model()
    perception = model.pixel_perception
    decoder = perception.grounding_model.mask_decoder
    seen = {}
    original = decoder.forward

    def spy(**kwargs):
        seen.update(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(decoder, "forward", spy)
    size = model.config.grounding_config.vision_config.image_size
    with torch.no_grad():
        embeddings = perception.encode_image(torch.randn(1, 3, size, size))
        states = torch.randn(2, model.config.text_config.hidden_size)
        masks = perception.decode_masks([states], embeddings)[0][0]
        prompt = perception.text_to_pixel(states)
    no_mask = perception.grounding_model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
    assert masks.shape[0] == 2
    torch.testing.assert_close(seen["sparse_prompt_embeddings"], prompt[:, None, None, :])
    # (n, C, 1, 1): broadcast over the image positions when the decoder adds it to the image embeddings
    torch.testing.assert_close(seen["dense_prompt_embeddings"], no_mask + prompt[:, :, None, None])


# ---------------------------------------------------------------------------------------------------------------------
# Errors
def _inference_kwargs(batch):
    return {k: v for k, v in batch.items() if k not in ("labels", "gt_masks")}


def test_mismatched_image_tokens_raise():
    model = tiny_model()
    batch = _inference_kwargs(training_batch(model.config))
    ids = batch["input_ids"].clone()
    ids[0, 1] = 50  # one <image> token fewer in sample 0
    with pytest.raises(ValueError, match=r"Image features and image tokens do not match.*39 <image> tokens.*40 visual tokens"):
        model(**dict(batch, input_ids=ids))


def test_image_tokens_without_pixel_values_are_embedded_as_llava_does():
    """Issue 30: a text-only forward whose ids hold the `<image>` id runs (Llava's rule; transformers' eager-versus-
    SDPA tests do it), embedding the id like any other; it used to raise."""
    model = tiny_model()
    batch = training_batch(model.config)
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert out.logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(out.logits).all()


def test_too_many_or_misshapen_prompt_maps_raise():
    model = tiny_model()
    batch = _inference_kwargs(training_batch(model.config))
    maps = batch["prompt_maps"]
    # at most max_regions=8 channels (fewer: the prompts that exist, see test_visual_inputs), one value per pixel or
    # bits packed per row (4 bytes for 28 pixels)
    for shape in ((10, 28, 28), (8, 28, 5), (8, 27, 28)):
        wrong = torch.zeros(*maps.shape[:2], *shape)
        with pytest.raises(ValueError, match=r"prompt_maps must have shape \(2, 5, k, 28, 28\) .*k <= max_regions=8"
                                             rf".*\(2, 5, k, 28, 4\) bit-packed.*got \(2, 5, {shape[0]}, {shape[1]}"):
            model(**dict(batch, prompt_maps=wrong))
    with pytest.raises(ValueError, match=r"bit-packed \(np.packbits\) and must be uint8, got torch.float32"):
        model(**dict(batch, prompt_maps=torch.zeros(*maps.shape[:3], 28, 4)))


def test_pixel_values_of_the_wrong_shape_raise():
    model = tiny_model()
    batch = _inference_kwargs(training_batch(model.config))
    with pytest.raises(ValueError, match=r"pixel_values must have shape \(batch, views, 3, 28, 28\)"):
        model(**dict(batch, pixel_values=batch["pixel_values"][:, 0]))


def test_pix_in_labels_without_grounding_inputs_raises():
    model = tiny_model()
    batch = training_batch(model.config)
    with pytest.raises(ValueError, match=r"labels contain \[PIX\] tokens but no grounding inputs"):
        model(**{k: v for k, v in batch.items() if k != "gt_masks"})
    with pytest.raises(ValueError, match="sam_pixel_values is None"):
        model(**{k: v for k, v in batch.items() if k != "sam_pixel_values"})


def test_mask_count_must_match_pix_count():
    model = tiny_model()
    batch = training_batch(model.config)
    with pytest.raises(ValueError, match=r"gt_masks holds 2 masks but input_ids hold 3 \[PIX\]"):
        model(**dict(batch, gt_masks=batch["gt_masks"][:2]))


def test_region_reference_to_an_empty_prompt_raises():
    model = tiny_model()
    batch = _inference_kwargs(training_batch(model.config))
    maps = batch["prompt_maps"].clone()
    maps[0, :, 1] = 0  # sample 0 refers to two regions; the second is now empty
    with pytest.raises(ValueError, match=r"Sample 0 refers to region 2"):
        model(**dict(batch, prompt_maps=maps))
