"""Training memory of a preset on paper: weights, gradients and AdamW states per component and trainable preset, and
the per-GPU memory under FSDP full sharding with the shipped wrapping policy (`configs/accelerate_fsdp.yaml`).

Accounting (stated in the report): bf16 mixed-precision training as the ZeRO paper counts it. Every parameter has a
bf16 weight (2 bytes); every trained parameter also a bf16 gradient (2), an fp32 master copy (4) and AdamW's two fp32
moments (8): 16 bytes per trained parameter, 2 per frozen one. Activations are not included.

FSDP (PyTorch's `FullyShardedDataParallel`, what `accelerate` runs with `fsdp_version: 1`): every module whose class
is in `fsdp_transformer_layer_cls_to_wrap` is one unit, everything else is the root unit. Each rank holds 1/N of every
unit's weights, gradients and optimizer states. With `use_orig_params: true` a unit that mixes frozen and trained
parameters holds gradients for all of them (PyTorch's FSDP documentation: "the gradient memory usage will be higher
than expected (namely, equivalent to not freezing those parameters)"). During forward and backward a rank also holds
the gathered weights (and in backward the unsharded gradients) of the root unit, which stays gathered, and of the
unit running: the largest other unit is counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from torch import nn

from ..training.trainable import LORA_MODULES_TO_SAVE, LORA_TARGET_MODULES, trainable_parameter_names

WEIGHT_BYTES, GRADIENT_BYTES, MASTER_BYTES, ADAMW_BYTES = 2, 2, 4, 8


def preset_parameters(model: nn.Module, preset: str, lora_rank: int = 16) -> dict[str, tuple[int, int]]:
    """`{parameter name: (numel, trained numel)}` of `model` (an `EarthGPTXForConditionalGeneration`, meta is fine)
    under a trainable preset, named as in the plain model.

    `lora` adds what PEFT adds: rank-`lora_rank` A and B matrices on every Linear the LoRA target pattern matches
    (`<module>.lora_A.weight`, `<module>.lora_B.weight`) and a trained copy of every `modules_to_save` parameter
    (`<name>.modules_to_save`), the originals staying frozen."""
    params = dict(model.named_parameters())
    if preset == "full":
        return {name: (p.numel(), p.numel()) for name, p in params.items()}
    if preset == "paper":
        trained = set(trainable_parameter_names(model, "paper"))
        return {name: (p.numel(), p.numel() if name in trained else 0) for name, p in params.items()}
    if preset != "lora":
        raise ValueError(f"preset={preset!r} is not a trainable preset; valid are ['paper', 'lora', 'full'].")
    entries = {name: (p.numel(), 0) for name, p in params.items()}
    target = re.compile(LORA_TARGET_MODULES)
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and target.fullmatch(name):
            entries[f"{name}.lora_A.weight"] = (lora_rank * module.in_features,) * 2
            entries[f"{name}.lora_B.weight"] = (lora_rank * module.out_features,) * 2
    for name, module in model.named_modules():
        if any(name.endswith(suffix) for suffix in LORA_MODULES_TO_SAVE):
            for param_name, p in module.named_parameters(prefix=name):
                entries[f"{param_name}.modules_to_save"] = (p.numel(), p.numel())
    return entries


def under(entries: dict[str, tuple[int, int]], paths: Sequence[str]) -> tuple[int, int]:
    """Summed `(numel, trained)` of the entries inside the modules at `paths`."""
    numel = trained = 0
    for name, (n, t) in entries.items():
        if any(name.startswith(path + ".") for path in paths):
            numel, trained = numel + n, trained + t
    return numel, trained


def state_bytes(numel: int, trained: int) -> dict[str, int]:
    """Bytes of weights, gradients, fp32 master weights and AdamW moments (the module docstring's accounting)."""
    return {"weights": WEIGHT_BYTES * numel, "gradients": GRADIENT_BYTES * trained, "master": MASTER_BYTES * trained,
            "adamw": ADAMW_BYTES * trained}


def read_wrap_classes(fsdp_config: str | Path) -> list[str]:
    """The class names of `fsdp_transformer_layer_cls_to_wrap` in an accelerate FSDP config file."""
    path = Path(fsdp_config)
    if not path.is_file():
        raise FileNotFoundError(f"fsdp_config={str(path)!r} is not a file: give the accelerate FSDP config "
                                "(configs/accelerate_fsdp.yaml in the repository).")
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    value = (config.get("fsdp_config") or {}).get("fsdp_transformer_layer_cls_to_wrap")
    if not value:
        raise ValueError(f"{path} has no fsdp_config.fsdp_transformer_layer_cls_to_wrap.")
    return [name.strip() for name in str(value).split(",") if name.strip()]


def fsdp_units(model: nn.Module, entries: dict[str, tuple[int, int]], wrap_classes: Sequence[str]):
    """FSDP units of `transformer_auto_wrap_policy` over `wrap_classes`: `{unit path: (numel, trained)}` (`""` is the
    root unit) and the class names that no module of `model` has (accelerate refuses those: "Could not find the
    transformer layer class ... in the model")."""
    wanted = set(wrap_classes)
    unit_paths = {name for name, module in model.named_modules() if type(module).__name__ in wanted}
    missing = sorted(wanted - {type(module).__name__ for module in model.modules()})
    units: dict[str, list[int]] = {"": [0, 0]}
    for name, (numel, trained) in entries.items():
        parts = name.split(".")
        unit = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1) if ".".join(parts[:i]) in unit_paths),
                    "")
        totals = units.setdefault(unit, [0, 0])
        totals[0] += numel
        totals[1] += trained
    return {path: (n, t) for path, (n, t) in units.items()}, missing


