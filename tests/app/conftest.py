"""Fixtures of the app tests: a tiny random model in the visual-prompting pipeline, and a saved tiny checkpoint whose
generation config forces `[PIX]` (so that the untrained model returns masks)."""

import pytest
from transformers import pipeline

from earthgptx_hf import EarthGPTXProcessor
from tests.modeling.helpers import tiny_model
from tests.pipelines.conftest import pipe  # noqa: F401 (the pipeline tests' tiny pipeline, as a fixture here)


@pytest.fixture(scope="session")
def pix_checkpoint(tmp_path_factory):
    """A tiny checkpoint folder that answers `[PIX]` (a sequence bias in its generation config), one token long."""
    model = tiny_model()
    processor = EarthGPTXProcessor.from_model_config(model.config)
    pix = processor.tokenizer.convert_tokens_to_ids("[PIX]")
    model.generation_config.sequence_bias = [[[pix], 100.0]]
    model.generation_config.max_new_tokens = 1
    folder = tmp_path_factory.mktemp("pix_checkpoint")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pix_pipe(pix_checkpoint):
    return pipeline("visual-prompting", model=str(pix_checkpoint))
