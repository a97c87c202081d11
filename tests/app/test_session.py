"""The app's events without a browser: uploads of PNG / JPEG / 16-bit TIFF, the prompts the pipeline receives, the
multi-turn chat it is given, segment masks, errors as the pipeline's messages, and GeoJSON for georeferenced input."""

import json

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.app.conversation import PromptError
from earthgptx_hf.app.scene import demo_scene, read_upload
from earthgptx_hf.app.session import AppSession
from earthgptx_hf.models.earthgptx.multi_source import normalise_image
from earthgptx_hf.models.earthgptx.visual_prompts import rle_to_mask
from tests.pipelines.test_conversations import _counted


class Spy:
    """The pipeline, recording what each call receives."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, []
        self.model = pipe.model

    def __call__(self, messages, **kwargs):
        self.calls.append((messages, kwargs))
        return self.pipe(messages, **kwargs)


def test_uploads_of_png_jpeg_and_16_bit_tiff_are_read_and_stretched_by_the_processor_rules(tmp_path):
    rng = np.random.default_rng(0)
    sar = (rng.gamma(2.0, 0.5, (40, 50)) * 3000).astype(np.uint16)
    Image.fromarray(sar).save(tmp_path / "sar.tif")
    Image.fromarray(np.full((30, 20, 3), 120, np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(np.full((30, 20, 3), 120, np.uint8)).save(tmp_path / "rgb.jpg")
    scene = read_upload(tmp_path / "sar.tif")
    assert (scene.size, scene.source_dtype, scene.source_channels, scene.modality) == ((40, 50), "uint16", 1, "sar")
    assert np.array_equal(scene.display, normalise_image(sar).pixels)  # shown as the model sees it
    assert np.array_equal(np.asarray(scene.image), sar)  # the pipeline receives the 16-bit values
    assert read_upload(tmp_path / "rgb.png").modality == "optical"
    assert read_upload(tmp_path / "rgb.jpg").size == (30, 20)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="upload one of"):
        read_upload(tmp_path / "notes.txt")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        read_upload(tmp_path / "broken.png")


def test_demo_scenes_are_reproducible_held_out_and_cover_every_modality():
    first, again = demo_scene(4), demo_scene(4)
    assert np.array_equal(first.display, again.display) and first.truth[0][1] == again.truth[0][1]
    assert [demo_scene(i).modality for i in range(3)] == ["optical", "sar", "infrared"]
    assert demo_scene(2, "sar").source_dtype == "uint16" and 2 <= len(first.truth) <= 3
    with pytest.raises(ValueError, match="modality='radar'"):
        demo_scene(0, "radar")


def test_the_pipeline_receives_exactly_the_drawn_prompts_and_the_whole_chat_on_follow_ups(pipe):
    spy = Spy(pipe)
    session = AppSession(spy, model="tiny", generate_kwargs={"max_new_tokens": 3})
    session.load_demo("optical")
    session.canvas()  # 64x64 shown at 512x512
    session.click("point", (100, 200))
    session.click("box", (240, 16))
    session.click("box", (400, 300))
    session.drag("scribble", json.dumps({"points": [[40, 400], [80, 420], [120, 440]]}), width=2)
    drawn = [{"type": "point", "point": [12.5, 25.0]}, {"type": "box", "bbox": [30.0, 2.0, 50.0, 37.5]},
             {"type": "scribble", "points": [[5.0, 50.0], [10.0, 52.5], [15.0, 55.0]], "width": 2.0}]
    assert session.board.prompts == drawn
    first = session.ask("classify")
    messages, kwargs = spy.calls[-1]
    image_item = messages[0]["content"][0]
    assert image_item["visual_prompts"] == drawn and image_item["image"] is session.scene.image
    assert kwargs == {"modality": "optical", "max_new_tokens": 3}
    assert messages[0]["content"][1]["text"] == "Please identify the object category of each marked region in the image."
    assert first.new_conversation and json.loads(first.json_path.read_text())["prompts"] == drawn
    second = session.ask("instruction", "Is <Region 1> next to <Region 2>?")
    follow_up, _ = spy.calls[-1]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
    assert follow_up[0] == messages[0]  # the same first turn: the pipeline can reuse its features and cache
    assert follow_up[1]["content"][0]["text"] == first.answer and not second.new_conversation
    assert follow_up[2]["content"] == [{"type": "text", "text": "Is <Region 1> next to <Region 2>?"}]
    assert [m["content"] for m in session.history()[::2]] == [messages[0]["content"][1]["text"],
                                                               "Is <Region 1> next to <Region 2>?"]
    session.remove(["<Region 2>: box [30, 2, 50, 37.5]"])
    third = session.ask("caption")
    assert third.new_conversation and len(spy.calls[-1][0]) == 1  # other prompts: a new chat
    assert spy.calls[-1][0][0]["content"][0]["visual_prompts"] == [drawn[0], drawn[2]]


def test_follow_ups_in_the_app_encode_the_image_once(pipe):
    """Issue 15, item 5: the second and third questions about the same prompts reuse the first turn's features and
    KV cache (the pipeline's conversation cache), so the towers, the fusion and SAM's encoder run once."""
    pipe.conversations.clear()
    session = AppSession(pipe, model="tiny", generate_kwargs={"max_new_tokens": 2})
    session.load_demo("sar")
    session.canvas()
    for corner in [(40, 40), (200, 200), (300, 300), (480, 420)]:  # two boxes of two clicks each
        session.click("box", corner)
    assert len(session.board.prompts) == 2

    def three_turns(p):
        return [session.ask("classify"), session.ask("instruction", "What is in <Region 2>?"),
                session.ask("caption")]

    turns, counts = _counted(pipe, three_turns)
    assert [t.new_conversation for t in turns] == [True, False, False]
    assert counts["towers"] == 1 and counts["fusion"] == 1


def test_bad_requests_raise_the_pipelines_messages(pipe):
    session = AppSession(pipe)
    with pytest.raises(PromptError, match="Upload an image or load a demo scene first"):
        session.ask("classify")
    session.load_demo()
    session.canvas()
    session.click("point", (10, 10))
    with pytest.raises(PromptError, match="task='relation' needs exactly 2 prompts"):
        session.ask("relation")
    with pytest.raises(PromptError, match="free instruction is empty"):
        session.ask("instruction", "  ")
    session.click("polygon", (10, 10))
    with pytest.raises(PromptError, match="polygon is still being drawn"):
        session.ask("classify")
    session.undo()
    session.clear()
    image_level = session.ask("caption")  # no prompts: the whole-image box, as the pipeline does
    assert image_level.answer is not None and session.conversation.prompts == [
        {"type": "box", "bbox": [0, 0, 64, 64]}]


def test_segment_returns_masks_drawn_and_saved(pix_pipe):
    session = AppSession(pix_pipe)
    session.load_demo("infrared")
    session.canvas()
    session.click("box", (8, 8))
    session.click("box", (300, 300))
    turn = session.ask("segment")
    result = session.conversation.turns[-1]["result"]
    assert turn.answer == "[PIX]" and len(result["masks"]) == 1
    saved = json.loads(turn.json_path.read_text())["turns"][-1]
    assert np.array_equal(rle_to_mask(saved["masks"][0]), result["masks"][0])
    assert saved["scores"] == [pytest.approx(float(result["scores"][0]))]
    assert turn.drawing.size == (512, 512) and "mask 1 score" in turn.table


def test_georeferenced_uploads_give_geojson(tmp_path, pipe):
    rasterio = pytest.importorskip("rasterio", reason="GeoJSON output needs the geo extra (rasterio)")
    from affine import Affine

    pixels = (np.random.default_rng(0).gamma(2.0, 0.5, (48, 48)) * 3000).astype(np.uint16)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=48, height=48, count=1, dtype="uint16", crs="EPSG:32633",
                       transform=Affine(10, 0, 500000, 0, -10, 5000000)) as dataset:
        dataset.write(pixels, 1)
    session = AppSession(pipe, model="tiny", generate_kwargs={"max_new_tokens": 2})
    session.load_upload(path)
    assert session.scene.georeference is not None and "georeferenced" in session.scene.describe()
    session.canvas()
    session.click("point", (100, 100))
    turn = session.ask("classify")
    collection = json.loads(turn.geojson_path.read_text())
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 1
    lon, lat = collection["features"][0]["geometry"]["coordinates"]
    assert 14 < lon < 15.5 and 45 < lat < 45.2  # UTM 33N, 500 km east, 5000 km north, in EPSG:4326
    plain = AppSession(pipe, generate_kwargs={"max_new_tokens": 2})
    plain.load_demo()
    plain.canvas()
    plain.click("point", (10, 10))
    assert plain.ask("classify").geojson_path is None
