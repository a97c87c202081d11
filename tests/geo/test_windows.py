"""Grid tiles with overlap and region windows (zoom-in, grouping of nearby prompts)."""

import numpy as np
import pytest

from earthgptx_hf.geo.windows import grid_windows, region_windows


def test_a_scene_larger_than_the_canvas_in_both_directions_is_tiled_with_overlap():
    tiles = grid_windows(250, 130, size=56, overlap=7)
    cover = np.zeros((130, 250), int)
    for t in tiles:
        assert (t.width, t.height) == (56, 56) and t.out_shape == (56, 56)
        cover[t.row_off : t.row_off + t.height, t.col_off : t.col_off + t.width] += 1
    assert (cover >= 1).all()  # the whole scene
    rows, cols = sorted({t.row_off for t in tiles}), sorted({t.col_off for t in tiles})
    assert len(rows) == 3 and len(cols) == 5 and rows[-1] + 56 == 130 and cols[-1] + 56 == 250
    assert all(b - a <= 56 - 7 for a, b in zip(cols, cols[1:]))  # neighbours share at least the overlap
    assert [t.tile for t in tiles[:2]] == [(0, 0), (0, 1)]
    assert len(grid_windows(30, 20, size=56, overlap=7)) == 1  # a scene smaller than a tile: one, the scene
    with pytest.raises(ValueError, match="tile_overlap=56 must be at least 0 and smaller than the tile size 56"):
        grid_windows(100, 100, 56, 56)


def test_region_windows_zoom_in_and_group_prompts_that_fit():
    extents = [[100, 100, 104, 104],  # small: one canvas
               [110, 102, 116, 108],  # next to it: same window
               [400, 400, 560, 480],  # large: 2 x 160 = 320 px, read decimated to max_read
               [900, 50, 901, 51]]
    windows = region_windows(extents, 1000, 600, canvas=56, context=2.0, max_regions=4, max_read=128)
    assert [w.members for w in windows] == [(0, 1), (2,), (3,)]
    first, large, edge = windows
    assert (first.width, first.height) == (56, 56) and first.out_shape == (56, 56)
    assert first.col_off <= 100 and first.col_off + 56 >= 116
    assert (large.width, large.height) == (320, 320) and large.out_shape == (128, 128) and large.scale == (2.5, 2.5)
    assert edge.row_off == 22 and edge.col_off == 872  # centred, inside the scene
    # each window holds its prompts whole; max_regions caps a group
    for w in windows:
        for m in w.members:
            x1, y1, x2, y2 = extents[m]
            assert w.col_off <= x1 and w.row_off <= y1 and x2 <= w.col_off + w.width and y2 <= w.row_off + w.height
    assert len(region_windows(extents[:2], 1000, 600, canvas=56, max_regions=1)) == 2


def _scan_groups(extents, canvas, context, max_regions):
    """The grouping rule as a plain scan over every open group (quadratic): the reference the index must match."""
    def side(e):
        return max(canvas, int(np.ceil(context * max(e[2] - e[0], e[3] - e[1]))))

    sides = [side(e) for e in extents]
    groups = []
    for i in sorted(range(len(extents)), key=lambda k: -sides[k]):
        e = extents[i]
        for group in groups:
            u = group["union"]
            union = [min(u[0], e[0]), min(u[1], e[1]), max(u[2], e[2]), max(u[3], e[3])]
            if len(group["members"]) < max_regions and side(union) <= max(group["side"], sides[i]):
                group["members"].append(i)
                group["union"], group["side"] = union, max(group["side"], sides[i])
                break
        else:
            groups.append({"members": [i], "union": list(e), "side": sides[i]})
    return sorted(tuple(sorted(g["members"])) for g in groups)


def test_the_spatial_index_groups_exactly_as_a_scan_of_every_group_would():
    rng = np.random.default_rng(0)
    for _ in range(150):
        n, (width, height) = int(rng.integers(1, 50)), rng.integers(50, 3000, 2)
        xy = rng.uniform(0, [width, height], (n, 2))
        size = rng.exponential(rng.choice([5, 50, 500]), (n, 2)) * rng.integers(0, 2, (n, 1))
        extents = np.column_stack([xy, np.minimum(xy + size, [width, height])])
        canvas, context, max_regions = int(rng.choice([28, 56, 448])), float(rng.choice([1, 2, 3.5])), \
            int(rng.choice([1, 2, 4, 16]))
        windows = region_windows(extents, width, height, canvas, context, max_regions)
        assert sorted(w.members for w in windows) == _scan_groups(extents, canvas, context, max_regions)
