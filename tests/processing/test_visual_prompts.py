import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rasterise_prompts, rle_to_mask, validate_prompts
from earthgptx_hf.models.earthgptx.image_geometry import plan_layout, render_views
from earthgptx_hf.models.earthgptx.visual_prompts import EDGE_TOLERANCE

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


def test_validated_prompts_are_plain_json_but_masks_stay_arrays():
    """A validated mask is the bool array the rasteriser pools (no RLE round trip inside one call); every other prompt
    is plain JSON; validated output is valid input."""
    clean = validate_prompts(_six(), (100, 120), max_regions=8)
    assert [p["type"] for p in clean] == ["point", "box", "polygon", "scribble", "circle", "mask"]
    assert json.loads(json.dumps(clean[:5])) == clean[:5]
    mask = clean[5]["mask"]
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and np.array_equal(mask, _six()[5]["mask"])
    again = validate_prompts(clean, (100, 120), max_regions=8)
    assert again[:5] == clean[:5] and np.array_equal(again[5]["mask"], mask)


def test_mask_prompts_are_not_encoded_to_rle_and_back(monkeypatch):
    """Point 10: an array mask prompt reaches the maps without `mask_to_rle` / `rle_to_mask`."""
    import earthgptx_hf.models.earthgptx.visual_prompts as module

    def refuse(*args, **kwargs):
        raise AssertionError("RLE round trip")

    monkeypatch.setattr(module, "mask_to_rle", refuse)
    monkeypatch.setattr(module, "rle_to_mask", refuse)
    layout = plan_layout(100, 120, TILE, GRID, SAM)
    maps = rasterise_prompts(validate_prompts(_six()[5:], (100, 120), 1), layout, point_radius=1)
    assert maps[0, 0].any()


def test_rle_is_pycocotools_coco_rle_and_reads_the_rs_mini_convention():
    from pycocotools import mask as coco

    mask = np.zeros((5, 4), bool)
    mask[1:3, 2] = True
    mask[4, 3] = True
    rle = mask_to_rle(mask)
    assert rle == {"size": [5, 4], "counts": coco.encode(np.asfortranarray(mask, np.uint8))["counts"].decode()}
    json.dumps(rle)  # a record stays JSON
    assert np.array_equal(rle_to_mask(rle), mask)
    # the uncompressed form (column-major runs, 0-run first), as the rs_mini files hold it
    assert np.array_equal(rle_to_mask({"size": [5, 4], "counts": [11, 2, 6, 1]}), mask)
    assert np.array_equal(rle_to_mask({"size": [5, 4], "counts": rle["counts"].encode()}), mask)  # bytes too
    assert rle_to_mask(mask_to_rle(np.ones((2, 2), bool))).all()


@pytest.mark.parametrize("rle, message", [
    ({"size": [5, 4], "counts": "3"}, r"is not the COCO RLE of a 5x4 mask"),  # stops short: pixels left unwritten
    ({"size": [5, 4], "counts": "i0"}, r"runs past the 5x4 mask"),  # one run of 25
    ({"size": [5, 4], "counts": "1a"}, r"is not a compressed COCO RLE string"),  # a dangling continuation
    ({"size": [5, 4], "counts": "PPPPPPP0"}, r"is not a compressed COCO RLE string"),  # beyond 32 bits
    ({"size": [5, 4], "counts": "x\x00"}, r"is not a compressed COCO RLE string"),
    ({"size": [5, 4], "counts": [11, 2, 6]}, r"sum to 19, but the mask has 20 pixels"),
    ({"size": [5, 4], "counts": [2**62] * 3 + [2**62 + 20]}, r"holds a run of 4611686018427387924 pixels"),
    ({"size": [5, 4], "counts": [25, -5]}, r"must be at most 21 non-negative run lengths"),
    ({"size": [70000, 70000], "counts": [4_900_000_000]}, r"holds at most 4294967295 pixels"),
    ({"size": [5.0, 4], "counts": [20]}, r"\['size'\] must be \[H, W\], two non-negative integers"),
])
def test_malformed_rle_is_refused_before_pycocotools_reads_it(rle, message):
    with pytest.raises(ValueError, match=r"masks\[0\].*" + message):
        rle_to_mask(rle, where="masks[0]")


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



