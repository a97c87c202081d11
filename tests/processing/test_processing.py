import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor, AutoProcessor

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXImageProcessor, EarthGPTXProcessor
from earthgptx_hf.conversion.presets import SHIPPED_BASE_VOCAB_SIZE
from earthgptx_hf.conversion.tokenization import load_shipped_tokenizer

INSTRUCTION = "Please identify the object category of each marked region in the image."


def _prompts_of_every_type(height, width):
    mask = np.zeros((height, width), bool)
    mask[height // 2 : height // 2 + 10, width // 3 : width // 3 + 12] = True
    return [
        {"type": "box", "bbox": [10, 20, 60, 80]},
        {"type": "point", "point": [30, 31]},
        {"type": "polygon", "points": [[70, 10], [110, 20], [90, 60]]},
        {"type": "scribble", "points": [[5, 90], [50, 95], [100, 85]], "width": 4},
    ], [{"type": "circle", "center": [90, 80], "radius": 12}, {"type": "mask", "mask": mask}]


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_preset("tiny")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return EarthGPTXForConditionalGeneration(EarthGPTXConfig.from_preset("tiny")).eval()


@pytest.fixture(scope="module")
def batch_args():
    rng = np.random.default_rng(0)
    optical = rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)
    sar = rng.gamma(1.0, 200.0, (96, 140)).astype(np.float32)
    first, second = _prompts_of_every_type(100, 120)
    _, sar_prompts = _prompts_of_every_type(96, 140)
    return {
        "images": [optical, sar],
        "text": [INSTRUCTION, "<image>\nWhat is in <Mark 1>? Segment <Region 2>."],
        "visual_prompts": [first, sar_prompts],
        "modality": ["optical", "sar"],
    }


def test_shipped_tokenizer_matches_the_presets():
    assert len(load_shipped_tokenizer()) == SHIPPED_BASE_VOCAB_SIZE
    for name in ("tiny", "small"):
        processor = EarthGPTXProcessor.from_preset(name)
        config = EarthGPTXConfig.from_preset(name)
        assert len(processor.tokenizer) == config.text_config.vocab_size
        assert processor.tokenizer.convert_tokens_to_ids("[PIX]") == config.pix_token_id
        assert processor.image_processor.tile_size == config.tile_size


def test_paper_preset_needs_the_llama_tokenizer():
    with pytest.raises(ValueError, match="tokenizer='path/to/llama-2"):
        EarthGPTXProcessor.from_preset("paper")
    with pytest.raises(ValueError, match="name='big'"):
        EarthGPTXProcessor.from_preset("big")


def test_paper_preset_with_the_real_llama2_tokenizer(rs_mini):
    processor = EarthGPTXProcessor.from_preset("paper", tokenizer=rs_mini / "weights" / "llama2_tokenizer.model")
    config = EarthGPTXConfig.from_preset("paper")
    assert len(processor.tokenizer) == config.text_config.vocab_size == 32019
    out = processor(images=np.zeros((50, 60), np.uint8), text="<Region 1>?", visual_prompts=[{"type": "point", "point": [5, 5]}])
    assert out["input_ids"][0].count(config.image_token_id) == config.num_image_tokens == 1280
    assert out["input_ids"][0].count(config.region_feature_token_id) == 1


def test_text_expansion_and_region_preamble(processor, batch_args):
    out = processor(**batch_args, return_tensors="pt")
    config = EarthGPTXConfig.from_preset("tiny")
    ids = out["input_ids"]
    assert ((ids == config.image_token_id).sum(1) == config.num_image_tokens).all()
    assert (ids == config.region_feature_token_id).sum(1).tolist() == [4, 2]
    assert out["attention_mask"][:, -1].all()  # left padding
    text = processor.tokenizer.decode(ids[1], skip_special_tokens=False)
    assert "<Region 1><region_feat> <Region 2><region_feat> (modality: sar)" in text
    assert "What is in <Region 1>? Segment <Region 2>." in text  # <Mark i> is <Region i>
    assert text.count("<image>") == config.num_image_tokens
    right = processor(**batch_args, padding_side="right", return_tensors="pt")
    assert right["attention_mask"][:, 0].all()


