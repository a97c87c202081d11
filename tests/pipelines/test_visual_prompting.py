"""pipeline("visual-prompting"): input forms, prompt shorthands, task shortcuts, batches, masks, quantised models."""

import functools
import http.server
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from earthgptx_hf import EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.data.tasks import TEMPLATES
from earthgptx_hf.pipelines import INSTRUCTIONS, TASK_SHORTCUTS, VisualPromptingPipeline
from tests.modeling.helpers import tiny_model


@pytest.fixture(scope="module")
def pipe():
    model = tiny_model()
    return pipeline("visual-prompting", model=model, processor=EarthGPTXProcessor.from_model_config(model.config))


@pytest.fixture(scope="module")
def pix_bias(pipe):
    """Generation kwargs that make the untrained model answer [PIX] (so that it returns masks)."""
    return {"sequence_bias": {(pipe.processor.tokenizer.convert_tokens_to_ids("[PIX]"),): 100.0}}


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
    }
    assert {task for task, _ in expected} == set(TASK_SHORTCUTS)
    for (task, count), instruction in expected.items():
        out = pipe(image, boxes=two[:count] or None, task=task, max_new_tokens=2)[0]
        assert instruction in out["input_text"], (task, count)
        if count == 0:  # image-level tasks get the whole-image box, as in training
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
    assert all(m.mode == "L" and m.size == (70, 50) for m in out["masks"])
    assert set(np.unique(np.asarray(out["masks"][0]))) <= {0, 255}
    strict = pipe(image, boxes=[[5, 5, 30, 30]], task="segment", max_new_tokens=1, mask_threshold=1e9, **pix_bias)[0]
    assert np.asarray(strict["masks"][0]).max() == 0  # the threshold reaches the post-processing


def test_masks_are_bound_to_the_regions_named_before_them():
    from earthgptx_hf.pipelines.visual_prompting import pix_owners

    assert pix_owners("<Region 1>: [PIX]\n<Region 2>: ship\n<Region 3>: [PIX]") == [1, 3]
    assert pix_owners("Sure. <Region 2>: [PIX] and [PIX]\n[PIX]") == [2, 2, None]
    assert pix_owners("no mask") == []


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
        assert type(loaded.model.pixel_perception.text_to_pixel[0]).__name__ == "Linear"
    quantised = pipeline("visual-prompting", model=loaded, processor=processor)
    image = np.random.default_rng(4).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    text = quantised(image, boxes=[[4, 4, 20, 20]], max_new_tokens=4)[0]["generated_text"]
    assert isinstance(text, str) and text
    out = quantised(image, boxes=[[4, 4, 20, 20]], task="segment", max_new_tokens=1, **pix_bias)[0]
    assert out["generated_text"] == "[PIX]" and out["masks"][0].size == (40, 40)


def test_pipeline_from_a_saved_folder_in_process(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    EarthGPTXProcessor.from_model_config(model.config).save_pretrained(tmp_path)
    pipe = pipeline("visual-prompting", model=str(tmp_path))
    assert isinstance(pipe.model, EarthGPTXForConditionalGeneration)
    _check(pipe(np.zeros((32, 32, 3), np.uint8), boxes=[[0, 0, 8, 8]], max_new_tokens=2), 1)
