"""Scenes of any size: tiles per second and peak memory of `earthgptx_hf.geo.ScenePredictor` on a 2,000^2 and a
20,000^2 scene, and the ratio of their peak RSS (the issue asks for at most 1.3: memory must not grow with the scene).

    python benchmarks/bench_scene.py [--sizes 2000,20000] [--batch-size 8] [--workdir /tmp/bench_scene]

Each scene is written by this script: a sparse synthetic 16-bit single-band GeoTIFF (UTM zone 33N, 10 m pixels; tiled,
DEFLATE, blocks never written stay sparse) with no-data 0 everywhere except `PATCHES` textured patches of 300^2
pixels with bright objects, the same in both scenes, so that both run the model on the same amount of valid data and
differ only in size. Two runs per scene, each in a fresh process (so that its peak RSS is its own):
- `caption` over the grid of canvas-sized tiles with overlap: every tile is read; all-no-data tiles are skipped and
  counted; the others go through the model in batches (tiles/s counts every tile, skipped or run);
- `segment` of one box prompt per object, given in EPSG:4326, with the `[PIX]` masks stitched into a scene-sized
  mask GeoTIFF (windows/s).
The model is a random tiny EarthGPT-X with the demo's geometry (56-pixel views, 112-pixel canvas, 128-pixel SAM view):
the figures measure the scene machinery (reading, stretching, batching, stitching, vectorising), not a trained model.

    python benchmarks/bench_scene.py --sizes "" --dense 6000 [--dense-repeats 1]

`--dense SIDE` (issue 36) adds a fully valid SIDE^2 scene (`write_dense_scene`, written once and kept in the workdir),
captioned over its grid twice per repeat, alternating: with the predictor's read-ahead (`geo/prefetch.py`) and
without it (`READ_AHEAD_BATCHES = 0`). Each run reports windows per second and the share of wall time outside
`model.generate()`, with the seconds spent in reads (`RasterScene.read_rgb`, in whichever thread), in the processor
and in `post_process_generation`. (The runs recorded with `--gdal-cache-in-bytes` measured the fix of
`geo/opening.py`'s block cache before it landed; it is now the default, and the flag is gone.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PATCHES = ((0.1, 0.1), (0.5, 0.3), (0.8, 0.8), (0.3, 0.7))  # patch corners, as fractions of the scene
PATCH = 300
PIXEL = 10.0
ORIGIN = (500_000.0, 4_600_000.0)


def write_scene(path: Path, side: int) -> list[list[float]]:
    """The sparse scene (see the module docstring), written patch by patch; returns the objects' pixel boxes."""
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(0)
    profile = {"driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "uint16", "nodata": 0,
               "crs": "EPSG:32633", "transform": Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1]), "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate", "sparse_ok": True}
    boxes = []
    with rasterio.open(path, "w", **profile) as dataset:
        for fx, fy in PATCHES:
            col, row = int(fx * (side - PATCH)), int(fy * (side - PATCH))
            patch = rng.gamma(2.0, 400.0, (PATCH, PATCH)).clip(1, 65535)
            for k in range(3):  # three bright objects per patch
                x, y = 40 + 90 * k, 60 + 70 * k
                patch[y : y + 24, x : x + 40] = 20000
                boxes.append([col + x, row + y, col + x + 40, row + y + 24])
            dataset.write(patch.astype(np.uint16)[None], window=Window(col, row, PATCH, PATCH))
    return boxes


