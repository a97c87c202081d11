"""Hostile images: broken files, no-data rasters, complex SAR, odd layouts and dtypes, hostile URL servers, and bad
pipeline arguments, against the image processor and `pipeline("visual-prompting")`."""

from __future__ import annotations

import functools
import io

import numpy as np
import torch
from PIL import Image
from transformers import pipeline

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.models.earthgptx import EarthGPTXImageProcessor
from tests.hostile.harness import Hostile, parametrize, run_case
from tests.modeling.helpers import tiny_model
from tests.pipelines.test_visual_prompting import hostile_server, png_bytes
from tests.processing.test_multi_source import png_header_only

RGB = np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)


@functools.cache
def _image_processor(**kwargs) -> EarthGPTXImageProcessor:
    return EarthGPTXImageProcessor(tile_size=28, patch_size=14, sam_image_size=32, **kwargs)


@functools.cache
def _pipe():
    model = tiny_model()
    return pipeline("visual-prompting", model=model, processor=EarthGPTXProcessor.from_model_config(model.config))


def process(image, **kwargs):
    return _image_processor(**kwargs)(image, return_tensors="np", return_metadata=True)  # with original_sizes


def run_pipe(images, **kwargs):
    return _pipe()(images, max_new_tokens=1, **kwargs)


def truncated(tmp, name: str) -> str:
    path = tmp / name
    Image.fromarray(RGB).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def written(tmp, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


def nan_with_valid(fraction: float) -> np.ndarray:
    image = np.full((100, 200), np.nan, np.float32)
    image.flat[: int(fraction * image.size)] = np.arange(int(fraction * image.size))
    return image


def served(path: str, **kwargs):
    """Starts a hostile local server, fetches `path` through the pipeline, stops the server whatever happens."""
    scene = png_bytes(RGB)
    with hostile_server({"scene.png": scene, "cut.png": scene[: len(scene) // 2], "notes.png": b"text"}) as url:
        return run_pipe(url + path, **kwargs)


def processed(height: int, width: int):
    """A check: the image processor returned one image of this size with finite pixels."""
    def check(out):
        assert out["original_sizes"].tolist() == [[height, width]]
        assert np.isfinite(out["pixel_values"]).all() and np.isfinite(out["sam_pixel_values"]).all()
    return check


def answered(out):
    assert isinstance(out, list) and isinstance(out[0]["generated_text"], str)


def undecodable(name: str, where: str = "images") -> str:
    return rf"{where} \('.*{name}'\) could not be decoded: .*truncated"


NO_DATA = r"images has only {} finite pixels .*min_valid_fraction=0.01"

CASES = [
    # --- broken files (image processor) ---
    Hostile("truncated PNG", lambda t: process(truncated(t, "a.png")), ValueError, undecodable("a.png")),
    Hostile("truncated JPEG", lambda t: process(truncated(t, "a.jpg")), ValueError, undecodable("a.jpg")),
    Hostile("truncated TIFF", lambda t: process(truncated(t, "a.tif")), ValueError, undecodable("a.tif")),
    Hostile("truncated PNG in a batch", lambda t: process([RGB, truncated(t, "b.png")]), ValueError,
            undecodable("b.png", r"images\[1\]")),
    Hostile("zero-byte file", lambda t: process(written(t, "empty.png", b"")), ValueError,
            r"images \('.*empty.png'\) is not a readable image: it is empty \(0 bytes\)"),
    Hostile("text file named .png", lambda t: process(written(t, "notes.png", b"just text\n")), ValueError,
            r"images \('.*notes.png'\) is not a readable image: PIL cannot identify its format"),
    Hostile("decompression bomb", lambda t: process(written(t, "bomb.png", png_header_only(100_000, 100_000))),
            ValueError, r"images \('.*bomb.png'\) declares more pixels than PIL's decompression-bomb limit"),
    Hostile("declared size above max_pixels", lambda t: process(written(t, "big.png", png_header_only(5000, 5000)),
                                                                max_pixels=1_000_000),
            ValueError, r"images has 5000x5000 = 25,000,000 pixels, more than max_pixels=1,000,000"),
    # --- no-data ---
    Hostile("all-NaN", lambda t: process(np.full((32, 32), np.nan, np.float32)), ValueError, NO_DATA.format("0.00%")),
    Hostile("all-inf", lambda t: process(np.full((32, 32, 3), np.inf)), ValueError, NO_DATA.format("0.00%")),
    Hostile("0.5 % valid", lambda t: process(nan_with_valid(0.005)), ValueError, NO_DATA.format("0.50%")),
    Hostile("1 % valid is enough", lambda t: process(nan_with_valid(0.01)), check=processed(100, 200)),
    Hostile("half NaN keeps working",
            lambda t: _image_processor().preprocess(nan_with_valid(0.5), return_metadata=True),
            check=processed(100, 200)),
    # --- complex SAR ---
    Hostile("complex64 SLC", lambda t: process(np.ones((32, 32), np.complex64)), TypeError,
            r"images is complex \(complex64\).*np.abs\(image\).*complex_to='amplitude'"),
    Hostile("complex128 torch SLC", lambda t: process(torch.ones(32, 32, dtype=torch.complex128)), TypeError,
            r"images is complex \(complex128\)"),
    Hostile("complex64 as amplitude on request", lambda t: process(np.full((32, 24), 3 + 4j, np.complex64),
                                                                   complex_to="amplitude"), check=processed(32, 24)),
    # --- layouts ---
    Hostile("ambiguous (1, 640, 4)", lambda t: process(np.zeros((1, 640, 4), np.uint8)), ValueError,
            r"images has the ambiguous shape \(1, 640, 4\).*Pass a 2-D \(H, W\) band, a PIL image"),
    Hostile("ambiguous (3, 20, 3)", lambda t: process(np.zeros((3, 20, 3), np.uint8)), ValueError,
            r"images has the ambiguous shape \(3, 20, 3\): it reads as 3x20 pixels of 3 bands"),
    Hostile("5-D array", lambda t: process(np.zeros((1, 1, 3, 16, 16), np.float32)), ValueError,
            r"images must be 2-D \(H, W\) or 3-D .* shape \(1, 1, 3, 16, 16\)"),
    Hostile("zero-size (0, 10)", lambda t: process(np.zeros((0, 10), np.float32)), ValueError,
            r"images is empty \(height 0, width 10\)"),
    Hostile("(3, H, W) channels first", lambda t: process(np.zeros((3, 20, 30), np.uint8)), check=processed(20, 30)),
    # --- dtypes ---
    Hostile("uint16 SAR", lambda t: process(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60),
            check=processed(32, 32)),
    Hostile("int32 with negatives", lambda t: process(np.arange(-512, 512, dtype=np.int32).reshape(32, 32)),
            check=processed(32, 32)),
    Hostile("float64 dB", lambda t: process(np.linspace(-30.0, 5.0, 32 * 32).reshape(32, 32)),
            check=processed(32, 32)),
    Hostile("bool mask image", lambda t: process(np.eye(32, dtype=bool)), check=processed(32, 32)),
    Hostile("bfloat16 tensor", lambda t: process(torch.rand(16, 20, dtype=torch.bfloat16)), check=processed(16, 20)),
    # --- URLs (pipeline, local hostile server) ---
    Hostile("URL slow drip", lambda t: served("/drip", timeout=0.5), TimeoutError,
            r"images \('http://127.0.0.1:\d+/drip'\) was not downloaded within timeout=0.5 s", seconds=10),
    Hostile("URL slow headers", lambda t: served("/drip-headers", timeout=0.5), TimeoutError,
            r"\('.*/drip-headers'\) was not downloaded within timeout=0.5 s", seconds=10),
    Hostile("URL too large (Content-Length)", lambda t: served("/huge-length", max_download_bytes=1_000_000),
            ValueError, r"\('.*/huge-length'\) is 314,572,800 bytes \(its Content-Length\), more than "
                        r"max_download_bytes=1,000,000", seconds=10),
    Hostile("URL too large (streamed)", lambda t: served("/huge-stream", max_download_bytes=200_000), ValueError,
            r"\('.*/huge-stream'\) is more than 200,000 bytes \(counted while downloading\)", seconds=10),
    Hostile("URL 404", lambda t: served("/missing"), ValueError, r"\('.*/missing'\) could not be downloaded: the "
                                                                  r"server answered HTTP 404", seconds=10),
    Hostile("URL redirect to ftp", lambda t: served("/to-ftp"), ConnectionError,
            r"\('.*/to-ftp'\) could not be downloaded: the server redirected it to a URL that is not http",
            seconds=10),
    Hostile("URL served image", lambda t: served("/files/scene.png", timeout=5), check=answered, seconds=20),
    Hostile("file:// URL", lambda t: run_pipe("file:///tmp/scene.png"), ValueError,
            r"images is the URL 'file:///tmp/scene.png', whose scheme 'file' is not supported"),
    Hostile("ftp:// URL", lambda t: run_pipe("ftp://127.0.0.1/scene.png"), ValueError,
            r"scheme 'ftp' is not supported: only http:// and https://"),
    # --- pipeline arguments and images ---
    Hostile("batch_size=0", lambda t: run_pipe([RGB, RGB], batch_size=0), ValueError,
            r"batch_size=0 must be a whole number at least 1"),
    Hostile("mask_threshold='abc'", lambda t: run_pipe(RGB, mask_threshold="abc"), ValueError,
            r"mask_threshold='abc' must be a finite number"),
    Hostile("max_download_bytes='64MB'", lambda t: run_pipe(RGB, max_download_bytes="64MB"), ValueError,
            r"max_download_bytes='64MB' must be a whole number at least 1"),
    Hostile("pipeline truncated file in a batch", lambda t: run_pipe([RGB, truncated(t, "c.png")], batch_size=2),
            ValueError, undecodable("c.png", r"images\[1\]")),
    Hostile("pipeline decompression bomb", lambda t: run_pipe(written(t, "bomb.png", png_header_only(10**5, 10**5))),
            ValueError, r"declares more pixels than PIL's decompression-bomb limit"),
    Hostile("pipeline complex tensor", lambda t: run_pipe(torch.ones(32, 32, dtype=torch.complex64)), TypeError,
            r"images is complex"),
    Hostile("pipeline truncated download", lambda t: served("/files/cut.png"), ValueError,
            r"images \('http://127.0.0.1:\d+/files/cut.png'\) could not be decoded: .*truncated", seconds=10),
    Hostile("pipeline download that is not an image", lambda t: served("/files/notes.png"), ValueError,
            r"\('.*/notes.png'\) is not a readable image: PIL cannot identify its format", seconds=10),
    Hostile("pipeline file object", lambda t: run_pipe(io.BytesIO(png_bytes(RGB))), TypeError,
            r"images must be a PIL image, a path, a URL, a numpy array or a torch tensor, got BytesIO"),
    Hostile("pipeline ambiguous array third in a batch",
            lambda t: run_pipe([RGB, RGB, np.zeros((3, 20, 3), np.uint8)], batch_size=2), ValueError,
            r"images\[2\] has the ambiguous shape \(3, 20, 3\)"),
    Hostile("pipeline num_workers=-1", lambda t: run_pipe([RGB, RGB], num_workers=-1), ValueError,
            r"num_workers=-1 must be a whole number at least 0"),
    Hostile("pipeline dict item without an image", lambda t: run_pipe([{"img": RGB}]), ValueError,
            r"images\[0\] is a dict with keys \['img'\]: it needs 'image'"),
    Hostile("pipeline chat without an image",
            lambda t: run_pipe([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]), ValueError,
            r"must hold exactly one \{'type': 'image'.*found 0"),
    Hostile("pipeline chat with two images",
            lambda t: run_pipe([{"role": "user", "content": [{"type": "image", "image": RGB}] * 2}]), ValueError,
            r"must hold exactly one \{'type': 'image'.*found 2"),
    Hostile("pipeline generator with too few boxes",
            lambda t: list(_pipe()((x for x in [RGB, RGB]), boxes=[[[0, 0, 4, 4]]], max_new_tokens=1)), ValueError,
            r"boxes must give one entry per image \(at least 2 images\)"),
]


@parametrize(CASES)
def test_hostile_image(case, tmp_path):
    run_case(case, tmp_path)
