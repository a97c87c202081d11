"""The inputs of `EarthGPTXProcessor.__call__`, checked and laid out one per text: texts, images (flat or nested per
text, as `ProcessorMixin.apply_chat_template` gives them), modalities, and the keyword arguments, which
`ProcessorMixin._merge_kwargs` routes once they are known to be the tokenizer's or the image processor's."""

import difflib
import re

from transformers.processing_utils import ImagesKwargs

from .image_processing_earthgptx import as_batch

MODALITIES = ("optical", "sar", "infrared")
URL = re.compile(r"^https?://", re.IGNORECASE)
# the flags of transformers' `ProcessingKwargs` (5.25; `text_kwargs` in 5.21) the processor honours
OUTPUT_FLAGS = ("return_text_replacement_offsets", "return_mm_token_type_ids")
INPUTS = ("images", "text", "visual_prompts", "modality")


def check_call_kwargs(kwargs: dict, kwargs_class, image_processor) -> None:
    """Refuses keyword arguments that neither the tokenizer (`kwargs_class`'s `text_kwargs`) nor the image processor
    (`images_kwargs`, its `valid_kwargs`) takes, flat or nested (`padding_sidee=`, `size=`, `num_frames=2`), with a
    suggestion, where `ProcessorMixin._merge_kwargs` would ignore them with a warning. Inputs and arguments of videos
    and audio given as None (as `ProcessorMixin.apply_chat_template` passes them) are taken out of `kwargs`."""
    annotations = kwargs_class.__annotations__
    text = set(annotations["text_kwargs"].__annotations__)
    images = set(annotations["images_kwargs"].__annotations__) | set(image_processor.valid_kwargs.__annotations__)
    other = {"videos", "audio", "videos_kwargs", "audio_kwargs", *annotations["videos_kwargs"].__annotations__,
             *annotations["audio_kwargs"].__annotations__} - text - set(ImagesKwargs.__annotations__)
    nested = {"text_kwargs": text, "images_kwargs": images, "common_kwargs": text | images}
    flat = text | images | set(nested) | set(OUTPUT_FLAGS)
    for name in [name for name in kwargs if name in other and kwargs[name] is None]:
        del kwargs[name]
    for name, value in kwargs.items():
        valid, where = (nested[name], f"{name}[{{!r}}]") if name in nested else (flat, "{!r}")
        for key in value if name in nested else [name]:
            if key in other:
                what = f"{key}=" if key in ("videos", "audio") else f"{where.format(key)} (videos or audio)"
                raise ValueError(f"{what} is not supported: EarthGPT-X takes images and text.")
            if key not in valid:
                close = difflib.get_close_matches(key, sorted(valid | set(INPUTS)), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"EarthGPTXProcessor got an unexpected keyword argument {where.format(key)}.{hint} "
                                f"Valid tokenizer arguments: {sorted(text)}; image processor arguments: "
                                f"{sorted(images)}.")


def batch_texts(text) -> list[str]:
    """`text` -> one string per sample."""
    if text is None:
        raise ValueError("text is required (e.g. the task instruction).")
    if not isinstance(text, (str, list, tuple)):
        raise TypeError(f"text[0] must be a string (or text a list of strings, one per image), got "
                        f"{type(text).__name__}.")
    return [text] if isinstance(text, str) else list(text)


def batch_images(images, count: int, visual_prompts, modality, fetch) -> list | None:
    """One image per text, flat or nested per text -> a flat list (URLs fetched with `fetch`), or None for a text-only
    call (`images=None`, or an empty list per text). The model pairs sequence i with image i (region features, `[PIX]`
    masks, follow-up turns), so a batch that mixes text-only and image samples is refused."""
    flat = []
    for i, item in enumerate([] if images is None else as_batch(images, "images")):
        if isinstance(item, (list, tuple)):
            if len(item) > 1:
                raise ValueError(f"images[{i}] holds {len(item)} images; EarthGPT-X takes one image per text.")
            item = item[0] if item else None
        flat.append(fetch(item) if isinstance(item, str) and URL.match(item) else item)
    without = [i for i, image in enumerate(flat) if image is None]
    if flat and len(flat) != count:
        raise ValueError(f"text has {count} entries but there are {len(flat)} images: give one text per image.")
    if flat and len(without) < len(flat):
        if without:
            raise ValueError(f"texts {without} have no image but the others have one: a batch is all text-only or "
                             "all with one image per text; process text-only samples in a batch of their own.")
        return flat
    if any(visual_prompts or []) or any(value is not None for value in as_batch(modality, "modality")):
        raise ValueError("visual_prompts and modality describe images, but this call has none (text only).")
    return None


def batch_modalities(modality, batch: int) -> list:
    """`modality` (one for all, or one per image) -> one per image, each None or one of `MODALITIES`."""
    values = [modality] * batch if modality is None or isinstance(modality, str) else list(modality)
    if len(values) != batch:
        raise ValueError(f"modality has {len(values)} entries but there are {batch} images.")
    for value in values:
        if value is not None and value not in MODALITIES:
            raise ValueError(f"modality={value!r} is not one of {list(MODALITIES)}.")
    return values


__all__ = ["MODALITIES", "OUTPUT_FLAGS", "check_call_kwargs", "batch_texts", "batch_images", "batch_modalities"]
