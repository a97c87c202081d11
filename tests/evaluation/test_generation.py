"""Generation for records: masks at each record's image size (passed as `target_sizes`), the model casting its own
inputs (a bfloat16 model, float32 inputs), and records without a size refused clearly."""

import pytest
import torch

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.data import build_records, generate_scenes
from earthgptx_hf.evaluation.generation import generate_for_records


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    config = EarthGPTXConfig.from_preset("tiny")
    model = EarthGPTXForConditionalGeneration(config).eval()
    processor = EarthGPTXProcessor.from_model_config(config)
    images, _ = generate_scenes(tmp_path_factory.mktemp("scenes"), 2, size=48, seed=0)
    records = build_records(images, tasks=("grounding",), prompt_type="box", seed=0)[:2]
    return model, processor, records


def test_masks_are_post_processed_to_the_records_image_sizes(setup, monkeypatch):
    model, processor, records = setup
    seen = []
    post_process = type(processor).post_process_generation

    def spy(self, outputs, inputs, **kwargs):
        seen.append(kwargs.get("target_sizes"))
        return post_process(self, outputs, inputs, **kwargs)

    monkeypatch.setattr(type(processor), "post_process_generation", spy)
    # a random tiny model never says [PIX] by itself: a stock generation bias makes it
    outputs = generate_for_records(model, processor, records, batch_size=2, max_new_tokens=1, progress=False,
                                   sequence_bias={(model.config.pix_token_id,): 50.0})
    sizes = [(r["height"], r["width"]) for r in records]
    assert seen == [sizes] and sizes == [(48, 48), (48, 48)]
    assert [o["masks"][0].shape for o in outputs] == sizes and all(len(o["masks"]) == 1 for o in outputs)


def test_a_bfloat16_model_takes_the_processors_float32_inputs(setup):
    model, processor, records = setup
    model16 = EarthGPTXForConditionalGeneration(model.config).to(torch.bfloat16).eval()
    outputs = generate_for_records(model16, processor, records[:1], max_new_tokens=2, progress=False)
    assert len(outputs) == 1 and isinstance(outputs[0]["text"], str)


def test_the_mask_size_is_the_records_own_image_size(setup):
    model, processor, records = setup
    import numpy as np

    wide = dict({k: v for k, v in records[0].items() if k not in ("height", "width")}, image=np.zeros((30, 70), np.uint8))
    outputs = generate_for_records(model, processor, [records[0], wide], max_new_tokens=1, progress=False,
                                   sequence_bias={(model.config.pix_token_id,): 50.0})
    assert [o["masks"][0].shape for o in outputs] == [(48, 48), (30, 70)]
    with pytest.raises(ValueError, match=r"records\[1\]\['image'\]"):
        generate_for_records(model, processor, [records[0], dict(wide, image=np.zeros((2, 3, 4, 5)))], progress=False)
