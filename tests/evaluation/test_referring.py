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
