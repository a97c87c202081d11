"""`EarthGPTXProcessor` speaks transformers' processor API (issue 30, item 4): typed kwargs routed to the tokenizer and
the image processor, flat or nested; text-only calls; message objects in `apply_chat_template`; a signature without
the inputs it refuses; and our stricter checks kept. Each test failed before its fix."""

import dataclasses
import inspect

import numpy as np
import pytest
import torch
from transformers.processing_utils import ProcessingKwargs, ProcessorMixin

from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.models.earthgptx import processing_earthgptx

IMAGE = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
TEXT = "What is in <Region 1>?"
BOX = [{"type": "box", "bbox": [2, 2, 30, 20]}]


@pytest.fixture(scope="module")
def processor():
    return EarthGPTXProcessor.from_preset("tiny")


def _call(processor, **kwargs):
    return processor(images=IMAGE, text=TEXT, visual_prompts=BOX, **kwargs)


# --- kwargs: typed, routed by transformers' `_merge_kwargs`, flat or nested ------------------------------------------
def test_a_flat_image_kwarg_reaches_the_image_processor(processor):
    plain = _call(processor, return_tensors="np")
    rescaled = _call(processor, do_rescale=True, return_tensors="np")
    assert plain["pixel_values"].dtype == np.uint8  # the default: the model rescales and normalises
    assert rescaled["pixel_values"].dtype == np.float32
    np.testing.assert_allclose(rescaled["pixel_values"], plain["pixel_values"] / 255.0, rtol=1e-6)
    normalised = _call(processor, do_rescale=True, do_normalize=True, return_tensors="np")
    mean = np.asarray(processor.image_processor.image_mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(processor.image_processor.image_std, np.float32).reshape(-1, 1, 1)
    np.testing.assert_allclose(normalised["pixel_values"], (plain["pixel_values"] / 255.0 - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(rescaled["input_ids"], plain["input_ids"])


def test_images_kwargs_text_kwargs_and_common_kwargs(processor):
    out = _call(processor, images_kwargs={"do_sam_view": False}, text_kwargs={"padding": "max_length",
                                                                                "max_length": 64},
                common_kwargs={"return_tensors": "pt"})
    assert "sam_pixel_values" not in out
    assert isinstance(out["input_ids"], torch.Tensor) and out["input_ids"].shape[-1] == 64
    assert isinstance(out["pixel_values"], torch.Tensor)
    assert out["attention_mask"][0, 0] == 0  # padded on the left, the default


def test_a_kwarg_given_flat_and_nested_is_refused(processor):
    with pytest.raises(ValueError, match="padding was passed two times"):
        _call(processor, padding="longest", text_kwargs={"padding": "max_length"})


def test_padding_padding_side_and_return_tensors_are_kwargs_with_their_defaults_in_the_kwargs_class(processor):
    parameters = inspect.signature(EarthGPTXProcessor.__call__).parameters
    assert not {"padding", "padding_side", "return_tensors"} & set(parameters)
    assert all(p.default is None for p in parameters.values() if p.default is not inspect.Parameter.empty)
    assert parameters["kwargs"].annotation is not inspect.Parameter.empty  # **kwargs: Unpack[EarthGPTXProcessorKwargs]
    assert EarthGPTXProcessor.valid_processor_kwargs is processing_earthgptx.EarthGPTXProcessorKwargs
    # `_defaults` is transformers' (underscored) place for processor defaults, read by `_merge_kwargs` in 5.21 and
    # 5.25: if a release stops reading it, the left-padding check below fails
    kwargs_class = processing_earthgptx.EarthGPTXProcessorKwargs
    assert kwargs_class._defaults == {"text_kwargs": {"padding": True, "padding_side": "left"}}
    batch = processor(images=[IMAGE, IMAGE], text=["Describe the image.", TEXT], visual_prompts=[[], BOX],
                      return_tensors="pt")
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][1, 0] == 1
    right = processor(images=[IMAGE, IMAGE], text=["Describe the image.", TEXT], visual_prompts=[[], BOX],
                      padding_side="right", return_tensors="pt")
    assert right["attention_mask"][0, -1] == 0


def test_the_kwargs_are_merged_by_transformers_merge_kwargs(processor):
    """`ProcessorMixin._merge_kwargs` is transformers' private (underscored) routing, used as LlavaProcessor uses it:
    named here so that a release without it fails loudly."""
    assert callable(getattr(ProcessorMixin, "_merge_kwargs", None))
    assert issubclass(processing_earthgptx.EarthGPTXProcessorKwargs, dict)
    assert "images_kwargs" in ProcessingKwargs.__annotations__
    calls = []
    merge = ProcessorMixin._merge_kwargs

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return merge(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ProcessorMixin, "_merge_kwargs", spy)
        _call(processor, do_sam_view=False)
    assert calls and calls[0]["do_sam_view"] is False


def test_return_mm_token_type_ids_marks_the_image_tokens(processor):
    out = _call(processor, return_mm_token_type_ids=True, return_tensors="pt")
    types = torch.as_tensor(out["mm_token_type_ids"])
    assert torch.equal(types == 1, out["input_ids"] == processor.image_token_id)


def test_the_image_processor_keeps_the_flags_it_was_built_with(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    loaded = EarthGPTXProcessor.from_pretrained(tmp_path, do_rescale=True, rescale_factor=-1.0)
    assert loaded.image_processor.do_rescale and loaded.image_processor.rescale_factor == -1.0
    out = loaded(images=IMAGE, text=TEXT, visual_prompts=BOX, return_tensors="pt")
    assert out["pixel_values"].dtype == torch.float32 and out["pixel_values"].max() <= 0


# --- text-only calls ------------------------------------------------------------------------------------------------
def test_a_text_only_call_tokenises_the_text(processor):
    out = processor(text="Is a harbour a port?", return_tensors="pt")
    assert set(out) == {"input_ids", "attention_mask"}
    assert out["input_ids"].tolist() == processor.tokenizer(["Is a harbour a port?"], return_tensors="pt")[
        "input_ids"].tolist()
    batch = processor(images=[[], []], text=["a", "a longer question"], return_tensors="pt")  # nested, no image each
    assert batch["attention_mask"][0, 0] == 0 and "pixel_values" not in batch


def test_a_text_only_call_refuses_what_needs_an_image(processor):
    with pytest.raises(ValueError, match=r"text\[0\] holds '<image>' but no images were given"):
        processor(text="<image> What is it?")
    with pytest.raises(ValueError, match=r"refers to <Region 1>, but a text-only call \(no images\) has no visual"):
        processor(text="What is <Region 1>?")
    with pytest.raises(ValueError, match="visual_prompts and modality describe images"):
        processor(text="What is it?", visual_prompts=[BOX])
    with pytest.raises(ValueError, match=r"texts \[1\] have no image but the others have one"):
        processor(images=[[IMAGE], []], text=["Describe it.", "What is a port?"])
    with pytest.raises(ValueError, match="text is required"):
        processor(images=IMAGE)


def test_a_text_only_conversation_goes_through_apply_chat_template(processor):
    conversation = [{"role": "user", "content": [{"type": "text", "text": "What is a harbour?"}]}]
    out = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=True,
                                        return_tensors="pt")
    rendered = processor.apply_chat_template(conversation, add_generation_prompt=True)
    assert out["input_ids"].tolist() == processor.tokenizer([rendered], return_tensors="pt")["input_ids"].tolist()
    assert "pixel_values" not in out


# --- message objects ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Message:
    role: str
    content: list
    tool_calls: list | None = None


class PydanticLike:
    """What `model_dump()` gives for a pydantic message (the OpenAI SDK's)."""

    def __init__(self, **fields):
        self.fields = fields

    def model_dump(self):
        return dict(self.fields)


def test_message_objects_are_taken_like_the_equivalent_dicts(processor):
    image = {"type": "image", "image": IMAGE, "visual_prompts": BOX}
    dicts = [{"role": "user", "content": [image, {"type": "text", "text": TEXT}]},
             {"role": "assistant", "content": [{"type": "text", "text": "<Region 1>: ship"}]}]
    objects = [Message("user", [image, {"type": "text", "text": TEXT}]),
               PydanticLike(role="assistant", content=[{"type": "text", "text": "<Region 1>: ship"}], name=None)]
    assert processor.apply_chat_template(objects) == processor.apply_chat_template(dicts)
    expected = processor.apply_chat_template(dicts, tokenize=True, return_dict=True, return_tensors="pt")
    got = processor.apply_chat_template(objects, tokenize=True, return_dict=True, return_tensors="pt")
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[key], expected[key]) for key in expected)
    batch = processor.apply_chat_template([objects, objects])  # a batch of object conversations stays a batch
    assert batch == [processor.apply_chat_template(dicts)] * 2
    with pytest.raises(ValueError, match="reserved token '<region_feat>'"):  # our checks see the objects' text
        processor.apply_chat_template([Message("user", [{"type": "text", "text": "<region_feat>"}])])


