"""Sweep entries of :mod:`comfy_editloss.losses`: the embedding, texture, depth and authenticity losses,
their module twins and helpers."""

from __future__ import annotations

import torch

from comfy_editloss import losses as L
from kinds import Bool, Choice, Int, Number, SampleWeights, TensorArg
from sweep import Entry, close

MODULE = "comfy_editloss.losses"


def _randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def _rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g)


B, P, D = 3, 4, 8
EMB = TensorArg()
SCALE_FREE = TensorArg(scale_free=True)
# A mask of weights over positions: >= 0, bool or float, optional; all zero for a sample is an error.
MASK = TensorArg(optional=True, minimum=0.0, bool_ok=True, half=False, zeros="error", min_dims=2)
REDUCTION = Choice(L.REDUCTIONS)
AGG = Choice(L.AGGREGATIONS)


def _embedding_mask():
    m = _rand(B, P, seed=9)
    m[:, 0] = 1.0
    return m


def _weights():
    return torch.tensor([1.0, 0.5, 2.0])


def _embedding_entry(name, function, embeddings, extra_args=None, options=None, kinds=None, cosine=False, reduces=True):
    """An entry for an embedding loss with embeddings named ``embeddings`` ([B, P, D] each)."""

    def valid():
        arguments = {n: _randn(B, P, D, seed=i + 1) for i, n in enumerate(embeddings)}
        arguments.update(mask=_embedding_mask())
        if reduces:
            arguments.update(weights=_weights(), reduction="none")
        arguments.update((extra_args or (lambda: {}))())
        arguments.update(options or {})
        return arguments

    arg_kind = SCALE_FREE if cosine else EMB
    all_kinds = {n: arg_kind for n in embeddings}
    all_kinds.update(mask=MASK, agg=AGG)
    if reduces:
        all_kinds.update(weights=SampleWeights(), reduction=REDUCTION)
    all_kinds.update(kinds or {})
    return Entry(f"{MODULE}.{name}", function, valid, all_kinds)


ENTRIES = []
# Distances (cosine: scale-free; l2 and l1: not).
ENTRIES.append(_embedding_entry("pair_distance", L.pair_distance, ("a", "b"), options=dict(dist="cos", agg="mean"), kinds=dict(dist=Choice(L.DISTANCES)), cosine=True, reduces=False))
ENTRIES.append(_embedding_entry("l2_distance", L.l2_distance, ("a", "b"), options=dict(squared=False, agg="max"), kinds=dict(squared=Bool()), reduces=False))
ENTRIES.append(_embedding_entry("cosine_distance", L.cosine_distance, ("a", "b"), options=dict(normalize=True, agg="sum"), kinds=dict(normalize=Bool()), cosine=True, reduces=False))
# Generic losses.
ENTRIES.append(_embedding_entry("feature_match_loss", L.feature_match_loss, ("pred", "target"), options=dict(kind="l1", agg="mean"), kinds=dict(kind=Choice(L.FEATURE_MATCH_KINDS))))
ENTRIES.append(_embedding_entry("loss_geometry_match", L.loss_geometry_match, ("z_pred", "z_gt"), options=dict(kind="l2", agg="mean"), kinds=dict(kind=Choice(L.FEATURE_MATCH_KINDS))))
ENTRIES.append(_embedding_entry(
    "contrastive_pair_loss", L.contrastive_pair_loss, ("z1", "z2"), extra_args=lambda: dict(y=torch.tensor([1.0, 0.0, 0.5])),
    options=dict(margin=3.0, dist="l2", agg="mean"),
    kinds=dict(y=SampleWeights(minimum=0.0, maximum=1.0, optional=False), margin=Number(minimum=0.0, learnable=True), dist=Choice(L.DISTANCES)),
))
for _name, _fn, _names in (
    ("triplet_margin_loss", L.triplet_margin_loss, ("anchor", "positive", "negative")),
    ("loss_no_edit_identity", L.loss_no_edit_identity, ("z_pred", "z_gt", "z_src")),
    ("loss_overlay_avoidance", L.loss_overlay_avoidance, ("z_pred", "z_gt", "z_overlay")),
):
    ENTRIES.append(_embedding_entry(_name, _fn, _names, options=dict(margin=1.0, dist="cos", agg="mean"), kinds=dict(margin=Number(minimum=0.0, learnable=True), dist=Choice(L.DISTANCES)), cosine=True))
ENTRIES.append(_embedding_entry(
    "multi_negative_ranking_loss", L.multi_negative_ranking_loss, ("z_anchor", "z_positive"),
    extra_args=lambda: dict(z_negs=_randn(B, 2, P, D, seed=7)),
    options=dict(margin=1.0, dist="cos", agg="mean", neg_agg="logsumexp", neg_temperature=0.3),
    kinds=dict(z_negs=TensorArg(scale_free=True, min_dims=3), margin=Number(minimum=0.0, learnable=True), dist=Choice(L.DISTANCES),
               neg_agg=Choice(L.NEGATIVE_AGGREGATIONS), neg_temperature=Number(positive=True, learnable=True)),
    cosine=True,
))
ENTRIES.append(_embedding_entry(
    "info_nce_loss", L.info_nce_loss, ("anchor", "positive"), extra_args=lambda: dict(negatives=_randn(B, 2, P, D, seed=7)),
    options=dict(temperature=0.5, normalize=True, agg="mean", symmetric=True),
    kinds=dict(negatives=TensorArg(scale_free=True, min_dims=3, optional=True), temperature=Number(positive=True, learnable=True), normalize=Bool(), symmetric=Bool()),
    cosine=True,
))
ENTRIES.append(Entry(
    f"{MODULE}.margin_ranking_on_distances", L.margin_ranking_on_distances,
    lambda: dict(d_pos=_rand(B, seed=1), d_neg=_rand(B, seed=2), margin=0.5, reduction="none", weights=_weights()),
    dict(d_pos=TensorArg(min_dims=1), d_neg=TensorArg(min_dims=1), margin=Number(minimum=0.0, learnable=True), reduction=REDUCTION, weights=SampleWeights()),
))
ENTRIES.append(Entry(
    f"{MODULE}.reduce_over_nonbatch", L.reduce_over_nonbatch,
    lambda: dict(x=_rand(B, P), agg="mean", mask=_embedding_mask()),
    dict(x=TensorArg(batch_shared=True, nan="allowed", min_dims=1), agg=AGG, mask=MASK),
))
ENTRIES.append(Entry(
    f"{MODULE}.apply_reduction", L.apply_reduction,
    lambda: dict(per_sample=_rand(B), reduction="mean", weights=_weights()),
    dict(per_sample=TensorArg(nan="allowed", min_dims=1), reduction=REDUCTION, weights=SampleWeights()),
))
