"""The app's page (Gradio Blocks): the scene and its prompts on the left, the question, the query box (find by name),
the answer and the downloads on the right. Each event calls one `AppSession` method; errors of the pipeline come back
as `gr.Error` messages (the pipeline's own text) and its warnings as `gr.Warning`, never as stack traces.

    demo = build_app(pipe, model="runs/demo/hub")
    demo.launch(**launch_kwargs())          # the page script that turns a drag on the canvas into a box or a stroke

A click on the canvas is Gradio's `select` event (`gr.SelectData.index`: the clicked pixel of the drawing). Gradio
reports no drags, so a short page script (`DRAG_SCRIPT`) sends a drag's path through a hidden textbox instead.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before Gradio is imported: no usage reports

from ..utils.extras import require  # noqa: E402
from .conversation import EMPTY_QUERY, MENU_TASKS, PromptError, empty_query  # noqa: E402
from .prompts import DRAW_MODES  # noqa: E402
from .scene import MAX_UPLOAD_BYTES, UPLOAD_TYPES  # noqa: E402
from .session import NO_SCENE, AppSession  # noqa: E402

gr = require("gradio", extra="app", purpose="The interactive app (earthgptx-app)")

MODALITY_CHOICES = ("optical", "sar", "infrared")
CACHE_SECONDS = 3600  # uploads older than this are deleted from Gradio's cache (checked as often)
NOTICE = (
    "**About the model.** The demo checkpoint is a *small* EarthGPT-X ({parameters:,} parameters), trained for "
    "minutes on *synthetic scenes* only: procedural ships, storage tanks, vehicles, buildings and airplanes drawn on "
    "optical, SAR and infrared backgrounds. It shows how the model is used, not what a full-size model trained on real "
    "imagery answers: expect wrong answers on real scenes."
)
HELP = (
    "Draw prompts on the scene: **point**: click; **box**: two clicks (opposite corners) or a drag; **polygon**: "
    "click its vertices, then *Finish shape* (or drag a lasso); **scribble** (free-form brush): drag a stroke, or "
    "click its points, then *Finish shape*. Each prompt is `<Region i>` in the order drawn; refer to them in a free "
    "instruction."
)
FIND_HINT = (
    "**Find by name**: type a class (*ship*, *every vehicle*) or an expression (*the largest storage tank*) and "
    "press *Find* or Enter: every instance found is masked in a colour of its own and listed with its score. Find "
    "searches the whole image and does **not** use the prompts drawn on the left; its answer joins the conversation "
    "(another Find, or a free instruction asked while no prompts are drawn, follows it up)."
)

# Gradio's select event gives clicks only; a drag becomes {"points": [[x, y], ...]} in drawing pixels, written to the
# hidden textbox #egx-drag, then #egx-drag-go is clicked. The mapping of a pointer position to a drawing pixel is the
# one Gradio's ImagePreview uses for its clicks (the image is contained in its box and never enlarged), so clicks and
# drags agree. The click that ends a drag is swallowed, so that a drag is not also a click.
DRAG_SCRIPT = """
<script>
(() => {
  const CANVAS = "egx-canvas", MIN_MOVE = 5;
  let down = null, path = [], swallow = false;
  const inCanvas = (e) => e.target && e.target.closest && e.target.closest("#" + CANVAS);
  const pixel = (img, e) => {
    const r = img.getBoundingClientRect();
    const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight, 1);
    const ox = (r.width - img.naturalWidth * s) / 2, oy = (r.height - img.naturalHeight * s) / 2;
    return [(e.clientX - r.left - ox) / s, (e.clientY - r.top - oy) / s];
  };
  document.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || !inCanvas(e) || e.target.tagName !== "IMG") return;
    down = {img: e.target, x: e.clientX, y: e.clientY};
    path = [pixel(e.target, e)];
  }, true);
  document.addEventListener("pointermove", (e) => { if (down) path.push(pixel(down.img, e)); }, true);
  document.addEventListener("pointerup", (e) => {
    if (!down) return;
    const start = down;
    down = null;
    if (Math.hypot(e.clientX - start.x, e.clientY - start.y) < MIN_MOVE) return;  // a click: Gradio's select
    path.push(pixel(start.img, e));
    swallow = true;
    setTimeout(() => { swallow = false; }, 400);
    const box = document.querySelector("#egx-drag textarea, #egx-drag input");
    box.value = JSON.stringify({points: path, sent: Date.now()});
    box.dispatchEvent(new Event("input", {bubbles: true}));
    setTimeout(() => document.getElementById("egx-drag-go").click(), 50);
  }, true);
  document.addEventListener("click", (e) => {
    if (swallow && inCanvas(e)) { e.stopPropagation(); e.preventDefault(); swallow = false; }
  }, true);
  document.addEventListener("dragstart", (e) => { if (inCanvas(e)) e.preventDefault(); }, true);
})();
</script>
"""


def launch_kwargs() -> dict:
    """What `Blocks.launch` needs besides the host and port: the drag script, and the upload size cap (Gradio refuses
    a larger file before storing it)."""
    return {"head": DRAG_SCRIPT, "max_file_size": MAX_UPLOAD_BYTES}


def _close_session(session) -> None:
    """Gradio's end of a browser session (the State's delete_callback): the session's temporary files go."""
    if session is not None:
        session.close()


