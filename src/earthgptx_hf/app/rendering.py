"""What the app shows and writes: the canvas with the prompts, the answer drawn on the image, the regions' answers and
mask scores as a table (or, for a find by name, the instances found, each with its label and score, in its mask's
colour), and the results as JSON (masks as COCO RLE) and, for georeferenced input, GeoJSON.

Drawing is `evaluation/visualization.py`'s (`draw_visual_prompts`, `draw_result`): the app adds only the marks of a shape still
being drawn, which those functions cannot show (a lone box corner is not a prompt).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..models.earthgptx.conversation import region_tag
from ..models.earthgptx.visual_prompts import mask_to_rle
from ..evaluation.visualization import draw_result, draw_visual_prompts, region_colour
from .prompts import CanvasMapping, region_label

CANVAS_MIN_SIZE = 512  # the canvas' longer side: a 64-pixel demo scene is shown 8x, large enough to click on
CANVAS_MAX_SIZE = 768
UNBOUND_LISTED = 8  # masks bound to no region listed in the table (all are in the JSON)
NONE_FOUND = "none found"


def render_canvas(display: np.ndarray, prompts: list[dict], pending: list | None = None,
                  pending_mode: str | None = None) -> tuple[Image.Image, CanvasMapping]:
    """The scene with its prompts and `<Region i>` labels, and the clicks of the shape being drawn; with the mapping
    from canvas pixels to image coordinates (the drawing's size over the image's)."""
    canvas = draw_visual_prompts(display, prompts, min_size=CANVAS_MIN_SIZE, max_size=CANVAS_MAX_SIZE)
    mapping = CanvasMapping(image_size=display.shape[:2], display_size=(canvas.height, canvas.width))
    if pending:
        _draw_pending(canvas, mapping, pending, pending_mode, region_colour(len(prompts) + 1))
    return canvas, mapping


def _draw_pending(canvas: Image.Image, mapping: CanvasMapping, pending: list, mode: str | None, colour) -> None:
    """Crosses at the clicks of an unfinished box, polygon or scribble, joined by a thin line in click order."""
    draw = ImageDraw.Draw(canvas)
    points = [mapping.to_display(p) for p in pending]
    if len(points) > 1:
        draw.line(points, fill=colour, width=2)
    size = max(4, round(max(canvas.size) / 100))
    for x, y in points:
        draw.line([(x - size, y - size), (x + size, y + size)], fill=colour, width=2)
        draw.line([(x - size, y + size), (x + size, y - size)], fill=colour, width=2)
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(255, 255, 255))


def render_answer(display: np.ndarray, result: dict) -> Image.Image:
    """One pipeline result drawn on the scene (`draw_result`: the prompts, the regions' answers and the `[PIX]` masks
    in region colours); the question and answer are shown as text beside it, so no caption."""
    return draw_result(display, result, caption=False, min_size=CANVAS_MIN_SIZE, max_size=CANVAS_MAX_SIZE)


def _score(value) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def region_table(result: dict) -> str:
    """The regions' answers and mask scores as a Markdown table, then the masks bound to no region (with scores)."""
    lines = ["| region | prompt | answer | mask score |", "|---|---|---|---:|"]
    for region in result.get("regions", []):
        prompt = region_label(region["index"], region["prompt"]).split(": ", 1)[1]
        answer = (region.get("answer") or "-").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {region_tag(region['index'])} | {prompt} | {answer} | {_score(region.get('score'))} |")
    bound = {id(r["mask"]) for r in result.get("regions", []) if r.get("mask") is not None}
    others = [(i, s) for i, (m, s) in enumerate(zip(result.get("masks", []), result.get("scores", [])), start=1)
              if id(m) not in bound]
    if others:
        listed = ", ".join(f"mask {i} score {_score(s)}" for i, s in others[:UNBOUND_LISTED])
        more = f", and {len(others) - UNBOUND_LISTED} more (in the JSON)" if len(others) > UNBOUND_LISTED else ""
        lines += ["", f"Masks not bound to a region (the answer's `[PIX]` tokens, in order): {listed}{more}"]
    if result.get("dropped_masks"):
        lines += ["", f"{result['dropped_masks']} mask(s) below min_score were dropped."]
    return "\n".join(lines)


def instance_list(result: dict) -> str:
    """The instances of a find answer as a numbered Markdown list, instance i with a swatch of its mask's colour (the
    drawing's: `region_colour(i)`), its label and score ("1. ■ ship 0.87, box [x1, y1, x2, y2]"); `NONE_FOUND`
    when the answer has none (the model's "none")."""
    instances = result.get("instances") or []
    if not instances:
        lines = [f"**{NONE_FOUND}** (the answer: {(result.get('generated_text') or '(empty)').strip()!r})"]
    else:
        lines = ["Found (instance i is drawn in colour i):", ""]
    for i, instance in enumerate(instances, start=1):
        red, green, blue = region_colour(i)
        box = "" if instance.get("box") is None else ", box [" + ", ".join(f"{v:g}" for v in instance["box"]) + "]"
        lines.append(f'{i}. <span style="color: rgb({red}, {green}, {blue})">&#9632;</span> '
                     f"{instance.get('label') or 'unnamed'} {float(instance['score']):.2f}{box}")
    if result.get("dropped_masks"):
        lines += ["", f"{result['dropped_masks']} mask(s) below min_score were dropped."]
    return "\n".join(lines)


def result_record(result: dict) -> dict:
    """A pipeline result as JSON-serialisable data: masks as COCO RLE (`mask_to_rle`), scores as floats."""
    def mask(value):
        return None if value is None else mask_to_rle(np.asarray(value, bool))

    return {
        "generated_text": result["generated_text"],
        "regions": [{"index": r["index"], "prompt": r["prompt"], "answer": r.get("answer"), "mask": mask(r.get("mask")),
                     "score": None if r.get("score") is None else float(r["score"])} for r in result["regions"]],
        "masks": [mask(m) for m in result.get("masks", [])],
        "scores": [float(s) for s in result.get("scores", [])],
        "instances": [{"label": i.get("label"), "score": float(i["score"]),  # mask k is masks[k]
                       "box": None if i.get("box") is None else [float(v) for v in i["box"]]}
                      for i in result.get("instances", [])],
        "dropped_masks": int(result.get("dropped_masks", 0)),
    }


def results_document(scene, turns: list[dict], model: str) -> dict:
    """Everything a session produced about one scene: the model, the image (name, size, modality), the prompts and
    each turn's question and result (`result_record`)."""
    height, width = scene.size
    return {
        "model": model,
        "image": {"name": scene.name, "width": width, "height": height, "modality": scene.modality,
                  "dtype": scene.source_dtype, "bands": scene.source_channels},
        "prompts": turns[0]["prompts"] if turns else [],
        "turns": [{"question": t["question"], **result_record(t["result"]), "seconds": round(t["seconds"], 3)}
                  for t in turns],
    }


def write_results(document: dict, folder: str | Path, stem: str = "earthgptx_results") -> Path:
    """Writes `document` as `<folder>/<stem>.json` and returns the path."""
    path = Path(folder) / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


__all__ = ["render_canvas", "render_answer", "region_table", "instance_list", "result_record", "results_document",
           "write_results", "CANVAS_MIN_SIZE", "NONE_FOUND"]
