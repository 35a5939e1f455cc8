"""Every bad input gets an error that names the argument, the expectation and what came."""

from __future__ import annotations

import re

import pytest
import torch

from comfy_editloss import losses as L

A = torch.randn(2, 3, 4)
B = torch.randn(2, 3, 4)
C = torch.randn(2, 3, 4)

CASES = [
    # (id, call, exception, message pattern)
    ("list instead of tensor", lambda: L.pair_distance([1.0, 2.0], B), TypeError, r"^a must be a torch\.Tensor, got a list of length 2$"),
    ("integer embedding", lambda: L.loss_geometry_match(torch.ones(2, 4, dtype=torch.long), B), TypeError, r"z_pred must be a floating-point tensor .* got torch\.int64"),
    ("1-D embedding", lambda: L.loss_geometry_match(torch.randn(4), torch.randn(4)), ValueError, r"z_pred must have shape \[B, D\], \[B, P, D\] or \[B, \.\.\., D\] \(at least 2 dims\), got shape \(4,\)"),
    ("empty batch", lambda: L.pair_distance(torch.randn(0, 4), torch.randn(0, 4)), ValueError, r"^a must hold at least one sample, got batch size 0 \(shape \(0, 4\)\)$"),
    ("no patches", lambda: L.pair_distance(torch.randn(2, 0, 4), torch.randn(2, 0, 4)), ValueError, r"^a must not have an empty dimension, got shape \(2, 0, 4\)$"),
    ("shape mismatch", lambda: L.loss_no_edit_identity(A, B, torch.randn(2, 3, 5)), ValueError, r"^z_src must have the same shape as z_pred \(2, 3, 4\), got \(2, 3, 5\); shapes are never broadcast$"),
    ("batch-1 reference not broadcast", lambda: L.loss_overlay_avoidance(A, B[:1], C), ValueError, r"^z_gt must have the same shape as z_pred \(2, 3, 4\), got \(1, 3, 4\)"),
    ("bad dist", lambda: L.pair_distance(A, B, dist="cosine"), ValueError, r"^dist must be one of 'cos', 'l2', 'euclidean', 'l1', got 'cosine'$"),
    ("bad kind", lambda: L.feature_match_loss(A, B, kind="l3"), ValueError, r"^kind must be one of 'l2', 'l1', 'cos', 'euclidean', got 'l3'$"),
    ("bad agg", lambda: L.loss_geometry_match(A, B, agg="median"), ValueError, r"^agg must be one of 'mean', 'sum', 'max', got 'median'$"),
    ("bad reduction", lambda: L.loss_geometry_match(A, B, reduction="avg"), ValueError, r"^reduction must be one of 'none', 'mean', 'sum', got 'avg'$"),
    ("bad neg_agg", lambda: L.multi_negative_ranking_loss(A, B, [C], neg_agg="min"), ValueError, r"^neg_agg must be one of 'mean', 'max', 'sum', 'logsumexp', got 'min'$"),
    ("negative margin", lambda: L.triplet_margin_loss(A, B, C, margin=-0.1), ValueError, r"^margin must be >= 0\.0, got -0\.1$"),
    ("nan margin", lambda: L.loss_no_edit_identity(A, B, C, margin=float("nan")), ValueError, r"^margin must be finite, got nan$"),
    ("string margin", lambda: L.loss_no_edit_identity(A, B, C, margin="0.2"), TypeError, r"^margin must be a real number, got str '0\.2'$"),
    ("zero temperature", lambda: L.info_nce_loss(A, B, temperature=0.0), ValueError, r"^temperature must be > 0, got 0\.0$"),
    ("zero neg_temperature", lambda: L.multi_negative_ranking_loss(A, B, [C], neg_temperature=0), ValueError, r"^neg_temperature must be > 0, got 0\.0$"),
    ("squared not bool", lambda: L.l2_distance(A, B, squared="yes"), TypeError, r"^squared must be True or False, got str 'yes'$"),
    ("weights wrong length", lambda: L.loss_geometry_match(A, B, weights=torch.ones(3)), ValueError, r"^weights must have shape \[2\] \(one value per sample of z_pred\), got \(3,\)$"),
    ("negative weights", lambda: L.loss_geometry_match(A, B, weights=[1.0, -1.0]), ValueError, r"^weights must be >= 0, got min -1$"),
    ("nan weights", lambda: L.loss_geometry_match(A, B, weights=torch.tensor([1.0, float("nan")])), ValueError, r"^weights must be finite, got \[nan\]$"),
    ("labels out of range", lambda: L.contrastive_pair_loss(A, B, torch.tensor([1.0, 2.0])), ValueError, r"^y must be <= 1, got max 2$"),
    ("labels wrong shape", lambda: L.contrastive_pair_loss(A, B, torch.ones(2, 1)), ValueError, r"^y must have shape \[2\] \(one value per sample of z1\), got \(2, 1\)$"),
    ("labels not numbers", lambda: L.contrastive_pair_loss(A, B, ["a", "b"]), TypeError, r"^y must be a tensor or a sequence of numbers, got a list of length 2$"),
    ("mask wrong shape", lambda: L.loss_geometry_match(A, B, mask=torch.ones(2, 3, 4)), ValueError, r"^mask must have z_pred's shape without its feature dim, \(2, 3\), got \(2, 3, 4\); masks are never broadcast$"),
    ("mask batch 1", lambda: L.loss_geometry_match(A, B, mask=torch.ones(1, 3)), ValueError, r"^mask must have z_pred's shape without its feature dim, \(2, 3\), got \(1, 3\)"),
    ("mask negative", lambda: L.loss_geometry_match(A, B, mask=torch.tensor([[1.0, -1.0, 0.0], [1.0, 1.0, 1.0]])), ValueError, r"^mask must be >= 0 \(a weight per position\), got min -1$"),
    ("mask nan", lambda: L.loss_geometry_match(A, B, mask=torch.tensor([[1.0, float("nan"), 0.0], [1.0, 1.0, 1.0]])), ValueError, r"^mask must be finite, got NaN or Inf$"),
    ("mask int", lambda: L.loss_geometry_match(A, B, mask=torch.ones(2, 3, dtype=torch.long)), TypeError, r"^mask must be a bool or floating-point tensor, got torch\.int64$"),
    ("mask empty sample", lambda: L.loss_no_edit_identity(A, B, C, mask=torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])), ValueError, r"^mask selects no position for sample\(s\) \[1\]: .* give such samples weight 0 through `weights` instead$"),
    ("negatives wrong tensor shape", lambda: L.multi_negative_ranking_loss(A, B, torch.randn(2, 3, 4)), ValueError, r"^z_negs as a tensor must have shape \[B, K, \.\.\.\] = \[2, 'K', 3, 4\] for z_anchor of shape \(2, 3, 4\), got \(2, 3, 4\); or pass a list of K tensors shaped like z_anchor$"),
    ("negatives empty list", lambda: L.info_nce_loss(A, B, []), ValueError, r"^negatives must hold at least one negative, got an empty list$"),
    ("negatives K=0", lambda: L.info_nce_loss(A, B, torch.randn(2, 0, 3, 4)), ValueError, r"^negatives must hold at least one negative, got K=0"),
    ("negative in list wrong shape", lambda: L.multi_negative_ranking_loss(A, B, [C, torch.randn(2, 4)]), ValueError, r"^z_negs\[1\] must have the same shape as z_anchor \(2, 3, 4\), got \(2, 4\)"),
    ("negatives wrong type", lambda: L.info_nce_loss(A, B, negatives="src"), TypeError, r"^negatives must be a tensor \[B, K, \.\.\., D\] or a list of tensors \[B, \.\.\., D\], got str 'src'$"),
    ("in-batch with one sample", lambda: L.info_nce_loss(A[:1], B[:1]), ValueError, r"^info_nce_loss with in-batch negatives \(negatives=None\) needs a batch of at least 2 samples, got anchor of shape \(1, 3, 4\)"),
    ("d_pos not 1-D", lambda: L.margin_ranking_on_distances(torch.ones(2, 1), torch.ones(2, 1)), ValueError, r"^d_pos must have shape \[B\] \(one distance per sample\), got \(2, 1\)$"),
    ("d_neg other length", lambda: L.margin_ranking_on_distances(torch.ones(2), torch.ones(3)), ValueError, r"^d_neg must have the same shape as d_pos \(2,\), got \(3,\)"),
    ("reduce_over_nonbatch agg", lambda: L.reduce_over_nonbatch(torch.ones(2, 3), "median"), ValueError, r"^agg must be one of"),
    ("apply_reduction 2-D", lambda: L.apply_reduction(torch.ones(2, 3)), ValueError, r"^per_sample must have shape \[B\] with B >= 1, got \(2, 3\)$"),
]


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_message(call, exc, pattern):
    with pytest.raises(exc) as info:
        call()
    assert re.search(pattern, str(info.value)), str(info.value)


def test_device_mismatch_is_named():
    meta = torch.empty(2, 3, 4, device="meta")
    with pytest.raises(ValueError, match=r"^z_gt is on meta but z_pred is on cpu; move all inputs to one device$"):
        L.loss_geometry_match(A, meta)
