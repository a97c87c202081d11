"""The interactive app: draw prompts on a scene, ask about it in a multi-turn chat, see the answers and masks.

    earthgptx-app --model runs/demo/hub          # or: make app

    from earthgptx_hf.app import build_app, launch_kwargs
    build_app(pipeline("visual-prompting", model=...)).launch(**launch_kwargs())

Files by concept: `scene` (upload and demo scenes), `prompts` (clicks and drags -> prompts, canvas <-> image
coordinates), `conversation` (the chat given to the pipeline), `rendering` (drawings, tables, JSON), `session` (one
user's state; every event), `ui` (the Gradio page), `cli` (the command). Gradio comes with the `app` extra
(`pip install 'earthgptx-hf[app]'`); only `ui` and `cli` need it.
"""

from .conversation import TASKS, Conversation, PromptError
from .prompts import DRAW_MODES, CanvasMapping, PromptBoard
from .rendering import region_table, render_answer, render_canvas, results_document
from .scene import Scene, demo_scene, guess_modality, read_upload
from .session import AppSession, Turn


def build_app(*args, **kwargs):
    """`ui.build_app` (imports Gradio)."""
    from .ui import build_app as build

    return build(*args, **kwargs)


def launch_kwargs() -> dict:
    """`ui.launch_kwargs` (imports Gradio)."""
    from .ui import launch_kwargs as kwargs

    return kwargs()


__all__ = ["AppSession", "Turn", "Conversation", "PromptError", "TASKS", "PromptBoard", "CanvasMapping", "DRAW_MODES",
           "Scene", "read_upload", "demo_scene", "guess_modality", "render_canvas", "render_answer", "region_table",
           "results_document", "build_app", "launch_kwargs"]
