"""A table-driven suite of hostile and malformed inputs.

Each `tests/hostile/test_*.py` holds a `CASES` table of `Hostile` rows and one parametrised test over it. A reviewer
adds a probe with one line:

    Hostile("coco bbox with 3 numbers", lambda tmp: read_coco(...), counted="malformed bbox"),

A row says what an entry point must do with the input: raise a clear error (`raises` + `match`, a regex that names the
argument or file and what is valid), or accept it and pass `check` (e.g. a skip counted with its reason). Every row
runs under a hang guard (`seconds`): nothing hostile may hang.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Hostile:
    name: str
    call: Callable[[Path], object]  # builds the input under the test's tmp_path and runs the entry point
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None
    match: str | None = None  # regex the error message must match
    check: Callable[[object], None] | None = None  # for accepted inputs: assertions on what `call` returned
    seconds: int = 30  # hang guard, not a performance bound

    def __post_init__(self):
        if (self.raises is None) == (self.check is None):
            raise ValueError(f"Hostile({self.name!r}) needs exactly one of raises= or check=.")


class _Hang(Exception):
    pass


def run_case(case: Hostile, tmp_path: Path):
    def alarm(signum, frame):
        raise _Hang(f"{case.name}: still running after {case.seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(case.seconds)
    try:
        if case.raises is not None:
            with pytest.raises(case.raises, match=case.match):
                case.call(tmp_path)
        else:
            case.check(case.call(tmp_path))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def parametrize(cases: list[Hostile]):
    """`@parametrize(CASES)` over a table, with the rows' names as test ids."""
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"hostile cases must have unique names: {sorted(duplicates)}")
    return pytest.mark.parametrize("case", cases, ids=names)


__all__ = ["Hostile", "run_case", "parametrize"]
