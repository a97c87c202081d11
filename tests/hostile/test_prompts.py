"""Hostile visual prompts through the public entry point (`EarthGPTXImageProcessor(images, visual_prompts=...)`):
each is refused with an error that names the field and what is valid, or accepted with the maps it should give."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from earthgptx_hf import EarthGPTXImageProcessor
from earthgptx_hf.models.earthgptx.visual_prompts import MAX_VERTICES

from .harness import Hostile, parametrize, run_case

H, W = 100, 120
PROCESSOR = EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=64, do_sam_view=False)


def maps(*prompts, size=(H, W)):
    """Prompt maps `(V, K, T, T)` bool of one image of `size` (warnings about clipped prompts are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = PROCESSOR(np.zeros((*size, 3), np.uint8), visual_prompts=list(prompts), return_tensors="np")
    # the processor packs the bits of each row (np.packbits); the maps are what np.unpackbits gives back
    return np.unpackbits(out["prompt_maps"][0], axis=-1)[..., : PROCESSOR.tile_size].astype(bool)


def run(*prompts, size=(H, W)):
    return lambda tmp: maps(*prompts, size=size)


AREA = maps({"type": "box", "bbox": [0, 0, W, H]})[:, 0]  # the image area of every view


def covers(result):  # exactly the image area of every view
    assert np.array_equal(result[:, 0], AREA)


def visible(result):  # something in the global view and in at least one tile
    assert result[0, 0].any() and result[1:, 0].any()


def same_as(*prompts):
    expected = maps(*prompts)

    def check(result):
        assert result[:, 0].any() and np.array_equal(result, expected)

    return check


def one_pixel_in_its_tile(result):
    # pixel (1500, 400) of 2000x2000 -> canvas (336, 89): the bottom-left tile (view 3)
    assert result[0, 0].any() and result[3, 0].any() and not result[[1, 2, 4], 0].any()


ONE_PIXEL = np.zeros((2000, 2000), bool)
ONE_PIXEL[1500, 400] = True
BLOB = np.zeros((H, W), bool)
BLOB[20:40, 30:60] = True
ZIGZAG = np.stack([np.linspace(0, W, 10_000), np.tile([0.0, H], 5_000)], axis=1)
P = "visual_prompts"

CASES = [
    # found by probing: RLE runs that overflow int64 (crashed the process), 0-d points, shapes that miss the image
    Hostile("mask RLE runs overflowing int64", run({"type": "mask", "mask": {
        "size": [H, W], "counts": [2**62, 2**62, 2**62, 2**62 + H * W]}}), raises=ValueError,
            match=r"visual_prompts\[0\]\['mask'\]\['counts'\] holds a run of 4611686018427399904 pixels"),
    Hostile("mask RLE uint64 counts", run({"type": "mask", "mask": {
        "size": [H, W], "counts": np.array([2**64 - 1, H * W + 1], np.uint64)}}), raises=ValueError,
            match=r"\['counts'\] holds a run of 18446744073709551615 pixels"),
    Hostile("polygon points a 0-d array", run({"type": "polygon", "points": np.array(5)}), raises=TypeError,
            match=r"visual_prompts\[0\]\['points'\] must be a list of \[x, y\] pairs"),
    Hostile("polygon outside whose bounding box overlaps", run(
        {"type": "polygon", "points": [[-100, 50], [50, -100], [-100, -100]]}), raises=ValueError,
            match=r"visual_prompts\[0\] \(polygon\) lies entirely outside the 120x100 image"),
    Hostile("scribble outside whose bounding box overlaps", run(
        {"type": "scribble", "points": [[-100, 50], [50, -100]], "width": 2}), raises=ValueError,
            match=r"visual_prompts\[0\] \(scribble\) lies entirely outside"),
    # circles
    Hostile("circle radius 1e9 covers the image", run({"type": "circle", "center": [60, 50], "radius": 1e9}),
            check=covers),
    Hostile("circle radius 2e9 (int32 overflow before)", run({"type": "circle", "center": [60, 50], "radius": 2e9}),
            check=covers),
    Hostile("circle centre 1e9 away, edge inside", run({"type": "circle", "center": [-1e9, 50], "radius": 1e9 + 40}),
            check=visible),
    Hostile("circle radius 1e300", run({"type": "circle", "center": [60, 50], "radius": 1e300}), raises=ValueError,
            match=rf"{P}\[0\]\['radius'\] holds 1e\+300: .* at most 1e\+12 pixels in magnitude"),
    Hostile("circle radius True", run({"type": "circle", "center": [60, 50], "radius": True}), raises=TypeError,
            match=rf"{P}\[0\]\['radius'\] must hold numbers, got the bool True"),
    Hostile("circle radius as a list", run({"type": "circle", "center": [60, 50], "radius": [5]}), raises=TypeError,
            match=rf"{P}\[0\]\['radius'\] must hold numbers, got \[5\] \(list\)"),
    Hostile("circle radius NaN", run({"type": "circle", "center": [60, 50], "radius": float("nan")}),
            raises=ValueError, match=rf"{P}\[0\]\['radius'\] must hold finite numbers"),
    Hostile("circle whose box touches but disc misses", run({"type": "circle", "center": [-10, -10], "radius": 12}),
            raises=ValueError, match=rf"{P}\[0\] lies entirely outside the 120x100 image"),
    Hostile("circle numpy scalars",
            run({"type": "circle", "center": np.array([60.0, 50.0], np.float32), "radius": np.float16(12)}),
            check=same_as({"type": "circle", "center": [60, 50], "radius": 12})),
    # polygons
    Hostile("triangle vertex at 1e10", run({"type": "polygon", "points": [[20, 20], [20, 80], [1e10, 50]]}),
            check=visible),
    Hostile("triangle around the image at 1e10",
            run({"type": "polygon", "points": [[-1e10, -1e10], [1e10, -1e10], [0, 1e10]]}), check=covers),
    Hostile("bow-tie filled even-odd", run({"type": "polygon", "points": [[20, 20], [100, 80], [100, 20], [20, 80]]}),
            check=same_as({"type": "polygon", "points": [[20, 20], [60, 50], [100, 20], [100, 80], [60, 50],
                                                          [20, 80]]})),  # the two lobes, traced without crossing
    Hostile("collinear polygon", run({"type": "polygon", "points": [[0, 0], [5, 5], [9, 9]]}), raises=ValueError,
            match=rf"{P}\[0\]\['points'\] encloses no area \(its vertices are collinear or repeated\)"),
    Hostile("polygon of 1e6 vertices", run({"type": "polygon", "points": [[1.0, 2.0]] * 1_000_000}),
            raises=ValueError, match=rf"{P}\[0\]\['points'\] has 1000000 points; at most {MAX_VERTICES}", seconds=10),
    Hostile("polygon of 10,000 vertices", run({"type": "polygon", "points": ZIGZAG}), check=visible, seconds=20),
    Hostile("polygon as a flat list", run({"type": "polygon", "points": [1, 2, 3, 4, 5, 6]}), raises=TypeError,
            match=rf"{P}\[0\]\['points'\]\[0\] must be a list of 2 numbers, got int"),
    Hostile("polygon point nested once more", run({"type": "polygon", "points": [[[1, 2]], [[30, 2]], [[3, 40]]]}),
            raises=TypeError, match=rf"{P}\[0\]\['points'\]\[0\] must be a flat list of 2 numbers, got a nested list"),
    Hostile("polygon vertex 1e300", run({"type": "polygon", "points": [[0, 0], [1e300, 0], [0, 50]]}),
            raises=ValueError, match=rf"{P}\[0\]\['points'\]\[1\] holds 1e\+300"),
    Hostile("polygon as a torch tensor",
            run({"type": "polygon", "points": torch.tensor([[70, 10], [110, 20], [90, 60]])}),
            check=same_as({"type": "polygon", "points": [[70, 10], [110, 20], [90, 60]]})),
    # scribbles
    Hostile("scribble width 1e10", run({"type": "scribble", "points": [[0, 0], [50, 50]], "width": 1e10}),
            check=covers),
    Hostile("scribble width 3e6", run({"type": "scribble", "points": [[0, 0], [50, 50]], "width": 3e6}), check=covers),
    Hostile("scribble vertex at 1e10", run({"type": "scribble", "points": [[10, 50], [1e10, 50]], "width": 6}),
            check=same_as({"type": "scribble", "points": [[10, 50], [200, 50]], "width": 6})),
    Hostile("scribble of 10,000 vertices", run({"type": "scribble", "points": ZIGZAG, "width": 1}), check=visible,
            seconds=20),
    Hostile("scribble width -0.0", run({"type": "scribble", "points": [[0, 0], [5, 5]], "width": -0.0}),
            raises=ValueError, match=rf"{P}\[0\]\['width'\] must be positive, got 0.0"),
    Hostile("scribble width inf", run({"type": "scribble", "points": [[0, 0], [5, 5]], "width": float("inf")}),
            raises=ValueError, match=rf"{P}\[0\]\['width'\] must hold finite numbers"),
    Hostile("scribble width huge int", run({"type": "scribble", "points": [[0, 0], [5, 5]], "width": 10**400}),
            raises=ValueError, match=rf"{P}\[0\]\['width'\] holds 1000.*at most 1e\+12"),
    # points and boxes
    Hostile("point at negative zero", run({"type": "point", "point": [-0.0, -0.0]}), check=visible),
    Hostile("point with numpy bool", run({"type": "point", "point": [np.bool_(True), 3]}), raises=TypeError,
            match=rf"{P}\[0\]\['point'\] must hold numbers, got the bool True"),
    Hostile("point nested [[x, y]]", run({"type": "point", "point": [[3, 4]]}), raises=TypeError,
            match=rf"{P}\[0\]\['point'\] must be a flat list of 2 numbers, got a nested list"),
    Hostile("box with 5 numbers", run({"type": "box", "bbox": [0, 0, 5, 5, 5]}), raises=ValueError,
            match=rf"{P}\[0\]\['bbox'\] must have 4 numbers, got 5"),
    Hostile("point as a 2-D array", run({"type": "point", "point": np.array([[3, 4]])}), raises=ValueError,
            match=rf"{P}\[0\]\['point'\] must be a flat list of 2 numbers, got an array of shape \(1, 2\)"),
    Hostile("box of +-1e12", run({"type": "box", "bbox": [-1e12, -1e12, 1e12, 1e12]}), check=covers),
    Hostile("box of 1e300", run({"type": "box", "bbox": [0, 0, 1e300, 1e300]}), raises=ValueError,
            match=rf"{P}\[0\]\['bbox'\] holds 1e\+300"),
    Hostile("type not a string", run({"type": ["box"], "bbox": [0, 0, 5, 5]}), raises=ValueError,
            match=rf"{P}\[0\]\['type'\] is \['box'\]; valid types are"),
    # masks
    Hostile("one-pixel mask on 2000x2000", run({"type": "mask", "mask": ONE_PIXEL}, size=(2000, 2000)),
            check=one_pixel_in_its_tile),
    Hostile("soft float mask 0.01/0.99", run({"type": "mask", "mask": np.where(BLOB, 0.99, 0.01)}),
            check=same_as({"type": "mask", "mask": BLOB})),
    Hostile("0/255 uint8 mask", run({"type": "mask", "mask": BLOB.astype(np.uint8) * 255}),
            check=same_as({"type": "mask", "mask": BLOB})),
    Hostile("mask of logits", run({"type": "mask", "mask": np.where(BLOB, 4.0, -4.0)}), raises=ValueError,
            match=rf"{P}\[0\]\['mask'\] holds values in \[-4, 4\]; a float mask must hold values in \[0, 1\]"),
    Hostile("mask with a NaN background", run({"type": "mask", "mask": np.where(BLOB, 1.0, np.nan)}),
            raises=ValueError, match=rf"{P}\[0\]\['mask'\] holds NaN or infinite values"),
    Hostile("mask of class ids", run({"type": "mask", "mask": BLOB.astype(np.int32) * 7}), raises=ValueError,
            match=rf"{P}\[0\]\['mask'\] holds integer values \[7\]; an integer mask must hold 0/1 or 0/255"),
    Hostile("RLE of a huge size", run({"type": "mask", "mask": {"size": [10**6, 10**6], "counts": [10**12]}}),
            raises=ValueError, match=rf"{P}\[0\]\['mask'\] has size \[1000000.0, 1000000.0\], but the image is"),
    Hostile("RLE with negative runs", run({"type": "mask", "mask": {"size": [H, W], "counts": [H * W + 5, -5]}}),
            raises=ValueError, match=rf"{P}\[0\]\['mask'\]\['counts'\] must be at most .* non-negative run lengths"),
    Hostile("mask of strings", run({"type": "mask", "mask": np.full((H, W), "x")}), raises=TypeError,
            match=rf"{P}\[0\]\['mask'\] must be a boolean \(H, W\) array"),
]


@parametrize(CASES)
def test_hostile_prompt(case, tmp_path):
    run_case(case, tmp_path)
