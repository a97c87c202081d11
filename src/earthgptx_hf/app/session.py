"""One user's state in the app: the scene, the prompts drawn on it, the conversation about it, and the files written
for download. Every app event is one method here (no Gradio in this file), so the app's behaviour is tested without a
browser; `ui.py` wires the methods to the page.

    session = AppSession(pipe, model="runs/demo/hub")
    session.load_demo("sar")
    session.click("box", (40, 40)); session.click("box", (200, 160))     # canvas pixels, as the page reports them
    turn = session.ask("classify")                                        # answer, drawing, table, files, warnings
    turn = session.ask("instruction", "What is next to <Region 1>?")      # a follow-up in the same chat
    turn = session.find("every ship")      # the query box: task="find", no prompts; turn.table lists the instances
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..data.procedural import MODALITIES
from .conversation import EMPTY_QUERY, FIND, Conversation, PromptError, empty_query
from .prompts import DRAG_SPACING, CanvasMapping, PromptBoard, thin_path
from .rendering import instance_list, region_table, render_answer, render_canvas, results_document, write_results
from .scene import Scene, demo_scene, read_upload

NO_SCENE = "Upload an image or load a demo scene first."


@dataclass
class Turn:
    """What one question produced, for the page."""

    answer: str
    drawing: object  # PIL image: draw_result of the answer
    table: str  # Markdown: regions, answers, mask scores (a find: the instances, labels and scores)
    json_path: Path
    geojson_path: Path | None
    seconds: float
    warnings: list[str] = field(default_factory=list)
    new_conversation: bool = False


def _width(width) -> float | None:
    """A brush width from the page: None or 0 mean the default (`prompts.default_scribble_width`)."""
    return None if width is None or width == 0 else float(width)


class AppSession:
    """The state behind one browser session. `pipe` is a `pipeline("visual-prompting")`; `generate_kwargs` go to every
    call (e.g. `max_new_tokens`)."""

    def __init__(self, pipe, model: str = "", generate_kwargs: dict | None = None, output_dir: str | None = None):
        self.pipe, self.model = pipe, model
        self.generate_kwargs = dict(generate_kwargs or {})
        self.owns_output_dir = output_dir is None  # a folder of its own is deleted by close()
        self.uploads: list[Path] = []  # copies of uploaded files the session owns (Gradio's), deleted by close()
        self.output_dir = Path(output_dir or tempfile.mkdtemp(prefix="earthgptx_app_"))
        self.scene: Scene | None = None
        self.board: PromptBoard | None = None
        self.mapping: CanvasMapping | None = None
        self.conversation: Conversation | None = None
        self.demo_count = 0

    def close(self) -> None:
        """The session ended (the page calls this when the browser session closes): its temporary folder (the result
        files it wrote) and the uploads it owns are deleted, and its scene released."""
        if self.owns_output_dir:
            shutil.rmtree(self.output_dir, ignore_errors=True)
        for upload in self.uploads:
            upload.unlink(missing_ok=True)
        self.uploads = []
        self.scene = self.board = self.conversation = None

    # ---------------------------------------------------------------------------------------------------------------
    # the scene
    def _set_scene(self, scene: Scene) -> None:
        self.scene, self.conversation = scene, None
        max_regions = getattr(getattr(self.pipe, "model", None), "config", None)
        self.board = PromptBoard(scene.size, max_regions=getattr(max_regions, "max_regions", None))

    def load_upload(self, path, owned: bool = False) -> None:
        """An uploaded file (ValueError naming it when it cannot be read). `owned`: the file is the session's copy
        (Gradio's), deleted when the session closes, read or not."""
        if owned:
            self.uploads.append(Path(path))
        self._set_scene(read_upload(path))

    def load_demo(self, modality: str | None = None) -> None:
        """The next held-out demo scene (each modality in turn when `modality` is None)."""
        self._set_scene(demo_scene(self.demo_count, modality))
        self.demo_count += 1

    def set_modality(self, modality: str) -> None:
        if modality not in MODALITIES:
            raise ValueError(f"modality={modality!r} is not one of {list(MODALITIES)}.")
        self._require_scene().modality = modality

    def _require_scene(self) -> Scene:
        if self.scene is None:
            raise PromptError(NO_SCENE)
        return self.scene

    # ---------------------------------------------------------------------------------------------------------------
    # prompts (positions are canvas pixels, as the page reports them)
    def canvas(self):
        """The canvas drawing (PIL), after which `self.mapping` maps its pixels to image coordinates."""
        scene = self._require_scene()
        picture, self.mapping = render_canvas(scene.display, self.board.prompts, self.board.pending,
                                              self.board.pending_mode)
        return picture

    def _mapping(self) -> CanvasMapping:
        if self.mapping is None:
            self.canvas()
        return self.mapping

    def click(self, mode: str, position, width: float | None = None) -> dict | None:
        """A click at a canvas position; `width` is a scribble's brush in image pixels (None or 0: the default)."""
        self._require_scene()
        return self.board.click(mode, self._mapping().to_image(position), _width(width))

    def drag(self, mode: str, path, width: float | None = None) -> dict:
        """A drag along canvas positions `path` (JSON text `{"points": [[x, y], ...]}` or the list itself)."""
        self._require_scene()
        if isinstance(path, str):
            try:
                path = json.loads(path)["points"]
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"a drag must be JSON {{'points': [[x, y], ...]}}, got {path[:80]!r} ({error}).")
        mapping = self._mapping()
        return self.board.drag(mode, [mapping.to_image(p) for p in thin_path(path, DRAG_SPACING)], _width(width))

    def finish(self, width: float | None = None) -> dict:
        self._require_scene()
        return self.board.finish(_width(width))

    def undo(self) -> str:
        self._require_scene()
        return self.board.undo()

    def remove(self, labels: list[str]) -> int:
        """Removes the prompts whose labels (`<Region i>: ...`, as `labels()` lists them) are given."""
        self._require_scene()
        indices = [int(label.split(">", 1)[0].removeprefix("<Region ")) for label in labels]
        return self.board.remove(indices)

    def clear(self) -> None:
        self._require_scene()
        self.board.clear()

    def labels(self) -> list[str]:
        return self.board.labels() if self.board is not None else []

    # ---------------------------------------------------------------------------------------------------------------
    # questions
    def new_conversation(self) -> None:
        self.conversation = None

    def ask(self, task: str, text: str | None = None) -> Turn:
        """Asks about the current prompts: a follow-up when the conversation's prompts and modality are unchanged,
        else the first question of a new conversation."""
        self._require_scene()
        if self.board.pending:
            raise PromptError(f"A {self.board.pending_mode} is still being drawn: finish it (or undo its clicks) "
                              "before asking.")
        return self._answer(task, text, self.board.prompts)

    def find(self, query: str) -> Turn:
        """Finds the instances `query` names ("every ship", "the largest storage tank"): the pipeline's `task="find"`,
        on the whole image, without the drawn prompts. Its chat has no prompts: another find, or a free instruction
        while no prompts are drawn, follows it up. The table lists the instances (`rendering.instance_list`)."""
        self._require_scene()
        if empty_query(query):
            raise PromptError(EMPTY_QUERY)
        return self._answer(FIND, query, [])

    def _answer(self, task: str, text: str | None, drawn: list[dict]) -> Turn:
        """The next turn: a follow-up when the conversation was started with `drawn` prompts and this modality and
        the question takes its prompts (a find takes none, an image-level task the whole-image box), else the first
        question of a new conversation (which replaces the current one once it is answered)."""
        scene, conversation = self.scene, self.conversation
        fresh = conversation is None or not conversation.matches(drawn, scene.modality) or (
            bool(conversation.messages) and conversation.question(task, text)[1] != conversation.prompts)
        if fresh:
            conversation = Conversation.start(scene.image, drawn, scene.size, scene.modality)
        result, warned = conversation.ask(self.pipe, task, text, **self.generate_kwargs)
        self.conversation = conversation
        document = results_document(scene, conversation.turns, self.model)
        json_path = write_results(document, self.output_dir)
        table = instance_list(result) if task == FIND else region_table(result)
        return Turn(answer=result["generated_text"], drawing=render_answer(scene.display, result), table=table,
                    json_path=json_path, geojson_path=self._geojson(result, task, text),
                    seconds=conversation.turns[-1]["seconds"], warnings=warned, new_conversation=fresh)

    def _geojson(self, result: dict, task: str, text: str | None = None) -> Path | None:
        """GeoJSON of the result when the scene is georeferenced (the geo module's features: each region's mask, or
        else its prompt, on the map, with its answer and score; for a find, each instance with its query, label and
        score), else None; None too when there is no feature (a find answered "none")."""
        if self.scene.georeference is None:
            return None
        from ..geo import write_geojson

        query = {"query": text} if task == FIND else {}
        collection = self.scene.georeference.features(result, task=task, model=self.model or None, **query)
        if not collection["features"]:
            return None
        return write_geojson(collection, self.output_dir / "earthgptx_results.geojson")

    def history(self) -> list[dict]:
        return self.conversation.history() if self.conversation is not None else []


__all__ = ["AppSession", "Turn", "NO_SCENE"]
