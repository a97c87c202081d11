import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXImageProcessor, EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.mixed_visual_encoder import normalise_pixels, padding_colour, sam_view_input, unpack_prompt_maps


def test_outputs_are_8_bit_and_the_model_normalises_them_per_encoder():
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64, max_regions=4)
    image = np.full((40, 40, 3), 255, np.uint8)
    out = processor(image, visual_prompts=[{"type": "point", "point": [5, 5]}], return_tensors="pt")
    # one uint8 copy of the views for both towers; the model normalises it with each tower's statistics
    assert out["pixel_values"].dtype == torch.uint8 and tuple(out["pixel_values"].shape) == (1, 5, 3, 28, 28)
    assert (out["pixel_values"][0, 1, :, 10, 10] == 255).all()
    white_dino = (1 - torch.tensor(processor.image_mean)) / torch.tensor(processor.image_std)
    white_clip = (1 - torch.tensor(processor.convnext_image_mean)) / torch.tensor(processor.convnext_image_std)
    for (mean, std), white in (((processor.image_mean, processor.image_std), white_dino),
                               ((processor.convnext_image_mean, processor.convnext_image_std), white_clip)):
        torch.testing.assert_close(normalise_pixels(out["pixel_values"], mean, std, torch.float32)[0, 1, :, 10, 10],
                                   white)
    assert out["sam_pixel_values"].dtype == torch.uint8 and tuple(out["sam_pixel_values"].shape) == (1, 3, 64, 64)
    assert processor.reshaped_input_size((40, 40)) == (64, 64)
    # the model's inputs only (point 7 / I3); prompt maps: the image's prompt count of channels, bits packed per row
    assert set(out) == {"pixel_values", "prompt_maps", "sam_pixel_values"}
    assert out["prompt_maps"].dtype == torch.uint8 and tuple(out["prompt_maps"].shape) == (1, 5, 1, 28, 4)
    maps = np.unpackbits(out["prompt_maps"].numpy(), axis=-1)[..., :28]
    assert maps[0, 0, 0, 3, 3] and not maps[0, 0, 0, 20:].any()  # the point (5, 5): the global view's (3.5, 3.5)
    dense = unpack_prompt_maps(out["prompt_maps"], processor.max_regions, 28)  # what the model works on
    assert tuple(dense.shape) == (1, 5, 4, 28, 28) and np.array_equal(dense[:, :, :1].numpy(), maps)
    assert not dense[:, :, 1:].any()
    meta = processor(image, visual_prompts=[{"type": "point", "point": [5, 5]}], return_metadata=True)
    assert meta["original_sizes"].tolist() == [[40, 40]]
    assert meta["num_views"].tolist() == [5] and meta["num_prompts"].tolist() == [1]


def test_prompt_map_channels_follow_the_batch_largest_prompt_count():
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64, max_regions=4)
    image = np.zeros((40, 40, 3), np.uint8)
    box = {"type": "box", "bbox": [2, 2, 20, 20]}
    out = processor([image, image], visual_prompts=[[box, box, box], []], return_tensors="np", do_sam_view=False)
    assert out["prompt_maps"].shape == (2, 5, 3, 28, 4) and not out["prompt_maps"][1].any()
    none = processor(image, return_tensors="np", do_sam_view=False)["prompt_maps"]
    assert none.shape == (1, 5, 0, 28, 4)  # no prompt in the batch: no channel


def test_sam_view_pads_bottom_right_with_the_mean_colour_which_the_model_makes_zero():
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64)
    out = processor(np.full((20, 40, 3), 200, np.uint8), return_tensors="pt")
    sam = out["sam_pixel_values"][0]
    assert processor.reshaped_input_size((20, 40)) == (32, 64)
    colour = torch.tensor([round(m * 255) for m in processor.sam_image_mean], dtype=torch.uint8)
    assert torch.equal(padding_colour(processor.sam_image_mean), colour)  # the model's rule is the processor's
    assert (sam[:, 32:] == colour[:, None, None]).all() and (sam[:, :32] == 200).all()
    encoder_input = sam_view_input(out["sam_pixel_values"], processor.sam_image_mean, processor.sam_image_std,
                                   torch.float32)[0]
    inside = (200 / 255 - torch.tensor(processor.sam_image_mean)) / torch.tensor(processor.sam_image_std)
    assert (encoder_input[:, 32:] == 0).all()  # SAM's padding after normalisation, exactly
    torch.testing.assert_close(encoder_input[:, :32], inside[:, None, None].expand(3, 32, 64))