def _warn(messages) -> None:
    for message in messages:
        gr.Warning(message)


def _scene_column() -> dict:
    """The left column: the upload, the demo scene, the modality, the drawing tools, the canvas and its prompts."""
    parts = {}
    parts["upload"] = gr.File(label="Upload PNG, JPEG or (Geo)TIFF", file_types=list(UPLOAD_TYPES), type="filepath",
                              elem_id="egx-upload")
    with gr.Row():
        parts["demo_button"] = gr.Button("Load a demo scene (held out, synthetic)", elem_id="egx-demo")
        parts["modality"] = gr.Dropdown(list(MODALITY_CHOICES), label="Modality (guessed; change it if wrong)",
                                        value=None, elem_id="egx-modality")
    parts["info"] = gr.Markdown(elem_id="egx-info")
    gr.Markdown(HELP)
    with gr.Row():
        parts["mode"] = gr.Radio(list(DRAW_MODES), value="point", label="Draw", elem_id="egx-mode")
        parts["width"] = gr.Number(value=0, label="Scribble width (image pixels; 0: 3 % of the image)", minimum=0,
                                   elem_id="egx-width")
    with gr.Row():
        parts["finish"] = gr.Button("Finish shape", elem_id="egx-finish")
        parts["undo"] = gr.Button("Undo", elem_id="egx-undo")
        parts["clear"] = gr.Button("Clear prompts", elem_id="egx-clear")
    parts["canvas"] = gr.Image(label="Scene: click or drag to draw prompts", interactive=False, type="pil",
                               elem_id="egx-canvas", format="png")
    parts["regions"] = gr.CheckboxGroup([], label="Prompts (tick to remove)", elem_id="egx-regions")
    parts["remove"] = gr.Button("Remove ticked prompts", elem_id="egx-remove")
    parts["drag_path"] = gr.Textbox(visible="hidden", elem_id="egx-drag")
    parts["drag_go"] = gr.Button("drag", visible="hidden", elem_id="egx-drag-go")
    return parts