def test_outputs_feed_forward_loss_and_generate(processor, model, batch_args):
    inputs = processor(**batch_args, return_tensors="pt")
    # the batch's largest prompt count (4) of channels, bits packed along rows; the model unpacks them
    assert tuple(inputs["prompt_maps"].shape) == (2, 5, 4, 28, 4) and inputs["prompt_maps"].dtype == torch.uint8
    assert not inputs["prompt_maps"][1, :, 2:].any()  # the second image's two prompts, then empty channels
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    out = model(**inputs, labels=labels)
    assert torch.isfinite(out.loss)
    gen = model.generate(**inputs, max_new_tokens=4, do_sample=False, return_dict_in_generate=True)
    sizes = [image.shape[:2] for image in batch_args["images"]]
    results = processor.post_process_generation(gen, inputs, target_sizes=sizes)
    assert len(results) == 2 and all(set(r) == {"text", "regions", "masks", "scores", "mask_regions",
                                                "mask_labels", "mask_boxes", "dropped_masks"} for r in results)


def test_same_tensors_after_save_and_auto_load(processor, batch_args, tmp_path):
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, EarthGPTXProcessor)
    assert isinstance(AutoImageProcessor.from_pretrained(tmp_path), EarthGPTXImageProcessor)
    a = processor(**batch_args, return_tensors="pt")
    b = loaded(**batch_args, return_tensors="pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_chat_template_with_images_and_prompts(processor):
    image = np.zeros((64, 64, 3), np.uint8)
    messages = [
        {"role": "user", "content": [
            {"type": "image", "image": image, "visual_prompts": [{"type": "box", "bbox": [1, 1, 20, 20]}]},
            {"type": "text", "text": "What is <Region 1>?"},
        ]},
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert text == "USER: <image>\nWhat is <Region 1>?\nASSISTANT: "
    with_answer = messages + [{"role": "assistant", "content": [{"type": "text", "text": "<Region 1>: ship"}]}]
    # the answer ends on the tokenizer's EOS: what training supervises and generation stops on
    assert processor.apply_chat_template(with_answer) == text + "<Region 1>: ship</s>"
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    direct = processor(images=image, text=text, visual_prompts=[{"type": "box", "bbox": [1, 1, 20, 20]}],
                       return_tensors="pt")
    assert torch.equal(inputs["input_ids"], direct["input_ids"])
    assert torch.equal(inputs["prompt_maps"], direct["prompt_maps"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<Region 1>: ship\n<Region 2>: storage tank", {1: "ship", 2: "storage tank"}),
        ("Sure.\n<Region 2>: harbor.\nnoise line\n<Region 1> : large vehicle", {2: "harbor", 1: "large vehicle"}),
        ("<Region 1>: ship <Region 2>: plane", {1: "ship", 2: "plane"}),
        ("<Region 1>: ship\n<Region 1>: plane", {1: "ship"}),
        ("no regions at all", {}),
    ],
)
def test_region_answers_are_parsed_robustly(text, expected):
    assert EarthGPTXProcessor.parse_regions(text) == expected


def test_post_process_maps_masks_back_to_the_original_size(processor):
    image = np.zeros((50, 80, 3), np.uint8)
    inputs = processor(images=image, text="Segment <Region 1>.", visual_prompts=[{"type": "box", "bbox": [0, 0, 40, 25]}],
                       return_tensors="pt")
    size = 16  # tiny SAM view 64 -> 16x16 low-res masks
    logits = torch.full((1, size, size), -5.0)
    logits[0, :, : size // 2] = 5.0  # left half of the SAM view
    pix = processor.tokenizer.convert_tokens_to_ids("[PIX]")
    sequences = torch.cat([inputs["input_ids"], torch.tensor([[pix]])], dim=1)

    class Output:
        pass

    out = Output()
    out.sequences, out.pred_masks, out.input_index = sequences, [logits], torch.tensor([0])
    out.pred_scores = [torch.tensor([0.5])]
    result = processor.post_process_generation(out, inputs, target_sizes=[image.shape[:2]])[0]
    assert result["text"] == "[PIX]" and len(result["masks"]) == 1
    mask = result["masks"][0]
    assert mask.shape == (50, 80) and mask.dtype == bool
    # the SAM view holds the 80-wide image in its full width: the left half of the view is the left half of the image
    assert mask[:, :38].all() and not mask[:, 42:].any()
