import numpy as np
import pytest
import torch
from PIL import Image

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.data import build_records, generate_scenes, records_to_dataset
from earthgptx_hf.models.earthgptx.perception import IGNORE_INDEX
from earthgptx_hf.training import EarthGPTXDataCollator


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
    # the SAM view's frame at its full size (the frame of sam_pixel_values); the model resizes its logits to it
    assert tuple(batch["gt_masks"].shape) == (1, 64, 64) and batch["sam_pixel_values"].shape[-2:] == (64, 64)
    assert batch["gt_masks"].sum() > 0


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
    # a referring answer's [PIX] without its target mask (issue 34: no prompts, one mask per target)
    referring = dict(grounding, prompts=[], masks=[], conversations=[
        {"from": "user", "value": "Segment every ship."}, {"from": "model", "value": "ship at the top[PIX]"}])
    with pytest.raises(ValueError, match=r"pix_targets names mask 1, but the record has 0 masks"):
        EarthGPTXDataCollator(processor)([dict(referring, pix_targets=[1])])
    EarthGPTXDataCollator(processor)([dict(referring, masks=grounding["masks"][:1], pix_targets=[1])])
    with pytest.raises(ValueError, match="more than max_length=10"):
        EarthGPTXDataCollator(processor, max_length=10)([grounding])
    bad = dict(grounding, conversations=[{"from": "robot", "value": "hi"}])
    with pytest.raises(ValueError, match="from 'robot'"):
        EarthGPTXDataCollator(processor)([bad])


def _old_layout(processor, record, num_tokens, modality=None):
    """The hand-made layout the collator used before it went through the chat template (the reference for the demo's
    training: the same ids must come out for the default template)."""
    tokenizer = processor.tokenizer
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    ids, labels = [tokenizer.bos_token_id], [IGNORE_INDEX]
    for number, turn in enumerate(record["conversations"]):
        if turn["from"] == "user":
            question = turn["value"]
            if number == 0:
                question = processor.expand_text(question, 0, num_tokens, len(record["prompts"]), modality)
            piece = encode(("\n" if number else "") + f"USER: {question}\nASSISTANT: ")
            labels += [IGNORE_INDEX] * len(piece)
        else:
            piece = encode(turn["value"]) + [tokenizer.eos_token_id]
            labels += piece
        ids += piece
    return ids, labels


@pytest.mark.parametrize("state_modality", [False, True])
def test_the_default_template_gives_the_ids_and_labels_of_the_old_layout(processor, tmp_path, state_modality):
    images, _ = generate_scenes(tmp_path, 3, size=64, seed=1)
    records = build_records(images, tasks=("classification", "grounding", "region_caption", "relation"), seed=1)
    multi = dict(records[0], conversations=records[0]["conversations"] + [
        {"from": "user", "value": "And <Region 1>?"}, {"from": "model", "value": "a ship"}])
    collator = EarthGPTXDataCollator(processor, state_modality=state_modality)
    for record in records + [multi]:
        batch = collator([record])
        modality = record.get("modality") if state_modality else None
        ids, labels = _old_layout(processor, record, 20, modality)
        assert batch["input_ids"][0].tolist() == ids, record["task"]
        assert batch["labels"][0].tolist() == labels, record["task"]


CUSTOM = ("{%- for m in messages -%}<|{{ m['role'] }}|>"
          "{%- if m['role'] == 'assistant' -%}{% generation %}{{ m['content'][0]['text'] }}{{ eos_token }}"
          "{% endgeneration %}"
          "{%- else -%}{%- for item in m['content'] -%}{{ '<image> ' if item['type'] == 'image' else item['text'] }}"
          "{%- endfor -%}{{ '\\n' }}{%- endif -%}{%- endfor -%}"
          "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}")


