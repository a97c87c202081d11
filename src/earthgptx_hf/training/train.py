"""One-stage fusion training with the stock `transformers.Trainer`, and the `earthgptx-train` command.

    earthgptx-train config.yaml                  # or config.json, or command-line flags
    accelerate launch --multi_gpu --num_processes 2 -m earthgptx_hf.training.train config.yaml   # DDP (gloo on CPU)

The config file holds the fields of `ModelArguments`, `DataArguments` and transformers' `TrainingArguments`. The
model returns its loss (1.0 CE + 2.0 BCE + 0.5 Dice); the CE, BCE and Dice parts are logged separately; the loss
curve is written to `<output_dir>/loss_curve.png` and the conversion counts to `<output_dir>/data_report.json`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from ..data.converters import CONVERTERS
from ..data.dataset import records_to_dataset
from ..data.procedural import generate_scenes
from ..data.records import read_records
from ..extras import require
from ..data.tasks import build_records
from ..modeling import EarthGPTXConfig, EarthGPTXForConditionalGeneration
from ..modeling.activation_checkpointing import enable_activation_checkpointing
from ..modeling.pretrained_earthgptx import QUANTIZATION_SKIP_MODULES
from ..modeling.trainable import LORA_MODULES_TO_SAVE, LORA_TARGET_MODULES, TRAINABLE_PRESETS
from ..processing import EarthGPTXProcessor
from .callbacks import LossPartsCallback, plot_loss_curve
from .collator import EarthGPTXDataCollator

logger = logging.getLogger(__name__)



@dataclass
class ModelArguments:
    preset: str = field(default="tiny", metadata={"help": "Model preset when no checkpoint is given.",
                                                  "choices": ["paper", "small", "tiny"]})
    model_name_or_path: str | None = field(default=None, metadata={"help": "An EarthGPT-X checkpoint to start from."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer folder/file (needed by the paper preset)."})
    config_overrides: str | None = field(default=None, metadata={"help": "JSON of EarthGPTXConfig.from_preset overrides."})
    trainable: str = field(default="paper", metadata={"help": "Trainable preset.", "choices": list(TRAINABLE_PRESETS)})
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    quantization: str | None = field(default=None, metadata={
        "help": "Load the language model in 4 or 8 bits with bitsandbytes (QLoRA: use with trainable=lora).",
        "choices": [None, "4bit", "8bit"]})


@dataclass
class DataArguments:
    data_format: str = field(default="procedural", metadata={
        "help": "procedural (synthetic scenes), records (M-RSVP .jsonl) or a converter name.",
        "choices": ["procedural", "records", *CONVERTERS]})
    data_path: str | None = field(default=None, metadata={"help": "The converter's input (file or folder)."})
    image_dir: str | None = None
    split: str | None = field(default="train", metadata={"help": "Split to read where the format has splits."})
    split_file: str | None = None
    modality: str = "optical"
    class_names: str | None = field(default=None, metadata={"help": "Comma-separated class names (YOLO)."})
    tasks: str = "classification,grounding"
    prompt_type: str = field(default="mixed", metadata={"choices": ["box", "point", "freeform", "mixed"]})
    num_scenes: int = 600
    scene_size: int = 128
    scene_objects: str = field(default="2,4", metadata={"help": "Objects per procedural scene: 'min,max'."})
    object_scale: float | None = field(default=None, metadata={
        "help": "Procedural object size factor (a ship is 16-26 px long at 1.0); default scene_size / 128."})
    scene_dir: str | None = field(default=None, metadata={"help": "Where procedural scenes are written "
                                                                  "(default <output_dir>/scenes)."})
    max_length: int | None = None
    allow_outside_root: bool = field(default=False, metadata={
        "help": "Follow image and label paths that resolve outside their dataset root (off: they are counted as "
                "skipped, 'path outside root')."})


def load_annotated_images(data_args: DataArguments, workdir: Path):
    """The annotated images and the conversion report for `data_args` (not for `records`)."""
    if data_args.data_format == "procedural":
        scene_dir = Path(data_args.scene_dir or workdir / "scenes")
        try:
            low, high = (int(v) for v in data_args.scene_objects.split(","))
        except ValueError:
            raise ValueError(f"scene_objects={data_args.scene_objects!r} must be 'min,max' (e.g. '2,4').") from None
        images, report = generate_scenes(scene_dir, data_args.num_scenes, size=data_args.scene_size, seed=0,
                                         num_objects=(low, high), object_scale=data_args.object_scale)
        return [im for im in images if data_args.split is None or im.split == data_args.split], report
    if data_args.data_path is None:
        raise ValueError(f"data_format={data_args.data_format!r} needs data_path.")
    converter = CONVERTERS[data_args.data_format]
    kwargs = {"allow_outside_root": data_args.allow_outside_root}
    if data_args.data_format == "rs_mini":
        kwargs["split"] = data_args.split
        if data_args.image_dir:
            kwargs["root"] = data_args.image_dir
        return converter(data_args.data_path, **kwargs)
    if data_args.data_format in ("coco", "yolo", "dota", "voc", "segmentation", "caption_json"):
        if data_args.image_dir is None:
            raise ValueError(f"data_format={data_args.data_format!r} needs image_dir.")
        kwargs["modality"] = data_args.modality
    if data_args.data_format == "yolo":
        if not data_args.class_names:
            raise ValueError("data_format='yolo' needs class_names (comma-separated).")
        return converter(data_args.data_path, data_args.image_dir, data_args.class_names.split(","), **kwargs)
    if data_args.data_format == "voc":
        return converter(data_args.data_path, data_args.image_dir, split_file=data_args.split_file, **kwargs)
    if data_args.data_format == "segmentation":
        names = dict(enumerate((data_args.class_names or "").split(",")))
        return converter(data_args.data_path, data_args.image_dir, names, **kwargs)
    if data_args.data_format == "scene_folders":
        return converter(data_args.data_path, modality=data_args.modality, **kwargs)
    return converter(data_args.data_path, data_args.image_dir, **kwargs)


def build_training_records(data_args: DataArguments, max_regions: int, workdir: Path, seed: int = 0):
    """M-RSVP records for training and the conversion report (a dict)."""
    if data_args.data_format == "records":
        if data_args.data_path is None:
            raise ValueError("data_format='records' needs data_path (an M-RSVP .jsonl file).")
        records, report = read_records(data_args.data_path, data_args.image_dir, data_args.allow_outside_root)
        logger.info("%s", report)
        return records, report.to_dict()
    images, report = load_annotated_images(data_args, workdir)
    tasks = [t.strip() for t in data_args.tasks.split(",") if t.strip()]
    records = build_records(images, tasks=tasks, prompt_type=data_args.prompt_type, max_regions=max_regions,
                            seed=seed, report=report)
    logger.info("%s", report)
    return records, report.to_dict()


def build_model(model_args: ModelArguments, workdir: Path, gradient_checkpointing: bool = False):
    """The model (with its trainable preset applied; a `PeftModel` for `lora`) and its processor."""
    overrides = json.loads(model_args.config_overrides) if model_args.config_overrides else {}
    if model_args.model_name_or_path:
        source = model_args.model_name_or_path
        config = EarthGPTXConfig.from_pretrained(source)
        processor = EarthGPTXProcessor.from_pretrained(source) if (Path(source) / "processor_config.json").exists() \
            else EarthGPTXProcessor.from_model_config(config, tokenizer=model_args.tokenizer)
    else:
        config = EarthGPTXConfig.from_preset(model_args.preset, **overrides)
        processor = EarthGPTXProcessor.from_model_config(config, tokenizer=model_args.tokenizer)
        source = None
    if model_args.quantization:
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
        model = EarthGPTXForConditionalGeneration.from_pretrained(source, quantization_config=quantization)
        # checkpointing is turned on below, through the installed release's own name (PEFT would call the old one)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    elif source is not None:
        model = EarthGPTXForConditionalGeneration.from_pretrained(source)
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
    model composed from pretrained parts)."""
    output_dir = Path(training_args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(training_args.seed)
    if model_and_processor is None:
        model, processor = build_model(model_args, output_dir, training_args.gradient_checkpointing)
    else:
        model, processor = model_and_processor
    base_config = model.config if hasattr(model, "config") else model.base_model.model.config
    with training_args.main_process_first(desc="building the training data"):  # one process writes scene files
        records, report = build_training_records(data_args, base_config.max_regions, output_dir, training_args.seed)
    if training_args.process_index == 0:
        (output_dir / "data_report.json").write_text(json.dumps(report, indent=2))
    dataset = records_to_dataset(records)
    collator = EarthGPTXDataCollator(processor, max_length=data_args.max_length)
    trainer = Trainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator,
                      callbacks=callbacks)
    # first in line, so that the progress bar and the loggers see the parts it adds
    trainer.callback_handler.callbacks.insert(0, LossPartsCallback(model))
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        processor.save_pretrained(str(output_dir))
        plot_loss_curve(trainer.state.log_history, output_dir / "loss_curve.png")
        (output_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=2))
    return trainer


def parse_arguments(argv: list[str] | None = None):
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        model_args, data_args, training_args = parser.parse_yaml_file(argv[0])
    elif len(argv) == 1 and argv[0].endswith(".json"):
        model_args, data_args, training_args = parser.parse_json_file(argv[0])
    else:
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
    # The collator reads the dataset's own columns (image, prompts, ...), which are not forward() arguments.
    training_args.remove_unused_columns = False
    if training_args.ddp_find_unused_parameters is None:
        # frozen towers and heads a batch does not use (e.g. no [PIX] in it) leave parameters without gradients
        training_args.ddp_find_unused_parameters = True
    return model_args, data_args, training_args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    model_args, data_args, training_args = parse_arguments(argv)
    train(model_args, data_args, training_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
