"""Time to validate and rasterise one visual prompt of each type, normal and adversarial (huge radius or width, far
vertices, 10,000 vertices, a mask at `max_pixels`), against a normal small box measured in the same run.

    python benchmarks/bench_prompts.py [--repeats 5] [--side 10000]

The image is `side x side` (10000 x 10000 = the image processor's default `max_pixels`, 100 megapixels); only the
prompt is timed (`validate_prompts` + `rasterise_prompts` with the paper geometry: 2x2 tiles of 224 + global view), not
the image. Every prompt must stay well under a second, whatever its numbers.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from timing import median_seconds  # noqa: E402 (benchmarks/, on sys.path as a script)

from earthgptx_hf import EarthGPTXImageProcessor
from earthgptx_hf.models.earthgptx.visual_prompts import rasterise_prompts, validate_prompts


def cases(side: int) -> dict[str, dict]:
    rng = np.random.default_rng(0)
    s = side / 1000  # prompts are written for a 1000-pixel image and scaled
    zigzag = np.stack([rng.uniform(0, side, 10_000), np.tile([0.0, float(side)], 5_000)], axis=1)
    blob = np.zeros((side, side), bool)
    blob[side // 4 : side // 2, side // 3 : 2 * side // 3] = True
    one_pixel = np.zeros((side, side), bool)
    one_pixel[side // 2 + 1, side // 3 + 1] = True
    soft = np.zeros((side, side), np.float32)
    soft[side // 4 : side // 2, side // 4 : side // 2] = 0.99
    return {
        "box (reference)": {"type": "box", "bbox": [100 * s, 100 * s, 300 * s, 260 * s]},
        "point": {"type": "point", "point": [500 * s, 400 * s]},
        "circle r=40": {"type": "circle", "center": [420 * s, 400 * s], "radius": 40 * s},
        "circle r=1e9 (covers)": {"type": "circle", "center": [500 * s, 500 * s], "radius": 1e9},
        "circle r=1e11, edge inside": {"type": "circle", "center": [-1e11, 500 * s], "radius": 1e11 + 300 * s},
        "polygon 3 vertices": {"type": "polygon",
                               "points": [[100 * s, 300 * s], [220 * s, 320 * s], [160 * s, 450 * s]]},
        "polygon vertex at 1e10": {"type": "polygon",
                                   "points": [[100 * s, 300 * s], [100 * s, 700 * s], [1e10, 500 * s]]},
        "polygon 10,000-vertex zigzag": {"type": "polygon", "points": zigzag},
        "scribble w=6": {"type": "scribble", "points": [[400 * s, 100 * s], [450 * s, 160 * s], [500 * s, 120 * s]],
                         "width": 6 * s},
        "scribble w=1e10": {"type": "scribble", "points": [[0, 0], [50 * s, 50 * s]], "width": 1e10},
        "scribble vertices at +-1e10": {"type": "scribble", "points": [[-1e10, -1e10], [1e10, 1e10], [-1e10, 1e10]],
                                        "width": 8 * s},
        "scribble 10,000-vertex zigzag w=1": {"type": "scribble", "points": zigzag, "width": 1.0},
        "mask blob (bool)": {"type": "mask", "mask": blob},
        "mask one pixel (bool)": {"type": "mask", "mask": one_pixel},
        "mask soft (float32)": {"type": "mask", "mask": soft},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", type=int, default=10_000)
    args = parser.parse_args()
    processor = EarthGPTXImageProcessor()
    if args.side * args.side > processor.max_pixels:
        raise SystemExit(f"--side {args.side} is beyond max_pixels={processor.max_pixels}.")
    size = (args.side, args.side)
    layout = processor.layout(*size)
    warnings.simplefilter("ignore", UserWarning)  # prompts beyond the image warn once per call, by design

    def one(prompt):
        maps = rasterise_prompts(validate_prompts([prompt], size, 1), layout, processor.point_radius)
        assert maps[:, 0].any(), "an accepted prompt must mark the image"
        return maps

    table = cases(args.side)
    reference = median_seconds(lambda: one(table["box (reference)"]), args.repeats)
    print(f"image {args.side}x{args.side} ({args.side * args.side / 1e6:g} MP), views {layout.num_views} x "
          f"{layout.tile}x{layout.tile}, median of {args.repeats}")
    print("| prompt | ms | ratio to the box |")
    print("|---|---:|---:|")
    for name, prompt in table.items():
        t = reference if name == "box (reference)" else median_seconds(lambda: one(prompt), args.repeats)
        print(f"| {name} | {t * 1e3:.2f} | {t / reference:.1f} |")


if __name__ == "__main__":
    main()
