"""Issue 12, model side: the config, outputs, layout and generation behave as transformers' own models."""

import copy
import functools
import threading

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, LlamaConfig, PreTrainedModel

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXModel
from earthgptx_hf.models.earthgptx.configuration_earthgptx import EarthGPTXFusionConfig

from .helpers import tiny_model, training_batch
from .test_generation import ForceTokens, LogitsProcessorList, PROMPTS, _batch, _generate


# ---------------------------------------------------------------------------------------------------------------------
# 1. configs build with no arguments, as the paper configuration; derived fields are derived
def test_the_default_config_is_the_paper_configuration():
    default, paper = EarthGPTXConfig(), EarthGPTXConfig.from_preset("paper")
    assert {**default.to_dict(), "region_position_size": 16} == paper.to_dict()  # 0 keeps old checkpoints as saved
    assert isinstance(AutoConfig.for_model("earthgptx"), EarthGPTXConfig)
    assert default.text_config.hidden_size == 5120 and default.dino_config.hidden_size == 1024
    assert default.grounding_config.vision_config.hidden_size == 1280 and default.convnext_config.depths[2] == 27
    assert default.to_diff_dict()["model_type"] == "earthgptx"


def test_spatial_encoder_fields_are_derived_from_the_fields_they_must_equal():
    config = EarthGPTXConfig.from_preset("tiny", max_regions=5, dino_config={"patch_size": 7}, tile_size=28)
    spatial = config.spatial_config
    assert (spatial.num_channels, spatial.patch_size, spatial.image_size) == (5, 7, 28)
    with pytest.raises(ValueError, match=r"spatial_config.num_channels=3 disagrees"):
        EarthGPTXConfig.from_preset("tiny", spatial_config={"num_channels": 3})


def test_image_size_is_not_a_config_field():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['image_size'\].*tile_grid x tile_size"):
        EarthGPTXConfig.from_preset("tiny", image_size=999)
    assert EarthGPTXConfig.from_preset("tiny").canvas_size == (56, 56)
    saved = EarthGPTXConfig.from_preset("tiny").to_dict()
    assert EarthGPTXConfig(**{**saved, "image_size": 56}).canvas_size == (56, 56)  # configs saved with it load
    with pytest.raises(ValueError, match="image_size=999 is not a field"):
        EarthGPTXConfig(**{**saved, "image_size": 999})


def test_from_preset_never_modifies_what_it_is_given():
    text, grounding = {"hidden_size": 64}, {"mask_decoder_config": {"mlp_dim": 96}}
    llama = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4)
    before = (copy.deepcopy(text), copy.deepcopy(grounding), llama.to_dict())
    EarthGPTXConfig.from_preset("small", text_config=text, grounding_config=grounding)
    EarthGPTXConfig.from_preset("tiny", text_config=llama)
    assert (text, grounding, llama.to_dict()) == before


def test_the_fusion_config_has_no_dead_initializer_range_and_old_ones_load():
    assert "initializer_range" not in EarthGPTXFusionConfig().to_dict()
    assert "initializer_range" not in EarthGPTXFusionConfig(initializer_range=0.5).to_dict()


# 2. special-token ids are explicit, never guessed from the vocabulary size
def test_token_ids_are_not_guessed_from_the_vocabulary():
    with pytest.raises(ValueError, match=r"image_token_id \(32000\) is outside the language model's vocabulary"):
        EarthGPTXConfig(text_config=LlamaConfig())
    config = EarthGPTXConfig(text_config=LlamaConfig(vocab_size=40000))
    assert (config.image_token_id, config.pix_token_id, config.region_token_ids[0]) == (32000, 32001, 32003)
    with pytest.raises(ValueError, match="must all differ"):
        EarthGPTXConfig.from_preset("tiny", pix_token_id=886)


# ---------------------------------------------------------------------------------------------------------------------
# 3. return_dict=False gives tuples, from the argument or the config
def test_return_dict_false_returns_tuples():
    model = tiny_model()
    batch = training_batch(model.config)
    with torch.no_grad():
        as_dict = model(**batch)
        as_tuple = model(**batch, return_dict=False)
        base = model.model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"],
                           prompt_maps=batch["prompt_maps"], return_dict=False)
    assert isinstance(as_tuple, tuple) and isinstance(base, tuple)
    torch.testing.assert_close(as_tuple[0], as_dict.loss)
    model.config.return_dict = False
    with torch.no_grad():
        from_config = model(**batch)
    assert isinstance(from_config, tuple)
    torch.testing.assert_close(from_config[0], as_dict.loss)


