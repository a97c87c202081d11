import os

# Nothing in the tests may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import json
from pathlib import Path

import pytest

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
