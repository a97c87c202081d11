import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXImageProcessor, EarthGPTXProcessor


def test_outputs_and_normalisation_per_encoder():
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64, max_regions=4)
    image = np.full((40, 40, 3), 255, np.uint8)
    out = processor(image, visual_prompts=[{"type": "point", "point": [5, 5]}], return_tensors="pt")
    assert tuple(out["pixel_values"].shape) == (1, 5, 3, 28, 28)
    white_dino = (1 - torch.tensor(processor.image_mean)) / torch.tensor(processor.image_std)
    white_clip = (1 - torch.tensor(processor.convnext_image_mean)) / torch.tensor(processor.convnext_image_std)
    torch.testing.assert_close(out["pixel_values"][0, 1, :, 10, 10], white_dino)
    torch.testing.assert_close(out["convnext_pixel_values"][0, 1, :, 10, 10], white_clip)
    assert tuple(out["sam_pixel_values"].shape) == (1, 3, 64, 64)
    assert out["reshaped_input_sizes"].tolist() == [[64, 64]] and out["original_sizes"].tolist() == [[40, 40]]
    assert "view_mask" not in out


def test_sam_view_pads_bottom_right_with_zeros():
    processor = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64)
    out = processor(np.full((20, 40, 3), 200, np.uint8), return_tensors="pt")
    sam = out["sam_pixel_values"][0]
    assert out["reshaped_input_sizes"].tolist() == [[32, 64]]
    assert (sam[:, 32:] == 0).all() and (sam[:, :32] != 0).all()


def test_grid_pinpoints_choose_the_grid_per_aspect_ratio_and_the_model_masks_padding_views(tmp_path):
    config = EarthGPTXConfig.from_preset("tiny")
    processor = EarthGPTXProcessor.from_model_config(config, grid_pinpoints=[[1, 2], [2, 1], [2, 2]])
    wide, square = np.zeros((50, 100, 3), np.uint8), np.zeros((80, 80, 3), np.uint8)
    prompts = [[{"type": "box", "bbox": [1, 1, 30, 30]}], [{"type": "box", "bbox": [1, 1, 30, 30]}]]
    out = processor(images=[wide, square], text=["<Region 1>?", "<Region 1>?"], visual_prompts=prompts,
                    return_tensors="pt")
    assert out["num_views"].tolist() == [3, 5]  # 1x2 grid for the wide image, 2x2 for the square one
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
    sam_mask = processor.resize_mask_to_sam_view(mask)
    assert sam_mask.shape == (64, 64) and not sam_mask[32:].any()
    scale = 64 / 60
    assert sam_mask[12:20, 33:52].all()  # rows 10..20 and columns 30..50, times 64/60
    assert abs(sam_mask.sum() - mask.sum() * scale**2) < 0.1 * mask.sum() * scale**2
    low_res = processor.resize_mask_to_sam_view(mask, out_size=16)
    assert low_res.shape == (16, 16)
    back = processor.post_process_masks(torch.from_numpy(sam_mask[None]).float() * 10 - 5, (30, 60), (32, 64))
    assert back.shape == (1, 30, 60)
    iou = (back[0].numpy() & mask).sum() / (back[0].numpy() | mask).sum()
    assert iou > 0.85
