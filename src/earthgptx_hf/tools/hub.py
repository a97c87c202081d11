"""Hub-ready checkpoints: one folder that loads anywhere with transformers alone.

    save_hub_ready("runs/demo/hub", model, processor, evaluation="runs/demo/eval/results.json",
                   training_data="procedural multi-source scenes (synthetic), 1,200 train images")
    push_hub_ready("me/earthgptx-demo", model, processor, ...)   # the same folder, through transformers' push_to_hub

The folder holds safetensors weights (sharded above `max_shard_size`), `config.json` with `auto_map` and
`custom_pipelines`, the generation config, the processor files (tokenizer, image processor, chat template), the remote
code of the model, the processor and the `visual-prompting` pipeline, and a model card (`README.md`) whose YAML
metadata the Hub reads. Where `earthgptx_hf` is not installed:

    AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)
    AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    pipeline(model=folder, trust_remote_code=True)      # the task comes from config.custom_pipelines
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers.dynamic_module_utils import custom_object_save
from transformers.utils import PushToHubMixin

from ..models.earthgptx.visual_prompting import TASK, VisualPromptingPipeline

CARD_TAGS = ["earthgpt-x", "remote-sensing", "earth-observation", "optical", "SAR", "infrared", "visual-prompting",
             "referring-segmentation", "multimodal", "custom_code"]
# results.json task names -> the card's task types (Hub vocabulary where one fits)
CARD_TASK_TYPES = {"classification": "image-text-to-text", "region_caption": "image-text-to-text",
                   "relation": "image-text-to-text", "caption": "image-to-text", "scene": "image-classification",
                   "grounding": "image-segmentation", "referring": "image-segmentation"}
CARD_METRICS = {"classification": ("SS", "S-IoU", "accuracy"), "region_caption": ("BLEU-4", "METEOR", "CIDEr"),
                "relation": ("BLEU-4", "CIDEr"), "caption": ("BLEU-4", "METEOR", "CIDEr"), "scene": ("accuracy",),
                "grounding": ("gIoU", "cIoU"), "referring": ("Acc@0.5", "mIoU", "oIoU", "instance_recall")}


def _plain_model(model):
    """A PEFT model's adapters merged into plain weights (a Hub checkpoint needs no adapter), in a copy: the caller's
    model keeps its adapters (the copy costs the model's memory once more while saving). Other models as given."""
    if hasattr(model, "merge_and_unload"):
        return copy.deepcopy(model).merge_and_unload()
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


def _usage_section(where: str) -> str:
    """The card's usage: the pipeline, then the processor and `generate()`, loading from `where`."""
    return f'''```python
from transformers import pipeline

pipe = pipeline("visual-prompting", model="{where}", trust_remote_code=True)
pipe("scene.png", boxes=[[40, 60, 120, 140]], task="classify")       # "<Region 1>: ship"
pipe("sar.tif", points=[[88, 42]], task="segment")                    # masks: bool arrays at the image size
pipe("scene.png", task="find", query="ship")                          # every ship: instances with mask, score, box
pipe("ir.png", text="What is the relationship between <Region 1> and <Region 2>?", boxes=[[...], [...]])
```

With the processor and `generate()`:

```python
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

image = Image.open("scene.png")
model = AutoModelForImageTextToText.from_pretrained("{where}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{where}", trust_remote_code=True)
messages = [{{"role": "user", "content": [
    {{"type": "image", "image": image, "visual_prompts": [{{"type": "box", "bbox": [40, 60, 120, 140]}}]}},
    {{"type": "text", "text": "Please identify the object category of each marked region in the image."}}]}}]
inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_tensors="pt")
outputs = model.generate(**inputs, max_new_tokens=64, return_dict_in_generate=True)
# text, regions, masks (at the image size: one (height, width) per image)
print(processor.post_process_generation(outputs, inputs, target_sizes=[(image.height, image.width)])[0])
```'''


def _architecture_section(model) -> str:
    """The card's architecture lines: the language model, the visual encoders, SAM and the parameter count."""
    config = model.config
    text_config = config.text_config
    parameters = sum(p.numel() for p in model.parameters())
    return (
        f"- language model: {text_config.model_type}, {text_config.num_hidden_layers} layers, width "
        f"{text_config.hidden_size}, vocabulary {text_config.vocab_size}\n"
        f"- mixed visual encoder: DINOv2 ({config.dino_config.hidden_size} wide) + ConvNeXt "
        f"({config.convnext_config.hidden_sizes[-1]} wide) on {config.num_views} views of {config.tile_size} px\n"
        f"- spatial-aware encoder (ViT, {config.spatial_config.hidden_size} wide) on the rasterised prompts, hybrid "
        f"fusion, up to {config.max_regions} regions\n"
        f"- pixel perception: SAM ({config.grounding_config.vision_config.image_size} px input)\n"
        f"- {parameters:,} parameters"
    )


def build_model_card(model, repo_id: str | None = None, *, license: str = "apache-2.0",
                     base_models: list[str] | None = None, training_data: str | None = None,
                     evaluation=None, evaluation_dataset: str = "unnamed", datasets: list[str] | None = None,
                     description: str | None = None) -> ModelCard:
    """The model card: YAML metadata (library, pipeline tag, tags, license, base models, datasets, results) and
    usage, architecture, training data, evaluation and limitations sections."""
    results = _load_results(evaluation)
    name = repo_id or "EarthGPT-X"
    data = ModelCardData(
        library_name="transformers", pipeline_tag="image-text-to-text", license=license, tags=list(CARD_TAGS),
        base_model=base_models or None, datasets=datasets or None, model_name=name,
        eval_results=_eval_results(results, evaluation_dataset) or None if results else None,
    )
    sections = [
        f"# {name}",
        description or "EarthGPT-X: a multimodal LLM for optical, SAR and infrared remote-sensing images, steered by "
        "visual prompts (points, boxes, free-form shapes) and text, answering at image, region and pixel level "
        "(a `[PIX]` token decoded into a mask by a SAM decoder).",
        "## Usage", _usage_section(repo_id or "path/to/this/folder"),
        "## Architecture",
        _architecture_section(model),
        "## Training data", training_data or "Not recorded.",
    ]
    if results:
        from ..evaluation.evaluate_model import results_markdown

        sections.append(results_markdown(results, f"Evaluation on {evaluation_dataset}", level=2))
    sections += ["## Limitations",
                 "The EarthGPT-X authors released no weights; this checkpoint was trained with the `earthgptx_hf` "
                 "implementation and is only as good as its training data and size say above."]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n")


def save_hub_ready(save_directory, model, processor, *, max_shard_size: str | int = "2GB", repo_id: str | None = None,
                   **card_kwargs) -> Path:
    """Writes a Hub-ready checkpoint to `save_directory` (see the module docstring); `card_kwargs` go to
    `build_model_card`. Returns the folder. Neither the model (a PEFT model is merged in a copy) nor its config (the
    pipeline entry goes into a copy) is changed."""
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    model = _plain_model(model)
    model.save_pretrained(folder, max_shard_size=max_shard_size)
    # `custom_pipelines` (what `pipeline(model=folder)` reads) goes into the saved config.json only; the copy is taken
    # after `save_pretrained`, so it holds what that wrote (auto_map, architectures, dtype)
    config = copy.deepcopy(model.config)
    config.custom_pipelines = {
        TASK: {"impl": f"{VisualPromptingPipeline.__module__.rsplit('.', 1)[-1]}.{VisualPromptingPipeline.__name__}",
               "pt": ["AutoModelForImageTextToText"], "type": "multimodal"}
    }
    config.save_pretrained(folder)
    custom_object_save(VisualPromptingPipeline, folder)
    processor.save_pretrained(folder)
    build_model_card(model, repo_id, **card_kwargs).save(folder / "README.md")
    return folder


class _HubReadyFolder(PushToHubMixin):
    """The Hub-ready folder for transformers' `PushToHubMixin.push_to_hub`, which creates the repository, calls
    `save_pretrained` into a temporary folder and uploads what it wrote in one commit."""

    def __init__(self, model, processor, repo_id: str, card_kwargs: dict):
        self.model, self.processor = _plain_model(model), processor
        self.repo_id, self.card_kwargs = repo_id, card_kwargs

    def save_pretrained(self, save_directory, max_shard_size: str | int = "2GB", **kwargs):
        return save_hub_ready(save_directory, self.model, self.processor, max_shard_size=max_shard_size,
                              repo_id=self.repo_id, **self.card_kwargs)

    def model_card(self) -> ModelCard:
        return build_model_card(self.model, self.repo_id, **self.card_kwargs)


def push_hub_ready(repo_id: str, model, processor, *, private: bool | None = None, token: str | None = None,
                   commit_message: str = "Upload EarthGPT-X checkpoint", max_shard_size: str | int = "2GB",
                   **card_kwargs):
    """Uploads the `save_hub_ready` folder with transformers' `push_to_hub` (which creates the repository if needed),
    then the model card with huggingface_hub's `ModelCard.push_to_hub`: transformers' upload writes the repository's
    existing card (or its template) as README.md, so ours follows in a second commit. `card_kwargs` go to
    `build_model_card`. Returns the `CommitInfo` of the folder's upload."""
    folder = _HubReadyFolder(model, processor, repo_id, card_kwargs)
    commit = folder.push_to_hub(repo_id, commit_message=commit_message, private=private, token=token,
                                max_shard_size=max_shard_size)
    folder.model_card().push_to_hub(repo_id, token=token, commit_message="Model card (EarthGPT-X)")
    return commit


__all__ = ["save_hub_ready", "push_hub_ready", "build_model_card", "CARD_TAGS"]
