"""`EarthGPTXTrainer`: the stock `transformers.Trainer`, whose checkpoints keep the weights' current module names.

`save_pretrained` writes transformers' default layout (`save_original_format=True`: nested towers under their legacy
names, e.g. ViT's `encoder.layer.N.attention.attention.key`), which `from_pretrained` maps back. The Trainer, however,
resumes a `checkpoint-N` folder by loading its raw state dict into the model (`Trainer._load_from_checkpoint`), with
no such mapping: legacy names there would leave those towers silently un-restored (docs/training.md, "Resume"). So the
checkpoints the Trainer writes use the current names; both layouts load with `from_pretrained`.
"""

from __future__ import annotations

import functools

from transformers import PreTrainedModel, Trainer


class EarthGPTXTrainer(Trainer):
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        model = self.accelerator.unwrap_model(self.model)
        if not isinstance(model, PreTrainedModel):  # PEFT adapters: saved by PEFT under their own names
            return super()._save(output_dir, state_dict)
        model.save_pretrained = functools.partial(type(model).save_pretrained, model, save_original_format=False)
        try:
            return super()._save(output_dir, state_dict)
        finally:
            del model.save_pretrained  # the instance attribute goes; the class's method is back


__all__ = ["EarthGPTXTrainer"]