def test_a_box_coordinate_that_went_through_float32_takes_no_extra_pixel():
    """66.0 stored as float32 reads back 66.0000077; in a 0.106 view that is 8e-7 of the next row (< EDGE_TOLERANCE)."""
    layout = plan_layout(660, 263, TILE, (3, 1), SAM)
    above = float(np.nextafter(np.float32(66.0), np.float32(67.0)))  # the float32 next to 66.0
    exact, rounded = ([{"type": "box", "bbox": [0.0, 0.0, 14.0, y2]}] for y2 in (66.0, above))
    assert rounded[0]["bbox"][3] > 66.0
    assert np.array_equal(rasterise_prompts(validate_prompts(rounded, (660, 263), 1), layout, 2),
                          rasterise_prompts(validate_prompts(exact, (660, 263), 1), layout, 2))

# ---------------------------------------------------------------------------------------------------------------------
# Property-based tests of rasterisation
def _covered(lo: float, hi: float, size: int) -> np.ndarray:
    """Pixels [k, k+1) of a view axis that overlap [lo, hi) by more than EDGE_TOLERANCE (float rounding)."""
    k = np.arange(size)
    return (np.minimum(k + 1, hi) - np.maximum(k, lo)) > EDGE_TOLERANCE


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
@example((660, 263, [0.0, 0.0, 14.0, 66.00000765931372], (3, 1)))  # 66.0 through float32: 8e-7 of the next pixel
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
@example(6, 539, 1.0, 0.0, "circle")  # centred on the image corner, a disc 0.7 view pixels wide
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


# ---------------------------------------------------------------------------------------------------------------------
# Bounded, exact geometry (issue 13): huge radii, widths and far vertices draw exactly what the unbounded shape covers
from earthgptx_hf.models.earthgptx import image_geometry as geometry  # noqa: E402
from earthgptx_hf.models.earthgptx.visual_prompts import MAX_MAGNITUDE, MAX_VERTICES  # noqa: E402

H, W = 100, 120


