"""The shared drawing helper: every prompt type, region labels, masks, and the gallery layout."""

import numpy as np
import pytest

from earthgptx_hf.evaluation.visualization import draw_visual_prompts, region_colour, save_gallery


def _coloured(picture, colour, box):
    x1, y1, x2, y2 = box
    pixels = np.asarray(picture)[y1:y2, x1:x2].reshape(-1, 3)
    return (np.abs(pixels.astype(int) - colour).sum(1) < 30).any()


@pytest.mark.parametrize("prompt, where", [
    ({"type": "point", "point": [32, 32]}, (120, 120, 136, 136)),
    ({"type": "box", "bbox": [16, 16, 48, 48]}, (60, 60, 70, 200)),
    ({"type": "polygon", "points": [[16, 16], [48, 16], [32, 48]]}, (60, 60, 196, 70)),
    ({"type": "scribble", "points": [[8, 40], [56, 40]], "width": 2}, (40, 155, 220, 165)),
    ({"type": "circle", "center": [32, 32], "radius": 10}, (80, 80, 176, 176)),
])
def test_each_prompt_type_is_drawn_in_its_region_colour(prompt, where):
    image = np.zeros((64, 64), np.uint16)  # a 16-bit single-channel (SAR-like) image
    picture = draw_visual_prompts(image, [prompt])
    assert picture.size == (256, 256)  # enlarged 4x for readability
    assert _coloured(picture, region_colour(1), where)


def test_masks_labels_answers_and_caption():
    image = np.full((64, 96, 3), 100, np.uint8)
    mask = np.zeros((64, 96), bool)
    mask[40:60, 60:90] = True
    plain = np.asarray(draw_visual_prompts(image, [{"type": "box", "bbox": [4, 20, 20, 40]}]))
    drawn = draw_visual_prompts(image, [{"type": "box", "bbox": [4, 20, 20, 40]}, {"type": "mask", "mask": mask}],
                                answers={1: "ship"}, masks=[mask], caption="USER: what?\nASSISTANT: <Region 1>: ship")
    assert drawn.width == plain.shape[1] and drawn.height > plain.shape[0]  # the caption band
    inside = np.asarray(drawn)[130, 200].astype(int)  # inside the mask (the drawing is 256/96 larger)
    assert not np.array_equal(inside, [100, 100, 100])
    label_area = np.asarray(drawn)[:90, :150].astype(int)
    assert (np.abs(label_area - region_colour(1)).sum(-1) < 30).sum() > (
        np.abs(plain[:90, :150].astype(int) - region_colour(1)).sum(-1) < 30).sum()  # the longer "<Region 1>: ship"
    with pytest.raises(ValueError, match=r"masks\[0\] has shape \(10, 10\)"):
        draw_visual_prompts(image, [], masks=[np.zeros((10, 10), bool)])


def test_large_images_are_reduced_and_gallery_grid(tmp_path):
    big = draw_visual_prompts(np.zeros((900, 1200, 3), np.uint8), [{"type": "box", "bbox": [100, 100, 500, 400]}])
    assert big.size == (768, 576)
    small = draw_visual_prompts(np.zeros((64, 64), np.uint8))
    path = save_gallery([small, small, small], tmp_path / "g.png", columns=2, gap=8)
    from PIL import Image

    assert Image.open(path).size == (2 * 256 + 3 * 8, 2 * 256 + 3 * 8)
    with pytest.raises(ValueError, match="panels is empty"):
        save_gallery([], tmp_path / "x.png")


def test_draw_result_takes_a_pipeline_result():
    from PIL import Image

    from earthgptx_hf.evaluation.visualization import draw_result

    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 10:30] = 255
    result = {"generated_text": "<Region 1>[PIX]", "input_text": "USER: <image>\nSegment <Region 1>.\nASSISTANT: ",
              "regions": [{"index": 1, "prompt": {"type": "point", "point": [20, 20]}, "answer": None,
                           "mask": Image.fromarray(mask)}], "masks": [Image.fromarray(mask)]}
    picture = draw_result(np.zeros((64, 64, 3), np.uint8), result)
    assert picture.width == 256 and picture.height > 256  # caption band
    assert np.asarray(picture)[100, 60].sum() > 0  # inside the mask: tinted
    assert np.asarray(picture)[200, 200].sum() == 0  # outside: the black image
