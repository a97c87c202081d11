"""The shipped FSDP configuration (configs/accelerate_fsdp.yaml): its wrapping policy on every preset (meta device),
and 2 CPU processes (gloo) sharding the tiny model with it, ending with the weights of one process.

accelerate does not run FSDP on a CPU: with the shipped file, its FSDP plugin stops with "RuntimeError: There are
currently no available devices found, must be one of 'XPU', 'CUDA', 'MLU', 'NPU', 'MUSA', or 'HPU'." (it syncs module
states through an accelerator device; `fsdp_cpu_ram_efficient_loading: true` forces `fsdp_sync_module_states`), and
without those two fields its `AcceleratorState` silently falls back to no FSDP (DDP with `use_cpu`, otherwise every
process alone). So the 2-process test builds accelerate's FSDP plugin from the environment `accelerate launch` sets
from the config file and applies it with torch's `FullyShardedDataParallel` (tests/training/fsdp_worker.py).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from earthgptx_hf.tools.inspect_model import SHIPPED_FSDP_CONFIG, build_meta_model
from earthgptx_hf.tools.training_memory import fsdp_units, preset_parameters, read_wrap_classes

WORKER = Path(__file__).with_name("fsdp_worker.py")
LAUNCHER = Path(sys.executable).parent / "accelerate"

# The fields CPU processes need changed, and why (everything else is the shipped file's).
CPU_OVERRIDES = {
    "num_processes": 2,  # this machine has 2 cores (the file says 8 GPUs)
    # accelerate syncs module states through an accelerator device and refuses on a CPU (the error above);
    # cpu_ram_efficient_loading forces sync_module_states on. Both ranks build the same seeded weights instead.
    ("fsdp_config", "fsdp_sync_module_states"): False,
    ("fsdp_config", "fsdp_cpu_ram_efficient_loading"): False,
    # fp32, so that 2 sharded processes can be compared with one unsharded fp32 process to rounding error
    "mixed_precision": "no",
}


def _cpu_variant(path: Path) -> Path:
    config = yaml.safe_load(SHIPPED_FSDP_CONFIG.read_text())
    for key, value in CPU_OVERRIDES.items():
        section, field = (config, key) if isinstance(key, str) else (config[key[0]], key[1])
        assert field in section, f"{key} is not in the shipped config any more"
        section[field] = value
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("preset", ["paper", "small", "tiny"])
def test_every_wrapped_class_exists_and_wraps_the_towers_layers(preset):
    from accelerate.utils.dataclasses import get_module_class_from_name  # what set_auto_wrap_policy calls

    model = build_meta_model(preset)
    classes = read_wrap_classes(SHIPPED_FSDP_CONFIG)
    assert classes == ["LlamaDecoderLayer", "Dinov2Layer", "SamVisionLayer", "ViTLayer"]
    for name in classes:  # accelerate's FSDP plugin raises for a class it cannot find in the model
        assert get_module_class_from_name(model, name) is not None, name
    units, missing = fsdp_units(model, preset_parameters(model, "paper"), classes)
    assert missing == []
    config = model.config
    layers = {"model.language_model.": config.text_config.num_hidden_layers,
              "model.vision_tower.dino.": config.dino_config.num_hidden_layers,
              "model.spatial_aware_encoder.": config.spatial_config.num_hidden_layers,
              "pixel_perception.grounding_model.vision_encoder.": config.grounding_config.vision_config.num_hidden_layers}
    wrapped = set(units) - {""}
    for prefix, count in layers.items():  # one unit per layer of every transformer tower, and no other
        assert sum(unit.startswith(prefix) for unit in wrapped) == count, prefix
    assert len(wrapped) == sum(layers.values())
    # what stays in the root unit: the embeddings, heads, ConvNeXt, fusion, projectors and SAM's other parts
    root = units[""][0]
    assert root == sum(p.numel() for p in model.parameters()) - sum(units[u][0] for u in wrapped)
    assert root >= sum(p.numel() for p in model.model.vision_tower.convnext.parameters())


needs_launcher = pytest.mark.skipif(not LAUNCHER.exists() and shutil.which("accelerate") is None,
                                    reason="accelerate launcher not installed")


def launch_env() -> dict:
    """This process's environment without any distributed-launch variables, offline, one thread per process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "FSDP_", "LOCAL_RANK", "RANK",
                                                                     "WORLD_SIZE", "MASTER_"))}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


@needs_launcher
def test_two_process_fsdp_with_the_shipped_config_matches_one_process(tmp_path):
    env = launch_env()
    scenes = tmp_path / "scenes"
    from tests.training import fsdp_worker

    fsdp_worker.main(tmp_path / "single", scenes)  # one process, no FSDP: in this one (it writes the scenes)
    launcher = str(LAUNCHER) if LAUNCHER.exists() else shutil.which("accelerate")
    config = _cpu_variant(tmp_path / "fsdp_cpu.yaml")
    sharded = subprocess.run([launcher, "launch", "--config_file", str(config), str(WORKER), str(tmp_path / "fsdp"),
                              str(scenes)], env=env, capture_output=True, text=True, timeout=300)
    assert sharded.returncode == 0, sharded.stderr[-4000:]

    info = json.loads((tmp_path / "fsdp" / "fsdp.json").read_text())
    assert info["world_size"] == 2 and info["fsdp_version"] == 1 and info["use_orig_params"] is True
    assert info["sharding_strategy"] == "FULL_SHARD"
    assert info["unit_classes"] == sorted(read_wrap_classes(SHIPPED_FSDP_CONFIG))
    assert 0.45 * info["parameters"] < info["local_parameters"] < 0.55 * info["parameters"]  # each rank: half

    losses = {name: json.loads((tmp_path / name / "losses.json").read_text()) for name in ("single", "fsdp")}
    assert len(losses["single"]) == 3 and losses["fsdp"] == pytest.approx(losses["single"], rel=1e-4)
    one = torch.load(tmp_path / "single" / "weights.pt", weights_only=True)
    two = torch.load(tmp_path / "fsdp" / "weights.pt", weights_only=True)
    assert set(one) == set(two)
    start = build_meta_model("tiny")  # names and shapes only
    for name, value in one.items():
        assert two[name].shape == value.shape == start.get_parameter(name).shape, name
        if name.endswith("k_proj.bias"):
            # softmax ignores a key bias: its gradient is 0 but for rounding, which AdamW scales up to steps of
            # the learning rate's size in either run; both stay near their zero start
            assert value.abs().max() < 1e-4 and two[name].abs().max() < 1e-4, name
            continue
        torch.testing.assert_close(two[name], value, rtol=1e-4, atol=1e-5, msg=name)
    # the trained parameters moved (the comparison is not of two untouched models)
    torch.manual_seed(0)
    from earthgptx_hf.training.train import ModelArguments, build_model

    initial, _ = build_model(ModelArguments(preset="tiny", trainable="paper"), tmp_path)
    for name, p in initial.named_parameters():
        moved = not torch.equal(p.detach(), one[name])
        # frozen stays, trained moves (but the mask head, which learns only from [PIX] answers)
        assert moved == (p.requires_grad and not name.startswith("pixel_perception.")), name
