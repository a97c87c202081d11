"""Pictures of visual prompts, region answers and masks on an image: shared by the evaluation gallery, the pipeline
and the README.

    panel = draw_visual_prompts(image, prompts, answers={1: "ship"}, masks=[mask], caption="USER: ... ASSISTANT: ...")
    panel = draw_result(image, pipe(image, boxes=[[...]], task="segment")[0])   # a pipeline result
    save_gallery([panel, ...], "gallery.png", columns=4)

Any image the processor reads works (PIL, path, numpy; SAR 16-bit and infrared single-channel are stretched for
display as the processor does). Prompt i and mask i share colour i; every prompt is labelled `<Region i>` (with the
model's answer when given). Small images are enlarged (nearest neighbour) so that labels stay readable.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..models.earthgptx.multi_source import normalise_image
from ..models.earthgptx.conversation import region_tag
from ..models.earthgptx.visual_prompts import validate_prompts

# Distinct colours (Tableau 10) for regions 1, 2, ... (cycled).
REGION_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                  (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
MASK_ALPHA = 0.45


def region_colour(index: int) -> tuple[int, int, int]:
    """Colour of region `index` (1-based)."""
    return REGION_COLOURS[(index - 1) % len(REGION_COLOURS)]


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _prompt_anchor(prompt: dict) -> tuple[float, float]:
    """Where a prompt's label goes (its top-left corner, or the point)."""
    kind = prompt["type"]
    if kind == "point":
        return tuple(prompt["point"])
    if kind == "box":
        return prompt["bbox"][0], prompt["bbox"][1]
    if kind in ("polygon", "scribble"):
        xs, ys = zip(*prompt["points"])
        return min(xs), min(ys)
    if kind == "circle":
        (x, y), r = prompt["center"], prompt["radius"]
        return x - r, y - r
    ys, xs = np.nonzero(np.asarray(prompt["mask"], bool))
    return (float(xs.min()), float(ys.min())) if len(xs) else (0.0, 0.0)


def _draw_prompt(draw: ImageDraw.ImageDraw, prompt: dict, scale: float, colour, line: int) -> None:
    kind = prompt["type"]
    if kind == "point":
        x, y = (v * scale for v in prompt["point"])
        r = 2 * line + 2
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(255, 255, 255), width=max(1, line // 2))
    elif kind == "box":
        draw.rectangle([v * scale for v in prompt["bbox"]], outline=colour, width=line)
    elif kind == "polygon":
        points = [(x * scale, y * scale) for x, y in prompt["points"]]
        draw.line(points + points[:1], fill=colour, width=line, joint="curve")
    elif kind == "scribble":
        points = [(x * scale, y * scale) for x, y in prompt["points"]]
        draw.line(points, fill=colour, width=max(line, int(prompt.get("width", 1) * scale)), joint="curve")
    elif kind == "circle":
        (x, y), r = (v * scale for v in prompt["center"]), prompt["radius"] * scale
        draw.ellipse([x - r, y - r, x + r, y + r], outline=colour, width=line)
    # "mask" prompts are drawn as an overlay by the caller


def _overlay(canvas: np.ndarray, mask: np.ndarray, colour, alpha: float) -> None:
    if mask.shape != canvas.shape[:2]:
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(canvas.shape[1::-1], Image.NEAREST)) > 0
    canvas[mask] = (1 - alpha) * canvas[mask] + alpha * np.asarray(colour, np.float32)


