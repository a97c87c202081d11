"""The region-label loss (`models/earthgptx/perception.py`): each region feature, read through the LM head, names its
object's class; off by default, added to the total loss with its weight, and its gradient reaches the towers."""

import pytest
import torch
from torch.nn import functional as F

from earthgptx_hf import EarthGPTXConfig
from earthgptx_hf.models.earthgptx.perception import region_label_loss

from .helpers import tiny_model, training_batch


def _region_labels(config, rows):
    labels = torch.full((len(rows), config.max_regions), -100, dtype=torch.long)
    for row, targets in enumerate(rows):
        labels[row, : len(targets)] = torch.tensor(targets)
    return labels


def test_off_by_default_and_targets_change_nothing_then():
    model = tiny_model()
    assert model.config.region_label_loss_weight == 0.0
    batch = training_batch(model.config)
    with torch.no_grad():
        plain = model(**batch)
        with_targets = model(**batch, region_labels=_region_labels(model.config, [[40, 41], [42]]))
    assert with_targets.region_label_loss is None and torch.equal(plain.loss, with_targets.loss)


def test_the_weighted_cross_entropy_of_the_region_features_read_through_the_lm_head():
    model = tiny_model(region_label_loss_weight=0.5)
    batch = training_batch(model.config)  # sample 0 has two prompts, sample 1 one
    targets = _region_labels(model.config, [[40, 41], [42]])
    with torch.no_grad():
        out = model(**batch, region_labels=targets)
        reference = model(**batch)
    features = torch.stack([out.region_embeds[0, 0], out.region_embeds[0, 1], out.region_embeds[1, 0]])
    expected = F.cross_entropy(model.lm_head(features), torch.tensor([40, 41, 42]))
    torch.testing.assert_close(out.region_label_loss, expected)
    torch.testing.assert_close(out.loss, reference.loss + 0.5 * expected)  # the other terms are unchanged
    assert reference.region_label_loss is None  # no targets: nothing added


def test_its_gradient_alone_reaches_the_region_pooling_and_the_towers():
    model = tiny_model(region_label_loss_weight=1.0).train()
    batch = training_batch(model.config)
    out = model(**batch, region_labels=_region_labels(model.config, [[40, 41], [42]]))
    out.region_label_loss.backward()
    for name, module in (("region projector", model.model.region_projector), ("vision tower", model.model.vision_tower),
                         ("spatial-aware encoder", model.model.spatial_aware_encoder)):
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads), name


def test_training_on_it_teaches_the_features_their_classes():
    """A few steps on the region-label loss alone: two prompts of one sample learn two different target tokens."""
    torch.manual_seed(0)
    model = tiny_model(region_label_loss_weight=1.0).train()
    batch = training_batch(model.config)
    targets = _region_labels(model.config, [[40, 41], [42]])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        optimizer.zero_grad()
        loss = model(**batch, region_labels=targets).region_label_loss
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        out = model(**batch, region_labels=targets)
    predicted = model.lm_head(out.region_embeds).argmax(-1)
    assert predicted[0, :2].tolist() == [40, 41] and predicted[1, 0].item() == 42


def test_no_target_gives_no_loss_and_a_bad_shape_is_refused():
    embeds = torch.randn(2, 4, 8)
    head = torch.nn.Linear(8, 50, bias=False)
    assert region_label_loss(head, embeds, torch.full((2, 4), -100)) is None
    for shape in ((3, 4), (2, 5), (8,)):
        with pytest.raises(ValueError, match=r"region_labels has shape .*expected \(batch, regions\)"):
            region_label_loss(head, embeds, torch.zeros(shape, dtype=torch.long))


@pytest.mark.parametrize("weight", [-0.1, float("nan"), True, "1"])
def test_a_bad_weight_is_refused(weight):
    with pytest.raises(ValueError, match=r"region_label_loss_weight=.* must be a finite number at least 0"):
        EarthGPTXConfig.from_preset("tiny", region_label_loss_weight=weight)
