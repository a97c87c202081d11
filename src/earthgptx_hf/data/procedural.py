"""Procedural multi-source scenes: a SYNTHETIC learnability fixture for tests and the demo (not remote-sensing data).

Each scene has 2-4 non-overlapping objects of `SCENE_CLASSES`, drawn with exact masks, on a background rendered like
one of three sources:
- optical: 8-bit RGB land texture; objects differ in shape and colour;
- sar: 16-bit amplitude image with multiplicative gamma speckle (dark sea, bright targets);
- infrared: 8-bit single-channel thermal image (smooth background, warm targets, blurred).

Shapes: ship = long thin rotated ellipse, storage tank = disc with a darker centre, vehicle = small rotated
rectangle, building = large axis-aligned rectangle, airplane = rotated cross (fuselage and wings). The class is
recoverable from the pixels, which is what a learnability test needs; nothing else about these scenes is realistic.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..models.earthgptx.visual_prompts import mask_to_rle
from .annotations import AnnotatedImage, ConversionReport, ObjectAnnotation

SCENE_CLASSES = ("ship", "storage tank", "vehicle", "building", "airplane")
MODALITIES = ("optical", "sar", "infrared")
SCENES_VERSION = 1  # bump when the drawing changes, so that saved scene folders are redrawn

# Each class looks different in every source (colour, backscatter, temperature) besides its shape.
_OPTICAL_COLOURS = {"ship": (45, 70, 205), "storage tank": (240, 240, 240), "vehicle": (215, 35, 30),
                    "building": (60, 40, 30), "airplane": (235, 215, 50)}
_SAR_BRIGHTNESS = {"ship": 1.0, "storage tank": 0.6, "vehicle": 0.35, "building": 0.22, "airplane": 0.8}
_THERMAL = {"ship": 160, "storage tank": 120, "vehicle": 250, "building": 95, "airplane": 205}


def _rotated(points: np.ndarray, angle: float, centre) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    rotated = points @ np.array([[c, s], [-s, c]])
    return [(float(x + centre[0]), float(y + centre[1])) for x, y in rotated]


def _shape(category: str, rng: np.random.Generator, centre, scale: float) -> list[list[tuple[float, float]]]:
    """Polygons (in image coordinates) whose union is the object."""
    angle = float(rng.uniform(0, math.pi))
    if category == "ship":
        length, width = rng.uniform(16, 26) * scale, rng.uniform(4.5, 6.5) * scale
        t = np.linspace(0, 2 * math.pi, 24, endpoint=False)
        return [_rotated(np.stack([length / 2 * np.cos(t), width / 2 * np.sin(t)], 1), angle, centre)]
    if category == "storage tank":
        radius = rng.uniform(6, 9) * scale
        t = np.linspace(0, 2 * math.pi, 24, endpoint=False)
        return [[(centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a)) for a in t]]
    if category == "vehicle":
        h, w = 4.5 * scale, 8 * scale
        box = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        return [_rotated(box, angle, centre)]
    if category == "building":
        w, h = rng.uniform(12, 20) * scale, rng.uniform(12, 20) * scale
        return [[(centre[0] - w / 2, centre[1] - h / 2), (centre[0] + w / 2, centre[1] - h / 2),
                 (centre[0] + w / 2, centre[1] + h / 2), (centre[0] - w / 2, centre[1] + h / 2)]]
    if category == "airplane":
        length, span, t = 20 * scale, 18 * scale, 2.5 * scale
        fuselage = np.array([[-length / 2, -t / 2], [length / 2, -t / 2], [length / 2, t / 2], [-length / 2, t / 2]])
        wings = np.array([[-t, -span / 2], [t, -span / 2], [t, span / 2], [-t, span / 2]]) + np.array([length / 8, 0])
        return [_rotated(fuselage, angle, centre), _rotated(wings, angle, centre)]
    raise ValueError(f"category={category!r} is not one of {list(SCENE_CLASSES)}.")


def _mask_of(polygons, size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        draw.polygon(polygon, fill=1)
    return np.asarray(canvas).astype(bool)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int = 6) -> np.ndarray:
    coarse = (rng.random((cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC)).astype(np.float32) / 255.0


def generate_scene(rng: np.random.Generator, modality: str, size: int = 128, num_objects: tuple[int, int] = (2, 4),
                   classes=SCENE_CLASSES, object_scale: float | None = None):
    """One scene. Returns `(pixels, objects)`: pixels are (H, W, 3) uint8 (optical), (H, W) uint16 (sar) or (H, W)
    uint8 (infrared); objects are `ObjectAnnotation`s with exact masks (RLE) and boxes that cover them.

    `object_scale` multiplies the object sizes (a ship is 16-26 pixels long at 1.0); by default objects scale with the
    image (`size / 128`)."""
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r} is not one of {list(MODALITIES)}.")
    scale = size / 128 if object_scale is None else object_scale
    count = int(rng.integers(num_objects[0], num_objects[1] + 1))
    occupied = np.zeros((size, size), bool)
    objects, masks = [], []
    for _ in range(count * 20):
        if len(objects) == count:
            break
        category = classes[int(rng.integers(len(classes)))]
        centre = rng.uniform(0.15 * size, 0.85 * size, 2)
        mask = _mask_of(_shape(category, rng, centre, scale), size)
        grown = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(7))) > 0
        if mask.sum() < 8 or (grown & occupied).any():
            continue
        occupied |= grown
        rows, cols = np.nonzero(mask)
        bbox = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
        objects.append(ObjectAnnotation(category=category, bbox=bbox, mask=mask_to_rle(mask)))
        masks.append(mask)
    texture = _smooth_noise(rng, size)
    if modality == "optical":
        base = np.array([85, 110, 70], np.float32) + (texture[..., None] - 0.5) * np.array([50, 40, 40], np.float32)
        image = base + rng.normal(0, 6, (size, size, 3))
        for obj, mask in zip(objects, masks):
            colour = np.array(_OPTICAL_COLOURS[obj.category], np.float32) + rng.normal(0, 8, 3)
            image[mask] = colour + rng.normal(0, 5, (int(mask.sum()), 3))
            if obj.category == "storage tank":
                image[_erode(mask, 3)] *= 0.8
        return image.clip(0, 255).astype(np.uint8), objects
    if modality == "sar":
        amplitude = 0.08 + 0.04 * texture
        for obj, mask in zip(objects, masks):
            amplitude = np.where(mask, _SAR_BRIGHTNESS[obj.category], amplitude)
            if obj.category == "storage tank":
                amplitude = np.where(_erode(mask, 3), 0.25, amplitude)
        speckle = rng.gamma(2.0, 0.5, (size, size))
        return (amplitude * speckle * 20000).clip(0, 65535).astype(np.uint16), objects
    heat = 70 + 40 * texture
    for obj, mask in zip(objects, masks):
        heat = np.where(mask, _THERMAL[obj.category], heat)
    image = Image.fromarray(heat.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    return (np.asarray(image).astype(np.float32) + rng.normal(0, 3, (size, size))).clip(0, 255).astype(np.uint8), objects


def _erode(mask: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MinFilter(size))) > 0


def generate_scenes(out_dir: str | Path, num_images: int, size: int = 128, seed: int = 0,
                    modalities=MODALITIES, test_fraction: float = 0.2, num_objects: tuple[int, int] = (2, 4),
                    object_scale: float | None = None):
    """Writes `num_images` scenes (modalities in turn) as PNG files under `out_dir` (16-bit PNG for SAR, 8-bit
    single-channel PNG for infrared, RGB PNG for optical). The last `test_fraction` of them form the test split.

    The annotations and the settings go to `out_dir/scenes.json`; a later call with the same settings whose files are
    all there reads them back instead of drawing and writing the scenes again (training, evaluation and the demo's
    examples all ask for the same scenes).

    Returns:
        `(list[AnnotatedImage], ConversionReport)`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"version": SCENES_VERSION, "num_images": num_images, "size": size, "seed": seed,
                "modalities": list(modalities), "test_fraction": test_fraction, "num_objects": list(num_objects),
                "object_scale": object_scale}
    manifest = out_dir / "scenes.json"
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        images = [AnnotatedImage.from_dict(d) for d in saved["images"]]
        if saved.get("settings") == settings and all(Path(im.image).is_file() for im in images):
            report = ConversionReport(source="procedural scenes (synthetic)", images=len(images))
            report.objects_read = report.objects_kept = sum(len(im.objects) for im in images)
            return images, report
    rng = np.random.default_rng(seed)
    report = ConversionReport(source="procedural scenes (synthetic)")
    images = []
    first_test = int(round(num_images * (1 - test_fraction)))
    for index in range(num_images):
        modality = modalities[index % len(modalities)]
        pixels, objects = generate_scene(rng, modality, size, num_objects, object_scale=object_scale)
        path = out_dir / f"{index:05d}_{modality}.png"
        Image.fromarray(pixels).save(path)
        report.images += 1
        report.objects_read += len(objects)
        report.objects_kept += len(objects)
        images.append(AnnotatedImage(image=str(path), width=size, height=size, modality=modality, objects=objects,
                                     source="procedural", id=f"procedural/{index:05d}",
                                     split="test" if index >= first_test else "train"))
    manifest.write_text(json.dumps({"settings": settings, "images": [asdict(im) for im in images]}))
    return images, report


__all__ = ["SCENE_CLASSES", "generate_scene", "generate_scenes"]
