"""Pipelines: `pipeline("visual-prompting")` (registered with transformers when `earthgptx_hf` is imported)."""

from .visual_prompting import INSTRUCTIONS, TASK, TASK_SHORTCUTS, VisualPromptingPipeline, load_pipeline_image

__all__ = ["VisualPromptingPipeline", "TASK", "TASK_SHORTCUTS", "INSTRUCTIONS", "load_pipeline_image"]
