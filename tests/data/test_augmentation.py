"""Region crops and flips of annotated images: pixels copied, boxes / points / polygons / masks moved exactly, objects
cut by a crop kept clipped or counted as dropped, direction words removed from flipped human text."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data.annotations import AnnotatedImage, ObjectAnnotation
from earthgptx_hf.data.augmentation import crop_window, flipped_copies, region_crops
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask

W, H = 80, 60


def _mask(x1, y1, x2, y2, notch=True):
    mask = np.zeros((H, W), bool)
    mask[y1:y2, x1:x2] = True
    if notch:  # not a rectangle, so that a wrong flip or shift shows
        mask[y1, x1] = False
    return mask


@pytest.fixture
def image(tmp_path):
    pixels = (np.arange(H * W * 3).reshape(H, W, 3) % 251).astype(np.uint8)  # every pixel distinct enough
    path = tmp_path / "scene.png"
    Image.fromarray(pixels).save(path)
    objects = [
        ObjectAnnotation("person", [30, 20, 36, 28], mask=mask_to_rle(_mask(30, 20, 36, 28)),
                         polygon=[30, 20, 36, 20, 36, 28], expression="the person on the left"),
        ObjectAnnotation("car", [0, 0, 10, 10], mask=mask_to_rle(_mask(0, 0, 10, 10))),
        ObjectAnnotation("bicycle", [70, 50, 80, 60], point=[75.5, 55.5]),
    ]
    return AnnotatedImage(image=str(path), width=W, height=H, modality="infrared", objects=objects,
                          captions=["a road seen from above"], id="ir/0", split="train"), pixels


def test_crop_window_is_square_around_the_object_and_inside_the_image():
    assert crop_window([30, 20, 36, 28], W, H, context=1.0, min_size=10) == (21, 12, 45, 36)  # 3 x 8 = 24 px
    assert crop_window([30, 20, 36, 28], W, H, context=0.0, min_size=16) == (25, 16, 41, 32)  # at least 16 px
    assert crop_window([0, 0, 4, 4], W, H, context=1.0, min_size=20) == (0, 0, 20, 20)  # shifted inside


def test_crop_window_is_capped_by_the_image():
    assert crop_window([70, 50, 80, 60], W, H, context=5.0, min_size=10) == (0, 0, W, H)


def test_a_crop_moves_pixels_boxes_masks_and_polygons_exactly(image, tmp_path):
    source, pixels = image
    crops, counts = region_crops([source], tmp_path / "crops", 3, context=1.0, min_size=24, keep_fraction=0.5)
    by_object = {}
    for crop in crops:
        assert crop.id.startswith("ir/0#crop") and crop.split == "train" and crop.modality == "infrared"
        assert crop.captions == [] and crop.scene is None  # image-level text does not describe a crop
        by_object[next(o.category for o in crop.objects)] = crop
    person = by_object["person"]
    x0, y0 = 21, 12  # crop_window([30, 20, 36, 28], 80, 60, 1.0, 24)
    assert (person.width, person.height) == (24, 24)
    assert np.array_equal(np.asarray(Image.open(person.image)), pixels[y0:y0 + 24, x0:x0 + 24])
    obj = person.objects[0]
    assert obj.bbox == [9, 8, 15, 16] and obj.polygon == [9, 8, 15, 8, 15, 16]
    assert np.array_equal(rle_to_mask(obj.mask), _mask(30, 20, 36, 28)[y0:y0 + 24, x0:x0 + 24])
    assert len(person.objects) == 1  # the car and the bicycle lie outside this crop
    # the bicycle's crop (30 px around its 10-px box in the corner, shifted inside to (50, 30, 80, 60)): its point
    # moves with it
    bicycle = by_object["bicycle"]
    assert (bicycle.width, bicycle.height) == (30, 30)
    assert bicycle.objects[0].point == [75.5 - 50, 55.5 - 30] and bicycle.objects[0].bbox == [20, 20, 30, 30]
    assert counts["crops"] == 3 and counts["images_cropped"] == 1 and counts["not_cropped"] == {}
    assert counts["objects"]["kept whole"] == 3 and counts["objects"]["outside crop"] == 6
    assert counts["objects"]["image-level labels not carried"] == 3


def test_objects_cut_by_the_crop_are_clipped_or_counted_as_dropped(image, tmp_path):
    source, _ = image
    source.objects = [source.objects[0], ObjectAnnotation("car", [40, 20, 60, 28]),  # 5 of 20 px inside the crop
                      ObjectAnnotation("car", [16, 20, 26, 28], mask=mask_to_rle(_mask(16, 20, 26, 28)))]  # 5 of 10
    window = (21, 12, 45, 36)
    crops, counts = region_crops([source], tmp_path / "crops", 1, context=1.0, min_size=24, keep_fraction=0.5,
                                 seed=1)
    crop = crops[0]
    assert (crop.objects[0].category, crop.objects[0].bbox) == ("person", [9, 8, 15, 16]), "seed picks the person"
    clipped = crop.objects[1]
    assert clipped.bbox == [0.0, 8.0, 5.0, 16.0]
    assert np.array_equal(rle_to_mask(clipped.mask), _mask(16, 20, 26, 28)[12:36, 21:45])
    assert counts["objects"] == {"kept whole": 1, "kept clipped": 1, "cut by crop": 1,
                                 "image-level labels not carried": 1}
    assert window == crop_window(source.objects[0].bbox, W, H, 1.0, 24)


def test_sixteen_bit_pixels_are_cropped_without_conversion(tmp_path):
    pixels = (np.arange(H * W).reshape(H, W) * 13).astype(np.uint16)
    Image.fromarray(pixels).save(tmp_path / "sar.png")
    source = AnnotatedImage(str(tmp_path / "sar.png"), W, H, "sar", [ObjectAnnotation("ship", [30, 20, 36, 28])])
    crops, _ = region_crops([source], tmp_path / "crops", 1, context=1.0, min_size=24)
    out, read_source = Image.open(crops[0].image), Image.open(tmp_path / "sar.png")
    # the crop reads back as the source does (Pillow < 10.1 opens a 16-bit PNG as mode "I", int32), values intact
    assert out.mode == read_source.mode and np.asarray(out).dtype == np.asarray(read_source).dtype
    assert np.array_equal(np.asarray(out), pixels[12:36, 21:45]) and np.asarray(out).max() > 255


def test_flips_mirror_pixels_and_annotations_exactly(image, tmp_path):
    source, pixels = image
    copies, counts = flipped_copies([source], tmp_path / "flips", "both")
    horizontal, vertical = copies
    assert np.array_equal(np.asarray(Image.open(horizontal.image)), pixels[:, ::-1])
    assert np.array_equal(np.asarray(Image.open(vertical.image)), pixels[::-1])
    person, car, bicycle = horizontal.objects
    assert person.bbox == [44, 20, 50, 28] and car.bbox == [70, 0, 80, 10] and bicycle.point == [4.5, 55.5]
    assert person.polygon == [50, 20, 44, 20, 44, 28]
    assert np.array_equal(rle_to_mask(person.mask), _mask(30, 20, 36, 28)[:, ::-1])
    rows, cols = np.nonzero(rle_to_mask(car.mask))
    assert [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1] == car.bbox  # box and mask still agree
    person_v = vertical.objects[0]
    assert person_v.bbox == [30, 32, 36, 40] and np.array_equal(rle_to_mask(person_v.mask), _mask(30, 20, 36, 28)[::-1])
    # "on the left" is wrong once mirrored left-right, still right when mirrored top-bottom; "from above" the reverse
    assert person.expression is None and person_v.expression == "the person on the left"
    assert horizontal.captions == ["a road seen from above"] and vertical.captions == []
    assert counts == {"copies": 2, "flip": "both", "horizontal copies": 1, "vertical copies": 1,
                      "expressions removed (direction words)": 1, "captions removed (direction words)": 1}
    assert source.objects[0].bbox == [30, 20, 36, 28]  # the input is left as it was
    assert flipped_copies([source], tmp_path / "none", "none") == ([], {"copies": 0, "flip": "none"})
    with pytest.raises(ValueError, match=r"flip='diagonal' is not one of"):
        flipped_copies([source], tmp_path, "diagonal")


def test_crops_and_flips_of_different_sources_never_share_a_file(tmp_path):
    """Ids that sanitise alike, images with no id and the same file stem in two folders, one image listed twice: each
    crop and flip keeps its own pixels (one would overwrite another's file under a name made of id or stem only)."""
    sources = []
    for n, (folder, image_id) in enumerate([("a", "x/1"), ("b", "x_1"), ("c", None), ("d", None)]):
        (tmp_path / folder).mkdir()
        pixels = np.full((H, W, 3), 40 * n, np.uint8)
        pixels[..., 1] = np.arange(W, dtype=np.uint8)  # columns differ, so that two windows of one image differ
        Image.fromarray(pixels).save(tmp_path / folder / "scene.png")
        sources.append(AnnotatedImage(image=str(tmp_path / folder / "scene.png"), width=W, height=H,
                                      objects=[ObjectAnnotation("car", [10, 10, 20, 20])], id=image_id))
    twice = AnnotatedImage(image=sources[0].image, width=W, height=H, id="x/1",
                           objects=[ObjectAnnotation("car", [50, 30, 60, 40])])  # listed again, cropped elsewhere
    crops, _ = region_crops(sources + [twice], tmp_path / "out", 1, context=1.0, min_size=24)
    flips, _ = flipped_copies(sources, tmp_path / "out", "horizontal")
    written = [c.image for c in crops + flips]
    assert len(set(written)) == len(written) == 9
    for source, crop, flip in zip(sources, crops, flips):
        value = np.asarray(Image.open(source.image))[0, 0, 0]
        assert (np.asarray(Image.open(crop.image))[..., 0] == value).all()
        assert (np.asarray(Image.open(flip.image))[..., 0] == value).all()
    x0, y0, x1, y1 = crop_window([50, 30, 60, 40], W, H, context=1.0, min_size=24)
    assert np.array_equal(np.asarray(Image.open(crops[4].image)), np.asarray(Image.open(twice.image))[y0:y1, x0:x1])
    first, again = (np.asarray(Image.open(crops[k].image))[..., 1] for k in (0, 4))
    assert not np.array_equal(first, again)


def test_a_long_or_dotted_id_gives_a_short_name_inside_the_output_folder(image, tmp_path):
    source, _ = image
    source.id = "../" * 40 + "." + "x" * 300
    crops, _ = region_crops([source], tmp_path / "out", 1, context=1.0, min_size=24)
    path = Path(crops[0].image)
    assert path.parent == tmp_path / "out" and len(path.name) < 120 and not path.name.startswith(".")
