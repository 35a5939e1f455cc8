"""Embedding losses of seeds 000/001 against plain loops, torch.nn.functional, analytic values and
float64 gradcheck."""

from __future__ import annotations

import itertools
import math

import loop_reference as ref
import pytest
import torch
import torch.nn.functional as F

from comfy_editloss import losses as L

SHAPES = [(3, 5), (2, 4, 5), (2, 2, 3, 4)]
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def randn(shape, dtype=torch.float64, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype).requires_grad_(requires_grad)


def random_mask(shape, seed=0, dtype=torch.float64):
    """A soft mask over positions with at least one positive weight per sample."""
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(shape, generator=g, dtype=dtype)
    m = torch.where(m < 0.3, torch.zeros_like(m), m)
    m.reshape(shape[0], -1)[:, 0] = 0.7
    return m


def negatives_tensor(shape, k, dtype=torch.float64, seed=10, requires_grad=False):
    return randn((shape[0], k, *shape[1:]), dtype, seed, requires_grad)


# Each case: library function, reference, and a builder of (embedding args, other args, kwargs).
def _pair(shape, dtype):
    return [randn(shape, dtype, 1, True), randn(shape, dtype, 2, True)], [], {}


def _triple(shape, dtype):
    return [randn(shape, dtype, 1, True), randn(shape, dtype, 2, True), randn(shape, dtype, 3, True)], [], {}


def _contrastive(shape, dtype):
    y = torch.tensor([1.0, 0.0, 0.3][: shape[0]] + [1.0] * max(0, shape[0] - 3), dtype=dtype)
    return [randn(shape, dtype, 1, True), randn(shape, dtype, 2, True)], [y], {"margin": 3.0}


def _multi_negative(shape, dtype):
    embs = [randn(shape, dtype, 1, True), randn(shape, dtype, 2, True)]
    return embs, [[randn(shape, dtype, 5, True), randn(shape, dtype, 6, True), randn(shape, dtype, 7, True)]], {}


def _info_nce_explicit(shape, dtype):
    embs = [randn(shape, dtype, 1, True), randn(shape, dtype, 2, True)]
    return embs, [negatives_tensor(shape, 3, dtype, requires_grad=True)], {"temperature": 0.5}


def _info_nce_in_batch(shape, dtype):
    return [randn(shape, dtype, 1, True), randn(shape, dtype, 2, True)], [], {"temperature": 0.5}


CASES = {
    "feature_match_loss": (L.feature_match_loss, ref.feature_match_loss, _pair, ["l2", "l1", "cos", "euclidean"], "kind"),
    "loss_geometry_match": (L.loss_geometry_match, ref.loss_geometry_match, _pair, ["l2", "cos"], "kind"),
    "contrastive_pair_loss": (L.contrastive_pair_loss, ref.contrastive_pair_loss, _contrastive, ["l2", "cos", "l1"], "dist"),
    "triplet_margin_loss": (L.triplet_margin_loss, ref.triplet_margin_loss, _triple, ["cos", "l2", "euclidean", "l1"], "dist"),
    "loss_no_edit_identity": (L.loss_no_edit_identity, ref.loss_no_edit_identity, _triple, ["cos", "l2"], "dist"),
    "loss_overlay_avoidance": (L.loss_overlay_avoidance, ref.loss_overlay_avoidance, _triple, ["cos", "euclidean"], "dist"),
    "multi_negative_ranking_loss": (L.multi_negative_ranking_loss, ref.multi_negative_ranking_loss, _multi_negative, ["cos", "l2"], "dist"),
    "info_nce_explicit": (L.info_nce_loss, ref.info_nce_loss, _info_nce_explicit, [True, False], "normalize"),
    "info_nce_in_batch": (L.info_nce_loss, ref.info_nce_loss, _info_nce_in_batch, [True, False], "normalize"),
}


def _leaves(embs, others):
    leaves = list(embs)
    for o in others:
        if isinstance(o, list):
            leaves += o
        elif isinstance(o, torch.Tensor) and o.requires_grad:
            leaves.append(o)
    return leaves


