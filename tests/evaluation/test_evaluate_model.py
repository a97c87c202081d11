"""`earthgptx-eval`: scoring per task, record grouping, and an end-to-end run of a tiny model on procedural scenes."""

import json
import re
from pathlib import Path
from importlib.metadata import entry_points

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.data import build_records, generate_scenes
from earthgptx_hf.evaluation.evaluate_model import EvalArguments, EvalDataArguments, main, results_markdown, run_evaluation, score_task
from earthgptx_hf.evaluation.evaluation_data import load_evaluation_records, record_prompt_type
from earthgptx_hf.models.earthgptx.visual_prompts import rle_to_mask


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    images, _ = generate_scenes(tmp_path_factory.mktemp("scenes"), 10, size=64, seed=0, test_fraction=0.5)
    return images


def _output(text, masks=(), mask_regions=None, scores=None):
    """An output of `post_process_generation` (S2 keys): each mask bound to region 1, 2, ... unless told."""
    from earthgptx_hf.models.earthgptx.processing_earthgptx import EarthGPTXProcessor as P

    masks = list(masks)
    return {"text": text, "regions": P.parse_regions(text), "masks": masks,
            "mask_regions": list(range(1, len(masks) + 1)) if mask_regions is None else mask_regions,
            "scores": [1.0] * len(masks) if scores is None else scores, "dropped_masks": 0}


