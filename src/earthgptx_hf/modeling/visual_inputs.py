"""The processor's compact visual inputs as the towers take them (docs/performance.md, "Image processor outputs").

The image processor ships 8-bit data and the model does the arithmetic, where it is cheap next to the towers:

- Pixels (`pixel_values`, `convnext_pixel_values`, `sam_pixel_values`): **uint8** tensors are raw 8-bit pixels,
  normalised here, in float32, with the statistics of the config (`(x - 255 mean) / (255 std)`, then cast to the
  tower's dtype); **floating** tensors are taken as already normalised for their tower (the transformers convention,
  and what callers who normalise themselves pass). Without `convnext_pixel_values`, ConvNeXt's input is derived from
  `pixel_values`: normalised with its own statistics when they are uint8, and by the exact per-channel affine
  `x_clip = (x_dino * std_dino + mean_dino - mean_clip) / std_clip` when they are floating (DINOv2-normalised).
- The SAM view (`sam_view_input`): the processor pads it bottom-right with the 8-bit SAM mean colour; the model sets
  the trailing rows and columns that hold exactly that colour to 0, SAM's padding value after normalisation, so the
  grounding encoder sees what SAM's own processor gives. (Only an image whose own last rows or columns are entirely
  that colour would have them set to 0 too, instead of within 0.0082 of 0.)
- Prompt maps (`prompt_maps`, `(B, V, k, T, T')`): `k` at most `max_regions` channels (channel i = prompt i, the
  missing channels are prompts that do not exist: zeros), and either one value per pixel (`T' = T`, any dtype, values
  in [0, 1]) or, as the processor ships them, uint8 bits packed along the last axis by `np.packbits`
  (`T' = ceil(T / 8)`, most significant bit first).
"""

from __future__ import annotations

import torch


def _stats(values, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float32, device=like.device).reshape(-1, 1, 1)


def normalise_pixels(pixels: torch.Tensor, mean, std, dtype: torch.dtype) -> torch.Tensor:
    """`(..., 3, H, W)` pixels -> the tower's input in `dtype`: uint8 is normalised with `mean` / `std` (in [0, 1]
    units, as transformers' image processors take them), floating is already normalised and only cast."""
    if pixels.is_floating_point():
        return pixels.to(dtype)
    scale = 255.0 * _stats(std, pixels)  # the processor's former float32 rule, operation for operation
    return pixels.to(torch.float32).sub_(255.0 * _stats(mean, pixels)).div_(scale).to(dtype)


def normalise_pixel_units(pixels: torch.Tensor, mean, std, dtype: torch.dtype) -> torch.Tensor:
    """`(..., 3, H, W)` float32 values in 8-bit units (0-255; the band adapter's output) -> the tower's input in
    `dtype`, `(x - 255 mean) / (255 std)`: what `normalise_pixels` computes for uint8, out of place (autograd)."""
    return ((pixels - 255.0 * _stats(mean, pixels)) / (255.0 * _stats(std, pixels))).to(dtype)


def renormalise(pixel_values: torch.Tensor, source: tuple, target: tuple, dtype: torch.dtype) -> torch.Tensor:
    """Floating pixels normalised with `source` = (mean, std) -> normalised with `target` (exact per-channel
    affine in float32); uint8 pixels are normalised with `target` directly."""
    if not pixel_values.is_floating_point():
        return normalise_pixels(pixel_values, *target, dtype)
    mean_s, std_s, mean_t, std_t = (_stats(values, pixel_values) for values in (*source, *target))
    return (pixel_values.to(torch.float32) * std_s + (mean_s - mean_t)).div_(std_t).to(dtype)


def padding_colour(mean) -> torch.Tensor:
    """The 8-bit padding colour of a mean in [0, 1] units: `round(255 mean)` in float64, half to even, the image
    processor's `mean_colour` (numpy's rule; the saved model code cannot import the processor's, a test pins them)."""
    return torch.round(torch.as_tensor(mean, dtype=torch.float64) * 255).to(torch.uint8)


def sam_view_input(pixels: torch.Tensor, mean, std, dtype: torch.dtype) -> torch.Tensor:
    """`(B, 3, S, S)` SAM views -> the grounding encoder's input: floating views as given (already normalised,
    padding 0); uint8 views normalised, then their trailing rows and columns of the padding colour set to 0."""
    if pixels.is_floating_point():
        return pixels.to(dtype)
    out = normalise_pixels(pixels, mean, std, torch.float32)
    colour = padding_colour(mean).to(pixels.device)[:, None]

    def kept(dim: int) -> torch.Tensor:  # (B, S): 1 up to the last line along `dim` not entirely of the colour, then 0
        padding = ((pixels.amin(dim) == colour) & (pixels.amax(dim) == colour)).all(1)  # (amin/amax: fast kernels)
        return (~padding.flip(-1).to(torch.uint8).cumprod(-1).flip(-1).bool()).to(out.dtype)

    return out.mul_(kept(-1)[:, None, :, None]).mul_(kept(-2)[:, None, None, :]).to(dtype)


def packed_width(tile: int) -> int:
    """Bytes per row of a bit-packed `tile`-wide prompt map (`np.packbits` pads the last byte with zeros)."""
    return -(-tile // 8)


def unpack_prompt_maps(prompt_maps: torch.Tensor, regions: int, tile: int) -> torch.Tensor:
    """`(B, V, k, T, T)` or bit-packed `(B, V, k, T, ceil(T / 8))` uint8 maps -> `(B, V, regions, T, T)` (dtype kept;
    packed maps come out as uint8 {0, 1}), the channels after the k-th zeros. `check_visual_inputs` checks shapes."""
    if prompt_maps.shape[-1] != tile:  # np.packbits(axis=-1): bit 7 of byte j is pixel 8 j
        shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=prompt_maps.device)
        bits = prompt_maps[..., None].bitwise_right_shift(shifts).bitwise_and_(1)
        prompt_maps = bits.flatten(-2)[..., :tile]
    count = prompt_maps.shape[2]
    if count == regions:
        return prompt_maps
    dense = prompt_maps.new_zeros(prompt_maps.shape[:2] + (regions,) + prompt_maps.shape[3:])
    dense[:, :, :count] = prompt_maps
    return dense


__all__ = ["normalise_pixels", "normalise_pixel_units", "renormalise", "padding_colour", "sam_view_input",
           "packed_width", "unpack_prompt_maps"]