def write_dense_scene(path: Path, side: int) -> None:
    """A fully valid scene: 16-bit speckled texture (gamma, like SAR amplitude) everywhere, written in strips of
    blocks (a 2,048^2 texture block, rolled per strip so that no two strips are alike)."""
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    block = np.random.default_rng(1).gamma(2.0, 400.0, (2048, 2048)).clip(1, 65535).astype(np.uint16)
    profile = {"driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "uint16", "nodata": 0,
               "crs": "EPSG:32633", "transform": Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1]), "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dataset:
        for row in range(0, side, 1024):
            height = min(1024, side - row)
            strip = np.roll(block, row // 1024 * 97, axis=1)[:height]
            strip = np.tile(strip, (1, -(-side // 2048)))[:, :side]
            dataset.write(strip[None], window=Window(0, row, side, height))


def lonlat_boxes(boxes) -> dict:
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    features = []
    for x1, y1, x2, y2 in boxes:
        ring = [to_lonlat.transform(ORIGIN[0] + x * PIXEL, ORIGIN[1] - y * PIXEL)
                for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1))]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"prompt_type": "box"}})
    return {"type": "FeatureCollection", "features": features}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def timed(owner, name: str, totals: dict) -> None:
    """Wraps `owner.name` so that the seconds spent in it (in any thread) add up in `totals[name]`."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def child(side: int, task: str, workdir: Path, batch_size: int, dense: bool = False) -> dict:
    """One run in this process: builds the model, predicts, returns the figures."""
    import torch
    from transformers import pipeline

    from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
    from earthgptx_hf.tools.demo_training import DEMO_OVERRIDES
    from earthgptx_hf.geo import ScenePredictor
    from earthgptx_hf.geo.raster import RasterScene

    torch.manual_seed(0)
    model = EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny", **DEMO_OVERRIDES)).eval()
    pipe = pipeline("visual-prompting", model=model, processor=EarthGPTXProcessor.from_model_config(model.config))
    bias = {(model.config.pix_token_id,): 100.0}
    predictor = ScenePredictor(pipe, batch_size=batch_size, progress=False, max_new_tokens=3, sequence_bias=bias)
    totals = {}
    timed(model, "generate", totals)  # the model: generate() of each batch
    timed(RasterScene, "read_rgb", totals)  # reads and stretch, in whichever thread runs them
    timed(type(pipe.processor), "__call__", totals)  # the processor on each batch (in the pipeline's _forward)
    timed(type(pipe.processor), "post_process_generation", totals)  # answers and masks of each batch
    scene = workdir / (f"dense_{side}.tif" if dense else f"scene_{side}.tif")
    before = peak_rss_mb()
    start = time.perf_counter()
    if task == "caption":
        result = predictor.predict(scene, task="caption")
    else:
        boxes = json.loads((workdir / f"scene_{side}.json").read_text())
        (workdir / f"mask_{side}.tif").unlink(missing_ok=True)
        result = predictor.predict(scene, lonlat_boxes(boxes), task="segment", mask_out=workdir / f"mask_{side}.tif")
    seconds = time.perf_counter() - start
    summary = result.summary
    return {"side": side, "task": task, "dense": dense, "windows": summary["windows"], "run": summary["windows_run"],
            "skipped_nodata": summary["skipped_nodata"], "masks": summary["masks"], "seconds": seconds,
            "windows_per_s": summary["windows"] / seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
            "generate_s": totals.get("generate", 0.0), "read_s": totals.get("read_rgb", 0.0),
            "processor_s": totals.get("__call__", 0.0), "post_process_s": totals.get("post_process_generation", 0.0)}


def run_child(side: int, task: str, args, dense: bool = False, read_ahead: bool = True) -> dict:
    command = [sys.executable, __file__, "--child", str(side), task, "--workdir", args.workdir, "--batch-size",
               str(args.batch_size)]
    command += (["--dense-child"] if dense else []) + ([] if read_ahead else ["--no-read-ahead"])
    out = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "read_ahead": read_ahead}


def dense_rows(args, workdir: Path) -> list[dict]:
    """The fully valid scene (written once per size), captioned over its grid with and without the read-ahead."""
    path = workdir / f"dense_{args.dense}.tif"
    if not path.is_file():
        start = time.perf_counter()
        write_dense_scene(path, args.dense)
        print(f"dense scene {args.dense:,}^2 written in {time.perf_counter() - start:.1f} s "
              f"({os.path.getsize(path) / 2**20:.0f} MB on disk)", flush=True)
    rows = []
    for _ in range(args.dense_repeats):  # the two settings take turns
        rows += [run_child(args.dense, "caption", args, dense=True, read_ahead=on) for on in (True, False)]
    return rows


def print_dense(rows: list[dict]) -> None:
    print("\n| scene (fully valid) | read-ahead | windows | seconds | windows/s | generate() (s) | reads + stretch "
          "(s) | processor / post-processing (s) | outside generate() | peak RSS (MB) |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['side']:,}^2 | {'on' if r['read_ahead'] else 'off'} | {r['windows']:,} | {r['seconds']:.1f} | "
              f"{r['windows_per_s']:.1f} | {r['generate_s']:.1f} | {r['read_s']:.1f} | "
              f"{r['processor_s']:.1f} / {r['post_process_s']:.1f} | "
              f"{1 - r['generate_s'] / r['seconds']:.1%} | {r['peak_rss_mb']:.0f} |")
    on = [r["seconds"] for r in rows if r["read_ahead"]]
    off = [r["seconds"] for r in rows if not r["read_ahead"]]
    share = [1 - r["generate_s"] / r["seconds"] for r in rows if r["read_ahead"]]
    print(f"dense: wall time read-ahead on / off = {statistics.median(on) / statistics.median(off):.3f}; share "
          f"outside generate() with read-ahead {statistics.median(share):.1%} (<= 15 % asked)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000", help="sparse scenes; '' for none")
    parser.add_argument("--dense", type=int, default=0, help="side of a fully valid scene to caption (0: none)")
    parser.add_argument("--dense-repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workdir", default="/tmp/bench_scene")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "TASK"), help=argparse.SUPPRESS)
    parser.add_argument("--dense-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-read-ahead", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    if args.child:
        if args.no_read_ahead:
            from earthgptx_hf.geo import prefetch

            prefetch.READ_AHEAD_BATCHES = 0
        print(json.dumps(child(int(args.child[0]), args.child[1], workdir, args.batch_size, args.dense_child)))
        return
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    for side in sizes:
        start = time.perf_counter()
        boxes = write_scene(workdir / f"scene_{side}.tif", side)
        (workdir / f"scene_{side}.json").write_text(json.dumps(boxes))
        size_mb = os.path.getsize(workdir / f"scene_{side}.tif") / 2**20
        print(f"scene {side:,}^2 written in {time.perf_counter() - start:.1f} s ({size_mb:.1f} MB on disk, "
              f"{side * side * 2 / 2**30:.2f} GiB as a uint16 array)", flush=True)
        rows += [run_child(side, task, args) for task in ("caption", "segment")]
    if rows:
        print_sparse(rows, sizes)
    if args.dense:
        print_dense(dense_rows(args, workdir))


def print_sparse(rows: list[dict], sizes: list[int]) -> None:
    print(f"\n| scene | task | windows | run | all no-data, skipped | masks | seconds | windows/s | RSS before "
          "predict (MB) | peak RSS (MB) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['side']:,}^2 | {r['task']} | {r['windows']:,} | {r['run']} | {r['skipped_nodata']:,} | "
              f"{r['masks']} | {r['seconds']:.1f} | {r['windows_per_s']:.0f} | {r['rss_before_mb']:.0f} | "
              f"{r['peak_rss_mb']:.0f} |")
    for task in ("caption", "segment"):
        small, large = (next(r for r in rows if r["side"] == s and r["task"] == task) for s in (min(sizes), max(sizes)))
        growth_small = small["peak_rss_mb"] - small["rss_before_mb"]
        growth_large = large["peak_rss_mb"] - large["rss_before_mb"]
        print(f"{task}: peak RSS {large['side']:,}^2 / {small['side']:,}^2 = "
              f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x (<= 1.3 asked); growth during predict "
              f"{growth_small:.0f} MB -> {growth_large:.0f} MB")


if __name__ == "__main__":
    main()
