"""pipeline("visual-prompting"): input forms, prompt shorthands, task shortcuts, batches, masks, quantised models."""

import contextlib
import functools
import math
import http.server
import io
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import LogitsProcessor, LogitsProcessorList, pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from earthgptx_hf import EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.data.tasks import TEMPLATES
from earthgptx_hf.models.earthgptx.visual_prompting import INSTRUCTIONS, TASK_SHORTCUTS, load_pipeline_image
from earthgptx_hf.models.earthgptx import VisualPromptingPipeline
from earthgptx_hf.models.earthgptx.visual_prompting import download
from tests.modeling.helpers import tiny_model



def _check(result, num_prompts):
    assert isinstance(result, list) and len(result) == 1
    out = result[0]
    assert isinstance(out["generated_text"], str) and out["input_text"].startswith("USER: ")
    assert [r["index"] for r in out["regions"]] == list(range(1, num_prompts + 1))
    return out


def test_the_task_is_registered_on_import(pipe):
    assert "visual-prompting" in PIPELINE_REGISTRY.get_supported_tasks()
    assert isinstance(pipe, VisualPromptingPipeline)


@pytest.fixture
def served(tmp_path):
    """A local HTTP server (no network) serving tmp_path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _HostileHandler(http.server.BaseHTTPRequestHandler):
    """Routes: /drip (a byte every 0.1 s), /drip-headers (the headers a byte at a time), /huge-length (declares
    300 MB), /huge-stream (no Content-Length, streams until the client hangs up), /missing (404), /to-ftp (a redirect
    to ftp://), /files/<name> (the bytes in `server.files`)."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # keep the test output clean
        pass

    def _drip(self, data: bytes):
        stop = self.server.stop
        for byte in data:
            if stop.wait(0.1):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def do_GET(self):
        try:
            if self.path == "/drip":
                self.send_response(200)
                self.send_header("Content-Length", "10000")
                self.end_headers()
                self.wfile.flush()
                self._drip(b"x" * 10_000)
            elif self.path == "/drip-headers":
                self.wfile.write(b"HTTP/1.0 200 OK\r\n")
                self._drip(b"X-Slow: " + b"y" * 10_000 + b"\r\n\r\n")
            elif self.path == "/huge-length":
                self.send_response(200)
                self.send_header("Content-Length", str(300 * 2**20))
                self.end_headers()
            elif self.path == "/huge-stream":
                self.send_response(200)
                self.end_headers()
                chunk = b"z" * 65536
                for _ in range(4096):  # at most 256 MiB, if nobody hangs up
                    if self.server.stop.is_set():
                        return
                    self.wfile.write(chunk)
            elif self.path == "/to-ftp":
                self.send_response(302)
                self.send_header("Location", "ftp://127.0.0.1/scene.png")
                self.end_headers()
            elif self.path.startswith("/files/") and self.path[7:] in self.server.files:
                data = self.server.files[self.path[7:]]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_error(404, "Not Found")
        except OSError:  # the client hung up: what a refused download does
            pass


@contextlib.contextmanager
def hostile_server(files: dict[str, bytes] | None = None):
    """A local HTTP server (127.0.0.1, no network) with the routes of `_HostileHandler`, stopped on exit whatever
    happens."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    server.stop, server.files = threading.Event(), dict(files or {})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def png_bytes(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("route", ["/drip", "/drip-headers"])
def test_url_timeout_is_a_total_deadline(route):
    with hostile_server() as url:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=rf"images \('{url}{route}'\) was not downloaded within "
                                               r"timeout=0.6 s \(a deadline for the whole download"):
            load_pipeline_image(url + route, timeout=0.6)
        assert time.monotonic() - start < 3.0  # each byte came well within the timeout: a per-read timeout hangs


def test_url_size_cap_with_and_without_content_length():
    with hostile_server() as url:
        start = time.monotonic()
        with pytest.raises(ValueError, match=r"images\[1\] \('.*/huge-length'\) is 314,572,800 bytes \(its "
                                             r"Content-Length\), more than max_download_bytes=67,108,864"):
            load_pipeline_image(url + "/huge-length", where="images[1]")  # the 64 MiB default
        with pytest.raises(ValueError, match=r"\('.*/huge-stream'\) is more than 100,000 bytes \(counted while "
                                             r"downloading\), more than max_download_bytes=100,000"):
            download(url + "/huge-stream", max_download_bytes=100_000)
        assert time.monotonic() - start < 3.0


def test_url_errors_name_the_url(pipe):
    image = np.random.default_rng(7).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    good = png_bytes(image)
    with hostile_server({"good.png": good, "cut.png": good[: len(good) // 2], "text.png": b"hello"}) as url:
        fetched = load_pipeline_image(f"{url}/files/good.png", timeout=5)  # fetched, not decoded: the processor decodes
        assert fetched.name == f"{url}/files/good.png" and fetched.getvalue() == good
        assert np.array_equal(np.asarray(pipe.image_processor.open_image(fetched)), image)
        assert load_pipeline_image(f"{url}/files/good.png", max_download_bytes=len(good)).getvalue() == good
        with pytest.raises(ValueError, match=r"images \('.*/missing'\) could not be downloaded: the server answered "
                                             r"HTTP 404"):
            load_pipeline_image(url + "/missing")
        with pytest.raises(ConnectionError, match=r"images \('.*/to-ftp'\) could not be downloaded: the server "
                                                  r"redirected it to a URL that is not http\(s\)"):
            load_pipeline_image(url + "/to-ftp")  # redirects never leave http(s)
        # the image processor's file rule names the download by its URL and the image by its index
        with pytest.raises(ValueError, match=r"images\[1\] \('.*/cut.png'\) could not be decoded: .*truncated"):
            pipe([image, f"{url}/files/cut.png"], max_new_tokens=1)
        with pytest.raises(ValueError, match=r"images \('.*/text.png'\) is not a readable image: PIL cannot "
                                             r"identify"):
            pipe(f"{url}/files/text.png", max_new_tokens=1)
    with pytest.raises(ValueError, match=r"images is the URL 'ftp://example.org/a.png', whose scheme 'ftp' is not "
                                         r"supported: only http:// and https://"):
        load_pipeline_image("ftp://example.org/a.png")
    with pytest.raises(ValueError, match=r"scheme 'file' is not supported.*pass the local path itself"):
        load_pipeline_image("file:///tmp/a.png")


def test_download_limits_are_pipeline_parameters(pipe):
    image = np.random.default_rng(8).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    with hostile_server({"a.png": png_bytes(image)}) as url:
        small = VisualPromptingPipeline(model=pipe.model, processor=pipe.processor, max_download_bytes=100, timeout=5)
        assert small._preprocess_params == {"timeout": 5.0, "max_download_bytes": 100}
        with pytest.raises(ValueError, match=r"more than max_download_bytes=100;"):
            small(f"{url}/files/a.png", max_new_tokens=1)
        out = small(f"{url}/files/a.png", max_new_tokens=1, max_download_bytes=10_000)  # the call overrides init
        assert isinstance(out[0]["generated_text"], str)
        with pytest.raises(TimeoutError, match=r"timeout=0.5 s"):
            pipe(url + "/drip", timeout=0.5, max_new_tokens=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, r"batch_size=0 must be a whole number at least 1"),
    ({"batch_size": -2}, r"batch_size=-2 must be a whole number at least 1"),
    ({"batch_size": 1.5}, r"batch_size=1.5 must be a whole number"),
    ({"batch_size": "2"}, r"batch_size='2' must be a whole number"),
    ({"mask_threshold": "abc"}, r"mask_threshold='abc' must be a finite number"),
    ({"mask_threshold": float("nan")}, r"mask_threshold=nan must be a finite number"),
    ({"timeout": 0}, r"timeout=0 must be a finite number of seconds greater than 0"),
    ({"timeout": "30"}, r"timeout='30' must be a finite number of seconds"),
    ({"timeout": float("inf")}, r"timeout=inf must be a finite number"),
    ({"max_download_bytes": 0}, r"max_download_bytes=0 must be a whole number at least 1"),
    ({"max_download_bytes": 1e6}, r"max_download_bytes=1000000.0 must be a whole number"),
    ({"num_workers": -1}, r"num_workers=-1 must be a whole number at least 0"),
    ({"mask_format": "png"}, r"mask_format='png' is not one of \['numpy', 'pil'\]"),
    ({"return_full_text": "yes"}, r"return_full_text='yes' must be True or False"),
])
def test_bad_pipeline_parameters_name_the_argument(pipe, kwargs, match):
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=match):  # a list: transformers ignores batch_size for a single input
        pipe([image, image], max_new_tokens=1, **kwargs)
    with pytest.raises(ValueError, match=match):  # the same at construction
        VisualPromptingPipeline(model=pipe.model, processor=pipe.processor, **kwargs)


def test_broken_files_in_a_batch_name_their_index(pipe, tmp_path):
    image = np.random.default_rng(9).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    data = png_bytes(image)
    (tmp_path / "good.png").write_bytes(data)
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"images\[2\] \('{tmp_path}/cut.png'\) could not be decoded"):
        pipe([str(tmp_path / "good.png"), image, str(tmp_path / "cut.png")], max_new_tokens=1)
    with pytest.raises(ValueError, match=r"images has the ambiguous shape \(1, 640, 4\)"):
        pipe(np.zeros((1, 640, 4), np.uint8), max_new_tokens=1)
    with pytest.raises(ValueError, match=r"images must be 2-D"):
        pipe(np.zeros(5, np.uint8), max_new_tokens=1)


def test_every_image_form(pipe, tmp_path, served):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    sar = rng.integers(0, 60000, (48, 64), dtype=np.uint16)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(sar).save(tmp_path / "sar.png")  # 16-bit single channel
    forms = {
        "pil": Image.fromarray(rgb), "path": str(tmp_path / "rgb.png"), "sar path": tmp_path / "sar.png",
        "url": f"{served}/sar.png", "numpy rgb": rgb, "numpy uint16": sar, "numpy (H, W, 1)": sar[..., None],
        "torch": torch.from_numpy(rgb),
    }
    texts = {}
    for name, image in forms.items():
        out = _check(pipe(image, boxes=[[4, 4, 30, 30]], max_new_tokens=4), 1)
        texts[name] = out["generated_text"]
    assert texts["path"] == texts["pil"] == texts["numpy rgb"] == texts["torch"]
    assert texts["url"] == texts["sar path"] == texts["numpy uint16"] == texts["numpy (H, W, 1)"]
    with pytest.raises(ValueError, match="images is 'nowhere.png', which is neither a file nor an http"):
        pipe("nowhere.png", boxes=[[0, 0, 4, 4]])


def test_prompt_dicts_and_shorthands_agree(pipe):
    image = np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    dicts = [{"type": "point", "point": [5, 6]}, {"type": "box", "bbox": [10, 10, 30, 30]}]
    a = _check(pipe(image, prompts=dicts, max_new_tokens=5), 2)
    b = _check(pipe(image, points=[[5, 6]], boxes=[[10, 10, 30, 30]], max_new_tokens=5), 2)
    assert a["generated_text"] == b["generated_text"] and [r["prompt"] for r in b["regions"]] == dicts
    c = _check(pipe(image, points=[5, 6], max_new_tokens=5), 1)  # one point without the outer list
    assert c["regions"][0]["prompt"] == {"type": "point", "point": [5.0, 6.0]}
    free = [{"type": "polygon", "points": [[2, 2], [20, 4], [12, 18]]}, {"type": "circle", "center": [30, 30],
                                                                        "radius": 5}]
    _check(pipe(image, prompts=free, text="Classify every region marked in the image.", max_new_tokens=3), 2)


def test_a_batch_with_different_prompt_counts_matches_single_calls(pipe):
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 255, (40, 56, 3), dtype=np.uint8), rng.integers(0, 60000, (64, 48), dtype=np.uint16),
              rng.integers(0, 255, (32, 32), dtype=np.uint8)]
    boxes = [[[2, 2, 20, 20]], [[1, 1, 10, 10], [20, 20, 40, 40], [5, 30, 25, 60]], None]
    batched = pipe(images, boxes=boxes, batch_size=3, max_new_tokens=6)
    assert len(batched) == 3 and [len(r[0]["regions"]) for r in batched] == [1, 3, 1]  # the last: whole-image box
    for image, image_boxes, result in zip(images, boxes, batched):
        single = pipe(image, boxes=image_boxes, max_new_tokens=6)
        assert single[0]["generated_text"] == result[0]["generated_text"]
    with pytest.raises(ValueError, match=r"boxes must give one entry per image \(3 images\)"):
        pipe(images, boxes=[[[0, 0, 4, 4]]])


def test_task_shortcuts_pick_the_papers_instructions(pipe):
    image = np.zeros((32, 32, 3), np.uint8)
    two = [[1, 1, 10, 10], [15, 15, 30, 30]]
    expected = {
        ("classify", 2): INSTRUCTIONS[("classify", "regions")],
        ("classify", 0): INSTRUCTIONS[("classify", "image")],
        ("caption", 1): INSTRUCTIONS[("caption", "region")],
        ("caption", 0): INSTRUCTIONS[("caption", "image")],
        ("detailed_caption", 1): INSTRUCTIONS[("detailed_caption", "region")],
        ("detailed_caption", 0): INSTRUCTIONS[("detailed_caption", "image")],
        ("relation", 2): INSTRUCTIONS[("relation", "regions")],
        ("segment", 1): INSTRUCTIONS[("segment", "region")],
        ("segment", 2): "Please segment the objects in <Region 1> and <Region 2>.",
        ("find", 0): "Segment every ship.",
    }
    assert {task for task, _ in expected} == set(TASK_SHORTCUTS)
    for (task, count), instruction in expected.items():
        query = {"query": "ship"} if task == "find" else {}
        out = pipe(image, boxes=two[:count] or None, task=task, max_new_tokens=2, **query)[0]
        assert instruction in out["input_text"], (task, count)
        if task == "find":  # a text query: no prompt at all
            assert out["regions"] == []
        elif count == 0:  # image-level tasks get the whole-image box, as in training
            assert out["regions"][0]["prompt"] == {"type": "box", "bbox": [0, 0, 32, 32]}
    # the shortcuts use the training templates where the task has one
    trained = {("classify", "regions"): "classification", ("classify", "image"): "scene",
               ("caption", "image"): "caption", ("caption", "region"): "region_caption",
               ("relation", "regions"): "relation", ("segment", "region"): "grounding"}
    for key, template_task in trained.items():
        assert INSTRUCTIONS[key] in TEMPLATES[template_task], key


def test_bad_calls_name_the_argument(pipe):
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="either text= .* or task="):
        pipe(image, text="hi", task="classify")
    with pytest.raises(ValueError, match="task='count' is not one of"):
        pipe(image, task="count")
    with pytest.raises(ValueError, match="task='relation' needs exactly 2 prompts"):
        pipe(image, boxes=[[0, 0, 5, 5]], task="relation")
    with pytest.raises(ValueError, match="task='segment' needs at least one prompt"):
        pipe(image, task="segment")
    with pytest.raises(ValueError, match=r"boxes must be a list of \[x1, y1, x2, y2\] boxes"):
        pipe(image, boxes=[[0, 0, 5]])
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['colour'\]"):
        pipe(image, boxes=[[0, 0, 5, 5]], colour="red")
    with pytest.raises(TypeError, match="prompts for images must be a list of prompt dicts"):
        pipe(image, prompts={"type": "box", "bbox": [0, 0, 5, 5]})
    with pytest.raises(ValueError, match=r"\[5.0, 5.0, 1.0, 1.0\] is degenerate"):
        pipe(image, prompts=[{"type": "box", "bbox": [5, 5, 1, 1]}])  # the processor's validation


def test_segment_returns_masks_at_the_original_size(pipe, pix_bias):
    image = np.random.default_rng(3).integers(0, 60000, (50, 70), dtype=np.uint16)
    out = pipe(image, boxes=[[5, 5, 30, 30]], task="segment", max_new_tokens=2, **pix_bias)[0]
    assert out["generated_text"] == "[PIX][PIX]" and len(out["masks"]) == 2
    assert out["regions"][0]["mask"] is None  # no "<Region 1>: " before them
    # the mask-generation convention: boolean arrays at the original size
    assert all(isinstance(m, np.ndarray) and m.dtype == bool and m.shape == (50, 70) for m in out["masks"])
    assert len(out["scores"]) == 2 and all(type(v) is float for v in out["scores"]) and out["dropped_masks"] == 0
    pil = pipe(image, boxes=[[5, 5, 30, 30]], task="segment", max_new_tokens=2, mask_format="pil", **pix_bias)[0]
    assert all(m.mode == "L" and m.size == (70, 50) for m in pil["masks"])
    assert set(np.unique(np.asarray(pil["masks"][0]))) <= {0, 255}
    assert np.array_equal(np.asarray(pil["masks"][1]) > 0, out["masks"][1])
    strict = pipe(image, boxes=[[5, 5, 30, 30]], task="segment", max_new_tokens=1, mask_threshold=1e9, **pix_bias)[0]
    assert not strict["masks"][0].any()  # the threshold reaches the post-processing


class ForceAnswer(LogitsProcessor):
    """Makes the model write `token_ids` (then EOS), whatever it would say."""

    def __init__(self, token_ids: list[int], eos_token_id: int):
        self.token_ids, self.eos, self.start = [*token_ids, eos_token_id], eos_token_id, None

    def __call__(self, input_ids, scores):
        self.start = input_ids.shape[1] if self.start is None else self.start
        step = input_ids.shape[1] - self.start
        forced = torch.full_like(scores, -float("inf"))
        forced[:, self.token_ids[min(step, len(self.token_ids) - 1)]] = 0.0
        return forced


def _segment_answers(pipe, count: int) -> dict:
    answer = "\n".join(f"<Region {i}>: [PIX]" for i in range(1, count + 1))
    tokenizer = pipe.processor.tokenizer
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return {"generate_kwargs": {"logits_processor": LogitsProcessorList([ForceAnswer(ids, tokenizer.eos_token_id)])},
            "max_new_tokens": len(ids) + 1}


def test_n_prompts_to_segment_give_n_masks_each_bound_to_its_region_with_n_scores(pipe):
    image = np.random.default_rng(5).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    boxes = [[2, 2, 20, 20], [30, 4, 60, 24], [10, 26, 40, 46]]
    out = pipe(image, boxes=boxes, task="segment", **_segment_answers(pipe, 3))[0]
    assert out["generated_text"] == "<Region 1>: [PIX]\n<Region 2>: [PIX]\n<Region 3>: [PIX]"
    assert len(out["masks"]) == 3 and len(out["scores"]) == 3 and out["dropped_masks"] == 0
    assert all(m.shape == (48, 64) and m.dtype == bool for m in out["masks"])
    assert all(type(v) is float and math.isfinite(v) for v in out["scores"])
    for i, region in enumerate(out["regions"]):  # each region's entry holds its own mask and score
        assert region["index"] == i + 1 and region["mask"] is out["masks"][i] and region["score"] == out["scores"][i]
    # the masks and scores are the model's: the same as generate() and the processor give them
    processor, model = pipe.processor, pipe.model
    text = processor.apply_chat_template([{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": INSTRUCTIONS[("segment", "regions")].format(
            regions="<Region 1>, <Region 2> and <Region 3>")}]}], add_generation_prompt=True)
    assert text == out["input_text"]
    inputs = processor(images=image, text=text, visual_prompts=[{"type": "box", "bbox": b} for b in boxes],
                       return_tensors="pt")
    forced = _segment_answers(pipe, 3)
    generated = model.generate(**inputs, **forced["generate_kwargs"], max_new_tokens=forced["max_new_tokens"],
                               do_sample=False, return_dict_in_generate=True)
    direct = processor.post_process_generation(generated, inputs, target_sizes=[(48, 64)])[0]
    assert direct["mask_regions"] == [1, 2, 3]
    assert direct["scores"] == pytest.approx(out["scores"], abs=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(direct["masks"], out["masks"]))


def test_min_score_drops_low_scoring_masks_and_counts_them(pipe):
    image = np.random.default_rng(6).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    boxes = [[2, 2, 18, 18], [20, 20, 38, 38]]
    kept = pipe(image, boxes=boxes, task="segment", **_segment_answers(pipe, 2))[0]
    assert max(kept["scores"]) < 0.99  # a random model's IoU head predicts far from a perfect mask
    strict = pipe(image, boxes=boxes, task="segment", min_score=0.99, **_segment_answers(pipe, 2))[0]
    assert strict["masks"] == [] and strict["scores"] == [] and strict["dropped_masks"] == 2
    assert [(r["mask"], r["score"]) for r in strict["regions"]] == [(None, None), (None, None)]
    with pytest.raises(ValueError, match=r"min_score=1.1 must be None or a finite number in \[0, 1\]"):
        pipe(image, boxes=boxes, task="segment", min_score=1.1, max_new_tokens=1)
    with pytest.raises(ValueError, match=r"min_score='high' must be None or a finite number"):
        VisualPromptingPipeline(model=pipe.model, processor=pipe.processor, min_score="high")


@pytest.mark.parametrize("mode", ["4bit", "8bit", "bfloat16"])
def test_quantised_and_bf16_models(mode, tmp_path, pix_bias):
    from transformers import AutoModelForImageTextToText, BitsAndBytesConfig

    model = tiny_model()
    model.save_pretrained(tmp_path)
    processor = EarthGPTXProcessor.from_model_config(model.config)
    if mode == "bfloat16":
        kwargs = {"dtype": torch.bfloat16}
    else:
        pytest.importorskip("bitsandbytes")
        kwargs = {"quantization_config": BitsAndBytesConfig(load_in_4bit=mode == "4bit", load_in_8bit=mode == "8bit",
                                                            bnb_4bit_compute_dtype=torch.float32)}
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path, **kwargs)
    linear = loaded.model.language_model.layers[0].mlp.gate_proj
    expected = {"4bit": "Linear4bit", "8bit": "Linear8bitLt", "bfloat16": "Linear"}[mode]
    assert type(linear).__name__ == expected
    if mode == "bfloat16":
        assert linear.weight.dtype == torch.bfloat16
    else:  # only the language model is quantised
        assert type(loaded.pixel_perception.text_to_pixel[0]).__name__ == "Linear"
    quantised = pipeline("visual-prompting", model=loaded, processor=processor)
    image = np.random.default_rng(4).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    text = quantised(image, boxes=[[4, 4, 20, 20]], max_new_tokens=4)[0]["generated_text"]
    assert isinstance(text, str) and text
    out = quantised(image, boxes=[[4, 4, 20, 20]], task="segment", max_new_tokens=1, **pix_bias)[0]
    assert out["generated_text"] == "[PIX]" and out["masks"][0].shape == (40, 40)


def test_pipeline_from_a_saved_folder_in_process(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    EarthGPTXProcessor.from_model_config(model.config).save_pretrained(tmp_path)
    pipe = pipeline("visual-prompting", model=str(tmp_path))
    assert isinstance(pipe.model, EarthGPTXForConditionalGeneration)
    _check(pipe(np.zeros((32, 32, 3), np.uint8), boxes=[[0, 0, 8, 8]], max_new_tokens=2), 1)
