"""One-stage fusion training with the stock `transformers.Trainer`, and the `earthgptx-train` command.

    earthgptx-train config.yaml                  # or config.json, or command-line flags
    accelerate launch --multi_gpu --num_processes 2 -m earthgptx_hf.training.train config.yaml   # DDP (gloo on CPU)

The config file holds the fields of `ModelArguments`, `TrainDataArguments` and transformers' `TrainingArguments`; the
training fields it leaves unset take the model preset's defaults (`paper`: AdamW, weight decay 0.01, lr 2e-5). The
model returns its loss (1.0 CE + 2.0 BCE + 0.5 Dice); the CE, BCE and Dice parts are logged separately; the loss
curve is written to `<output_dir>/loss_curve.png` and the conversion counts to `<output_dir>/data_report.json`. The
training data is prepared as it streams into Arrow files under `<output_dir>/prepared`
(`data/training_dataset.py`), so that its memory does not grow with the record count.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
import yaml
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from ..data.annotated_images import DataArguments
from ..data.dataset import dataset_records
from ..data.training_dataset import prepare_training_dataset
from ..utils.extras import require
from ..models.earthgptx import EarthGPTXConfig, EarthGPTXForConditionalGeneration
from .activation_checkpointing import enable_activation_checkpointing
from ..conversion.presets import update_config_dict
from ..models.earthgptx.modeling_earthgptx import QUANTIZATION_SKIP_MODULES
from .trainable import LORA_MODULES_TO_SAVE, LORA_TARGET_MODULES, TRAINABLE_PRESETS
from ..models.earthgptx import EarthGPTXProcessor
from .callbacks import LossPartsCallback, plot_loss_curve
from .collator import EarthGPTXDataCollator
from .compose_config import check_compose_section, compose_model
from .trainer import EarthGPTXTrainer
from .validation import ValidationMetricsCallback, check_eval_strategy

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    preset: str = field(default="tiny", metadata={
        "help": "Model preset when no checkpoint is given; it also gives the training defaults (paper: lr 2e-5, "
                "weight decay 0.01) for the fields the config leaves unset.", "choices": ["paper", "small", "tiny"]})
    model_name_or_path: str | None = field(default=None, metadata={"help": "An EarthGPT-X checkpoint to start from."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer folder/file (needed by the paper preset)."})
    config_overrides: str | None = field(default=None, metadata={
        "help": "JSON of EarthGPTXConfig fields to override: of the preset (EarthGPTXConfig.from_preset), or of the "
                "checkpoint's config with model_name_or_path (e.g. '{\"region_label_loss_weight\": 0.5}')."})
    trainable: str = field(default="paper", metadata={
        "help": "Trainable preset (lora: the adapters are merged into the saved weights).",
        "choices": list(TRAINABLE_PRESETS)})
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    quantization: str | None = field(default=None, metadata={
        "help": "Load the language model in 4 or 8 bits with bitsandbytes (QLoRA: use with trainable=lora).",
        "choices": [None, "4bit", "8bit"]})
    compose: dict | str | None = field(default=None, metadata={
        "help": "Start from pretrained parts: a mapping (JSON on the command line) of language_model, dino, convnext "
                "and sam folders or Hub ids, with optional dtype and language_model_kwargs, composed at `preset` "
                "(training/compose_config.py)."})

    def __post_init__(self):
        self.compose = check_compose_section(self)


@dataclass
class TrainDataArguments(DataArguments):
    """`DataArguments` (the data source and how records are built) and what only training needs."""

    max_length: int | None = field(default=None, metadata={"help": "Truncate training sequences to this many tokens."})


# Training defaults by model preset, for the fields a config does not set. `paper`: the paper's one-stage recipe
# (AdamW, weight decay 0.01, learning rate 2e-5). `small` and `tiny` start from random weights and keep the paper's
# AdamW and weight decay, with the learning rate of our measured runs (docs/training.md). AdamW is transformers'
# default `optim` already (`adamw_torch_fused` on torch >= 2.8, `adamw_torch` before).
PRESET_TRAINING_DEFAULTS = {
    "paper": {"learning_rate": 2e-5, "weight_decay": 0.01},
    "small": {"learning_rate": 1e-3, "weight_decay": 0.01},
    "tiny": {"learning_rate": 1e-3, "weight_decay": 0.01},
}


def training_defaults(preset: str, model_name_or_path: str | None = None) -> dict:
    """The `TrainingArguments` defaults of a model preset (`PRESET_TRAINING_DEFAULTS`). Fine-tuning a saved checkpoint
    (`model_name_or_path`) takes the paper's recipe: its weights are trained already, whatever its size."""
    if model_name_or_path:
        preset = "paper"
    if preset not in PRESET_TRAINING_DEFAULTS:
        raise ValueError(f"preset={preset!r} has no training defaults; valid: {list(PRESET_TRAINING_DEFAULTS)}.")
    return dict(PRESET_TRAINING_DEFAULTS[preset])