# 4. device maps and attention
def test_no_split_modules_cover_the_fusion_block_and_every_tower():
    model = tiny_model()
    assert "EarthGPTXFusionBlock" in model._no_split_modules
    for tower in (model.model.vision_tower.dino, model.model.spatial_aware_encoder.vit,
                  model.pixel_perception.grounding_model, model.model.language_model):
        assert set(tower._no_split_modules or ()) <= model._no_split_modules, type(tower).__name__


def test_flash_attention_is_not_claimed_sam_has_none():
    assert not EarthGPTXForConditionalGeneration._supports_flash_attn
    with pytest.raises(ValueError, match="does not support Flash Attention"):
        EarthGPTXForConditionalGeneration._from_config(EarthGPTXConfig.from_preset("tiny"),
                                                       attn_implementation="flash_attention_2")


def test_fusion_attention_goes_through_the_attention_interface(monkeypatch):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    calls = []
    original = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def spy(module, *args, **kwargs):
        calls.append(type(module).__name__)
        return original(module, *args, **kwargs)

    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", spy)
    torch.manual_seed(0)
    model = EarthGPTXForConditionalGeneration._from_config(EarthGPTXConfig.from_preset("tiny"),
                                                           attn_implementation="sdpa").eval()
    batch = training_batch(model.config)
    with torch.no_grad():
        sdpa = model(**batch).logits
    assert calls.count("EarthGPTXAttention") == 3  # Eq. 4, 6 and 7
    model.set_attn_implementation("eager")
    assert model.config.hybrid_fusion_config._attn_implementation == "eager"
    calls.clear()
    with torch.no_grad():
        eager = model(**batch).logits
    assert "EarthGPTXAttention" not in calls
    torch.testing.assert_close(sdpa, eager, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------------------------------
# 5. blocks are nn.Modules; the mask head belongs to ForConditionalGeneration; old checkpoints load
def test_blocks_are_plain_modules_and_the_mask_head_is_not_in_the_base_model():
    model = tiny_model()
    for block in (model.model.vision_tower, model.model.spatial_aware_encoder, model.pixel_perception):
        assert isinstance(block, nn.Module) and not isinstance(block, PreTrainedModel)
    assert not hasattr(model.model, "pixel_perception")
    assert not any("pixel_perception" in name for name, _ in EarthGPTXModel(model.config).named_parameters())
    # SAM's tied positional embedding stays tied through the block
    assert any(k.startswith("pixel_perception.grounding_model.") for k in model.all_tied_weights_keys)


def test_checkpoints_saved_before_the_mask_head_moved_still_load(tmp_path):
    model = tiny_model(seed=3)
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    legacy = {("model." + k if k.startswith("pixel_perception.") else k): v for k, v in weights.items()}
    assert any(k.startswith("model.pixel_perception.") for k in legacy)
    save_file(legacy, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = EarthGPTXForConditionalGeneration.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, msg=name)
    base = EarthGPTXModel.from_pretrained(tmp_path)  # the base model ignores the mask head of either layout
    torch.testing.assert_close(base.multi_modal_projector.linear_1.weight, model.model.multi_modal_projector.linear_1.weight)


def test_forward_is_split_into_named_steps():
    import inspect

    source = inspect.getsource(EarthGPTXForConditionalGeneration.forward)
    assert len(source.splitlines()) <= 70  # issue 32: no function much over 60 lines
    for step in ("check_grounding_inputs", "_language_modeling_loss", "_pixel_outputs", "total_loss"):
        assert step in source


# ---------------------------------------------------------------------------------------------------------------------
# 6. generation keeps its state in the call; 7. the visual inputs go through generation's multimodal mechanism
def test_generation_keeps_no_state_on_the_model():
    model = tiny_model()
    assert not hasattr(model, "_pix_hidden_states") and not hasattr(model, "_PREFILL_ONLY_INPUTS")


def test_two_threads_generating_with_one_model_each_get_their_own_masks():
    model = tiny_model()
    pix = model.config.pix_token_id
    jobs = {0: PROMPTS[:1], 1: PROMPTS[1:3]}
    schedules = {0: {(0, 0): pix}, 1: {(0, 1): pix, (1, 0): pix, (1, 2): pix}}
    alone = {k: _generate(model, *_batch(model.config, rows), schedule=schedules[k]) for k, rows in jobs.items()}
    results, barrier = {}, threading.Barrier(2)

    def work(k):
        barrier.wait()
        for _ in range(3):
            results[k] = _generate(model, *_batch(model.config, jobs[k]), schedule=schedules[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in jobs:
        assert [m.shape[0] for m in results[k].pred_masks] == [m.shape[0] for m in alone[k].pred_masks]
        for got, want in zip(results[k].pred_masks, alone[k].pred_masks):
            torch.testing.assert_close(got, want)


def test_masks_come_with_inputs_embeds():
    model = tiny_model()
    config, pix = model.config, model.config.pix_token_id
    ids, mask, vis = _batch(config, PROMPTS[:1])
    with torch.no_grad():
        embeds = model.model(input_ids=ids, **{k: v for k, v in vis.items() if k != "sam_pixel_values"},
                             output_hidden_states=True).hidden_states[0]
    processors = LogitsProcessorList([ForceTokens(0, {(0, 1): pix})])
    out = model.generate(inputs_embeds=embeds, attention_mask=mask, sam_pixel_values=vis["sam_pixel_values"],
                         max_new_tokens=4, do_sample=False, pad_token_id=0, return_dict_in_generate=True,
                         logits_processor=processors)
    assert out.sequences.shape[1] == 4 and out.sequences[0, 1] == pix  # only the new tokens
    reference = _generate(model, ids, mask, vis, schedule={(0, 1): pix}, max_new_tokens=4)
    torch.testing.assert_close(out.pred_masks[0], reference.pred_masks[0], atol=1e-4, rtol=1e-4)


def test_sam_encodes_each_image_once_for_several_returned_sequences(monkeypatch):
    model = tiny_model()
    pix = model.config.pix_token_id
    ids, mask, vis = _batch(model.config, PROMPTS[:2])
    encoded = []
    original = model.pixel_perception.encode_image
    monkeypatch.setattr(model.pixel_perception, "encode_image",
                        lambda views: encoded.append(views.shape[0]) or original(views))
    schedule = {(row, 0): pix for row in range(6)}
    out = _generate(model, ids, mask, vis, schedule=schedule, num_return_sequences=3, do_sample=True, top_k=1)
    assert encoded == [2]  # two images, six sequences
    assert out.input_index.tolist() == [0, 0, 0, 1, 1, 1]
    assert [m.shape[0] for m in out.pred_masks] == [1] * 6
    torch.testing.assert_close(out.pred_masks[0], out.pred_masks[2])


def test_the_image_encoder_runs_once_before_the_prefill_as_generation_expects(monkeypatch):
    model = tiny_model()
    calls = []
    original = model.model.get_image_features

    @functools.wraps(original)  # generation reads the signature to pick the encoder's inputs
    def spy(*args, **kwargs):
        calls.append(kwargs.get("return_dict"))
        return original(*args, **kwargs)

    monkeypatch.setattr(model.model, "get_image_features", spy)
    ids, mask, vis = _batch(model.config, PROMPTS[:2])
    _generate(model, ids, mask, vis, num_return_sequences=2, do_sample=True, top_k=1)
    assert calls == [True]  # by GenerationMixin._prepare_multimodal_encoder_kwargs_for_generation


def test_the_collected_states_are_checked_against_the_steps(monkeypatch):
    model = tiny_model()
    ids, mask, vis = _batch(model.config, PROMPTS[:1])
    original = model.forward

    @functools.wraps(original)
    def forward_collecting_twice(*args, **kwargs):
        if kwargs.get("pix_hidden_states") is not None:
            kwargs["pix_hidden_states"].append(torch.zeros(1))  # a stray state: one more per step
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", forward_collecting_twice)
    with pytest.raises(RuntimeError, match=r"collected \d+ hidden states for 6 generated tokens"):
        _generate(model, ids, mask, vis, min_new_tokens=6)


def test_the_image_token_count_check_is_transformers_compilable_check(monkeypatch):
    model = tiny_model()
    batch = {k: v for k, v in training_batch(model.config).items() if k not in ("labels", "gt_masks")}
    batch["input_ids"] = batch["input_ids"].clone()
    batch["input_ids"][0, 1] = 50
    with pytest.raises(ValueError, match="do not match"):
        model(**batch)
    monkeypatch.setenv("TRANSFORMERS_DISABLE_TORCH_CHECK", "1")  # transformers' switch for its compilable checks
    model(**batch)  # production mode: no check, no host sync


def test_every_dict_output_maps_its_sequences_to_their_inputs():
    model = tiny_model()
    ids, mask, vis = _batch(model.config, PROMPTS[:2])
    vis.pop("sam_pixel_values")
    out = _generate(model, ids, mask, vis, num_return_sequences=2, do_sample=True, top_k=1)
    assert out.input_index.tolist() == [0, 0, 1, 1] and out.pred_masks is None
    plain = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=2, pad_token_id=0, **vis)
    assert isinstance(plain, torch.Tensor)
