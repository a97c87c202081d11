"""Training-data preparation at scale: records per second and peak RSS of `earthgptx-train`'s data path, for procedural
scenes and the COCO converter, with region crops and flips on, at growing record counts.

    python benchmarks/bench_data.py [--records 10000,100000] [--sources procedural,coco] [--paths stream,lists]
                                    [--workdir /tmp/bench_data]

Two paths, each run in a fresh process (its own peak RSS), in the same invocation:
- `stream`: `data.training_dataset.prepare_training_dataset` (issue 36): images, crops and flips streamed, records
  written to an on-disk Arrow table as they are made (`Dataset.from_generator`);
- `lists`: what `earthgptx-train` built before (issue 36 moved it to `stream`): every step on Python lists
  (`augment_images`, `build_records`), then `records_to_dataset` (`Dataset.from_dict`, in memory).
Both make the same rows (tests/data/test_training_dataset.py).

Data (`DataArguments`): tasks classification and grounding (grounding regions 1,2,3), `region_crops=1`,
`flip="horizontal"`, 128-pixel scenes of 2-4 objects. `procedural`: the scenes are drawn and written in the run
(`num_scenes` chosen for the record count, at ~13 records per train scene); `coco`: a COCO JSON listing a fixed set of
250 procedural scenes as many times as the record count needs (ids apart, image files shared; written before the
timed run), read by the COCO converter (masks as compressed RLE). The time includes writing every crop and flip.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from data.coco_scenes import write_coco  # noqa: E402

RECORDS_PER_SCENE = 13.3  # measured: 128-px scenes, classification + grounding, one crop and one flip per image
COCO_BASE_SCENES = 250


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def data_arguments(source: str, records: int, workdir: Path):
    from earthgptx_hf.data.annotated_images import DataArguments

    common = dict(tasks="classification,grounding", region_crops=1, flip="horizontal")
    if source == "procedural":
        scenes = int(round(records / RECORDS_PER_SCENE / 0.8))  # the train split is 80 % of the scenes
        return DataArguments(data_format="procedural", num_scenes=scenes, scene_size=128,
                             scene_dir=str(workdir / "scenes"), **common)
    return DataArguments(data_format="coco", data_path=str(workdir / "coco.json"),
                         image_dir=str(workdir.parent / "coco_images"), **common)


def child(source: str, records: int, path: str, workdir: Path) -> dict:
    """One preparation in this process; returns its figures."""
    from earthgptx_hf.data.annotated_images import load_annotated_images
    from earthgptx_hf.data.dataset import records_to_dataset
    from earthgptx_hf.data.tasks import build_records
    from earthgptx_hf.data.training_data import augment_images
    from earthgptx_hf.data.training_dataset import prepare_training_dataset

    data = data_arguments(source, records, workdir)
    before = peak_rss_mb()
    start = time.perf_counter()
    if path == "stream":
        dataset, _, report = prepare_training_dataset(data, 8, workdir, 0)
    else:  # the list path as earthgptx-train ran it before (no class balance or procedural mix in these data)
        images, report = load_annotated_images(data, workdir)
        images, augmentation = augment_images(images, data, workdir, 0)
        built = build_records(images, tasks=data.tasks.split(","), prompt_type=data.prompt_type, max_regions=8,
                              seed=0, report=report, grounding_regions=data.grounding_regions)
        dataset, report = records_to_dataset(built), {"augmentation": augmentation}
    seconds = time.perf_counter() - start
    return {"source": source, "path": path, "records": len(dataset), "images": report.get("augmentation", {}).get(
        "images_out"), "seconds": seconds, "records_per_s": len(dataset) / seconds, "rss_before_mb": before,
        "peak_rss_mb": peak_rss_mb()}


def prepare_coco(workdir: Path, records: int) -> None:
    """The COCO input for `records` records (see the module docstring), outside the timed run."""
    from earthgptx_hf.data.procedural import generate_scenes

    images, _ = generate_scenes(workdir.parent / "coco_images", COCO_BASE_SCENES, size=128, test_fraction=0.0)
    repeat = max(1, int(round(records / RECORDS_PER_SCENE / COCO_BASE_SCENES)))
    write_coco(images, workdir.parent / "coco_images", workdir / "coco.json", repeat=repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", default="10000,100000")
    parser.add_argument("--sources", default="procedural,coco")
    parser.add_argument("--paths", default="stream,lists")
    parser.add_argument("--workdir", default="/tmp/bench_data")
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "RECORDS", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.workdir)
    if args.child:
        source, records, path = args.child[0], int(args.child[1]), args.child[2]
        print(json.dumps(child(source, records, path, root / f"{source}_{records}_{path}")))
        return
    rows = []
    for records in (int(r) for r in args.records.split(",")):
        for source in args.sources.split(","):
            for path in args.paths.split(","):
                workdir = root / f"{source}_{records}_{path}"
                workdir.mkdir(parents=True, exist_ok=True)
                if source == "coco":
                    prepare_coco(workdir, records)
                out = subprocess.run([sys.executable, __file__, "--child", source, str(records), path, "--workdir",
                                      str(root)], check=True, capture_output=True, text=True,
                                     env={**os.environ, "TQDM_DISABLE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"})
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), flush=True)
    print("\n| source | path | records | images (with crops, flips) | seconds | records/s | RSS before (MB) | "
          "peak RSS (MB) | growth per record (bytes) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        growth = (r["peak_rss_mb"] - r["rss_before_mb"]) * 2**20 / r["records"]
        print(f"| {r['source']} | {r['path']} | {r['records']:,} | {r['images'] or 0:,} | {r['seconds']:.0f} | "
              f"{r['records_per_s']:.0f} | {r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | {growth:.0f} |")


if __name__ == "__main__":
    main()
