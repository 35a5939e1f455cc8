"""nn.Module twins equal the functions; docstring examples run."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

from comfy_editloss import losses as L


def _data():
    g = torch.Generator().manual_seed(0)
    make = lambda: torch.randn(3, 4, 6, generator=g, dtype=torch.float64)  # noqa: E731
    a, p, n1, n2 = make(), make(), make(), make()
    mask = torch.rand(3, 4, generator=g, dtype=torch.float64) + 0.1
    weights = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    return a, p, n1, n2, mask, weights


def test_modules_equal_their_functions():
    a, p, n1, n2, mask, w = _data()
    y = torch.tensor([1.0, 0.0, 1.0])
    pairs = [
        (L.FeatureMatchLoss("l1", "max", "sum")(a, p, w, mask), L.feature_match_loss(a, p, "l1", "max", "sum", w, mask)),
        (L.GeometryMatchLoss()(a, p, mask=mask), L.loss_geometry_match(a, p, mask=mask)),
        (L.ContrastivePairLoss(2.0, "cos")(a, p, y, w), L.contrastive_pair_loss(a, p, y, 2.0, "cos", weights=w)),
        (L.TripletMarginLoss(0.5, "l2")(a, p, n1, mask=mask), L.triplet_margin_loss(a, p, n1, 0.5, "l2", mask=mask)),
        (L.NoEditIdentityLoss(0.3)(a, p, n1), L.loss_no_edit_identity(a, p, n1, 0.3)),
        (L.OverlayAvoidanceLoss(reduction="none")(a, p, n2), L.loss_overlay_avoidance(a, p, n2, reduction="none")),
        (L.MarginRankingOnDistancesLoss(0.1)(a[:, 0, 0], p[:, 0, 0], w), L.margin_ranking_on_distances(a[:, 0, 0], p[:, 0, 0], 0.1, weights=w)),
        (L.MultiNegativeRankingLoss(neg_agg="logsumexp", neg_temperature=0.2)(a, p, [n1, n2], mask=mask),
         L.multi_negative_ranking_loss(a, p, [n1, n2], neg_agg="logsumexp", neg_temperature=0.2, mask=mask)),
        (L.InfoNCELoss(0.5, symmetric=True)(a, p), L.info_nce_loss(a, p, temperature=0.5, symmetric=True)),
        (L.InfoNCELoss(0.5, agg="max")(a, p, [n1, n2], w, mask), L.info_nce_loss(a, p, [n1, n2], 0.5, agg="max", weights=w, mask=mask)),
    ]
    for module_value, function_value in pairs:
        assert torch.equal(module_value, function_value)


def test_modules_check_their_options_when_built():
    with pytest.raises(ValueError, match=r"^margin must be >= 0\.0, got -1\.0$"):
        L.NoEditIdentityLoss(margin=-1.0)
    with pytest.raises(ValueError, match=r"^neg_agg must be one of"):
        L.MultiNegativeRankingLoss(neg_agg="median")
    with pytest.raises(TypeError, match=r"^symmetric must be True or False"):
        L.InfoNCELoss(symmetric=1)
    assert repr(L.GeometryMatchLoss()) == "GeometryMatchLoss(kind='l2', agg='mean', reduction='mean')"


def test_modules_backpropagate():
    a, p, n1, _, _, _ = _data()
    a.requires_grad_()
    L.NoEditIdentityLoss(margin=2.0)(a, p, n1).backward()
    assert a.grad is not None and torch.count_nonzero(a.grad) > 0


@pytest.mark.parametrize(
    "module",
    ["comfy_editloss.losses.embedding", "comfy_editloss.losses.reduction", "comfy_editloss.losses.distances", "comfy_editloss.losses.modules", "comfy_editloss.losses.texture"],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
