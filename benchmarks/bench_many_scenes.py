"""Many scenes (issue 37): a folder of N synthetic scenes through `earthgptx-predict --scenes`, on the single-process
path (`--engine local`) and on a local Ray cluster with 1 and with 2 model replicas, in the same run.

    OMP_NUM_THREADS=1 python benchmarks/bench_many_scenes.py [--scenes 24] [--side 448] [--replicas 1,2]
        [--batch-size 4] [--max-new-tokens 8] [--preset small] [--workdir /tmp/bench_many_scenes]

The scenes are written by this script: 8-bit RGB GeoTIFFs (UTM 33N, 10 m pixels) of procedural objects
(`data.procedural.generate_scene`), each with its own prompts file (a point per object, EPSG:4326), listed in a list
file; the task is `classify`. The model is a random EarthGPT-X of the `small` preset (8.5 M parameters; `--preset tiny`
for the tests' 0.5 M) saved to the workdir: a window costs model time as a real one does, yet the figures measure the
machinery (reading, batching, actors, assembling, writing) on CPUs, not a trained model on GPUs.

Each configuration runs in a fresh process (its peak RSS is its own) on a fresh output folder, and reports:
scenes per minute and windows per second over the whole run (Ray's actor start-up and checkpoint loading included),
the busy time (the single process's time in `ScenePredictor.predict`; a replica's time in its calls) and windows per
second while busy, each replica's checkpoint load time, and the peak RSS of the driver and of each replica
(`resource.getrusage`, reported by the replica with each window).
Ray starts with `num_cpus` = the machine's cores (at most `--cpus`), one CPU per replica.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def write_inputs(workdir: Path, count: int, side: int, preset: str = "tiny") -> Path:
    """The checkpoint, `count` scenes with their prompts, and the list file; returns the list file."""
    from pyproj import Transformer
    from rasterio.transform import Affine

    from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
    from earthgptx_hf.data.procedural import generate_scene

    import rasterio
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset(preset)).eval()
    model.save_pretrained(workdir / "model")
    EarthGPTXProcessor.from_model_config(model.config).save_pretrained(workdir / "model")
    transform = Affine(10.0, 0, 500_000.0, 0, -10.0, 4_600_000.0)
    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lines = []
    for i in range(count):
        pixels, objects = generate_scene(np.random.default_rng(i), "optical", side)
        path = workdir / "scenes" / f"scene{i:03d}.tif"
        path.parent.mkdir(exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=3, dtype="uint8",
                           crs="EPSG:32633", transform=transform) as dataset:
            dataset.write(np.moveaxis(pixels, -1, 0))
        features = []
        for o in objects:
            col, row = (o.bbox[0] + o.bbox[2]) / 2, (o.bbox[1] + o.bbox[3]) / 2
            x, y = transform * (col, row)
            point = {"type": "Point", "coordinates": to_lonlat.transform(x, y)}
            features.append({"type": "Feature", "geometry": point, "properties": {"name": o.category}})
        path.with_suffix(".geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        lines.append(f"scenes/{path.name}\tscenes/{path.stem}.geojson")
    listing = workdir / "scenes.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def child(engine: str, replicas: int, args) -> dict:
    """One configuration, in this (fresh) process."""
    from earthgptx_hf.geo import predictor as predictor_module
    from earthgptx_hf.geo.many_scenes import ManySceneArguments, ManyScenes

    workdir = Path(args.workdir)
    out = workdir / "out" / f"{engine}{replicas if engine == 'ray' else ''}"
    busy = [0.0]
    if engine == "ray":
        import ray

        ray.init(num_cpus=args.cpus, object_store_memory=256 * 1024**2, include_dashboard=False, log_to_driver=False)
    else:  # the single process's time in ScenePredictor.predict: its "busy" time, as a replica's
        predict = predictor_module.ScenePredictor.predict

        def timed(self, *a, **k):
            start = time.perf_counter()
            try:
                return predict(self, *a, **k)
            finally:
                busy[0] += time.perf_counter() - start

        predictor_module.ScenePredictor.predict = timed
    options = ManySceneArguments(scenes=str(workdir / "scenes.txt"), model=str(workdir / "model"), out_dir=str(out),
                                 task="classify", batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                                 progress=False, overwrite=True, engine=engine, replicas=max(1, replicas),
                                 cpus_per_replica=1.0)
    start = time.perf_counter()
    summary = ManyScenes(options).run()
    seconds = time.perf_counter() - start
    windows = summary["windows"]["windows_run"] + summary["windows"]["windows_nodata"]
    seen = list(summary["replicas"].values()) or [{"windows": windows, "busy_s": busy[0], "peak_mib": 0,
                                                     "load_s": float("nan")}]
    return {"engine": engine, "replicas": replicas if engine == "ray" else 0, "scenes": summary["states"].get("done"),
            "windows": windows, "seconds": seconds, "scenes_per_min": 60 * summary["states"].get("done", 0) / seconds,
            "windows_per_s": windows / seconds, "busy_s": max(r["busy_s"] for r in seen),
            "busy_windows_per_s": [round(r["windows"] / r["busy_s"], 2) for r in seen],
            "driver_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "replica_peak_mib": [round(r["peak_mib"]) for r in seen if engine == "ray"],
            "replica_windows": [r["windows"] for r in seen], "replica_load_s": [round(r["load_s"], 1) for r in seen]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--side", type=int, default=448)
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--preset", default="small", help="the random model's preset (tiny: the machinery alone)")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--cpus", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--workdir", default="/tmp/bench_many_scenes")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, replicas = args.child.split(":")
        print(json.dumps(child(engine, int(replicas), args)))
        return
    write_inputs(Path(args.workdir), args.scenes, args.side, args.preset)
    configurations = [("local", 0)] + [("ray", int(r)) for r in args.replicas.split(",") if r]
    rows = []
    for engine, replicas in configurations:
        command = [sys.executable, __file__, "--child", f"{engine}:{replicas}", *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    reference = rows[0]
    print(f"{args.scenes} scenes of {args.side}^2, batch {args.batch_size}, {args.max_new_tokens} new tokens, "
          f"{args.cpus} CPUs for Ray")
    print(f"{'configuration':<18}{'wall s':>7}{'scenes/min':>11}{'windows/s':>10}{'vs 1 proc':>10}{'busy s':>7}"
          f"{'driver MiB':>11}  per replica: windows, windows/s while busy, model load s, peak MiB")
    for row in rows:
        name = "single process" if row["engine"] == "local" else f"ray, {row['replicas']} replica(s)"
        print(f"{name:<18}{row['seconds']:>7.1f}{row['scenes_per_min']:>11.1f}{row['windows_per_s']:>10.2f}"
              f"{row['windows_per_s'] / reference['windows_per_s']:>10.2f}{row['busy_s']:>7.1f}"
              f"{row['driver_peak_mib']:>11.0f}  {row['replica_windows']}, {row['busy_windows_per_s']}, "
              f"{row['replica_load_s']}, {row['replica_peak_mib']}")

if __name__ == "__main__":
    main()