def draw_visual_prompts(
    image,
    prompts=(),
    answers: dict[int, str] | None = None,
    masks=None,
    caption: str | None = None,
    min_size: int = 256,
    max_size: int = 768,
) -> Image.Image:
    """Draws the prompts (every SPEC type), their `<Region i>` labels with `answers`, and `masks` on `image`.

    Args:
        image: anything the processor reads (PIL, path, numpy array incl. 16-bit and single-channel, torch).
        prompts: SPEC prompt dicts, in region order (prompt i is `<Region i+1>`).
        answers: `{region index: answer}` written next to the labels (e.g. `EarthGPTXProcessor.parse_regions(text)`).
        masks: binary masks (H, W) at the image size (bool numpy as the pipeline returns them, or PIL "L"), drawn in
            region colours.
        caption: text written under the image (wrapped), e.g. the question and the answer.
        min_size, max_size: the longer side of the drawing is enlarged to at least `min_size` and reduced to at most
            `max_size` pixels.

    Returns:
        An RGB `PIL.Image`.
    """
    pixels = normalise_image(image, argument="image").pixels
    height, width = pixels.shape[:2]
    with warnings.catch_warnings():  # clipping is reported by the processor; a drawing only shows what is inside
        warnings.simplefilter("ignore", UserWarning)
        prompts = validate_prompts(list(prompts or []), (height, width), len(prompts or []), argument="prompts")
    longest = max(height, width)
    scale = min(min_size / longest, max_size / longest) if longest < min_size else min(1.0, max_size / longest)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = np.asarray(Image.fromarray(pixels).resize(size, Image.NEAREST if scale >= 1 else Image.BILINEAR),
                        np.float32).copy()
    for index, prompt in enumerate(prompts, start=1):
        if prompt["type"] == "mask":
            _overlay(canvas, np.asarray(prompt["mask"], bool), region_colour(index), 0.3)
    for index, mask in enumerate(masks if masks is not None else [], start=1):
        mask = np.asarray(mask, bool)
        if mask.shape != (height, width):
            raise ValueError(f"masks[{index - 1}] has shape {mask.shape}; expected the image size {(height, width)}.")
        _overlay(canvas, mask, region_colour(index), MASK_ALPHA)
    picture = Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    line = max(2, round(max(size) / 200))
    font = _font(max(11, round(max(size) / 28)))
    for index, prompt in enumerate(prompts, start=1):
        colour = region_colour(index)
        _draw_prompt(draw, prompt, scale, colour, line)
        label = region_tag(index) + (f": {answers[index]}" if answers and answers.get(index) else "")
        x, y = (v * scale for v in _prompt_anchor(prompt))
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        x = min(max(0, x), max(0, size[0] - (right - left) - 2))
        y = max(0, y - (bottom - top) - 4)
        draw.rectangle([x, y, x + right - left + 4, y + bottom - top + 4], fill=colour)
        draw.text((x + 2 - left, y + 2 - top), label, fill=(255, 255, 255), font=font)
    if caption:
        picture = _with_caption(picture, caption, font)
    return picture


def draw_result(image, result: dict, caption: bool = True, min_size: int = 256, max_size: int = 768) -> Image.Image:
    """Draws one `pipeline("visual-prompting")` result (a dict of its output list) on the image it was computed from:
    the prompts, the region answers and the masks (the one bound to each region where the answer names it).
    `min_size` and `max_size` bound the drawing's longer side, as in `draw_visual_prompts`."""
    regions = result.get("regions", [])
    answers = {r["index"]: r["answer"] for r in regions if r.get("answer")}
    bound = [r.get("mask") for r in regions]
    masks = bound if all(m is not None for m in bound) and bound else result.get("masks") or None
    text = None
    if caption:
        question = result.get("input_text", "").split("\n", 1)[-1].rsplit("\n", 1)[0]
        text = f"{question}\nanswer: {result.get('generated_text', '')}"
    return draw_visual_prompts(image, [r["prompt"] for r in regions], answers=answers, masks=masks, caption=text,
                               min_size=min_size, max_size=max_size)


def _with_caption(picture: Image.Image, caption: str, font) -> Image.Image:
    probe = ImageDraw.Draw(picture)
    char_width = max(1, probe.textbbox((0, 0), "abcdefghij", font=font)[2] / 10)
    width_chars = max(10, int((picture.width - 8) / char_width))
    lines = [wrapped for paragraph in caption.splitlines() or [""]
             for wrapped in (textwrap.wrap(paragraph, width_chars) or [""])]
    line_height = probe.textbbox((0, 0), "Ag", font=font)[3] + 4
    out = Image.new("RGB", (picture.width, picture.height + line_height * len(lines) + 8), (255, 255, 255))
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out)
    for number, text in enumerate(lines):
        draw.text((4, picture.height + 4 + number * line_height), text, fill=(0, 0, 0), font=font)
    return out


def save_gallery(panels: list[Image.Image], path: str | Path, columns: int = 4, gap: int = 8) -> Path:
    """Lays `panels` out in a grid (rows as tall as their tallest panel) on white and writes a PNG."""
    if not panels:
        raise ValueError("panels is empty: a gallery needs at least one picture.")
    if columns < 1:
        raise ValueError(f"columns={columns} must be at least 1.")
    rows = [panels[i : i + columns] for i in range(0, len(panels), columns)]
    cell_width = max(p.width for p in panels)
    heights = [max(p.height for p in row) for row in rows]
    width = min(columns, len(panels)) * (cell_width + gap) + gap
    sheet = Image.new("RGB", (width, sum(heights) + gap * (len(rows) + 1)), (255, 255, 255))
    y = gap
    for row, height in zip(rows, heights):
        for column, panel in enumerate(row):
            sheet.paste(panel.convert("RGB"), (gap + column * (cell_width + gap), y))
        y += height + gap
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def save_figure(figure, path) -> Path:
    """Writes a matplotlib `figure` (tight layout) to `path`, creating its folder, and closes it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


__all__ = ["draw_visual_prompts", "draw_result", "save_gallery", "save_figure", "region_colour", "REGION_COLOURS"]
