"""Issue 30: what transformers' `GenerationTesterMixin` checks, on this model's inputs (its file, in transformers'
`tests/generation/`, is not in the source distribution; `tests/transformers_common/standins.py`).

Every decoding mode `generate()` offers, with tensor and dict outputs, from `input_ids` and from `inputs_embeds`, and
with a static cache and `torch.compile`. Contrastive search is not among them: transformers moved it to a Hub
repository (`custom_generate="transformers-community/contrastive-search"`), which nothing here may download.
Plus the model defects issue 30 found, each with the test that fails without its fix.
"""

import tempfile

import pytest
import torch
from safetensors.torch import load_file

from earthgptx_hf import EarthGPTXGenerateOutput
from earthgptx_hf.models.earthgptx import EarthGPTXForConditionalGeneration, EarthGPTXGenerateBeamOutput

from .helpers import left_pad, sample_ids, tiny_model, visual_inputs

NEW_TOKENS = 4


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _inputs(config, rows=((2, [10, 11, 12]), (1, [13, 14]))):
    ids, mask = left_pad([sample_ids(config, n, text)[0] for n, text in rows], pad_id=0)
    vis = visual_inputs(config, [n for n, _ in rows])
    vis.pop("sam_pixel_values")
    return {"input_ids": ids, "attention_mask": mask, **vis}


def _embeds(model, inputs):
    embeds = {**inputs, "inputs_embeds": model.get_input_embeddings()(inputs["input_ids"])}
    del embeds["input_ids"]
    return embeds


def _generate(model, inputs, **kwargs):
    torch.manual_seed(0)
    kwargs = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, "pad_token_id": 0, **kwargs}
    return model.generate(**inputs, **{key: value for key, value in kwargs.items() if value is not None})


