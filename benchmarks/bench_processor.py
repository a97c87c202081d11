"""The EarthGPT-X image processor: speed against transformers' LlavaNextImageProcessorPil, and what it ships against
its former outputs, each measured against its reference in the same run.

    python benchmarks/bench_processor.py [--repeats 30]

1. Images per second against `LlavaNextImageProcessorPil` (PIL backend) making the same 5 views (1 global + 4 tiles)
   of 224; EarthGPT-X also normalises multi-source images, rasterises 5 prompts and, by default, makes the SAM view.
2. Bytes shipped per image and processor time, now (8-bit: one uint8 copy of the views, prompt maps with the batch's
   prompt count of channels bit-packed by `np.packbits`, uint8 SAM view) against the former outputs (two float32
   normalised copies of the views, dense `max_regions` uint8 maps, float32 SAM view), which `FormerImageProcessor`
   (the former `preprocess` and `_collate`) still makes here as the reference; the model-side decoding of the new
   outputs is checked to give exactly the former tensors.
3. The prompt-map encodings measured: bytes per image and encode / decode time for 1, 5 and 16 prompts (decode:
   to the dense `max_regions` maps the model works on; their cast to the model's dtype is common to all).
4. The model-side cost of decoding (normalising the uint8 views for both towers and the SAM view, unpacking the maps)
   against the towers that read them, `small` preset; and the decoding alone at the paper preset's sizes.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_utils import BatchFeature
from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

from timing import median_seconds  # noqa: E402 (benchmarks/, on sys.path as a script)

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXImageProcessor
from earthgptx_hf.models.earthgptx.mixed_visual_encoder import normalise_pixels, renormalise, sam_view_input, unpack_prompt_maps
from earthgptx_hf.models.earthgptx.image_processing_earthgptx import as_batch
from earthgptx_hf.models.earthgptx.multi_source import normalise_image
from earthgptx_hf.models.earthgptx.image_geometry import place, render_views
from earthgptx_hf.models.earthgptx.visual_prompts import rasterise_prompts, validate_prompts

PROMPTS = [
    {"type": "box", "bbox": [40, 60, 200, 180]},
    {"type": "point", "point": [300, 310]},
    {"type": "polygon", "points": [[100, 300], [220, 320], [160, 450]]},
    {"type": "scribble", "points": [[400, 100], [450, 160], [500, 120]], "width": 6},
    {"type": "circle", "center": [420, 400], "radius": 40},
]


def ms(fn, repeats: int) -> float:
    return 1000.0 * median_seconds(fn, repeats)


def megabytes(outputs: dict) -> float:
    return sum(np.asarray(v).nbytes for v in outputs.values()) / 1e6


# ---------------------------------------------------------------------------------------------------------------------
# The reference: the processor as it was before issue 18 (its `preprocess` and `_collate`, verbatim but for names)
def _former_normalise(views: np.ndarray, mean, std) -> np.ndarray:
    """The former `_normalise`: `(..., H, W, 3)` uint8 -> `(..., 3, H, W)` float32 `(x / 255 - mean) / std`."""
    tensor = torch.from_numpy(views).movedim(-1, -3).to(torch.float32, memory_format=torch.contiguous_format)
    shift = torch.tensor(mean, dtype=torch.float32)[:, None, None] * 255.0
    scale = torch.tensor(std, dtype=torch.float32)[:, None, None] * 255.0
    return tensor.sub_(shift).div_(scale).numpy()


class FormerImageProcessor(EarthGPTXImageProcessor):
    """The former outputs: two float32 normalised copies of the views, `(B, V, max_regions, T, T)` uint8 maps and the
    float32 `(S, S, 3)`-rendered SAM view, padded with 0 after normalisation."""

    def preprocess(self, images, visual_prompts=None, return_tensors=None, do_sam_view=None, **kwargs):
        do_sam_view = self.do_sam_view if do_sam_view is None else do_sam_view
        images = as_batch(images, "images")
        prompts = self._batch_prompts(visual_prompts, len(images))
        fill = np.round(np.asarray(self.image_mean) * 255).astype(np.uint8)
        items = []
        for i, (image, image_prompts) in enumerate(zip(images, prompts)):
            normalised = normalise_image(image, max_pixels=self.max_pixels, percentiles=self.percentiles,
                                         index=i if len(images) > 1 else None,
                                         min_valid_fraction=self.min_valid_fraction, complex_to=self.complex_to)
            height, width = normalised.size
            clean = validate_prompts(image_prompts, (height, width), self.max_regions)
            layout = self.layout(height, width)
            views = render_views(normalised.pixels, layout, fill)
            maps = rasterise_prompts(clean, layout, self.point_radius)
            sam_view = place(normalised.pixels, layout.sam, 0, Image.BILINEAR) if do_sam_view else None
            items.append((views, maps, sam_view, layout, clean))
        return self._collate(items, return_tensors)

    def _collate(self, items, return_tensors) -> BatchFeature:
        batch = len(items)
        max_views = max(views.shape[0] for views, *_ in items)
        tile = self.tile_size
        views_all = np.zeros((batch, max_views, tile, tile, 3), np.uint8)
        maps_all = np.zeros((batch, max_views, self.max_regions, tile, tile), np.uint8)
        view_mask = np.zeros((batch, max_views), bool)
        for b, (views, maps, _, _, _) in enumerate(items):
            views_all[b, : views.shape[0]] = views
            maps_all[b, : maps.shape[0], : maps.shape[1]] = maps
            view_mask[b, : views.shape[0]] = True
        data = {
            "pixel_values": _former_normalise(views_all, self.image_mean, self.image_std),
            "convnext_pixel_values": _former_normalise(views_all, self.convnext_image_mean, self.convnext_image_std),
            "prompt_maps": maps_all,
        }
        if items[0][2] is not None:
            sam_pixels = _former_normalise(np.stack([it[2] for it in items]), self.sam_image_mean, self.sam_image_std)
            for b, (_, _, _, layout, _) in enumerate(items):  # SAM pads with zeros after normalisation
                rh, rw = layout.sam.resized
                sam_pixels[b, :, rh:, :] = 0
                sam_pixels[b, :, :, rw:] = 0
            data["sam_pixel_values"] = sam_pixels
        if not view_mask.all():
            data["view_mask"] = view_mask
        return BatchFeature(data=data, tensor_type=return_tensors)


def check_same_model_inputs(processor, new: dict, former: dict) -> None:
    """The model's decoding of the new outputs gives exactly the former tensors."""
    p, views = processor, torch.from_numpy(new["pixel_values"])
    assert torch.equal(normalise_pixels(views, p.image_mean, p.image_std, torch.float32),
                       torch.from_numpy(former["pixel_values"]))
    assert torch.equal(normalise_pixels(views, p.convnext_image_mean, p.convnext_image_std, torch.float32),
                       torch.from_numpy(former["convnext_pixel_values"]))
    assert torch.equal(unpack_prompt_maps(torch.from_numpy(new["prompt_maps"]), p.max_regions, p.tile_size),
                       torch.from_numpy(former["prompt_maps"]))
    if "sam_pixel_values" in former:
        sam = sam_view_input(torch.from_numpy(new["sam_pixel_values"]), p.sam_image_mean, p.sam_image_std,
                             torch.float32)
        assert torch.equal(sam, torch.from_numpy(former["sam_pixel_values"]))


