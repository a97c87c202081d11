"""Zoom-in evaluation images: every object of an image is asked about on a crop around it, as `earthgptx-predict`
answers region prompts on a scene and as training's region crops show objects.

Small objects are a few pixels in the model's views of a whole frame (an infrared person is ~15 px of a 640-px frame,
~3 px of the `small` preset's 112-px global view). Training's `region_crops` (augmentation.py) shows them larger; at
evaluation the same zoom-in is applied here, so that the model is asked at the scale it was taught:

- the crop around an object has the training crop's size rule (`augmentation.crop_window`): a square of side
  max(`min_size`, (1 + 2 `context`) x the object's larger side);
- nearby objects share one crop, grouped as `geo.windows.region_windows` groups a scene's prompts (a group's crop is no
  larger than the largest its members need alone, at most `max_regions` members), so every object is asked about
  exactly once; the other objects a crop happens to show are not prompted;
- the crops are cut with `augmentation.crop_image` (pixels copied, boxes, points, polygons and masks moved exactly).

Needs the `geo` extra (rasterio, for the window grouping).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from .annotations import AnnotatedImage
from .augmentation import CROP_CONTEXT, CROP_MIN_SIZE, crop_image, open_pixels


def zoom_in_images(images: list[AnnotatedImage], out_dir, context: float = CROP_CONTEXT,
                   min_size: int = CROP_MIN_SIZE, max_regions: int = 8) -> tuple[list[AnnotatedImage], dict]:
    """The zoom-in crops of `images` (see the module docstring), written under `out_dir`, and their counts (images
    in, crops out, objects per outcome, images without objects or unreadable). Image-level labels stay with the
    whole images, which are not returned: use the originals for image-level tasks."""
    from ..geo.windows import region_windows

    if context < 0:
        raise ValueError(f"context={context!r} must be >= 0 (context per side, in object sizes).")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size={min_size!r} must be a positive integer (pixels).")
    crops, counts, skipped = [], Counter(), Counter()
    for image in images:
        if not image.objects:
            skipped["images without objects"] += 1
            continue
        pixels = open_pixels(image.image)
        if pixels is None:
            skipped["unreadable image"] += 1
            continue
        windows = region_windows([o.bbox for o in image.objects], image.width, image.height, canvas=min_size,
                                 context=1 + 2 * context, max_regions=max_regions)
        for index, window in enumerate(windows):
            members = replace(image, objects=[image.objects[i] for i in window.members])
            box = (window.col_off, window.row_off, window.col_off + window.width, window.row_off + window.height)
            # a group's crop holds its members' union; only sub-pixel rounding can clip one (counted "kept clipped")
            crop = crop_image(members, box, pixels, Path(out_dir), index, keep_fraction=1e-9, counts=counts)
            crops.append(replace(crop, id=f"{image.id}#zoom{index}"))
    counts.pop("image-level labels not carried", None)  # they stay with the whole images (image-level tasks)
    return crops, {"images_in": len(images), "crops": len(crops), "objects": dict(counts), "skipped": dict(skipped),
                   "context": context, "min_size": min_size}


__all__ = ["zoom_in_images"]
