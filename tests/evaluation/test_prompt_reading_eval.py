"""`earthgptx-eval` reports whether a model reads its prompts: the swap counts, the size-prior baseline per
modality and the rows on classes seen in the training split, in results.json and results.md."""

import json

import pytest

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.evaluation.evaluate_model import EvalArguments, EvalDataArguments, main, run_evaluation


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    config = EarthGPTXConfig.from_preset("tiny")
    EarthGPTXForConditionalGeneration(config).save_pretrained(path)
    EarthGPTXProcessor.from_model_config(config).save_pretrained(path)
    return path


def test_swap_prior_and_seen_classes_reach_the_outputs(model_dir, tmp_path):
    out = tmp_path / "eval"
    assert main(["--model", str(model_dir), "--output_dir", str(out), "--num_scenes", "15", "--scene_size", "64",
                 "--scene_dir", str(tmp_path / "scenes"), "--tasks", "classification", "--prompt_types", "box",
                 "--max_new_tokens", "8", "--gallery_size", "0", "--swap_check", "--size_bins", "3",
                 "--seen_classes_split", "train", "--semantic_similarity", "false"]) == 0
    summary = json.loads((out / "results.json").read_text())
    row = summary["results"]["classification"]["box"]
    assert set(row["swap"]) == {"pairs", "differing", "swapped", "rate"} and row["swap"]["pairs"] > 0
    assert row["swap"]["differing"] <= row["swap"]["pairs"] and row["swap"]["swapped"] <= row["swap"]["differing"]
    modalities = {m for m in row["by_modality"] if "(" not in m}
    assert modalities == {"optical", "sar", "infrared"}
    for modality in modalities:
        figures, seen = row["by_modality"][modality], row["by_modality"][f"{modality} (classes seen in train)"]
        # the best constant per size bin scores at least the best constant per modality
        assert figures["size_prior_baseline"] >= figures["majority_baseline"] and len(figures["size_bins"]) <= 3
        assert seen["regions"] + seen["regions_unseen"] == figures["regions"]
    table = (out / "results.md").read_text()
    assert "size-prior baseline" in table and "| Box | infrared (classes seen in train) |" in table
    assert f"{row['swap']['swapped']} of {row['swap']['differing']}" in table
    binding = row["binding"]
    assert binding["pairs"] == row["swap"]["pairs"] and 0 <= binding["preferred"] <= binding["pairs"]
    assert "binding preference" in table and f"{binding['preferred']} of {binding['pairs']}" in table
    # predictions.jsonl shows each pair's answers, and for the differing ones the answers with the prompts swapped
    swaps = [p["swap"] for p in map(json.loads, (out / "predictions.jsonl").read_text().splitlines()) if "swap" in p]
    assert len(swaps) == row["swap"]["pairs"]
    assert sum("swapped_answers" in s for s in swaps) == row["swap"]["differing"]
    assert sum(s.get("followed", False) for s in swaps) == row["swap"]["swapped"]
    assert all(s["classes"][0] != s["classes"][1] and len(s["answers"]) == 2 for s in swaps)


def test_training_options_and_bad_bins_are_refused_by_the_evaluation(model_dir, tmp_path):
    with pytest.raises(ValueError, match=r"\['region_crops'\] are training options"):
        run_evaluation(EvalArguments(model=str(model_dir), output_dir=str(tmp_path)),
                       EvalDataArguments(region_crops=2), progress=False)
    with pytest.raises(ValueError, match="size_bins=0 must be a positive integer"):
        run_evaluation(EvalArguments(model=str(model_dir), output_dir=str(tmp_path), size_bins=0),
                       EvalDataArguments(), progress=False)
    with pytest.raises(ValueError, match="seen_classes_split='train' needs a data format with splits"):
        run_evaluation(EvalArguments(model=str(model_dir), output_dir=str(tmp_path), seen_classes_split="train"),
                       EvalDataArguments(data_format="records", data_path=str(tmp_path / "r.jsonl")), progress=False)


