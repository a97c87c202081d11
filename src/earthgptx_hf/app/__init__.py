"""The interactive app: draw prompts on a scene, ask about it in a multi-turn chat, see the answers and masks.

    earthgptx-app --model runs/demo/hub          # or: make app

    from earthgptx_hf.app import build_app, launch_kwargs
    build_app(pipeline("visual-prompting", model=...)).launch(**launch_kwargs())

Files by concept: `scene` (upload and demo scenes), `prompts` (clicks and drags -> prompts, canvas <-> image
coordinates), `conversation` (the chat given to the pipeline), `rendering` (drawings, tables, JSON), `session` (one
user's state; every event), `ui` (the Gradio page), `cli` (the command). The package exports the page's two entry
points; the rest lives in its modules. Gradio comes with the `app` extra (`pip install 'earthgptx-hf[app]'`); only
`ui` and `cli` need it.
"""


def build_app(*args, **kwargs):
    """`ui.build_app` (imports Gradio)."""
    from .ui import build_app as build

    return build(*args, **kwargs)


def launch_kwargs() -> dict:
    """`ui.launch_kwargs` (imports Gradio)."""
    from .ui import launch_kwargs as kwargs

    return kwargs()


__all__ = ["build_app", "launch_kwargs"]
