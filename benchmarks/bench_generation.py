"""Generation speed of EarthGPT-X against transformers' `LlavaForConditionalGeneration` built in the same run, and
against the memory-bandwidth bound of the language model.

    python benchmarks/bench_generation.py [--quick] [--repeats 7] [--new-tokens 64] [--threads 2]
                                          [--text-config JSON] [--compile]

`--quick` (3 repeats, N=16) takes about 2 minutes on the project's 2-core CPU, the default (7 repeats, N=64) about 5.

Both models get the same language model configuration (SmolLM2-135M's architecture by default, `--text-config` for
another `model_type: llama`-style dict), random weights (`torch.manual_seed`, no download), fp32:

- EarthGPT-X: `EarthGPTXConfig.from_preset("small", text_config=..., base_vocab_size=49152, max_regions=16)`, i.e. the
  `small` towers (DINOv2, ConvNeXt, spatial ViT, hybrid fusion, SAM) with that LLM; 5 views of 112x112 give
  `config.num_image_tokens` = 320 visual tokens.
- LLaVA: a CLIP vision tower as wide and deep as the preset's DINOv2 (112x112 images, patch 14:
  `vision_feature_select_strategy="default"` drops CLS, so 64 tokens per image) fed 5 images per sample (the way
  LLaVA takes several images), i.e. the same 320 visual tokens, through a real forward with `pixel_values`.

The sequences are built by hand with the processor's layout (`<s> <image>*320 <Region 1><region_feat> text` for
EarthGPT-X); LLaVA's row has two ordinary text tokens where EarthGPT-X has `<Region 1><region_feat>`, so both rows have
the same length and the same prompt text. Decoding is greedy with `min_new_tokens = max_new_tokens` (fixed lengths),
and `[PIX]` is suppressed for both models (`suppress_tokens`, so random weights never trigger SAM's mask decoding and
both models run the same logits processors). EarthGPT-X generates with `sam_pixel_values` and
`return_dict_in_generate=True`, i.e. with its per-step `[PIX]` state collection on.

Measured, median of `--repeats` after one warm-up (`timing.median_seconds`), for batch 1 and batch 8:
- prefill = the time of `generate` with 1 new token (visual encoding + prefill + one greedy step);
- decode per token = (time of N+1 new tokens - time of 1 new token) / N;
- EarthGPT-X prefill with 16 prompts against 1 prompt (batch 1; the 16-prompt row is 30 tokens longer);
- the decode bound: the language model's weight bytes (its parameters with the embedding, tied lm_head counted once,
  fp32) divided by the memory bandwidth measured in this run (`dst.copy_(src)` of 512 MB: bytes read + written per
  second); the fraction reached is bound time per token / measured batch-1 decode time per token.

- with `--compile` (issue 30): decode per token at batch 1 with the static cache, EarthGPT-X compiled
  (`torch.compile(model.forward)`) against uncompiled, and against LLaVA compiled the same way (`compiled_decode`).
- a follow-up turn against the first turn, time to first token (batch 1, 1 prompt): the first turn is the prefill
  above; the follow-up continues a conversation whose first turn answered 8 tokens, with a question as long as the
  first one (`EOS` + the same 16 text ids), through `generate(..., **first.followup_kwargs(keep=...))`: the KV cache,
  the region features and the SAM embedding are reused, the visual inputs are not given (the cache is cropped back to
  the first turn before every repeat).
"""

from __future__ import annotations

import argparse
import json

import torch
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from timing import median_seconds  # noqa: E402 (benchmarks/, on sys.path as a script)

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration

BASE_VOCAB_SIZE = 49152  # SmolLM2's tokenizer
SMOLLM2_135M = {  # HuggingFaceTB/SmolLM2-135M's architecture
    "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
    "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True, "rope_theta": 100000.0, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
}
TEXT_IDS = list(range(100, 116))  # the prompt text: 16 ordinary ids, the same for both models
BATCHES = (1, 8)