def _compare(name, shape, dtype, option, agg, reduction, use_weights, use_mask):
    fn, ref_fn, build, options, option_name = CASES[name]
    embs, others, kwargs = build(shape, dtype)
    kwargs = dict(kwargs, agg=agg, reduction=reduction)
    kwargs[option_name] = option
    if use_weights:
        kwargs["weights"] = torch.tensor([0.5, 2.0, 0.0, 1.0][: shape[0]], dtype=dtype)
    if use_mask:
        kwargs["mask"] = random_mask(shape[:-1], dtype=dtype)
    ours = fn(*embs, *others, **kwargs)
    expected = ref_fn(*embs, *others, **kwargs)
    assert ours.dtype == dtype
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, **TOL[dtype])
    leaves = _leaves(embs, others)
    grads = torch.autograd.grad(ours.sum(), leaves, allow_unused=True)
    expected_grads = torch.autograd.grad(expected.sum(), leaves, allow_unused=True)
    for g, e in zip(grads, expected_grads):
        if e is None:
            assert g is None or torch.count_nonzero(g) == 0
        else:
            torch.testing.assert_close(g, e, **TOL[dtype])


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_plain_loop_over_options(name, dtype, shape):
    """Every distance option, every agg, with and without mask: values and gradients equal the loop."""
    options = CASES[name][3]
    for option, agg, use_mask in itertools.product(options, ["mean", "sum", "max"], [False, True]):
        _compare(name, shape, dtype, option, agg, "mean", False, use_mask)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("use_weights", [False, True])
def test_matches_plain_loop_over_reductions(name, reduction, use_weights):
    option = CASES[name][3][0]
    for dtype in DTYPES:
        _compare(name, (3, 4, 5), dtype, option, "mean", reduction, use_weights, True)


