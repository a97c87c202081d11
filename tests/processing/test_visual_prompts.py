import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earthgptx_hf.processing import mask_to_rle, plan_layout, rasterise_prompts, render_views, rle_to_mask, validate_prompts

TILE, GRID, SAM = 28, (2, 2), 64
ALL_SIX = [
    {"type": "point", "point": [30, 31]},
    {"type": "box", "bbox": [10, 20, 60, 80]},
    {"type": "polygon", "points": [[70, 10], [110, 20], [90, 60]]},
    {"type": "scribble", "points": [[5, 90], [50, 95], [100, 85]], "width": 4},
    {"type": "circle", "center": [90, 80], "radius": 12},
]


def _six(height=100, width=120):
    mask = np.zeros((height, width), bool)
    mask[40:55, 40:70] = True
    return ALL_SIX + [{"type": "mask", "mask": mask}]


def test_validated_prompts_are_plain_json():
    clean = validate_prompts(_six(), (100, 120), max_regions=8)
    assert [p["type"] for p in clean] == ["point", "box", "polygon", "scribble", "circle", "mask"]
    assert json.loads(json.dumps(clean)) == clean
    assert validate_prompts(clean, (100, 120), max_regions=8) == clean  # validated output is valid input


def test_rle_round_trip_matches_the_rs_mini_convention():
    mask = np.zeros((5, 4), bool)
    mask[1:3, 2] = True
    mask[4, 3] = True
    rle = mask_to_rle(mask)
    assert rle == {"size": [5, 4], "counts": [11, 2, 6, 1]}  # column-major runs, 0-run first
    assert np.array_equal(rle_to_mask(rle), mask)
    full = np.ones((2, 2), bool)
    assert mask_to_rle(full)["counts"] == [0, 4]


def test_every_type_rasterises_into_every_view_it_touches():
    layout = plan_layout(100, 120, TILE, GRID, SAM)
    maps = rasterise_prompts(validate_prompts(_six(), (100, 120), 8), layout, point_radius=2)
    assert maps.shape == (5, 6, TILE, TILE) and set(np.unique(maps)) <= {0, 1}
    assert (maps[0].reshape(6, -1).sum(1) > 0).all()  # all six are visible in the global view
    # the box [10, 20, 60, 80] lies in the left half: tiles 0 (top-left) and 2 (bottom-left), not the right tiles
    assert maps[1, 1].any() and maps[3, 1].any() and not maps[2, 1].any() and not maps[4, 1].any()


def test_parts_outside_the_image_are_clipped_with_one_warning():
    with pytest.warns(UserWarning, match=r"2 prompt\(s\) \[0, 1\] extend beyond the 120x100 image"):
        clean = validate_prompts(
            [{"type": "box", "bbox": [-10, -10, 20, 20]}, {"type": "circle", "center": [115, 50], "radius": 20}],
            (100, 120), 4,
        )
    layout = plan_layout(100, 120, TILE, GRID, SAM)
    maps = rasterise_prompts(clean, layout, 2)
    canvas = layout.canvas
    oy, ox = canvas.offset
    # nothing is drawn in the padding of the canvas tiles (the image is 100 high in a 120 square: rows above oy)
    assert oy > 0 and not maps[1:3, :, :oy].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_prompts([{"type": "box", "bbox": [0, 0, 120, 100]}], (100, 120), 4)  # exactly the image: no warning


# ---------------------------------------------------------------------------------------------------------------------
# Property-based tests of rasterisation
def _covered(lo: float, hi: float, size: int) -> np.ndarray:
    """Pixels [k, k+1) of a view axis that overlap [lo, hi) with positive length (beyond float rounding)."""
    k = np.arange(size)
    return (np.minimum(k + 1, hi) - np.maximum(k, lo)) > 1e-6


def _expected_box_map(box, layout, view: int) -> np.ndarray:
    x1, y1, x2, y2 = max(box[0], 0), max(box[1], 0), min(box[2], layout.width), min(box[3], layout.height)
    (sx, sy), (ox, oy) = layout.view_maps()[view]
    # the image area of this view, intersected with the box
    ix1, iy1 = ox, oy
    ix2, iy2 = ox + layout.width * sx, oy + layout.height * sy
    cols = _covered(max(x1 * sx + ox, ix1), min(x2 * sx + ox, ix2), layout.tile)
    rows = _covered(max(y1 * sy + oy, iy1), min(y2 * sy + oy, iy2), layout.tile)
    return rows[:, None] & cols[None, :]


