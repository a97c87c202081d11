"""The app's query box (find by name) without a browser: `AppSession.find` and the page's handler (`ui.find_event`)
with the tiny random model, whose answers are forced through a sequence bias (as tests/pipelines/conftest.py's
`pix_bias` does): "ship[PIX]ship[PIX]" (two masks named ship) or "none". The pipeline receives the find instruction
and no prompts, the masks are drawn in one colour each, the instances are listed with label and score, the answer joins
the chat, and an empty query is a message on the page."""

import json
import re

import numpy as np
import pytest

from earthgptx_hf.app.conversation import EMPTY_QUERY, MENU_TASKS, PromptError
from earthgptx_hf.app.rendering import CANVAS_MIN_SIZE, NONE_FOUND, instance_list
from earthgptx_hf.app.session import AppSession
from earthgptx_hf.evaluation.visualization import draw_result, region_colour
from tests.app.test_session import Spy

gr = pytest.importorskip("gradio", reason="the page's handlers need the app extra (gradio)")
from earthgptx_hf.app import ui  # noqa: E402


def _bias(pipe, *answers: str) -> dict:
    """A sequence bias that makes the untrained model write the token sequences `answers`, then stop: each token
    is favoured after the ones before it (the longer the prefix, the larger the bias)."""
    tokenizer = pipe.processor.tokenizer
    bias = {}
    for answer in answers:
        ids = [*tokenizer.encode(answer, add_special_tokens=False), tokenizer.eos_token_id]
        for end in range(1, len(ids) + 1):
            bias[tuple(ids[:end])] = 50.0 * end
    return {"sequence_bias": bias, "max_new_tokens": 8}


@pytest.fixture
def ships(pipe):
    """Generation kwargs for the answer "ship[PIX]ship[PIX]": two instances labelled ship."""
    tokenizer = pipe.processor.tokenizer
    ship, pix = tokenizer.convert_tokens_to_ids(["ship", "[PIX]"])
    return {"sequence_bias": {(ship,): 50.0, (ship, pix): 100.0}, "max_new_tokens": 4}


def _session(pipe, generate_kwargs) -> tuple[AppSession, Spy]:
    spy = Spy(pipe)
    session = AppSession(spy, model="tiny", generate_kwargs=generate_kwargs)
    session.load_demo("optical")
    session.canvas()
    session.click("point", (100, 200))  # drawn, and not used by find
    return session, spy


def test_find_asks_the_pipeline_without_prompts_and_draws_and_lists_every_instance(pipe, ships):
    session, spy = _session(pipe, ships)
    turn = session.find("ship")
    messages, kwargs = spy.calls[-1]
    assert messages[0]["content"][0]["visual_prompts"] == [] and messages[0]["content"][1]["text"] == \
        "Segment every ship."
    assert kwargs["modality"] == "optical"
    result = session.conversation.turns[-1]["result"]
    assert turn.answer == "ship[PIX]ship[PIX]" and [i["label"] for i in result["instances"]] == ["ship", "ship"]
    scores = [float(i["score"]) for i in result["instances"]]
    for number, score in enumerate(scores, start=1):
        assert f"{number}. " in turn.table and f"ship {score:.2f}, box [" in turn.table
    assert "rgb({}, {}, {})".format(*region_colour(2)) in turn.table  # instance 2's swatch: its mask's colour
    # the masks drawn on the scene, each in its instance's colour (as the app draws segment masks)
    drawing = np.asarray(turn.drawing, int)
    plain = np.asarray(draw_result(session.scene.display, {**result, "masks": []}, caption=False,
                                   min_size=CANVAS_MIN_SIZE), int)
    assert drawing.shape == plain.shape == (512, 512, 3)
    masks = [np.kron(i["mask"], np.ones((8, 8), bool)) for i in result["instances"]]
    changed = np.abs(drawing - plain).max(axis=2) > 8
    assert masks[0].any() and changed[masks[0]].mean() > 0.9 and not changed[~np.any(masks, axis=0)].any()
    assert np.array_equal(drawing, np.asarray(draw_result(session.scene.display, result, caption=False,
                                                          min_size=CANVAS_MIN_SIZE), int))
    saved = json.loads(turn.json_path.read_text())
    assert saved["prompts"] == [] and [i["label"] for i in saved["turns"][-1]["instances"]] == ["ship", "ship"]
    assert saved["turns"][-1]["instances"][0]["score"] == pytest.approx(scores[0])


def test_find_joins_the_chat_and_is_followed_up(pipe, ships):
    session, spy = _session(pipe, {"max_new_tokens": 3})
    session.ask("classify")  # a chat about the drawn point
    session.generate_kwargs = ships
    found = session.find("the largest ship")
    assert found.new_conversation and len(spy.calls[-1][0]) == 1  # find takes no prompts: a chat of its own
    assert spy.calls[-1][0][0]["content"][1]["text"] == "Segment the largest ship."
    again = session.find("ship.")  # another find follows it up, whatever is drawn
    assert not again.new_conversation and [m["role"] for m in spy.calls[-1][0]] == ["user", "assistant", "user"]
    assert spy.calls[-1][0][1]["content"][0]["text"] == found.answer
    session.clear()
    session.generate_kwargs = {"max_new_tokens": 2}
    follow_up = session.ask("instruction", "How many ships are there?")  # no prompts drawn: the same chat
    assert not follow_up.new_conversation and len(spy.calls[-1][0]) == 5
    assert [m["content"] for m in session.history()[::2]] == ["Segment the largest ship.", "Segment every ship.",
                                                               "How many ships are there?"]
    caption = session.ask("caption")  # an image-level task takes the whole-image box: a new chat, not an error
    assert caption.new_conversation and spy.calls[-1][0][0]["content"][0]["visual_prompts"] == [
        {"type": "box", "bbox": [0, 0, 64, 64]}]


