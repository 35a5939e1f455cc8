"""The authenticity scorer's CombinedLoss (seed 002): terms against plain loops, the sort-based ranking
term against the double loop over real x fake pairs, the seed's extension points, errors, fail-fast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from comfy_editloss import losses as L


def double_loop_ranking(scores: torch.Tensor, labels: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """The seed's definition, written out: every real x fake pair, max(0, margin - (s_r - s_f))."""
    total, pairs = scores.sum() * 0, 0
    for i in range(scores.shape[0]):
        if labels[i] > 0.5:
            for j in range(scores.shape[0]):
                if labels[j] <= 0.5:
                    total = total + torch.relu(margin - (scores[i] - scores[j]))
                    pairs += 1
    return total / pairs if pairs else total


def reference_terms(scores, logits, labels, regression_type="mse"):
    n = scores.shape[0]
    reg = sum(((scores[i] - labels[i]) ** 2 if regression_type == "mse" else F.smooth_l1_loss(scores[i], labels[i].to(scores.dtype))) for i in range(n)) / n
    cls = sum(-torch.log_softmax(logits[i], 0)[int(labels[i] > 0.5)] for i in range(n)) / n
    return reg, cls, double_loop_ranking(scores, labels)


BATCHES = {
    "balanced": ([0.9, 0.1, 0.8, 0.3, 0.6, 0.45], [1, 0, 1, 0, 1, 0]),
    "unbalanced": ([0.9, 0.1, 0.2, 0.3, 0.95, 0.45, 0.05], [1, 0, 0, 0, 0.9, 0.2, 0.0]),
    "only real": ([0.9, 0.7, 0.8], [1, 0.8, 0.6]),
    "only fake": ([0.1, 0.7, 0.2], [0, 0.5, 0.3]),
    "tied": ([0.5, 0.5, 0.5, 0.0, 0.5, 1.0], [1, 0, 1, 0, 0, 1]),
    "on the hinge": ([1.0, 0.5, 0.75, 0.25], [1, 0, 1, 0]),  # r - f == margin exactly
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(BATCHES))
@pytest.mark.parametrize("regression_type", ["mse", "smoothl1"])
def test_terms_values_and_gradients_equal_plain_loops(name, dtype, regression_type):
    values, labels = BATCHES[name]
    g = torch.Generator().manual_seed(len(values))
    scores = torch.tensor(values, dtype=dtype, requires_grad=True)
    logits = torch.randn(len(values), 2, generator=g, dtype=dtype, requires_grad=True)
    labels = torch.tensor(labels, dtype=dtype)
    loss = L.CombinedLoss(regression_type=regression_type)
    total, terms = loss(scores, logits, labels)
    reg, cls, rank = reference_terms(scores, logits, labels, regression_type)
    expected = 1.0 * reg + 0.3 * cls + 0.2 * rank
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    reg_value, cls_value, rank_value = (float(t.detach()) for t in (reg, cls, rank))
    assert terms["regression"] == pytest.approx(reg_value, abs=tol)
    assert terms["classification"] == pytest.approx(cls_value, abs=tol)
    assert terms["ranking"] == pytest.approx(rank_value, abs=tol)
    assert terms["total"] == pytest.approx(float(expected.detach()), abs=tol) and total.dtype == dtype
    ours = torch.autograd.grad(total, (scores, logits))
    reference = torch.autograd.grad(expected, (scores, logits))
    for a, b in zip(ours, reference):
        assert torch.allclose(a, b, atol=tol)
    n_real = int((labels > 0.5).sum())
    assert terms["ranking_pairs"] == n_real * (len(values) - n_real)
    if n_real in (0, len(values)):
        assert terms["ranking"] == 0.0


