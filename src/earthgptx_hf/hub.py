"""Hub-ready checkpoints: one folder that loads anywhere with transformers alone.

    save_hub_ready("runs/demo/hub", model, processor, evaluation="runs/demo/eval/results.json",
                   training_data="procedural multi-source scenes (synthetic), 1,200 train images")
    push_hub_ready("me/earthgptx-demo", model, processor, ...)   # the same folder, uploaded

The folder holds safetensors weights (sharded above `max_shard_size`), `config.json` with `auto_map` and
`custom_pipelines`, the generation config, the processor files (tokenizer, image processor, chat template), the remote
code of the model, the processor and the `visual-prompting` pipeline, and a model card (`README.md`) whose YAML
metadata the Hub reads. Where `earthgptx_hf` is not installed:

    AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)
    AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    pipeline(model=folder, trust_remote_code=True)      # the task comes from config.custom_pipelines
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from transformers.dynamic_module_utils import custom_object_save

from .pipelines.visual_prompting import TASK, VisualPromptingPipeline

CARD_TAGS = ["earthgpt-x", "remote-sensing", "earth-observation", "optical", "SAR", "infrared", "visual-prompting",
             "referring-segmentation", "multimodal", "custom_code"]
# results.json task names -> the card's task types (Hub vocabulary where one fits)
CARD_TASK_TYPES = {"classification": "image-text-to-text", "region_caption": "image-text-to-text",
                   "relation": "image-text-to-text", "caption": "image-to-text", "scene": "image-classification",
                   "grounding": "image-segmentation"}
CARD_METRICS = {"classification": ("SS", "S-IoU", "accuracy"), "region_caption": ("BLEU-4", "METEOR", "CIDEr"),
                "relation": ("BLEU-4", "CIDEr"), "caption": ("BLEU-4", "METEOR", "CIDEr"), "scene": ("accuracy",),
                "grounding": ("gIoU", "cIoU")}


def _unwrap(model):
    """A PEFT-wrapped model is merged into plain weights (a Hub checkpoint needs no adapter)."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def _load_results(evaluation) -> dict | None:
    if evaluation is None:
        return None
    if isinstance(evaluation, (str, Path)):
        evaluation = json.loads(Path(evaluation).read_text())
    return evaluation.get("results", evaluation)


def _eval_results(results: dict, dataset_name: str) -> list[EvalResult]:
    entries = []
    for task, rows in results.items():
        for kind, figures in rows.items():
            for metric in CARD_METRICS.get(task, ()):
                if figures.get(metric) is None:
                    continue
                entries.append(EvalResult(
                    task_type=CARD_TASK_TYPES.get(task, "image-text-to-text"), dataset_type=dataset_name,
                    dataset_name=dataset_name, metric_type=metric, metric_name=f"{task} {metric} ({kind} prompts)",
                    metric_value=round(float(figures[metric]), 2),
                ))
    return entries