@pytest.mark.parametrize("neg_agg", ["mean", "max", "sum", "logsumexp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_multi_negative_neg_agg_matches_loop(neg_agg, dtype):
    shape = (3, 4, 6)
    a, p = randn(shape, dtype, 1, True), randn(shape, dtype, 2, True)
    negs = negatives_tensor(shape, 4, dtype, requires_grad=True)
    for margin, temperature in [(0.2, 0.05), (1.0, 0.3)]:
        kw = dict(neg_agg=neg_agg, margin=margin, neg_temperature=temperature)
        ours = L.multi_negative_ranking_loss(a, p, negs, reduction="none", **kw)
        expected = ref.multi_negative_ranking_loss(a, p, negs, reduction="none", **kw)
        torch.testing.assert_close(ours, expected, **TOL[dtype])
        g = torch.autograd.grad(ours.sum(), [a, negs])
        e = torch.autograd.grad(expected.sum(), [a, negs])
        for x, y in zip(g, e):
            torch.testing.assert_close(x, y, **TOL[dtype])


@pytest.mark.parametrize("negatives", ["explicit", "in_batch"])
@pytest.mark.parametrize("agg", ["mean", "sum", "max"])
def test_info_nce_symmetric_matches_loop(negatives, agg):
    shape = (4, 3, 5)
    a, p = randn(shape, seed=1, requires_grad=True), randn(shape, seed=2, requires_grad=True)
    negs = [randn(shape, seed=3), randn(shape, seed=4)] if negatives == "explicit" else None
    mask = random_mask(shape[:-1])
    kw = dict(temperature=0.2, symmetric=True, agg=agg, mask=mask, reduction="none")
    torch.testing.assert_close(L.info_nce_loss(a, p, negs, **kw), ref.info_nce_loss(a, p, negs, **kw), **TOL[torch.float64])


def test_margin_ranking_on_distances_matches_loop():
    d_pos = torch.tensor([0.1, 0.9, 0.5, 0.3], dtype=torch.float64, requires_grad=True)
    d_neg = torch.tensor([0.8, 0.2, 0.5, 0.45], dtype=torch.float64, requires_grad=True)
    for reduction, weights in itertools.product(["none", "mean", "sum"], [None, [1.0, 2.0, 0.5, 0.0]]):
        ours = L.margin_ranking_on_distances(d_pos, d_neg, 0.2, reduction, weights)
        expected = ref.margin_ranking_on_distances(d_pos, d_neg, 0.2, reduction, weights)
        torch.testing.assert_close(ours, expected)


# --------------------------------------------------------------------------------------------
# Where the definitions coincide with torch.nn.functional
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_triplet_euclidean_equals_functional(dtype):
    a, p, n = (randn((6, 7), dtype, s, True) for s in (1, 2, 3))
    for margin in (0.1, 0.5, 2.0):
        ours = L.triplet_margin_loss(a, p, n, margin=margin, dist="euclidean")
        theirs = F.triplet_margin_loss(a, p, n, margin=margin, p=2, eps=0.0)
        torch.testing.assert_close(ours, theirs, **TOL[dtype])
        g1 = torch.autograd.grad(ours, [a, p, n])
        g2 = torch.autograd.grad(theirs, [a, p, n])
        for x, y in zip(g1, g2):
            torch.testing.assert_close(x, y, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_margin_ranking_equals_functional(dtype):
    d_pos, d_neg = randn(9, dtype, 1, True), randn(9, dtype, 2, True)
    for reduction in ("mean", "sum", "none"):
        ours = L.margin_ranking_on_distances(d_pos, d_neg, margin=0.3, reduction=reduction)
        theirs = F.margin_ranking_loss(d_neg, d_pos, torch.ones_like(d_pos), margin=0.3, reduction=reduction)
        torch.testing.assert_close(ours, theirs, **TOL[dtype])
        gs = torch.autograd.grad(ours.sum(), [d_pos, d_neg])
        gt = torch.autograd.grad(theirs.sum(), [d_pos, d_neg])
        for x, y in zip(gs, gt):
            torch.testing.assert_close(x, y, **TOL[dtype])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_feature_match_equals_mse_and_l1(shape):
    pred, target = randn(shape, seed=1, requires_grad=True), randn(shape, seed=2)
    d = shape[-1]
    torch.testing.assert_close(L.feature_match_loss(pred, target, "l2"), d * F.mse_loss(pred, target))
    torch.testing.assert_close(L.feature_match_loss(pred, target, "l1"), d * F.l1_loss(pred, target))
    g1 = torch.autograd.grad(L.loss_geometry_match(pred, target), pred)[0]
    g2 = torch.autograd.grad(d * F.mse_loss(pred, target), pred)[0]
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cosine_distance_equals_functional(shape):
    a, b = randn(shape, seed=1, requires_grad=True), randn(shape, seed=2)
    theirs = (1 - F.cosine_similarity(a, b, dim=-1)).reshape(shape[0], -1).mean(1)
    torch.testing.assert_close(L.cosine_distance(a, b), theirs)
    torch.testing.assert_close(L.pair_distance(a, b, "euclidean"), F.pairwise_distance(a, b, eps=0).reshape(shape[0], -1).mean(1))


@pytest.mark.parametrize("symmetric", [False, True])
def test_info_nce_in_batch_equals_clip_style_cross_entropy(symmetric):
    a, p = randn((8, 16), seed=1, requires_grad=True), randn((8, 16), seed=2, requires_grad=True)
    t = 0.07
    logits = F.normalize(a, dim=-1) @ F.normalize(p, dim=-1).T / t
    labels = torch.arange(8)
    theirs = F.cross_entropy(logits, labels)
    if symmetric:
        theirs = 0.5 * (theirs + F.cross_entropy(logits.T, labels))
    ours = L.info_nce_loss(a, p, temperature=t, symmetric=symmetric)
    torch.testing.assert_close(ours, theirs)
    for x, y in zip(torch.autograd.grad(ours, [a, p]), torch.autograd.grad(theirs, [a, p])):
        torch.testing.assert_close(x, y)


def test_info_nce_explicit_equals_cross_entropy():
    a, p = randn((5, 8), seed=1, requires_grad=True), randn((5, 8), seed=2)
    negs = negatives_tensor((5, 8), 3)
    logits = torch.cat([F.cosine_similarity(a, p, dim=-1)[:, None], F.cosine_similarity(a[:, None], negs, dim=-1)], 1) / 0.1
    theirs = F.cross_entropy(logits, torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(L.info_nce_loss(a, p, negs, temperature=0.1), theirs)


def test_info_nce_patch_mean_is_cosine_of_flattened_normalised_tokens():
    """The documented patch logit: mean over aligned tokens = flattened token-normalised dot / P."""
    a, p = randn((4, 6, 5), seed=1), randn((4, 6, 5), seed=2)
    flat_a, flat_p = F.normalize(a, dim=-1).flatten(1), F.normalize(p, dim=-1).flatten(1)
    logits = flat_a @ flat_p.T / 6 / 0.5
    theirs = F.cross_entropy(logits, torch.arange(4))
    torch.testing.assert_close(L.info_nce_loss(a, p, temperature=0.5), theirs)


# --------------------------------------------------------------------------------------------
# float64 gradcheck
# --------------------------------------------------------------------------------------------

GRADCHECK = [
    ("pair_distance cos", lambda a, b, c: L.pair_distance(a, b, "cos")),
    ("pair_distance l2 max", lambda a, b, c: L.pair_distance(a, b, "l2", agg="max")),
    ("l2_distance unsquared", lambda a, b, c: L.l2_distance(a, b, squared=False)),
    ("cosine_distance dot", lambda a, b, c: L.cosine_distance(a, b, normalize=False, agg="sum")),
    ("feature_match l1", lambda a, b, c: L.feature_match_loss(a, b, "l1")),
    ("feature_match euclidean masked", lambda a, b, c: L.feature_match_loss(a, b, "euclidean", mask=random_mask(a.shape[:-1]))),
    ("geometry l2", lambda a, b, c: L.loss_geometry_match(a, b, reduction="sum")),
    ("contrastive", lambda a, b, c: L.contrastive_pair_loss(a, b, torch.tensor([1.0, 0.0, 0.5]), margin=4.0)),
    ("triplet l2", lambda a, b, c: L.triplet_margin_loss(a, b, c, margin=2.0, dist="l2")),
    ("no_edit cos", lambda a, b, c: L.loss_no_edit_identity(a, b, c, margin=1.0)),
    ("overlay cos masked", lambda a, b, c: L.loss_overlay_avoidance(a, b, c, margin=1.0, mask=random_mask(a.shape[:-1]))),
    ("multi-negative logsumexp", lambda a, b, c: L.multi_negative_ranking_loss(a, b, [c, b + c], margin=1.0, neg_agg="logsumexp", neg_temperature=0.3)),
    ("info_nce explicit", lambda a, b, c: L.info_nce_loss(a, b, [c], temperature=0.5, symmetric=True)),
    ("info_nce in-batch", lambda a, b, c: L.info_nce_loss(a, b, temperature=0.5, mask=random_mask(a.shape[:-1]))),
    ("info_nce in-batch max", lambda a, b, c: L.info_nce_loss(a, b, temperature=0.5, agg="max")),
]


@pytest.mark.parametrize("name,fn", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradcheck_float64(name, fn):
    inputs = tuple(randn((3, 2, 4), torch.float64, s, True) for s in (1, 2, 3))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_gradcheck_margin_ranking_and_reductions():
    d_pos = randn(5, seed=1, requires_grad=True)
    d_neg = randn(5, seed=2, requires_grad=True)
    weights = torch.tensor([1.0, 0.5, 2.0, 0.0, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p, n: L.margin_ranking_on_distances(p, n, 0.5, weights=weights), (d_pos, d_neg))
    x = randn((3, 4), seed=3, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: L.apply_reduction(L.reduce_over_nonbatch(v, "mean", random_mask((3, 4))), "sum"), (x,))


# --------------------------------------------------------------------------------------------
# Analytic values
# --------------------------------------------------------------------------------------------


def test_identical_inputs_give_zero_distance_and_zero_match():
    a = randn((2, 3, 4))
    for dist in L.DISTANCES:
        torch.testing.assert_close(L.pair_distance(a, a.clone(), dist), torch.zeros(2, dtype=a.dtype), atol=1e-12, rtol=0)
    assert L.loss_geometry_match(a, a.clone()).item() == 0.0


def test_orthogonal_and_opposite_vectors():
    e1, e2 = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 3.0, 0.0]])
    assert L.cosine_distance(e1, e2).item() == pytest.approx(1.0)
    assert L.cosine_distance(e1, -e1).item() == pytest.approx(2.0)
    assert L.l2_distance(e1, e2).item() == pytest.approx(10.0)
    assert L.l2_distance(e1, e2, squared=False).item() == pytest.approx(math.sqrt(10.0))
    assert L.pair_distance(e1, e2, "l1").item() == pytest.approx(4.0)


def test_task_losses_on_the_three_failure_modes():
    """With global embeddings: a correct edit costs 0, an unchanged source and an overlay cost."""
    src = torch.tensor([[1.0, 0.0, 0.0]])
    gt = torch.tensor([[0.0, 1.0, 0.0]])
    overlay = F.normalize(src + gt, dim=-1)
    assert L.loss_no_edit_identity(gt, gt, src).item() == 0.0
    # pred == src: d(src, gt) = 1, d(src, src) = 0 -> 1 + margin
    assert L.loss_no_edit_identity(src, gt, src, margin=0.2).item() == pytest.approx(1.2)
    assert L.loss_overlay_avoidance(gt, gt, overlay, margin=0.2).item() == 0.0
    # pred == overlay: d(ov, gt) = 1 - 1/sqrt(2), d(ov, ov) = 0
    assert L.loss_overlay_avoidance(overlay, gt, overlay, margin=0.2).item() == pytest.approx(1 - 2**-0.5 + 0.2)


def test_contrastive_analytic():
    z1 = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    z2 = torch.tensor([[3.0, 4.0], [0.3, 0.4]])  # distances 5 and 0.5
    per = L.contrastive_pair_loss(z1, z2, torch.tensor([1, 0]), margin=1.0, reduction="none")
    torch.testing.assert_close(per, torch.tensor([0.5 * 25.0, 0.5 * 0.25]))


def test_info_nce_uniform_logits_give_log_of_candidates():
    a = torch.tensor([[1.0, 0.0]])
    negs = [torch.tensor([[1.0, 0.0]])] * 3  # every candidate equally similar
    assert L.info_nce_loss(a, a, negs).item() == pytest.approx(math.log(4))


def test_neg_agg_logsumexp_lies_between_mean_and_max_and_is_zero_when_satisfied():
    a, p = randn((4, 5), seed=1), randn((4, 5), seed=2)
    negs = negatives_tensor((4, 5), 5)
    kw = dict(reduction="none", margin=1.0)
    mean = L.multi_negative_ranking_loss(a, p, negs, neg_agg="mean", **kw)
    top = L.multi_negative_ranking_loss(a, p, negs, neg_agg="max", **kw)
    for t in (0.01, 0.1, 1.0, 10.0):
        smooth = L.multi_negative_ranking_loss(a, p, negs, neg_agg="logsumexp", neg_temperature=t, **kw)
        assert torch.all(smooth >= mean - 1e-12) and torch.all(smooth <= top + 1e-12)
    torch.testing.assert_close(L.multi_negative_ranking_loss(a, p, negs, neg_agg="logsumexp", neg_temperature=1e-3, **kw), top, atol=1e-2, rtol=0)
    far = -p.unsqueeze(1).expand_as(negs)  # every negative opposite to the positive: all hinges 0
    assert L.multi_negative_ranking_loss(p, p, far, neg_agg="logsumexp", margin=0.2).item() == 0.0


def test_logsumexp_gives_every_violated_negative_a_gradient_unlike_max():
    a, p = randn((1, 6), seed=1, requires_grad=True), randn((1, 6), seed=2)
    negs = [a.detach() + 0.01 * randn((1, 6), seed=s) for s in (3, 4, 5)]
    negs = [n.requires_grad_() for n in negs]
    L.multi_negative_ranking_loss(a, p, negs, neg_agg="max", margin=1.0).backward()
    assert sum(int(n.grad.abs().sum() > 0) for n in negs) == 1
    for n in negs:
        n.grad = None
    L.multi_negative_ranking_loss(a, p, negs, neg_agg="logsumexp", margin=1.0).backward()
    assert all(n.grad.abs().sum() > 0 for n in negs)


def test_weights_and_all_zero_weights():
    per = torch.tensor([1.0, 3.0, 5.0], requires_grad=True)
    assert L.apply_reduction(per, "mean", torch.tensor([1.0, 1.0, 2.0])).item() == pytest.approx((1 + 3 + 10) / 4)
    assert L.apply_reduction(per, "sum", [1.0, 0.0, 2.0]).item() == pytest.approx(11.0)
    zero = L.apply_reduction(per, "mean", torch.zeros(3))
    assert zero.item() == 0.0
    zero.backward()
    assert torch.all(per.grad == 0)


def test_mask_is_area_normalised_not_diluted():
    """A mask picks the region: same value whether the region is 1 or 10 patches of equal distance."""
    a = torch.zeros(1, 10, 3)
    b = torch.zeros(1, 10, 3)
    b[0, :, 0] = 2.0  # every patch at squared distance 4
    small = torch.zeros(1, 10)
    small[0, 3] = 1.0
    assert L.loss_geometry_match(a, b, mask=small).item() == pytest.approx(4.0)
    assert L.loss_geometry_match(a, b, mask=torch.ones(1, 10)).item() == pytest.approx(4.0)
    b[0, 5:, 0] = 0.0  # half the patches now match
    assert L.loss_geometry_match(a, b).item() == pytest.approx(2.0)
    assert L.loss_geometry_match(a, b, mask=small).item() == pytest.approx(4.0)


# --------------------------------------------------------------------------------------------
# dtypes, autocast, zero vectors
# --------------------------------------------------------------------------------------------

# Each call takes the module to call (the library or the loop reference) and three embeddings.
TASK_CALLS_BY_MODULE = [
    ("no_edit", lambda M, a, b, c: M.loss_no_edit_identity(a, b, c)),
    ("geometry", lambda M, a, b, c: M.loss_geometry_match(a, b)),
    ("overlay", lambda M, a, b, c: M.loss_overlay_avoidance(a, b, c)),
    ("info_nce", lambda M, a, b, c: M.info_nce_loss(a, b, [c])),
    ("info_nce in-batch", lambda M, a, b, c: M.info_nce_loss(a, b)),
    ("multi_negative", lambda M, a, b, c: M.multi_negative_ranking_loss(a, b, [c, b], neg_agg="logsumexp")),
    ("contrastive", lambda M, a, b, c: M.contrastive_pair_loss(a, b, torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=a.dtype))),
    ("pair_distance", lambda M, a, b, c: M.pair_distance(a, b)),
]
TASK_CALLS = [(name, (lambda call: lambda a, b, c: call(L, a, b, c))(call)) for name, call in TASK_CALLS_BY_MODULE]
# What half precision can promise: the result of the float64 loop on the same half-rounded inputs,
# rounded once more to the output dtype (one unit in the last place of float16 / bfloat16, and a
# little for the float32 sums in between).
HALF_TOL = {torch.float16: dict(rtol=2e-3, atol=1e-4), torch.bfloat16: dict(rtol=1.6e-2, atol=1e-3)}


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name,call", TASK_CALLS_BY_MODULE, ids=[t[0] for t in TASK_CALLS_BY_MODULE])
def test_half_inputs_computed_in_float32_returned_in_input_dtype(half, name, call):
    full = [randn((4, 16, 32), torch.float32, s) for s in (1, 2, 3)]
    halves = [x.to(half) for x in full]
    out = call(L, *halves)
    assert out.dtype == half
    # The reference: the plain float64 loop over pairs on the same half-rounded values.
    expected = call(ref, *(x.double() for x in halves))
    torch.testing.assert_close(out.double(), expected, **HALF_TOL[half])
    leaf = halves[0].clone().requires_grad_()
    call(L, leaf, *halves[1:]).sum().backward()
    assert leaf.grad.dtype == half and torch.isfinite(leaf.grad.float()).all()
    leaf64 = halves[0].double().requires_grad_()
    call(ref, leaf64, *(x.double() for x in halves[1:])).sum().backward()
    torch.testing.assert_close(leaf.grad.double(), leaf64.grad, rtol=HALF_TOL[half]["rtol"] * 4, atol=HALF_TOL[half]["atol"] * 4)


@pytest.mark.parametrize("name,fn", TASK_CALLS, ids=[t[0] for t in TASK_CALLS])
def test_autocast_does_not_lower_precision(name, fn):
    inputs = [randn((4, 16, 32), torch.float32, s) for s in (1, 2, 3)]
    expected = fn(*inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fn(*inputs)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name,fn", TASK_CALLS, ids=[t[0] for t in TASK_CALLS])
def test_zero_vectors_give_finite_values_and_gradients(name, fn):
    a = torch.zeros(4, 3, 8, requires_grad=True)
    b = randn((4, 3, 8), torch.float32, 2)
    b[:, 0] = 0.0
    b.requires_grad_()
    c = torch.zeros(4, 3, 8, requires_grad=True)
    out = fn(a, b, c)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert c.grad is None or torch.isfinite(c.grad).all()


def test_cosine_distance_of_zero_vector_is_one():
    assert L.cosine_distance(torch.zeros(1, 4), torch.ones(1, 4)).item() == 1.0


# Each call with the names of its embedding arguments, in order.
NAMED_CALLS = [
    ("pair_distance", ("a", "b"), lambda a, b, c: L.pair_distance(a, b)),
    ("l2_distance", ("a", "b"), lambda a, b, c: L.l2_distance(a, b, squared=False, agg="max")),
    ("cosine_distance", ("a", "b"), lambda a, b, c: L.cosine_distance(a, b)),
    ("feature_match_loss", ("pred", "target"), lambda a, b, c: L.feature_match_loss(a, b, reduction="none")),
    ("contrastive_pair_loss", ("z1", "z2"), lambda a, b, c: L.contrastive_pair_loss(a, b, torch.tensor([1.0, 0.0]))),
    ("triplet_margin_loss", ("anchor", "positive", "negative"), lambda a, b, c: L.triplet_margin_loss(a, b, c, dist="l1")),
    ("multi_negative_ranking_loss", ("z_anchor", "z_positive", "z_negs[1]"), lambda a, b, c: L.multi_negative_ranking_loss(a, b, [b, c], neg_agg="max")),
    ("info_nce_loss", ("anchor", "positive", "negatives[0]"), lambda a, b, c: L.info_nce_loss(a, b, [c])),
    ("info_nce_loss in-batch", ("anchor", "positive"), lambda a, b, c: L.info_nce_loss(a, b, symmetric=True)),
    ("loss_no_edit_identity", ("z_pred", "z_gt", "z_src"), lambda a, b, c: L.loss_no_edit_identity(a, b, c)),
    ("loss_geometry_match", ("z_pred", "z_gt"), lambda a, b, c: L.loss_geometry_match(a, b, mask=torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))),
    ("loss_overlay_avoidance", ("z_pred", "z_gt", "z_overlay"), lambda a, b, c: L.loss_overlay_avoidance(a, b, c, agg="max")),
]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name,arguments,fn", NAMED_CALLS, ids=[c[0] for c in NAMED_CALLS])
def test_nan_or_inf_in_any_embedding_is_an_error_naming_it(name, arguments, fn, bad):
    for position, argument in enumerate(arguments):
        inputs = [randn((2, 3, 4), torch.float32, s) for s in (1, 2, 3)]
        # A masked-out position (weight 0 in the geometry call) still counts: a NaN is never "ignored".
        inputs[position][1 if position else 0, 2, 1] = bad
        with pytest.raises(ValueError, match=rf"^{argument.replace('[', '.').replace(']', '.')} must be finite, got 1 NaN/Inf value\(s\) in sample\(s\) {1 if position else 0}$"):
            fn(*inputs)
    assert torch.isfinite(fn(*(randn((2, 3, 4), torch.float32, s) for s in (1, 2, 3)))).all()


@pytest.mark.parametrize("exponent", [-30, -20, 19, 20, 30])
@pytest.mark.parametrize("name,arguments,fn", [c for c in NAMED_CALLS if "cos" in c[0] or "info_nce" in c[0] or c[0] in ("pair_distance", "loss_no_edit_identity", "loss_overlay_avoidance", "triplet_margin_loss")], ids=lambda c: c if isinstance(c, str) else "")
def test_scale_invariant_losses_stay_invariant_at_extreme_magnitudes_in_float32(name, arguments, fn, exponent):
    inputs = [randn((2, 3, 4), torch.float32, s) for s in (1, 2, 3)]
    expected = fn(*(x.double() for x in inputs))
    if name == "triplet_margin_loss":  # l1 is not scale-invariant: scale the expectation
        expected = L.triplet_margin_loss(*(x.double() * 10.0**exponent for x in inputs), dist="l1")
    scaled = fn(*(x * 10.0**exponent for x in inputs))
    torch.testing.assert_close(scaled.double(), expected, rtol=2e-5, atol=1e-6 * float(expected.abs().max()) if name == "triplet_margin_loss" else 1e-6)


@pytest.mark.parametrize("exponent", [-35, -25, 0, 25, 35])
def test_the_euclidean_distance_neither_overflows_nor_underflows(exponent):
    a, b = randn((3, 5, 8), torch.float32, 1), randn((3, 5, 8), torch.float32, 2)
    scale = 10.0**exponent
    got = L.l2_distance(a * scale, b * scale, squared=False, agg="max")
    expected = L.l2_distance(a.double(), b.double(), squared=False, agg="max") * scale
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=0)


def test_a_result_that_overflows_is_an_error_not_inf():
    a, b = randn((2, 4), torch.float32, 1), randn((2, 4), torch.float32, 2)
    with pytest.raises(ValueError, match=r"the loss overflows torch.float32 although every input is finite \(pred holds magnitudes up to 1\.52277e\+20\): compute in float64"):
        L.feature_match_loss(a * 1e20, b)
    assert torch.isfinite(L.feature_match_loss(a.double() * 1e20, b.double()))


def test_inputs_are_not_modified():
    a, b, c = (randn((3, 4, 5), seed=s) for s in (1, 2, 3))
    copies = [x.clone() for x in (a, b, c)]
    mask = random_mask((3, 4))
    mask_copy = mask.clone()
    for _, fn in TASK_CALLS[:6]:
        fn(a, b, c)
    L.loss_geometry_match(a, b, mask=mask)
    for x, y in zip((a, b, c, mask), copies + [mask_copy]):
        assert torch.equal(x, y)


def test_module_free_functions_work_under_inference_mode():
    with torch.inference_mode():
        out = L.loss_no_edit_identity(randn((2, 4)), randn((2, 4), seed=1), randn((2, 4), seed=2), reduction="none")
    assert out.shape == (2,)


# --------------------------------------------------------------------------------------------
# Learnable margins and temperatures
# --------------------------------------------------------------------------------------------

LEARNABLE = [
    ("triplet margin", lambda M, a, b, c, t: M.triplet_margin_loss(a, b, c, margin=t, dist="l2")),
    ("no_edit margin", lambda M, a, b, c, t: M.loss_no_edit_identity(a, b, c, margin=t)),
    ("contrastive margin", lambda M, a, b, c, t: M.contrastive_pair_loss(a, b, torch.tensor([1.0, 0.0, 0.0], dtype=a.dtype), margin=t * 8)),
    ("multi-negative margin", lambda M, a, b, c, t: M.multi_negative_ranking_loss(a, b, [c, b + c], margin=t, neg_agg="logsumexp", neg_temperature=0.3)),
    ("multi-negative temperature", lambda M, a, b, c, t: M.multi_negative_ranking_loss(a, b, [c, b + c], margin=1.0, neg_agg="logsumexp", neg_temperature=t)),
    ("info_nce temperature", lambda M, a, b, c, t: M.info_nce_loss(a, b, [c], temperature=t, symmetric=True)),
    ("info_nce in-batch temperature", lambda M, a, b, c, t: M.info_nce_loss(a, b, temperature=t)),
    ("margin ranking", lambda M, a, b, c, t: M.margin_ranking_on_distances(a.sum((1, 2)), b.sum((1, 2)), margin=t)),
]


@pytest.mark.parametrize("name,call", LEARNABLE, ids=[c[0] for c in LEARNABLE])
def test_a_tensor_margin_or_temperature_gets_its_gradient(name, call):
    inputs = tuple(randn((3, 2, 4), torch.float64, s, True) for s in (1, 2, 3))
    option = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c, t: call(L, a, b, c, t), (*inputs, option), eps=1e-6, atol=1e-5)
    # The same gradient as the plain loop over pairs, and not zero (the hinges are active here).
    (ours,) = torch.autograd.grad(call(L, *inputs, option), option)
    (expected,) = torch.autograd.grad(call(ref, *inputs, option), option)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
    assert ours.abs().item() > 1e-6


