"""`validation_split` for the pixel-space formats and records (issue 35): a seeded fraction of the images (of the
image files, for records) held out, never one image on both sides."""

from __future__ import annotations

import pytest

from earthgptx_hf.data.annotations import AnnotatedImage
from earthgptx_hf.data.validation_split import split_images, split_records


def test_records_of_one_image_stay_on_one_side():
    records = [{"image": f"im{i % 5}.png", "id": str(i)} for i in range(20)]
    train, held = split_records(records, 0.4, seed=3)
    assert len({r["image"] for r in held}) == 2 and len(train) + len(held) == 20
    assert not {r["image"] for r in train} & {r["image"] for r in held}
    assert split_records(records, 0.0) == (records, [])


def test_too_little_to_hold_out_and_bad_values_are_refused():
    with pytest.raises(ValueError, match=r"validation_split=0.5 needs at least 2 images; the data has 1"):
        split_images([AnnotatedImage("a.png", 8, 8)], 0.5)
    with pytest.raises(ValueError, match=r"validation_split=-0.1 must be a number in \[0, 1\)"):
        split_records([], -0.1)
    geo = [AnnotatedImage("a.png", 8, 8, source="geo", split="train")] * 2
    with pytest.raises(ValueError, match=r"held out no spatial block"):
        split_images(geo, 0.2)


def test_the_spatial_marks_decide_when_images_carry_them():
    images = [AnnotatedImage(f"{i}.png", 8, 8, source="geo", split="validation" if i == 3 else "train")
              for i in range(6)]
    train, held = split_images(images, 0.9)  # the fraction chose the blocks already: the marks decide
    assert [im.image for im in held] == ["3.png"] and len(train) == 5
