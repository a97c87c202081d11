"""Referring object classification with generation: predictions per region, accuracy, the prompt-swap check.

The full metric set of the papers (SS, S-IoU, captioning metrics) is the evaluation package's job; this module holds
what training needs to see whether a model reads its prompts: exact-label accuracy and whether swapping two prompts
swaps the two answers.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict

import torch
from tqdm.auto import tqdm


def _truth(record: dict) -> dict[int, str]:
    from ..processing.processing_earthgptx import EarthGPTXProcessor

    return EarthGPTXProcessor.parse_regions(record["conversations"][1]["value"])


@torch.no_grad()
def predict_regions(model, processor, records: list[dict], batch_size: int = 8, max_new_tokens: int = 48,
                    progress: bool = True) -> list[dict[int, str]]:
    """Generates the answer to each record's first question (chat template, greedy) and parses the regions."""
    model.eval()
    predictions = []
    batches = range(0, len(records), batch_size)
    for start in tqdm(batches, desc="generating", disable=not progress):
        chunk = records[start : start + batch_size]
        texts = [
            processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r["conversations"][0]["value"]}]}],
                add_generation_prompt=True,
            )
            for r in chunk
        ]
        inputs = processor(images=[r["image"] for r in chunk], text=texts, visual_prompts=[r["prompts"] for r in chunk],
                           return_tensors="pt")
        inputs = inputs.to(model.device)
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, return_dict_in_generate=True)
        predictions += [result["regions"] for result in processor.post_process_generation(output, inputs)]
    return predictions


def region_classification_report(records: list[dict], predictions: list[dict[int, str]]) -> dict:
    """Exact-label accuracy overall and per modality, with the majority-class baseline of the same regions."""
    correct, total = Counter(), Counter()
    labels = defaultdict(Counter)
    for record, predicted in zip(records, predictions):
        modality = record.get("modality", "optical")
        for index, label in _truth(record).items():
            for key in ("all", modality):
                total[key] += 1
                correct[key] += predicted.get(index) == label
                labels[key][label] += 1
    return {
        key: {"regions": total[key], "accuracy": correct[key] / total[key],
              "majority_baseline": labels[key].most_common(1)[0][1] / total[key],
              "majority_class": labels[key].most_common(1)[0][0]}
        for key in total
    }


def swap_consistency(model, processor, records: list[dict], predictions: list[dict[int, str]],
                     batch_size: int = 8) -> dict:
    """Swaps the first two prompts of every record with two or more; where the model's two answers differed, counts
    how often the answers swap with them (the binding check of SPEC 2.4)."""
    candidates = [i for i, (r, p) in enumerate(zip(records, predictions))
                  if len(r["prompts"]) >= 2 and p.get(1) is not None and p.get(2) is not None and p[1] != p[2]]
    swapped_records = []
    for i in candidates:
        record = copy.deepcopy(records[i])
        record["prompts"][0], record["prompts"][1] = record["prompts"][1], record["prompts"][0]
        swapped_records.append(record)
    swapped = predict_regions(model, processor, swapped_records, batch_size, progress=False) if candidates else []
    agree = sum(s.get(1) == predictions[i][2] and s.get(2) == predictions[i][1] for i, s in zip(candidates, swapped))
    return {"pairs": len(candidates), "swapped": agree, "rate": agree / len(candidates) if candidates else 0.0}


__all__ = ["predict_regions", "region_classification_report", "swap_consistency"]


def main(argv: list[str] | None = None) -> int:
    """`python -m earthgptx_hf.evaluation.region_classification --model DIR --data_format rs_mini --data_path ...`:
    accuracy per modality next to the majority-class baseline, as a Markdown table (and JSON with --output)."""
    import argparse
    import json
    from pathlib import Path

    from ..data.tasks import build_records
    from ..modeling import EarthGPTXForConditionalGeneration
    from ..processing import EarthGPTXProcessor
    from ..training.train import DataArguments, load_annotated_images

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data_format", default="rs_mini")
    parser.add_argument("--data_path", default=None)
    parser.add_argument("--image_dir", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--prompt_type", default="box", choices=["box", "point", "freeform", "mixed"])
    parser.add_argument("--num_scenes", type=int, default=600)
    parser.add_argument("--scene_dir", default=None)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--output", default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    model = EarthGPTXForConditionalGeneration.from_pretrained(args.model)
    processor = EarthGPTXProcessor.from_pretrained(args.model)
    data_args = DataArguments(data_format=args.data_format, data_path=args.data_path, image_dir=args.image_dir,
                              split=args.split, num_scenes=args.num_scenes, scene_dir=args.scene_dir)
    images, _ = load_annotated_images(data_args, Path(args.scene_dir or "."))
    records = build_records(images, tasks=("classification",), prompt_type=args.prompt_type,
                            max_regions=model.config.max_regions, seed=1)
    predictions = predict_regions(model, processor, records, args.batch_size)
    report = region_classification_report(records, predictions)
    report["swap"] = swap_consistency(model, processor, records, predictions, args.batch_size)
    print("| modality | regions | accuracy | majority-class baseline (class) |\n|---|---:|---:|---|")
    for key, row in sorted(report.items()):
        if key != "swap":
            print(f"| {key} | {row['regions']} | {100 * row['accuracy']:.1f} % | "
                  f"{100 * row['majority_baseline']:.1f} % ({row['majority_class']}) |")
    swap = report["swap"]
    print(f"\nprompt swap: {swap['swapped']} of {swap['pairs']} differing answer pairs swapped with their prompts")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
