"""The shipped multi-node FSDP configuration (configs/accelerate_fsdp_multinode.yaml): the single-node file's sharding
but for the machine fields, and its 2-machine rendezvous run on this machine's CPUs (two `accelerate launch` commands,
machine ranks 0 and 1, one process each, meeting at 127.0.0.1), ending with the one-process losses.

What cannot run here: more than one physical machine and NCCL over a network; the CPU run uses gloo, the worker
applies accelerate's FSDP plugin with torch (as tests/training/test_fsdp.py explains)."""

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.training.test_fsdp import LAUNCHER, WORKER, _cpu_variant, launch_env, needs_launcher

ROOT = Path(__file__).resolve().parents[2]
MULTINODE = ROOT / "configs" / "accelerate_fsdp_multinode.yaml"
SINGLE = ROOT / "configs" / "accelerate_fsdp.yaml"
MACHINE_FIELDS = {"num_machines", "machine_rank", "main_process_ip", "main_process_port", "rdzv_backend",
                  "same_network", "num_processes"}


def test_the_multinode_file_is_the_single_node_one_but_for_the_machines():
    multinode, single = yaml.safe_load(MULTINODE.read_text()), yaml.safe_load(SINGLE.read_text())
    assert {k: v for k, v in multinode.items() if k not in MACHINE_FIELDS} == \
        {k: v for k, v in single.items() if k not in MACHINE_FIELDS}
    assert multinode["num_processes"] == multinode["num_machines"] * single["num_processes"]  # 8 GPUs a machine
    assert multinode["num_machines"] > 1 and multinode["rdzv_backend"] == "static"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_launcher
def test_two_machines_meet_and_train_like_one_process(tmp_path):
    env = launch_env()
    scenes = tmp_path / "scenes"
    from tests.training import fsdp_worker

    fsdp_worker.main(tmp_path / "single", scenes)
    config = yaml.safe_load(_cpu_variant(tmp_path / "cpu.yaml").read_text())  # the CPU fields of test_fsdp
    multinode = yaml.safe_load(MULTINODE.read_text())
    for key in MACHINE_FIELDS - {"num_processes"}:
        config[key] = multinode[key]
    config.update(num_processes=2, main_process_ip="127.0.0.1", main_process_port=_free_port())  # 2 machines x 1
    path = tmp_path / "multinode_cpu.yaml"
    path.write_text(yaml.safe_dump(config))
    launcher = str(LAUNCHER) if LAUNCHER.exists() else shutil.which("accelerate")
    machines = [subprocess.Popen([launcher, "launch", "--config_file", str(path), "--machine_rank", str(rank),
                                  str(WORKER), str(tmp_path / "fsdp"), str(scenes)], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    for machine in machines:
        _, err = machine.communicate(timeout=300)
        assert machine.returncode == 0, err[-4000:]
    info = json.loads((tmp_path / "fsdp" / "fsdp.json").read_text())
    assert info["world_size"] == 2 and info["sharding_strategy"] == "FULL_SHARD"
    assert 0.45 * info["parameters"] < info["local_parameters"] < 0.55 * info["parameters"]
    losses = {name: json.loads((tmp_path / name / "losses.json").read_text()) for name in ("single", "fsdp")}
    assert losses["fsdp"] == pytest.approx(losses["single"], rel=1e-4)
