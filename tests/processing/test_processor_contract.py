"""The processor's contract with the model (issue 12): one agreement check, model inputs only, post-processing with
explicit sizes, sequences mapped to their inputs through `input_index`."""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from earthgptx_hf import EarthGPTXConfig, EarthGPTXProcessor
from earthgptx_hf.conversion.tokenization import load_shipped_tokenizer


@pytest.fixture(scope="module")
def config():
    return EarthGPTXConfig.from_preset("tiny")


@pytest.fixture(scope="module")
def processor(config):
    return EarthGPTXProcessor.from_model_config(config)


def _set(path, value):
    def edit(config):
        *parents, name = path.split(".")
        target = config
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, name, value)
    return edit


# (field named in the error, how the model config is changed)
MISMATCHES = [
    ("image_token_id", _set("image_token_id", 3)),
    ("pix_token_id", _set("pix_token_id", 4)),
    ("region_feature_token_id", _set("region_feature_token_id", 5)),
    ("region_token_ids", _set("region_token_ids", [889, 890, 891, 892, 893, 894, 896, 895])),
    ("use_region_features", _set("use_region_features", False)),
    ("max_regions", _set("max_regions", 4)),
    ("tile_size", _set("tile_size", 56)),
    ("tile_grid", _set("tile_grid", [1, 2])),
    ("dino_config.patch_size", _set("dino_config.patch_size", 7)),
    ("grounding_image_size", _set("grounding_config.vision_config.image_size", 32)),
    ("text_config.vocab_size", _set("text_config.vocab_size", 890)),
    # the statistics the model normalises the processor's uint8 outputs with
    ("image_mean", _set("image_mean", [0.5, 0.5, 0.5])),
    ("image_std", _set("image_std", [0.5, 0.5, 0.5])),
    ("convnext_image_mean", _set("convnext_image_mean", [0.5, 0.5, 0.5])),
    ("convnext_image_std", _set("convnext_image_std", [0.5, 0.5, 0.5])),
    ("sam_image_mean", _set("sam_image_mean", [0.5, 0.5, 0.5])),
    ("sam_image_std", _set("sam_image_std", [0.5, 0.5, 0.5])),
]


