"""A few AdamW steps of the tiny model (`paper` trainable preset), run by tests/training/test_fsdp.py.

    accelerate launch --config_file fsdp.yaml tests/training/fsdp_worker.py OUT SCENES   # 2 processes, FSDP
    python tests/training/fsdp_worker.py OUT SCENES                                     # 1 process, no FSDP

Under the launcher, the model is wrapped with torch's `FullyShardedDataParallel` exactly as accelerate's FSDP plugin
describes it: the plugin is built from the environment the launcher sets from the config file (auto-wrap policy,
sharding strategy, backward prefetch, `use_orig_params`, mixed precision). accelerate itself would not wrap it on a
CPU (its `AcceleratorState` turns FSDP on only for accelerator devices), so this script applies the plugin's
settings with torch directly. Each of the 2 ranks takes half of every global batch of 4 records; the LM loss is
normalised by the global batch's label tokens (`num_items_in_batch`) and scaled by the world size, so the averaged
gradient equals the one-process gradient of the whole batch. Rank 0 writes `OUT/weights.pt` (the full parameters),
`OUT/losses.json` and `OUT/fsdp.json` (what was wrapped and how).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from earthgptx_hf.data import DataArguments
from earthgptx_hf.training import EarthGPTXDataCollator
from earthgptx_hf.training.train import ModelArguments, build_model, build_training_records

GLOBAL_BATCH, STEPS = 4, 3


def main(out: Path, scenes: Path) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if world > 1 else 0
    torch.manual_seed(0)
    model, processor = build_model(ModelArguments(preset="tiny", trainable="paper"), out)
    records, _ = build_training_records(DataArguments(data_format="procedural", num_scenes=16, scene_size=64,
                                                      tasks="classification", scene_dir=str(scenes)),
                                        model.config.max_regions, out, 0)
    if len(records) < GLOBAL_BATCH * STEPS:
        raise SystemExit(f"{len(records)} training records, {GLOBAL_BATCH * STEPS} needed: raise num_scenes.")
    records = records[:GLOBAL_BATCH * STEPS]
    collator = EarthGPTXDataCollator(processor)
    info = {"world_size": world}
    if world > 1:
        model = wrap_as_accelerate_describes(model, info)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.01)
    losses = []
    for step in range(STEPS):
        batch_records = records[step * GLOBAL_BATCH:(step + 1) * GLOBAL_BATCH]
        tokens = int((collator(batch_records)["labels"][:, 1:] != -100).sum())  # what the loss averages over
        share = GLOBAL_BATCH // world
        batch = collator(batch_records[rank * share:(rank + 1) * share])
        loss = model(**batch, num_items_in_batch=tokens).loss * world
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total = loss.detach() / world
        if world > 1:
            dist.all_reduce(total)
        losses.append(float(total))
    state = full_parameters(model, world)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        torch.save(state, out / "weights.pt")
        (out / "losses.json").write_text(json.dumps(losses))
        (out / "fsdp.json").write_text(json.dumps(info))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def wrap_as_accelerate_describes(model, info: dict):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import FullyShardedDataParallel

    plugin = FullyShardedDataParallelPlugin()  # every field from the launcher's environment (the config file)
    mixed_precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if mixed_precision != "no":  # as AcceleratorState hands it to the plugin
        plugin.set_mixed_precision(mixed_precision)
    plugin.set_auto_wrap_policy(model)
    total = sum(p.numel() for p in model.parameters())
    wrapped = FullyShardedDataParallel(
        model, auto_wrap_policy=plugin.auto_wrap_policy, sharding_strategy=plugin.sharding_strategy,
        backward_prefetch=plugin.backward_prefetch, mixed_precision=plugin.mixed_precision_policy,
        cpu_offload=plugin.cpu_offload, use_orig_params=plugin.use_orig_params, device_id=torch.device("cpu"),
        sync_module_states=bool(plugin.sync_module_states),
    )
    units = [m for m in wrapped.modules() if isinstance(m, FullyShardedDataParallel)]
    info.update(
        fsdp_version=getattr(plugin, "fsdp_version", 1),  # accelerate < 1.6 knew only FSDP1, without the field
        sharding_strategy=plugin.sharding_strategy.name,
        use_orig_params=plugin.use_orig_params, units=len(units),
        unit_classes=sorted({type(m.module).__name__ for m in units[1:]}),
        parameters=total,
        # the flat parameters a rank holds: its shard of every unit (about half of the parameters on 2 ranks)
        local_parameters=sum(p.numel() for p in wrapped.parameters() if p.numel()),
    )
    return wrapped


def full_parameters(model, world: int) -> dict[str, torch.Tensor]:
    if world == 1:
        return {name: p.detach().clone() for name, p in model.named_parameters()}
    from torch.distributed.fsdp import FullyShardedDataParallel

    with FullyShardedDataParallel.summon_full_params(model, writeback=False):
        return {name.replace("_fsdp_wrapped_module.", ""): p.detach().clone() for name, p in model.named_parameters()}


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