def build_training_records(data_args: DataArguments, max_regions: int, workdir: Path, seed: int = 0,
                           validation: list | None = None):
    """`prepare_training_dataset`'s training records as a list, and its report (a dict): the data that
    `earthgptx-train` trains on, for callers that want the records in memory (small data: tests, a batch to look
    at). With `validation_split`, the held-out records are appended to `validation` (a list)."""
    dataset, held_out, report = prepare_training_dataset(data_args, max_regions, workdir, seed)
    if validation is not None and held_out is not None:
        validation.extend(dataset_records(held_out))
    return list(dataset_records(dataset)), report


def bands_for_model(data_args: DataArguments, config) -> DataArguments:
    """`data_args` with `input_bands` the model config's (the bands of each `geo` window: 3, or N for the band
    adapter); a YAML that sets another value is refused naming both."""
    bands = getattr(config, "input_bands", 3)
    if data_args.input_bands is not None and data_args.input_bands != bands:
        raise ValueError(f"input_bands={data_args.input_bands} in the data options, but the model config has "
                         f"input_bands={bands}: set it once, in config_overrides.")
    return dataclasses.replace(data_args, input_bands=bands)


def has_task(dataset, task: str) -> bool:
    """Whether any row of `dataset` (of `data.dataset.FEATURES`) is a `task` record, read from its task column a
    batch at a time."""
    return any(task in batch["task"] for batch in dataset.select_columns(["task"]).iter(batch_size=10_000))


def checkpoint_config(source: str, overrides: dict) -> EarthGPTXConfig:
    """The config saved in `source` with `overrides` (EarthGPTXConfig fields; a sub-config dict without model_type
    changes only the fields it names, `update_config_dict`) applied and checked as a new config is
    (`from_pretrained`'s own keyword overrides skip the checks and drop unknown names without a word)."""
    config = EarthGPTXConfig.from_pretrained(source)
    if not overrides:
        return config
    unknown = sorted(set(overrides) - set(EarthGPTXConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"config_overrides names unknown field(s) {unknown} for the checkpoint {source!r}; valid are "
                         "the fields of EarthGPTXConfig (see its docstring).")
    merged = config.to_dict()
    update_config_dict(merged, copy.deepcopy(overrides))  # a sub-config dict updates its fields, as in from_preset
    return EarthGPTXConfig.from_dict(merged)


def parse_config_overrides(text) -> dict:
    """`config_overrides` (JSON of EarthGPTXConfig fields) as a dict, or a ValueError naming it."""
    if not text:
        return {}
    if isinstance(text, dict):
        return text
    try:
        overrides = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"config_overrides={text!r} is not valid JSON ({error}); give a JSON object of "
                         "EarthGPTXConfig fields, e.g. '{\"region_label_loss_weight\": 0.5}'.") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"config_overrides={text!r} is a JSON {type(overrides).__name__}; give a JSON object of "
                         "EarthGPTXConfig fields.")
    return overrides


def build_model(model_args: ModelArguments, workdir: Path, gradient_checkpointing: bool = False):
    """The model (with its trainable preset applied; a `PeftModel` for `lora`) and its processor."""
    overrides = parse_config_overrides(model_args.config_overrides)
    if model_args.model_name_or_path:
        source = model_args.model_name_or_path
        config = checkpoint_config(source, overrides)
        processor = EarthGPTXProcessor.from_pretrained(source) if (Path(source) / "processor_config.json").exists() \
            else EarthGPTXProcessor.from_model_config(config, tokenizer=model_args.tokenizer)
    elif not model_args.compose:
        config = EarthGPTXConfig.from_preset(model_args.preset, **overrides)
        processor = EarthGPTXProcessor.from_model_config(config, tokenizer=model_args.tokenizer)
        source = None
    if model_args.compose:  # from pretrained parts, with the processor of their tokenizer (compose_config.py)
        model, processor = compose_model(model_args, overrides)
    elif model_args.quantization:
        require("bitsandbytes", extra="qlora", purpose=f"--quantization {model_args.quantization}")
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        if source is None:  # quantised loading goes through a checkpoint
            source = str(workdir / "initial_model")
            EarthGPTXForConditionalGeneration(config).save_pretrained(source)
        quantization = BitsAndBytesConfig(
            load_in_4bit=model_args.quantization == "4bit", load_in_8bit=model_args.quantization == "8bit",
            bnb_4bit_compute_dtype=torch.float32, bnb_4bit_quant_type="nf4",
            llm_int8_skip_modules=QUANTIZATION_SKIP_MODULES,
        )
        model = EarthGPTXForConditionalGeneration.from_pretrained(source, config=config,
                                                                  quantization_config=quantization)
        # checkpointing is turned on below, through the installed release's own name (PEFT would call the old one)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    elif source is not None:
        model = EarthGPTXForConditionalGeneration.from_pretrained(source, config=config)
    else:
        model = EarthGPTXForConditionalGeneration(config)
    if gradient_checkpointing:
        enable_activation_checkpointing(model, use_reentrant=False)
        model.enable_input_require_grads()
    lora_config = None
    if model_args.trainable == "lora":
        from peft import LoraConfig

        lora_config = LoraConfig(r=model_args.lora_r, lora_alpha=model_args.lora_alpha,
                                 lora_dropout=model_args.lora_dropout, target_modules=LORA_TARGET_MODULES,
                                 modules_to_save=list(LORA_MODULES_TO_SAVE))
    model = model.set_trainable(model_args.trainable, lora_config=lora_config)
    return model, processor