def test_find_that_answers_none_says_none_found_and_draws_no_mask(pipe):
    session, _ = _session(pipe, _bias(pipe, "none"))
    turn = session.find("storage tank")
    result = session.conversation.turns[-1]["result"]
    assert turn.answer == "none" and result["instances"] == [] and result["masks"] == []
    assert NONE_FOUND in turn.table and "'none'" in turn.table
    plain = draw_result(session.scene.display, {"regions": [], "masks": []}, caption=False, min_size=CANVAS_MIN_SIZE)
    assert np.array_equal(np.asarray(turn.drawing), np.asarray(plain))
    assert session.history()[-1] == {"role": "assistant", "content": "none"}


def test_the_page_handler_shows_the_answer_and_an_empty_query_as_a_message(pipe, ships):
    session, spy = _session(pipe, ships)
    state, answer, note, chat, drawing, table, files = ui.find_event(session, "ship")
    assert state is session and answer == "ship[PIX]ship[PIX]" and "(turn 1 of this conversation" in note
    assert chat[-2:] == [{"role": "user", "content": "Segment every ship."},
                         {"role": "assistant", "content": "ship[PIX]ship[PIX]"}]
    # the untrained model's predicted IoU may come out a hair below 0 (torch 2.6): "ship -0.00"
    assert drawing.size == (512, 512) and re.search(r"ship -?\d\.\d\d, box", table) and files[0].endswith(".json")
    calls = len(spy.calls)
    with pytest.warns(UserWarning, match="The query is empty"):
        outputs = ui.find_event(session, "  ?")
    assert outputs[2] == EMPTY_QUERY and len(spy.calls) == calls  # a message, the pipeline not called
    assert all(value == gr.update() for value in outputs[1:2] + outputs[3:])  # the answer shown stays
    assert len(session.conversation.turns) == 1
    with pytest.raises(PromptError, match="The query is empty"):
        session.find("")
    with pytest.raises(gr.Error, match="Upload an image or load a demo scene first"):
        ui.find_event(AppSession(pipe), "ship")


def test_the_page_has_a_query_box_that_find_and_enter_submit(pipe):
    demo = ui.build_app(pipe, model="tiny")
    ids = {block.elem_id: block_id for block_id, block in demo.blocks.items() if getattr(block, "elem_id", None)}
    triggers = {(target, event) for dependency in demo.config["dependencies"]
                for target, event in dependency["targets"]}
    assert (ids["egx-find"], "click") in triggers and (ids["egx-query"], "submit") in triggers
    query = demo.blocks[ids["egx-query"]]
    assert query.label == "Find by name" and "every ship" in query.placeholder
    assert "find" not in MENU_TASKS and "not** use the prompts" in ui.FIND_HINT


def test_instance_list_formats_labels_scores_and_boxes():
    mask = np.zeros((4, 4), bool)
    result = {"generated_text": "ship at the top left[PIX]\n[PIX]", "dropped_masks": 1,
              "instances": [{"label": "ship", "mask": mask, "score": np.float32(0.874), "box": [0.0, 1.0, 2.5, 3.0]},
                            {"label": None, "mask": mask, "score": 0.5, "box": None}]}
    listed = instance_list(result)
    assert "1. " in listed and "ship 0.87, box [0, 1, 2.5, 3]" in listed and "2. " in listed
    assert "unnamed 0.50\n" in listed and "1 mask(s) below min_score" in listed
    assert NONE_FOUND in instance_list({"generated_text": "none", "instances": []})


def test_a_find_on_a_georeferenced_scene_writes_one_feature_per_instance(pipe, ships, tmp_path):
    rasterio = pytest.importorskip("rasterio", reason="georeferenced scenes need the geo extra")
    from affine import Affine

    pixels = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=48, height=48, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(10, 0, 500000, 0, -10, 5000000)) as dataset:
        dataset.write(pixels, 1)
    session = AppSession(pipe, model="tiny", generate_kwargs=ships)
    session.load_upload(path)
    turn = session.find("ship")
    instances = [i for i in session.conversation.turns[-1]["result"]["instances"] if i["box"] is not None]
    assert instances  # the forced answer's two masks (the untrained model's masks are not empty here)
    features = json.loads(turn.geojson_path.read_text())["features"]
    assert len(features) == len(instances)
    assert {f["properties"]["query"] for f in features} == {"ship"}
    assert [f["properties"]["label"] for f in features] == ["ship"] * len(instances)
