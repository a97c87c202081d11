import pytest
import torch

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.data import build_records, generate_scenes, records_to_dataset
from earthgptx_hf.training import IGNORE_INDEX, EarthGPTXDataCollator


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_preset("tiny")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    images, _ = generate_scenes(tmp_path_factory.mktemp("scenes"), 4, size=64, seed=0)
    return build_records(images, tasks=("classification", "grounding"), seed=0)


def test_labels_are_masked_everywhere_but_the_answers(processor, records):
    record = next(r for r in records if r["task"] == "classification")
    batch = EarthGPTXDataCollator(processor)([record])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    supervised = labels != IGNORE_INDEX
    answer = processor.tokenizer(record["conversations"][1]["value"], add_special_tokens=False)["input_ids"]
    assert labels[supervised].tolist() == answer + [processor.tokenizer.eos_token_id]
    assert torch.equal(ids[supervised], labels[supervised])
    first = int(supervised.nonzero()[0])
    prompt = processor.tokenizer.decode(ids[:first], skip_special_tokens=False)
    assert prompt.startswith("<s>USER: <image>") and prompt.endswith("\nASSISTANT: ")
    assert (ids[:first] == processor.image_token_id).sum() == 20  # the tiny preset's 5 views x 4 tokens
    assert "sam_pixel_values" not in batch and "gt_masks" not in batch  # no [PIX]: no SAM view made


def test_right_padding_and_pix_ground_truth(processor, records):
    grounding = next(r for r in records if r["task"] == "grounding")
    classification = next(r for r in records if r["task"] == "classification")
    batch = EarthGPTXDataCollator(processor)([classification, grounding])
    assert batch["attention_mask"][:, 0].all()
    padded = batch["attention_mask"] == 0
    assert (batch["labels"][padded] == IGNORE_INDEX).all()
    pix = processor.pix_token_id
    assert int((batch["labels"] == pix).sum()) == 1
    assert tuple(batch["gt_masks"].shape) == (1, 16, 16)  # tiny SAM view 64 -> decoder masks 16x16
    assert batch["gt_masks"].sum() > 0 and "sam_pixel_values" in batch


def test_works_on_dataset_rows_and_multi_turn(processor, records):
    dataset = records_to_dataset(records)
    batch = EarthGPTXDataCollator(processor)([dataset[0], dataset[1]])
    assert batch["input_ids"].shape[0] == 2
    multi = dict(records[0])
    multi["conversations"] = records[0]["conversations"] + [{"from": "user", "value": "And <Region 1>?"},
                                                            {"from": "model", "value": "A ship."}]
    batch = EarthGPTXDataCollator(processor)([multi])
    text = processor.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=False)
    assert "</s>\nUSER: And <Region 1>?\nASSISTANT: A ship.</s>" in text
    assert (batch["labels"][0] == processor.tokenizer.eos_token_id).sum() == 2


def test_inconsistent_records_are_refused(processor, records):
    grounding = dict(next(r for r in records if r["task"] == "grounding"))
    with pytest.raises(ValueError, match=r"hold 1 \[PIX\] tokens but pix_targets names 0"):
        EarthGPTXDataCollator(processor)([dict(grounding, pix_targets=[])])
    with pytest.raises(ValueError, match="which has no mask"):
        EarthGPTXDataCollator(processor)([dict(grounding, masks=[None])])
    with pytest.raises(ValueError, match="more than max_length=10"):
        EarthGPTXDataCollator(processor, max_length=10)([grounding])
    bad = dict(grounding, conversations=[{"from": "robot", "value": "hi"}])
    with pytest.raises(ValueError, match="from 'robot'"):
        EarthGPTXDataCollator(processor)([bad])
