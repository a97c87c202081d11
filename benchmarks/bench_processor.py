"""Images per second of the EarthGPT-X image processor, against transformers' LlavaNextImageProcessorPil (PIL backend)
producing the same number of views (1 global + 4 tiles) at the same size (224), measured in the same run.

    python benchmarks/bench_processor.py [--repeats 30]

EarthGPT-X does more per image: the multi-source normalisation, two normalisations (DINOv2 and CLIP statistics),
five prompt maps per view, and the 1024x1024 SAM view.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image
from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

from timing import median_seconds  # noqa: E402 (benchmarks/, on sys.path as a script)

from earthgptx_hf import EarthGPTXImageProcessor

PROMPTS = [
    {"type": "box", "bbox": [40, 60, 200, 180]},
    {"type": "point", "point": [300, 310]},
    {"type": "polygon", "points": [[100, 300], [220, 320], [160, 450]]},
    {"type": "scribble", "points": [[400, 100], [450, 160], [500, 120]], "width": 6},
    {"type": "circle", "center": [420, 400], "radius": 40},
]


def images_per_second(fn, repeats: int) -> float:
    return 1.0 / median_seconds(fn, repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = {
        "800x800 RGB uint8": rng.integers(0, 256, (800, 800, 3), dtype=np.uint8),
        "640x512 single-channel uint8": rng.integers(0, 256, (512, 640), dtype=np.uint8),
    }
    ours = EarthGPTXImageProcessor()  # paper geometry: 2x2 tiles of 224 + global view, SAM view 1024
    reference = LlavaNextImageProcessorPil(
        image_grid_pinpoints=[[448, 448]], size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    )
    print("| image | EarthGPT-X (img/s) | LlavaNextImageProcessorPil (img/s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, image in cases.items():
        ref_input = Image.fromarray(image)  # the reference takes a 2-D array only as a PIL image
        ref_views = reference(ref_input, return_tensors="np")["pixel_values"].shape
        our_views = ours(image, visual_prompts=PROMPTS, return_tensors="np")["pixel_values"].shape
        assert ref_views[1:] == our_views[1:], (ref_views, our_views)  # same number of views, same size
        ref_ips = images_per_second(lambda: reference(ref_input, return_tensors="np"), args.repeats)
        for label, sam in (("5 prompts + SAM view", True), ("5 prompts, no SAM view", False)):
            ours_ips = images_per_second(
                lambda: ours(image, visual_prompts=PROMPTS, return_tensors="np", do_sam_view=sam), args.repeats
            )
            print(f"| {name}, {label} | {ours_ips:.1f} | {ref_ips:.1f} | {ours_ips / ref_ips:.2f} |")


if __name__ == "__main__":
    main()
