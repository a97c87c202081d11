"""Fixtures shared by the crop tests (zoom-in crops, pair crops)."""

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data.annotations import AnnotatedImage, ObjectAnnotation

FRAME_W, FRAME_H = 640, 512


@pytest.fixture
def frame(tmp_path):
    """A 640 x 512 infrared frame with distinct pixels: a person and a bicycle side by side, a car far away
    (`(pixels, image)`)."""
    pixels = (np.arange(FRAME_H * FRAME_W).reshape(FRAME_H, FRAME_W) % 251).astype(np.uint8)
    path = tmp_path / "frame.png"
    Image.fromarray(pixels).save(path)
    objects = [ObjectAnnotation("person", [100, 100, 108, 115]),  # two objects side by side: one zoom-in crop
               ObjectAnnotation("bicycle", [112, 104, 124, 114]),
               ObjectAnnotation("car", [500, 400, 540, 420])]  # far away: its own crop, 4 x 40 = 160 px
    return pixels, AnnotatedImage(str(path), FRAME_W, FRAME_H, modality="infrared", objects=objects, id="f0",
                                  scene="road")