def test_no_private_transformers_chat_api_is_needed(processor):
    assert "_get_template_variables" not in vars(processing_earthgptx)
    conversation = [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match="tools= is not supported: the chat template never reads 'tools'"):
        processor.apply_chat_template(conversation, tools=[{"type": "function"}])
    template = "{% for tool in tools %}{{ tool['type'] }}{% endfor %}{{ messages[0]['content'] }}"
    assert processor.apply_chat_template(conversation, tools=[{"type": "function"}],
                                         chat_template=template) == "functionhi"


# --- the signature and our stricter checks --------------------------------------------------------------------------
def test_the_signature_lists_no_input_it_refuses(processor):
    assert not {"videos", "audio"} & set(inspect.signature(EarthGPTXProcessor.__call__).parameters)
    with pytest.raises(ValueError, match="videos= is not supported"):
        _call(processor, videos=[np.zeros((2, 8, 8, 3), np.uint8)])
    assert "input_ids" in _call(processor, videos=None, audio=None)  # as ProcessorMixin.apply_chat_template passes


@pytest.mark.parametrize("kwargs, error, match", [
    ({"padding_sidee": "right"}, TypeError, r"'padding_sidee'\. Did you mean 'padding_side'\?"),
    ({"do_rescal": True}, TypeError, r"'do_rescal'\. Did you mean 'do_rescale'\?"),
    ({"images_kwargs": {"do_sam_vew": False}}, TypeError,
     r"images_kwargs\['do_sam_vew'\]\. Did you mean 'do_sam_view'"),
    ({"text_kwargs": {"max_lenght": 8}}, TypeError, r"text_kwargs\['max_lenght'\]\. Did you mean 'max_length'"),
    ({"common_kwargs": {"zoom": 2}}, TypeError, r"common_kwargs\['zoom'\]"),
    ({"size": {"height": 8, "width": 8}}, TypeError, r"unexpected keyword argument 'size'.*image processor arguments"),
    ({"num_frames": 2}, ValueError, r"'num_frames' \(videos or audio\) is not supported"),
])
def test_misspelt_and_foreign_kwargs_are_refused_with_a_suggestion(processor, kwargs, error, match):
    with pytest.raises(error, match=match):
        _call(processor, **kwargs)


def test_reserved_tokens_are_still_refused(processor):
    with pytest.raises(ValueError, match=r"text\[0\] contains the reserved token '<region_feat>'"):
        processor(images=IMAGE, text="What is <region_feat>?")
    with pytest.raises(ValueError, match=r"text\[0\] contains the reserved token '<pad>'"):
        processor(text="a <pad> b")