def _maps(prompts, size=(H, W), tile=TILE, grid=GRID):
    layout = plan_layout(*size, tile, grid, SAM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return rasterise_prompts(validate_prompts(prompts, size, len(prompts)), layout, point_radius=2)


def _image_area():
    """The image area of every view: the maps of a box that is exactly the image."""
    return _maps([{"type": "box", "bbox": [0, 0, W, H]}])[:, 0].astype(bool)


def _centres(h, w):
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    return xs, ys


def _segment_distance(xs, ys, a, b):
    """Distance from every pixel centre to the segment a-b (brute force, unclipped; measured from the end nearer the
    window, which keeps float64 precise when the other end is 1e10 away)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.abs(b).max() < np.abs(a).max():
        a, b = b, a
    d = b - a
    length2 = d @ d
    t = 0.0 if length2 == 0 else np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length2, 0, 1)
    return np.hypot(xs - (a[0] + t * d[0]), ys - (a[1] + t * d[1]))


TIE = 1e-4  # pixels: a centre this close to a shape's edge may fall either way (float64 rounding at 1e10 is 2e-6)


def _oracle_polygon(points, h, w):
    """Even-odd point-in-polygon at every pixel centre, plus centres within sqrt(1/2) of the outline (brute force);
    returns `(expected, ties)`, ties being the centres within `TIE` of a decision boundary."""
    xs, ys = _centres(h, w)
    inside = np.zeros((h, w), bool)
    crossing_tie = np.zeros((h, w), bool)
    distance = np.full((h, w), np.inf)
    pts = np.asarray(points, float)
    for a, b in zip(pts, np.roll(pts, -1, axis=0)):
        if np.abs(b).max() < np.abs(a).max():  # measure from the nearer end (precision)
            a, b = b, a
        crosses = (np.minimum(a[1], b[1]) <= ys) & (ys < np.maximum(a[1], b[1]))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = a[0] + (b[0] - a[0]) * ((ys - a[1]) / (b[1] - a[1]))
        inside ^= crosses & (x < xs)
        crossing_tie |= crosses & (np.abs(x - xs) < TIE)
        distance = np.minimum(distance, _segment_distance(xs, ys, a, b))
    r = geometry.MIN_RADIUS
    near = distance <= r
    ties = (distance >= r - TIE) & (crossing_tie | ((np.abs(distance - r) < TIE) & ~inside))
    return inside | near, ties


def _oracle_stroke(points, radius, h, w):
    xs, ys = _centres(h, w)
    pts = np.asarray(points, float)
    distance = np.min([_segment_distance(xs, ys, a, b) for a, b in zip(pts[:-1], pts[1:])], axis=0)
    return distance <= radius, np.abs(distance - radius) < TIE * max(1.0, radius * 1e-9)


def _agree(got, expected_and_ties):
    expected, ties = expected_and_ties
    assert not ties.all()
    assert np.array_equal(got[~ties], expected[~ties])


far = st.one_of(st.floats(-60, 90), st.floats(-1e10, 1e10), st.sampled_from([-1e10, 1e10, 3e7]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(far, far), min_size=3, max_size=7))
def test_polygon_fill_matches_the_unclipped_even_odd_rule_for_any_vertex(points):
    h, w = 23, 31
    outline = geometry.stroke_polyline(points, geometry.MIN_RADIUS, h, w, closed=True)
    _agree(geometry.fill_polygon(points, h, w) | outline, _oracle_polygon(points, h, w))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(far, far), min_size=2, max_size=6), st.one_of(st.floats(0.71, 20), st.floats(1e3, 1e11)))
def test_strokes_match_the_unclipped_distance_rule_for_any_vertex_and_width(points, radius):
    h, w = 23, 31
    _agree(geometry.stroke_polyline(points, radius, h, w), _oracle_stroke(points, radius, h, w))


@settings(max_examples=60, deadline=None)
@given(far, far, st.one_of(st.floats(0.71, 30), st.floats(1e3, 1e11)))
def test_discs_match_the_distance_rule_for_any_centre_and_radius(cx, cy, r):
    h, w = 23, 31
    xs, ys = _centres(h, w)
    distance = np.hypot(xs - cx, ys - cy)
    _agree(geometry.fill_disc(cx, cy, r, r, h, w), (distance <= r, np.abs(distance - r) < TIE * max(1.0, r * 1e-9)))


def test_a_circle_of_radius_1e9_covers_the_image_and_2e9_is_not_empty():
    area = _image_area()
    for radius in (3e8, 1e9, 2e9, 2**31 + 0.5, 1e11):
        maps = _maps([{"type": "circle", "center": [60, 50], "radius": radius}])[:, 0].astype(bool)
        assert np.array_equal(maps, area), radius  # exactly the image area: all of it, nothing in the padding


def test_a_huge_circle_whose_edge_crosses_the_image_is_exact():
    # centre 1e9 to the left, edge 30.25 pixels into the image: in the image the disc is x <= 30.25 (curvature ~1e-7)
    huge = _maps([{"type": "circle", "center": [-1e9, 50], "radius": 1e9 + 30.25}])
    strip = _maps([{"type": "polygon", "points": [[-5, -5], [30.25, -5], [30.25, 105], [-5, 105]]}])
    layout = plan_layout(H, W, TILE, GRID, SAM)
    for view, ((sx, _), (ox, _)) in enumerate(layout.view_maps()):
        centres_x = (np.arange(TILE) + 0.5 - ox) / sx
        expected = _image_area()[view] & (centres_x <= 30.25)[None, :]
        assert np.array_equal(huge[view, 0].astype(bool), expected), view
        assert (strip[view, 0].astype(bool) >= expected).all()  # the polygon adds its outline, the disc has none


def test_a_triangle_with_a_vertex_at_1e10_equals_the_analytically_clipped_polygon():
    far_vertex = [[20, 20], [20, 80], [1e10, 50]]
    # the edges towards (1e10, 50) cross x = 125 (beyond the 120-wide image) at y = 20 + 30 * 105 / (1e10 - 20)
    dy = 30 * 105 / (1e10 - 20)
    clipped = [[20, 20], [20, 80], [125, 80 - dy], [125, 20 + dy]]
    a, b = _maps([{"type": "polygon", "points": far_vertex}]), _maps([{"type": "polygon", "points": clipped}])
    assert a[:, 0].any() and np.array_equal(a, b)
    huge = _maps([{"type": "polygon", "points": [[-1e10, -1e10], [1e10, -1e10], [0, 1e10]]}])
    assert np.array_equal(huge[:, 0].astype(bool), _image_area())


def test_scribbles_of_any_width_or_reach_are_exact():
    area = _image_area()
    for width in (3e6, 1e10, MAX_MAGNITUDE):
        maps = _maps([{"type": "scribble", "points": [[0, 0], [50, 50]], "width": width}])
        assert np.array_equal(maps[:, 0].astype(bool), area), width
    # a vertex at 1e10 along the same line as a short scribble beyond the image: the same pixels in the image
    a = _maps([{"type": "scribble", "points": [[10, 50], [1e10, 50]], "width": 6}])
    b = _maps([{"type": "scribble", "points": [[10, 50], [200, 50]], "width": 6}])
    assert a[:, 0].any() and np.array_equal(a, b)
    # a segment between two far points that passes through the image
    c = _maps([{"type": "scribble", "points": [[-1e10, 50 - 1e10], [1e10, 50 + 1e10]], "width": 8}])
    d = _maps([{"type": "scribble", "points": [[-200, -150], [300, 350]], "width": 8}])
    assert c[:, 0].any() and np.array_equal(c, d)


def test_a_bow_tie_is_filled_by_the_even_odd_rule():
    bow_tie = [[20, 20], [100, 80], [100, 20], [20, 80]]  # shoelace area 0, two triangles of 1200 each
    maps = _maps([{"type": "polygon", "points": bow_tie}])
    assert np.array_equal(maps, _maps([{"type": "polygon", "points": [[20, 20], [60, 50], [20, 80]]},
                                        {"type": "polygon", "points": [[100, 20], [60, 50], [100, 80]]}]).max(1,
                                                                                                       keepdims=True))
    # a pentagram's centre is enclosed twice: empty by even-odd
    star = [[60 + 45 * np.sin(k * 4 * np.pi / 5), 50 - 45 * np.cos(k * 4 * np.pi / 5)] for k in range(5)]
    layout = plan_layout(H, W, TILE, GRID, SAM)
    (sx, sy), (ox, oy) = layout.view_maps()[0]
    assert not _maps([{"type": "polygon", "points": star}])[0, 0, int(50 * sy + oy), int(60 * sx + ox)]
    with pytest.raises(ValueError, match=r"\['points'\] encloses no area \(its vertices are collinear"):
        validate_prompts([{"type": "polygon", "points": [[0, 0], [5, 5], [9, 9], [2, 2]]}], (H, W), 1)


def test_vertex_count_and_magnitude_are_capped_with_clear_errors():
    line = [[float(i % 100), float(i % 7)] for i in range(MAX_VERTICES + 1)]
    with pytest.raises(ValueError, match=rf"visual_prompts\[0\]\['points'\] has {MAX_VERTICES + 1} points; at most"):
        validate_prompts([{"type": "polygon", "points": line}], (H, W), 1)
    with pytest.raises(ValueError, match=r"\['radius'\] holds 1e\+300: .* at most 1e\+12 pixels"):
        validate_prompts([{"type": "circle", "center": [5, 5], "radius": 1e300}], (H, W), 1)


# ---------------------------------------------------------------------------------------------------------------------
# Masks: one meaning for the values, and max-pooling so a small mask never vanishes
def test_mask_values_bool_01_0255_and_floats_thresholded_at_one_half():
    base = np.zeros((H, W), bool)
    base[10:20, 30:50] = True
    expected = validate_prompts([{"type": "mask", "mask": base}], (H, W), 1)
    soft = np.where(base, 0.99, 0.01)
    uncompressed = {"size": [H, W], "counts": [30 * H + 10] + [10, H - 10] * 19 + [10, H - 20 + 70 * H]}
    for form in (base.astype(np.uint8), base.astype(np.int64) * 255, soft, soft.astype(np.float32), base.tolist(),
                 mask_to_rle(base), uncompressed, np.where(base, 0.5, 0.49)):  # foreground is >= 0.5
        assert np.array_equal(validate_prompts([{"type": "mask", "mask": form}], (H, W), 1)[0]["mask"],
                              expected[0]["mask"])


@pytest.mark.parametrize("values, message", [
    (np.where(np.eye(H, W, dtype=bool), 3, 0),
     r"\['mask'\] holds integer values \[3\]; an integer mask must hold 0/1 or 0/255"),
    (np.where(np.eye(H, W, dtype=bool), 255, 1), r"holds integer values \[1, 255\]"),
    (np.full((H, W), np.nan), r"\['mask'\] holds NaN or infinite values"),
    (np.where(np.eye(H, W, dtype=bool), 4.2, -3.1),
     r"\['mask'\] holds values in \[-3.1, 4.2\]; a float mask must hold"),
])
def test_ambiguous_mask_values_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        validate_prompts([{"type": "mask", "mask": values}], (H, W), 1)


def test_max_pool_sets_a_view_pixel_when_any_source_pixel_falls_in_it():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 40, 2)
        mask = rng.random((h, w)) < rng.random() * 0.3
        h2, w2 = rng.integers(1, 50, 2)
        expected = np.zeros((h2, w2), bool)
        for i in range(h2):
            for j in range(w2):
                rows = slice(i * h // h2, -(-(i + 1) * h // h2))
                cols = slice(j * w // w2, -(-(j + 1) * w // w2))
                expected[i, j] = mask[rows, cols].any()
        assert np.array_equal(geometry.max_pool(mask, h2, w2), expected)
        assert np.array_equal(geometry.max_pool(rle_to_mask(mask_to_rle(mask)), h2, w2), expected)


@pytest.mark.parametrize("y, x", [(0, 0), (1999, 1999), (0, 1999), (1000, 3), (517, 1460), (999, 999), (1000, 1000)])
def test_a_one_pixel_mask_on_a_2000x2000_image_survives_in_the_global_view_and_its_tile(y, x):
    mask = np.zeros((2000, 2000), bool)
    mask[y, x] = True
    maps = _maps([{"type": "mask", "mask": mask}], size=(2000, 2000), tile=224)
    assert maps[0, 0].any()  # the global view
    # canvas 448: the pixel falls in canvas row/column floor(v * 448 / 2000) (and maybe the next one)
    tile = 1 + 2 * (y * 448 // 2000 // 224) + (x * 448 // 2000 // 224)
    assert maps[tile, 0].any() and maps[1:, 0].sum() <= 4
    assert maps[tile, 0, (y * 448 // 2000) % 224, (x * 448 // 2000) % 224]


def test_mask_rle_round_trip_matches_the_column_major_definition():
    rng = np.random.default_rng(1)
    for _ in range(100):
        mask = rng.random(tuple(rng.integers(1, 20, 2))) < rng.random()
        flat = mask.T.reshape(-1)
        runs = np.diff(np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [flat.size]])).tolist()
        uncompressed = {"size": list(mask.shape), "counts": [0] + runs if flat[0] else runs}
        assert np.array_equal(rle_to_mask(uncompressed), mask)
        assert np.array_equal(rle_to_mask(mask_to_rle(mask)), mask)
