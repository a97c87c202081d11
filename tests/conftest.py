import os

# Nothing in the tests may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import json
import logging
from pathlib import Path

import pytest
from hypothesis import settings

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) draws the same examples on every run, so a landing is never refused by a draw
# that the change under test did not cause; local runs keep drawing new ones (how the float edge cases were found).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

RS_MINI = Path(os.environ.get("EARTHGPTX_RS_MINI", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "rs_mini"))


@pytest.fixture(scope="session")
def rs_mini() -> Path:
    """The real sample set `../shared/data/rs_mini` (read in place, never copied); the test is skipped without it."""
    if not (RS_MINI / "annotations" / "all.jsonl").is_file():
        pytest.skip(f"rs_mini sample data not found at {RS_MINI}")
    return RS_MINI.resolve()


@pytest.fixture(scope="session")
def rs_mini_records(rs_mini) -> dict[str, dict]:
    with open(rs_mini / "annotations" / "all.jsonl") as f:
        return {r["id"]: r for r in map(json.loads, f)}


class _DeprecationRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if "deprecated" in message.lower():
            self.messages.append(f"{record.name}: {message}")


@pytest.fixture(autouse=True)
def no_transformers_deprecation_logs(request):
    """transformers announces some deprecations through its logger rather than `warnings` (5.24's cache rename:
    "`past_key_values`/`cache_params` are deprecated"), so pyproject's `error::FutureWarning` cannot see them: a
    test during which transformers logs a deprecation fails. (`warning_once` logs once per process, so the first
    test that triggers it is the one that fails.) `@pytest.mark.transformers_internal_deprecation("text")` lets a
    test pass through a deprecation that transformers' own code logs (not our call), naming its text."""
    handler = _DeprecationRecords()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    allowed = request.node.get_closest_marker("transformers_internal_deprecation")
    if allowed is not None:  # a deprecation transformers logs about its own internal call, named by the marker
        handler.messages = [m for m in handler.messages if allowed.args[0] not in m]
    if handler.messages:
        pytest.fail("transformers logged a deprecation: " + " | ".join(handler.messages), pytrace=False)