def test_zoom_in_asks_each_real_object_on_a_crop_around_it(model_dir, tmp_path, rs_mini):
    from PIL import Image

    out = tmp_path / "eval"
    data = EvalDataArguments(data_format="rs_mini", data_path=str(rs_mini / "annotations" / "test.jsonl"),
                             tasks="classification", scene_dir=str(tmp_path / "work"))
    run_evaluation(EvalArguments(model=str(model_dir), output_dir=str(out), prompt_types="box", max_samples=6,
                                 max_new_tokens=4, gallery_size=0, semantic_similarity=False, zoom_in=True,
                                 zoom_in_min_size=128), data, progress=False)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all("#zoom" in row["id"] for row in rows)  # questions about the crops
    crops = sorted((tmp_path / "work" / "zoom_in").iterdir())
    assert crops  # each at least 128 pixels a side, or the whole frame in that direction (rs_mini frames >= 256)
    assert all(min(Image.open(path).size) >= 128 for path in crops)
    summary = json.loads((out / "results.json").read_text())
    assert summary["results"]["classification"]["box"]["by_modality"]
    with pytest.raises(ValueError, match="zoom_in asks real images"):
        run_evaluation(EvalArguments(model=str(model_dir), output_dir=str(out), zoom_in=True),
                       EvalDataArguments(tasks="classification", num_scenes=4, scene_dir=str(tmp_path / "s")),
                       progress=False)


def test_swap_check_with_zoom_in_asks_pairs_of_different_classes_on_one_crop(model_dir, tmp_path, rs_mini):
    out = tmp_path / "eval"
    data = EvalDataArguments(data_format="rs_mini", data_path=str(rs_mini / "annotations" / "test.jsonl"),
                             tasks="classification", scene_dir=str(tmp_path / "work"))
    summary = run_evaluation(EvalArguments(model=str(model_dir), output_dir=str(out), prompt_types="box",
                                           max_samples=5, max_new_tokens=4, gallery_size=0, swap_check=True,
                                           semantic_similarity=False, zoom_in=True), data, progress=False)
    rows = summary["results"]["classification"]
    assert set(rows) == {"box", "box pairs"} and rows["box pairs"]["swap"]["pairs"] == 5
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    pairs = [p for p in predictions if p["prompt_type"] == "box pairs"]
    assert len(pairs) == 5 and all("#pair" in p["id"] and p["reference"].count("<Region") == 2 for p in pairs)
    labels = [sorted(line.split(": ", 1)[1] for line in p["reference"].splitlines()) for p in pairs]
    assert all(a != b for a, b in labels)  # two objects of different classes each
    assert "| Box, zoom-in pairs |" in (out / "results.md").read_text()


def test_binding_preference_is_antisymmetric_and_zero_without_pairs(model_dir, tmp_path):
    from earthgptx_hf.data import generate_scenes
    from earthgptx_hf.data.tasks import build_records
    from earthgptx_hf.evaluation.binding_preference import binding_preference
    from earthgptx_hf.evaluation.region_pairs import first_differing_pair, swap_prompts

    model = EarthGPTXForConditionalGeneration.from_pretrained(model_dir)
    processor = EarthGPTXProcessor.from_pretrained(model_dir)
    images, _ = generate_scenes(tmp_path, 8, size=64, seed=0, num_objects=(3, 3))
    records = [r for r in build_records(images, tasks=("classification",), prompt_type="box", max_regions=8)
               if first_differing_pair(r) is not None][:3]
    assert records
    forward = binding_preference(model, processor, records)
    # the prompts swapped under the same answer: every log-likelihood ratio changes sign
    backward = binding_preference(model, processor, [swap_prompts(r, *first_differing_pair(r)) for r in records])
    assert forward["pairs"] == backward["pairs"] == len(records)
    assert forward["mean_log_ratio"] != 0 and backward["mean_log_ratio"] == pytest.approx(-forward["mean_log_ratio"],
                                                                                           abs=1e-4)
    single = [dict(records[0], prompts=records[0]["prompts"][:1], masks=records[0]["masks"][:1])]
    assert binding_preference(model, processor, single)["pairs"] == 0
