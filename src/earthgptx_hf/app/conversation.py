"""A multi-turn conversation about one scene, as chat messages for `pipeline("visual-prompting")`.

    conversation = Conversation.start(scene.image, prompts, modality="sar")
    result = conversation.ask(pipe, "classify")                     # a task shortcut, or
    result = conversation.ask(pipe, "instruction", "Is <Region 1> moored at <Region 2>?")
    result = conversation.ask(pipe, "segment")                      # a follow-up: the chat so far, plus this turn
    conversation = Conversation.start(scene.image, [], size)         # find by name: no prompts
    result = conversation.ask(pipe, "find", "the largest ship")     # result["instances"]: label, mask, score, box

Every call passes the whole chat (the image item with its visual prompts in the first user turn, then the assistant
and user turns), as in `image-text-to-text`: the pipeline reuses the image features and the KV cache of the earlier
turns when they match its previous call. The prompts are those of the first turn; new prompts start a new
conversation. The tasks' instructions are the pipeline's own (`visual_prompting.instruction`), so a task asked here is
worded as `pipe(image, task=...)` words it; `find` (the app's query box, not its task menu) takes the query as its
text and no prompts, as `pipe(image, task="find", query=...)` does.

Errors of the pipeline (bad prompts, a task that needs two regions, ...) are raised as `PromptError` with the
pipeline's message, and its warnings (prompts clipped at the border) are returned with the result, for the app to
show as messages rather than stack traces.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field

from ..models.earthgptx.visual_prompting import TASK_SHORTCUTS, find_instruction, instruction

FIND = "find"  # the pipeline's text-referring task: the app's query box asks it
MENU_TASKS = (*(t for t in TASK_SHORTCUTS if t != FIND), "instruction")  # the task menu: shortcuts, a free instruction
QUESTION_TASKS = (*MENU_TASKS, FIND)
EMPTY_QUERY = "The query is empty: type what to find, e.g. 'every ship' or 'the largest storage tank'."


def empty_query(query) -> bool:
    """Whether a find query names nothing (blank, or punctuation only): the pipeline's rule (`find_instruction`),
    asked here so that the page says so in its own words."""
    try:
        find_instruction(query)
    except ValueError:
        return True
    return False


class PromptError(ValueError):
    """A request the pipeline refused, with its message."""


@dataclass
class Conversation:
    """The chat about one image: `messages` as the pipeline takes them, and `turns` (question, result, prompts,
    seconds) in order."""

    image: object
    prompts: list[dict]  # the chat's (an image-level first question without prompts takes the whole-image box)
    size: tuple[int, int]  # (height, width) of the image
    modality: str | None = None
    drawn: list[dict] = field(default_factory=list)  # the prompts the conversation started with
    messages: list[dict] = field(default_factory=list)
    turns: list[dict] = field(default_factory=list)

    @classmethod
    def start(cls, image, prompts: list[dict], size: tuple[int, int], modality: str | None = None) -> "Conversation":
        prompts = copy.deepcopy(list(prompts))
        return cls(image=image, prompts=prompts, size=tuple(size), modality=modality, drawn=copy.deepcopy(prompts))

    def matches(self, prompts: list[dict], modality: str | None) -> bool:
        """Whether a next question about `prompts` and `modality` continues this conversation."""
        return prompts == self.drawn and modality == self.modality

    def question(self, task: str, text: str | None = None) -> tuple[str, list[dict]]:
        """The instruction of `task` (the pipeline's wording) or the free `text`, and the prompts it goes with (an
        image-level task without prompts takes the whole-image box, as the pipeline does; `find`, whose query is
        `text`, takes none)."""
        if task not in QUESTION_TASKS:
            raise PromptError(f"task={task!r} is not one of {list(QUESTION_TASKS)}.")
        if task == "instruction":
            if not isinstance(text, str) or not text.strip():
                raise PromptError("The free instruction is empty: type a question (it may refer to <Region 1>, ...).")
            return text.strip(), self.prompts
        if task == FIND and empty_query(text):
            raise PromptError(EMPTY_QUERY)
        height, width = self.size
        fields, prompts = ({"task": FIND, "query": text}, []) if task == FIND else ({"task": task}, list(self.prompts))
        try:
            return instruction(fields, prompts, width, height, "the query box" if task == FIND else "the image")
        except ValueError as error:
            raise PromptError(str(error)) from None

    def ask(self, pipe, task: str, text: str | None = None, **generate_kwargs) -> tuple[dict, list[str]]:
        """Asks the next question; returns the pipeline's result for it and the warnings it gave."""
        question, prompts = self.question(task, text)
        if not self.messages:
            self.prompts = prompts  # the whole-image box of an image-level first question stays the chat's prompt
            content = [{"type": "image", "image": self.image, "visual_prompts": prompts},
                       {"type": "text", "text": question}]
        elif prompts != self.prompts:
            raise PromptError(f"{task!r} needs other prompts than this conversation's: start a new conversation.")
        else:
            content = [{"type": "text", "text": question}]
        messages = [*self.messages, {"role": "user", "content": content}]
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                result = pipe(messages, modality=self.modality, **generate_kwargs)[0]
            except (ValueError, TypeError) as error:  # the pipeline's and the processor's messages for bad input
                raise PromptError(str(error)) from None
        seconds = time.perf_counter() - start
        self.messages = [*messages, {"role": "assistant", "content": [{"type": "text",
                                                                      "text": result["generated_text"]}]}]
        self.turns.append({"question": question, "result": result, "prompts": self.prompts, "seconds": seconds})
        return result, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]

    def history(self) -> list[dict]:
        """The turns as `{"role", "content"}` text messages, for a chat display."""
        shown = []
        for turn in self.turns:
            shown.append({"role": "user", "content": turn["question"]})
            shown.append({"role": "assistant", "content": turn["result"]["generated_text"] or "(empty answer)"})
        return shown


__all__ = ["Conversation", "PromptError", "MENU_TASKS", "QUESTION_TASKS", "FIND", "EMPTY_QUERY", "empty_query"]
