"""Tiny-model forward and generate timings, against the bare language model measured in the same run.

    python benchmarks/bench_model.py [--preset tiny] [--repeats 20]

The reference is the preset's language model alone (`LlamaForCausalLM`) on the same sequence length, so the ratio
shows what the visual towers, fusion and pixel perception add.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from modeling.helpers import left_pad, sample_ids, visual_inputs  # noqa: E402

from timing import median_seconds  # noqa: E402 (benchmarks/, on sys.path as a script)

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny", choices=["tiny", "small"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = EarthGPTXConfig.from_preset(args.preset)
    model = EarthGPTXForConditionalGeneration(config).eval()
    reference = AutoModelForCausalLM.from_config(config.text_config).eval()
    rows = [sample_ids(config, 2, list(range(10, 30)))[0] for _ in range(args.batch)]
    ids, mask = left_pad(rows, 0)
    vis = visual_inputs(config, [2] * args.batch)
    pix = config.pix_token_id

    def force_pix(input_ids, scores):
        if input_ids.shape[1] - ids.shape[1] == 2:
            scores[:] = -float("inf")
            scores[:, pix] = 0
        return scores

    with torch.no_grad():
        t_forward = median_seconds(lambda: model(input_ids=ids, attention_mask=mask, **vis), args.repeats)
        t_ref_forward = median_seconds(lambda: reference(input_ids=ids, attention_mask=mask), args.repeats)
        gen_kwargs = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                          pad_token_id=0)
        t_generate = median_seconds(lambda: model.generate(input_ids=ids, attention_mask=mask,
                                                           return_dict_in_generate=True,
                                                  logits_processor=[force_pix], **vis, **gen_kwargs), args.repeats)
        t_ref_generate = median_seconds(lambda: reference.generate(input_ids=ids, attention_mask=mask, **gen_kwargs),
                               args.repeats)
    print(f"preset={args.preset} batch={args.batch} prompt_tokens={ids.shape[1]} new_tokens={args.new_tokens} "
          f"torch_threads={torch.get_num_threads()}")
    print("| step | EarthGPT-X (ms) | language model alone (ms) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| forward (prefill, with views, prompts, SAM) | {1e3 * t_forward:.1f} | {1e3 * t_ref_forward:.1f} | "
          f"{t_forward / t_ref_forward:.2f} |")
    print(f"| generate {args.new_tokens} tokens (one [PIX] -> mask) | {1e3 * t_generate:.1f} | "
          f"{1e3 * t_ref_generate:.1f} | {t_generate / t_ref_generate:.2f} |")


if __name__ == "__main__":
    main()
