"""Real images from ../shared/data/rs_mini (skipped when absent): infrared, SAR and the 1111x1182 DOTA image."""

import numpy as np
import pytest
import torch

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.mixed_visual_encoder import normalise_pixels, unpack_prompt_maps
from earthgptx_hf.models.earthgptx.visual_prompts import rasterise_prompts, rle_to_mask, validate_prompts

CASES = {
    "infrared": "infrared/hit_uav/0_130_80_0_09854",  # 640x512 single-channel 8-bit JPEG
    "sar": "sar/hrsid_official/P0094_0_800_3000_3800",  # 800x800 SAR with instance masks
    "dota": "optical/dota/P0706",  # 1111x1182 optical with oriented polygons
}


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_preset("small")


def _model_view(processor, out) -> tuple[np.ndarray, np.ndarray]:
    """The DINOv2 views `(B, V, 3, T, T)` and the dense `(B, V, max_regions, T, T)` prompt maps, as the model makes
    them from the processor's uint8 outputs."""
    images = processor.image_processor
    views = normalise_pixels(torch.as_tensor(out["pixel_values"]), images.image_mean, images.image_std, torch.float32)
    maps = unpack_prompt_maps(torch.as_tensor(out["prompt_maps"]), images.max_regions, images.tile_size)
    return views.numpy(), maps.numpy()


def _object_region(obj, height, width) -> np.ndarray:
    if "mask_rle" in obj:
        return rle_to_mask(obj["mask_rle"])
    region = np.zeros((height, width), bool)
    x1, y1, x2, y2 = (int(round(v)) for v in obj["bbox"])
    region[y1:y2, x1:x2] = True
    return region


def _six_prompts(obj, height, width):
    x1, y1, x2, y2 = obj["bbox"]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    polygon = np.asarray(obj["polygon"]).reshape(-1, 2).tolist() if "polygon" in obj else [[x1, y1], [x2, y1], [cx, y2]]
    return [
        {"type": "box", "bbox": obj["bbox"]},
        {"type": "point", "point": [cx, cy]},
        {"type": "polygon", "points": polygon},
        {"type": "scribble", "points": [[x1, cy], [cx, y1 + 1], [x2, cy]], "width": 3},
        {"type": "circle", "center": [cx, cy], "radius": max(2.0, (x2 - x1) / 2)},
        {"type": "mask", "mask": _object_region(obj, height, width)},
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_real_images_with_all_six_prompt_types(case, rs_mini, rs_mini_records, processor):
    record = rs_mini_records[CASES[case]]
    height, width = record["height"], record["width"]
    obj = max((o for o in record["objects"] if not o.get("ignore")),
              key=lambda o: (o["bbox"][2] - o["bbox"][0]) * (o["bbox"][3] - o["bbox"][1]))
    prompts = _six_prompts(obj, height, width)
    out = processor(images=rs_mini / record["file"], text="Please identify the object category of each marked region.",
                    visual_prompts=prompts, modality=record["modality"], return_tensors="np")
    views, maps = _model_view(processor, out)
    assert out["pixel_values"].dtype == np.uint8 and views.std() > 0.1
    assert out["prompt_maps"].shape[2] == 6  # the image's six prompts, bits packed per row
    maps = maps[0]  # (V, max_regions, T, T) as the model sees them: the six prompts, then empty channels
    assert maps.shape[1] == processor.image_processor.max_regions and not maps[:, 6:].any()
    assert (maps[0, :6].reshape(6, -1).sum(1) > 0).all(), "every prompt type is visible in the global view"

    # the box lands on the object's pixels in every view that shows the object
    layout = processor.image_processor.layout(height, width)
    region = _object_region(obj, height, width)
    object_maps = rasterise_prompts(validate_prompts([{"type": "mask", "mask": region}], (height, width), 1),
                                    layout, point_radius=1)[:, 0]
    box_maps = maps[:, 0].astype(bool)
    shown = [v for v in range(layout.num_views) if object_maps[v].any()]
    assert shown, "the object is visible somewhere"
    for view in shown:
        assert not (object_maps[view].astype(bool) & ~box_maps[view]).any(), view


def test_box_prompts_mark_bright_sar_ships(rs_mini, rs_mini_records, processor):
    """On the SAR image, the pixels under the ship boxes are brighter than the sea around them: in every view, and
    clearly so over all views together."""
    record = rs_mini_records[CASES["sar"]]
    boxes = [{"type": "box", "bbox": o["bbox"]} for o in record["objects"][:8]]
    out = processor(images=rs_mini / record["file"], text="<Region 1>?", visual_prompts=boxes, return_tensors="np")
    views, maps = _model_view(processor, out)
    views = views[0].mean(1)  # (V, T, T)
    under = maps[0].max(1) > 0  # any ship box
    for view in range(views.shape[0]):
        if under[view].any():
            assert views[view][under[view]].mean() > views[view][~under[view]].mean(), view
    assert views[under].mean() > views[~under].mean() + 0.3