MODES = {
    "greedy": {},
    "sample": {"do_sample": True, "top_k": 5},
    "beam_search": {"num_beams": 2},
    "beam_sample": {"num_beams": 2, "do_sample": True, "top_k": 5},
    "greedy, 2 sequences": {"do_sample": True, "num_return_sequences": 2},
    "beam search, 2 sequences": {"num_beams": 2, "num_return_sequences": 2},
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("source", ["input_ids", "inputs_embeds"])
def test_every_decoding_mode_gives_tensor_and_dict_outputs(model, mode, source):
    inputs = _inputs(model.config)
    if source == "inputs_embeds":
        inputs = _embeds(model, inputs)
    kwargs = MODES[mode]
    rows = inputs["attention_mask"].shape[0] * kwargs.get("num_return_sequences", 1)
    tensor = _generate(model, inputs, **kwargs)
    output = _generate(model, inputs, return_dict_in_generate=True, output_scores=True, **kwargs)
    beams = kwargs.get("num_beams", 1) > 1
    assert isinstance(output, EarthGPTXGenerateBeamOutput if beams else EarthGPTXGenerateOutput)
    assert torch.equal(output.sequences, tensor)  # the same seed: the same sequences
    prompt = inputs["input_ids"].shape[1] if source == "input_ids" else 0  # inputs_embeds: new tokens only
    assert tensor.shape == (rows, prompt + NEW_TOKENS)
    assert len(output.scores) == NEW_TOKENS
    assert output.input_index.tolist() == torch.arange(2).repeat_interleave(rows // 2).tolist()
    if beams:
        assert output.sequences_scores.shape == (rows,) and output.beam_indices.shape[0] == rows


def test_inputs_embeds_generate_the_same_tokens_as_input_ids(model):
    inputs = _inputs(model.config)
    from_ids = _generate(model, inputs)
    from_embeds = _generate(model, _embeds(model, inputs))
    assert torch.equal(from_ids[:, inputs["input_ids"].shape[1]:], from_embeds)


# transformers' assisted decoding calls the assistant's generate() with a generation config and generation kwargs
@pytest.mark.transformers_internal_deprecation("Passing `generation_config` together with generation-related")
@pytest.mark.parametrize("assistance", [{"assistant_model": "self"}, {"prompt_lookup_num_tokens": 2}])
def test_assisted_and_prompt_lookup_decoding_equal_greedy(model, assistance):
    """Assisted decoding takes the main call's model kwargs to the assistant (before the fix: "got multiple values
    for keyword argument 'pix_hidden_states'"); with greedy verification its tokens are greedy's."""
    inputs = {key: value[:1] for key, value in _inputs(model.config).items()}  # transformers: batch size 1
    kwargs = {"assistant_model": model} if "assistant_model" in assistance else assistance
    # (no min_new_tokens: assisted decoding hands it to the assistant with a generation config, which transformers
    # logs as deprecated)
    greedy = _generate(model, inputs, return_dict_in_generate=True, min_new_tokens=None)
    assisted = _generate(model, inputs, return_dict_in_generate=True, min_new_tokens=None, **kwargs)
    assert torch.equal(assisted.sequences, greedy.sequences)


def test_static_cache_generates_what_the_dynamic_cache_does(model):
    inputs = _inputs(model.config)
    assert torch.equal(_generate(model, inputs, cache_implementation="static"), _generate(model, inputs))


@pytest.mark.skipif(not hasattr(torch.compiler, "is_exporting"),
                    reason="transformers' code under torch.compile calls torch.compiler.is_exporting (torch >= 2.7); "
                           "torch 2.6, our floor, has no compiled generation")
def test_a_compiled_forward_generates_what_the_eager_one_does():
    """`torch.compile` of the forward (with graph breaks at the input checks: `_can_compile_fullgraph` stays False,
    docs/model.md) decodes the same tokens, with the static cache."""
    model = tiny_model()
    inputs = _inputs(model.config, rows=((2, [10, 11, 12]),))
    eager = _generate(model, inputs, cache_implementation="static")
    model.forward = torch.compile(model.forward)
    compiled = _generate(model, inputs, cache_implementation="static")
    assert torch.equal(compiled, eager)
    assert not EarthGPTXForConditionalGeneration._can_compile_fullgraph


# ---------------------------------------------------------------------------------------------------------------------
# model defects of issue 30
def test_inputs_embeds_get_the_region_features_input_ids_get(model):
    """Before the fix the region features were added to `<Region i>` only when `input_ids` were given (logits
    differed by up to 4.35)."""
    inputs = _inputs(model.config)
    with torch.no_grad():
        from_ids = model(**inputs).logits
        from_embeds = model(**_embeds(model, inputs)).logits
    torch.testing.assert_close(from_embeds, from_ids)


def test_rope_scaling_extends_the_context():
    model = tiny_model(text_config={"rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}})
    ids = torch.randint(20, 800, (1, 600))
    with torch.no_grad():
        assert model(input_ids=ids).logits.shape[1] == 600
    assert model.generate(input_ids=ids, max_new_tokens=2, do_sample=False).shape[1] == 602
    with pytest.raises(ValueError, match=r"2100 tokens .* longer than the 2048 positions"):
        model(input_ids=torch.randint(20, 800, (1, 2100)))


def test_a_text_only_forward_embeds_image_ids_as_llava_does(model):
    ids = torch.tensor([[1, model.config.image_token_id, 10, 11]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        from_embeds = model(inputs_embeds=model.get_input_embeddings()(ids)).logits
    torch.testing.assert_close(logits, from_embeds)


def test_image_features_return_the_vision_towers_hidden_states_and_attentions():
    model = tiny_model()
    model.set_attn_implementation("eager")
    vis = _inputs(model.config)
    vis = {key: vis[key] for key in ("pixel_values", "convnext_pixel_values", "prompt_maps")}
    features = model.get_image_features(**vis, output_hidden_states=True, output_attentions=True)
    layers = model.config.dino_config.num_hidden_layers
    assert len(features.hidden_states) == layers + 1 and len(features.attentions) == layers
    plain = model.get_image_features(**vis)
    assert plain.hidden_states is None and plain.attentions is None
    torch.testing.assert_close(plain.last_hidden_state, features.last_hidden_state)


def test_the_tensor_parallel_plan_shards_the_tied_lm_head_with_the_embeddings(model):
    """Llava's plan: the LM head is gathered column-wise (transformers' common test checks that tied weights are
    sharded together)."""
    assert EarthGPTXForConditionalGeneration._tp_plan == {"lm_head": "colwise_gather_output"}


def test_save_pretrained_keeps_transformers_default_layout(model):
    """transformers' default (`save_original_format=True`) writes the towers' legacy names; the model loads back the
    same either way. (Trainer checkpoints use the current names: `EarthGPTXTrainer`, tested in tests/training.)"""
    with tempfile.TemporaryDirectory() as default, tempfile.TemporaryDirectory() as current:
        model.save_pretrained(default)
        model.save_pretrained(current, save_original_format=False)
        default_keys = set(load_file(f"{default}/model.safetensors"))
        assert set(load_file(f"{current}/model.safetensors")) <= set(model.state_dict())
        assert default_keys != set(load_file(f"{current}/model.safetensors"))
        reloaded = EarthGPTXForConditionalGeneration.from_pretrained(default)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor, msg=name)
