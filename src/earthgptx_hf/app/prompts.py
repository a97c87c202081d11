"""Prompts drawn on the app's canvas: the mapping from canvas pixels to image coordinates, and the collection of
clicks and drags into SPEC prompt dicts (`models/earthgptx/visual_prompts.py`), numbered `<Region 1>`, `<Region 2>`, ...

    mapping = CanvasMapping(image_size=(64, 64), display_size=(512, 512))
    board = PromptBoard()
    board.click("point", mapping.to_image((100, 60)))          # a point: one click
    board.click("box", mapping.to_image((10, 10)))             # a box: two clicks (the first is pending) ...
    board.click("box", mapping.to_image((90, 70)))
    board.drag("box", [mapping.to_image(p) for p in path])     # ... or one drag
    board.drag("scribble", [...], width=3.0)                   # free-form: a brush stroke, or
    board.click("polygon", ...); board.finish()                # a polygon of clicks (or a lasso drag)
    board.remove([2])                                          # the others are renumbered
    pipe(image, prompts=board.prompts)                         # exactly these coordinates

Coordinates are pixels of the original image (x right, y down), as the pipeline takes them: the canvas shows the
image enlarged or reduced, and `CanvasMapping` converts between the two by the ratio of their sizes (the canvas keeps
the aspect ratio). Shapes are validated by the processor's own rules (`validate_prompt`) when they are completed, so
a prompt the pipeline would refuse is refused here with the same message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..models.earthgptx.conversation import region_tag
from ..models.earthgptx.visual_prompts import MAX_VERTICES, validate_prompt

DRAW_MODES = ("point", "box", "polygon", "scribble")
COORDINATE_DECIMALS = 2  # image coordinates are rounded to 0.01 pixel (what a JSON file keeps readable)
DRAG_SPACING = 2.0  # display pixels between the kept points of a drag path


def _check_mode(mode) -> str:
    if mode not in DRAW_MODES:
        raise ValueError(f"mode={mode!r} is not one of {list(DRAW_MODES)}.")
    return mode


@dataclass(frozen=True)
class CanvasMapping:
    """Canvas pixels <-> image coordinates. `image_size` and `display_size` are (height, width)."""

    image_size: tuple[int, int]
    display_size: tuple[int, int]

    def __post_init__(self):
        for name in ("image_size", "display_size"):
            size = getattr(self, name)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"{name}={size!r} must be (height, width), both at least 1.")

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) canvas pixels per image pixel."""
        return self.display_size[1] / self.image_size[1], self.display_size[0] / self.image_size[0]

    def to_image(self, xy) -> list[float]:
        """A canvas position (as `gr.SelectData.index` gives it) -> `[x, y]` in image pixels, inside the image."""
        if len(xy) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in xy):
            raise ValueError(f"a canvas position must be [x, y] numbers, got {xy!r}.")
        sx, sy = self.scale
        x = min(max(xy[0] / sx, 0.0), float(self.image_size[1]))
        y = min(max(xy[1] / sy, 0.0), float(self.image_size[0]))
        return [round(x, COORDINATE_DECIMALS), round(y, COORDINATE_DECIMALS)]

    def to_display(self, xy) -> tuple[float, float]:
        """Image coordinates -> canvas pixels."""
        sx, sy = self.scale
        return xy[0] * sx, xy[1] * sy


def thin_path(points: list, spacing: float) -> list:
    """The points of a drag path that lie at least `spacing` apart (the first and the last kept), at most
    `MAX_VERTICES` (a mouse reports dozens of positions per stroke; the shape needs a few)."""
    if not points:
        return []
    kept = [list(points[0])]
    for point in points[1:]:
        if math.dist(point, kept[-1]) >= spacing:
            kept.append(list(point))
    if len(points) > 1 and kept[-1] != list(points[-1]):
        if math.dist(points[-1], kept[-1]) > 0:
            kept.append(list(points[-1]))
    step = math.ceil(len(kept) / MAX_VERTICES)
    return kept[::step] if step > 1 else kept


