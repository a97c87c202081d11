"""Clicks and drags on the canvas become the SPEC prompts the pipeline receives, at the right image coordinates."""

import pytest

from earthgptx_hf.app.prompts import CanvasMapping, PromptBoard, default_scribble_width, region_label, thin_path


def test_canvas_pixels_map_to_image_coordinates_and_back():
    mapping = CanvasMapping(image_size=(64, 128), display_size=(256, 512))  # (height, width), 4x
    assert mapping.scale == (4.0, 4.0)
    assert mapping.to_image((100, 60)) == [25.0, 15.0]
    assert mapping.to_image((3, 1)) == [0.75, 0.25]
    assert mapping.to_display([25.0, 15.0]) == (100.0, 60.0)
    assert mapping.to_image((-5, 9999)) == [0.0, 64.0]  # clamped to the image
    uneven = CanvasMapping(image_size=(100, 300), display_size=(171, 512))
    x, y = uneven.to_image((511, 170))
    assert x == pytest.approx(511 * 300 / 512, abs=0.01) and y == pytest.approx(170 * 100 / 171, abs=0.01)
    with pytest.raises(ValueError, match="display_size"):
        CanvasMapping(image_size=(4, 4), display_size=(0, 4))
    with pytest.raises(ValueError, match="canvas position"):
        mapping.to_image((float("nan"), 1))


def test_a_point_is_one_click_and_a_box_two_clicks_in_any_order():
    board = PromptBoard((64, 64))
    assert board.click("point", [10.5, 20.0]) == {"type": "point", "point": [10.5, 20.0]}
    assert board.click("box", [40.0, 30.0]) is None and board.pending == [[40.0, 30.0]]
    assert board.click("box", [20.0, 50.0]) == {"type": "box", "bbox": [20.0, 30.0, 40.0, 50.0]}
    assert board.pending == [] and len(board.prompts) == 2
    assert board.labels() == ["<Region 1>: point [10.5, 20]", "<Region 2>: box [20, 30, 40, 50]"]


def test_drags_make_boxes_scribbles_lassos_and_points():
    board = PromptBoard((64, 64))
    path = [[10.0, 10.0], [12.0, 15.0], [20.0, 18.0], [30.0, 12.0]]
    assert board.drag("box", path)["bbox"] == [10.0, 10.0, 30.0, 12.0]
    scribble = board.drag("scribble", path)
    assert scribble == {"type": "scribble", "points": path, "width": default_scribble_width((64, 64))}
    assert board.drag("scribble", path, width=3)["width"] == 3.0
    assert board.drag("polygon", path)["points"] == path
    assert board.drag("point", path)["point"] == [30.0, 12.0]
    assert [p["type"] for p in board.prompts] == ["box", "scribble", "scribble", "polygon", "point"]


def test_polygons_and_scribbles_by_clicks_are_finished_and_checked_by_the_processor_rules():
    board = PromptBoard((64, 64))
    for xy in ([5, 5], [30, 6], [20, 40]):
        assert board.click("polygon", xy) is None
    assert board.finish() == {"type": "polygon", "points": [[5.0, 5.0], [30.0, 6.0], [20.0, 40.0]]}
    for xy in ([1, 1], [2, 2], [3, 3]):
        board.click("polygon", xy)
    with pytest.raises(ValueError, match="encloses no area"):  # validate_prompt's message
        board.finish()
    board.click("scribble", [5, 5], width=2.5)
    board.click("scribble", [9, 9])
    assert board.finish() == {"type": "scribble", "points": [[5.0, 5.0], [9.0, 9.0]], "width": 2.5}
    with pytest.raises(ValueError, match="no polygon or scribble being drawn"):
        board.finish()
    board.click("box", [1, 1])
    board.click("point", [2, 2])  # another mode drops the pending corner
    assert board.pending == [] and board.prompts[-1]["type"] == "point"
    with pytest.raises(ValueError, match="degenerate"):
        board.click("box", [4, 4]), board.click("box", [4, 9])


def test_removal_renumbers_and_undo_and_the_region_limit():
    board = PromptBoard((64, 64), max_regions=3)
    for x in (1, 2, 3):
        board.click("point", [x, x])
    with pytest.raises(ValueError, match="at most 3 regions"):
        board.click("point", [4, 4])
    assert board.remove([2]) == 1
    assert board.labels() == ["<Region 1>: point [1, 1]", "<Region 2>: point [3, 3]"]
    with pytest.raises(ValueError, match="region 5 does not exist"):
        board.remove([5])
    board.click("box", [10, 10])
    assert board.undo() == "the last click" and board.pending == []
    assert board.undo() == "<Region 2>" and len(board.prompts) == 1
    board.clear()
    with pytest.raises(ValueError, match="nothing to undo"):
        board.undo()


def test_drag_paths_are_thinned_keeping_their_ends():
    path = [[0, 0], [0.5, 0], [1, 0], [2.5, 0], [2.6, 0], [5, 0], [5.2, 0]]
    assert thin_path(path, 2.0) == [[0, 0], [2.5, 0], [5, 0], [5.2, 0]]
    assert thin_path([], 2.0) == []
    assert region_label(3, {"type": "scribble", "points": [[0, 0], [1, 1]], "width": 2.0}) == \
        "<Region 3>: scribble 2 points, width 2"