def _answer_column() -> dict:
    """The right column: the task, the instruction, the query box, the answer, the chat, the drawing, the table (the
    instances found, for a find) and the downloads."""
    parts = {}
    parts["task"] = gr.Radio(list(MENU_TASKS), value="classify", label="Task", elem_id="egx-task")
    parts["text"] = gr.Textbox(label="Free instruction (task 'instruction'; may refer to <Region 1>, ...)", lines=2,
                               elem_id="egx-text")
    with gr.Row():
        parts["ask"] = gr.Button("Ask", variant="primary", elem_id="egx-ask")
        parts["restart"] = gr.Button("New conversation", elem_id="egx-restart")
    with gr.Row(equal_height=True):
        parts["query"] = gr.Textbox(label="Find by name", placeholder="every ship, the largest storage tank", lines=1,
                                    max_lines=1, scale=4, elem_id="egx-query")
        parts["find"] = gr.Button("Find", scale=1, elem_id="egx-find")
    gr.Markdown(FIND_HINT, elem_id="egx-find-hint")
    parts["answer"] = gr.Textbox(label="Answer", interactive=False, elem_id="egx-answer")
    parts["status"] = gr.Markdown(elem_id="egx-status")
    parts["chat"] = gr.Chatbot(label="Conversation about this scene", elem_id="egx-chat", height=240)
    parts["drawing"] = gr.Image(label="Answer drawn on the scene (masks in region colours)", interactive=False,
                                type="pil", elem_id="egx-result", format="png")
    parts["table"] = gr.Markdown(elem_id="egx-table")
    parts["downloads"] = gr.File(label="Results: JSON (masks as COCO RLE); GeoJSON when the image is georeferenced",
                                 file_count="multiple", interactive=False, elem_id="egx-files")
    return parts


def _layout(pipe, model: str, title: str) -> SimpleNamespace:
    """The page's components, inside the open Blocks: the session state, the titles and the two columns."""
    state = gr.State(None, delete_callback=_close_session)
    gr.Markdown(f"# {title}: visual prompting on optical, SAR and infrared scenes\nModel: `{model}`")
    gr.Markdown(NOTICE.format(parameters=pipe.model.num_parameters()), elem_id="egx-notice")
    with gr.Row():
        with gr.Column(scale=1):
            left = _scene_column()
        with gr.Column(scale=1):
            right = _answer_column()
    return SimpleNamespace(state=state, **left, **right)


def _prompt_view(session):
    """The outputs of every prompt event: the session, the canvas with its prompts, their labels (none ticked)."""
    return session, session.canvas(), gr.update(choices=session.labels(), value=[])


def _wire_scene(page, new_session) -> None:
    """Upload, demo scene and modality: a new scene resets the prompts, the chat and the answer."""

    def on_scene(session, load):
        session = session or new_session()
        try:
            load(session)
        except (ValueError, TypeError, PromptError) as error:
            raise gr.Error(str(error)) from None
        scene = session.scene
        return (*_prompt_view(session), gr.update(value=scene.modality), scene.describe(), [], "", None, "", None, "")

    outputs = [page.state, page.canvas, page.regions, page.modality, page.info, page.chat, page.answer, page.drawing,
               page.table, page.downloads, page.status]
    page.upload.upload(lambda s, path: on_scene(s, lambda x: x.load_upload(path, owned=True)),
                       [page.state, page.upload], outputs)
    page.demo_button.click(lambda s: on_scene(s, lambda x: x.load_demo()), [page.state], outputs)

    def on_modality(session, value):
        if session is None or session.scene is None or value is None:
            return session, gr.update()
        session.set_modality(value)
        return session, session.scene.describe()

    page.modality.input(on_modality, [page.state, page.modality], [page.state, page.info])


def _edit(action):
    """An event handler that applies `action(session, *args)` to the prompts; a bad prompt is a warning."""
    def handler(session, *args):
        if session is None or session.scene is None:
            raise gr.Error(NO_SCENE)
        try:
            action(session, *args)
        except (ValueError, PromptError) as error:
            gr.Warning(str(error))
        return _prompt_view(session)
    return handler


def _wire_prompts(page) -> None:
    """Clicks and drags on the canvas, and the buttons that finish, undo, clear and remove prompts."""
    outputs = [page.state, page.canvas, page.regions]

    def on_select(session, mode_value, width_value, evt: gr.SelectData):
        return _edit(lambda s: s.click(mode_value, evt.index, width_value))(session)

    page.canvas.select(on_select, [page.state, page.mode, page.width], outputs, trigger_mode="multiple")
    page.drag_go.click(_edit(lambda s, path, m, w: s.drag(m, path, w)),
                       [page.state, page.drag_path, page.mode, page.width], outputs, trigger_mode="multiple")
    page.finish.click(_edit(lambda s, w: s.finish(w)), [page.state, page.width], outputs)
    page.undo.click(_edit(lambda s: s.undo()), [page.state], outputs)
    page.clear.click(_edit(lambda s: s.clear()), [page.state], outputs)
    page.remove.click(_edit(lambda s, ticked: s.remove(ticked or [])), [page.state, page.regions], outputs)


