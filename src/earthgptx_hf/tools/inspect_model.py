"""Parameter counts of a preset, built on the `meta` device (no memory), per component and per trainable preset.

    python -m earthgptx_hf.tools.inspect_model --preset paper
    python -m earthgptx_hf.tools.inspect_model --preset paper --memory

The towers are checked against the reference architectures as transformers builds them (`REFERENCE_TOWERS`).
`--memory` adds the cost of one request in FLOPs against LLaVA-1.5-13B (`compute_cost`) and the training memory per
trainable preset and under FSDP (`training_memory`), all from the meta-device model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, HfArgumentParser

from .compute_cost import Request, flops_report
from ..models.earthgptx import EarthGPTXConfig, EarthGPTXForConditionalGeneration
from ..training.trainable import trainable_parameter_names
from .training_memory import memory_report, preset_parameters, read_wrap_classes

# The FSDP configuration shipped with the repository (a source checkout; pass --fsdp_config otherwise).
SHIPPED_FSDP_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "accelerate_fsdp.yaml"

# Parameter counts of the reference towers as transformers builds them (paper preset).
REFERENCE_TOWERS = {
    "language model": ("Llama-2-13B (LlamaForCausalLM, vocab 32,000)", 13_015_864_320),
    "DINOv2": ("DINOv2-L/14 (facebook/dinov2-large config, image_size 518)", 304_368_640),
    "ConvNeXt": ("ConvNeXt-L (depths [3,3,27,3], widths [192,384,768,1536])", 196_230_336),
    "SAM": ("SAM ViT-H (facebook/sam-vit-huge config)", 641_090_864),
}

COMPONENTS = (
    # (row name, module path under the model: the mask head is the generation model's, not EarthGPTXModel's)
    ("language model", ("model.language_model", "lm_head")),
    ("DINOv2", ("model.vision_tower.dino",)),
    ("ConvNeXt", ("model.vision_tower.convnext",)),
    ("mixed-encoder channel mix (Eq. 1)", ("model.vision_tower.channel_mix", "model.vision_tower.mix_norm")),
    ("spatial-aware encoder (Eq. 2)", ("model.spatial_aware_encoder",)),
    ("hybrid fusion (Eq. 4-7)", ("model.hybrid_fusion",)),
    ("  of which cross-attention (Eq. 6)", ("model.hybrid_fusion.cross_attention",)),
    ("vision-to-language projector (Eq. 8)", ("model.multi_modal_projector",)),
    ("region projector", ("model.region_projector",)),
    ("region position embedding", ("model.region_position_projector",)),
    ("language-to-pixel projection R_lp (Eq. 13)", ("pixel_perception.text_to_pixel",)),
    ("SAM", ("pixel_perception.grounding_model",)),
    ("  of which grounding encoder G", ("pixel_perception.grounding_model.vision_encoder",)),
    ("  of which pixel decoder P", ("pixel_perception.grounding_model.mask_decoder",)),
)


def count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def build_meta_model(preset: str) -> EarthGPTXForConditionalGeneration:
    config = EarthGPTXConfig.from_preset(preset)
    with torch.device("meta"):
        return EarthGPTXForConditionalGeneration(config)


def component_counts(model: EarthGPTXForConditionalGeneration) -> dict[str, int]:
    counts = {}
    for name, paths in COMPONENTS:
        counts[name] = sum(count(model.get_submodule(p)) if _has(model, p) else 0 for p in paths)
    counts["total"] = count(model)
    return counts


def reference_language_model_count(config: EarthGPTXConfig, base_vocab_size: int) -> int:
    """The language tower as `AutoModelForCausalLM` builds it at the base vocabulary (before the added tokens)."""
    text_config = config.text_config.__class__(**{**config.text_config.to_dict(), "vocab_size": base_vocab_size})
    with torch.device("meta"):
        return count(AutoModelForCausalLM.from_config(text_config))


def lora_trainable_count(model: EarthGPTXForConditionalGeneration, rank: int = 16) -> int:
    """Trainable parameters of the `lora` preset: LoRA A/B matrices plus the fully trained `modules_to_save`."""
    return sum(trained for _, trained in preset_parameters(model, "lora", rank).values())


def _has(model, path: str) -> bool:
    try:
        return model.get_submodule(path) is not None
    except AttributeError:
        return False


def report(preset: str) -> str:
    model = build_meta_model(preset)
    config = model.config
    counts = component_counts(model)
    added = config.text_config.vocab_size - (config.image_token_id)
    base_vocab = config.image_token_id  # special tokens start right after the base vocabulary
    lines = [f"# EarthGPT-X `{preset}` preset (built on the meta device)", "",
             "| component | parameters | reference | check |", "|---|---:|---|---|"]
    for name, _ in COMPONENTS:
        ref, check = "", ""
        if name in REFERENCE_TOWERS:
            ref_name, ref_count = REFERENCE_TOWERS[name]
            tower = reference_language_model_count(config, base_vocab) if name == "language model" else counts[name]
            if preset == "paper":
                ref = f"{ref_name}: {ref_count:,}"
                check = "equal" if tower == ref_count else f"DIFFERS ({tower:,})"
            if name == "language model":
                extra = counts[name] - tower
                check += f" (+{extra:,} for {added} added special-token rows)"
        lines.append(f"| {name} | {counts[name]:,} | {ref} | {check} |")
    lines.append(f"| **total** | **{counts['total']:,}** | | |")
    lines += ["", "| trainable preset | trainable parameters | share |", "|---|---:|---:|"]
    for name, trainable in (
        ("paper", sum(model.get_parameter(n).numel() for n in trainable_parameter_names(model, "paper"))),
        ("lora (r=16)", lora_trainable_count(model)),
        ("full", counts["total"]),
    ):
        lines.append(f"| {name} | {trainable:,} | {100 * trainable / counts['total']:.2f} % |")
    lines += ["", f"visual tokens per image: {config.num_image_tokens} ({config.num_views} views x "
                  f"{config.tokens_per_view}); SAM view {config.grounding_image_size}x{config.grounding_image_size}"]
    return "\n".join(lines)


@dataclass
class InspectArguments:
    preset: str = field(default="paper", metadata={"help": "The model preset to count.",
                                                   "choices": ["paper", "small", "tiny"]})
    memory: bool = field(default=False, metadata={"help": "Also print FLOPs of one request (against LLaVA-1.5-13B), "
                                                          "training memory per trainable preset and under FSDP."})
    num_prompts: int | None = field(default=None, metadata={"help": "--memory: visual prompts of the request "
                                                                     "(default: the preset's max_regions, 16 for paper)."})
    text_tokens: int = field(default=64, metadata={"help": "--memory: text tokens of the request."})
    num_pix: int = field(default=1, metadata={"help": "--memory: [PIX] tokens the mask head decodes."})
    num_gpus: int = field(default=8, metadata={"help": "--memory: GPUs FSDP shards over."})
    fsdp_config: str = field(default=str(SHIPPED_FSDP_CONFIG),
                             metadata={"help": "--memory: the accelerate FSDP config whose wrapping policy is used."})


def memory_sections(args: InspectArguments) -> str:
    """The `--memory` part of the report (FLOPs and training memory) for `args.preset`."""
    model = build_meta_model(args.preset)
    prompts = model.config.max_regions if args.num_prompts is None else args.num_prompts
    request = Request(num_prompts=prompts, text_tokens=args.text_tokens, num_pix=args.num_pix)
    wrap_classes = read_wrap_classes(args.fsdp_config)
    return "\n\n".join([flops_report(model, COMPONENTS, request),
                         memory_report(model, COMPONENTS, wrap_classes, num_gpus=args.num_gpus)])


def main(argv: list[str] | None = None) -> int:
    parser = HfArgumentParser(InspectArguments, description=__doc__)
    (args,) = parser.parse_args_into_dataclasses(sys.argv[1:] if argv is None else argv)
    print(report(args.preset))
    if args.memory:
        print()
        print(memory_sections(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