sizes = st.integers(min_value=6, max_value=700)


@st.composite
def image_and_box(draw):
    height, width = draw(sizes), draw(sizes)
    x1 = draw(st.floats(-0.3 * width, 0.95 * width))
    y1 = draw(st.floats(-0.3 * height, 0.95 * height))
    x2 = draw(st.floats(max(x1, 0) + 0.05 * width, 1.3 * width))
    y2 = draw(st.floats(max(y1, 0) + 0.05 * height, 1.3 * height))
    grid = draw(st.sampled_from([(2, 2), (1, 2), (3, 1)]))
    return height, width, [x1, y1, x2, y2], grid


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_and_box())
def test_box_maps_are_the_transformed_rectangles_and_empty_exactly_where_invisible(case):
    height, width, box, grid = case
    layout = plan_layout(height, width, TILE, grid, SAM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clean = validate_prompts([{"type": "box", "bbox": box}], (height, width), 1)
    maps = rasterise_prompts(clean, layout, point_radius=2)
    for view in range(layout.num_views):
        expected = _expected_box_map(box, layout, view)
        assert np.array_equal(maps[view, 0].astype(bool), expected), view
        rows, cols = np.nonzero(maps[view, 0])
        if rows.size:  # a filled rectangle
            assert maps[view, 0, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes, sizes, st.floats(0, 1), st.floats(0, 1), st.sampled_from(["point", "circle"]))
def test_points_and_circles_appear_where_their_centre_is(height, width, fx, fy, kind):
    x, y = fx * width, fy * height
    prompt = {"type": "point", "point": [x, y]} if kind == "point" else {"type": "circle", "center": [x, y], "radius": 3}
    layout = plan_layout(height, width, TILE, GRID, SAM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        maps = rasterise_prompts(validate_prompts([prompt], (height, width), 1), layout, point_radius=2)
    for view, ((sx, sy), (ox, oy)) in enumerate(layout.view_maps()):
        vx, vy = x * sx + ox, y * sy + oy
        reach = 2 + 3 * max(sx, sy) + 1.5  # disc radius (view pixels) plus rounding
        centre_inside = 0.5 <= vx < TILE - 0.5 and 0.5 <= vy < TILE - 0.5
        far_outside = vx < -reach or vy < -reach or vx > TILE + reach or vy > TILE + reach
        if centre_inside:
            assert maps[view, 0].any(), view
        if far_outside:
            assert not maps[view, 0].any(), view


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(40, 500), st.integers(40, 500), st.floats(0.1, 0.6), st.floats(0.1, 0.6))
def test_box_maps_line_up_with_the_image_pixels(height, width, fx, fy):
    """A white rectangle drawn in the image and a box prompt on it cover the same view pixels."""
    x1, y1 = int(fx * width), int(fy * height)
    x2, y2 = x1 + max(8, width // 4), y1 + max(8, height // 4)
    image = np.zeros((height, width, 3), np.uint8)
    image[y1:y2, x1:x2] = 255
    layout = plan_layout(height, width, TILE, GRID, SAM)
    views = render_views(image, layout, fill=0)
    maps = rasterise_prompts(validate_prompts([{"type": "box", "bbox": [x1, y1, x2, y2]}], (height, width), 1),
                             layout, point_radius=2)
    for view in range(layout.num_views):
        bright = views[view, ..., 0] > 200  # clearly inside the rectangle after resampling
        box = maps[view, 0].astype(bool)
        assert not (bright & ~box).any(), view  # no bright pixel outside the prompt
        interior = np.zeros_like(box)
        rows, cols = np.nonzero(box)
        if rows.size and rows.max() - rows.min() >= 4 and cols.max() - cols.min() >= 4:
            interior[rows.min() + 2 : rows.max() - 1, cols.min() + 2 : cols.max() - 1] = True
            assert (views[view, ..., 0][interior & box] > 100).all(), view  # the prompt's inside is the object