def llava_like(config) -> tuple[LlavaForConditionalGeneration, int]:
    """transformers' Llava with `config`'s language model and as many visual tokens: a CLIP tower as wide and deep as
    its DINOv2 on `tile_size` images (64 tokens each without CLS in `small`), fed `config.num_views` images per
    sample. Returns the model (random weights, seed 0) and the images per sample."""
    dino = config.dino_config
    patch = int(dino.patch_size)
    per_image = (config.tile_size // patch) ** 2
    if config.num_image_tokens % per_image:
        raise SystemExit(f"{config.num_image_tokens} visual tokens are not a whole number of {per_image}-token "
                         "images.")
    vision = CLIPVisionConfig(hidden_size=dino.hidden_size, intermediate_size=int(dino.hidden_size * dino.mlp_ratio),
                              num_hidden_layers=dino.num_hidden_layers, num_attention_heads=dino.num_attention_heads,
                              image_size=config.tile_size, patch_size=patch)
    llm = config.text_config.to_dict()
    llava_config = LlavaConfig(vision_config=vision, text_config=LlamaConfig(**llm),
                               image_token_id=config.image_token_id, vision_feature_select_strategy="default",
                               vision_feature_layer=-1, image_seq_length=per_image,
                               tie_word_embeddings=config.tie_word_embeddings)
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(llava_config), config.num_image_tokens // per_image


def build_models(text_config: dict):
    torch.manual_seed(0)
    config = EarthGPTXConfig.from_preset("small", text_config=text_config, base_vocab_size=BASE_VOCAB_SIZE,
                                         max_regions=16)
    earth = EarthGPTXForConditionalGeneration(config).eval()
    llava, images_per_sample = llava_like(config)
    return config, earth, llava.eval(), images_per_sample


def earth_inputs(config, batch: int, num_prompts: int) -> dict:
    ids = [config.text_config.bos_token_id] + [config.image_token_id] * config.num_image_tokens
    for i in range(num_prompts):
        ids += [config.region_token_ids[i], config.region_feature_token_id]
    ids += TEXT_IDS
    g = torch.Generator().manual_seed(1)
    views, tile = config.num_views, config.tile_size
    pixel_values = torch.randn(batch, views, 3, tile, tile, generator=g)
    prompt_maps = torch.zeros(batch, views, config.max_regions, tile, tile)  # the processor's dense layout
    for k in range(num_prompts):
        x0 = (3 + 5 * k) % (tile - 12)
        prompt_maps[:, :, k, 2 + k: 20 + k, x0: x0 + 12] = 1.0
    sam = config.grounding_image_size
    input_ids = torch.tensor([ids] * batch)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "pixel_values": pixel_values,
            "convnext_pixel_values": pixel_values * 0.5, "prompt_maps": prompt_maps,
            "sam_pixel_values": torch.randn(batch, 3, sam, sam, generator=g), "return_dict_in_generate": True}


def llava_inputs(config, llava_config, batch: int, images_per_sample: int, num_prompts: int) -> dict:
    filler = [TEXT_IDS[0] + 100 + i for i in range(2 * num_prompts)]  # ordinary tokens in place of the region pairs
    ids = [config.text_config.bos_token_id] + [config.image_token_id] * config.num_image_tokens + filler + TEXT_IDS
    size = llava_config.vision_config.image_size
    g = torch.Generator().manual_seed(1)
    input_ids = torch.tensor([ids] * batch)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
            "pixel_values": torch.randn(batch * images_per_sample, 3, size, size, generator=g),
            "return_dict_in_generate": True}


def llm_weight_bytes(model) -> int:
    """Bytes of the language model's parameters (embedding included, a tied lm_head once)."""
    seen, total = set(), 0
    for module in (model.model.language_model, model.lm_head):
        for p in module.parameters():
            if p.data_ptr() not in seen:
                seen.add(p.data_ptr())
                total += p.numel() * p.element_size()
    return total


