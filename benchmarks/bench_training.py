"""A training step of EarthGPT-X (forward, backward, AdamW step) against transformers' `LlavaForConditionalGeneration`
with the same language model and the same number of visual tokens, timed in the same run, with a `torch.profiler`
breakdown of where EarthGPT-X's extra time goes.

    python benchmarks/bench_training.py [--repeats 5] [--batch 8] [--threads 1] [--llm small|smollm2]
                                        [--fusion-attention sdpa|eager]

- Models: EarthGPT-X of the `small` preset (`--llm smollm2`: with SmolLM2-135M's architecture as its language model,
  the shipped tokenizer's vocabulary); LLaVA = `bench_generation.llava_like` (a CLIP tower as wide and deep as the
  preset's DINOv2, one 112-pixel image per view: 5 x 64 = 320 visual tokens, as EarthGPT-X's five views). Random
  weights, fp32, train mode.
- Trainable: EarthGPT-X's `paper` preset (`set_trainable("paper")`: LLM q/k/v, embeddings and LM head, and the parts
  that learn from scratch: channel mix, spatial-aware encoder, fusion, projectors, R_lp, SAM's mask decoder); LLaVA
  the same on its side (LLM q/k/v, embeddings, LM head, its projector). `torch.optim.AdamW` on both.
- Batches (8 records) come from the project's own path: procedural scenes -> `build_records` -> `EarthGPTXDataCollator`
  with the processor of the config. `classification`: classification records (no SAM view, no mask loss);
  `grounding`: grounding records with 1-3 regions each (SAM view, `gt_masks`: BCE, Dice and IoU losses on). LLaVA
  gets the same `input_ids`, `attention_mask` and `labels` (EarthGPT-X's region tokens are ordinary ids to it) and
  the same views, normalised, as its `pixel_values`.
- Step time: median of `--repeats` steps after one warm-up, EarthGPT-X and LLaVA interleaved.
- Peak memory: what a step allocates above what lives before it (weights, gradients' buffers, optimizer state),
  from the allocator events of `torch.profiler(profile_memory=True)`; live bytes before the step alongside.
- Breakdown: the median of 3 profiled steps per model, row by row; forward ranges are the top-level modules
  (`record_function` from forward hooks), each backward node is charged to the module whose forward op created it
  (the profiler's `sequence_nr`), the optimizer step is its own row, the rest ("glue": losses outside modules,
  autograd bookkeeping) the last.
- FLOPs: `FlopCounterMode` over one whole step (the ratio to hold the step to on a shared machine), and each row's
  forward.
"""

from __future__ import annotations

import argparse
import re
import json
import statistics
import tempfile
import time
from collections import defaultdict

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench_generation import SMOLLM2_135M, llava_like  # noqa: E402 (benchmarks/, on sys.path as a script)

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.data.procedural import generate_scenes
from earthgptx_hf.data.tasks import build_records
from earthgptx_hf.training.collator import EarthGPTXDataCollator

MIXES = ("classification", "grounding")
EARTH_MODULES = {  # profile row -> module path in EarthGPTXForConditionalGeneration
    "vision tower (DINOv2 + ConvNeXt + mix)": "model.vision_tower",
    "spatial-aware encoder": "model.spatial_aware_encoder",
    "hybrid fusion": "model.hybrid_fusion",
    "projector": "model.multi_modal_projector",
    "region projectors": ("model.region_projector", "model.region_position_projector"),
    "language model": "model.language_model",
    "lm head": "lm_head",
    "R_lp": "pixel_perception.text_to_pixel",
    "SAM image encoder": "pixel_perception.grounding_model.vision_encoder",
    "SAM mask decoder": "pixel_perception.grounding_model.mask_decoder",
}
LLAVA_MODULES = {
    "vision tower (CLIP)": "model.vision_tower",
    "projector": "model.multi_modal_projector",
    "language model": "model.language_model",
    "lm head": "lm_head",
}
PROFILES = 3  # profiled steps per model and mix: the breakdown is their median, row by row
GLUE = "glue (losses, autograd, outside modules)"
OPTIMIZER = "optimizer step (AdamW)"
LLAVA_TRAINABLE = (r"language_model\..*self_attn\.(q_proj|k_proj|v_proj)\.", r"embed_tokens\.", r"lm_head\.",
                   r"multi_modal_projector\.")


def build(llm: str):
    overrides = {"text_config": SMOLLM2_135M} if llm == "smollm2" else {}
    config = EarthGPTXConfig.from_preset("small", **overrides)
    torch.manual_seed(0)
    earth = EarthGPTXForConditionalGeneration(config).set_trainable("paper").train()
    llava, _ = llava_like(config)
    pattern = re.compile("|".join(LLAVA_TRAINABLE))
    for name, parameter in llava.named_parameters():
        parameter.requires_grad_(bool(pattern.search(name)))
    return config, earth, llava.train()


