"""Gradient checkpointing, attention implementations and bf16."""

import torch
from transformers import AutoModelForImageTextToText

from earthgptx_hf.training.activation_checkpointing import enable_activation_checkpointing, is_activation_checkpointing

from .helpers import tiny_model, training_batch


def _grads(model, batch):
    model.zero_grad()
    out = model(**batch)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_gives_the_same_gradients():
    model = tiny_model().train()
    batch = training_batch(model.config)
    loss, grads = _grads(model, batch)
    enable_activation_checkpointing(model, use_reentrant=False)
    assert is_activation_checkpointing(model)
    loss_gc, grads_gc = _grads(model, batch)
    torch.testing.assert_close(loss, loss_gc)
    assert grads.keys() == grads_gc.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], grads_gc[name], atol=1e-5, rtol=1e-4, msg=name)


def test_sdpa_and_eager_attention_agree(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    batch = {k: v for k, v in training_batch(tiny_model().config).items() if k not in ("labels", "gt_masks")}
    logits = {}
    for implementation in ("eager", "sdpa"):
        model = AutoModelForImageTextToText.from_pretrained(tmp_path, attn_implementation=implementation).eval()
        assert model.model.language_model.config._attn_implementation == implementation
        assert model.model.vision_tower.dino.config._attn_implementation == implementation
        with torch.no_grad():
            logits[implementation] = model(**batch).logits
    mask = batch["attention_mask"].bool()
    torch.testing.assert_close(logits["eager"][mask], logits["sdpa"][mask], atol=1e-4, rtol=1e-4)


def test_bf16_forward_backward_and_generate():
    model = tiny_model().to(torch.bfloat16).train()
    batch = training_batch(model.config)
    out = model(**batch)
    assert out.logits.dtype == torch.bfloat16
    assert torch.isfinite(out.loss) and torch.isfinite(out.mask_dice_loss)
    out.loss.backward()
    assert model.model.hybrid_fusion.cross_attention.attention.q_proj.weight.grad.dtype == torch.bfloat16
    model.eval()
    gen = model.generate(
        **{k: v for k, v in batch.items() if k not in ("labels", "gt_masks")},
        max_new_tokens=3, do_sample=False, pad_token_id=0, return_dict_in_generate=True,
    )
    assert gen.sequences.shape[0] == 2 and len(gen.pred_masks) == 2