def train(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments,
          callbacks: list | None = None, model_and_processor=None) -> Trainer:
    """Builds data and model, trains with the stock Trainer, saves model, processor, loss curve and data report.

    `callbacks` are added to the Trainer's; `model_and_processor` replaces the model built from `model_args` (e.g. a
    model composed from pretrained parts). A PEFT model (`trainable="lora"`) has its adapters merged into its weights
    after training (in place: `trainer.model` is then the plain model), so that `output_dir` is a checkpoint that
    `from_pretrained` loads on its own; the adapters alone would name no base model (a preset has no checkpoint)."""
    output_dir = Path(training_args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(training_args.seed)
    if model_and_processor is None:
        model, processor = build_model(model_args, output_dir, training_args.gradient_checkpointing)
    else:
        model, processor = model_and_processor
    processor.check_model_config(model.config)  # a PeftModel hands `config` on from the model it wraps
    data_args = bands_for_model(data_args, model.config)
    with training_args.main_process_first(desc="building the training data"):  # one process writes scene files
        # on disk under <output_dir>/prepared, streamed: memory does not grow with the records (issue 36)
        dataset, validation, report = prepare_training_dataset(data_args, model.config.max_regions, output_dir,
                                                               training_args.seed)
    if data_args.input_bands != 3:  # N-band windows (GeoTIFFs) are read by the processor, not decoded by PIL
        dataset, validation = (None if d is None else d.cast_column("image", datasets.Image(decode=False))
                               for d in (dataset, validation))
    logger.info("training data: %s", report)
    check_eval_strategy(training_args, validation)
    if training_args.process_index == 0:
        (output_dir / "data_report.json").write_text(json.dumps(report, indent=2))
    if model.config.region_label_loss_weight and not has_task(dataset, "classification"):
        raise ValueError(f"region_label_loss_weight={model.config.region_label_loss_weight} but none of the "
                         f"{len(dataset)} training records is a classification record, the only ones with region "
                         "labels: add the classification task (tasks) or set the weight to 0.")
    collator = EarthGPTXDataCollator(processor, max_length=getattr(data_args, "max_length", None),
                                     region_labels=bool(model.config.region_label_loss_weight))
    if validation is not None:  # validation_split: the loss on the held-out records, task metrics by the callback
        training_args.prediction_loss_only = True
        if training_args.label_names is None:  # region_labels (the model's other label) is absent without its loss
            training_args.label_names = ["labels"]
        samples = getattr(data_args, "validation_metric_samples", 0)
        metrics = [ValidationMetricsCallback(processor, dataset_records(validation), samples)] if samples else []
        callbacks = [*(callbacks or []), *metrics]
    trainer = EarthGPTXTrainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator,
                               callbacks=callbacks, eval_dataset=validation)
    # first in line, so that the progress bar and the loggers see the parts it adds
    trainer.callback_handler.callbacks.insert(0, LossPartsCallback(model))
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    if hasattr(trainer.model, "merge_and_unload"):
        if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
            # sharded parameters cannot be merged where they lie: the Trainer saves the adapters
            logger.warning("trainable=lora under FSDP / DeepSpeed: %s holds the LoRA adapters, not a merged "
                           "checkpoint; merge them with peft's merge_and_unload on the base model.", output_dir)
        else:
            trainer.model = trainer.model.merge_and_unload()
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        processor.save_pretrained(str(output_dir))
        plot_loss_curve(trainer.state.log_history, output_dir / "loss_curve.png")
        (output_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=2))
    return trainer