def test_grid_pinpoints_choose_the_grid_per_aspect_ratio_and_the_model_masks_padding_views(tmp_path):
    config = EarthGPTXConfig.from_preset("tiny")
    processor = EarthGPTXProcessor.from_model_config(config, grid_pinpoints=[[1, 2], [2, 1], [2, 2]])
    wide, square = np.zeros((50, 100, 3), np.uint8), np.zeros((80, 80, 3), np.uint8)
    prompts = [[{"type": "box", "bbox": [1, 1, 30, 30]}], [{"type": "box", "bbox": [1, 1, 30, 30]}]]
    out = processor(images=[wide, square], text=["<Region 1>?", "<Region 1>?"], visual_prompts=prompts,
                    return_tensors="pt")
    assert out["pixel_values"].shape[1] == 5 and "num_views" not in out
    assert out["view_mask"].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    tokens = (out["input_ids"] == config.image_token_id).sum(1).tolist()
    assert tokens == [3 * config.tokens_per_view, 5 * config.tokens_per_view]
    torch.manual_seed(0)
    model = EarthGPTXForConditionalGeneration(config).eval()
    with torch.no_grad():
        logits = model(**out).logits
    assert torch.isfinite(logits).all()
    # the wide image alone gives the same logits (its padding views change nothing)
    alone = processor(images=wide, text="<Region 1>?", visual_prompts=prompts[0], return_tensors="pt")
    with torch.no_grad():
        single = model(**alone).logits
    length = alone["input_ids"].shape[1]
    torch.testing.assert_close(logits[0, -length:], single[0], atol=1e-4, rtol=1e-4)


def test_save_and_load_with_auto_image_processor(tmp_path):
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64, max_regions=4,
                                        point_radius=3, grid_pinpoints=[[1, 2], [2, 2]], max_pixels=5_000)
    processor.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, EarthGPTXImageProcessor)
    assert loaded.to_dict() == processor.to_dict()
    with pytest.raises(ValueError, match=r"max_pixels=5,000"):
        loaded(np.zeros((100, 100), np.uint8))


def test_gt_masks_go_to_the_sam_view_and_predictions_come_back():
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64)
    mask = np.zeros((30, 60), bool)
    mask[10:20, 30:50] = True
    sam_mask = processor.resize_mask_to_sam_view(mask)  # the frame of sam_pixel_values, at its full size
    assert sam_mask.shape == (64, 64) and not sam_mask[32:].any()
    scale = 64 / 60
    assert sam_mask[12:20, 33:52].all()  # rows 10..20 and columns 30..50, times 64/60
    assert abs(sam_mask.sum() - mask.sum() * scale**2) < 0.1 * mask.sum() * scale**2
    logits = torch.from_numpy(sam_mask[None]).float() * 10 - 5
    back = processor.post_process_masks([logits], [(30, 60)])
    assert len(back) == 1 and back[0].shape == (1, 30, 60) and back[0].dtype == torch.bool
    iou = (back[0][0].numpy() & mask).sum() / (back[0][0].numpy() | mask).sum()
    assert iou > 0.85


def test_post_process_masks_is_sams(monkeypatch):
    """Point 10: the post-processing is `SamImageProcessorPil.post_process_masks` for this SAM view, not a copy."""
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64)
    torch.manual_seed(0)
    logits = [torch.randn(2, 16, 16), torch.randn(1, 16, 16)]
    sizes = [(30, 60), (50, 20)]
    sam = SamImageProcessorPil(pad_size={"height": 64, "width": 64}).post_process_masks(
        [m[:, None] for m in logits], sizes, [processor.reshaped_input_size(s) for s in sizes], mask_threshold=0.3)
    ours = processor.post_process_masks(logits, sizes, mask_threshold=0.3)
    for a, b in zip(ours, sam):
        assert torch.equal(a, b[:, 0])
    calls = []
    original = SamImageProcessorPil.post_process_masks
    monkeypatch.setattr(SamImageProcessorPil, "post_process_masks",
                        lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    processor.post_process_masks(logits, sizes)
    assert len(calls) == 1
    assert processor.post_process_masks([torch.zeros(0, 16, 16)], [(5, 7)])[0].shape == (0, 5, 7)
    with pytest.raises(ValueError, match=r"masks has 1 entries but original_sizes has 2"):
        processor.post_process_masks(logits[:1], sizes)