def _turn_outputs(session, turn) -> tuple:
    """The outputs of an answered question (Ask or Find): the session, the answer, a note on the turn, the chat, the
    drawing, the table and the files to download; the pipeline's warnings are shown."""
    _warn(turn.warnings)
    turns = len(session.conversation.turns)
    note = f"Answered in {turn.seconds:.2f} s (turn {turns} of this conversation"
    note += "; a new conversation: new scene, prompts or modality, or a find)." if turn.new_conversation else ")."
    files = [str(turn.json_path)] + ([str(turn.geojson_path)] if turn.geojson_path else [])
    return session, turn.answer, note, session.history(), turn.drawing, turn.table, files


def find_event(session, query) -> tuple:
    """Find (the button, or Enter in the query box): `AppSession.find(query)`, shown as an answer (`_turn_outputs`:
    the masks drawn, the instances listed in the table). An empty query changes nothing but the status, which says
    what to type (and a warning), rather than failing."""
    if session is None or session.scene is None:
        raise gr.Error(NO_SCENE)
    if empty_query(query):
        gr.Warning(EMPTY_QUERY)
        return session, gr.update(), EMPTY_QUERY, gr.update(), gr.update(), gr.update(), gr.update()
    try:
        turn = session.find(query)
    except (PromptError, ValueError) as error:
        raise gr.Error(str(error)) from None
    return _turn_outputs(session, turn)


def _wire_chat(page) -> None:
    """Ask and Find (the answer, a note on the turn, the chat, the drawing, the table and the files to download) and
    New conversation."""
    outputs = [page.state, page.answer, page.status, page.chat, page.drawing, page.table, page.downloads]

    def on_ask(session, task_value, text_value, progress=gr.Progress()):
        if session is None or session.scene is None:
            raise gr.Error(NO_SCENE)
        progress(0.1, desc="Encoding the scene and generating the answer")
        try:
            turn = session.ask(task_value, text_value)
        except (PromptError, ValueError) as error:
            raise gr.Error(str(error)) from None
        return _turn_outputs(session, turn)

    page.ask.click(on_ask, [page.state, page.task, page.text], outputs)

    def on_find(session, query, progress=gr.Progress()):
        progress(0.1, desc="Searching the scene")
        return find_event(session, query)

    page.find.click(on_find, [page.state, page.query], outputs)
    page.query.submit(on_find, [page.state, page.query], outputs)

    def on_restart(session):
        if session is not None:
            session.new_conversation()
        return session, [], "", "New conversation: the next question starts a new chat about this scene."

    page.restart.click(on_restart, [page.state], [page.state, page.chat, page.answer, page.status])


def build_app(pipe, model: str = "", generate_kwargs: dict | None = None, title: str = "EarthGPT-X") -> "gr.Blocks":
    """The Blocks page around `pipe` (a `pipeline("visual-prompting")`); `model` names the checkpoint on the page and
    in the downloaded results; `generate_kwargs` go to every call. The layout (`_layout`), then the events, each
    calling one `AppSession` method (`_wire_scene`, `_wire_prompts`, `_wire_chat`: Ask, Find and New
    conversation)."""

    def new_session():
        return AppSession(pipe, model=model, generate_kwargs=generate_kwargs)

    # uploads are stored in Gradio's cache: files older than CACHE_SECONDS are deleted every CACHE_SECONDS
    with gr.Blocks(title=title, delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
        page = _layout(pipe, model, title)
        _wire_scene(page, new_session)
        _wire_prompts(page)
        _wire_chat(page)
    return demo


__all__ = ["build_app", "launch_kwargs", "find_event", "DRAG_SCRIPT", "NOTICE", "FIND_HINT"]
