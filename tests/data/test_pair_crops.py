"""Pair crops (the prompt-swap check at the zoom-in scale, and the `pair_crops` training option): disjoint pairs of
objects of different classes, nearest first (or, for training's `pair_partners="nearest"`, each object with its
nearest partner), each on the smallest square holding both objects' own zoom-in crops.
They need no geo extra, unlike the zoom-in crops of tests/data/test_zoom_in.py."""

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data.annotations import AnnotatedImage, ObjectAnnotation
from earthgptx_hf.data.zoom_in import pair_crops, pair_windows

from .conftest import FRAME_H as H, FRAME_W as W


def test_pairs_of_different_classes_are_nearest_first_disjoint_and_on_one_crop(frame, tmp_path):
    pixels, image = frame
    pairs, unpaired = pair_windows(image, context=1.5, min_size=96)
    # person and bicycle are 10 px apart: one pair; the car is left, its only partners being used already
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)] and unpaired == 1
    (_, _, window), = pairs
    # own crops (96 px, centred): person x 56-152, y 59-155; bicycle x 70-166, y 61-157; their union is 110 x 98,
    # so the pair's crop is the 110-px square centred on it
    assert window == (56, 53, 166, 163)
    x0, y0, x1, y1 = window
    crops, counts = pair_crops([image], tmp_path / "pairs", context=1.5, min_size=96)
    assert counts["pairs"] == 1 and counts["objects_unpaired"] == 1 and counts["objects"] == {"kept whole": 2}
    crop, = crops
    assert crop.id == "f0#pair0" and [o.category for o in crop.objects] == ["person", "bicycle"]
    np.testing.assert_array_equal(np.asarray(Image.open(crop.image)), pixels[y0:y1, x0:x1])
    assert crop.objects[0].bbox == [100 - x0, 100 - y0, 108 - x0, 115 - y0]


def test_nearest_partners_pair_every_object_that_has_one_within_the_scale(frame, tmp_path):
    pixels, image = frame
    # person-bicycle first (10 px apart); then the car's nearest other-class object, the bicycle, fits within 4x
    pairs, unpaired = pair_windows(image, max_scale=4.0, disjoint=False)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (1, 2)] and unpaired == 0
    assert [(i, j) for i, j, _ in pair_windows(image, max_scale=4.0)[0]] == [(0, 1)]  # disjoint: the car is left
    # at the zoom-in scale (2x) the car is too far from both: nothing more than the disjoint pair
    assert [(i, j) for i, j, _ in pair_windows(image, disjoint=False)[0]] == [(0, 1)]
    crops, counts = pair_crops([image], tmp_path, max_scale=4.0, disjoint=False)
    assert [c.id for c in crops] == ["f0#pair0", "f0#pair1"] and counts["disjoint"] is False
    assert [[o.category for o in c.objects] for c in crops] == [["person", "bicycle"], ["bicycle", "car"]]
    with pytest.raises(ValueError, match="disjoint='yes' must be True or False"):
        pair_windows(image, disjoint="yes")


def test_a_pair_too_far_apart_for_the_zoom_in_scale_is_not_asked(frame, tmp_path):
    _, image = frame
    far = AnnotatedImage(image.image, W, H, objects=[image.objects[0], image.objects[2]], id="far")
    assert pair_windows(far) == ([], 2)  # person and car ~480 px apart: a crop over 2x their own crops
    pairs, unpaired = pair_windows(far, max_scale=4.0)  # 544 px <= 4 x 160: asked (shrunk to the frame's height)
    assert len(pairs) == 1 and unpaired == 0 and pairs[0][2] == (56, 0, 600, 512)
    same = AnnotatedImage(image.image, W, H, objects=[image.objects[0], image.objects[0]], id="same")
    crops, counts = pair_crops([same], tmp_path)
    assert crops == [] and counts["images_without_pair"] == 1 and counts["objects_unpaired"] == 0
    with pytest.raises(ValueError, match="max_scale=0.5 must be a number >= 1"):
        pair_crops([image], tmp_path, max_scale=0.5)
    with pytest.raises(ValueError, match="min_size=0 must be a positive integer"):
        pair_crops([image], tmp_path, min_size=0)


def test_too_far_compares_with_the_larger_side_of_the_own_crops(tmp_path):
    # an 80-px-wide strip: the own crops are cut to 80 px in width but keep their height (96 and 120 px); the pair's
    # crop is 216 px tall, within 2 x 120, though over 2 x 80
    strip = AnnotatedImage(str(tmp_path / "strip.png"), 80, 600, objects=[
        ObjectAnnotation("person", [30, 100, 40, 115]), ObjectAnnotation("car", [30, 200, 50, 230])], id="strip")
    pairs, unpaired = pair_windows(strip, context=1.5, min_size=96)
    assert [(i, j, window) for i, j, window in pairs] == [(0, 1, (0, 59, 80, 275))] and unpaired == 0
    assert pair_windows(strip, context=1.5, min_size=96, max_scale=1.5) == ([], 2)


def test_classes_are_compared_as_normalised_names_and_few_objects_give_no_pair(frame, tmp_path):
    _, image = frame
    person = image.objects[0]
    spelled = AnnotatedImage(image.image, W, H, objects=[person, ObjectAnnotation("Person", [112, 104, 124, 114])])
    assert pair_windows(spelled) == ([], 0)  # "Person" and "person" are one class
    for objects in ([], [person]):
        crops, counts = pair_crops([AnnotatedImage(image.image, W, H, objects=objects, id="few")], tmp_path)
        assert crops == [] and counts["images_without_pair"] == 1 and counts["objects_unpaired"] == 0


def test_bad_pair_arguments_and_a_file_of_another_size_are_refused(frame, tmp_path):
    _, image = frame
    for value in (0.5, None, float("nan")):
        with pytest.raises(ValueError, match=f"max_scale={value!r} must be a number >= 1"):
            pair_windows(image, max_scale=value)
    with pytest.raises(ValueError, match="context=None must be a number >= 0"):
        pair_crops([image], tmp_path, context=None)
    wrong = AnnotatedImage(image.image, W * 2, H, objects=image.objects, id="wrong")
    with pytest.raises(ValueError, match=r"the file is 640x512 pixels, its annotation says 1280x512"):
        pair_crops([wrong], tmp_path)