def test_scores_of_perfect_and_wrong_answers(scenes):
    records = build_records(scenes, tasks=("classification",), prompt_type="box", seed=0)
    perfect = [_output(r["conversations"][1]["value"]) for r in records]
    scores = score_task("classification", records, perfect, semantic_similarity=False)
    assert scores["accuracy"] == 100 and scores["S-IoU"] == 100 and scores["missing_regions"] == 0
    wrong = [_output("<Region 1>: harbour") for _ in records]
    scores = score_task("classification", records, wrong, semantic_similarity=False)
    regions = sum(len(r["prompts"]) for r in records)
    assert scores["accuracy"] == 0 and scores["missing_regions"] == regions - len(records)

    grounding = build_records(scenes, tasks=("grounding",), prompt_type="point", seed=0)
    truth = [rle_to_mask(r["masks"][0]).astype(bool) for r in grounding]
    scores = score_task("grounding", grounding, [_output("[PIX]", [m]) for m in truth])
    assert scores["gIoU"] == 100 and scores["cIoU"] == 100 and scores["Pr@0.5"] == 100 and scores["no_mask"] == 0
    half = []
    for m in truth:  # keep the upper half of every object's rows: IoU = kept / all
        rows = np.nonzero(m.any(1))[0]
        cut = m.copy()
        cut[rows[len(rows) // 2]:] = False
        half.append(cut)
    expected = np.mean([h.sum() / m.sum() for h, m in zip(half, truth)])
    scores = score_task("grounding", grounding, [_output("[PIX]", [h]) for h in half])
    assert scores["gIoU"] == pytest.approx(100 * expected)
    scores = score_task("grounding", grounding, [_output("no mask") for _ in grounding])
    assert scores["gIoU"] == 0 and scores["no_mask"] == len(grounding) and scores["meanIoU"] == 0

    assert score_task("scene", [{"conversations": [{}, {"value": "Dense_Residential"}]}],
                      [_output("dense residential.")])["accuracy"] == 100
    with pytest.raises(ValueError, match="task='segmentation'"):
        score_task("segmentation", [], [])


def test_scores_are_computed_by_the_shipped_evaluate_modules(scenes, monkeypatch):
    """`score_task` goes through the `evaluate` modules (loaded from their folders), so they are what is tested."""
    from earthgptx_hf.evaluation import EVALUATE_MODULES, evaluate_base

    used, compute = [], evaluate_base.EarthGPTXMetric._compute

    def spy(self, predictions, references, **options):
        used.append(type(self).__module__.rsplit(".", 1)[-1])
        return compute(self, predictions, references, **options)

    monkeypatch.setattr(evaluate_base.EarthGPTXMetric, "_compute", spy)
    records = build_records(scenes, tasks=("classification",), prompt_type="box", seed=0)
    scores = score_task("classification", records, [_output(r["conversations"][1]["value"]) for r in records],
                        semantic_similarity=False)
    assert scores["SS"] is None and scores["S-IoU"] == 100  # the option reached the module's function
    grounding = build_records(scenes, tasks=("grounding",), prompt_type="box", seed=0)
    score_task("grounding", grounding, [_output("[PIX]", [rle_to_mask(r["masks"][0]) > 0]) for r in grounding])
    score_task("scene", [{"conversations": [{}, {"value": "harbor"}]}], [_output("Harbor")])
    score_task("region_caption", [{"conversations": [{}, {"value": "<Region 1>: a ship"}]}], [_output("a ship")])
    assert sorted(set(used)) == sorted(EVALUATE_MODULES)


def test_records_are_grouped_by_task_and_prompt_type(scenes, tmp_path):
    records = []
    for kind in ("box", "point", "freeform"):
        records += build_records(scenes, tasks=("classification", "grounding"), prompt_type=kind, seed=0)
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    # the images live next to the scenes, not the records file: image_dir is their root
    data = EvalDataArguments(data_format="records", data_path=str(path), tasks="grounding",
                             image_dir=str(Path(records[0]["image"]).parents[1]))
    groups = load_evaluation_records(data, ["point", "freeform"], max_regions=8, max_samples=3)
    assert set(groups) == {("grounding", "point"), ("grounding", "freeform")}
    assert all(len(v) == 3 for v in groups.values())
    assert {record_prompt_type(r) for r in groups[("grounding", "freeform")]} == {"freeform"}
    with pytest.raises(ValueError, match="tasks='grounding,colour'.*'colour'"):
        load_evaluation_records(EvalDataArguments(tasks="grounding,colour"), ["box"], max_regions=8)


def test_markdown_has_one_row_per_prompt_type():
    results = {"classification": {k: {"samples": 4, "SS": 90.0, "S-IoU": 80.0, "accuracy": 75.0,
                                       "missing_regions": 1 if k == "box" else 0, "extra_regions": 0}
                                   for k in ("point", "box", "freeform")}}
    text = results_markdown(results)
    assert "| Point | 4 | 90.0 | 80.0 | 75.0 |" in text and "| Free-form | 4 |" in text
    assert "Box: 1 region(s) missing" in text


def test_eval_cli_end_to_end_on_procedural_scenes(tmp_path):
    config = EarthGPTXConfig.from_preset("tiny")
    EarthGPTXForConditionalGeneration(config).save_pretrained(tmp_path / "model")
    EarthGPTXProcessor.from_model_config(config).save_pretrained(tmp_path / "model")
    assert any(e.name == "earthgptx-eval" for e in entry_points(group="console_scripts"))
    out = tmp_path / "eval"
    code = main(["--model", str(tmp_path / "model"), "--output_dir", str(out), "--num_scenes", "6",
                 "--scene_size", "64", "--scene_dir", str(tmp_path / "scenes"), "--tasks", "classification,grounding",
                 "--max_new_tokens", "6", "--batch_size", "4", "--gallery_size", "4"])
    assert code == 0
    summary = json.loads((out / "results.json").read_text())
    assert set(summary["results"]) == {"classification", "grounding"}
    for task in ("classification", "grounding"):
        assert set(summary["results"][task]) == {"point", "box", "freeform"}
    # grounding questions about 1-3 regions (grounding_regions defaults to "1,2,3"), counted per region count
    for row in summary["results"]["grounding"].values():
        assert set(row["by_regions"]) <= {"1", "2", "3"} and row["by_regions"]
        assert sum(v["questions"] for v in row["by_regions"].values()) == row["samples"]
    assert summary["data"]["grounding_regions"] == "1,2,3"
    assert set(summary["calibration"]) >= {"spearman", "min_score", "gIoU_kept_masks", "kept", "dropped"}
    assert summary["settings"]["min_score"] == 0.5 and (out / "calibration.png").is_file()
    assert summary["results"]["classification"]["box"]["SS"] is not None
    table = (out / "results.md").read_text()
    # Point rows: one per task table, one per region count and one of the calibration
    point_rows = 2 + len(summary["results"]["grounding"]["point"]["by_regions"]) + 1
    assert len(re.findall(r"^\| Point \| \d+ \|", table, re.M)) == point_rows and "## Pixel grounding" in table
    assert re.search(r"^\| Free-form \| [123] \| \d+ \| \d+ \|", table, re.M) and "| All |" in table
    assert re.search(r"^\| Box \| (optical|sar|infrared) \|", table, re.M)  # accuracy per source, with the baseline
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == sum(v["samples"] for rows in summary["results"].values() for v in rows.values())
    gallery = Image.open(out / "gallery.png")
    assert gallery.width > 256 and gallery.height > 256
    with pytest.raises(ValueError, match="min_score=2.0 must be"):
        main(["--model", str(tmp_path / "model"), "--output_dir", str(out), "--min_score", "2"])
    with pytest.raises(ValueError, match="prompt_types='box,lasso'"):
        main(["--model", str(tmp_path / "model"), "--output_dir", str(out), "--prompt_types", "box,lasso"])


def test_eval_refuses_a_processor_that_disagrees_with_its_model(tmp_path, monkeypatch):
    model = EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny"))
    processor = EarthGPTXProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny", max_regions=4))
    monkeypatch.setattr(model, "generate", lambda *a, **k: pytest.fail("generated before the check"))
    data = EvalDataArguments(num_scenes=2, scene_size=64, scene_dir=str(tmp_path / "scenes"))
    with pytest.raises(ValueError, match="max_regions"):
        run_evaluation(EvalArguments(model="given", output_dir=str(tmp_path / "eval")), data, model=model,
                       processor=processor, progress=False)
    assert not (tmp_path / "scenes").exists() and not (tmp_path / "eval" / "results.json").exists()


def test_eval_arguments_defaults():
    assert EvalDataArguments().split == "test" and EvalArguments(model="m").prompt_types == "point,box,freeform"
