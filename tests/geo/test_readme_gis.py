"""The README section "Train on your own GIS data", run as written (issue 35): its YAML file and its three commands,
on two small scenes in different CRSs, labels in a third, and a new scene to predict on."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from .geo_training_inputs import planted_labels, write_scene

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Train on your own GIS data"


def section_blocks() -> tuple[str, list[list[str]]]:
    """The section's YAML block and its bash commands (continuation lines joined), as argument lists."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    yaml_block = re.search(r"```yaml\n(.*?)```", body, re.S).group(1)
    bash = re.search(r"```bash\n(.*?)```", body, re.S).group(1).replace("\\\n", " ")
    return yaml_block, [shlex.split(line) for line in bash.splitlines() if line.strip()]


def test_the_readme_gis_section_runs_as_written(tmp_path, monkeypatch):
    from earthgptx_hf.evaluation.evaluate_model import main as evaluate
    from earthgptx_hf.geo.cli import main as predict
    from earthgptx_hf.training.train import main as train

    (tmp_path / "scenes").mkdir()
    write_scene(tmp_path / "scenes" / "a.tif", "a")
    write_scene(tmp_path / "scenes" / "b.tif", "b")
    planted_labels(tmp_path / "labels.gpkg", crs="EPSG:3857")
    write_scene(tmp_path / "new_scene.tif", "c")
    planted_labels(tmp_path / "fields.gpkg", scenes=("c",))
    monkeypatch.chdir(tmp_path)
    yaml_block, commands = section_blocks()
    Path("gis_train.yaml").write_text(yaml_block)
    entry_points = {"earthgptx-train": train, "earthgptx-eval": evaluate, "earthgptx-predict": predict}
    assert [command[0] for command in commands] == list(entry_points)
    for command in commands:
        assert entry_points[command[0]](command[1:]) == 0, command
    history = json.loads(Path("runs/gis/log_history.json").read_text())
    assert any("eval_loss" in h for h in history) and any("eval_giou" in h for h in history)
    assert json.loads(Path("runs/gis/data_report.json").read_text())["validation_records"] > 0
    assert Path("runs/gis_eval/results.json").exists()
    assert len(json.loads(Path("answers.geojson").read_text())["features"]) == 1