# ---------------------------------------------------------------------------------------------------------------------
def table_reference_processor(ours, cases: dict, repeats: int) -> None:
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
        ref_ips = 1000.0 / ms(lambda: reference(ref_input, return_tensors="np"), repeats)
        for label, sam in (("5 prompts + SAM view", True), ("5 prompts, no SAM view", False)):
            ours_ips = 1000.0 / ms(lambda: ours(image, visual_prompts=PROMPTS, return_tensors="np",
                                                do_sam_view=sam), repeats)
            print(f"| {name}, {label} | {ours_ips:.1f} | {ref_ips:.1f} | {ours_ips / ref_ips:.2f} |")


def table_outputs(ours, former, cases: dict, repeats: int) -> None:
    print("\n| image | bytes now (MB) | former (MB) | ratio | time now (ms) | former (ms) | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, image in cases.items():
        for label, sam in (("5 prompts + SAM view", True), ("5 prompts, no SAM view", False)):
            calls = [lambda processor=processor: processor(image, visual_prompts=PROMPTS, return_tensors="np",
                                                           do_sam_view=sam) for processor in (ours, former)]
            new, old = (call() for call in calls)
            check_same_model_inputs(ours, new, old)
            now, before = (ms(call, repeats) for call in calls)
            print(f"| {name}, {label} | {megabytes(new):.2f} | {megabytes(old):.2f} | "
                  f"{megabytes(new) / megabytes(old):.3f} | {now:.1f} | {before:.1f} | {now / before:.2f} |")


def table_prompt_maps(ours, repeats: int) -> None:
    """Every encoding from the same `(V, n, T, T)` rasterised maps of one image (boxes tiling the image)."""
    tile, regions = ours.tile_size, ours.max_regions
    print("\n| prompts | encoding | bytes / image (KB) | encode (ms) | decode in the model (ms) |")
    print("|---:|---|---:|---:|---:|")
    for count in (1, 5, 16):
        prompts = [{"type": "box", "bbox": [40 * (k % 4) + 10, 40 * (k // 4) + 10, 40 * (k % 4) + 50,
                                            40 * (k // 4) + 50]} for k in range(count)]
        layout = ours.layout(800, 800)
        clean = validate_prompts(prompts, (800, 800), regions)
        maps = rasterise_prompts(clean, layout, ours.point_radius)[None]  # (1, V, n, T, T)

        def dense_all() -> np.ndarray:
            out = np.zeros(maps.shape[:2] + (regions, tile, tile), np.uint8)
            out[:, :, :count] = maps
            return out

        encodings = {
            "dense, max_regions channels (former)": dense_all,
            "dense, the prompt count of channels": lambda: maps.copy(),
            "bit-packed, max_regions channels": lambda: np.packbits(dense_all(), axis=-1),
            "bit-packed, the prompt count of channels (now)": lambda: np.packbits(maps, axis=-1),
        }
        for label, encode in encodings.items():
            shipped = torch.from_numpy(encode())
            assert torch.equal(unpack_prompt_maps(shipped, regions, tile)[:, :, :count], torch.from_numpy(maps))
            print(f"| {count} | {label} | {shipped.numel() / 1e3:.1f} | {ms(encode, repeats):.2f} | "
                  f"{ms(lambda: unpack_prompt_maps(shipped, regions, tile), repeats):.2f} |")
        geometry = len(json.dumps(clean).encode())
        raster = ms(lambda: rasterise_prompts(clean, layout, ours.point_radius), repeats)
        print(f"| {count} | per-prompt geometry (JSON), rasterised in the model | {geometry / 1e3:.2f} | 0 | "
              f"{raster:.2f} (the rasteriser, moved) |")


def table_model_side(repeats: int) -> None:
    torch.manual_seed(0)
    config = EarthGPTXConfig.from_preset("small")
    model = EarthGPTXForConditionalGeneration(config).eval()
    print("\n| preset | decoding in the model (ms) | towers that read it (ms) | ratio |")
    print("|---|---:|---:|---:|")
    for name, cfg in (("small", config), ("paper (decoding only)", EarthGPTXConfig.from_preset("paper"))):
        tile, size, regions = cfg.tile_size, cfg.grounding_image_size, cfg.max_regions
        views = torch.randint(0, 256, (1, cfg.num_views, 3, tile, tile), dtype=torch.uint8)
        maps = torch.from_numpy(np.packbits(np.random.default_rng(0).integers(0, 2, (1, cfg.num_views, 5, tile, tile),
                                                                               dtype=np.uint8), axis=-1))
        sam = torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8)
        stats = [(cfg.image_mean, cfg.image_std), (cfg.convnext_image_mean, cfg.convnext_image_std)]

        def decode():
            flat = views.flatten(0, 1)
            normalise_pixels(flat, *stats[0], torch.float32), renormalise(flat, *stats, torch.float32)
            unpack_prompt_maps(maps, regions, tile)  # its cast to the model's dtype was there before too
            sam_view_input(sam, cfg.sam_image_mean, cfg.sam_image_std, torch.float32)

        decoding = ms(decode, repeats)
        if cfg is not config:
            print(f"| {name} | {decoding:.1f} | - | - |")
            continue

        def towers():
            model.model.vision_tower(views.flatten(0, 1))
            model.model.spatial_aware_encoder(unpack_prompt_maps(maps, regions, tile).flatten(0, 1).float())
            model.pixel_perception.encode_image(sam)

        with torch.no_grad():
            tower_ms = ms(towers, repeats)
        print(f"| {name} | {decoding:.1f} | {tower_ms:.1f} | {decoding / tower_ms:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = {
        "800x800 RGB uint8": rng.integers(0, 256, (800, 800, 3), dtype=np.uint8),
        "640x512 single-channel uint8": rng.integers(0, 256, (512, 640), dtype=np.uint8),
    }
    ours = EarthGPTXImageProcessor()  # paper geometry: 2x2 tiles of 224 + global view, SAM view 1024, 16 regions
    print(f"torch_threads={torch.get_num_threads()}")
    table_reference_processor(ours, cases, args.repeats)
    table_outputs(ours, FormerImageProcessor(), cases, args.repeats)
    table_prompt_maps(ours, args.repeats)
    table_model_side(args.repeats)


if __name__ == "__main__":
    main()