def build_model_card(model, repo_id: str | None = None, *, license: str = "apache-2.0",
                     base_models: list[str] | None = None, training_data: str | None = None,
                     evaluation=None, evaluation_dataset: str = "unnamed", datasets: list[str] | None = None,
                     description: str | None = None) -> ModelCard:
    """The model card: YAML metadata (library, pipeline tag, tags, license, base models, datasets, results) and
    usage, architecture, training data, evaluation and limitations sections."""
    config = model.config
    results = _load_results(evaluation)
    name = repo_id or "EarthGPT-X"
    data = ModelCardData(
        library_name="transformers", pipeline_tag="image-text-to-text", license=license, tags=list(CARD_TAGS),
        base_model=base_models or None, datasets=datasets or None, model_name=name,
        eval_results=_eval_results(results, evaluation_dataset) or None if results else None,
    )
    text_config = config.text_config
    parameters = sum(p.numel() for p in model.parameters())
    where = repo_id or "path/to/this/folder"
    usage = f'''```python
from transformers import pipeline

pipe = pipeline("visual-prompting", model="{where}", trust_remote_code=True)
pipe("scene.png", boxes=[[40, 60, 120, 140]], task="classify")       # "<Region 1>: ship"
pipe("sar.tif", points=[[88, 42]], task="segment")                    # masks: PIL "L" images at the image size
pipe("ir.png", text="What is the relationship between <Region 1> and <Region 2>?", boxes=[[...], [...]])
```

With the processor and `generate()`:

```python
from transformers import AutoModelForImageTextToText, AutoProcessor

model = AutoModelForImageTextToText.from_pretrained("{where}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{where}", trust_remote_code=True)
messages = [{{"role": "user", "content": [
    {{"type": "image", "image": "scene.png", "visual_prompts": [{{"type": "box", "bbox": [40, 60, 120, 140]}}]}},
    {{"type": "text", "text": "Please identify the object category of each marked region in the image."}}]}}]
inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_tensors="pt")
outputs = model.generate(**inputs, max_new_tokens=64, return_dict_in_generate=True)
print(processor.post_process_generation(outputs, inputs)[0])   # text, regions, masks
```'''
    sections = [
        f"# {name}",
        description or "EarthGPT-X: a multimodal LLM for optical, SAR and infrared remote-sensing images, steered by "
        "visual prompts (points, boxes, free-form shapes) and text, answering at image, region and pixel level "
        "(a `[PIX]` token decoded into a mask by a SAM decoder).",
        "## Usage", usage,
        "## Architecture",
        f"- language model: {text_config.model_type}, {text_config.num_hidden_layers} layers, width "
        f"{text_config.hidden_size}, vocabulary {text_config.vocab_size}\n"
        f"- mixed visual encoder: DINOv2 ({config.dino_config.hidden_size} wide) + ConvNeXt "
        f"({config.convnext_config.hidden_sizes[-1]} wide) on {config.num_views} views of {config.tile_size} px\n"
        f"- spatial-aware encoder (ViT, {config.spatial_config.hidden_size} wide) on the rasterised prompts, hybrid "
        f"fusion, up to {config.max_regions} regions\n"
        f"- pixel perception: SAM ({config.grounding_config.vision_config.image_size} px input)\n"
        f"- {parameters:,} parameters",
        "## Training data", training_data or "Not recorded.",
    ]
    if results:
        from .evaluation.evaluate_model import results_markdown

        sections.append(results_markdown(results, f"Evaluation on {evaluation_dataset}", level=2))
    sections += ["## Limitations",
                 "The EarthGPT-X authors released no weights; this checkpoint was trained with the `earthgptx_hf` "
                 "implementation and is only as good as its training data and size say above."]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n")


def save_hub_ready(save_directory, model, processor, *, max_shard_size: str | int = "2GB", repo_id: str | None = None,
                   **card_kwargs) -> Path:
    """Writes a Hub-ready checkpoint to `save_directory` (see the module docstring); `card_kwargs` go to
    `build_model_card`. Returns the folder."""
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    model = _unwrap(model)
    model.config.custom_pipelines = {
        TASK: {"impl": f"{VisualPromptingPipeline.__module__.rsplit('.', 1)[-1]}.{VisualPromptingPipeline.__name__}",
               "pt": ["AutoModelForImageTextToText"], "type": "multimodal"}
    }
    custom_object_save(VisualPromptingPipeline, folder)
    model.save_pretrained(folder, max_shard_size=max_shard_size)
    processor.save_pretrained(folder)
    build_model_card(model, repo_id, **card_kwargs).save(folder / "README.md")
    return folder


def push_hub_ready(repo_id: str, model, processor, *, private: bool | None = None, token: str | None = None,
                   commit_message: str = "Upload EarthGPT-X checkpoint", **save_kwargs):
    """`save_hub_ready` into a temporary folder, then creates the repository (if needed) and uploads the folder.
    Returns the `CommitInfo` of the upload."""
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        save_hub_ready(tmp, model, processor, repo_id=repo_id, **save_kwargs)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        return api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message, repo_type="model")


__all__ = ["save_hub_ready", "push_hub_ready", "build_model_card", "CARD_TAGS"]
