"""Paper scale on the meta device: the towers equal the reference architectures as transformers builds them."""

import torch

from earthgptx_hf.tools.inspect_model import (
    REFERENCE_TOWERS,
    build_meta_model,
    component_counts,
    main,
    reference_language_model_count,
)


def test_paper_towers_equal_the_reference_architectures():
    model = build_meta_model("paper")
    assert all(p.is_meta for p in model.parameters())
    counts = component_counts(model)
    for name in ("DINOv2", "ConvNeXt", "SAM"):
        assert counts[name] == REFERENCE_TOWERS[name][1], name
    config = model.config
    assert reference_language_model_count(config, 32000) == REFERENCE_TOWERS["language model"][1]
    added_rows = config.text_config.vocab_size - 32000
    assert counts["language model"] == 13_015_864_320 + 2 * added_rows * 5120
    assert counts["total"] == sum(p.numel() for p in model.parameters())


def test_inspect_command_prints_the_table(capsys):
    assert main(["--preset", "paper"]) == 0
    text = capsys.readouterr().out
    assert text.count("| equal") == 4 and "DIFFERS" not in text
    assert "| paper |" in text and "| lora (r=16) |" in text and "| full |" in text
    assert "visual tokens per image: 1280 (5 views x 256)" in text


def test_the_command_line_is_an_hf_argument_parser(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "--preset {paper,small,tiny}" in capsys.readouterr().out
    assert main(["--preset", "tiny"]) == 0
    text = capsys.readouterr().out
    assert "# EarthGPT-X `tiny` preset" in text and "| SAM |" in text
    with pytest.raises(SystemExit):
        main(["--preset", "huge"])


def test_the_mask_head_is_counted_on_the_generation_model():
    model = build_meta_model("tiny")
    counts = component_counts(model)
    assert counts["SAM"] == sum(p.numel() for p in model.pixel_perception.grounding_model.parameters()) > 0
    assert counts["language-to-pixel projection R_lp (Eq. 13)"] > 0


def test_meta_model_forward_shapes_without_memory():
    model = build_meta_model("paper")
    config = model.config
    with torch.device("meta"):
        features = model.get_image_features(torch.empty(1, config.num_views, 3, 224, 224))
    assert tuple(features.image_embeds.shape) == (1, config.num_image_tokens, 5120)


# --------------------------------------------------------------------------------------------------------------------
# --memory: FLOPs measured on the meta device, training memory, FSDP per GPU
import pytest  # noqa: E402

from earthgptx_hf.tools.compute_cost import (  # noqa: E402
    Request,
    build_meta_llava_1_5_13b,
    earthgptx_request_flops,
    earthgptx_sequence_length,
    flops_by_module,
    llava_request_flops,
    sum_paths,
)
from earthgptx_hf.tools.inspect_model import COMPONENTS, SHIPPED_FSDP_CONFIG  # noqa: E402
from earthgptx_hf.training.trainable import trainable_parameter_names  # noqa: E402
from earthgptx_hf.tools.training_memory import (  # noqa: E402
    fsdp_per_gpu_bytes,
    fsdp_units,
    preset_parameters,
    read_wrap_classes,
    state_bytes,
)


def _decoder_parameters(language_model):
    embedding = language_model.get_input_embeddings().weight
    return sum(p.numel() for p in language_model.parameters() if p is not embedding)


def test_flops_are_counted_per_component_and_add_up_on_tiny():
    model = build_meta_model("tiny")
    flops = earthgptx_request_flops(model, Request(num_prompts=2, text_tokens=16, num_pix=1))
    rows = {name: sum_paths(flops, model, paths) for name, paths in COMPONENTS}
    for name in ("language model", "DINOv2", "ConvNeXt", "spatial-aware encoder (Eq. 2)", "hybrid fusion (Eq. 4-7)",
                 "vision-to-language projector (Eq. 8)", "SAM", "  of which grounding encoder G",
                 "  of which pixel decoder P"):
        assert rows[name] > 0, name
    top_level = sum(v for name, v in rows.items() if not name.startswith(" "))
    assert top_level <= flops[""] <= 1.01 * top_level  # only the mask pooling's einsum is outside the components
    parts = rows["  of which grounding encoder G"] + rows["  of which pixel decoder P"]
    assert parts <= rows["SAM"] <= 1.01 * parts  # and SAM's positional embedding of the image grid
    # one more [PIX] costs one more pass of R_lp, SAM's grid positional embedding and the pixel decoder, nothing else
    two = earthgptx_request_flops(model, Request(num_prompts=2, text_tokens=16, num_pix=2))
    per_pix = ["pixel_perception.text_to_pixel", "pixel_perception.grounding_model.shared_image_embedding",
               "pixel_perception.grounding_model.mask_decoder"]
    assert sum_paths(two, model, per_pix) == 2 * sum_paths(flops, model, per_pix)
    assert two[""] - flops[""] == sum_paths(flops, model, per_pix)
    # the prompts change only the prefill length (the prompt maps always have max_regions channels)
    more = earthgptx_request_flops(model, Request(num_prompts=4, text_tokens=16, num_pix=1))
    assert sum_paths(more, model, ["model.vision_tower"]) == sum_paths(flops, model, ["model.vision_tower"])
    assert sum_paths(more, model, ["model.language_model"]) > sum_paths(flops, model, ["model.language_model"])
    assert earthgptx_sequence_length(model.config, Request(num_prompts=4, text_tokens=16)) == \
        1 + model.config.num_image_tokens + 8 + 16
    with pytest.raises(ValueError, match="num_prompts=99 exceeds the preset's max_regions"):
        earthgptx_sequence_length(model.config, Request(num_prompts=99))
    with pytest.raises(ValueError, match=r"Request.text_tokens=-1 must be an integer at least 0"):
        Request(text_tokens=-1)


def test_paper_prefill_costs_two_flops_per_parameter_per_token_and_llava_is_measured_the_same_way():
    """At paper scale the decoder's matmuls give 2 FLOPs per parameter per token; attention over S = 1,377 positions
    adds 4 * S * hidden * layers per token (about 4.4 %): the measured ratio lies within 1.00-1.08."""
    model = build_meta_model("paper")
    request = Request()
    length = earthgptx_sequence_length(model.config, request)
    assert length == 1 + 1280 + 32 + 64
    hidden = model.config.text_config.hidden_size
    with torch.device("meta"):  # the prefill alone, as earthgptx_request_flops runs it (the rest is tested on tiny)
        flops = flops_by_module(model, [
            lambda: model.model.language_model(inputs_embeds=torch.empty(1, length, hidden), use_cache=True),
            lambda: model.lm_head(torch.empty(1, 1, hidden))])
    params = _decoder_parameters(model.model.language_model)
    per_token = sum_paths(flops, model, ["model.language_model"]) / length
    assert 1.0 < per_token / (2 * params) < 1.08
    text = model.config.text_config
    attention = 4 * length * text.hidden_size * text.num_hidden_layers  # QK^T and AV over the full square
    assert per_token == pytest.approx(2 * params + attention, rel=0.01)
    # LM head on the last position only, as generate's prefill computes it
    assert sum_paths(flops, model, ["lm_head"]) == 2 * model.lm_head.weight.numel()

    llava = build_meta_llava_1_5_13b()
    assert sum(p.numel() for p in llava.parameters()) == 13_351_494_656  # llava-hf/llava-1.5-13b-hf
    llava_flops = llava_request_flops(llava, request)
    llava_length = 1 + 576 + 64
    llava_per_token = sum_paths(llava_flops, llava, ["model.language_model"]) / llava_length
    assert llava_per_token / (2 * _decoder_parameters(llava.model.language_model)) == pytest.approx(1.0, abs=0.04)
    clip = sum_paths(llava_flops, llava, ["model.vision_tower"])
    assert 2 * 300e6 * 577 < clip < 1.2 * 2 * 304e6 * 577  # ViT-L at 577 tokens


def test_training_state_bytes_follow_the_stated_accounting():
    model = build_meta_model("tiny")
    total = sum(p.numel() for p in model.parameters())
    full = preset_parameters(model, "full")
    parts = state_bytes(sum(n for n, _ in full.values()), sum(t for _, t in full.values()))
    assert parts == {"weights": 2 * total, "gradients": 2 * total, "master": 4 * total, "adamw": 8 * total}
    paper = preset_parameters(model, "paper")
    assert sum(t for _, t in paper.values()) == sum(model.get_parameter(n).numel()
                                                     for n in trainable_parameter_names(model, "paper"))
    with pytest.raises(ValueError, match="preset='huge' is not a trainable preset"):
        preset_parameters(model, "huge")


def test_lora_accounting_equals_what_peft_builds():
    from earthgptx_hf.training.trainable import apply_trainable_preset

    model = build_meta_model("tiny")
    entries = preset_parameters(model, "lora")
    with torch.device("meta"):
        peft_model = apply_trainable_preset(build_meta_model("tiny"), "lora")
    assert sum(n for n, _ in entries.values()) == sum(p.numel() for p in peft_model.parameters())
    assert sum(t for _, t in entries.values()) == sum(p.numel() for p in peft_model.parameters() if p.requires_grad)


def test_fsdp_per_gpu_memory_is_a_sharded_fraction_plus_the_gathered_units():
    model = build_meta_model("tiny")
    wrap = read_wrap_classes(SHIPPED_FSDP_CONFIG)
    for preset in ("paper", "lora"):
        entries = preset_parameters(model, preset)
        units, missing = fsdp_units(model, entries, wrap)
        assert missing == []
        assert sum(n for n, _ in units.values()) == sum(n for n, _ in entries.values())  # every parameter, once
        one_gpu = sum(state_bytes(*map(sum, zip(*entries.values()))).values())
        mem = fsdp_per_gpu_bytes(units, 8)
        assert mem["weights"] * 8 == 2 * sum(n for n, _ in entries.values())
        assert mem["master_and_adamw"] * 8 == 12 * sum(t for _, t in entries.values())
        assert mem["total"] < one_gpu
        assert mem["total"] == pytest.approx(mem["weights"] + mem["gradients"] + mem["master_and_adamw"]
                                             + mem["gathered"])
    assert fsdp_units(model, preset_parameters(model, "paper"), ["NoSuchLayer"])[1] == ["NoSuchLayer"]
    with pytest.raises(FileNotFoundError, match="fsdp_config='/no/such.yaml' is not a file"):
        read_wrap_classes("/no/such.yaml")


def test_inspect_memory_command_prints_flops_memory_and_the_llava_ratio(capsys):
    assert main(["--preset", "tiny", "--memory", "--text_tokens", "8"]) == 0
    text = capsys.readouterr().out
    assert "## FLOPs of one request" in text and "1 multiply-add = 2 FLOPs" in text
    assert "### Against LLaVA-1.5-13B" in text and "flops_ratio_vs_llava_1_5_13b=" in text
    assert "## Training memory" in text and "Activations excluded" in text
    assert "### Per GPU under FSDP full sharding on 8 GPUs" in text and "fsdp_per_gpu_paper_mib=" in text
    assert "fsdp_per_gpu_lora_mib=" in text
