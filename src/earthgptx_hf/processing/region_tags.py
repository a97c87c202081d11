"""The `<Region i>` tag: how the i-th visual prompt of an image (1-based) is written in questions, answers, the app and
plots, and how it is read back from generated text (region answers parsed, `[PIX]` masks paired, metrics). One owner,
so that what is written and what is read never disagree."""

from __future__ import annotations

import re

REGION_TAG_TEMPLATE = "<Region {}>"  # the processor's default `region_token_template`, one added token per region
# generated text is read leniently: a model may drop or double the space
REGION_TAG_PATTERN = r"<Region\s*(\d+)>"
REGION_TAG = re.compile(REGION_TAG_PATTERN)


# what a person may write: `<Region i>` or its alias `<Mark i>` (rewritten to `<Region i>` by the processor)
REGION_REFERENCE = re.compile(r"<(Region|Mark)\s*(\d+)>")
REGION_ANSWER = re.compile(REGION_TAG_PATTERN + r"\s*:\s*(.*?)\s*$")


def region_tag(index: int) -> str:
    """`region_tag(2)` -> `"<Region 2>"` (1-based, as the prompts are numbered)."""
    return REGION_TAG_TEMPLATE.format(index)


def region_reference_edits(text: str, num_prompts: int, where: str = "text", image: str = "the image",
                           start: int = 0) -> list[tuple[int, int, str, str]]:
    """The rule of region references: every `<Region i>` / `<Mark i>` of `text` (from `start`) must name one of the
    image's `num_prompts` prompts (a ValueError naming it otherwise); returns the edits (`chat.apply_edits`) that
    rewrite the aliases to the region tag."""
    edits = []
    for match in REGION_REFERENCE.finditer(text, start):
        number = int(match.group(2))
        if not 1 <= number <= num_prompts:
            raise ValueError(
                f"{where} refers to {match.group(0)}, but {image} has {num_prompts} visual prompt(s): "
                f"valid references are <Region 1> ... <Region {num_prompts}>." if num_prompts else
                f"{where} refers to {match.group(0)}, but {image} has no visual prompt."
            )
        if match.group(0) != region_tag(number):
            edits.append((match.start(), match.end(), region_tag(number), "text"))
    return edits


def parse_region_answers(text: str) -> dict[int, str]:
    """`"<Region 1>: ship\\n<Region 2>: storage tank"` -> `{1: "ship", 2: "storage tank"}`.

    Lines that are not region answers are ignored; a repeated region keeps its first answer; a trailing period is
    removed.
    """
    regions: dict[int, str] = {}
    for line in re.split(r"[\n;]", text):
        starts = [tag.start() for tag in REGION_TAG.finditer(line)]  # one answer from each tag to the next
        for start, stop in zip(starts, starts[1:] + [len(line)]):
            match = REGION_ANSWER.match(line[start:stop].strip())
            if match and int(match.group(1)) not in regions:
                regions[int(match.group(1))] = match.group(2).strip().rstrip(".").strip()
    return regions


__all__ = ["REGION_TAG_TEMPLATE", "REGION_TAG_PATTERN", "REGION_TAG", "REGION_REFERENCE", "region_tag",
           "region_reference_edits", "parse_region_answers"]
