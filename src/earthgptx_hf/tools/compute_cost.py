"""FLOPs of one request, measured on the `meta` device, and LLaVA-1.5-13B's on the same numbers.

Measured, not derived by hand: `torch.utils.flop_counter.FlopCounterMode` runs the real modules' forward passes on
`meta` tensors of the request's shapes (no memory, no arithmetic) and counts what each dispatched matmul, convolution
and attention kernel would compute, 1 multiply-add = 2 FLOPs, per module. Its rules, stated once here:
- elementwise work (norms, activations, softmax, interpolation, the mask pooling's weights) is not counted;
- attention is counted over the full S x S square, causal or not (a causal kernel skips about half of it).

A request is one image at the preset's canvas (448x448 for `paper`: a global view and 2x2 tiles of 224) with
`num_prompts` visual prompts, `text_tokens` of text and `num_pix` `[PIX]` tokens, prefilled in one pass:
`<s> <image>*N_v (<Region i><region_feat>)*num_prompts text`, the processor's layout. The prompt maps always have
`max_regions` channels, so the number of prompts changes only the sequence length (2 tokens per prompt).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

# LLaVA-1.5-13B (llava-hf/llava-1.5-13b-hf): CLIP ViT-L/14 at 336 (openai/clip-vit-large-patch14-336), the
# penultimate layer's 576 patch tokens, a 2-layer GELU projector, Llama-2-13B (vocabulary 32,000 + 64 padding rows).
LLAVA_1_5_13B = {
    "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                      "num_attention_heads": 16, "image_size": 336, "patch_size": 14, "projection_dim": 768,
                      "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
    "text_config": {"hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
                    "num_attention_heads": 40, "num_key_value_heads": 40, "vocab_size": 32064,
                    "max_position_embeddings": 4096, "rms_norm_eps": 1e-5},
    "image_token_id": 32000, "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
    "projector_hidden_act": "gelu", "image_seq_length": 576,
}

@dataclass(frozen=True)
class Request:
    """One image with its prompts and question, prefilled at once (see the module docstring)."""

    num_prompts: int = 16
    text_tokens: int = 64
    num_pix: int = 1

    def __post_init__(self):
        for name in ("num_prompts", "text_tokens", "num_pix"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Request.{name}={value!r} must be an integer at least 0.")


class _Calls(nn.Module):
    """Runs `calls` as the forward of a module that holds `root`, so that FlopCounterMode's module tracker names
    every submodule by its path under `root` (it names a tree when its root's forward starts)."""

    def __init__(self, root: nn.Module, calls: Sequence[Callable[[], object]]):
        super().__init__()
        self.root = root
        self.calls = calls

    def forward(self):
        for call in self.calls:
            call()


def flops_by_module(root: nn.Module, calls: Sequence[Callable[[], object]]) -> Counter:
    """FLOPs of running `calls` (in one counting pass), per module path under `root` (each module's count includes
    its submodules'; calling a module twice adds up); the key `""` holds the total."""
    counter = FlopCounterMode(display=False, depth=None)
    with torch.no_grad(), counter:
        _Calls(root, calls)()
    prefix = f"{_Calls.__name__}.root"
    counts = Counter({"": counter.get_total_flops()})
    for name, per_op in counter.get_flop_counts().items():
        if name == prefix or name.startswith(prefix + "."):
            counts[name[len(prefix) + 1:]] += sum(per_op.values())
    return counts


def sum_paths(flops: Counter, root: nn.Module, paths: Sequence[str]) -> int:
    """FLOPs inside the modules at `paths` under `root`. FlopCounterMode credits a module only while its forward
    runs; a module whose methods were called instead (`get_image_features`, `encode_image`) is credited through its
    submodules."""

    def inside(path: str, module: nn.Module) -> int:
        if path in flops:
            return flops[path]
        return sum(inside(f"{path}.{name}" if path else name, child) for name, child in module.named_children())

    total = 0
    for path in paths:
        try:
            module = root.get_submodule(path)
        except AttributeError:
            continue  # a component this preset does not build (e.g. no region position embedding)
        total += inside(path, module)
    return total


def earthgptx_sequence_length(config, request: Request) -> int:
    """Prefill length: `<s>`, the visual tokens, two tokens per prompt, the text."""
    if request.num_prompts > config.max_regions:
        raise ValueError(f"Request.num_prompts={request.num_prompts} exceeds the preset's max_regions "
                         f"({config.max_regions}).")
    return 1 + config.num_image_tokens + 2 * request.num_prompts + request.text_tokens


def _prefill_calls(language_model: nn.Module, lm_head: nn.Module, length: int, hidden: int):
    """The decoder over `length` positions (with a KV cache, as `generate` runs it) and the LM head on the last."""
    return [lambda: language_model(inputs_embeds=torch.empty(1, length, hidden), use_cache=True),
            lambda: lm_head(torch.empty(1, 1, hidden))]


def earthgptx_request_flops(model, request: Request = Request()) -> Counter:
    """FLOPs per module path of `model` (an `EarthGPTXForConditionalGeneration` on the meta device) for one request:
    visual encoding (`get_image_features` with prompt maps), the LLM prefill, SAM's grounding encoder on the SAM view
    and R_lp + pixel decoder once per `[PIX]`."""
    config = model.config
    views, tile, hidden = config.num_views, config.tile_size, config.text_config.hidden_size
    sam, perception = config.grounding_image_size, model.pixel_perception
    embeddings = []
    calls = [
        lambda: model.model.get_image_features(torch.empty(1, views, 3, tile, tile), torch.empty(1, views, 3, tile, tile),
                                               torch.empty(1, views, config.max_regions, tile, tile)),
        *_prefill_calls(model.model.language_model, model.lm_head, earthgptx_sequence_length(config, request), hidden),
        lambda: embeddings.append(perception.encode_image(torch.empty(1, 3, sam, sam))),
        *[lambda: perception.decode_masks([torch.empty(1, hidden)], embeddings[0], config.multimask_output)] *
        request.num_pix,
    ]
    with torch.device("meta"):
        return flops_by_module(model, calls)


def build_meta_llava_1_5_13b() -> LlavaForConditionalGeneration:
    """LLaVA-1.5-13B as transformers builds it (`LLAVA_1_5_13B`), on the meta device."""
    spec = dict(LLAVA_1_5_13B)
    config = LlavaConfig(vision_config=CLIPVisionConfig(**spec.pop("vision_config")),
                         text_config=LlamaConfig(**spec.pop("text_config")), **spec)
    with torch.device("meta"):
        return LlavaForConditionalGeneration(config)


def llava_sequence_length(llava, request: Request) -> int:
    """`<s>`, the image's tokens, the same text (LLaVA has no region tokens)."""
    return 1 + llava.config.image_seq_length + request.text_tokens


def llava_request_flops(llava, request: Request = Request()) -> Counter:
    """FLOPs per module path of LLaVA for the same request: one image, the same text, prefilled."""
    size = llava.config.vision_config.image_size
    hidden = llava.config.text_config.hidden_size
    calls = [lambda: llava.model.get_image_features(pixel_values=torch.empty(1, 3, size, size)),
             *_prefill_calls(llava.model.language_model, llava.lm_head, llava_sequence_length(llava, request), hidden)]
    with torch.device("meta"):
        return flops_by_module(llava, calls)


def decoder_parameters(language_model: nn.Module) -> int:
    """Parameters a token's forward multiplies by: the decoder's, without the input embedding (a lookup)."""
    embedding = language_model.get_input_embeddings().weight
    return sum(p.numel() for p in language_model.parameters() if p is not embedding)


def _scale(total: float) -> tuple[str, float]:
    """The unit a report's numbers are printed in: GFLOP at paper scale, MFLOP for the CPU presets."""
    return ("GFLOP", 1e9) if total >= 1e11 else ("MFLOP", 1e6)


def _component_rows(model, flops: Counter, components, request: Request, length: int, g) -> list[str]:
    """The component table's rows: each component's FLOPs and share, what lies outside them, the total."""
    total = flops[""]
    top_level = 0
    lines = []
    for name, paths in components:
        value = sum_paths(flops, model, paths)
        if not name.startswith(" "):
            top_level += value
        if name == "language model":
            name = f"language model (prefill of {length} tokens, LM head on the last)"
        elif name.strip().startswith("of which pixel decoder"):
            name += f" (x {request.num_pix} [PIX])"
        lines.append(f"| {name} | {g(value)} | {100 * value / total:.1f} % |")
    lines.append(f"| outside the components (mask pooling) | {g(total - top_level)} | "
                 f"{100 * (total - top_level) / total:.1f} % |")
    lines.append(f"| **total** | **{g(total)}** | 100 % |")
    return lines


def _llava_comparison(model, flops: Counter, components, request: Request, length: int, unit: str, g) -> list[str]:
    """The comparison with LLaVA-1.5-13B, measured the same way: visual encoding, LLM prefill and mask head."""
    llava = build_meta_llava_1_5_13b()
    llava_flops = llava_request_flops(llava, request)
    llava_length = llava_sequence_length(llava, request)
    total = flops[""]
    lm_paths = dict(components)["language model"]
    sam_paths = dict(components)["SAM"] + dict(components)["language-to-pixel projection R_lp (Eq. 13)"]
    ours = {"language model": sum_paths(flops, model, lm_paths), "SAM + R_lp": sum_paths(flops, model, sam_paths)}
    ours["visual encoding"] = total - ours["language model"] - ours["SAM + R_lp"]
    theirs = {"visual encoding": sum_paths(llava_flops, llava, ("model.vision_tower", "model.multi_modal_projector")),
              "language model": sum_paths(llava_flops, llava, ("model.language_model", "lm_head")), "SAM + R_lp": 0}
    lines = ["### Against LLaVA-1.5-13B (built on the meta device with transformers, measured the same way)", "",
             f"LLaVA-1.5-13B: CLIP ViT-L/14-336 on one 336x336 image ({llava.config.image_seq_length} tokens), the "
             f"same {request.text_tokens} text tokens, prefill of {llava_length} tokens on Llama-2-13B.", "",
             f"| part | EarthGPT-X {unit} | LLaVA-1.5-13B {unit} | ratio |", "|---|---:|---:|---:|"]
    rows = (("visual encoding (towers, fusion, projectors; LLaVA: CLIP + projector)", "visual encoding"),
            (f"LLM prefill ({length} vs {llava_length} tokens)", "language model"), ("SAM + R_lp (mask head)", "SAM + R_lp"))
    for label, key in rows:
        ratio = f"{ours[key] / theirs[key]:.2f}" if theirs[key] else "(LLaVA has none)"
        lines.append(f"| {label} | {g(ours[key])} | {g(theirs[key])} | {ratio} |")
    without_sam = total - ours["SAM + R_lp"]
    lines += [f"| **total** | **{g(total)}** | **{g(llava_flops[''])}** | **{total / llava_flops[''] :.2f}** |",
              f"| total without the mask head | {g(without_sam)} | {g(llava_flops[''])} | "
              f"{without_sam / llava_flops[''] :.2f} |", "",
              f"flops_ratio_vs_llava_1_5_13b={total / llava_flops['']:.2f} "
              f"flops_ratio_vs_llava_1_5_13b_without_mask_head={without_sam / llava_flops['']:.2f}"]
    return lines


def flops_report(model, components: Sequence[tuple[str, Sequence[str]]], request: Request = Request()) -> str:
    """Markdown: EarthGPT-X's FLOPs per component for one request, and the comparison with LLaVA-1.5-13B."""
    config = model.config
    flops = earthgptx_request_flops(model, request)
    length = earthgptx_sequence_length(config, request)
    canvas = "x".join(str(v) for v in config.canvas_size)
    unit, scale = _scale(flops[""])

    def _g(value: float) -> str:
        return f"{value / scale:,.1f}"

    lines = ["## FLOPs of one request (measured with FlopCounterMode on the meta device, 1 multiply-add = 2 FLOPs)",
             "",
             f"One {canvas} image ({config.num_views} views of {config.tile_size}, {config.num_image_tokens} visual "
             f"tokens), {request.num_prompts} prompts ({2 * request.num_prompts} region tokens), {request.text_tokens} "
             f"text tokens: prefill of S = {length} tokens; SAM view {config.grounding_image_size}x"
             f"{config.grounding_image_size}; {request.num_pix} [PIX]. Matmuls, convolutions and attention are counted "
             "(attention over the full S x S); elementwise work is not.", "",
             f"| component | {unit} | share |", "|---|---:|---:|"]
    lines += _component_rows(model, flops, components, request, length, _g)
    per_token = sum_paths(flops, model, dict(components)["language model"]) / length
    params = decoder_parameters(model.model.language_model)
    lines += ["", f"LLM prefill per token: {_g(per_token)} {unit} = {per_token / (2 * params):.3f} x 2 x the decoder's "
                  f"{params:,} parameters (the excess is attention over the {length} positions).", ""]
    lines += _llava_comparison(model, flops, components, request, length, unit, _g)
    return "\n".join(lines)


__all__ = ["LLAVA_1_5_13B", "Request", "build_meta_llava_1_5_13b", "earthgptx_request_flops",
           "earthgptx_sequence_length", "flops_by_module", "flops_report", "llava_request_flops",
           "llava_sequence_length", "sum_paths"]