@pytest.mark.parametrize("field, edit", MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_each_disagreement_with_the_model_config_is_named(processor, config, field, edit):
    processor.check_model_config(config)  # the config it was built for agrees
    changed = copy.deepcopy(config)
    edit(changed)
    with pytest.raises(ValueError, match=r"does not match the model config:\n- " + field.replace(".", r"\.") + ": "):
        processor.check_model_config(changed)


def test_every_disagreement_is_listed_in_one_error(processor, config):
    changed = copy.deepcopy(config)
    for _, edit in MISMATCHES:
        edit(changed)
    with pytest.raises(ValueError) as error:
        processor.check_model_config(changed)
    listed = [line[2:].split(":")[0] for line in str(error.value).splitlines() if line.startswith("- ")]
    assert sorted(listed) == sorted(field for field, _ in MISMATCHES)


def test_tile_grid_is_not_compared_when_the_grid_comes_from_pinpoints(config):
    processor = EarthGPTXProcessor.from_model_config(config, grid_pinpoints=[[1, 2], [2, 2]])
    changed = copy.deepcopy(config)
    changed.tile_grid = [1, 2]
    processor.check_model_config(changed)


def test_from_model_config_takes_the_config_pixel_statistics():
    config = EarthGPTXConfig.from_preset("tiny", image_mean=[0.5, 0.4, 0.3], sam_image_std=[0.2, 0.2, 0.2])
    images = EarthGPTXProcessor.from_model_config(config).image_processor
    assert images.image_mean == [0.5, 0.4, 0.3] and images.sam_image_std == [0.2, 0.2, 0.2]


def test_from_model_config_uses_the_same_check(config):
    """A tokenizer that already holds other tokens gives the special tokens other ids: refused by the one check."""
    tokenizer = load_shipped_tokenizer()
    tokenizer.add_tokens(["<extra>"])
    with pytest.raises(ValueError, match=r"- image_token_id: the config has 886, the tokenizer's id of '<image>' is "
                                         r"887"):
        EarthGPTXProcessor.from_model_config(config, tokenizer=tokenizer)


def test_the_processor_has_no_attributes_field_and_still_saves_and_loads(processor, tmp_path):
    """transformers 5 finds the sub-processors from `__init__`; the ignored `attributes` list is gone."""
    assert "attributes" not in EarthGPTXProcessor.__dict__
    assert EarthGPTXProcessor.get_attributes() == ["image_processor", "tokenizer"]
    processor.save_pretrained(tmp_path)
    loaded = EarthGPTXProcessor.from_pretrained(tmp_path)
    assert loaded.image_processor.to_dict() == processor.image_processor.to_dict()
    assert loaded.tokenizer.get_vocab() == processor.tokenizer.get_vocab()


def test_the_output_holds_model_inputs_only_with_packed_prompt_maps(processor, config):
    out = processor(images=np.zeros((50, 80, 3), np.uint8), text="<Region 1>?",
                    visual_prompts=[{"type": "box", "bbox": [0, 0, 40, 25]}], return_tensors="pt")
    # one uint8 copy of the views: the model derives each tower's normalisation (no convnext_pixel_values)
    assert set(out) == {"input_ids", "attention_mask", "pixel_values", "prompt_maps", "sam_pixel_values"}
    assert set(out) <= set(processor.model_input_names)
    assert out["pixel_values"].dtype == out["sam_pixel_values"].dtype == out["prompt_maps"].dtype == torch.uint8
    # one channel per prompt of the image (not max_regions), bits packed along rows
    assert tuple(out["prompt_maps"].shape[2:]) == (1, config.tile_size, -(-config.tile_size // 8))


def _generated(processor, inputs, pred_masks, input_index=None):
    """What `generate` returns: one `[PIX]` after each prompt, its masks, and the input row of each sequence."""
    rows = list(range(len(pred_masks))) if input_index is None else input_index
    sequences = torch.cat([inputs["input_ids"][rows], torch.full((len(rows), 1), processor.pix_token_id)], dim=1)
    return SimpleNamespace(sequences=sequences, pred_masks=pred_masks,
                           pred_scores=[torch.linspace(0.9, 0.1, len(m)) for m in pred_masks],
                           input_index=None if input_index is None else torch.tensor(input_index))


def _left_half(size=16, count=1):
    logits = torch.full((count, size, size), -5.0)
    logits[:, :, : size // 2] = 5.0
    return logits


def test_masks_need_target_sizes(processor):
    image = np.zeros((50, 80, 3), np.uint8)
    inputs = processor(images=image, text="Segment <Region 1>.", return_tensors="pt",
                       visual_prompts=[{"type": "box", "bbox": [0, 0, 40, 25]}])
    out = _generated(processor, inputs, [_left_half()])
    with pytest.raises(ValueError, match=r"outputs hold masks: pass target_sizes"):
        processor.post_process_generation(out, inputs)
    with pytest.raises(ValueError, match=r"target_sizes must hold one \(height, width\) per input image \(1\)"):
        processor.post_process_generation(out, inputs, target_sizes=[(50, 80), (50, 80)])
    # text alone needs no size
    assert processor.post_process_generation(_generated(processor, inputs, [_left_half(count=0)]), inputs)[0]["text"]
    mask = processor.post_process_generation(out, inputs, target_sizes=[image.shape[:2]])[0]["masks"][0]
    assert mask.shape == (50, 80) and mask.dtype == bool and mask[:, :38].all() and not mask[:, 42:].any()


def test_sequences_go_to_their_images_through_input_index(processor):
    """Two images of different sizes; three sequences, the first and last of the second image."""
    images = [np.zeros((50, 80, 3), np.uint8), np.zeros((90, 30, 3), np.uint8)]
    box = [{"type": "box", "bbox": [0, 0, 20, 20]}]
    inputs = processor(images=images, text=["<Region 1>", "<Region 1>"], visual_prompts=[box, box], return_tensors="pt")
    out = _generated(processor, inputs, [_left_half(), _left_half(), _left_half(count=2)], input_index=[1, 0, 1])
    results = processor.post_process_generation(out, inputs, target_sizes=[(50, 80), (90, 30)])
    assert [[m.shape for m in r["masks"]] for r in results] == [[(90, 30)], [(50, 80)], [(90, 30)] * 2]
    with pytest.raises(ValueError, match=r"outputs hold 3 sequences for 2 inputs but no input_index"):
        processor.post_process_generation(SimpleNamespace(sequences=out.sequences, pred_masks=out.pred_masks),
                                          inputs, target_sizes=[(50, 80), (90, 30)])
