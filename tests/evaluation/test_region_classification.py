from earthgptx_hf.evaluation.region_classification import region_classification_report


def _record(modality, answer):
    return {"modality": modality, "conversations": [{"from": "user", "value": "?"}, {"from": "model", "value": answer}]}


def test_accuracy_and_majority_baseline_by_hand():
    records = [_record("sar", "<Region 1>: ship\n<Region 2>: ship"), _record("optical", "<Region 1>: airplane"),
               _record("optical", "<Region 1>: ship\n<Region 2>: harbor")]
    predictions = [{1: "ship", 2: "harbor"}, {1: "airplane"}, {2: "harbor"}]  # region 1 of the last one is missing
    report = region_classification_report(records, predictions)
    assert report["all"]["regions"] == 5 and report["all"]["accuracy"] == 3 / 5
    assert report["all"]["majority_class"] == "ship" and report["all"]["majority_baseline"] == 3 / 5
    assert report["sar"]["accuracy"] == 1 / 2 and report["sar"]["majority_baseline"] == 1.0
    assert report["optical"]["accuracy"] == 2 / 3
