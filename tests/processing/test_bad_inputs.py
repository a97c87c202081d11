"""Bad inputs: each raises ValueError or TypeError whose message names the argument at fault."""

import numpy as np
import pytest
import torch

from earthgptx_hf import EarthGPTXProcessor

IMAGE = np.zeros((100, 120, 3), np.uint8)
TEXT = "<Region 1> what is it?"
BOX = {"type": "box", "bbox": [10, 10, 50, 50]}


def call(**overrides):
    kwargs = {"images": IMAGE, "text": TEXT, "visual_prompts": [BOX]}
    kwargs.update(overrides)
    return kwargs


BAD_INPUTS = [
    ("image of a wrong type", call(images=123), TypeError, r"images must be a PIL image"),
    ("image as a dict", call(images={"a": 1}), TypeError, r"images must be"),
    ("missing file", call(images="/nonexistent/scene.tif"), ValueError, r"images is the path .* not a file"),
    ("empty image", call(images=np.zeros((0, 10), np.uint8)), ValueError, r"images is empty"),
    ("5-channel array", call(images=np.zeros((32, 32, 5), np.uint16)), ValueError, r"images has 5 channels.*bands"),
    ("5-channel CHW tensor", call(images=torch.zeros(5, 32, 32)), ValueError, r"images has 5 channels"),
    ("4-D array", call(images=np.zeros((1, 3, 8, 8))), ValueError, r"images must be 2-D"),
    ("string pixels", call(images=np.array([["a"]])), TypeError, r"images has dtype"),
    ("all-NaN image", call(images=np.full((100, 120), np.nan, np.float32)), ValueError,
     r"images has only 0.00% finite pixels .*min_valid_fraction"),
    ("complex SLC image", call(images=np.ones((100, 120), np.complex64)), TypeError,
     r"images is complex \(complex64\).*np.abs"),
    ("ambiguous channels-first", call(images=np.zeros((1, 640, 4), np.uint8)), ValueError,
     r"images has the ambiguous shape \(1, 640, 4\)"),
    ("5-D array", call(images=np.zeros((1, 1, 3, 8, 8))), ValueError,
     r"images must be 2-D .* shape \(1, 1, 3, 8, 8\)"),
    ("oversized image", call(images=np.zeros((20000, 6000), np.uint8)), ValueError, r"images has 20000x6000.*max_pixels"),
    ("empty image list", call(images=[]), ValueError, r"images is an empty list"),
    ("no text", call(text=None), ValueError, r"text is required"),
    ("text of a wrong type", call(text=[42]), TypeError, r"text\[0\] must be a string"),
    ("mismatched batch lengths", call(images=[IMAGE, IMAGE], text=[TEXT], visual_prompts=[[BOX], [BOX]]),
     ValueError, r"text has 1 entries but there are 2 images"),
    ("prompts per image mismatch", call(images=[IMAGE, IMAGE], text=[TEXT, TEXT], visual_prompts=[[BOX]]),
     ValueError, r"visual_prompts has 1 entries but there are 2 images"),
    ("region reference with no prompt", call(text="<Region 2> and <Region 1>?"), ValueError,
     r"text\[0\] refers to <Region 2>.*1 visual prompt"),
    ("mark reference with no prompt", call(text="<Mark 3>?"), ValueError, r"text\[0\] refers to <Mark 3>"),
    ("reference without any prompt", call(visual_prompts=[]), ValueError, r"image 0 has no visual prompt"),
    ("two images in one text", call(text="<image><image> <Region 1>"), ValueError, r"text\[0\] holds 2 <image>"),
    ("unknown modality", call(modality="lidar"), ValueError, r"modality='lidar' is not one of"),
    ("too many prompts", call(visual_prompts=[BOX] * 9), ValueError, r"visual_prompts has 9 prompts.*max_regions=8"),
    ("prompt not a dict", call(visual_prompts=[[1, 2, 3, 4]]), TypeError, r"visual_prompts\[0\] must be a dict"),
    ("single dict instead of a list", call(visual_prompts=BOX), TypeError, r"visual_prompts must be a list"),
    ("unknown prompt type", call(visual_prompts=[{"type": "ellipse"}]), ValueError,
     r"visual_prompts\[0\]\['type'\] is 'ellipse'"),
    ("missing key", call(visual_prompts=[{"type": "box"}]), ValueError, r"visual_prompts\[0\] is a box prompt without"),
    ("NaN coordinates", call(visual_prompts=[{"type": "box", "bbox": [0, float("nan"), 5, 5]}]), ValueError,
     r"visual_prompts\[0\]\['bbox'\] must hold finite numbers"),
    ("infinite point", call(visual_prompts=[{"type": "point", "point": [float("inf"), 3]}]), ValueError,
     r"visual_prompts\[0\]\['point'\] must hold finite"),
    ("degenerate box", call(visual_prompts=[{"type": "box", "bbox": [10, 10, 10, 40]}]), ValueError,
     r"visual_prompts\[0\]\['bbox'\] = .* is degenerate"),
    ("box with 3 numbers", call(visual_prompts=[{"type": "box", "bbox": [1, 2, 3]}]), ValueError,
     r"visual_prompts\[0\]\['bbox'\] must have 4 numbers"),
    ("string coordinates", call(visual_prompts=[{"type": "point", "point": ["1", 2]}]), TypeError,
     r"visual_prompts\[0\]\['point'\] must hold numbers"),
    ("2-point polygon", call(visual_prompts=[{"type": "polygon", "points": [[0, 0], [5, 5]]}]), ValueError,
     r"visual_prompts\[0\]\['points'\] needs at least 3 points"),
    ("collinear polygon", call(visual_prompts=[{"type": "polygon", "points": [[0, 0], [5, 5], [9, 9]]}]), ValueError,
     r"visual_prompts\[0\]\['points'\] encloses no area"),
    ("scribble of zero width", call(visual_prompts=[{"type": "scribble", "points": [[0, 0], [5, 5]], "width": 0}]),
     ValueError, r"visual_prompts\[0\]\['width'\] must be positive"),
    ("negative radius", call(visual_prompts=[{"type": "circle", "center": [5, 5], "radius": -1}]), ValueError,
     r"visual_prompts\[0\]\['radius'\] must be positive"),
    ("point outside the image", call(visual_prompts=[{"type": "point", "point": [500, 5]}]), ValueError,
     r"visual_prompts\[0\]\['point'\] = .* lies outside the 120x100 image"),
    ("box entirely outside", call(visual_prompts=[{"type": "box", "bbox": [200, 200, 300, 300]}]), ValueError,
     r"visual_prompts\[0\] lies entirely outside the 120x100 image"),
    ("mask of another size", call(visual_prompts=[{"type": "mask", "mask": np.ones((10, 10), bool)}]), ValueError,
     r"visual_prompts\[0\]\['mask'\] has shape \(10, 10\), but the image is \(100, 120\)"),
    ("empty mask", call(visual_prompts=[{"type": "mask", "mask": np.zeros((100, 120), bool)}]), ValueError,
     r"visual_prompts\[0\]\['mask'\] is empty"),
    ("compressed RLE that stops short", call(visual_prompts=[{"type": "mask", "mask": {"size": [100, 120],
                                                                                         "counts": "30"}}]),
     ValueError, r"visual_prompts\[0\]\['mask'\]\['counts'\] is not the COCO RLE of a 100x120 mask"),
    ("compressed RLE with a dangling run", call(visual_prompts=[{"type": "mask", "mask": {"size": [100, 120],
                                                                                           "counts": "abc"}}]),
     ValueError, r"visual_prompts\[0\]\['mask'\]\['counts'\] is not a compressed COCO RLE string"),
]


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_preset("tiny")


@pytest.mark.parametrize("name, kwargs, error, message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_a_clear_error(processor, name, kwargs, error, message):
    with pytest.raises(error, match=message):
        processor(**kwargs)


def test_there_are_at_least_twenty_kinds():
    assert len(BAD_INPUTS) >= 20