def memory_bandwidth(repeats: int, megabytes: int = 512) -> float:
    """Bytes per second of `dst.copy_(src)` (read + write) on a tensor far larger than the caches."""
    src = torch.rand(megabytes * 2**20 // 4)
    dst = torch.empty_like(src)
    seconds = median_seconds(lambda: dst.copy_(src), repeats)
    return 2 * src.numel() * src.element_size() / seconds


def followup_seconds(earth, config, gen: dict, repeats: int) -> tuple[float, int, int]:
    """Time to first token of a follow-up question (as long as the first one) after an 8-token first answer."""
    first = earth.generate(**earth_inputs(config, 1, 1), max_new_tokens=8, min_new_tokens=8, **gen)
    cached = first.sequences.shape[1] - 1
    question = [config.text_config.eos_token_id] + TEXT_IDS
    ids = torch.cat([first.sequences, torch.tensor([question])], dim=1)
    mask = torch.ones_like(ids)
    seconds = median_seconds(lambda: earth.generate(input_ids=ids, attention_mask=mask, max_new_tokens=1,
                                                    return_dict_in_generate=True,
                                                    **first.followup_kwargs(keep=cached), **gen), repeats)
    return seconds, ids.shape[1] - cached, cached


def compiled_decode(earth, llava, config, images_per_sample: int, gen: dict, new_tokens: int, repeats: int) -> dict:
    """Decode per token at batch 1 with the static cache (`cache_implementation="static"`): EarthGPT-X uncompiled,
    EarthGPT-X with `torch.compile(model.forward)`, and LLaVA with `torch.compile(model.forward)`, in this run. Both
    compiled forwards are warmed up (compiled) before timing; EarthGPT-X compiles with graph breaks at its input checks
    (`_can_compile_fullgraph` is not claimed, docs/model.md)."""
    static = {**gen, "cache_implementation": "static"}
    e_in = earth_inputs(config, 1, 1)
    l_in = llava_inputs(config, llava.config, 1, images_per_sample, 1)

    def per_token(model, inputs):
        one = median_seconds(lambda: model.generate(**inputs, max_new_tokens=1, min_new_tokens=1, **static), repeats)
        n = median_seconds(lambda: model.generate(**inputs, max_new_tokens=new_tokens + 1,
                                                  min_new_tokens=new_tokens + 1, **static), repeats)
        return (n - one) / new_tokens

    eager = per_token(earth, e_in)
    earth.forward, llava.forward = torch.compile(earth.forward), torch.compile(llava.forward)
    try:
        return {"eager": eager, "compiled": per_token(earth, e_in), "llava_compiled": per_token(llava, l_in)}
    finally:
        del earth.forward, llava.forward  # the instance attributes go; the classes' methods are back


def print_compiled(compiled: dict, repeats: int | None = None, new_tokens: int | None = None) -> None:
    if repeats is not None:
        print(f"torch_threads={torch.get_num_threads()}; N={new_tokens}; median of {repeats} after 1 warm-up")
        print("| measurement | EarthGPT-X | LLaVA | ratio |\n|---|---:|---:|---:|")
    print(f"| batch 1, static cache, decode per token, compiled / uncompiled, ms | {compiled['compiled'] * 1e3:.2f}"
          f" / {compiled['eager'] * 1e3:.2f} | | {compiled['compiled'] / compiled['eager']:.3f} |")
    print(f"| batch 1, static cache, decode per token, both compiled, ms | {compiled['compiled'] * 1e3:.2f} | "
          f"{compiled['llava_compiled'] * 1e3:.2f} | {compiled['compiled'] / compiled['llava_compiled']:.3f} |")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats and new tokens (under 3 minutes)")
    parser.add_argument("--repeats", type=int, default=None, help="default 7, with --quick 3")
    parser.add_argument("--new-tokens", type=int, default=None, help="N of the decode difference; default 64, "
                                                                     "with --quick 16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true",
                        help="also decode per token (batch 1, static cache) compiled against uncompiled, and against "
                             "LLaVA compiled (torch >= 2.7; compiling takes minutes on 2 cores)")
    parser.add_argument("--compile-only", action="store_true", help="only the --compile rows")
    parser.add_argument("--text-config", type=json.loads, default=None,
                        help="the language model's config as JSON (with model_type); default SmolLM2-135M's")
    args = parser.parse_args()
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.new_tokens = args.new_tokens or (16 if args.quick else 64)
    return args


@torch.no_grad()
def measure(earth, llava, config, images_per_sample: int, gen: dict, args) -> dict:
    """Every timing of the table: prefill and decode per batch, 16 prompts against 1, the follow-up turn, the memory
    bandwidth and (with `--compile`) the compiled decode."""
    repeats, new_tokens = args.repeats, args.new_tokens

    def timed(model, inputs, n):
        return median_seconds(lambda: model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, **gen), repeats)

    results = {}
    bandwidth = memory_bandwidth(max(repeats, 3))
    for batch in BATCHES:
        e_in = earth_inputs(config, batch, 1)
        l_in = llava_inputs(config, llava.config, batch, images_per_sample, 1)
        assert e_in["input_ids"].shape == l_in["input_ids"].shape
        e1, l1 = timed(earth, e_in, 1), timed(llava, l_in, 1)
        en, ln = timed(earth, e_in, new_tokens + 1), timed(llava, l_in, new_tokens + 1)
        results[batch] = {"seq": e_in["input_ids"].shape[1], "e_prefill": e1, "l_prefill": l1,
                          "e_decode": (en - e1) / new_tokens, "l_decode": (ln - l1) / new_tokens}
    e16_in = earth_inputs(config, 1, 16)
    p1 = timed(earth, earth_inputs(config, 1, 1), 1)
    p16 = timed(earth, e16_in, 1)
    followup, followup_tokens, cached = followup_seconds(earth, config, gen, repeats)
    compiled = compiled_decode(earth, llava, config, images_per_sample, gen, new_tokens, repeats) \
        if args.compile else None
    return {"results": results, "bandwidth": bandwidth, "seq16": e16_in["input_ids"].shape[1], "p1": p1,
            "p16": p16, "followup": followup, "followup_tokens": followup_tokens, "cached": cached,
            "compiled": compiled}


