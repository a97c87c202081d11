"""M-RSVP records read back from a `.jsonl` file (`data_format="records"` of `earthgptx-train` and
`earthgptx-eval`), under the same rules as the converters: every image path resolves under its root, and what is not
kept is counted with its reason."""

from __future__ import annotations

from pathlib import Path

from .annotations import (
    AnnotationFormatError,
    ConversionReport,
    parse_json_line,
)

REQUIRED_KEYS = ("image", "prompts", "conversations")


MALFORMED_PROMPT = "malformed prompt"


def _check_record(record: dict, path: Path, where: str) -> None:
    """The structure every record needs (a malformed file is one error naming the line)."""
    if not isinstance(record["prompts"], list):
        raise AnnotationFormatError(path, where, f"'prompts' must be a list of prompt dicts, got "
                                                 f"{type(record['prompts']).__name__}.")
    turns = record["conversations"]
    if not isinstance(turns, list) or not turns or not all(
            isinstance(turn, dict) and isinstance(turn.get("from"), str) and isinstance(turn.get("value"), str)
            for turn in turns):
        raise AnnotationFormatError(path, where, "'conversations' must be a non-empty list of "
                                                 "{'from': str, 'value': str} turns.")
    for key in ("width", "height"):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise AnnotationFormatError(path, where, f"{key!r} must be a positive integer (the image size the "
                                                     f"prompts are given in), got {record.get(key, '<missing>')!r}.")


def _malformed_prompt(record: dict) -> bool:
    """Whether a prompt of the record is refused by the processor's rules (`validate_prompt`)."""
    from ..models.earthgptx.visual_prompts import validate_prompt

    for i, prompt in enumerate(record["prompts"]):
        try:
            validate_prompt(prompt, (record["height"], record["width"]), f"prompts[{i}]")
        except (ValueError, TypeError):
            return True
    return False


def read_records(path, root=None, allow_outside_root: bool = False) -> tuple[list[dict], ConversionReport]:
    """Records of an M-RSVP `.jsonl` file, with `image` resolved under `root` (default: the file's folder).

    A record whose image path escapes the root (`../`, an absolute path elsewhere, a symlink out) is dropped and
    counted under "path outside root", with its prompts; `allow_outside_root=True` keeps it. A record with a prompt
    that the processor would refuse is dropped and counted under "malformed prompt". A line that is not a JSON record
    with `image`, a `prompts` list, `conversations` turns and a positive `width` and `height` is one
    `AnnotationFormatError` naming the file and the line.

    Returns:
        `(records, ConversionReport)`; `report.records` counts the records kept.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    report = ConversionReport(source=f"records:{path.name}")
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            record = parse_json_line(line, path, f"line {number}")
            missing = [key for key in REQUIRED_KEYS if key not in record]
            if missing:
                raise AnnotationFormatError(path, f"line {number}", f"the record has no {missing}; M-RSVP records "
                                                                    f"need {list(REQUIRED_KEYS)}.")
            _check_record(record, path, f"line {number} (id {record.get('id')!r})")
            prompts = len(record["prompts"])
            try:
                image = report.path_under_root(root, record["image"], allow_outside_root, prompts)
            except ValueError as error:
                raise AnnotationFormatError(path, f"line {number} (id {record.get('id')!r})", f"image: {error}") \
                    from None
            if image is None:
                continue
            if _malformed_prompt(record):
                # the conversation refers to prompts by position (<Region i>): the record cannot lose one of them
                report.skip_image(MALFORMED_PROMPT, prompts)
                continue
            report.images += 1
            report.objects_read += prompts
            report.objects_kept += prompts
            records.append({**record, "image": str(image)})
    report.records = len(records)
    return records, report


__all__ = ["read_records"]