@given(
    real=st.lists(st.floats(-3, 3, width=32), min_size=0, max_size=25),
    fake=st.lists(st.floats(-3, 3, width=32), min_size=0, max_size=25),
    margin=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    quantise=st.booleans(),
)
def test_the_sorted_ranking_equals_the_double_loop_with_gradients(real, fake, margin, quantise):
    if quantise:  # many ties and exact hinges
        real, fake = [round(v * 4) / 4 for v in real], [round(v * 4) / 4 for v in fake]
    scores = torch.tensor(real + fake, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1.0] * len(real) + [0.0] * len(fake), dtype=torch.float64)
    ours = L.pairwise_margin_ranking(scores[: len(real)], scores[len(real) :], margin)
    reference = double_loop_ranking(scores, labels, margin)
    assert float(ours.detach()) == pytest.approx(float(reference.detach()), abs=1e-12)
    if real and fake:
        (a,) = torch.autograd.grad(ours, scores)
        (b,) = torch.autograd.grad(reference, scores)
        assert torch.allclose(a, b, atol=1e-12)


def test_the_ranking_term_is_symmetric_under_permutation_and_float64_gradcheck():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(7, generator=g, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r, f: L.pairwise_margin_ranking(r, f, 0.5), (real, fake))
    perm = torch.randperm(7, generator=g)
    with torch.no_grad():
        assert float(L.pairwise_margin_ranking(real[perm], fake, 0.5)) == pytest.approx(float(L.pairwise_margin_ranking(real, fake, 0.5)), abs=1e-14)
    scores = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(6, 2, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, 0, 1, 0, 0.7, 0.2], dtype=torch.float64)
    for loss in (L.CombinedLoss(), L.FocalCombinedLoss(gamma=1.5, regression_type="smoothl1")):
        assert torch.autograd.gradcheck(lambda s, z: loss(s, z, labels)[0], (scores, logits))


def test_a_large_batch_is_exact_without_the_pair_matrix():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(3000, generator=g), torch.randn(2000, generator=g) - 0.3
    matrix = torch.relu(0.5 - (real.double()[:, None] - fake.double()[None, :])).mean()
    assert float(L.pairwise_margin_ranking(real, fake)) == pytest.approx(float(matrix), rel=1e-6)


def test_focal_form_matches_the_seed_and_down_weights_easy_samples():
    logits = torch.tensor([[-4.0, 4.0], [0.2, -0.1], [3.0, -3.0], [0.0, 0.5]])
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    scores = torch.tensor([0.9, 0.4, 0.1, 0.6])
    focal = L.FocalCombinedLoss(gamma=2.0)
    _, terms = focal(scores, logits, labels)
    ce = F.cross_entropy(logits, labels.long(), reduction="none")
    assert terms["classification"] == pytest.approx(float(((1 - torch.exp(-ce)) ** 2 * ce).mean()), rel=1e-6)
    assert terms["classification"] < L.CombinedLoss()(scores, logits, labels)[1]["classification"]
    assert L.FocalCombinedLoss(gamma=0.0)(scores, logits, labels)[1]["classification"] == pytest.approx(float(ce.mean()), rel=1e-6)


class AbsoluteRegression(L.CombinedLoss):
    """A user's subclass that changes one term, per sample, as the extension point asks."""

    def _regression_per_sample(self, scores, labels):
        return (scores - labels.to(scores.dtype)).abs()


def _hinge_share(scores, labels, i, margin=0.5):
    """Sample i's mean hinge over the other class, written out (0 without a pair)."""
    others = [j for j in range(len(labels)) if (labels[j] > 0.5) != (labels[i] > 0.5)]
    sign = 1 if labels[i] > 0.5 else -1
    return sum(max(0.0, margin - sign * (float(scores[i]) - float(scores[j]))) for j in others) / len(others) if others else 0.0