def test_a_learnable_temperature_module_registers_its_parameter_and_trains_it():
    temperature = torch.nn.Parameter(torch.tensor(0.5))
    criterion = L.InfoNCELoss(temperature=temperature)
    assert [name for name, _ in criterion.named_parameters()] == ["temperature"]
    assert "temperature=Parameter(0.5)" in repr(criterion)
    a, p = randn((6, 8), torch.float32, 1), randn((6, 8), torch.float32, 2)
    optimiser = torch.optim.SGD(criterion.parameters(), lr=0.05)
    before = criterion(a, p).item()
    criterion(a, p).backward()
    assert temperature.grad is not None and temperature.grad.abs().item() > 0
    optimiser.step()
    assert temperature.item() != 0.5
    assert criterion(a, p).item() == pytest.approx(L.info_nce_loss(a, p, temperature=temperature.item()).item(), rel=1e-6)
    assert criterion(a, p).item() != pytest.approx(before, rel=1e-6)
    assert criterion.double().options["temperature"].dtype == torch.float64


def test_options_used_as_constants_refuse_a_tensor_that_requires_grad():
    weight = torch.tensor(1.0, requires_grad=True)
    images = torch.rand(1, 1, 16, 16)
    with pytest.raises(TypeError, match="w_peak must be a plain number here, got a tensor that requires grad: w_peak is used as a constant"):
        L.spectral_period_loss(images, images, w_peak=weight)
    # A tensor option holding bad values is checked like a number.
    with pytest.raises(ValueError, match=r"temperature must be > 0, got -0\.5"):
        L.info_nce_loss(randn((2, 4)), randn((2, 4)), temperature=torch.tensor(-0.5))
    with pytest.raises(ValueError, match=r"margin must be one number, got a torch.float32 tensor of shape \(2,\)"):
        L.triplet_margin_loss(randn((2, 4)), randn((2, 4)), randn((2, 4)), margin=torch.tensor([0.1, 0.2]))


