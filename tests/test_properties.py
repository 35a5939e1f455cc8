"""Invariants of the embedding losses, checked on random shapes and values (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from comfy_editloss import losses as L


@dataclass
class Case:
    """Anchor, positive, K negatives ``[B, P, D]``, a soft mask ``[B, P]`` and pair labels ``[B]``."""

    a: torch.Tensor
    p: torch.Tensor
    negs: list[torch.Tensor]
    mask: torch.Tensor
    y: torch.Tensor

    def map(self, fn) -> "Case":
        """The same case with ``fn`` applied to every per-position tensor (and to y where it fits)."""
        return Case(fn(self.a), fn(self.p), [fn(n) for n in self.negs], fn(self.mask), self.y)


@st.composite
def cases(draw, min_batch=1):
    b = draw(st.integers(min_batch, 4))
    p = draw(st.integers(1, 5))
    d = draw(st.integers(1, 6))
    k = draw(st.integers(1, 3))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    make = lambda: torch.randn(b, p, d, generator=g, dtype=torch.float64)  # noqa: E731
    mask = torch.rand(b, p, generator=g, dtype=torch.float64)
    mask = torch.where(mask < 0.3, torch.zeros_like(mask), mask)
    mask[torch.arange(b), torch.randint(0, p, (b,), generator=g)] = 1.0  # at least one position each
    y = torch.randint(0, 2, (b,), generator=g).double()
    return Case(make(), make(), [make() for _ in range(k)], mask, y)


def _none(kw):
    return {"reduction": "none", **kw}


# Every loss as a function of (case, mask); keyword arguments (reduction, weights) go through to the
# loss and default to reduction="none".
PER_SAMPLE = {
    "no_edit_identity": lambda c, m, **kw: L.loss_no_edit_identity(c.a, c.p, c.negs[0], margin=0.5, mask=m, **_none(kw)),
    "overlay_avoidance_l2": lambda c, m, **kw: L.loss_overlay_avoidance(c.a, c.p, c.negs[0], margin=2.0, dist="l2", mask=m, **_none(kw)),
    "geometry_match": lambda c, m, **kw: L.loss_geometry_match(c.a, c.p, mask=m, **_none(kw)),
    "feature_match_cos_max": lambda c, m, **kw: L.feature_match_loss(c.a, c.p, "cos", agg="max", mask=m, **_none(kw)),
    "contrastive": lambda c, m, **kw: L.contrastive_pair_loss(c.a, c.p, c.y, margin=3.0, mask=m, **_none(kw)),
    "triplet_l1_sum": lambda c, m, **kw: L.triplet_margin_loss(c.a, c.p, c.negs[0], margin=1.0, dist="l1", agg="sum", mask=m, **_none(kw)),
    "multi_negative_mean": lambda c, m, **kw: L.multi_negative_ranking_loss(c.a, c.p, c.negs, margin=0.5, mask=m, **_none(kw)),
    "multi_negative_lse": lambda c, m, **kw: L.multi_negative_ranking_loss(c.a, c.p, c.negs, margin=0.5, neg_agg="logsumexp", neg_temperature=0.2, mask=m, **_none(kw)),
    "info_nce_explicit": lambda c, m, **kw: L.info_nce_loss(c.a, c.p, c.negs, temperature=0.3, symmetric=True, mask=m, **_none(kw)),
    "pair_distance_euclidean": lambda c, m: L.pair_distance(c.a, c.p, "euclidean", mask=m),
}
IN_BATCH = ("info_nce_in_batch", lambda c, m, **kw: L.info_nce_loss(c.a, c.p, temperature=0.3, symmetric=True, mask=m, **_none(kw)))

ALL = list(PER_SAMPLE.items())
WITH_IN_BATCH = ALL + [IN_BATCH]
LOSSES = [(n, f) for n, f in ALL if n != "pair_distance_euclidean"]  # a distance has no reduction


def ids(items):
    return [n for n, _ in items]


def close(x, y):
    torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name,fn", WITH_IN_BATCH, ids=ids(WITH_IN_BATCH))
@given(case=cases(min_batch=2), seed=st.integers(0, 1000))
def test_batch_permutation_permutes_per_sample_values(name, fn, case, seed):
    perm = torch.randperm(case.a.shape[0], generator=torch.Generator().manual_seed(seed))
    permuted = case.map(lambda x: x[perm])
    permuted.y = case.y[perm]
    close(fn(permuted, permuted.mask), fn(case, case.mask)[perm])


@pytest.mark.parametrize("name", ["multi_negative_mean", "multi_negative_lse", "info_nce_explicit"])
@given(case=cases(), neg_agg=st.sampled_from(L.NEGATIVE_AGGREGATIONS), seed=st.integers(0, 1000))
def test_negative_order_does_not_matter(name, case, neg_agg, seed):
    fn = PER_SAMPLE[name]
    order = torch.randperm(len(case.negs), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = Case(case.a, case.p, [case.negs[k] for k in order], case.mask, case.y)
    close(fn(shuffled, case.mask), fn(case, case.mask))
    stacked = torch.stack(case.negs, dim=1)  # the tensor form [B, K, P, D] equals the list form
    close(
        L.multi_negative_ranking_loss(case.a, case.p, stacked, neg_agg=neg_agg, reduction="none"),
        L.multi_negative_ranking_loss(case.a, case.p, case.negs, neg_agg=neg_agg, reduction="none"),
    )


@pytest.mark.parametrize("name,fn", WITH_IN_BATCH, ids=ids(WITH_IN_BATCH))
@given(case=cases(min_batch=2), seed=st.integers(0, 1000))
def test_patch_permutation_with_its_mask_does_not_matter(name, fn, case, seed):
    perm = torch.randperm(case.a.shape[1], generator=torch.Generator().manual_seed(seed))
    permuted = case.map(lambda x: x[:, perm])
    close(fn(permuted, permuted.mask), fn(case, case.mask))


@pytest.mark.parametrize("name,fn", WITH_IN_BATCH, ids=ids(WITH_IN_BATCH))
@given(case=cases(min_batch=2))
def test_all_ones_mask_equals_no_mask(name, fn, case):
    ones = torch.ones(case.a.shape[:2], dtype=torch.float64)
    close(fn(case, ones), fn(case, None))
    close(fn(case, ones.bool()), fn(case, None))


@pytest.mark.parametrize("name", ["no_edit_identity", "geometry_match", "multi_negative_lse", "info_nce_explicit", "contrastive"])
@given(case=cases(), scale=st.floats(0.01, 100.0))
def test_mean_over_mask_is_area_normalised(name, case, scale):
    """Scaling the mask does not change a masked mean: a region is not diluted by its size."""
    fn = PER_SAMPLE[name]
    close(fn(case, case.mask * scale), fn(case, case.mask))


@pytest.mark.parametrize("name,fn", ALL, ids=ids(ALL))
@given(case=cases())
def test_binary_mask_equals_scoring_only_the_selected_patches(name, fn, case):
    binary = case.mask > 0
    masked = fn(case, binary)
    for i in range(case.a.shape[0]):
        keep = binary[i]
        alone = case.map(lambda x: x[i : i + 1, keep])
        alone.y = case.y[i : i + 1]
        close(masked[i : i + 1], fn(alone, None))


@pytest.mark.parametrize("name,fn", WITH_IN_BATCH, ids=ids(WITH_IN_BATCH))
@given(case=cases(min_batch=2), empty=st.integers(0, 3))
def test_a_sample_with_an_all_zero_mask_is_an_error_not_nan(name, fn, case, empty):
    empty = empty % case.a.shape[0]
    mask = case.mask.clone()
    mask[empty] = 0.0
    with pytest.raises(ValueError, match=rf"mask selects no position for sample\(s\) \[{empty}\]"):
        fn(case, mask)


@given(case=cases(), dist=st.sampled_from(L.DISTANCES), agg=st.sampled_from(L.AGGREGATIONS))
def test_distances_are_symmetric_and_non_negative(case, dist, agg):
    d = L.pair_distance(case.a, case.p, dist, agg, case.mask)
    close(d, L.pair_distance(case.p, case.a, dist, agg, case.mask))
    assert torch.all(d >= -1e-12)


@given(case=cases(), s=st.floats(0.01, 100.0), t=st.floats(0.01, 100.0))
def test_cosine_losses_ignore_scale_l2_scales_quadratically(case, s, t):
    a, p, n, m = case.a, case.p, case.negs[0], case.mask
    close(L.cosine_distance(a * s, p * t, mask=m), L.cosine_distance(a, p, mask=m))
    close(L.loss_no_edit_identity(a * s, p * t, n * t, reduction="none"), L.loss_no_edit_identity(a, p, n, reduction="none"))
    close(L.l2_distance(a * s, p * s, mask=m), s**2 * L.l2_distance(a, p, mask=m))


@pytest.mark.parametrize("name,fn", LOSSES, ids=ids(LOSSES))
@given(case=cases(), weights=st.lists(st.floats(0.0, 5.0), min_size=4, max_size=4))
def test_reductions_agree_with_per_sample_values(name, fn, case, weights):
    per = fn(case, case.mask)
    w = torch.tensor(weights[: case.a.shape[0]], dtype=torch.float64)
    close(fn(case, case.mask, reduction="mean"), per.mean())
    close(fn(case, case.mask, reduction="sum"), per.sum())
    close(fn(case, case.mask, weights=w), per * w)
    expected = (per * w).sum() / w.sum() if w.sum() > 0 else torch.zeros((), dtype=torch.float64)
    close(fn(case, case.mask, reduction="mean", weights=w), expected)
