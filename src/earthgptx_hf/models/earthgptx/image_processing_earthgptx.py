"""EarthGPT-X image processor: multi-source images and visual prompts to the model's visual inputs.

Steps per image (numpy / PIL backend):
1. `multi_source.normalise_image`: any optical / SAR / infrared raster to 8-bit RGB (robust stretch, NaN handling).
2. `views.plan_layout` + `views.render_views`: global view + tiles (grid fixed, or chosen per aspect ratio).
3. `visual_prompts.rasterise_prompts`: one map per prompt, aligned with every view.
4. The SAM view (longest side `sam_image_size`, padded bottom-right with the SAM mean colour), unless `do_sam_view`
   is off.

Outputs (`BatchFeature`, the model's inputs only), all 8-bit: the model normalises the pixels with the statistics of
its config and unpacks the maps (`models/earthgptx/mixed_visual_encoder.py`), where that costs nothing next to the towers:
    pixel_values           (B, V, 3, T, T)  uint8 views (V = the batch's largest view count), padded with the DINOv2
                                            mean colour; one copy for both towers (DINOv2 and CLIP-ConvNeXt)
    prompt_maps            (B, V, P, T, ceil(T/8))  uint8, the {0, 1} maps bit-packed along the last axis
                                            (`np.packbits`); P = the batch's largest prompt count (<= `max_regions`):
                                            channel i is prompt i, the channels after an image's last prompt are zeros
    view_mask              (B, V)           only when images in the batch have different view counts
    sam_pixel_values       (B, 3, S, S)     uint8, unless `do_sam_view=False`; padded with the SAM mean colour, whose
                                            trailing rows / columns the model sets to SAM's 0 after normalising
Per paper-preset image (5 views of 224, 5 prompts, S = 1024) that is 4.06 MB instead of the 22.6 MB of float32
normalised copies and dense `max_regions` maps shipped before, and half the time (docs/performance.md, "Image
processor outputs", has the measurements and the choice among the prompt-map encodings). The model also takes the
former float tensors: floating pixels are taken as already normalised (`models/earthgptx/mixed_visual_encoder.py`).
With `return_metadata=True` (for the processor and the training collator, not for the model):
    original_sizes         (B, 2)           (height, width) of each original image
    num_views, num_prompts (B,)
Post-processing takes the original sizes (`post_process_masks`); the size of the image inside the SAM view follows from
them (`reshaped_input_size`).
"""


from functools import lru_cache
from typing import TypedDict

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

from .image_geometry import ImageLayout, plan_layout, render_sam_view, render_views
from .multi_source import (
    COMPLEX_TO,
    DEFAULT_MAX_PIXELS,
    DEFAULT_PERCENTILES,
    MIN_VALID_FRACTION,
    check_min_valid_fraction,
    image_size,
    normalise_image,
    open_image,
)
from .visual_prompts import rasterise_prompts, validate_prompts

SAM_MEAN = IMAGENET_DEFAULT_MEAN
SAM_STD = IMAGENET_DEFAULT_STD
METADATA = ("original_sizes", "num_views", "num_prompts")
# statistics the model's config carries too (`EarthGPTXConfig`'s fields of the same names)
PIXEL_STATISTICS = ("image_mean", "image_std", "convnext_image_mean", "convnext_image_std", "sam_image_mean",
                    "sam_image_std")


class EarthGPTXImagesKwargs(TypedDict, total=False):
    """The call-time arguments of `EarthGPTXImageProcessor` (transformers' `valid_kwargs`: `EarthGPTXProcessor` routes
    these, flat or in `images_kwargs`). The views and the SAM view are fixed by the processor's sizes, so transformers'
    resizing, cropping and padding arguments are not among them."""

    do_rescale: bool | None
    rescale_factor: float | None
    do_normalize: bool | None
    image_mean: float | list[float] | tuple[float, ...] | None
    image_std: float | list[float] | tuple[float, ...] | None
    do_sam_view: bool | None
    return_tensors: str | None


@lru_cache(maxsize=8)
def _sam_post_processor(size: int) -> SamImageProcessorPil:
    """SAM's image processor for a `size` x `size` SAM view: its `post_process_masks` is the one used here (kept out
    of the processor's attributes, which `save_pretrained` writes)."""
    return SamImageProcessorPil(pad_size={"height": size, "width": size})


def mean_colour(mean) -> np.ndarray:
    """The 8-bit colour closest to a mean in [0, 1] units (the padding colour: normalised, it lands within half a grey
    level of 0, the value the towers' own processors pad with)."""
    return np.round(np.asarray(mean, float) * 255).astype(np.uint8)


