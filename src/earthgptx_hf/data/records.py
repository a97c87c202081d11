"""M-RSVP records read back from a `.jsonl` file (`data_format="records"` of `earthgptx-train` and
`earthgptx-eval`), under the same rules as the converters: every image path resolves under its root, and what is not
kept is counted with its reason."""

from __future__ import annotations

from pathlib import Path

from .annotations import (
    PATH_OUTSIDE_ROOT,
    AnnotationFormatError,
    ConversionReport,
    parse_json_line,
    resolve_under_root,
)

REQUIRED_KEYS = ("image", "prompts", "conversations")


def read_records(path, root=None, allow_outside_root: bool = False) -> tuple[list[dict], ConversionReport]:
    """Records of an M-RSVP `.jsonl` file, with `image` resolved under `root` (default: the file's folder).

    A record whose image path escapes the root (`../`, an absolute path elsewhere, a symlink out) is dropped and
    counted under "path outside root", with its prompts; `allow_outside_root=True` keeps it. A line that is not a JSON
    record with `image`, `prompts` and `conversations` is one `AnnotationFormatError` naming the file and the line.

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
            prompts = len(record["prompts"]) if isinstance(record["prompts"], list) else 0
            try:
                image = resolve_under_root(root, record["image"], allow_outside_root)
            except ValueError as error:
                raise AnnotationFormatError(path, f"line {number} (id {record.get('id')!r})", f"image: {error}") \
                    from None
            if image is None:
                report.skip_image(PATH_OUTSIDE_ROOT, prompts)
                continue
            report.images += 1
            report.objects_read += prompts
            report.objects_kept += prompts
            records.append({**record, "image": str(image)})
    report.records = len(records)
    return records, report


__all__ = ["read_records"]
