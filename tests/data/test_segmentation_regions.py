"""Label maps give a mask per connected class region on its points (issue 35), so they feed grounding records."""

from __future__ import annotations

import numpy as np
from PIL import Image

from earthgptx_hf.data.converters import read_segmentation_maps
from earthgptx_hf.data.converters.regions import connected_regions
from earthgptx_hf.data.tasks import build_records
from earthgptx_hf.models.earthgptx.visual_prompts import rle_to_mask


def test_connected_regions_are_8_connected_and_separate():
    binary = np.zeros((8, 10), bool)
    binary[0:2, 0:3] = True  # region 1
    binary[2, 3] = True  # touches region 1 diagonally: the same region
    binary[5:8, 6:9] = True  # region 2
    binary[0, 8] = binary[1, 9] = True  # a diagonal pair: region 3
    labels, count = connected_regions(binary)
    assert count == 3
    assert labels[2, 3] == labels[0, 0] == 1 and labels[6, 7] == 3 and labels[0, 8] == labels[1, 9] == 2
    assert ((labels > 0) == binary).all()
    u = np.zeros((5, 5), bool)  # a U: two arms joined below
    u[:, 0] = u[:, 4] = u[4, :] = True
    assert connected_regions(u)[1] == 1


def test_points_carry_the_mask_of_their_region_and_give_grounding_records(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "images").mkdir()
    label = np.zeros((64, 64), np.uint8)
    label[:32, :32] = 1  # water, one region
    label[40:64, 40:64] = 1  # water, another region
    label[:32, 32:64] = 2  # field
    Image.fromarray(label).save(tmp_path / "labels" / "t1.png")
    Image.new("RGB", (64, 64)).save(tmp_path / "images" / "t1.png")
    images, report = read_segmentation_maps(tmp_path / "labels", tmp_path / "images", {1: "water", 2: "field"})
    objects = images[0].objects
    assert objects and all(o.mask is not None for o in objects)
    for obj in objects:
        mask = rle_to_mask(obj.mask)
        x, y = (int(v) for v in obj.point)
        assert mask[y, x]
        value = {"water": 1, "field": 2}[obj.category]
        assert (label[mask] == value).all()  # the region of its class ...
        assert mask.sum() == 32 * 32 if obj.point[1] < 32 else mask.sum() == 24 * 24  # ... and only its region
    records = build_records(images, tasks=("grounding",), prompt_type="point")
    assert records and all(r["task"] == "grounding" for r in records)
    plain, _ = read_segmentation_maps(tmp_path / "labels", tmp_path / "images", {1: "water"}, region_masks=False)
    assert all(o.mask is None for o in plain[0].objects)