@pytest.mark.parametrize("scale", [2.0**-60, 2.0**-14, 2.0**-13, 2.0**-12, 1.0, 2.0**40, 2.0**41, 2.0**100])
def test_cosines_do_not_depend_on_which_side_of_the_rescaling_threshold_a_vector_lies(scale):
    # Vectors whose largest magnitude is within [2**-13, 2**40] are used as they are; others are
    # divided by it first. Both give the exact cosine, here against float64 on the unit vectors.
    torch.manual_seed(0)
    a, b = torch.randn(3, 5, 16, dtype=torch.float64), torch.randn(3, 5, 16, dtype=torch.float64)
    expected = 1 - (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1).mean(-1)
    mixed = a.clone()
    mixed[1] *= scale  # one sample beyond the threshold, the others not: per vector, not per batch
    for x, y in ((a * scale, b * scale), (mixed, b)):
        got = L.pair_distance(x.float(), y.float(), dist="cos")
        assert torch.allclose(got.double(), expected, atol=1e-6), (scale, got, expected)
        gradient = torch.autograd.functional.jacobian(lambda t: L.pair_distance(t, y.float(), dist="cos").sum(), x.float())
        assert torch.isfinite(gradient).all()
    euclidean = L.pair_distance((a * scale).float(), (b * scale).float(), dist="euclidean")
    assert torch.allclose(euclidean.double() / scale, (a - b).norm(dim=-1).mean(-1), rtol=1e-5)


def test_all_finite_agrees_with_isfinite():
    from comfy_editloss._checks import all_finite  # noqa: PLC0415

    for value in (float("nan"), float("inf"), -float("inf"), 1e30):
        for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            x = torch.zeros(4, 7, dtype=dtype)
            x[2, 3] = value
            assert bool(all_finite(x)) == bool(torch.isfinite(x).all()), (value, dtype)
    assert bool(all_finite(torch.zeros(0, 3)))
