"""The manifest of a many-scene run: what happened to every scene, kept in the output folder so that a rerun of the
same command resumes (`earthgptx-predict --scenes ...`).

`manifest.jsonl` is appended one JSON record per line, flushed and synced as it is written, so that a run killed at
any point leaves every finished scene recorded:
- `{"run": {...options...}, "time": ...}` first: the options that decide the outputs (model, task, prompts, ...). A
  rerun with other such options is refused (it would mix two runs' outputs in one folder) unless `--overwrite`,
  which starts the folder's manifest afresh.
- `{"scene": id, "state": "done", "output": path, "windows": n, "windows_run": n, "skipped_nodata": n, ...}`
- `{"scene": id, "state": "failed", "error": "..."}`: a corrupt file, a window that could not be read, ...
- `{"scene": id, "state": "skipped", "reason": "..."}`: e.g. no prompt of the shared prompts file overlaps it.

A scene's latest record is its state. On a rerun, done scenes (whose output is still there) and skipped ones are left
as they are; failed ones, and scenes without a record, are run.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

MANIFEST_NAME = "manifest.jsonl"
STATES = ("done", "failed", "skipped")
FINAL_STATES = ("done", "skipped")  # not run again on a rerun


class Manifest:
    """The manifest of the output folder `folder` (see the module docstring)."""

    def __init__(self, folder, options: dict, overwrite: bool = False):
        self.path = Path(folder) / MANIFEST_NAME
        self.options = options
        self.states: dict[str, dict] = {}
        if self.path.exists() and not overwrite:
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                os.replace(self.path, self.path.with_name(f"{MANIFEST_NAME}.{int(time.time())}.previous"))
            self._append({"run": options})

    def _load(self) -> None:
        run, lines = None, self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the last line cut by a kill: that scene is run again
                if number == len(lines):
                    continue
                raise ValueError(f"{self.path} line {number} is not JSON; the manifest is damaged (remove it, or "
                                 "pass --overwrite to start the folder afresh).") from None
            if "run" in record and run is None:
                run = record["run"]
            elif record.get("state") in STATES:
                self.states[record["scene"]] = record
        changed = sorted(k for k in set(run or {}) | set(self.options) if (run or {}).get(k) != self.options.get(k))
        if changed:
            raise ValueError(f"the output folder {str(self.path.parent)!r} holds a run with other options ({changed}: "
                             f"{ {k: (run or {}).get(k) for k in changed} } there, "
                             f"{ {k: self.options.get(k) for k in changed} } now); resuming would mix two runs. "
                             "Choose another --out-dir, or pass --overwrite to run every scene afresh.")

    def _append(self, record: dict) -> None:
        record = {**record, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def record(self, scene: str, state: str, **details) -> None:
        """Appends the scene's new `state` ("done", "failed" or "skipped") with its details."""
        if state not in STATES:
            raise ValueError(f"state={state!r} is not one of {list(STATES)}.")
        record = {"scene": scene, "state": state, **details}
        self._append(record)
        self.states[scene] = record

    def is_final(self, scene: str) -> bool:
        """Whether a rerun leaves `scene` as it is: skipped, or done with its output still in place."""
        record = self.states.get(scene)
        if record is None or record["state"] not in FINAL_STATES:
            return False
        return record["state"] == "skipped" or Path(record.get("output", "")).is_file()

    def counts(self, scenes) -> Counter:
        """Scenes per state among `scenes` ("pending" for those without a record)."""
        return Counter(self.states.get(s, {}).get("state", "pending") for s in scenes)


__all__ = ["Manifest", "MANIFEST_NAME", "STATES"]
