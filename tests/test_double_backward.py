"""Second derivatives (``create_graph=True``: gradient penalties, meta-learning) of every loss with a
hand-written backward, checked by float64 gradgradcheck, and equal to plain autograd's."""

from __future__ import annotations

import pytest
import torch

from comfy_editloss import losses as L


def _rand(*shape, seed=0, requires_grad=True):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=torch.float64).requires_grad_(requires_grad)


EMBEDDING = [
    ("feature_match l2", lambda a, b: L.feature_match_loss(a, b, "l2")),
    ("feature_match l1", lambda a, b: L.feature_match_loss(a, b, "l1")),
    ("feature_match euclidean", lambda a, b: L.feature_match_loss(a, b, "euclidean", agg="max")),
    ("geometry cos", lambda a, b: L.loss_geometry_match(a, b, "cos")),
    ("triplet euclidean", lambda a, b: L.triplet_margin_loss(a, b, b.flip(0), margin=2.0, dist="euclidean")),
    ("contrastive l2", lambda a, b: L.contrastive_pair_loss(a, b, torch.tensor([1.0, 0.0]), margin=5.0)),
]


@pytest.mark.parametrize("name,fn", EMBEDDING, ids=[e[0] for e in EMBEDDING])
def test_embedding_losses_have_second_derivatives(name, fn):
    a, b = _rand(2, 3, 5, seed=1), _rand(2, 3, 5, seed=2)
    assert torch.autograd.gradgradcheck(fn, (a, b))


TEXTURE = [
    ("spectral", lambda p, t: L.spectral_period_loss(p, t, r_bins=8)),
    ("log_polar", lambda p, t: L.log_polar_align_loss(p, t, out_r=6, out_t=8)),
    ("scale_consistency", lambda p, t: L.scale_consistency_loss(p, t, r_bins=8)),
    ("acf", lambda p, t: L.acf_period_loss(p, t, r_bins=8)),
]


@pytest.mark.parametrize("name,fn", TEXTURE, ids=[e[0] for e in TEXTURE])
def test_texture_losses_have_second_derivatives(name, fn):
    pred, target = _rand(1, 1, 10, 13, seed=3), _rand(1, 1, 10, 13, seed=4)
    assert torch.autograd.gradgradcheck(fn, (pred, target), atol=1e-4)


@pytest.mark.parametrize("options", [dict(beta=0.5), dict(beta=0.0, outside_dilate_r=2), dict(sample_weighting="samples")], ids=str)
def test_the_depth_loss_has_second_derivatives_even_with_invalid_pixels(options):
    pred, target = _rand(2, 1, 9, 11, seed=5), _rand(2, 1, 9, 11, seed=6)
    mask = (_rand(2, 1, 9, 11, seed=7, requires_grad=False) > 0.5).double()
    broken = target.detach().clone()
    broken[1, 0, 4, 4] = float("nan")
    for reference in (target, broken):
        assert torch.autograd.gradgradcheck(lambda p, t=reference: L.depth_consistency_loss(p, t, mask, **options).total, (pred,))


def test_a_gradient_penalty_equals_the_one_of_plain_autograd():
    # || d loss / d pred ||^2 as a loss of its own: its gradient goes through the backward pass.
    pred, target = _rand(3, 4, 6, seed=8), _rand(3, 4, 6, seed=9, requires_grad=False)
    (grad,) = torch.autograd.grad(L.feature_match_loss(pred, target, "l2"), pred, create_graph=True)
    (ours,) = torch.autograd.grad(grad.square().sum(), pred)
    plain = lambda p: (p - target).square().sum(-1).mean(1).mean()  # noqa: E731
    (grad_plain,) = torch.autograd.grad(plain(pred), pred, create_graph=True)
    (expected,) = torch.autograd.grad(grad_plain.square().sum(), pred)
    torch.testing.assert_close(grad, grad_plain)
    torch.testing.assert_close(ours, expected)
    assert ours.abs().max() > 1e-3
