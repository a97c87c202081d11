"""Mask scores (SAM's IoU head trained against the true IoU) and the multimask option (issue 16)."""

import pytest
import torch
from torch.nn import functional as F

from earthgptx_hf import EarthGPTXConfig
from earthgptx_hf.models.earthgptx.perception import candidate_losses, per_mask_losses

from .helpers import tiny_model, training_batch
from .test_generation import PROMPTS, _batch, _generate


def _reference_single_mask(model, batch):
    """Today's single-mask path, written out: SAM's decoder with `multimask_output=False` and LISA's losses."""
    perception, sam = model.pixel_perception, model.pixel_perception.grounding_model
    with torch.no_grad():
        hidden = model(**{k: v for k, v in batch.items() if k not in ("labels", "gt_masks")},
                       output_hidden_states=True).hidden_states[-1]
        embeddings = perception.encode_image(batch["sam_pixel_values"])
        ids = batch["input_ids"]
        masks, scores = [], []
        for b in range(ids.shape[0]):
            states = hidden[b, torch.nonzero(ids[b] == model.config.pix_token_id).flatten() - 1]
            n = states.shape[0]
            prompt = perception.text_to_pixel(states)
            logits, iou = sam.mask_decoder(
                image_embeddings=embeddings[b : b + 1].expand(n, -1, -1, -1),
                image_positional_embeddings=sam.get_image_wide_positional_embeddings().expand(n, -1, -1, -1),
                sparse_prompt_embeddings=prompt[:, None, None, :],
                dense_prompt_embeddings=sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
                + prompt[:, :, None, None],
                multimask_output=False,
            )
            masks.append(logits[:, 0, 0])
            scores.append(iou[:, 0, 0])
    pred = torch.cat(masks).float()
    gt = batch["gt_masks"].float()
    pred = F.interpolate(pred[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    bce = F.binary_cross_entropy_with_logits(pred, gt, reduction="none").flatten(1).mean(1).mean()
    prob, flat = pred.sigmoid().flatten(1), gt.flatten(1)
    dice = (1 - (2 * (prob / 1000 * flat).sum(-1) + 1e-6) / ((prob / 1000).sum(-1) + (flat / 1000).sum(-1) + 1e-6))
    inter = ((pred.flatten(1) > 0) & (flat > 0.5)).sum(-1).float()
    union = ((pred.flatten(1) > 0) | (flat > 0.5)).sum(-1).float()
    return masks, scores, bce, dice.mean(), torch.cat(scores), inter / union


def test_the_default_is_the_papers_single_mask_path_with_its_numbers():
    model = tiny_model()
    assert model.config.multimask_output is False and model.config.iou_loss_weight == 1.0
    batch = training_batch(model.config)
    masks, scores, bce, dice, all_scores, true_iou = _reference_single_mask(model, batch)
    with torch.no_grad():
        out = model(**batch)
    for got, want in zip(out.pred_masks, masks):
        assert torch.equal(got, want)
    for got, want in zip(out.pred_scores, scores):
        assert torch.equal(got, want) and got.shape == (want.shape[0],)
    assert torch.equal(out.mask_bce_loss, bce) and torch.equal(out.mask_dice_loss, dice)
    torch.testing.assert_close(out.mask_iou_loss, F.mse_loss(all_scores, true_iou))
    c = model.config
    torch.testing.assert_close(out.loss, c.ce_loss_weight * out.lm_loss + c.bce_loss_weight * bce
                               + c.dice_loss_weight * dice + c.iou_loss_weight * out.mask_iou_loss)


def test_true_iou_is_measured_at_the_ground_truths_size_and_detached():
    logits = torch.full((3, 4, 4), -5.0, requires_grad=True)
    with torch.no_grad():
        logits[0, :2] = 5.0  # top half: IoU 1 with a top-half ground truth
        logits[1, :, :1] = 5.0  # left quarter vs the top half: 2 / 10
    gt = torch.zeros(3, 8, 8)
    gt[:2, :4] = 1  # top half at the ground truth's size; mask 2: empty prediction, empty truth -> 1
    _, _, iou = per_mask_losses(logits, gt)
    assert not iou.requires_grad
    torch.testing.assert_close(iou, torch.tensor([1.0, 2 / 10, 1.0]), atol=0.02, rtol=0)


def test_the_iou_loss_weight_enters_the_total_and_old_configs_load():
    batch = training_batch(tiny_model().config)
    with torch.no_grad():
        weighted = tiny_model()(**batch)
        unweighted = tiny_model(iou_loss_weight=0.0)(**batch)
    torch.testing.assert_close(weighted.loss - unweighted.loss, weighted.mask_iou_loss)
    saved = tiny_model().config.to_dict()
    for key in ("iou_loss_weight", "multimask_output"):
        saved.pop(key)
    old = EarthGPTXConfig.from_dict(saved)
    assert old.iou_loss_weight == 1.0 and old.multimask_output is False
    with pytest.raises(ValueError, match=r"iou_loss_weight=-1.0 must be a finite number at least 0"):
        tiny_model(iou_loss_weight=-1.0)


@pytest.mark.parametrize("preset", ["paper", "lora"])
def test_the_iou_head_learns_in_the_presets(preset):
    model = tiny_model().train()
    trained = model.set_trainable(preset)
    out = trained(**training_batch(model.config))
    out.mask_iou_loss.backward()
    head = [(n, p) for n, p in trained.named_parameters() if "iou_prediction_head" in n and p.requires_grad]
    assert head and all("mask_decoder" in n for n, _ in head)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for _, p in head)
    # the IoU loss trains the mask path (SAM's decoder, R_lp, the LLM's hidden states), never the LM head
    assert all(p.grad is None for n, p in trained.named_parameters() if "lm_head" in n)


def test_multimask_keeps_the_candidate_with_the_best_predicted_iou():
    model = tiny_model(multimask_output=True)
    batch = training_batch(model.config)
    inference = {k: v for k, v in batch.items() if k not in ("labels", "gt_masks")}
    with torch.no_grad():
        hidden = model(**inference, output_hidden_states=True).hidden_states[-1]
        positions = [torch.nonzero(r == model.config.pix_token_id).flatten() - 1 for r in batch["input_ids"]]
        candidates, scores = model.pixel_perception.predict_masks(hidden, positions, batch["sam_pixel_values"],
                                                                  multimask_output=True, candidates=True)
        out = model(**batch)
    assert [c.shape[1] for c in candidates] == [3, 3] and [s.shape for s in scores] == [(1, 3), (2, 3)]
    for got, got_score, cands, cand_scores in zip(out.pred_masks, out.pred_scores, candidates, scores):
        best = cand_scores.argmax(1)
        assert torch.equal(got, cands[torch.arange(len(best)), best])
        assert torch.equal(got_score, cand_scores.max(1).values)
    # training: the mask loss of the candidate with the lowest loss; the IoU head learns on all three
    bce, dice, iou_loss = candidate_losses(torch.cat(candidates), torch.cat(scores), batch["gt_masks"], 2.0, 0.5)
    torch.testing.assert_close(out.mask_bce_loss, bce)
    per_bce, per_dice, true_iou = per_mask_losses(torch.cat(candidates).flatten(0, 1),
                                                  batch["gt_masks"].repeat_interleave(3, dim=0))
    weighted = (2.0 * per_bce + 0.5 * per_dice).reshape(3, 3)
    pick = weighted.argmin(1)
    torch.testing.assert_close(bce, per_bce.reshape(3, 3)[torch.arange(3), pick].mean())
    torch.testing.assert_close(dice, per_dice.reshape(3, 3)[torch.arange(3), pick].mean())
    torch.testing.assert_close(iou_loss, F.mse_loss(torch.cat(scores).flatten(), true_iou))
    assert bce <= per_bce.reshape(3, 3).mean(1).mean() + 1e-6


@pytest.mark.parametrize("multimask", [False, True])
def test_generate_returns_one_score_per_mask(multimask):
    model = tiny_model(multimask_output=multimask)
    pix = model.config.pix_token_id
    ids, mask, vis = _batch(model.config, PROMPTS)
    out = _generate(model, ids, mask, vis, schedule={(0, 1): pix, (0, 3): pix, (2, 0): pix})
    assert [s.shape for s in out.pred_scores] == [(2,), (0,), (1,)]
    full_mask = torch.cat([mask, torch.ones_like(out.sequences[:, ids.shape[1]:])], dim=1)
    with torch.no_grad():
        reference = model(input_ids=out.sequences, attention_mask=full_mask, **vis)
    for got, want in zip(out.pred_scores, reference.pred_scores):
        if got.shape[0]:
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