def fsdp_per_gpu_bytes(units: dict[str, tuple[int, int]], num_gpus: int) -> dict[str, float]:
    """Bytes per GPU under full sharding over `num_gpus` (the module docstring's accounting); activations excluded."""
    if num_gpus < 1:
        raise ValueError(f"num_gpus={num_gpus} must be at least 1.")
    weights = sum(WEIGHT_BYTES * n for n, _ in units.values()) / num_gpus
    gradients = sum(GRADIENT_BYTES * n for n, t in units.values() if t) / num_gpus  # whole units with a trained part
    optimizer = sum((MASTER_BYTES + ADAMW_BYTES) * t for _, t in units.values()) / num_gpus

    def gathered(unit):
        n, t = units[unit]
        return WEIGHT_BYTES * n + (GRADIENT_BYTES * n if t else 0)

    largest = max((u for u in units if u), key=lambda u: units[u][0], default=None)
    transient = gathered("") + (gathered(largest) if largest is not None else 0)
    return {"weights": weights, "gradients": gradients, "master_and_adamw": optimizer, "gathered": transient,
            "total": weights + gradients + optimizer + transient, "largest_unit": largest}




def memory_report(model: nn.Module, components: Sequence[tuple[str, Sequence[str]]], wrap_classes: Sequence[str],
                  num_gpus: int = 8, presets: Sequence[str] = ("paper", "lora", "full"), lora_rank: int = 16,
                  fsdp_presets: Sequence[str] = ("paper", "lora")) -> str:
    """Markdown: training-state bytes per component and preset, totals per preset, FSDP per-GPU memory."""
    entries = {preset: preset_parameters(model, preset, lora_rank) for preset in presets}
    base = preset_parameters(model, "full")
    weights = WEIGHT_BYTES * sum(n for n, _ in base.values())
    unit, scale = ("GiB", 2**30) if weights >= 2**30 else ("MiB", 2**20)  # MiB for the CPU presets

    def b(value: float) -> str:
        return f"{value / scale:,.2f}"

    lines = [f"## Training memory (bf16 mixed precision, AdamW; {unit})", "",
             f"Assumed: bf16 weights ({WEIGHT_BYTES} B per parameter); per trained parameter a bf16 gradient "
             f"({GRADIENT_BYTES} B), an fp32 master weight ({MASTER_BYTES} B) and AdamW's two fp32 moments "
             f"({ADAMW_BYTES} B). Activations excluded. {unit} = 2^{30 if unit == 'GiB' else 20} bytes. `lora` is "
             f"rank {lora_rank} and adds PEFT's adapters and trained copies of `modules_to_save` to the weights.", "",
             "| component | parameters | bf16 weights | " +
             " | ".join(f"`{p}`: trained parameters / grads + master + AdamW" for p in presets) + " |",
             "|---|---:|---:|" + "---:|" * len(presets)]
    for name, paths in components:
        numel, _ = under(base, paths)
        cells = []
        for preset in presets:
            _, trained = under(entries[preset], paths)
            cells.append(f"{trained:,} / {b(sum(state_bytes(0, trained).values()))}")
        lines.append(f"| {name} | {numel:,} | {b(WEIGHT_BYTES * numel)} | " + " | ".join(cells) + " |")
    lines += ["", "| preset | parameters held | trained | weights | gradients | fp32 master | AdamW moments | "
                  "total without sharding (one GPU, DDP) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for preset in presets:
        numel = sum(n for n, _ in entries[preset].values())
        trained = sum(t for _, t in entries[preset].values())
        parts = state_bytes(numel, trained)
        lines.append(f"| {preset} | {numel:,} | {trained:,} | " + " | ".join(b(v) for v in parts.values()) +
                     f" | {b(sum(parts.values()))} |")
    lines += ["", f"### Per GPU under FSDP full sharding on {num_gpus} GPUs (bf16; activations excluded; {unit})", "",
              f"Wrapped classes (configs/accelerate_fsdp.yaml): {', '.join(wrap_classes)}. With `use_orig_params` a "
              "unit with any trained parameter holds gradients for all of its parameters. Gathered = bf16 weights "
              "(and, in backward, gradients) of the root unit, which stays gathered, and of the largest other unit.",
              "", "| preset | units | root unit parameters | sharded weights | sharded gradients | sharded master + "
              "AdamW | gathered | **per GPU** |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    notes, per_gpu = [], {}
    for preset in fsdp_presets:
        units, missing = fsdp_units(model, entries[preset], wrap_classes)
        if missing:
            notes.append(f"`{preset}`: no module of class {missing} (accelerate refuses such a config).")
        mem = fsdp_per_gpu_bytes(units, num_gpus)
        lines.append(f"| {preset} | {len(units)} | {units[''][0]:,} | {b(mem['weights'])} | {b(mem['gradients'])} | "
                     f"{b(mem['master_and_adamw'])} | {b(mem['gathered'])} | **{b(mem['total'])}** |")
        per_gpu[preset] = b(mem["total"])
        trained = sum(t for _, t in entries[preset].values())
        notes.append(f"`{preset}`: largest non-root unit `{mem['largest_unit']}` ({units[mem['largest_unit']][0]:,} "
                     f"parameters); sharded gradients if only trained parameters held them: "
                     f"{b(GRADIENT_BYTES * trained / num_gpus)} {unit} per GPU instead of {b(mem['gradients'])}.")
    lines.append("")
    lines += [f"- {note}" for note in notes]
    lines += ["", " ".join(f"fsdp_per_gpu_{preset}_{unit.lower()}={value}" for preset, value in per_gpu.items())]
    return "\n".join(lines)


__all__ = ["fsdp_per_gpu_bytes", "fsdp_units", "memory_report", "preset_parameters", "read_wrap_classes",
           "state_bytes", "under"]
