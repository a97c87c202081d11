"""The one owner of loading a checkpoint into `pipeline("visual-prompting")`, for every entry point that serves a
model (`earthgptx-app`, `earthgptx-predict` / `ScenePredictor.from_pretrained`), so that they load the same folder the
same way.

Without `trust_remote_code` the model and processor are this package's classes (`AutoModelForImageTextToText`,
`AutoProcessor`): a Hub-ready checkpoint (`save_hub_ready`) names its own copy of the pipeline code, which transformers
would refuse to run untrusted, yet its weights and configs are this package's. With `trust_remote_code=True` the
checkpoint's own saved code runs (a checkpoint of another version of the package, loaded without it).
"""

from __future__ import annotations


def load_visual_prompting(model, device=None, trust_remote_code: bool = False):
    """`pipeline("visual-prompting")` of `model` (a checkpoint folder or a Hub id) on `device` (None: the
    pipeline's default)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

    model = str(model)
    if trust_remote_code:
        return pipeline("visual-prompting", model=model, device=device, trust_remote_code=True)
    loaded = AutoModelForImageTextToText.from_pretrained(model)
    return pipeline("visual-prompting", model=loaded, processor=AutoProcessor.from_pretrained(model), device=device)


__all__ = ["load_visual_prompting"]
