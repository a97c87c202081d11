"""Composition from separately pretrained parts, and the open_clip CLIP-ConvNeXt conversion (tiny checkpoints
created here; nothing is downloaded)."""

import pytest
import torch
from transformers import ConvNextModel, Dinov2Model, LlamaForCausalLM, SamModel

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration
from earthgptx_hf.modeling import convert_open_clip_convnext_state_dict, load_open_clip_convnext

from .helpers import training_batch


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    reference = EarthGPTXConfig.from_preset("tiny")
    torch.manual_seed(3)
    text_config = reference.text_config.__class__(**{**reference.text_config.to_dict(), "vocab_size": 256})
    models = {
        "language_model": LlamaForCausalLM(text_config),
        "dino": Dinov2Model(reference.dino_config),
        "convnext": ConvNextModel(reference.convnext_config),
        "sam": SamModel(reference.grounding_config),
    }
    for name, model in models.items():
        model.save_pretrained(root / name)
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