def print_table(m: dict, earth, llava, config, images_per_sample: int, args) -> None:
    """The measurements as a Markdown table, then the key=value line."""
    results, bandwidth, p1, p16, followup = m["results"], m["bandwidth"], m["p1"], m["p16"], m["followup"]
    e_bytes, l_bytes = llm_weight_bytes(earth), llm_weight_bytes(llava)
    bound = e_bytes / bandwidth
    b1 = results[1]
    fraction = bound / b1["e_decode"]
    text = config.text_config
    print(f"LLM: {text.model_type} hidden={text.hidden_size} layers={text.num_hidden_layers} "
          f"heads={text.num_attention_heads}/{text.num_key_value_heads} vocab={text.vocab_size}; "
          f"visual tokens={config.num_image_tokens} (LLaVA: {images_per_sample} images x "
          f"{config.num_image_tokens // images_per_sample}); text tokens={len(TEXT_IDS)}; fp32; "
          f"torch_threads={torch.get_num_threads()}; N={args.new_tokens}; median of {args.repeats} after 1 warm-up")
    print()
    print("| measurement | EarthGPT-X | LLaVA | ratio |")
    print("|---|---:|---:|---:|")
    for batch, r in results.items():
        print(f"| batch {batch}, prefill ({r['seq']} tokens, 1 prompt), ms | {r['e_prefill'] * 1e3:.1f} | "
              f"{r['l_prefill'] * 1e3:.1f} | {r['e_prefill'] / r['l_prefill']:.3f} |")
        print(f"| batch {batch}, decode per token, ms | {r['e_decode'] * 1e3:.2f} | {r['l_decode'] * 1e3:.2f} | "
              f"{r['e_decode'] / r['l_decode']:.3f} |")
    print(f"| batch 1, prefill 16 prompts ({m['seq16']} tokens) / 1 prompt, ms | "
          f"{p16 * 1e3:.1f} / {p1 * 1e3:.1f} | | {p16 / p1:.3f} |")
    print(f"| LLM weight bytes (fp32, embedding incl., tied head once), MB | {e_bytes / 1e6:.1f} | "
          f"{l_bytes / 1e6:.1f} | |")
    print(f"| memory bandwidth (512 MB copy, read + write), GB/s | {bandwidth / 1e9:.2f} | | |")
    print(f"| decode bound per token (weight bytes / bandwidth), ms | {bound * 1e3:.2f} | | |")
    print(f"| batch 1 decode, fraction of the bound | {fraction:.3f} | {l_bytes / bandwidth / b1['l_decode']:.3f} | |")
    print(f"| batch 1, follow-up turn ({m['followup_tokens']} new tokens, {m['cached']} cached) / first turn, time "
          f"to first token, ms | {followup * 1e3:.1f} / {p1 * 1e3:.1f} | | {followup / p1:.3f} |")
    if m["compiled"]:
        print_compiled(m["compiled"])
    print()
    r8 = results[8]
    print(f"decode_ratio_vs_llava={b1['e_decode'] / b1['l_decode']:.3f} "
          f"decode_ratio_vs_llava_b8={r8['e_decode'] / r8['l_decode']:.3f} "
          f"prefill_ratio_vs_llava={b1['e_prefill'] / b1['l_prefill']:.3f} "
          f"prefill_ratio_vs_llava_b8={r8['e_prefill'] / r8['l_prefill']:.3f} "
          f"prefill_16_vs_1_prompts={p16 / p1:.3f} decode_fraction_of_bound={fraction:.3f} "
          f"followup_vs_first_turn={followup / p1:.3f}")


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    config, earth, llava, images_per_sample = build_models(args.text_config or SMOLLM2_135M)
    gen = dict(do_sample=False, pad_token_id=config.text_config.pad_token_id, suppress_tokens=[config.pix_token_id])
    if args.compile_only:
        with torch.no_grad():
            compiled = compiled_decode(earth, llava, config, images_per_sample, gen, args.new_tokens, args.repeats)
        print_compiled(compiled, args.repeats, args.new_tokens)
        return
    print_table(measure(earth, llava, config, images_per_sample, gen, args), earth, llava, config, images_per_sample,
                args)


if __name__ == "__main__":
    main()
