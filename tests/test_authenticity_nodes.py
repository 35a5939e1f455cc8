"""The CombinedLoss nodes: typed lists and connected scores give the library's values; a bar picture."""

from __future__ import annotations

import importlib

import pytest
import torch

from comfy_editloss import losses as L

DEFAULTS = dict(regression_weight=1.0, classification_weight=0.3, ranking_weight=0.2, regression_type="mse", margin=0.5, focal_gamma=0.0)


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def Scores(pack):
    import importlib

    return importlib.import_module(pack.__name__ + ".comfy_editloss.types").Scores


def test_typed_lists_give_the_librarys_terms(nodes):
    total, reg, cls, rank, report = nodes["EditLossCombinedLoss"]().compute("0.9, 0.2, 0.7", "-2 2; 1 -1\n0 0.5", "1 0 1", **DEFAULTS)
    expected = L.CombinedLoss()(torch.tensor([0.9, 0.2, 0.7]), torch.tensor([[-2.0, 2.0], [1.0, -1.0], [0.0, 0.5]]), torch.tensor([1.0, 0.0, 1.0]))[1]
    assert (total, reg, cls, rank) == pytest.approx((expected["total"], expected["regression"], expected["classification"], expected["ranking"]))
    assert "ranking_pairs 2" in report


def test_connected_scores_and_the_focal_form(nodes, Scores):
    scores = Scores("authenticity", torch.tensor([0.8, 0.6, 0.1]), lower_is_better=False)
    labels = Scores("labels", torch.tensor([1.0, 1.0, 1.0]))
    margins = Scores("logit", torch.tensor([2.0, -1.0, 0.5]))
    total, _, cls, rank, report = nodes["EditLossCombinedLoss"]().compute("", "", "", **{**DEFAULTS, "focal_gamma": 2.0}, scores=scores, logits=margins, labels=labels)
    logits = torch.tensor([[0.0, 2.0], [0.0, -1.0], [0.0, 0.5]])
    expected = L.FocalCombinedLoss(gamma=2.0)(scores.values, logits, labels.values)[1]
    assert total == pytest.approx(expected["total"]) and cls == pytest.approx(expected["classification"])
    assert rank == 0.0 and "no real x fake pair in this batch: ranking is 0" in report


@pytest.mark.parametrize(
    "texts,message",
    [
        (("0.9, x", "0 1; 0 1", "1 0"), r"^scores_text must be a list of numbers such as '0\.9, 0\.1, 0\.75', got 'x' in '0\.9, x'$"),
        (("0.9, 0.1", "0 1 2; 0 1", "1 0"), r"^logits_text must hold one pair 'fake real' per sample, separated by ';' \(e\.g\. '-2 2; 1\.5 -1'\), but entry 0 is '0 1 2'$"),
        (("0.9, 0.1", "0 1; 0 1", "1"), r"^labels has 1 samples but scores has 2: give one per sample$"),
        (("", "0 1", "1"), r"^scores: connect an EDITLOSS_SCORES or type the values in scores_text"),
        (("0.9, 0.1", "0 1; 0 1", "1 2"), r"^labels must lie in \[0, 1\] \(1 = real\), got values from 1 to 2$"),
    ],
)
def test_node_errors_name_the_widget(nodes, texts, message):
    with pytest.raises(ValueError, match=message):
        nodes["EditLossCombinedLoss"]().compute(*texts, **DEFAULTS)


def test_the_plot_draws_a_bar_per_term_and_sample(nodes):
    (picture,) = nodes["EditLossCombinedLossPlot"]().draw("0.9, 0.2, 0.7, 0.4", "-2 2; 1 -1; 0 0.5; 0 0", "1 0 1 0", **DEFAULTS)
    assert picture.shape == (1, 360, 720, 3) and 0 <= float(picture.min()) and float(picture.max()) <= 1
    colours = {tuple((torch.tensor(c) / 255).tolist()) for c in ((31, 119, 180), (230, 110, 20), (148, 103, 189))}
    found = {c for c in colours if ((picture[0] - torch.tensor(c)).abs().max(dim=-1).values < 0.01).any()}
    assert found == colours


@pytest.mark.parametrize("focal_gamma", [0.0, 2.0])
def test_the_plot_draws_the_losss_own_per_sample_terms(nodes, pack, monkeypatch, focal_gamma):
    """The plot has no formula of its own: it draws per_sample_terms of the loss the other node
    computes, whose means are that node's terms (the focal form included)."""
    drawn = {}

    def capture(per_sample, weights, labels, scores):
        drawn.update(per_sample)
        return torch.zeros(1, 1, 1, 3)

    monkeypatch.setattr(importlib.import_module(pack.__name__ + ".nodes.authenticity"), "terms_picture", capture)
    texts = ("0.9, 0.2, 0.7, 0.4", "-2 2; 0.3 -0.2; 0 0.5; 0.4 0", "1 0 1 0")
    options = {**DEFAULTS, "focal_gamma": focal_gamma}
    nodes["EditLossCombinedLossPlot"]().draw(*texts, **options)
    _, regression, classification, ranking, _ = nodes["EditLossCombinedLoss"]().compute(*texts, **options)
    for term, value in (("regression", regression), ("classification", classification), ("ranking", ranking)):
        assert float(drawn[term].mean()) == pytest.approx(value, rel=1e-6), term
    scores, logits, labels = torch.tensor([0.9, 0.2, 0.7, 0.4]), torch.tensor([[-2.0, 2.0], [0.3, -0.2], [0.0, 0.5], [0.4, 0.0]]), torch.tensor([1.0, 0, 1, 0])
    loss = L.FocalCombinedLoss(gamma=focal_gamma) if focal_gamma else L.CombinedLoss()
    for term, values in loss.per_sample_terms(scores, logits, labels).items():
        assert torch.allclose(drawn[term], values), term
