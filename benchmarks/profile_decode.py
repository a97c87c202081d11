"""Where batch-1 decode time goes: `torch.profiler` over the decode steps of EarthGPT-X and of LLaVA with the same
language model, as `bench_generation.py` builds and times them (its builders, imported).

    python benchmarks/profile_decode.py [--new-tokens 16] [--repeats 3] [--threads 2] [--top 12]

Decode per token covers the steps bench_generation's (generate N + 1 tokens - generate 1 token) / N covers, timed
directly: a `generate` of N + 1 tokens is timed (and profiled) from the end of its prefill (the first call of its
logits processors) to its end, over N. Unprofiled: the median of `--repeats` such runs after a warm-up; profiled: one
run after a warm-up, every operator's self CPU time divided by N. Operators are grouped into
- matmul: aten::mm, addmm, bmm, matmul, linear (self time: the GEMM/GEMV kernels);
- attention: the scaled-dot-product-attention kernels;
- other operators: norms, activations, rotary embedding, cat/copy/index, the logits processors' ops, ...;
- outside operators: the profiled wall time per token minus all operators' self time, i.e. Python (transformers'
  modules, `generate`'s loop) and the profiler's own cost.

Against it, two references measured in the same run: the decode bound (the language model's weight bytes over the
memory bandwidth of a 512 MB copy, as bench_generation computes it) and the pure weight-reading matmuls: one
`F.linear` of a single token through every Linear weight of the language model and the LM head (median of
`--repeats`), i.e. what the matmuls of one decode step cost with nothing around them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.nn import functional as F
from torch.profiler import ProfilerActivity, profile
from transformers import LogitsProcessor, LogitsProcessorList

from bench_generation import (  # noqa: E402 (benchmarks/, on sys.path as a script)
    SMOLLM2_135M,
    build_models,
    earth_inputs,
    llava_inputs,
    llm_weight_bytes,
    memory_bandwidth,
)
from timing import median_seconds  # noqa: E402

MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"}


def is_attention(name: str) -> bool:
    return "scaled_dot_product" in name or "flash_attention" in name


class _StartAtFirstToken(LogitsProcessor):
    """Notes the time (and starts `profiler`, if given) when `generate` first asks for logits processing, i.e. right
    after the prefill."""

    def __init__(self, profiler=None):
        self.profiler, self.start = profiler, None

    def __call__(self, input_ids, scores):
        if self.start is None:
            if self.profiler is not None:
                self.profiler.start()
            self.start = time.perf_counter()
        return scores


def _generate_decode_seconds(model, inputs: dict, new_tokens: int, gen: dict, profiler=None) -> float:
    """Seconds per token of the `new_tokens` steps after the prefill of a `generate` of `new_tokens + 1` tokens."""
    starter = _StartAtFirstToken(profiler)
    model.generate(**inputs, max_new_tokens=new_tokens + 1, min_new_tokens=new_tokens + 1,
                   logits_processor=LogitsProcessorList([starter]), **gen)
    seconds = (time.perf_counter() - starter.start) / new_tokens
    if profiler is not None:
        profiler.stop()
    return seconds


def decode_profile(model, inputs: dict, new_tokens: int, gen: dict) -> dict:
    """Per decode token: each operator's self seconds and calls, and the profiled wall seconds, from a `generate` of
    `new_tokens + 1` tokens profiled from the end of its prefill to its end (after one warm-up): `new_tokens` decode
    steps."""
    _generate_decode_seconds(model, inputs, new_tokens, gen)  # warm-up
    profiler = profile(activities=[ProfilerActivity.CPU])
    wall = _generate_decode_seconds(model, inputs, new_tokens, gen, profiler)
    ops = {e.key: (e.self_cpu_time_total / 1e6 / new_tokens, e.count / new_tokens) for e in profiler.key_averages()}
    groups = {"matmul": 0.0, "attention": 0.0, "other operators": 0.0}
    for name, (sec, _) in ops.items():
        groups["matmul" if name in MATMUL else "attention" if is_attention(name) else "other operators"] += sec
    groups["outside operators (Python, generate, profiler)"] = wall - sum(groups.values())
    return {"ops": ops, "wall": wall, "groups": groups}


def weight_matmul_seconds(model, repeats: int) -> float:
    """One token through every Linear weight of the language model and the LM head, nothing else."""
    weights = [m.weight for m in model.model.language_model.modules() if isinstance(m, torch.nn.Linear)]
    weights.append(model.lm_head.weight)
    tokens = [torch.randn(1, 1, w.shape[1]) for w in weights]
    return median_seconds(lambda: [F.linear(x, w) for x, w in zip(tokens, weights)], repeats)


def decode_seconds(model, inputs: dict, new_tokens: int, gen: dict, repeats: int) -> float:
    """The same steps unprofiled: median over `repeats` (after one warm-up) of the seconds per token after the
    prefill (less sensitive to other work on the machine than bench_generation's difference of two medians)."""
    samples = [_generate_decode_seconds(model, inputs, new_tokens, gen) for _ in range(repeats + 1)][1:]
    return statistics.median(samples)


def print_report(results: dict, config, bandwidth: float, args) -> None:
    """The operator tables, the per-token groups against the bound, then the key=value line."""
    e, l = results["EarthGPT-X"], results["LLaVA"]
    text = config.text_config
    print(f"LLM: {text.model_type} hidden={text.hidden_size} layers={text.num_hidden_layers} "
          f"heads={text.num_attention_heads}/{text.num_key_value_heads}; batch 1, fp32, "
          f"torch_threads={torch.get_num_threads()}; N={args.new_tokens}; memory bandwidth {bandwidth / 1e9:.2f} GB/s")
    print()
    print(f"Top {args.top} operators by self CPU time per decode token (EarthGPT-X's order):")
    print()
    print("| operator | EarthGPT-X ms/token | calls/token | LLaVA ms/token | calls/token |")
    print("|---|---:|---:|---:|---:|")
    for op, (sec, calls) in sorted(e["ops"].items(), key=lambda kv: -kv[1][0])[:args.top]:
        l_sec, l_calls = l["ops"].get(op, (0.0, 0.0))
        print(f"| {op} | {sec * 1e3:.2f} | {calls:.0f} | {l_sec * 1e3:.2f} | {l_calls:.0f} |")
    print()
    print("Largest excess of EarthGPT-X over LLaVA, per operator (what EarthGPT-X's decode step adds):")
    print()
    print("| operator | EarthGPT-X - LLaVA, ms/token | calls/token, EarthGPT-X / LLaVA |")
    print("|---|---:|---:|")
    excess = {op: sec - l["ops"].get(op, (0.0, 0.0))[0] for op, (sec, _) in e["ops"].items()}
    for op, extra in sorted(excess.items(), key=lambda kv: -kv[1])[:6]:
        print(f"| {op} | {extra * 1e3:.2f} | {e['ops'][op][1]:.0f} / {l['ops'].get(op, (0.0, 0.0))[1]:.0f} |")
    print()
    print("| per decode token | EarthGPT-X, ms | share | LLaVA, ms | share |")
    print("|---|---:|---:|---:|---:|")
    for group in e["groups"]:
        print(f"| {group} | {e['groups'][group] * 1e3:.2f} | {100 * e['groups'][group] / e['wall']:.0f} % | "
              f"{l['groups'][group] * 1e3:.2f} | {100 * l['groups'][group] / l['wall']:.0f} % |")
    print(f"| **profiled decode per token** | **{e['wall'] * 1e3:.2f}** | 100 % | **{l['wall'] * 1e3:.2f}** | 100 % |")
    print(f"| decode per token, unprofiled (median of {args.repeats} runs) | {e['decode'] * 1e3:.2f} | | "
          f"{l['decode'] * 1e3:.2f} | |")
    print(f"| pure weight matmuls of one token (F.linear over every LLM weight) | {e['pure'] * 1e3:.2f} | | "
          f"{l['pure'] * 1e3:.2f} | |")
    print(f"| decode bound (weight bytes / bandwidth) | {e['bound'] * 1e3:.2f} | | {l['bound'] * 1e3:.2f} | |")
    print()
    half = 2 * e["bound"]  # the time per token at 50 % of the bound
    matmul = e["groups"]["matmul"] * e["decode"] / e["wall"]  # the profiled share, at the unprofiled speed
    print(f"decode_fraction_of_bound={e['bound'] / e['decode']:.3f} "
          f"llava_decode_fraction_of_bound={l['bound'] / l['decode']:.3f} "
          f"pure_matmul_fraction_of_bound={e['bound'] / e['pure']:.3f} "
          f"matmul_share={e['groups']['matmul'] / e['wall']:.3f} "
          f"llava_matmul_share={l['groups']['matmul'] / l['wall']:.3f} "
          f"half_bound_ms={half * 1e3:.2f} non_matmul_ms={(e['decode'] - matmul) * 1e3:.2f} "
          f"non_matmul_budget_at_half_bound_ms={(half - matmul) * 1e3:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--new-tokens", type=int, default=16, help="N of the decode difference")
    parser.add_argument("--repeats", type=int, default=3, help="median of the unprofiled timings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="operators listed")
    parser.add_argument("--text-config", type=json.loads, default=None,
                        help="the language model's config as JSON (with model_type); default SmolLM2-135M's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, earth, llava, images_per_sample = build_models(args.text_config or SMOLLM2_135M)
    gen = dict(do_sample=False, pad_token_id=config.text_config.pad_token_id, suppress_tokens=[config.pix_token_id])
    models = {"EarthGPT-X": (earth, earth_inputs(config, 1, 1)),
              "LLaVA": (llava, llava_inputs(config, llava.config, 1, images_per_sample, 1))}
    with torch.no_grad():
        bandwidth = memory_bandwidth(max(args.repeats, 3))
        results = {}
        for name, (model, inputs) in models.items():
            results[name] = decode_profile(model, inputs, args.new_tokens, gen)
            results[name]["decode"] = decode_seconds(model, inputs, args.new_tokens, gen, args.repeats)
            results[name]["pure"] = weight_matmul_seconds(model, max(args.repeats, 5) * 4)
            results[name]["bound"] = llm_weight_bytes(model) / bandwidth
    print_report(results, config, bandwidth, args)


if __name__ == "__main__":
    main()