@pytest.mark.parametrize("template", [None, CUSTOM], ids=["default", "custom"])
def test_training_text_is_the_inference_text_plus_the_answer(records, template):
    """Point 9: the collator lays out the text with the processor's chat template; with a custom template too, the
    training sequence is the inference prompt (apply_chat_template + the processor) followed by the answer."""
    processor = EarthGPTXProcessor.from_preset("tiny")
    if template is not None:
        processor.chat_template = template
    record = next(r for r in records if r["task"] == "classification")
    batch = EarthGPTXDataCollator(processor)([record])
    question, answer = (turn["value"] for turn in record["conversations"])
    image = np.asarray(Image.open(record["image"]))
    conversation = [{"role": "user", "content": [{"type": "image", "image": image},
                                                 {"type": "text", "text": question}]}]
    prompt = processor.apply_chat_template(conversation, add_generation_prompt=True)
    inference = processor(images=image, text=prompt, visual_prompts=record["prompts"])["input_ids"][0]
    answer_ids = processor.tokenizer(answer, add_special_tokens=False)["input_ids"] + [processor.tokenizer.eos_token_id]
    assert batch["input_ids"][0].tolist() == inference + answer_ids
    assert batch["labels"][0].tolist() == [IGNORE_INDEX] * len(inference) + answer_ids
    text = processor.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=False)
    assert text == processor.tokenizer.decode(inference, skip_special_tokens=False) + answer + "</s>"
    if template is not None:
        assert text.startswith("<s><|user|><image>") and "\n<|assistant|>" + answer in text


def test_a_template_that_marks_no_assistant_turn_is_refused(records):
    processor = EarthGPTXProcessor.from_preset("tiny")
    processor.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'][-1]['text'] }}{% endfor %}"
    with pytest.raises(ValueError, match=r"marks no assistant turn with \{% generation %\}"):
        EarthGPTXDataCollator(processor)([records[0]])


def test_a_processor_saved_with_the_unmarked_default_template_trains_as_before(records, tmp_path):
    from earthgptx_hf.models.earthgptx.conversation import CHAT_TEMPLATE, LEGACY_CHAT_TEMPLATES

    processor = EarthGPTXProcessor.from_preset("tiny")
    processor.chat_template = LEGACY_CHAT_TEMPLATES[0]  # what a processor saved before this release holds
    processor.save_pretrained(tmp_path)
    assert LEGACY_CHAT_TEMPLATES[0] in (tmp_path / "chat_template.jinja").read_text()
    loaded = EarthGPTXProcessor.from_pretrained(tmp_path)
    assert loaded.chat_template == CHAT_TEMPLATE
    batch = EarthGPTXDataCollator(loaded)([records[0]])
    reference = EarthGPTXDataCollator(EarthGPTXProcessor.from_preset("tiny"))([records[0]])
    assert torch.equal(batch["input_ids"], reference["input_ids"]) and torch.equal(batch["labels"], reference["labels"])


def test_region_labels_are_the_first_token_of_each_class_in_the_answer(processor, records):
    classification = next(r for r in records if r["task"] == "classification" and len(r["prompts"]) >= 2)
    grounding = next(r for r in records if r["task"] == "grounding")
    assert "region_labels" not in EarthGPTXDataCollator(processor)([classification])  # off by default
    batch = EarthGPTXDataCollator(processor, region_labels=True)([classification, grounding])
    targets = batch["region_labels"]
    assert targets.shape == (2, processor.image_processor.max_regions)
    classes = processor.parse_regions(classification["conversations"][1]["value"])
    tokenizer = processor.tokenizer
    for index, label in classes.items():
        word = tokenizer(" " + label, add_special_tokens=False)["input_ids"][0]  # the shipped tokenizer's "Ġclass"
        assert targets[0, index - 1].item() == word
        # the token the answer continues with after "<Region i>:", in the labels the LM loss sees
        ids = batch["labels"][0].tolist()
        at = ids.index(processor.tokenizer.convert_tokens_to_ids(f"<Region {index}>"))
        assert ids[at + 2] == word
    assert (targets[0, len(classification["prompts"]):] == IGNORE_INDEX).all()
    assert (targets[1] == IGNORE_INDEX).all()  # grounding: no class to name


def test_region_labels_skip_regions_the_answer_does_not_name(processor, records):
    record = next(r for r in records if r["task"] == "classification" and len(r["prompts"]) >= 2)
    record = {**record, "conversations": [record["conversations"][0],
                                          {"from": "model", "value": "<Region 2>: ship"}]}
    targets = EarthGPTXDataCollator(processor, region_labels=True).region_label_ids(record)
    assert targets[0] == IGNORE_INDEX and targets[1] == processor.tokenizer(" ship", add_special_tokens=False)[
        "input_ids"][0]
    assert len(targets) == len(record["prompts"])
