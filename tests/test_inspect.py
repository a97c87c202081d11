"""Paper scale on the meta device: the towers equal the reference architectures as transformers builds them."""

import torch

from earthgptx_hf.inspect import (
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