def batches(config, batch: int) -> dict[str, tuple[dict, dict]]:
    """Per mix, (EarthGPT-X batch, LLaVA batch) of `batch` records, through the project's collator."""
    processor = EarthGPTXProcessor.from_model_config(config)
    collator = EarthGPTXDataCollator(processor)
    stats = (torch.tensor(config.image_mean).view(1, 3, 1, 1), torch.tensor(config.image_std).view(1, 3, 1, 1))
    with tempfile.TemporaryDirectory() as scenes:
        images, _ = generate_scenes(scenes, 4 * batch, size=128, test_fraction=0.0)
        out = {}
        for mix in MIXES:
            records = build_records(images, tasks=[mix], max_regions=config.max_regions, seed=0,
                                    grounding_regions=(1, 2, 3))[:batch]
            earth = collator(records)
            views = earth["pixel_values"].flatten(0, 1).float() / 255  # the same views, CLIP-side normalised
            llava = {key: earth[key] for key in ("input_ids", "attention_mask", "labels")}
            llava["pixel_values"] = (views - stats[0]) / stats[1]
            out[mix] = (earth, llava)
    return out


def make_step(model, inputs: dict):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.01)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(**inputs).loss.backward()
        optimizer.step()

    step.inputs = inputs
    return step, optimizer


def live_bytes(model, optimizer) -> int:
    states = [t for state in optimizer.state.values() for t in state.values() if torch.is_tensor(t)]
    tensors = list(model.parameters()) + states
    return sum(t.numel() * t.element_size() for t in tensors)


def _range_hooks(model, modules: dict) -> list:
    """Forward hooks opening and closing one `record_function` range per profile row."""
    handles = []
    for row, paths in modules.items():
        for path in (paths,) if isinstance(paths, str) else paths:
            module = getattr(model.get_submodule(path.rpartition(".")[0]), path.rpartition(".")[2], None)
            if module is None:  # e.g. no region position projector in this config
                continue
            ranges = []

            def enter(_module, _args, row=row, ranges=ranges):
                ranges.append(torch.autograd.profiler.record_function(f"row::{row}").__enter__())

            def leave(_module, _args, _output, ranges=ranges):
                ranges.pop().__exit__(None, None, None)

            handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return handles


def profile_step(step, model, modules: dict, trace_path: str) -> tuple[dict, float, int]:
    """One profiled step: ms per profile row (forward + backward), the profiled step's ms, and the peak of the bytes
    allocated during the step (less those freed), from the allocator events of the trace."""
    handles = _range_hooks(model, modules)
    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            start = time.perf_counter()
            step()
            total = time.perf_counter() - start
    finally:
        for handle in handles:
            handle.remove()
    prof.export_chrome_trace(trace_path)
    with open(trace_path) as trace:
        events = json.load(trace)["traceEvents"]
    allocated = [e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]"]
    return attribute(prof.events()), total * 1e3, max(allocated, default=0)


def _row_of(event) -> str | None:
    """The profile row of the innermost row range around `event` (None outside every row)."""
    while event is not None:
        if event.name.startswith("row::"):
            return event.name[5:]
        event = event.cpu_parent
    return None


def attribute(events) -> dict:
    """ms per row: the outermost row ranges' time (forward), plus each backward node's time charged to the row of the
    forward op that created it (same `sequence_nr`), plus the optimizer's steps."""
    rows, forward_rows = defaultdict(float), {}
    for event in events:
        if event.name.startswith("row::") and _row_of(event.cpu_parent) is None:
            rows[event.name[5:]] += event.cpu_time_total / 1e3
        elif event.sequence_nr >= 0 and not event.name.startswith("autograd::"):
            forward_rows.setdefault(event.sequence_nr, _row_of(event))
    for event in events:
        if event.cpu_parent is not None:
            continue
        if event.name.startswith("autograd::engine::evaluate_function:"):
            rows[forward_rows.get(event.sequence_nr) or GLUE] += event.cpu_time_total / 1e3
        elif event.name.startswith("Optimizer.step#"):
            rows[OPTIMIZER] += event.cpu_time_total / 1e3
    return dict(rows)


def step_flops(step, model, modules: dict) -> tuple[float, dict]:
    """FLOPs of one step (forward, backward, optimizer) and of each profile row's forward (`FlopCounterMode`; its
    per-module counts of the backward are not used: they are charged to modules unreliably)."""
    with FlopCounterMode(display=False) as counter:
        step()
    total = counter.get_total_flops()
    prefix = type(model).__name__
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(**step.inputs)
    counts = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    rows = {row: sum(counts.get(f"{prefix}.{path}", 0) for path in ((paths,) if isinstance(paths, str) else paths))
            for row, paths in modules.items()}
    return total, rows