def read_config(path) -> dict:
    """The mapping of argument names to values in a YAML or JSON config file."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        values = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:  # a python/... tag too: safe_load builds no object
        raise ValueError(f"{path} is not a valid {'JSON' if str(path).endswith('.json') else 'YAML'} file of "
                         f"arguments: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of argument names to values, not {type(values).__name__}.")
    return values


# fields whose values must be greater than 0, or at least 0 (TrainingArguments checks neither when a file is read)
POSITIVE_FIELDS = ("learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size",
                   "gradient_accumulation_steps", "num_train_epochs", "lora_r", "lora_alpha")
NON_NEGATIVE_FIELDS = ("weight_decay", "warmup_steps", "warmup_ratio", "lora_dropout", "max_grad_norm", "seed")


def _argument_types(parser: HfArgumentParser) -> dict:
    """{field name: (type, choices)} of the parser's options (what a command-line value would be converted with)."""
    return {action.dest: (action.type, action.choices) for action in parser._actions if action.dest != "help"}


def check_config(values: dict, source, parser: HfArgumentParser | None = None) -> dict:
    """A config mapping's values checked and converted as the command line would convert them (a YAML `2e-5` is a
    string to PyYAML: it becomes 2e-05), before anything is built or trained: numbers that are not numbers, values
    outside their range (`POSITIVE_FIELDS`, `NON_NEGATIVE_FIELDS`) and `config_overrides` that is not a JSON object
    are ValueErrors naming `source` (the file), the field, the value and what is valid."""
    parser = parser or HfArgumentParser((ModelArguments, TrainDataArguments, TrainingArguments))
    types, out = _argument_types(parser), dict(values)
    for name, value in values.items():
        kind, choices = types.get(name, (None, None))
        if value is None or kind not in (int, float):
            continue
        try:
            number = kind(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is None or (kind is int and isinstance(value, float) and not value.is_integer()) \
                or not math.isfinite(number):
            raise ValueError(f"{source}: {name}={value!r} is not {'a whole number' if kind is int else 'a number'}.")
        out[name] = number
    for name in POSITIVE_FIELDS + NON_NEGATIVE_FIELDS:
        if out.get(name) is not None and isinstance(out[name], (int, float)):
            low_ok = out[name] > 0 if name in POSITIVE_FIELDS else out[name] >= 0
            if not low_ok:
                bound = "greater than 0" if name in POSITIVE_FIELDS else "at least 0"
                raise ValueError(f"{source}: {name}={values[name]!r} must be {bound}.")
    try:
        overrides = parse_config_overrides(out.get("config_overrides"))
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    unknown = sorted(set(overrides) - set(EarthGPTXConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{source}: config_overrides names unknown field(s) {unknown}; valid are the fields of "
                         "EarthGPTXConfig (see its docstring).")
    return out


def with_training_defaults(values: dict) -> dict:
    """`values` (a config's mapping) over the training defaults of its model preset or checkpoint."""
    defaults = training_defaults(values.get("preset", ModelArguments.preset), values.get("model_name_or_path"))
    return {**defaults, **values}


def parse_arguments(argv: list[str] | None = None):
    """`ModelArguments`, `TrainDataArguments` and `TrainingArguments` from a YAML or JSON file or from flags. The
    training fields the input leaves unset take the model preset's defaults (`PRESET_TRAINING_DEFAULTS`)."""
    parser = HfArgumentParser((ModelArguments, TrainDataArguments, TrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml", ".json")):
        values = check_config(read_config(argv[0]), argv[0], parser)
        try:
            model_args, data_args, training_args = parser.parse_dict(with_training_defaults(values))
        except ValueError as error:  # unknown keys, or a value a field refuses: name the file
            raise ValueError(f"{argv[0]}: {error}") from None
    else:
        # the preset decides the defaults: read it first (without --help, which the full parser answers)
        preset_parser = HfArgumentParser(ModelArguments, add_help=False)
        given = preset_parser.parse_args_into_dataclasses(argv, return_remaining_strings=True)[0]
        parser.set_defaults(**training_defaults(given.preset, given.model_name_or_path))
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
        check_config({name: getattr(args, name) for args in (model_args, training_args)
                      for name in POSITIVE_FIELDS + NON_NEGATIVE_FIELDS + ("config_overrides",)
                      if hasattr(args, name)}, "the command line", parser)
    return model_args, data_args, settle_training_arguments(training_args)


def settle_training_arguments(training_args: TrainingArguments) -> TrainingArguments:
    """What every run of ours needs in `training_args`, whoever parsed them."""
    # The collator reads the dataset's own columns (image, prompts, ...), which are not forward() arguments.
    training_args.remove_unused_columns = False
    if training_args.ddp_find_unused_parameters is None:
        # frozen towers and heads a batch does not use (e.g. no [PIX] in it) leave parameters without gradients
        training_args.ddp_find_unused_parameters = True
    return training_args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    model_args, data_args, training_args = parse_arguments(argv)
    train(model_args, data_args, training_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
