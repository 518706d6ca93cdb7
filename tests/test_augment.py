import pytest
import torch

from gdd import augment


@pytest.mark.parametrize("family", augment.FAMILIES)
def test_each_family_is_differentiable_and_changes_images(family):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 3, 32, 32, requires_grad=True)
    draw = augment.sample(16, (family,), g)
    y = augment.apply(x, draw)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not torch.allclose(y, x)


@pytest.mark.parametrize("family", augment.FAMILIES)
def test_shared_draw_transforms_two_batches_identically(family):
    draw = augment.sample(8, (family,), torch.Generator().manual_seed(3))
    a = torch.rand(8, 1, 32, 32)
    assert torch.equal(augment.apply(a, draw), augment.apply(a.clone(), draw))
    b = torch.rand(8, 1, 32, 32)  # linear families: apply(a + b) == apply(a) + apply(b)
    if family in ("crop", "cutout", "flip", "scale", "rotate"):
        assert torch.allclose(augment.apply(a + b, draw), augment.apply(a, draw) + augment.apply(b, draw), atol=1e-5)


def test_parameters_are_per_sample():
    draw = augment.sample(64, ("rotate",), torch.Generator().manual_seed(0))
    assert draw.values["angle"].unique().numel() == 64
    x = torch.rand(1, 1, 32, 32).expand(64, 1, 32, 32)
    y = augment.apply(x, draw)
    assert not torch.allclose(y[0], y[1])


def test_crop_is_integer_translation():
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 10, 10] = 1.0
    draw = augment.AugDraw("crop", {"shift": torch.tensor([[3.0, -2.0]])})
    y = augment.apply(x, draw)
    assert y[0, 0, 12, 7].item() == pytest.approx(1.0, abs=1e-4) or y[0, 0, 8, 13].item() == pytest.approx(1.0, abs=1e-4)
    assert y.sum().item() == pytest.approx(1.0, abs=1e-4)


def test_no_flip_for_digits():
    assert "flip" not in augment.families_for("mnist")
    assert "flip" in augment.families_for("cifar10")


def test_cutout_hole_is_dsas_half_side_square():
    draw = augment.AugDraw("cutout", {"center": torch.tensor([[16, 16], [0, 0]]), "size": torch.tensor([16, 16])})
    holes = (augment.apply(torch.ones(2, 1, 32, 32), draw) == 0).sum((1, 2, 3))
    assert holes.tolist() == [16 * 16, 8 * 8]  # inside; clipped at the corner
    assert augment.sample(1000, ("cutout",), torch.Generator().manual_seed(0)).values["center"].max() == 32


def test_chain_applies_every_family_in_order_per_image_or_batchwise():
    g = torch.Generator().manual_seed(0)
    per_image = augment.sample_chain(8, augment.MATCH_CHAIN, g)
    assert [d.family for d in per_image] == ["color", "crop", "cutout"]
    assert per_image[1].values["shift"].unique(dim=0).shape[0] > 1
    shared = augment.sample_chain(8, augment.MATCH_CHAIN, g, per_image=False)
    assert all((v == v[:1]).all() for d in shared for v in d.values.values())  # one parameter set for all
    x = torch.rand(1, 1, 32, 32).expand(8, 1, 32, 32)
    y = augment.apply_chain(x, shared)
    assert torch.allclose(y, y[:1].expand_as(y))  # identical images stay identical under a batch-wide draw
    by_hand = x
    for d in shared:
        by_hand = augment.apply(by_hand, d)
    assert torch.equal(y, by_hand)