@dataclass
class PromptBoard:
    """The prompts of one image in region order (prompt i is `<Region i+1>`), and the clicks of a shape being drawn.

    `image_size` (height, width) is the image's, for validation; `max_regions` the model's limit (None: no limit).
    """

    image_size: tuple[int, int]
    max_regions: int | None = None
    prompts: list[dict] = field(default_factory=list)
    pending: list[list[float]] = field(default_factory=list)
    pending_mode: str | None = None
    pending_width: float | None = None  # the brush width of a scribble being clicked

    def _add(self, prompt: dict) -> dict:
        if self.max_regions is not None and len(self.prompts) >= self.max_regions:
            raise ValueError(f"The model takes at most {self.max_regions} regions per image (its max_regions); "
                             "remove a prompt before adding another.")
        where = f"{region_tag(len(self.prompts) + 1)} ({prompt['type']})"
        clean, _ = validate_prompt(prompt, self.image_size, where)  # the processor's rule: the same messages
        self.prompts.append(clean)
        return clean

    def click(self, mode: str, xy: list[float], width: float | None = None) -> dict | None:
        """One click at image coordinates `xy`: a point at once; a box's corner (the second completes it); a vertex of
        a polygon or a scribble (completed by `finish`). Returns the completed prompt, or None while a shape is
        pending. A click of another mode discards the pending clicks."""
        mode = _check_mode(mode)
        if self.pending_mode != mode:
            self.pending, self.pending_mode = [], mode
        if mode == "point":
            self.pending_mode = None
            return self._add({"type": "point", "point": list(xy)})
        self.pending.append(list(xy))
        if mode == "box" and len(self.pending) == 2:
            (x1, y1), (x2, y2) = self.pending
            self.pending, self.pending_mode = [], None
            return self._add({"type": "box", "bbox": [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]})
        if width is not None or len(self.pending) == 1:  # the width given with the shape's clicks
            self.pending_width = width
        return None

    def drag(self, mode: str, path: list[list[float]], width: float | None = None) -> dict:
        """One drag along `path` (image coordinates, in order): a box between its first and last points; a scribble
        along it (`width` in image pixels); a polygon around it (a lasso); a point where it ends."""
        mode = _check_mode(mode)
        if len(path) < 1:
            raise ValueError("a drag needs at least one position.")
        self.pending, self.pending_mode = [], None
        if mode == "point":
            return self._add({"type": "point", "point": list(path[-1])})
        if mode == "box":
            (x1, y1), (x2, y2) = path[0], path[-1]
            return self._add({"type": "box", "bbox": [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]})
        return self._shape(mode, [list(p) for p in path], width)

    def finish(self, width: float | None = None) -> dict:
        """Completes the polygon or scribble being clicked."""
        if self.pending_mode not in ("polygon", "scribble") or not self.pending:
            raise ValueError("There is no polygon or scribble being drawn: click its points first, then finish it.")
        mode, points = self.pending_mode, self.pending
        self.pending, self.pending_mode = [], None
        return self._shape(mode, points, width if width is not None else self.pending_width)

    def _shape(self, mode: str, points: list, width: float | None) -> dict:
        if mode == "polygon":
            return self._add({"type": "polygon", "points": points})
        if width is None:
            width = default_scribble_width(self.image_size)
        if len(points) == 1:  # a dab of the brush: a stroke of its own width
            points = [points[0], [points[0][0] + 1e-2, points[0][1]]]
        return self._add({"type": "scribble", "points": points, "width": float(width)})

    def remove(self, indices) -> int:
        """Removes the prompts of the 1-based region `indices`; the others are renumbered in order. Returns how many
        were removed."""
        wanted = set()
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= len(self.prompts):
                raise ValueError(f"region {index!r} does not exist; the regions are 1 to {len(self.prompts)}.")
            wanted.add(index)
        self.prompts = [p for i, p in enumerate(self.prompts, start=1) if i not in wanted]
        return len(wanted)

    def undo(self) -> str:
        """Removes the last pending click, or else the last prompt; says what it removed."""
        if self.pending:
            self.pending.pop()
            if not self.pending:
                self.pending_mode = None
            return "the last click"
        if self.prompts:
            self.prompts.pop()
            return region_tag(len(self.prompts) + 1)
        raise ValueError("There is nothing to undo: no prompt has been drawn.")

    def clear(self) -> None:
        self.prompts, self.pending, self.pending_mode = [], [], None

    def labels(self) -> list[str]:
        """`<Region i>: type (coordinates)` for every prompt, in order."""
        return [region_label(i, p) for i, p in enumerate(self.prompts, start=1)]


def default_scribble_width(image_size: tuple[int, int]) -> float:
    """A brush 3 % of the image's longer side (at least 1 pixel), like the strokes of training (15 % of an object)."""
    return max(1.0, round(0.03 * max(image_size), 1))


def region_label(index: int, prompt: dict) -> str:
    """`<Region i>: box [x1, y1, x2, y2]` and the like (coordinates in image pixels)."""
    kind = prompt["type"]
    if kind == "point":
        detail = _numbers(prompt["point"])
    elif kind == "box":
        detail = _numbers(prompt["bbox"])
    elif kind == "circle":
        detail = f"{_numbers(prompt['center'])} r {prompt['radius']:g}"
    elif kind in ("polygon", "scribble"):
        detail = f"{len(prompt['points'])} points"
        if kind == "scribble":
            detail += f", width {prompt['width']:g}"
    else:
        detail = "mask"
    return f"{region_tag(index)}: {kind} {detail}"


def _numbers(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


__all__ = ["CanvasMapping", "PromptBoard", "DRAW_MODES", "thin_path", "default_scribble_width", "region_label"]
