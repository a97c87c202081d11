"""Zoom-in evaluation crops: every object asked about exactly once, on a crop of the training crops' size, nearby
objects together, pixels and boxes moved exactly; and the evaluation's `zoom_in` option on those crops."""

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data.annotations import AnnotatedImage
from earthgptx_hf.data.zoom_in import zoom_in_images

from .conftest import FRAME_H as H, FRAME_W as W  # noqa: E402


def test_each_object_is_asked_once_on_a_crop_of_the_training_size(frame, tmp_path):
    pixels, image = frame
    crops, counts = zoom_in_images([image], tmp_path / "zoom", context=1.5, min_size=96)
    assert counts["crops"] == 2 and counts["objects"] == {"kept whole": 3}
    near, far = sorted(crops, key=lambda c: len(c.objects), reverse=True)
    assert [o.category for o in near.objects] == ["person", "bicycle"] and [o.category for o in far.objects] == ["car"]
    assert (near.width, near.height) == (96, 96) and (far.width, far.height) == (160, 160)
    for crop in crops:
        x0, y0 = (int(v) for v in _offset(crop, image))
        shown = np.asarray(Image.open(crop.image))
        np.testing.assert_array_equal(shown, pixels[y0:y0 + crop.height, x0:x0 + crop.width])
        for obj in crop.objects:
            original = next(o for o in image.objects if o.category == obj.category)
            assert obj.bbox == [original.bbox[0] - x0, original.bbox[1] - y0, original.bbox[2] - x0,
                                original.bbox[3] - y0]
    assert near.scene is None and crops[0].modality == "infrared"  # image-level labels stay with the whole image


def _offset(crop, image):
    """Where the crop lies in the frame: found from its first object's shift."""
    obj = crop.objects[0]
    original = next(o for o in image.objects if o.category == obj.category)
    return original.bbox[0] - obj.bbox[0], original.bbox[1] - obj.bbox[1]


def test_bad_zoom_in_arguments_are_refused(frame, tmp_path):
    _, image = frame
    with pytest.raises(ValueError, match="min_size=0 must be a positive integer"):
        zoom_in_images([image], tmp_path, min_size=0)
    with pytest.raises(ValueError, match="context=-1 must be a number >= 0"):
        zoom_in_images([image], tmp_path, context=-1)
    crops, counts = zoom_in_images([AnnotatedImage(image.image, W, H)], tmp_path)
    assert crops == [] and counts["skipped"] == {"images without objects": 1}
