"""A training recipe: `earthgptx-train` configs run one after the other, each stage starting from an earlier one.

    python -m earthgptx_hf.training.recipe configs/recipe_stage1.yaml configs/recipe_stage2.yaml
    python -m earthgptx_hf.training.recipe configs/recipe_stage*.yaml --output_root runs/mine \
        --data_path my_data/annotations/train.jsonl

The shipped recipe (issue 17, docs/real_data_recipe.md) is exactly
`earthgptx-train configs/recipe_stage1.yaml && earthgptx-train configs/recipe_stage2.yaml`; this module runs it
from Python (the demo's `--data`) and moves it elsewhere without editing the files:

- `output_root`: each stage writes to `<output_root>/<name of its output_dir>`, and every path in a later stage that
  lies under an earlier stage's configured output_dir (stage 2's `model_name_or_path` and `scene_dir`) follows it;
- `real_data`: DataArguments fields (`data_format`, `data_path`, `image_dir`, `split`) that replace those of the
  stages on real data (every stage whose `data_format` is not `procedural`).

Every stage is checked before the first one trains: its fields (`train.check_config`: `learning_rate: abc` or
`per_device_train_batch_size: -3` are refused naming the file), its `output_dir` (under `output_root` it must stay
there: `runs/..` is refused), and where it starts from: a `model_name_or_path` that is neither an earlier stage's
output nor a checkpoint that exists now is refused before stage 1 runs, not found after it trained.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from transformers import HfArgumentParser, TrainingArguments

from .train import (
    ModelArguments,
    TrainDataArguments,
    check_config,
    read_config,
    settle_training_arguments,
    train,
    with_training_defaults,
)

logger = logging.getLogger(__name__)

REAL_DATA_FIELDS = ("data_format", "data_path", "image_dir", "split")


def _rebased(value: str, moved: dict[Path, Path]) -> str:
    path = Path(value)
    for old, new in moved.items():
        if path == old or old in path.parents:
            return str(new / path.relative_to(old))
    return value


def recipe_stages(paths, output_root=None, real_data: dict | None = None) -> list[dict]:
    """The configs of the stages at `paths` as mappings, moved under `output_root` and onto `real_data` (see the
    module docstring). A stage without `output_dir`, two stages writing to one place, or an unknown real-data field
    is refused."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("A recipe needs at least one stage config (a YAML or JSON file of earthgptx-train).")
    bad = sorted(set(real_data or {}) - set(REAL_DATA_FIELDS))
    if bad:
        raise ValueError(f"real_data={real_data!r}: {bad} cannot be replaced; valid fields: {list(REAL_DATA_FIELDS)}.")
    stages, moved, outputs = [check_config(read_config(p), p) for p in paths], {}, {}
    for path, values in zip(paths, stages):
        if not values.get("output_dir") or not isinstance(values["output_dir"], str):
            raise ValueError(f"{path} has no output_dir: each stage of a recipe must say where it writes (the next "
                             "stage starts from there).")
        output = Path(values["output_dir"])
        target = _moved_output(path, output, output_root)
        if target in outputs:
            raise ValueError(f"{path} and {outputs[target]} both write to {target}; give the stages distinct "
                             "output_dir names.")
        outputs[target] = path
        if output_root is not None:
            moved[output] = target
    for values in stages:
        for key, value in values.items():
            if isinstance(value, str):
                values[key] = _rebased(value, moved)
        if real_data and values.get("data_format", "procedural") != "procedural":
            values.update({k: v for k, v in real_data.items() if v is not None})
    return stages


def _moved_output(path, output: Path, output_root) -> Path:
    """Where a stage writes: `output_root/<name of output_dir>`, which must lie inside `output_root`."""
    if output_root is None:
        return output
    root = Path(output_root)
    target = root / output.name
    if output.name in ("", ".", "..") or not target.resolve().is_relative_to(root.resolve()) \
            or target.resolve() == root.resolve():
        raise ValueError(f"{path}: output_dir={str(output)!r} has no folder name to place under "
                         f"output_root={str(root)!r} (it would write to {str(target.resolve())!r}); give output_dir a "
                         "name such as runs/stage1.")
    return target


def check_starts(paths, stages: list[dict]) -> None:
    """Each stage's `model_name_or_path` is an earlier stage's `output_dir` or a checkpoint that loads now (its
    config); refused naming the stage otherwise, before any stage trains."""
    from ..models.earthgptx import EarthGPTXConfig

    earlier = []
    for path, values in zip(paths, stages):
        start = values.get("model_name_or_path")
        if start and not any(Path(start).resolve() == Path(o).resolve() for o in earlier):
            try:
                EarthGPTXConfig.from_pretrained(start)
            except (OSError, ValueError) as error:
                written = [str(o) for o in earlier] or "none"
                raise ValueError(f"{path}: model_name_or_path={start!r} is neither an earlier stage's output_dir "
                                 f"(earlier stages write {written}) nor a checkpoint that loads now ({error}).") \
                    from None
        earlier.append(values["output_dir"])


def parse_stage(values: dict):
    """`ModelArguments`, `TrainDataArguments` and `TrainingArguments` of one stage's mapping, as earthgptx-train
    parses its config file (the preset's training defaults for what the stage leaves unset)."""
    parser = HfArgumentParser((ModelArguments, TrainDataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_dict(with_training_defaults(values))
    return model_args, data_args, settle_training_arguments(training_args)


def run_recipe(paths, output_root=None, real_data: dict | None = None, callbacks=None) -> list:
    """Trains the stages at `paths` in order (see `recipe_stages`); returns each stage's Trainer. `callbacks` go to
    every stage's Trainer."""
    stages = recipe_stages(paths, output_root, real_data)
    parsed = [parse_stage(values) for values in stages]  # every stage's fields, before any stage trains
    check_starts(paths, stages)
    trainers = []
    for number, (path, (model_args, data_args, training_args)) in enumerate(zip(paths, parsed), 1):
        logger.info("recipe stage %d of %d (%s): %s -> %s", number, len(stages), path,
                    model_args.model_name_or_path or f"{model_args.preset} preset", training_args.output_dir)
        trainers.append(train(model_args, data_args, training_args, callbacks=list(callbacks or [])))
    return trainers


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stages", nargs="+", help="earthgptx-train config files, in the order they run")
    parser.add_argument("--output_root", help="write each stage to <output_root>/<its output_dir's name>")
    for name in REAL_DATA_FIELDS:
        parser.add_argument(f"--{name}", help=f"{name} of the stages on real data")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    run_recipe(args.stages, args.output_root, {name: getattr(args, name) for name in REAL_DATA_FIELDS})
    return 0


if __name__ == "__main__":
    sys.exit(main())
