"""Composition from separately pretrained parts (with the processor of the language model's tokenizer, and the
refusal of parts that do not fit), and the open_clip CLIP-ConvNeXt conversion (tiny checkpoints created here; nothing
is downloaded)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    ConvNextConfig,
    ConvNextModel,
    Dinov2Config,
    Dinov2Model,
    LlamaForCausalLM,
    SamConfig,
    SamModel,
    T5Config,
)

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.conversion.convert_open_clip_convnext import convert_open_clip_convnext_state_dict, load_open_clip_convnext
from earthgptx_hf.conversion.composition import convnext_output_side
from earthgptx_hf.conversion.tokenization import load_shipped_tokenizer

from .helpers import training_batch

# The shipped tokenizer has 886 ids; the language model's embedding is padded to 900 rows, as many Hub LLMs' are.
PADDED_ROWS = 900


def tiny_parts(vocab_size: int = PADDED_ROWS, **text_fields) -> dict:
    """Tiny random parts of the `tiny` preset (seed 3): {part: model}."""
    reference = EarthGPTXConfig.from_preset("tiny")
    torch.manual_seed(3)
    text_config = reference.text_config.__class__(
        **{**reference.text_config.to_dict(), "vocab_size": vocab_size, **text_fields})
    return {
        "language_model": LlamaForCausalLM(text_config),
        "dino": Dinov2Model(reference.dino_config),
        "convnext": ConvNextModel(reference.convnext_config),
        "sam": SamModel(reference.grounding_config),
    }


def save_tiny_parts(root: Path, vocab_size: int = PADDED_ROWS, tokenizer: bool = True, models: dict | None = None,
                    **text_fields) -> dict:
    """`tiny_parts` (or `models`) saved in the Hub layouts under `root` (the language model with the shipped tokenizer
    in its folder, as a Hub LLM has its own); returns {part: folder}."""
    models = models or tiny_parts(vocab_size, **text_fields)
    for name, model in models.items():
        model.save_pretrained(root / name)
    if tokenizer:
        load_shipped_tokenizer().save_pretrained(root / "language_model")
    return {name: root / name for name in models}


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    models = tiny_parts(vocab_size=256)
    save_tiny_parts(root, tokenizer=False, models=models)
    return root, models


def _assert_same_weights(module, reference):
    got, want = module.state_dict(), reference.state_dict()
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_composition_keeps_pretrained_weights_and_initialises_new_parts(parts, tmp_path):
    root, originals = parts
    model = EarthGPTXForConditionalGeneration.from_pretrained_parts(
        language_model=root / "language_model", dino=root / "dino", convnext=root / "convnext", sam=root / "sam",
        preset="tiny",
    )
    config = model.config
    assert config.image_token_id == 256 and config.text_config.vocab_size == 256 + 3 + config.max_regions
    _assert_same_weights(model.model.vision_tower.dino, originals["dino"])
    _assert_same_weights(model.model.vision_tower.convnext, originals["convnext"])
    _assert_same_weights(model.pixel_perception.grounding_model, originals["sam"])
    lm = originals["language_model"]
    for name, tensor in lm.model.state_dict().items():
        ours = model.model.language_model.state_dict()[name]
        if name == "embed_tokens.weight":
            assert torch.equal(ours[:256], tensor) and ours.shape[0] == config.text_config.vocab_size
            assert torch.isfinite(ours[256:]).all()
        else:
            assert torch.equal(ours, tensor), name
    assert torch.equal(model.lm_head.weight[:256], lm.lm_head.weight)
    # new parts exist on a real device, finite and not all zero
    for name, parameter in model.named_parameters():
        assert not parameter.is_meta, name
        assert torch.isfinite(parameter).all(), name
    for part in ("spatial_aware_encoder", "hybrid_fusion", "multi_modal_projector", "pixel_perception.text_to_pixel"):
        weights = [p for n, p in model.named_parameters() if part in n and n.endswith("weight") and p.ndim == 2]
        assert weights and all(w.abs().sum() > 0 for w in weights), part
    # the composed model trains, and saves / reloads like any other
    out = model.train()(**training_batch(config))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    model.save_pretrained(tmp_path)
    reloaded = EarthGPTXForConditionalGeneration.from_pretrained(tmp_path)
    _assert_same_weights(reloaded, model)


def test_composition_rejects_a_wrong_part(parts):
    root, _ = parts
    with pytest.raises(ValueError, match="dino must be a dinov2 checkpoint"):
        EarthGPTXForConditionalGeneration.from_pretrained_parts(
            language_model=root / "language_model", dino=root / "convnext", convnext=root / "convnext",
            sam=root / "sam", preset="tiny",
        )


@pytest.fixture(scope="module")
def parts_with_tokenizer(tmp_path_factory):
    return save_tiny_parts(tmp_path_factory.mktemp("parts_with_tokenizer"))


def test_composition_returns_the_processor_of_the_language_models_tokenizer(parts_with_tokenizer, tmp_path):
    model, processor = EarthGPTXForConditionalGeneration.from_pretrained_parts(
        **parts_with_tokenizer, preset="tiny", return_processor=True)
    config = model.config
    # the special tokens follow the tokenizer's 886 ids, not the 900 embedding rows (rows no token uses are dropped)
    assert config.image_token_id == 886 == processor.image_token_id
    assert config.text_config.vocab_size == 886 + 3 + config.max_regions == len(processor.tokenizer)
    assert model.get_input_embeddings().weight.shape[0] == config.text_config.vocab_size
    processor.check_model_config(config)
    image = np.random.default_rng(0).integers(0, 255, (40, 52, 3), dtype=np.uint8)
    inputs = processor(images=image, text="<image>\nPlease segment <Region 1>.", return_tensors="pt",
                       visual_prompts=[[{"type": "box", "bbox": [2, 3, 20, 30]}]])
    with torch.no_grad():
        out = model.eval().generate(**inputs, max_new_tokens=3, do_sample=False, return_dict_in_generate=True)
    assert out.sequences.shape[1] == inputs["input_ids"].shape[1] + 3
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    reloaded = EarthGPTXProcessor.from_pretrained(tmp_path)
    reloaded.check_model_config(EarthGPTXForConditionalGeneration.from_pretrained(tmp_path).config)
    assert reloaded(images=image, text="<image>\nhi", return_tensors="pt")["input_ids"].tolist() == \
        processor(images=image, text="<image>\nhi", return_tensors="pt")["input_ids"].tolist()


def test_a_loaded_language_model_needs_its_tokenizer_for_the_processor(parts_with_tokenizer):
    parts = {**parts_with_tokenizer, "language_model": LlamaForCausalLM.from_pretrained(
        parts_with_tokenizer["language_model"])}
    with pytest.raises(ValueError, match="return_processor=True with a loaded language_model needs tokenizer="):
        EarthGPTXForConditionalGeneration.from_pretrained_parts(**parts, preset="tiny", return_processor=True)
    model, processor = EarthGPTXForConditionalGeneration.from_pretrained_parts(
        **parts, preset="tiny", return_processor=True, tokenizer=load_shipped_tokenizer())
    processor.check_model_config(model.config)


def _config_only(folder: Path, config) -> Path:
    """A part folder with a config and no weights: a refusal from it shows that nothing was loaded."""
    config.save_pretrained(folder)
    return folder


def _tiny(name: str, **fields):
    reference = EarthGPTXConfig.from_preset("tiny")
    sub = {"dino": reference.dino_config, "convnext": reference.convnext_config}[name]
    return sub.__class__(**{**sub.to_dict(), **fields})


MISFITS = {  # part -> (a config that does not fit the tiny preset, what the refusal says)
    "convnext": (lambda: _tiny("convnext", depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_stages=4),
                 r"convnext: num_stages=4 .* reduces a 28-pixel view .* at most 3 stages"),
    "dino": (lambda: _tiny("dino", patch_size=16), r"dino: patch_size=16 does not divide the 28-pixel views"),
    "sam": (lambda: SamConfig(vision_config={**EarthGPTXConfig.from_preset("tiny").grounding_config.vision_config
                                             .to_dict(), "output_channels": 48}),
            r"grounding_config: vision_config.output_channels.* \(text_config from language_model, dino_config from "
            r"dino, convnext_config from convnext, grounding_config from sam\.\)"),
    "language_model": (lambda: T5Config(), r"language_model must be a decoder-only causal LM .* model_type='t5'"),
}


@pytest.mark.parametrize("part", sorted(MISFITS))
def test_a_part_that_does_not_fit_is_refused_naming_it_before_any_weight_is_loaded(part, parts_with_tokenizer,
                                                                                   tmp_path):
    config, message = MISFITS[part]
    parts = {**parts_with_tokenizer, part: _config_only(tmp_path / part, config())}
    with pytest.raises(ValueError, match=message):
        EarthGPTXForConditionalGeneration.from_pretrained_parts(**parts, preset="tiny")


def test_a_convnext_with_too_many_stages_is_refused_not_failing_in_generate(parts_with_tokenizer, tmp_path):
    config = _tiny("convnext", depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 24, 32], num_stages=4)
    assert convnext_output_side(config, 28) == 0 and convnext_output_side(config, 56) == 1
    assert convnext_output_side(_tiny("convnext"), 28) == 3  # the preset's own: 28 // 4 = 7, then 3
    ConvNextModel(config).save_pretrained(tmp_path / "convnext")
    parts = {**parts_with_tokenizer, "convnext": tmp_path / "convnext"}
    with pytest.raises(ValueError, match="convnext: num_stages=4"):
        EarthGPTXForConditionalGeneration.from_pretrained_parts(**parts, preset="tiny")
    # with views it can read (56 pixels: 14, 7, 3, 1), the same ConvNeXt composes
    model = EarthGPTXForConditionalGeneration.from_pretrained_parts(**parts, preset="tiny", tile_size=56)
    assert model.config.convnext_config.num_stages == 4
    feature_map = model.model.vision_tower.convnext(pixel_values=torch.zeros(1, 3, 56, 56)).last_hidden_state
    assert feature_map.shape == (1, 32, 1, 1)


def test_a_language_model_that_cannot_hold_an_image_or_its_tokenizer_is_refused(tmp_path):
    short = save_tiny_parts(tmp_path / "short", max_position_embeddings=16)
    with pytest.raises(ValueError, match=r"language_model: max_position_embeddings=16 .* cannot hold one image: 20 "
                                         r"visual tokens \(5 views x 4\) and up to 16 region tokens"):
        EarthGPTXForConditionalGeneration.from_pretrained_parts(**short, preset="tiny")
    small = save_tiny_parts(tmp_path / "small", vocab_size=256)
    with pytest.raises(ValueError, match="language_model: vocab_size=256 embedding rows, but its tokenizer has 886"):
        EarthGPTXForConditionalGeneration.from_pretrained_parts(**small, preset="tiny", return_processor=True)


# ---------------------------------------------------------------------------------------------------------------------
def _timm_layout(model: ConvNextModel, prefix: str, conv_mlp: bool) -> dict[str, torch.Tensor]:
    """Writes a ConvNextModel's weights under the names timm's ConvNeXt (inside open_clip) gives them."""
    sd = model.state_dict()
    out = {
        f"{prefix}stem.0.weight": sd["embeddings.patch_embeddings.weight"],
        f"{prefix}stem.0.bias": sd["embeddings.patch_embeddings.bias"],
        f"{prefix}stem.1.weight": sd["embeddings.layernorm.weight"],
        f"{prefix}stem.1.bias": sd["embeddings.layernorm.bias"],
        f"{prefix}head.norm.weight": sd["layernorm.weight"],
        f"{prefix}head.norm.bias": sd["layernorm.bias"],
    }
    for i, depth in enumerate(model.config.depths):
        hf = f"encoder.stages.{i}"
        if i > 0:
            for j in (0, 1):
                for kind in ("weight", "bias"):
                    out[f"{prefix}stages.{i}.downsample.{j}.{kind}"] = sd[f"{hf}.downsampling_layer.{j}.{kind}"]
        for b in range(depth):
            layer, block = f"{hf}.layers.{b}", f"{prefix}stages.{i}.blocks.{b}"
            for kind in ("weight", "bias"):
                out[f"{block}.conv_dw.{kind}"] = sd[f"{layer}.dwconv.{kind}"]
                out[f"{block}.norm.{kind}"] = sd[f"{layer}.layernorm.{kind}"]
                out[f"{block}.mlp.fc1.{kind}"] = sd[f"{layer}.pwconv1.{kind}"]
                out[f"{block}.mlp.fc2.{kind}"] = sd[f"{layer}.pwconv2.{kind}"]
            if conv_mlp:
                out[f"{block}.mlp.fc1.weight"] = out[f"{block}.mlp.fc1.weight"][..., None, None]
                out[f"{block}.mlp.fc2.weight"] = out[f"{block}.mlp.fc2.weight"][..., None, None]
            out[f"{block}.gamma"] = sd[f"{layer}.layer_scale_parameter"]
    return out


@pytest.mark.parametrize("prefix, conv_mlp", [("visual.trunk.", False), ("", True), ("trunk.", False)])
def test_open_clip_convnext_conversion_reproduces_the_network(prefix, conv_mlp, tmp_path):
    config = EarthGPTXConfig.from_preset("tiny").convnext_config
    torch.manual_seed(0)
    source = ConvNextModel(config).eval()
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()  # every weight distinct, so a wrong mapping cannot go unnoticed
    state = _timm_layout(source, prefix, conv_mlp)
    state["visual.head.proj.weight"] = torch.zeros(4, 32)
    state["logit_scale"] = torch.ones(())
    converted, unused = convert_open_clip_convnext_state_dict(state)
    assert set(unused) == {"visual.head.proj.weight", "logit_scale"}
    assert converted.keys() == source.state_dict().keys()
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "open_clip.safetensors")
    target = load_open_clip_convnext(tmp_path / "open_clip.safetensors", config).eval()
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(target(x).last_hidden_state, source(x).last_hidden_state)


def test_open_clip_conversion_errors_are_clear():
    with pytest.raises(ValueError, match="No ConvNeXt weights found"):
        convert_open_clip_convnext_state_dict({"text.token_embedding.weight": torch.zeros(2, 2)})
    config = EarthGPTXConfig.from_preset("tiny").convnext_config
    state = _timm_layout(ConvNextModel(config), "", False)
    del state["stages.1.blocks.0.gamma"]
    with pytest.raises(ValueError, match=r"missing \['encoder.stages.1.layers.0.layer_scale_parameter'\]"):
        load_open_clip_convnext(state, config)
    # a checkpoint with more stages than the config is refused, not truncated to the config's stages
    deeper = ConvNextConfig(**{**config.to_dict(), "depths": [1, 1, 1], "hidden_sizes": [16, 32, 32], "num_stages": 3})
    with pytest.raises(ValueError, match=r"The checkpoint \(depths=\[1, 1, 1\]\) does not fit ConvNextModel\("
                                         r"depths=\[1, 1\].*wrong shape \[\], not in the model \[.encoder.stages.2"):
        load_open_clip_convnext(_timm_layout(ConvNextModel(deeper), "", False), config)
