"""`<Region i>` has one owner (models/earthgptx/conversation.py): what is written is what is read back."""

import inspect

import pytest

from earthgptx_hf.models.earthgptx.configuration_earthgptx import REGION_TOKEN_TEMPLATE
from earthgptx_hf.models.earthgptx import EarthGPTXProcessor
from earthgptx_hf.models.earthgptx.processing_earthgptx import mask_regions
from earthgptx_hf.models.earthgptx.conversation import REGION_TAG, REGION_TAG_TEMPLATE, region_tag


def test_every_written_tag_reads_back_as_its_index():
    for index in (1, 2, 9, 10, 123):
        assert [int(m.group(1)) for m in REGION_TAG.finditer(f"a {region_tag(index)}: b")] == [index]
    default = inspect.signature(EarthGPTXProcessor.__init__).parameters["region_token_template"].default
    assert default == REGION_TAG_TEMPLATE


def test_answers_and_masks_are_read_from_written_and_lenient_tags():
    text = f"{region_tag(1)}: ship. {region_tag(2)}: storage tank\n<Region3>:  car;<Region  4> : [PIX]"
    assert EarthGPTXProcessor.parse_regions(text) == {1: "ship", 2: "storage tank", 3: "car", 4: "[PIX]"}
    assert mask_regions(f"{region_tag(2)}[PIX]\n[PIX] <Region 7>: [PIX]") == [2, None, 7]


def test_a_region_template_the_reader_cannot_read_is_refused():
    assert REGION_TOKEN_TEMPLATE == REGION_TAG_TEMPLATE  # the tokenizer's region tokens are the tags that are read
    processor = EarthGPTXProcessor.from_preset("tiny")
    with pytest.raises(ValueError, match=r"region_token_template='<R\{\}>' is not supported.*<Region \{\}>"):
        EarthGPTXProcessor(processor.image_processor, processor.tokenizer, region_token_template="<R{}>")
    kept = EarthGPTXProcessor(processor.image_processor, processor.tokenizer, region_token_template="<Region {}>")
    assert kept.region_token_template == REGION_TAG_TEMPLATE
