"""Fixtures of the pipeline tests: a tiny random model in the visual-prompting pipeline."""

import pytest
from transformers import pipeline

from earthgptx_hf import EarthGPTXProcessor
from tests.modeling.helpers import tiny_model


@pytest.fixture(scope="module")
def pipe():
    model = tiny_model()
    return pipeline("visual-prompting", model=model, processor=EarthGPTXProcessor.from_model_config(model.config))


@pytest.fixture(scope="module")
def pix_bias(pipe):
    """Generation kwargs that make the untrained model answer [PIX] (so that it returns masks)."""
    return {"sequence_bias": {(pipe.processor.tokenizer.convert_tokens_to_ids("[PIX]"),): 100.0}}
