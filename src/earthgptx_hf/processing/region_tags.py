"""The `<Region i>` tag: how the i-th visual prompt of an image (1-based) is written in questions, answers, the app and
plots, and how it is read back from generated text (region answers parsed, `[PIX]` masks paired, metrics). One owner,
so that what is written and what is read never disagree."""

from __future__ import annotations

import re

REGION_TAG_TEMPLATE = "<Region {}>"  # the processor's default `region_token_template`, one added token per region
# generated text is read leniently: a model may drop or double the space
REGION_TAG_PATTERN = r"<Region\s*(\d+)>"
REGION_TAG = re.compile(REGION_TAG_PATTERN)


def region_tag(index: int) -> str:
    """`region_tag(2)` -> `"<Region 2>"` (1-based, as the prompts are numbered)."""
    return REGION_TAG_TEMPLATE.format(index)


__all__ = ["REGION_TAG_TEMPLATE", "REGION_TAG_PATTERN", "REGION_TAG", "region_tag"]