def interleaved_medians(steps: dict, repeats: int) -> dict:
    """Median seconds of each step, the steps taking turns (one warm-up each first)."""
    for step in steps.values():
        step()
    samples = defaultdict(list)
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def print_breakdown(mix: str, earth: dict, llava: dict) -> None:
    """The profiled step per row, EarthGPT-X against LLaVA's counterpart, with each row's forward GFLOP."""
    print(f"\n{mix}: profiled step (median of {PROFILES}), ms per module (its forward and the backward of what it "
          f"computed), and its forward GFLOP\n")
    print("| module | EarthGPT-X ms | LLaVA ms | extra ms | share of the extra | forward GFLOP, EarthGPT-X / LLaVA |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {}
    for side in (earth, llava):
        side["rows"][GLUE] = side["rows"].get(GLUE, 0.0) + side["ms"] - sum(side["rows"].values())
    counterpart = {"vision tower (DINOv2 + ConvNeXt + mix)": "vision tower (CLIP)"}
    for row, ms in earth["rows"].items():
        theirs = counterpart.get(row, row)
        rows[row] = (ms, llava["rows"].get(theirs, 0.0), earth["row_flops"].get(row), llava["row_flops"].get(theirs))
    extra_total = earth["ms"] - llava["ms"]
    for row, (ours, theirs, our_flops, their_flops) in sorted(rows.items(), key=lambda kv: kv[1][1] - kv[1][0]):
        flops = "" if our_flops is None else f"{our_flops / 1e9:.2f} / " + (
            "-" if their_flops is None else f"{their_flops / 1e9:.2f}")
        print(f"| {row} | {ours:.1f} | {theirs:.1f} | {ours - theirs:+.1f} | {(ours - theirs) / extra_total:.0%} | "
              f"{flops} |")


def measure(mix: str, models: dict, data: dict, repeats: int, traces: str) -> dict:
    """Step times (interleaved), FLOPs, peak memory and the profile of both models on one mix."""
    steps = {}
    for name, (model, modules) in models.items():
        inputs = data[mix][0 if name == "EarthGPT-X" else 1]
        steps[name] = make_step(model, inputs)
    times = interleaved_medians({name: step for name, (step, _) in steps.items()}, repeats)
    out = {}
    for name, (model, modules) in models.items():
        step, optimizer = steps[name]
        flops, row_flops = step_flops(step, model, modules)
        profiles = [profile_step(step, model, modules, f"{traces}/{len(out)}.json") for _ in range(PROFILES)]
        names = {row for p in profiles for row in p[0]}
        rows = {row: statistics.median(p[0].get(row, 0.0) for p in profiles) for row in names}
        ms, peak = statistics.median(p[1] for p in profiles), max(p[2] for p in profiles)
        out[name] = {"time": times[name], "flops": flops, "row_flops": row_flops, "rows": rows, "ms": ms,
                     "peak": peak, "live": live_bytes(model, optimizer), "tokens": step.inputs["input_ids"].shape[1]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both models")
    parser.add_argument("--llm", choices=["small", "smollm2"], default="small",
                        help="the language model: the small preset's, or SmolLM2-135M's architecture")
    parser.add_argument("--fusion-attention", choices=["sdpa", "eager"], default=None,
                        help="the hybrid fusion's attention (default: its config's: eager unless set)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, earth, llava = build(args.llm)
    if args.fusion_attention:
        earth.config.hybrid_fusion_config._attn_implementation = args.fusion_attention
    data = batches(config, args.batch)
    text = config.text_config
    print(f"preset=small, LLM: hidden={text.hidden_size} layers={text.num_hidden_layers} vocab={text.vocab_size}; "
          f"visual tokens={config.num_image_tokens}; batch={args.batch}; fp32; "
          f"torch_threads={torch.get_num_threads()}; "
          f"median of {args.repeats} interleaved steps after 1 warm-up; fusion attention: "
          f"{earth.config.hybrid_fusion_config._attn_implementation}")
    models = {"EarthGPT-X": (earth, EARTH_MODULES), "LLaVA": (llava, LLAVA_MODULES)}
    with tempfile.TemporaryDirectory() as traces:
        results = {mix: measure(mix, models, data, args.repeats, traces) for mix in MIXES}
    print("\n| mix | tokens | EarthGPT-X step (ms) | LLaVA step (ms) | ratio | step GFLOP, EarthGPT-X / LLaVA | "
          "ratio | "
          "step peak MB, EarthGPT-X / LLaVA | ratio | live before the step, MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mix, r in results.items():
        e, l = r["EarthGPT-X"], r["LLaVA"]
        print(f"| {mix} | {e['tokens']} | {e['time'] * 1e3:.0f} | {l['time'] * 1e3:.0f} | "
              f"{e['time'] / l['time']:.2f} | "
              f"{e['flops'] / 1e9:.1f} / {l['flops'] / 1e9:.1f} | {e['flops'] / l['flops']:.2f} | "
              f"{e['peak'] / 2**20:.0f} / {l['peak'] / 2**20:.0f} | {e['peak'] / l['peak']:.2f} | "
              f"{e['live'] / 2**20:.0f} / {l['live'] / 2**20:.0f} |")
    for mix, r in results.items():
        print_breakdown(mix, r["EarthGPT-X"], r["LLaVA"])
    print("\n" + " ".join(f"{mix}_step_ratio={r['EarthGPT-X']['time'] / r['LLaVA']['time']:.3f} "
                          f"{mix}_flop_ratio={r['EarthGPT-X']['flops'] / r['LLaVA']['flops']:.3f}"
                          for mix, r in results.items()))


if __name__ == "__main__":
    main()
