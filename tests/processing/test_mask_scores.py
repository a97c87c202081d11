"""Post-processing of several masks per answer (issue 16): scores, the region of each mask, `min_score`."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from earthgptx_hf import EarthGPTXConfig, EarthGPTXProcessor


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny"))


def _answer(processor, inputs, answer: str, scores: list[float]):
    """What `generate` returns for the answer `answer` (its [PIX] masks: the SAM view's left half)."""
    ids = processor.tokenizer(answer, add_special_tokens=False, return_tensors="pt")["input_ids"]
    logits = torch.full((len(scores), 16, 16), -5.0)
    logits[:, :, :8] = 5.0
    return SimpleNamespace(sequences=torch.cat([inputs["input_ids"], ids], dim=1), pred_masks=[logits],
                           pred_scores=[torch.tensor(scores)], input_index=torch.tensor([0]))


@pytest.fixture(scope="module")
def inputs(processor):
    boxes = [{"type": "box", "bbox": [0, 0, 10 + 5 * i, 10 + 5 * i]} for i in range(3)]
    return processor(images=np.zeros((50, 80, 3), np.uint8), text="Segment <Region 1>, <Region 2>, <Region 3>.",
                     visual_prompts=boxes, return_tensors="pt")


def test_each_mask_has_its_score_and_its_region(processor, inputs):
    out = _answer(processor, inputs, "<Region 1>: [PIX]\n<Region 3>: ship\n<Region 2>: [PIX]\n[PIX]",
                  [0.9, 0.25, 0.6])
    result = processor.post_process_generation(out, inputs, target_sizes=[(50, 80)])[0]
    assert len(result["masks"]) == 3 and all(m.shape == (50, 80) and m.dtype == bool for m in result["masks"])
    assert result["scores"] == pytest.approx([0.9, 0.25, 0.6]) and all(type(s) is float for s in result["scores"])
    assert result["mask_regions"] == [1, 2, None] and result["dropped_masks"] == 0
    assert result["regions"] == {1: "[PIX]", 3: "ship", 2: "[PIX]"}


def test_min_score_drops_masks_with_their_scores_and_regions_and_counts_them(processor, inputs):
    out = _answer(processor, inputs, "<Region 1>: [PIX]\n<Region 2>: [PIX]\n<Region 3>: [PIX]", [0.9, 0.25, 0.6])
    result = processor.post_process_generation(out, inputs, target_sizes=[(50, 80)], min_score=0.5)[0]
    assert result["scores"] == pytest.approx([0.9, 0.6]) and result["mask_regions"] == [1, 3]
    assert len(result["masks"]) == 2 and result["dropped_masks"] == 1
    kept = processor.post_process_generation(out, inputs, target_sizes=[(50, 80)], min_score=0.25)[0]
    assert kept["dropped_masks"] == 0  # a score equal to min_score stays
    none = processor.post_process_generation(out, inputs, target_sizes=[(50, 80)], min_score=1)[0]
    assert none["masks"] == [] and none["scores"] == [] and none["mask_regions"] == [] and none["dropped_masks"] == 3


@pytest.mark.parametrize("value", [1.1, -0.1, float("nan"), float("inf"), "0.5", True])
def test_min_score_must_be_a_finite_number_in_0_1(processor, inputs, value):
    out = _answer(processor, inputs, "<Region 1>: [PIX]", [0.5])
    with pytest.raises(ValueError, match=r"min_score=.* must be None or a finite number in \[0, 1\]"):
        processor.post_process_generation(out, inputs, target_sizes=[(50, 80)], min_score=value)


def test_masks_without_scores_are_refused(processor, inputs):
    out = _answer(processor, inputs, "<Region 1>: [PIX]", [0.5])
    out.pred_scores = None
    with pytest.raises(ValueError, match=r"pred_masks\[0\] holds 1 masks but outputs.pred_scores gives no scores"):
        processor.post_process_generation(out, inputs, target_sizes=[(50, 80)])


def test_the_region_of_a_mask_is_the_last_one_named_before_it_on_its_line(processor):
    assert processor.mask_regions("<Region 1>: [PIX]\n<Region 2>: ship\n<Region 3>: [PIX]") == [1, 3]
    assert processor.mask_regions("Sure. <Region 2>: [PIX] and [PIX]\n[PIX]") == [2, 2, None]
    assert processor.mask_regions("<Region 1> and <Region 2>: [PIX]") == [2]
    assert processor.mask_regions("no mask") == []


# --- issue 34: text-referring answers, "ship at the top left[PIX]" per instance -----------------------------------
def test_text_referring_masks_carry_their_class_and_box_and_are_dropped_together(processor):
    inputs = processor(images=np.zeros((50, 80, 3), np.uint8), text="Segment every ship.", visual_prompts=[],
                       return_tensors="pt")
    out = _answer(processor, inputs, "ship at the top left[PIX]\nstorage tank at the center[PIX]", [0.8, 0.3])
    result = processor.post_process_generation(out, inputs, target_sizes=[(50, 80)])[0]
    assert result["mask_labels"] == ["ship", "storage tank"] and result["mask_regions"] == [None, None]
    # the masks are the SAM view's left half: 40 of 80 columns, every row
    assert result["mask_boxes"] == [[0.0, 0.0, 40.0, 50.0]] * 2
    kept = processor.post_process_generation(out, inputs, target_sizes=[(50, 80)], min_score=0.5)[0]
    assert kept["mask_labels"] == ["ship"] and kept["mask_boxes"] == [[0.0, 0.0, 40.0, 50.0]]


@pytest.mark.parametrize("answer, labels", [
    ("ship at the top left[PIX]\nship at the bottom[PIX]", ["ship", "ship"]),
    ("storage tank[PIX]", ["storage tank"]),
    ("<Region 1>[PIX]\nSure, <Region 2>[PIX].", [None, None]),
    ("Here are the masks: <Region 1>[PIX]", [None]),
    ("ship at the top[PIX] ship at the left[PIX]", ["ship", "ship"]),  # two on one line: each reads its own words
    ("none", []),
])
def test_instance_labels_read_the_class_each_line_names(answer, labels):
    from earthgptx_hf.models.earthgptx.processing_earthgptx import instance_labels

    assert instance_labels(answer) == labels


def test_instance_answer_is_what_instance_labels_reads():
    from earthgptx_hf.models.earthgptx.processing_earthgptx import instance_answer, instance_labels

    lines = [instance_answer("storage tank", "top left"), instance_answer("ship", None)]
    assert lines == ["storage tank at the top left[PIX]", "ship[PIX]"]
    assert instance_labels("\n".join(lines)) == ["storage tank", "ship"]
