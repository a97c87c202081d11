"""The papers' metrics against hand-computed references (and pycocoevalcap called directly)."""

import numpy as np
import pytest

from earthgptx_hf.evaluation.metrics import (
    box_scores, caption_scores, classification_accuracy, clean_prediction, clean_reference, mask_scores, roc_scores,
    semantic_iou,
)


def test_identical_answers_score_100():
    answer = "<Region 1>: ship\n<Region 2>: storage tank"
    scores = roc_scores([answer], [answer])
    assert scores["SS"] == pytest.approx(100, abs=1e-3) and scores["S-IoU"] == 100
    assert (scores["regions"], scores["missing_regions"], scores["extra_regions"]) == (2, 0, 0)


def test_the_papers_cleaning_rules():
    assert clean_prediction("<Region 1>: Large vehicle.") == "large vehicle"
    assert clean_prediction("<Region 2>: ship, storage tank") == "ship storage tank"
    assert clean_reference("small_vehicle") == "small vehicle"
    assert clean_reference("ground:track_field") == "ground track field"


def test_a_worked_s_iou_example():
    # "large vehicle" vs "small vehicle": {vehicle} / {large, small, vehicle} = 1/3
    assert semantic_iou("large vehicle", "small vehicle") == pytest.approx(1 / 3)
    scores = roc_scores(["<Region 1>: large vehicle."], ["<Region 1>: small_vehicle"], semantic_similarity=False)
    assert scores["S-IoU"] == pytest.approx(100 / 3) and scores["SS"] is None


def test_regions_pair_by_index_with_missing_and_extra_regions():
    predictions = ["<Region 2>: storage tank\n<Region 3>: harbor\n<Region 1>: ship"]  # order differs, region 3 extra
    references = ["<Region 1>: ship\n<Region 2>: storage_tank"]
    scores = roc_scores(predictions, references, semantic_similarity=False)
    assert scores["S-IoU"] == 100 and scores["extra_regions"] == 1 and scores["missing_regions"] == 0
    scores = roc_scores(["<Region 2>: storage tank"], references, semantic_similarity=False)
    assert scores["S-IoU"] == 50 and scores["missing_regions"] == 1  # region 1 missing scores 0
    with_ss = roc_scores(["<Region 2>: storage tank"], references)
    assert with_ss["SS"] == pytest.approx(50, abs=1e-3)


def test_masks_giou_counts_an_empty_target_as_1_and_ciou_pools():
    a = np.zeros((4, 4), bool)
    a[:2, :2] = True  # 4 pixels
    b = np.zeros((4, 4), bool)
    b[:2, :] = True  # 8 pixels; IoU(a, b) = 4 / 8
    empty = np.zeros((4, 4), bool)
    scores = mask_scores([a, empty], [b, empty])
    assert scores["gIoU"] == pytest.approx(100 * (0.5 + 1.0) / 2)
    assert scores["cIoU"] == pytest.approx(100 * 4 / 8)
    scores = mask_scores([a, b], [b, b])
    assert scores["cIoU"] == pytest.approx(100 * (4 + 8) / (8 + 8))


def test_boxes_and_scene_accuracy():
    scores = box_scores([[0, 0, 10, 10], [0, 0, 10, 5], None], [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 1, 1]])
    assert scores["Pr@0.5"] == pytest.approx(100 * 2 / 3) and scores["Pr@0.6"] == pytest.approx(100 / 3)
    assert scores["meanIoU"] == pytest.approx(100 * (1 + 0.5 + 0) / 3)
    acc = classification_accuracy(["Dense Residential.", "harbor", "river"], ["dense_residential", "Harbor", "lake"])
    assert acc["accuracy"] == pytest.approx(200 / 3)


def test_caption_metrics_equal_pycocoevalcap_called_directly():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    predictions = ["many ships are docked at the harbor .", "a plane is parked near the runway",
                   "green trees around a small lake ."]
    references = [["Several ships are docked in the harbor.", "Many boats at a harbor."],
                  ["An airplane parked beside the runway.", "A plane near a runway."],
                  ["Trees surround a small lake.", "A lake with green trees around it."]]
    ours = caption_scores(predictions, references)
    tokenizer = PTBTokenizer()
    res = tokenizer.tokenize({i: [{"caption": p}] for i, p in enumerate(predictions)})
    gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
    bleu, _ = Bleu(4).compute_score(gts, res)
    assert [ours[f"BLEU-{n}"] for n in range(1, 5)] == pytest.approx([100 * b for b in bleu])
    assert ours["ROUGE-L"] == pytest.approx(100 * Rouge().compute_score(gts, res)[0])
    assert ours["CIDEr"] == pytest.approx(100 * Cider().compute_score(gts, res)[0])
    assert 0 < ours["METEOR"] < 100
    assert ours["SPICE"] is None and "offline" in ours["SPICE_unavailable"]


def test_evaluate_modules_load_offline_from_their_local_folders(monkeypatch):
    import evaluate

    from earthgptx_hf.evaluation import EVALUATE_MODULES, metric_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = {name: evaluate.load(metric_path(name)) for name in EVALUATE_MODULES}
    roc = loaded["earthgptx_roc"].compute(predictions=["<Region 1>: ship"], references=["<Region 1>: ship"])
    assert roc["S-IoU"] == 100 and roc["SS"] == pytest.approx(100, abs=1e-3)
    scene = loaded["earthgptx_scene_accuracy"].compute(predictions=["Harbor"], references=["harbor"])
    assert scene["accuracy"] == 100
    captions = loaded["earthgptx_caption"].compute(predictions=["a ship in the harbor"],
                                                   references=[["a ship in the harbor", "ships in a harbor"]])
    assert captions["BLEU-1"] == pytest.approx(100, abs=1e-3)
    full, half = np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8)
    full[:2], half[:1] = 1, 1
    masks = loaded["earthgptx_masks"].compute(predictions=[half, np.zeros((3, 3))], references=[full, np.zeros((3, 3))])
    assert masks["gIoU"] == pytest.approx(75) and masks["cIoU"] == pytest.approx(50)
    boxes = loaded["earthgptx_boxes"].compute(predictions=[[0, 0, 10, 10], [0, 0, 10, 5]],
                                              references=[[0, 0, 10, 10], [0, 0, 10, 10]])
    assert boxes["Pr@0.5"] == 100 and boxes["Pr@0.6"] == 50 and boxes["meanIoU"] == pytest.approx(75)
    with pytest.raises(ValueError, match="Unknown metric module 'bleu'"):
        metric_path("bleu")


def test_spearman_correlation_averages_ties():
    from earthgptx_hf.evaluation.metrics import average_ranks, spearman_correlation

    assert average_ranks([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert spearman_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties: scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]) = 0.9486832980505138
    assert spearman_correlation([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9486832980505138)
    assert spearman_correlation([1], [2]) is None and spearman_correlation([1, 1, 1], [1, 2, 3]) is None
    with pytest.raises(ValueError, match="same length"):
        spearman_correlation([1, 2], [1, 2, 3])