def rescale_and_normalise(pixels: np.ndarray, do_rescale: bool, factor: float, do_normalize: bool, mean,
                          std) -> np.ndarray:
    """`(..., 3, H, W)` uint8 views as transformers' image processors return them: unchanged when neither flag is on
    (the model rescales and normalises), else float32 `x * factor` (`do_rescale`), then `(x - mean) / std`."""
    if not (do_rescale or do_normalize):
        return pixels
    out = pixels.astype(np.float32)
    if do_rescale:
        out *= np.float32(factor)
    if do_normalize:
        shape = (-1, 1, 1)
        out = (out - np.asarray(mean, np.float32).reshape(shape)) / np.asarray(std, np.float32).reshape(shape)
    return out


def as_batch(value, argument: str) -> list:
    """One item or a list of items -> a list (a 2-D/3-D array or a PIL image is one image)."""
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError(f"{argument} is an empty list.")
        return list(value)
    return [value]


class EarthGPTXImageProcessor(BaseImageProcessor):
    r"""
    Args:
        tile_size (`int`): side T of every view (the DINOv2 input), 224 in the paper preset.
        tile_grid (`[rows, cols]`): the tile grid when `grid_pinpoints` is None (default [2, 2]: a 448x448 canvas).
        grid_pinpoints (`list[[rows, cols]]`, *optional*): allowed grids; the best one for each image's aspect ratio is
            picked (LLaVA-NeXT's rule). Images of one batch may then have different view counts (`view_mask`).
        patch_size (`int`): DINOv2 patch size (tokens per view = (T / patch_size)^2).
        max_regions (`int`): the most prompts one image may have.
        sam_image_size (`int`): side S of the square SAM view.
        point_radius (`float`, *optional*): radius in view pixels of the disc a point prompt becomes; defaults to half a
            patch, so a point always touches at least one token.
        image_mean, image_std: DINOv2 statistics (ImageNet); the mean is also the views' padding colour.
        convnext_image_mean, convnext_image_std: CLIP-ConvNeXt statistics (OpenAI CLIP).
        sam_image_mean, sam_image_std: SAM statistics; the mean is also the SAM view's padding colour.
            The model normalises the uint8 outputs with the statistics of its config (the same fields):
            `EarthGPTXProcessor.check_model_config` checks that they agree.
        percentiles (`[low, high]`): robust stretch of non-8-bit images.
        max_pixels (`int`): the largest image accepted (height x width), 100 megapixels by default.
        min_valid_fraction (`float`): the least fraction of finite pixels (NaN / inf are no-data) an image must have;
            1 % by default. Emptier images (all-NaN, all-inf) are refused instead of becoming black.
        complex_to (`str`, *optional*): what to do with complex (single-look complex SAR) images: None (default)
            refuses them, "amplitude" takes their modulus (`np.abs`).
        do_sam_view (`bool`): make the SAM view (`sam_pixel_values`), which the model needs to decode `[PIX]` masks.
            Turn it off for tasks that never segment (it is the most expensive output); can also be given per call.
        do_rescale, rescale_factor, do_normalize (`bool`, `float`, `bool`): transformers' flags, for `pixel_values`
            only. Off by default: the views stay uint8 and the model rescales and normalises them with its config's
            statistics. With either on, `pixel_values` are float32, `x * rescale_factor` (`do_rescale`), then
            `(x - image_mean) / image_std` (`do_normalize`); the model takes floating views as already normalised.
            Each can also be given per call (with `image_mean`, `image_std`).
        input_bands (`int`): channels of `pixel_values`, the model config's field of the same name. 3 by default
            (RGB); another N takes numpy arrays or torch tensors of N bands, stretched together to uint8, and gives
            `(B, V, N, T, T)` views for the model's band adapter (`do_rescale` / `do_normalize` stay off: the adapter
            takes 8-bit bands). Padding is the RGB mean colour on the bands of `band_adapter_init`, their mean
            elsewhere.
        band_adapter_init (`[int, int, int]`, *optional*): the band triple the model's adapter starts as (the config's
            field); the SAM view is made of these three bands. Default [0, 1, 2].
    """

    valid_kwargs = EarthGPTXImagesKwargs
    model_input_names = ["pixel_values", "prompt_maps", "view_mask", "sam_pixel_values"]

    def __init__(
        self,
        tile_size: int = 224,
        tile_grid: list[int] | tuple[int, int] = (2, 2),
        grid_pinpoints: list[list[int]] | None = None,
        patch_size: int = 14,
        max_regions: int = 16,
        sam_image_size: int = 1024,
        point_radius: float | None = None,
        image_mean=IMAGENET_DEFAULT_MEAN,
        image_std=IMAGENET_DEFAULT_STD,
        convnext_image_mean=OPENAI_CLIP_MEAN,
        convnext_image_std=OPENAI_CLIP_STD,
        sam_image_mean=SAM_MEAN,
        sam_image_std=SAM_STD,
        percentiles=DEFAULT_PERCENTILES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        do_sam_view: bool = True,
        min_valid_fraction: float = MIN_VALID_FRACTION,
        complex_to: str | None = None,
        do_rescale: bool = False,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = False,
        input_bands: int = 3,
        band_adapter_init: list[int] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.do_rescale, self.rescale_factor, self.do_normalize = bool(do_rescale), float(rescale_factor), \
            bool(do_normalize)
        self.tile_size = int(tile_size)
        self.tile_grid = [int(v) for v in tile_grid]
        self.grid_pinpoints = [list(map(int, g)) for g in grid_pinpoints] if grid_pinpoints else None
        self.patch_size = int(patch_size)
        self.max_regions = int(max_regions)
        self.sam_image_size = int(sam_image_size)
        self.point_radius = float(point_radius) if point_radius is not None else self.patch_size / 2
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.convnext_image_mean, self.convnext_image_std = list(convnext_image_mean), list(convnext_image_std)
        self.sam_image_mean, self.sam_image_std = list(sam_image_mean), list(sam_image_std)
        self.percentiles = list(percentiles)
        self.max_pixels = int(max_pixels)
        self.do_sam_view = bool(do_sam_view)
        self.min_valid_fraction = check_min_valid_fraction(min_valid_fraction)
        if complex_to not in COMPLEX_TO:
            raise ValueError(f"complex_to={complex_to!r} is not one of {list(COMPLEX_TO)} (None refuses complex "
                             "images, 'amplitude' takes their modulus).")
        self.complex_to = complex_to
        if self.tile_size % self.patch_size:
            raise ValueError(f"tile_size ({self.tile_size}) must be a multiple of patch_size ({self.patch_size}).")
        self.input_bands = int(input_bands)
        self.band_adapter_init = [0, 1, 2] if band_adapter_init is None else [int(v) for v in band_adapter_init]
        if self.input_bands < 1 or len(self.band_adapter_init) != 3 or \
                not all(0 <= v < self.input_bands for v in self.band_adapter_init):
            raise ValueError(f"band_adapter_init={self.band_adapter_init} must be 3 band indices in [0, "
                             f"{self.input_bands}) (input_bands={self.input_bands}).")
        if self.input_bands != 3 and (self.do_rescale or self.do_normalize):
            raise ValueError(f"do_rescale and do_normalize must stay off with input_bands={self.input_bands}: the "
                             "model's band adapter takes the uint8 bands.")

    @classmethod
    def from_model_config(cls, config, **kwargs) -> "EarthGPTXImageProcessor":
        """The image processor whose sizes match an `EarthGPTXConfig`."""
        patch = config.dino_config.patch_size
        return cls(
            tile_size=config.tile_size,
            tile_grid=config.tile_grid,
            patch_size=patch if isinstance(patch, int) else patch[0],
            max_regions=config.max_regions,
            sam_image_size=config.grounding_image_size,
            input_bands=getattr(config, "input_bands", 3),
            band_adapter_init=getattr(config, "band_adapter_init", None),
            **{key: getattr(config, key) for key in PIXEL_STATISTICS},
            **kwargs,
        )

    @property
    def tokens_per_view(self) -> int:
        return (self.tile_size // self.patch_size) ** 2

    def layout(self, height: int, width: int) -> ImageLayout:
        return plan_layout(height, width, self.tile_size, tuple(self.tile_grid), self.sam_image_size,
                           self.grid_pinpoints)

    def get_image_size(self, image, argument: str = "images", index: int | None = None) -> tuple[int, int]:
        """(height, width) of an image as this processor reads it, without converting pixels (`multi_source`'s
        layout rule, for callers such as the pipeline whose saved code cannot import the package)."""
        return image_size(image, argument=argument, index=index, channels=self.input_bands)

    def open_image(self, source, argument: str = "images", index: int | None = None):
        """A path or binary file object -> a decoded PIL image, within this processor's `max_pixels`
        (`multi_source.open_image`, the one owner of the file rule)."""
        return open_image(source, max_pixels=self.max_pixels, argument=argument, index=index)

    def num_image_tokens(self, height: int, width: int) -> int:
        """How many `<image>` tokens an image of this size expands to."""
        return self.layout(height, width).num_views * self.tokens_per_view

    # -----------------------------------------------------------------------------------------------------------------
    def __call__(self, images, visual_prompts=None, return_tensors=None, **kwargs) -> BatchFeature:
        return self.preprocess(images, visual_prompts=visual_prompts, return_tensors=return_tensors, **kwargs)

    def preprocess(self, images, visual_prompts=None, return_tensors=None, do_sam_view: bool | None = None,
                   return_metadata: bool = False, do_rescale: bool | None = None, rescale_factor: float | None = None,
                   do_normalize: bool | None = None, image_mean=None, image_std=None, **kwargs) -> BatchFeature:
        """
        Args:
            images: one image or a list (PIL, path, numpy, torch; see `multi_source`).
            visual_prompts: per image, a list of prompt dicts (see `visual_prompts`); a single image may take a flat
                list. None means no prompt.
            return_tensors: "pt", "np" or None (lists of numpy arrays).
            do_sam_view: overrides the processor's `do_sam_view` for this call.
            return_metadata: also return `original_sizes`, `num_views` and `num_prompts` (not model inputs).
            do_rescale, rescale_factor, do_normalize, image_mean, image_std: override the processor's for this call.
        """
        do_sam_view = self.do_sam_view if do_sam_view is None else do_sam_view
        if kwargs:
            raise TypeError(f"EarthGPTXImageProcessor got unexpected arguments {sorted(kwargs)}; valid: "
                            f"{sorted(self.valid_kwargs.__annotations__)} (the view sizes are the processor's "
                            "tile_size, tile_grid and sam_image_size).")
        rescale = (self.do_rescale if do_rescale is None else do_rescale,
                   self.rescale_factor if rescale_factor is None else rescale_factor,
                   self.do_normalize if do_normalize is None else do_normalize,
                   self.image_mean if image_mean is None else image_mean,
                   self.image_std if image_std is None else image_std)
        if self.input_bands != 3 and (rescale[0] or rescale[2]):
            raise ValueError(f"do_rescale and do_normalize must stay off with input_bands={self.input_bands}: the "
                             "model's band adapter takes the uint8 bands.")
        images = as_batch(images, "images")
        prompts = self._batch_prompts(visual_prompts, len(images))
        fill, sam_fill = self.band_fill(), mean_colour(self.sam_image_mean)
        triple = None if self.input_bands == 3 else self.band_adapter_init
        items = []
        for i, (image, image_prompts) in enumerate(zip(images, prompts)):
            normalised = normalise_image(image, max_pixels=self.max_pixels, percentiles=self.percentiles,
                                         index=i if len(images) > 1 else None,
                                         min_valid_fraction=self.min_valid_fraction, complex_to=self.complex_to,
                                         channels=self.input_bands)
            height, width = normalised.size
            name = f"visual_prompts[{i}]" if len(images) > 1 else "visual_prompts"
            clean = validate_prompts(image_prompts, (height, width), self.max_regions, argument=name)
            layout = self.layout(height, width)
            views = render_views(normalised.pixels, layout, fill)
            maps = rasterise_prompts(clean, layout, self.point_radius, argument=name)
            sam_pixels = normalised.pixels if triple is None else normalised.pixels[..., triple]  # the adapter's start
            sam_view = render_sam_view(sam_pixels, layout, sam_fill) if do_sam_view else None
            items.append((views, maps, sam_view, layout, clean))
        outputs = self._collate(items, None, return_metadata)
        outputs["pixel_values"] = rescale_and_normalise(outputs["pixel_values"], *rescale)
        return BatchFeature(data=dict(outputs), tensor_type=return_tensors)

    def band_fill(self) -> np.ndarray:
        """The views' 8-bit padding, one value per band: the RGB mean colour (`image_mean`), on the bands of
        `band_adapter_init` when `input_bands` is not 3 (so at initialisation the adapter's output is padded as RGB
        is) and their mean on the other bands."""
        colour = mean_colour(self.image_mean)
        if self.input_bands == 3:
            return colour
        fill = np.full(self.input_bands, np.round(colour.mean()), np.uint8)
        for channel in (2, 1, 0):  # the first channel wins where a band is repeated
            fill[self.band_adapter_init[channel]] = colour[channel]
        return fill

    @staticmethod
    def _batch_prompts(visual_prompts, batch: int) -> list:
        if visual_prompts is None:
            return [None] * batch
        if not isinstance(visual_prompts, (list, tuple)):
            raise TypeError(f"visual_prompts must be a list (one list of prompt dicts per image), got "
                            f"{type(visual_prompts).__name__}.")
        if batch == 1 and (len(visual_prompts) == 0 or isinstance(visual_prompts[0], dict)):
            return [list(visual_prompts)]  # a flat list of prompts for a single image
        if len(visual_prompts) != batch:
            raise ValueError(f"visual_prompts has {len(visual_prompts)} entries but there are {batch} images: give one "
                             "list of prompts per image.")
        return list(visual_prompts)

    def _collate(self, items, return_tensors, return_metadata: bool) -> BatchFeature:
        batch = len(items)
        max_views = max(views.shape[0] for views, *_ in items)
        max_prompts = max(maps.shape[1] for _, maps, *_ in items)
        tile = self.tile_size
        views_all = np.zeros((batch, max_views, self.input_bands, tile, tile), np.uint8)
        maps_all = np.zeros((batch, max_views, max_prompts, tile, -(-tile // 8)), np.uint8)
        view_mask = np.zeros((batch, max_views), bool)
        for b, (views, maps, _, _, _) in enumerate(items):
            views_all[b, : views.shape[0]] = views.transpose(0, 3, 1, 2)
            maps_all[b, : maps.shape[0], : maps.shape[1]] = np.packbits(maps, axis=-1)
            view_mask[b, : views.shape[0]] = True
        data = {"pixel_values": views_all, "prompt_maps": maps_all}
        if return_metadata:
            data["original_sizes"] = np.array([[it[3].height, it[3].width] for it in items], np.int64)
            data["num_views"] = np.array([it[0].shape[0] for it in items], np.int64)
            data["num_prompts"] = np.array([len(it[4]) for it in items], np.int64)
        if items[0][2] is not None:
            data["sam_pixel_values"] = np.stack([item[2] for item in items])  # (B, 3, S, S)
        if not view_mask.all():
            data["view_mask"] = view_mask
        return BatchFeature(data=data, tensor_type=return_tensors)

    # -----------------------------------------------------------------------------------------------------------------
    def reshaped_input_size(self, original_size) -> tuple[int, int]:
        """(height, width) of an image of `original_size` (height, width) inside the SAM view (SAM's
        `reshaped_input_sizes`: the longest side resized to `sam_image_size`)."""
        height, width = (int(v) for v in original_size)
        return self.layout(height, width).sam.resized

    def resize_mask_to_sam_view(self, mask: np.ndarray) -> np.ndarray:
        """A ground-truth bool `(H, W)` mask at the original image size -> bool `(S, S)` in the SAM view's frame
        (resized like the image, padded bottom-right), the frame of `sam_pixel_values`."""
        mask = np.asarray(mask, bool)
        rh, rw = self.reshaped_input_size(mask.shape)
        resized = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((rw, rh), Image.BILINEAR)) >= 128
        out = np.zeros((self.sam_image_size, self.sam_image_size), bool)
        out[:rh, :rw] = resized
        return out

    def post_process_masks(self, masks, original_sizes, reshaped_input_sizes=None, mask_threshold: float = 0.0,
                           binarize: bool = True) -> list[torch.Tensor]:
        """SAM's `post_process_masks` for this processor's SAM view: per image, `(N, h, w)` mask logits in the SAM
        view's frame -> `(N, H, W)` at the original size (bool when `binarize`, thresholded at `mask_threshold`).

        Args:
            masks: one `(N, h, w)` tensor or array per image (any square h = w, e.g. the decoder's 256 x 256 output).
            original_sizes: (height, width) of each original image.
            reshaped_input_sizes: (height, width) of each image inside the SAM view; by default derived from
                `original_sizes` (`reshaped_input_size`).
        """
        if len(masks) != len(original_sizes):
            raise ValueError(f"masks has {len(masks)} entries but original_sizes has {len(original_sizes)}: give one "
                             "(height, width) per image.")
        original_sizes = [tuple(int(v) for v in size) for size in original_sizes]
        if reshaped_input_sizes is None:
            reshaped_input_sizes = [self.reshaped_input_size(size) for size in original_sizes]
        batched = []
        for i, image_masks in enumerate(masks):
            image_masks = torch.as_tensor(image_masks).float()
            if image_masks.ndim != 3:
                raise ValueError(f"masks[{i}] must be (N, h, w) logits, got shape {tuple(image_masks.shape)}.")
            batched.append(image_masks[:, None])  # SAM's layout: (N, channels, h, w)
        out = _sam_post_processor(self.sam_image_size).post_process_masks(
            batched, original_sizes, [tuple(int(v) for v in size) for size in reshaped_input_sizes],
            mask_threshold=mask_threshold, binarize=binarize,
        )
        return [image_masks[:, 0] for image_masks in out]


__all__ = ["EarthGPTXImageProcessor"]
