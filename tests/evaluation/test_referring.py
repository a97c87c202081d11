"""Issue 34's metrics (the building block: the task and its command come with the issue), against hand-computed
values: Acc@0.5 on boxes from masks, mIoU, oIoU, instance precision and recall at IoU 0.5 matched one to one, and the
none accuracy on negatives."""

import numpy as np
import pytest

from earthgptx_hf.evaluation.referring import match_instances, referring_scores


def _box(x1, y1, x2, y2, shape=(10, 10)):
    mask = np.zeros(shape, bool)
    mask[y1:y2, x1:x2] = True
    return mask


def test_single_instance_queries_acc_miou_oiou():
    target_a, target_b = _box(0, 0, 4, 4), _box(5, 5, 10, 10)  # 16 and 25 pixels
    predictions = [[_box(0, 0, 4, 2)],    # IoU 8/16 = 0.5: a hit at 0.5
                   [_box(5, 5, 10, 7)]]   # IoU 10/25 = 0.4: a miss
    scores = referring_scores(predictions, [[target_a], [target_b]])
    assert scores["Acc@0.5"] == 50.0 and scores["single_queries"] == 2
    assert scores["mIoU"] == pytest.approx(100 * (0.5 + 0.4) / 2)
    assert scores["oIoU"] == pytest.approx(100 * (8 + 10) / (16 + 25))
    assert scores["instance_precision"] == 50.0 and scores["instance_recall"] == 50.0


def test_every_x_queries_match_instances_one_to_one():
    ships = [_box(0, 0, 3, 3), _box(6, 6, 9, 9), _box(0, 6, 3, 9)]
    # two good masks, one duplicate of the first, one on nothing: 2 matched of 4 predicted and 3 targets
    predicted = [_box(0, 0, 3, 3), _box(0, 0, 3, 3), _box(6, 6, 9, 9), _box(5, 0, 7, 2)]
    assert match_instances(predicted, ships) == 2
    scores = referring_scores([predicted], [ships])
    assert scores["instance_precision"] == 50.0
    assert scores["instance_recall"] == pytest.approx(100 * 2 / 3)
    assert scores["Acc@0.5"] is None  # no single-instance query
    union_pred, union_gt = 9 + 9 + 4, 27  # the union masks: the duplicate counts once
    assert scores["mIoU"] == pytest.approx(100 * 18 / (union_pred + union_gt - 18))


def test_negatives_count_towards_the_none_accuracy_only():
    scores = referring_scores([[], [_box(0, 0, 2, 2)], [_box(0, 0, 4, 4)]], [[], [], [_box(0, 0, 4, 4)]])
    assert scores["none_accuracy"] == 50.0 and scores["negatives"] == 2
    assert scores["mIoU"] == 100.0 and scores["queries_with_targets"] == 1
    assert scores["instance_precision"] == 50.0  # the mask given to a negative is an unmatched prediction
    assert scores["Acc@0.5"] == 100.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same length"):
        referring_scores([[]], [])
    with pytest.raises(ValueError, match="query 0: masks of different shapes"):
        referring_scores([[_box(0, 0, 2, 2, (5, 5))]], [[_box(0, 0, 2, 2)]])


# --- the task's figures in `earthgptx-eval --tasks referring` ----------------------------------------------------
def _record(kind, cls, masks, shape=(10, 10), rid="r"):
    from earthgptx_hf.models.earthgptx.visual_prompts import mask_to_rle

    return {"id": rid, "task": "referring", "query_kind": kind, "query_class": cls, "height": shape[0],
            "width": shape[1], "prompts": [], "masks": [mask_to_rle(m) for m in masks],
            "pix_targets": list(range(1, len(masks) + 1))}


def test_the_location_prior_is_the_median_box_of_the_class():
    from earthgptx_hf.evaluation.referring import location_prior, prior_masks

    records = [_record("class", "ship", [_box(0, 0, 2, 2)]), _record("every", "ship", [_box(0, 0, 4, 4)]),
               _record("class", "ship", [_box(0, 0, 6, 6)]), _record("class", "tank", [_box(6, 6, 10, 10)])]
    prior = location_prior(records)
    # ship boxes: centres 0.1, 0.2, 0.3 and sizes 0.2, 0.4, 0.6 -> medians 0.2 and 0.4: the box [0, 0, 4, 4]
    assert prior["ship"] == pytest.approx([0.2, 0.2, 0.4, 0.4])
    assert prior_masks(records[0], prior)[0].sum() == 16 and prior_masks(records[0], prior)[0][:4, :4].all()
    # a class without targets (an absent class) gets the median over every class
    negative = _record("negative", "airplane", [])
    assert prior_masks(negative, prior)[0].sum() == 16


def test_referring_task_scores_hold_the_model_the_baseline_and_the_instance_count():
    from earthgptx_hf.evaluation.referring import referring_task_scores

    records = [_record("class", "ship", [_box(0, 0, 4, 4)]), _record("every", "ship", [_box(0, 0, 4, 4),
                                                                                      _box(6, 6, 10, 10)]),
               _record("negative", "plane", [])]
    outputs = [{"masks": [_box(0, 0, 4, 4)]}, {"masks": [_box(0, 0, 4, 4), _box(6, 6, 10, 10)]}, {"masks": []}]
    scores = referring_task_scores(records, outputs)
    assert scores["Acc@0.5"] == 100.0 and scores["mIoU"] == 100.0 and scores["instance_recall"] == 100.0
    assert scores["none_accuracy"] == 100.0 and scores["right instance count"] == 100.0
    baseline = scores["baseline"]  # one box per query: right for the first, half of the second, wrong for none
    assert baseline["Acc@0.5"] == 100.0 and baseline["instance_recall"] == pytest.approx(100 * 2 / 3)
    assert baseline["none_accuracy"] == 0.0


def test_query_groups_are_the_rows():
    from earthgptx_hf.evaluation.referring import query_group

    assert [query_group({"query_kind": k}) for k in ("class", "position", "size", "relation", "human", "every",
                                                     "negative")] == ["single"] * 5 + ["every", "negative"]
    assert query_group({}) == "single"  # a records file's people's expression
    with pytest.raises(ValueError, match="query_kind='bogus'"):
        query_group({"id": "x", "query_kind": "bogus"})


def test_eval_groups_referring_records_by_query_group(tmp_path):
    import json

    from earthgptx_hf.evaluation.evaluate_model import EvalDataArguments
    from earthgptx_hf.evaluation.evaluation_data import load_evaluation_records

    data = EvalDataArguments(data_format="procedural", num_scenes=30, scene_size=64, scene_dir=str(tmp_path),
                             tasks="referring")
    groups = load_evaluation_records(data, ["box"], max_regions=4, workdir=tmp_path)
    assert list(groups) == [("referring", "single"), ("referring", "every"), ("referring", "negative")]
    assert all(r["prompts"] == [] for records in groups.values() for r in records)
    # the same records read back from an M-RSVP file land in the same rows
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for records in groups.values() for r in records))
    read = load_evaluation_records(EvalDataArguments(data_format="records", data_path=str(path), tasks="referring",
                                                     allow_outside_root=True), ["box"], max_regions=4)
    assert {key: len(v) for key, v in read.items()} == {key: len(v) for key, v in groups.items()}
