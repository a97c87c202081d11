import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from earthgptx_hf import EarthGPTXGenerateOutput

from .helpers import left_pad, sample_ids, tiny_model, visual_inputs


class ForceTokens(LogitsProcessor):
    """Forces `schedule[(row, step)]` as the token generated at `step` in batch row `row`."""

    def __init__(self, prompt_length: int, schedule: dict[tuple[int, int], int]):
        self.prompt_length, self.schedule = prompt_length, schedule

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.prompt_length
        for (row, at), token in self.schedule.items():
            if at == step:
                scores[row] = -float("inf")
                scores[row, token] = 0.0
        return scores


PROMPTS = [(2, [10, 11, 12]), (1, [13, 14]), (3, [15])]


def _batch(config, rows):
    ids, mask = left_pad([sample_ids(config, n, text)[0] for n, text in rows], pad_id=0)
    vis = visual_inputs(config, [n for n, _ in rows])
    return ids, mask, vis


def _generate(model, ids, mask, vis, schedule=None, **kwargs):
    processors = LogitsProcessorList([ForceTokens(ids.shape[1], schedule)]) if schedule else None
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 0, "return_dict_in_generate": True, **kwargs}
    return model.generate(input_ids=ids, attention_mask=mask, logits_processor=processors, **vis, **kwargs)


def test_generate_without_pix_returns_text_and_no_masks():
    model = tiny_model()
    ids, mask, vis = _batch(model.config, PROMPTS[:2])
    no_pix = [model.config.pix_token_id]  # the random model could emit [PIX] by chance
    plain = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=5, do_sample=False, pad_token_id=0,
                           suppress_tokens=no_pix, **{k: v for k, v in vis.items() if k != "sam_pixel_values"})
    assert plain.shape == (2, ids.shape[1] + 5)
    out = _generate(model, ids, mask, vis, suppress_tokens=no_pix)
    assert isinstance(out, EarthGPTXGenerateOutput)
    assert torch.equal(out.sequences[:, : plain.shape[1]], plain)
    assert all(m.shape[0] == 0 for m in out.pred_masks)


def test_generated_pix_masks_equal_a_full_forward_pass():
    model = tiny_model()
    pix = model.config.pix_token_id
    ids, mask, vis = _batch(model.config, PROMPTS)
    out = _generate(model, ids, mask, vis, schedule={(0, 1): pix, (0, 3): pix, (2, 0): pix})
    assert [m.shape[0] for m in out.pred_masks] == [2, 0, 1]
    size = model.pixel_perception.low_res_mask_size
    assert out.pred_masks[0].shape == (2, size, size)
    # the same masks from one forward pass over the generated sequences (positions before each generated [PIX])
    full_mask = torch.cat([mask, (out.sequences[:, ids.shape[1]:] != -1).long()], dim=1)
    with torch.no_grad():
        reference = model(input_ids=out.sequences, attention_mask=full_mask, **vis)
    prompt_pix = [(ids[b] == pix).sum() for b in range(3)]
    assert all(int(n) == 0 for n in prompt_pix)
    for got, want in zip(out.pred_masks, reference.pred_masks or [None] * 3):
        if got.shape[0]:
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_visual_inputs_are_used_only_at_prefill_and_the_cache_is_used():
    model = tiny_model()
    ids, mask, vis = _batch(model.config, PROMPTS[:2])
    calls = {"vision": 0, "sam": 0, "lengths": []}
    h1 = model.model.vision_tower.register_forward_hook(lambda *a: calls.__setitem__("vision", calls["vision"] + 1))
    h2 = model.pixel_perception.grounding_model.vision_encoder.register_forward_hook(
        lambda *a: calls.__setitem__("sam", calls["sam"] + 1))
    h3 = model.model.language_model.register_forward_pre_hook(
        lambda mod, args, kwargs: calls["lengths"].append(kwargs["inputs_embeds"].shape[1]), with_kwargs=True)
    try:
        _generate(model, ids, mask, vis, schedule={(0, 2): model.config.pix_token_id})
    finally:
        for h in (h1, h2, h3):
            h.remove()
    assert calls["vision"] == 1
    assert calls["sam"] == 1  # the grounding encoder runs once, after generation, for the row with [PIX]
    assert calls["lengths"][0] == ids.shape[1] and set(calls["lengths"][1:]) == {1}


def test_batched_left_padded_generation_equals_one_by_one():
    model = tiny_model()
    pix = model.config.pix_token_id
    schedule = {0: {1: pix}, 1: {}, 2: {0: pix, 2: pix}}
    ids, mask, vis = _batch(model.config, PROMPTS)
    batched = _generate(model, ids, mask, vis,
                        schedule={(row, step): tok for row, s in schedule.items() for step, tok in s.items()})
    for row, (n, text) in enumerate(PROMPTS):
        one_ids, one_mask, _ = _batch(model.config, [(n, text)])
        one_vis = {k: v[row : row + 1] for k, v in vis.items()}
        single = _generate(model, one_ids, one_mask, one_vis,
                           schedule={(0, step): tok for step, tok in schedule[row].items()})
        new_batched = batched.sequences[row, ids.shape[1]:]
        new_single = single.sequences[0, one_ids.shape[1]:]
        assert torch.equal(new_batched[: len(new_single)], new_single)
        torch.testing.assert_close(batched.pred_masks[row], single.pred_masks[0], atol=1e-4, rtol=1e-4)


def test_num_return_sequences_repeats_the_sam_views():
    model = tiny_model()
    ids, mask, vis = _batch(model.config, PROMPTS[:1])
    out = _generate(model, ids, mask, vis, schedule={(1, 0): model.config.pix_token_id}, num_return_sequences=2,
                    do_sample=True)
    assert [m.shape[0] for m in out.pred_masks] == [0, 1]


def test_beam_search_with_masks_is_refused_clearly():
    model = tiny_model()
    ids, mask, vis = _batch(model.config, PROMPTS[:1])
    with pytest.raises(ValueError, match="num_beams=1"):
        _generate(model, ids, mask, vis, num_beams=2)
