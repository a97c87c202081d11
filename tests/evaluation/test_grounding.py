"""Multi-region grounding scores: masks paired with regions by `<Region i>` (never by order), figures per number of
regions per question, and the calibration of the mask scores (Spearman, min_score filtering, the plot)."""

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data import AnnotatedImage, build_records
from earthgptx_hf.data.annotations import ObjectAnnotation
from earthgptx_hf.evaluation.evaluate_model import results_markdown, score_task
from earthgptx_hf.evaluation.grounding import (
    calibration_points,
    calibration_scores,
    pair_masks_by_region,
    plot_calibration,
)
from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle, rle_to_mask


def _masks(count: int) -> list[np.ndarray]:
    masks = []
    for i in range(count):
        mask = np.zeros((40, 120), bool)
        mask[5:25, 30 * i + 4 : 30 * i + 24] = True
        masks.append(mask)
    return masks


def _record(count: int, id_: str = "r") -> dict:
    masks = _masks(count)
    return {"id": id_, "prompts": [{"type": "box", "bbox": [0, 0, 1, 1]}] * count,
            "masks": [mask_to_rle(m) for m in masks], "pix_targets": list(range(1, count + 1)),
            "conversations": [{"value": "q"}, {"value": "\n".join(f"<Region {i + 1}>[PIX]" for i in range(count))}]}


def _output(masks, mask_regions, scores=None):
    return {"text": "", "regions": {}, "masks": list(masks), "mask_regions": list(mask_regions),
            "scores": [0.9] * len(masks) if scores is None else list(scores), "dropped_masks": 0}


def test_masks_pair_with_their_region_not_their_position():
    record, gt = _record(3), _masks(3)
    reordered = _output([gt[2], gt[0], gt[1]], [3, 1, 2])
    assert [r["iou"] for r in pair_masks_by_region(record, reordered)["regions"]] == [1.0, 1.0, 1.0]
    by_order = _output([gt[2], gt[0], gt[1]], [1, 2, 3])  # the same masks bound in their order: all wrong
    assert [r["iou"] for r in pair_masks_by_region(record, by_order)["regions"]] == [0.0, 0.0, 0.0]
    assert score_task("grounding", [record], [reordered])["gIoU"] == 100
    assert score_task("grounding", [record], [by_order])["gIoU"] == 0


def test_missing_and_extra_masks_are_counted():
    record, gt = _record(3), _masks(3)
    # region 2 has no mask; one mask belongs to no region, one repeats region 1, one names region 5 (not asked)
    output = _output([gt[0], gt[2], gt[1], gt[0], gt[1]], [1, 3, None, 1, 5], scores=[0.9, 0.8, 0.7, 0.6, 0.2])
    pairing = pair_masks_by_region(record, output)
    assert [r["iou"] for r in pairing["regions"]] == [1.0, 0.0, 1.0] and pairing["regions"][1]["mask"] is None
    assert [e["region"] for e in pairing["extra"]] == [None, 1, 5]
    figures = score_task("grounding", [record], [output])
    assert figures["missing_masks"] == 1 and figures["extra_masks"] == 3
    assert figures["gIoU"] == pytest.approx(200 / 3)
    # extra masks enter the calibration with true IoU 0
    assert sorted(calibration_points(pairing)) == [(0.2, 0.0), (0.6, 0.0), (0.7, 0.0), (0.8, 1.0), (0.9, 1.0)]
    with pytest.raises(ValueError, match="no 'mask_regions'"):
        pair_masks_by_region(record, {"text": "", "masks": [gt[0]]})
    with pytest.raises(ValueError, match="2 masks, 1 scores and 2 mask_regions"):
        pair_masks_by_region(record, {"masks": gt[:2], "mask_regions": [1, 2], "scores": [0.5]})


def test_figures_per_number_of_regions_per_question():
    objects = [ObjectAnnotation(f"c{i}", [30 * i + 4, 5, 30 * i + 24, 25], mask=mask_to_rle(m))
               for i, m in enumerate(_masks(3))]
    images = [AnnotatedImage(image=f"{i}.png", width=120, height=40, modality="optical", objects=objects, id=str(i))
              for i in range(30)]
    records = build_records(images, tasks=("grounding",), prompt_type="box", grounding_regions="1,2,3", seed=0)
    outputs = []
    for record in records:  # 1-region answers perfect, the others with the first region's mask left out
        truth = [rle_to_mask(m).astype(bool) for m in record["masks"]]
        keep = range(len(truth)) if len(truth) == 1 else range(1, len(truth))
        outputs.append(_output([truth[i] for i in keep], [i + 1 for i in keep]))
    figures = score_task("grounding", records, outputs)
    rows = figures["by_regions"]
    assert set(rows) == {"1", "2", "3"}
    assert sum(r["questions"] for r in rows.values()) == len(records)
    assert rows["1"]["gIoU"] == 100 and rows["2"]["gIoU"] == pytest.approx(50)
    assert rows["3"]["gIoU"] == pytest.approx(200 / 3) and rows["3"]["missing_masks"] == rows["3"]["questions"]
    assert figures["masks"] == sum(len(r["pix_targets"]) for r in records)
    table = results_markdown({"grounding": {"box": {"samples": len(records), **figures}}})
    assert f"| Box | 2 | {rows['2']['questions']} | {rows['2']['masks']} | 50.0 |" in table


def test_calibration_spearman_and_min_score():
    points = [(0.9, 0.95), (0.8, 0.7), (0.3, 0.2), (0.1, 0.4), (0.6, 0.6)]
    figures = calibration_scores(points, min_score=0.5)
    assert figures["spearman"] == pytest.approx(0.9)  # one swapped pair of five: 1 - 6 * 2 / (5 * 24)
    assert (figures["kept"], figures["dropped"], figures["scored_masks"]) == (3, 2, 5)
    assert figures["gIoU_kept_masks"] == pytest.approx(100 * (0.95 + 0.7 + 0.6) / 3)
    assert figures["gIoU_all_masks"] == pytest.approx(100 * np.mean([p[1] for p in points]))
    assert calibration_scores([], 0.5)["spearman"] is None  # no scored masks: undefined, not an error


def test_masks_without_scores_are_left_out_of_the_calibration():
    record, gt = _record(2), _masks(2)
    output = {"text": "", "masks": gt, "mask_regions": [1, 2]}  # an older processor: no "scores"
    figures = score_task("grounding", [record], [output])
    assert figures["gIoU"] == 100 and figures["calibration"]["scored_masks"] == 0


def test_calibration_plot_is_written(tmp_path):
    path = plot_calibration({"Box": [(0.9, 0.8), (0.2, 0.1)], "Point": [(0.5, 0.6)]}, tmp_path / "calibration.png",
                            min_score=0.5)
    assert Image.open(path).width > 300
    assert plot_calibration({}, tmp_path / "empty.png", min_score=0.5).is_file()
