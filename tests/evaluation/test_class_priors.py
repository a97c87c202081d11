"""Oracle prior baselines on hand-made records: the best constant answer per modality and per modality x box-size
bin, the rows on classes seen in another split, and their Markdown table."""

import pytest

from earthgptx_hf.evaluation.class_priors import prompt_area, size_bin_edges, size_prior_baseline
from earthgptx_hf.evaluation.classification_table import modality_markdown, modality_rows, swap_cell


def _record(modality, regions):
    """regions: (label, side) pairs; each prompt is a side x side box."""
    prompts = [{"type": "box", "bbox": [0, 0, side, side]} for _, side in regions]
    answer = "\n".join(f"<Region {i + 1}>: {label}" for i, (label, _) in enumerate(regions))
    return {"task": "classification", "modality": modality, "prompts": prompts,
            "conversations": [{"from": "user", "value": "?"}, {"from": "model", "value": answer}]}


# infrared: small (10 px) boxes are persons, larger ones mostly cars; 5 persons, 4 cars
RECORDS = [
    _record("infrared", [("person", 10), ("person", 10), ("car", 20)]),
    _record("infrared", [("person", 10), ("person", 10), ("car", 20), ("person", 20)]),
    _record("infrared", [("car", 40), ("car", 40)]),
    _record("sar", [("ship", 7), ("ship", 9)]),
]


def test_prompt_area_is_the_box_around_the_prompt():
    assert prompt_area({"type": "box", "bbox": [2, 3, 12, 8]}) == 50
    assert prompt_area({"type": "point", "point": [4, 4]}) == 0
    assert prompt_area({"type": "polygon", "points": [[0, 0], [10, 2], [4, 6]]}) == 60


def test_size_prior_by_hand():
    priors = size_prior_baseline(RECORDS, bins=2)
    infrared = priors["infrared"]
    # areas 100 x4 (persons), 400 x3 (car, car, person), 1600 x2 (cars): the median 400 starts the second bin
    assert list(size_bin_edges([100] * 4 + [400] * 3 + [1600] * 2, 2)) == [400]
    assert infrared["regions"] == 9 and infrared["size_prior_baseline"] == pytest.approx(8 / 9)
    assert [(b["class"], b["regions"], b["max_area"]) for b in infrared["bins"]] == [("person", 4, 400.0),
                                                                                     ("car", 5, None)]
    assert priors["sar"]["size_prior_baseline"] == 1.0
    # one bin is the best constant answer per modality: the majority class
    assert size_prior_baseline(RECORDS, bins=1)["infrared"]["size_prior_baseline"] == pytest.approx(5 / 9)
    # more bins than distinct sizes: the tied edges merge, and nothing is counted twice
    many = size_prior_baseline(RECORDS, bins=8)["infrared"]
    assert sum(b["regions"] for b in many["bins"]) == 9 and many["size_prior_baseline"] == pytest.approx(8 / 9)
    assert size_prior_baseline(RECORDS, 2, keep=lambda m, label: label == "car")["infrared"]["regions"] == 4


@pytest.mark.parametrize("bins", [0, -1, 2.5, True])
def test_bad_bin_counts_are_refused(bins):
    with pytest.raises(ValueError, match=rf"size_bins={bins!r} must be a positive integer"):
        size_prior_baseline(RECORDS, bins=bins)


def test_rows_next_to_accuracy_and_on_seen_classes():
    predictions = [{i: "person" for i in range(1, 5)}] * 3 + [{1: "ship", 2: "ship"}]
    rows = modality_rows(RECORDS, predictions, size_bins=2, seen_classes=("train", {"infrared": {"person"}}))
    assert list(rows) == ["infrared", "infrared (classes seen in train)", "sar", "sar (classes seen in train)"]
    infrared = rows["infrared"]
    assert infrared["accuracy"] == pytest.approx(100 * 5 / 9)
    assert infrared["majority_baseline"] == pytest.approx(100 * 5 / 9) and infrared["majority_class"] == "person"
    assert infrared["size_prior_baseline"] == pytest.approx(100 * 8 / 9)
    seen = rows["infrared (classes seen in train)"]
    assert seen["regions"] == 5 and seen["regions_unseen"] == 4 and seen["accuracy"] == 100
    assert seen["size_prior_baseline"] == 100
    assert rows["sar (classes seen in train)"]["regions"] == 0 and rows["sar (classes seen in train)"][
        "accuracy"] is None and rows["sar (classes seen in train)"]["regions_unseen"] == 2
    table = "\n".join(modality_markdown({"box": {"by_modality": rows}}, {"box": "Box"}))
    assert "| Box | infrared | 9 | 55.6 | 55.6 (person) | 88.9 |" in table
    assert "| Box | infrared (classes seen in train) | 5 | 100.0 | 100.0 (person) | 100.0 |" in table
    assert "| Box | sar (classes seen in train) | 0 | - | - | - |" in table


def test_swap_cell_shows_the_counts_and_the_rate():
    assert swap_cell({"pairs": 30, "differing": 20, "swapped": 13, "rate": 0.65}) == "13 of 20 (65 %), 30 pairs"
    assert swap_cell({"pairs": 4, "differing": 0, "swapped": 0, "rate": 0.0}) == "0 of 0, 4 pairs"