@pytest.mark.parametrize(
    "loss",
    [L.CombinedLoss(), L.CombinedLoss(regression_type="smoothl1", margin=1.0), L.FocalCombinedLoss(gamma=2.0), AbsoluteRegression()],
    ids=["plain", "smoothl1", "focal", "user_subclass"],
)
@pytest.mark.parametrize("name", list(BATCHES))
def test_the_batch_terms_are_the_means_of_the_per_sample_terms(loss, name):
    values, labels = BATCHES[name]
    scores = torch.tensor(values, dtype=torch.float64)
    logits = torch.randn(len(values), 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2
    labels = torch.tensor(labels, dtype=torch.float64)
    _, terms = loss(scores, logits, labels)
    per = loss.per_sample_terms(scores, logits, labels)
    for term in L.authenticity.TERMS:
        assert per[term].shape == (len(values),) and float(per[term].mean()) == pytest.approx(terms[term], abs=1e-12), term
    assert per["ranking"].tolist() == pytest.approx([_hinge_share(scores, labels, i, loss.margin) for i in range(len(values))], abs=1e-12)
    ce = F.cross_entropy(logits, (labels > 0.5).long(), reduction="none")
    expected = (1 - torch.exp(-ce)) ** loss.gamma * ce if isinstance(loss, L.FocalCombinedLoss) else ce
    assert torch.allclose(per["classification"], expected, atol=1e-12)
    if isinstance(loss, AbsoluteRegression):
        assert terms["regression"] == pytest.approx(float((scores - labels).abs().mean()), abs=1e-12)


def test_a_seed_style_batch_override_gets_no_made_up_per_sample_terms():
    """The seed's FocalCombinedLoss overrides the batch value _classification_loss: forward follows it,
    but the per-sample form is unknown, so per_sample_terms says so rather than report plain CE."""

    class SeedFocal(L.CombinedLoss):
        def _classification_loss(self, logits, labels):
            ce = F.cross_entropy(logits, (labels > 0.5).long(), reduction="none")
            return ((1 - torch.exp(-ce)) ** 2 * ce).mean()

    scores, logits, labels = torch.tensor([0.8, 0.3, 0.6]), torch.tensor([[-1.0, 1.0], [0.5, 0.2], [0.0, 0.3]]), torch.tensor([1.0, 0.0, 1.0])
    assert SeedFocal()(scores, logits, labels)[1]["classification"] == pytest.approx(L.FocalCombinedLoss()(scores, logits, labels)[1]["classification"])
    with pytest.raises(TypeError, match=r"^SeedFocal overrides _classification_loss \(the batch value\) but not _classification_per_sample, so its "
                       r"classification term per sample is unknown: override _classification_per_sample instead"):
        SeedFocal().per_sample_terms(scores, logits, labels)


def test_margin_ranking_per_sample_averages_to_the_pairwise_value_with_its_gradients():
    g = torch.Generator().manual_seed(5)
    real = torch.randn(9, generator=g, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    per_real, per_fake = L.authenticity.margin_ranking_per_sample(real, fake, 0.5)
    mean = torch.cat([per_real, per_fake]).mean()
    pairwise = L.pairwise_margin_ranking(real, fake, 0.5)
    assert float(mean.detach()) == pytest.approx(float(pairwise.detach()), abs=1e-14)
    for a, b in zip(torch.autograd.grad(mean, (real, fake)), torch.autograd.grad(pairwise, (real, fake))):
        assert torch.allclose(a, b, atol=1e-14)
    assert torch.autograd.gradcheck(lambda r, f: L.authenticity.margin_ranking_per_sample(r, f, 0.5), (real, fake))
    empty = L.authenticity.margin_ranking_per_sample(real, fake[:0], 0.5)
    assert empty[0].tolist() == [0.0] * 9 and empty[1].shape == (0,)


def test_subclassing_with_extra_terms_as_the_seed_shows():
    class CustomLoss(L.CombinedLoss):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.consistency_loss = torch.nn.MSELoss()

        def forward(self, scores, logits, labels, **extra):
            total, loss_dict = super().forward(scores, logits, labels)
            if "features" in extra:
                consistency = self.consistency_loss(extra["features"]["scale1"], extra["features"]["scale2"])
                total = total + 0.1 * consistency
                loss_dict["consistency"] = consistency.item()
            return total, loss_dict

    scores, logits, labels = torch.tensor([0.8, 0.3]), torch.zeros(2, 2), torch.tensor([1.0, 0.0])
    features = {"scale1": torch.ones(2, 4), "scale2": torch.zeros(2, 4)}
    base, base_dict = L.CombinedLoss()(scores, logits, labels)
    total, loss_dict = CustomLoss()(scores, logits, labels, features=features)
    assert loss_dict["consistency"] == 1.0 and float(total) == pytest.approx(float(base) + 0.1)
    assert CustomLoss()(scores, logits, labels)[1] == base_dict
    with pytest.raises(TypeError, match=r"^CombinedLoss\.forward got unexpected keyword arguments \['features'\]: CombinedLoss uses only"):
        L.CombinedLoss()(scores, logits, labels, features=features)


S, Z, Y = torch.tensor([0.5, 0.2, 0.9]), torch.zeros(3, 2), torch.tensor([1.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "call,kind,message",
    [
        (lambda l: l(S[None], Z, Y), ValueError, r"^scores must have shape \[B\] or \[B, 1\] with B >= 1, got \(1, 3\)$"),
        (lambda l: l(S, Z[:, :1], Y), ValueError, r"^logits must have shape \[B, 2\] = \[3, 2\] \(fake, real; B from scores\), got \(3, 1\)$"),
        (lambda l: l(S, Z, Y[:2]), ValueError, r"^labels must have shape \[B\] = \[3\] \(B from scores\), got \(2,\)$"),
        (lambda l: l(S, Z, Y * 2), ValueError, r"^labels must lie in \[0, 1\] \(1 = real\), got values from 0 to 2$"),
        (lambda l: l(S, Z, Y > 0), TypeError, r"^labels must hold numbers in \[0, 1\] \(float or int\), got torch\.bool$"),
        (lambda l: l(S.long(), Z, Y), TypeError, r"^scores must be a floating-point tensor"),
        (lambda l: l(torch.tensor([0.5, float("nan"), 0.1]), Z, Y), RuntimeError, r"^NaN/Inf detected in scores!$"),
        (lambda l: l(S, torch.tensor([[0.0, float("inf")]] * 3), Y), RuntimeError, r"^NaN/Inf detected in logits!$"),
        (lambda l: l(S, Z, torch.tensor([1.0, float("nan"), 0.0])), ValueError, r"^labels must be finite, got NaN or Inf$"),
        (lambda l: l(torch.tensor([3e38, -3e38, 3e38]), Z, Y), RuntimeError, r"^NaN/Inf detected in total loss! The inputs are finite, so a term overflows torch.float32: scores holds magnitudes up to 3e\+38$"),
    ],
)
def test_bad_inputs_and_fail_fast(call, kind, message):
    with pytest.raises(kind, match=message):
        call(L.CombinedLoss())


def test_options_are_checked_and_scores_may_be_b_by_1():
    with pytest.raises(ValueError, match=r"^regression_type must be one of 'mse', 'smoothl1', got 'l1'$"):
        L.CombinedLoss(regression_type="l1")
    with pytest.raises(ValueError, match=r"^ranking_weight must be >= 0\.0, got -1\.0$"):
        L.CombinedLoss(ranking_weight=-1)
    a = L.CombinedLoss()(S[:, None], Z, Y)[1]
    b = L.CombinedLoss()(S, Z, Y)[1]
    assert a == b
    per = L.CombinedLoss().per_sample_terms(S, Z, Y)
    # Real 0.5 vs fake 0.2: hinge 0.5 - 0.3 = 0.2; real 0.9 beats it by more than the margin; the fake: (0.2 + 0) / 2.
    assert torch.allclose(per["ranking"], torch.tensor([0.2, 0.1, 0.0]))
    assert torch.allclose(per["regression"], (S - Y) ** 2)
