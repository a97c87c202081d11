"""Free-form prompt augmentation (EarthGPT-X's construction rule): a box becomes a free-form shape by Gaussian noise
scaled by the box size, so that the shape covers part of the object or extends beyond it; plus scribbles and circles.

All functions take a `numpy.random.Generator`: the same seed gives the same shapes. Shapes are kept inside the image
(vertices clipped, strokes inset, circle radii capped), so the prompts stay valid and need no clipping later.
"""

from __future__ import annotations

import numpy as np

FREEFORM_KINDS = ("polygon", "scribble", "circle")


def _clip(points: np.ndarray, width: float, height: float) -> np.ndarray:
    return np.stack([points[:, 0].clip(0, width), points[:, 1].clip(0, height)], axis=1)


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def box_to_polygon(box, rng: np.random.Generator, width: float, height: float, noise: float = 0.15,
                   num_points: int = 10) -> dict:
    """Points on the ellipse inscribed in the box, each moved by N(0, noise * box size): covers part of the object
    and/or extends beyond it."""
    x1, y1, x2, y2 = box
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    for _ in range(10):
        angles = np.sort(rng.uniform(0, 2 * np.pi, num_points))
        scale = rng.uniform(0.8, 1.3)  # some shapes lie mostly inside the box, some beyond it
        points = np.stack([cx + scale * rx * np.cos(angles), cy + scale * ry * np.sin(angles)], axis=1)
        points = points + rng.normal(0, noise, points.shape) * np.array([x2 - x1, y2 - y1])
        points = _clip(points, width, height)
        if _polygon_area(points) > 0.05 * (x2 - x1) * (y2 - y1):
            return {"type": "polygon", "points": points.round(2).tolist()}
    return {"type": "polygon", "points": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]}


def box_to_scribble(box, rng: np.random.Generator, width: float, height: float, noise: float = 0.1) -> dict:
    """A stroke across the object: 3-5 points along the box's long axis, jittered by N(0, noise * box size)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    count = int(rng.integers(3, 6))
    t = np.linspace(0.15, 0.85, count)
    if w >= h:
        points = np.stack([x1 + t * w, np.full(count, (y1 + y2) / 2)], axis=1)
    else:
        points = np.stack([np.full(count, (x1 + x2) / 2), y1 + t * h], axis=1)
    stroke = max(1.0, round(0.15 * min(w, h), 2))
    points = points + rng.normal(0, noise, points.shape) * np.array([w, h])
    inset = min(stroke / 2 + 0.01, width / 2, height / 2)  # the stroke stays inside (after rounding to 0.01) too
    points = _clip(points - inset, width - 2 * inset, height - 2 * inset) + inset
    return {"type": "scribble", "points": points.round(2).tolist(), "width": stroke}


def box_to_circle(box, rng: np.random.Generator, width: float, height: float, noise: float = 0.15) -> dict:
    """A circle near the box centre with a radius about half the box's geometric mean size, both jittered."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx = float(np.clip((x1 + x2) / 2 + rng.normal(0, noise) * w, 0, width))
    cy = float(np.clip((y1 + y2) / 2 + rng.normal(0, noise) * h, 0, height))
    radius = max(1.0, 0.5 * float(np.sqrt(w * h)) * float(np.exp(rng.normal(0, noise))))
    radius = max(1.0, min(radius, cx, cy, width - cx, height - cy))  # the circle stays inside the image
    return {"type": "circle", "center": [round(cx, 2), round(cy, 2)], "radius": round(radius, 2)}


def box_to_freeform(box, rng: np.random.Generator, width: float, height: float, kind: str | None = None,
                    noise: float = 0.15) -> dict:
    """A free-form prompt for a box: `kind` in `FREEFORM_KINDS`, or drawn at random (polygon 60 %, scribble and circle
    20 % each)."""
    if kind is None:
        kind = FREEFORM_KINDS[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    if kind == "polygon":
        return box_to_polygon(box, rng, width, height, noise)
    if kind == "scribble":
        return box_to_scribble(box, rng, width, height, noise * 2 / 3)
    if kind == "circle":
        return box_to_circle(box, rng, width, height, noise)
    raise ValueError(f"kind={kind!r} is not one of {list(FREEFORM_KINDS)}.")


__all__ = ["FREEFORM_KINDS", "box_to_freeform", "box_to_polygon", "box_to_scribble", "box_to_circle"]
