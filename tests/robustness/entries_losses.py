"""Sweep entries of :mod:`comfy_editloss.losses`: the embedding, texture, depth and authenticity losses,
their module twins and helpers."""

from __future__ import annotations

import torch

from comfy_editloss import losses as L
from sweep_kinds import HALF_COMPARE, Bool, Choice, Int, Number, SampleWeights, TensorArg
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


# ---------------------------------------------------------------------------------------------
# Module twins of the embedding losses: constructor options, then forward
# ---------------------------------------------------------------------------------------------


def _module_entry(name, cls, options, option_kinds, tensors, tensor_kinds):
    """An entry calling ``cls(**options)(**tensors)``; the sweep varies both."""

    def call(**arguments):
        module = cls(**{k: arguments[k] for k in options})
        return module(**{k: v for k, v in arguments.items() if k not in options})

    def valid():
        return {**options, **tensors()}

    return Entry(f"{MODULE}.{name}", call, valid, {**option_kinds, **tensor_kinds})


def _pair_tensors(*names, **more):
    def tensors():
        arguments = {n: _randn(B, P, D, seed=i + 1) for i, n in enumerate(names)}
        arguments.update(mask=_embedding_mask(), weights=_weights())
        arguments.update({k: v() for k, v in more.items()})
        return arguments

    return tensors


def _pair_kinds(*names, scale_free=False, **more):
    kinds = {n: SCALE_FREE if scale_free else EMB for n in names}
    kinds.update(mask=MASK, weights=SampleWeights(), **more)
    return kinds


_TRIPLET_OPTIONS = dict(margin=1.0, dist="cos", agg="mean", reduction="none")
_TRIPLET_KINDS = dict(margin=Number(minimum=0.0, learnable=True), dist=Choice(L.DISTANCES), agg=AGG, reduction=REDUCTION)
_MATCH_OPTIONS = dict(kind="l1", agg="mean", reduction="none")
_MATCH_KINDS = dict(kind=Choice(L.FEATURE_MATCH_KINDS), agg=AGG, reduction=REDUCTION)
ENTRIES += [
    _module_entry("FeatureMatchLoss", L.FeatureMatchLoss, _MATCH_OPTIONS, _MATCH_KINDS, _pair_tensors("pred", "target"), _pair_kinds("pred", "target")),
    _module_entry("GeometryMatchLoss", L.GeometryMatchLoss, _MATCH_OPTIONS, _MATCH_KINDS, _pair_tensors("z_pred", "z_gt"), _pair_kinds("z_pred", "z_gt")),
    _module_entry(
        "ContrastivePairLoss", L.ContrastivePairLoss, dict(margin=3.0, dist="l2", agg="mean", reduction="none"),
        dict(margin=Number(minimum=0.0, learnable=True), dist=Choice(L.DISTANCES), agg=AGG, reduction=REDUCTION),
        _pair_tensors("z1", "z2", y=lambda: torch.tensor([1.0, 0.0, 0.5])),
        _pair_kinds("z1", "z2", y=SampleWeights(minimum=0.0, maximum=1.0, optional=False)),
    ),
    _module_entry("TripletMarginLoss", L.TripletMarginLoss, _TRIPLET_OPTIONS, _TRIPLET_KINDS, _pair_tensors("anchor", "positive", "negative"), _pair_kinds("anchor", "positive", "negative", scale_free=True)),
    _module_entry("NoEditIdentityLoss", L.NoEditIdentityLoss, _TRIPLET_OPTIONS, _TRIPLET_KINDS, _pair_tensors("z_pred", "z_gt", "z_src"), _pair_kinds("z_pred", "z_gt", "z_src", scale_free=True)),
    _module_entry("OverlayAvoidanceLoss", L.OverlayAvoidanceLoss, _TRIPLET_OPTIONS, _TRIPLET_KINDS, _pair_tensors("z_pred", "z_gt", "z_overlay"), _pair_kinds("z_pred", "z_gt", "z_overlay", scale_free=True)),
    _module_entry(
        "MarginRankingOnDistancesLoss", L.MarginRankingOnDistancesLoss, dict(margin=0.5, reduction="none"),
        dict(margin=Number(minimum=0.0, learnable=True), reduction=REDUCTION),
        lambda: dict(d_pos=_rand(B, seed=1), d_neg=_rand(B, seed=2), weights=_weights()),
        dict(d_pos=TensorArg(min_dims=1), d_neg=TensorArg(min_dims=1), weights=SampleWeights()),
    ),
    _module_entry(
        "MultiNegativeRankingLoss", L.MultiNegativeRankingLoss, dict(margin=1.0, dist="cos", agg="mean", neg_agg="logsumexp", reduction="none", neg_temperature=0.3),
        dict(margin=Number(minimum=0.0, learnable=True), dist=Choice(L.DISTANCES), agg=AGG, neg_agg=Choice(L.NEGATIVE_AGGREGATIONS), reduction=REDUCTION, neg_temperature=Number(positive=True, learnable=True)),
        _pair_tensors("z_anchor", "z_positive", z_negs=lambda: _randn(B, 2, P, D, seed=7)),
        _pair_kinds("z_anchor", "z_positive", scale_free=True, z_negs=TensorArg(scale_free=True, min_dims=3)),
    ),
    _module_entry(
        "InfoNCELoss", L.InfoNCELoss, dict(temperature=0.5, normalize=True, agg="mean", symmetric=False, reduction="none"),
        dict(temperature=Number(positive=True, learnable=True), normalize=Bool(), agg=AGG, symmetric=Bool(), reduction=REDUCTION),
        _pair_tensors("anchor", "positive"),
        _pair_kinds("anchor", "positive", scale_free=True),
    ),
]


# ---------------------------------------------------------------------------------------------
# Texture scale (seed 003)
# ---------------------------------------------------------------------------------------------

TB, TH, TW = 2, 24, 32
IMAGES = TensorArg(scale_free=True, min_dims=4)
TEXTURE_MASK = TensorArg(optional=True, minimum=0.0, maximum=1.0, bool_ok=True, half=False, zeros="error", min_dims=4)


def _bricks(seed):
    """Clean stripes and bricks: a period the spectrum shows unambiguously, so float32 and the
    float64 reference pick the same peak bin."""
    from comfy_editloss.testing.synthetic import make_texture  # noqa: PLC0415

    kinds = ("stripes", "bricks")
    return torch.stack([make_texture(kinds[i % 2], 6 + (seed % 3) + 2 * i, size=(TH, TW), seed=seed + i) for i in range(TB)])[:, None]


def _texture_mask():
    m = torch.ones(TB, 1, TH, TW)
    m[1, :, :3] = 0.0
    m[0, :, :, :2] = 0.5
    return m


_PEAK_OPTIONS = dict(r_bins=16, tau=0.06, min_bin=2, max_bin=None)
_PEAK_KINDS = dict(r_bins=Int(minimum=8), tau=Number(positive=True), min_bin=Int(minimum=1), max_bin=Int(minimum=1, optional=True))


def _texture_entry(name, function, images, options, option_kinds, extra=None, extra_kinds=None, reduces=True):
    def valid():
        arguments = {n: _bricks(3 * i) for i, n in enumerate(images)}
        arguments.update(mask=_texture_mask(), **options)
        if reduces:
            arguments.update(reduction="none", weights=torch.tensor([1.0, 2.0]))
        arguments.update({k: v() for k, v in (extra or {}).items()})
        return arguments

    kinds = {n: IMAGES for n in images}
    kinds.update(mask=TEXTURE_MASK, **option_kinds, **(extra_kinds or {}))
    if reduces:
        kinds.update(reduction=REDUCTION, weights=SampleWeights())
    return Entry(f"{MODULE}.{name}", function, valid, kinds)


def _peak_tensors(peak):
    return [peak.frequency, peak.period_px, peak.orientation_deg, peak.strength]


def _same_peak_within(values=close(), degrees=1e-3):
    def same_peak(result, reference):
        """Periods and strengths close; orientations equal modulo 180 degrees (0 and 179.99 are one)."""
        problem = values([result.frequency, result.period_px, result.strength], [reference.frequency, reference.period_px, reference.strength])
        if problem:
            return problem
        gap = (result.orientation_deg.double() - reference.orientation_deg.double()).abs().remainder(180.0)
        gap = torch.minimum(gap, 180.0 - gap)
        return None if bool((gap <= degrees).all()) else f"orientation differs by up to {float(gap.max()):.3g} degrees"

    return same_peak


_estimate = _texture_entry("estimate_texture_period", L.estimate_texture_period, ("images",), _PEAK_OPTIONS, _PEAK_KINDS, reduces=False)
_estimate.result_tensors = _peak_tensors
_estimate.compare = _same_peak_within()
_estimate.half_compare = _same_peak_within(HALF_COMPARE, degrees=0.5)
ENTRIES += [
    _estimate,
    _texture_entry(
        "spectral_period_loss", L.spectral_period_loss, ("pred", "target"),
        dict(_PEAK_OPTIONS, band_sigma=0.15, w_peak=1.0, w_band=1.0), dict(_PEAK_KINDS, band_sigma=Number(positive=True), w_peak=Number(minimum=0.0), w_band=Number(minimum=0.0)),
        extra=dict(center_override=lambda: torch.tensor([0.3, 0.2])), extra_kinds=dict(center_override=SampleWeights(minimum=None, maximum=1.0)),
    ),
    _texture_entry("log_polar_align_loss", L.log_polar_align_loss, ("pred", "target"), dict(out_r=12, out_t=16, r_min=1e-2, w=1.0), dict(out_r=Int(minimum=2), out_t=Int(minimum=2), r_min=Number(positive=True, maximum=0.999), w=Number(minimum=0.0))),
    _texture_entry("scale_consistency_loss", L.scale_consistency_loss, ("pred1", "pred2"), dict(_PEAK_OPTIONS, w=1.0), dict(_PEAK_KINDS, w=Number(minimum=0.0))),
    _texture_entry("acf_period_loss", L.acf_period_loss, ("pred", "target"), dict(r_bins=16, tau=0.08, min_rel=0.03, max_rel=0.6, w=1.0), dict(r_bins=Int(minimum=8), tau=Number(positive=True), min_rel=Number(minimum=0.0), max_rel=Number(positive=True, maximum=1.0), w=Number(minimum=0.0))),
]


def _texture_module_entry(name, cls, images, options, option_kinds):
    def call(**arguments):
        module = cls(**{k: arguments[k] for k in options}, reduction="none")
        return module(*(arguments[n] for n in images), mask=arguments["mask"], weights=arguments["weights"])

    def valid():
        return {**options, **{n: _bricks(3 * i) for i, n in enumerate(images)}, "mask": _texture_mask(), "weights": torch.tensor([1.0, 2.0])}

    return Entry(f"{MODULE}.{name}", call, valid, {**option_kinds, **{n: IMAGES for n in images}, "mask": TEXTURE_MASK, "weights": SampleWeights()})


ENTRIES += [
    _texture_module_entry("SpectralPeriodLoss", L.SpectralPeriodLoss, ("pred", "target"), dict(_PEAK_OPTIONS, band_sigma=0.15, w_peak=1.0, w_band=1.0),
                          dict(_PEAK_KINDS, band_sigma=Number(positive=True), w_peak=Number(minimum=0.0), w_band=Number(minimum=0.0))),
    _texture_module_entry("LogPolarAlignLoss", L.LogPolarAlignLoss, ("pred", "target"), dict(out_r=12, out_t=16, r_min=1e-2, w=1.0),
                          dict(out_r=Int(minimum=2), out_t=Int(minimum=2), r_min=Number(positive=True, maximum=0.999), w=Number(minimum=0.0))),
    _texture_module_entry("ScaleConsistencyLoss", L.ScaleConsistencyLoss, ("pred1", "pred2"), dict(_PEAK_OPTIONS, w=1.0), dict(_PEAK_KINDS, w=Number(minimum=0.0))),
    _texture_module_entry("ACFPeriodLoss", L.ACFPeriodLoss, ("pred", "target"), dict(r_bins=16, tau=0.08, min_rel=0.03, max_rel=0.6, w=1.0),
                          dict(r_bins=Int(minimum=8), tau=Number(positive=True), min_rel=Number(minimum=0.0), max_rel=Number(positive=True, maximum=1.0), w=Number(minimum=0.0))),
]


# ---------------------------------------------------------------------------------------------
# Depth (seed 004)
# ---------------------------------------------------------------------------------------------

DB, DH, DW = 2, 10, 12
DEPTH = TensorArg(nan="allowed", min_dims=2)
UNIT_MAP = TensorArg(minimum=0.0, maximum=1.0, half=False, min_dims=2)
ONE_MAP = TensorArg(minimum=0.0, maximum=1.0, half=False, min_dims=2, batch_shared=False)  # the only input


def _depth_maps():
    target = 2.0 + _rand(DB, 1, DH, DW, seed=1)
    pred = target + 0.3 * _rand(DB, 1, DH, DW, seed=2)
    mask = torch.zeros(DB, 1, DH, DW)
    mask[:, :, 3:7, 4:9] = 1.0
    return pred, target, mask


def _depth_valid():
    pred, target, mask = _depth_maps()
    return dict(d_pred=pred, d_tgt=target, mask=mask, conf_pred=0.5 + 0.5 * _rand(DB, 1, DH, DW, seed=3), outside_dilate_r=1, edge_band_r=1,
                beta=0.1, w_inside=1.0, w_outside=0.5, w_edge=0.5, eps=1e-8, sample_weighting="samples", reduction="none", weights=torch.tensor([1.0, 0.5]))


_DEPTH_KINDS = dict(
    d_pred=DEPTH, d_tgt=DEPTH, mask=UNIT_MAP, conf_pred=TensorArg(minimum=0.0, maximum=1.0, half=False, optional=True, min_dims=2),
    outside_dilate_r=Int(minimum=0), edge_band_r=Int(minimum=0), beta=Number(minimum=0.0), w_inside=Number(minimum=0.0), w_outside=Number(minimum=0.0),
    w_edge=Number(minimum=0.0), eps=Number(positive=True), sample_weighting=Choice(("pixels", "samples")), reduction=Choice(("mean", "none")), weights=SampleWeights(),
)


def _depth_module(**arguments):
    tensors = {k: arguments.pop(k) for k in ("d_pred", "d_tgt", "mask", "conf_pred")}
    arguments.pop("reduction")
    arguments.pop("weights")
    return L.DepthConsistencyLoss(**arguments)(**tensors)


def _module_kinds():
    kinds = dict(_DEPTH_KINDS)
    kinds.pop("reduction")
    kinds.pop("weights")
    return kinds


def _align_valid():
    pred, target, mask = _depth_maps()
    return dict(d_pred=pred, d_tgt=3.0 * target + 1.0, mask=mask, conf=None, dilate_r=1, robust="trimmed", trim=2.5, iterations=3)


def _scale_shift_valid():
    pred, target, mask = _depth_maps()
    return dict(pred=pred, target=3.0 * target + 1.0, weight=1.0 - mask, robust="none", trim=2.5, iterations=3)


ENTRIES += [
    Entry(f"{MODULE}.depth_consistency_loss", L.depth_consistency_loss, _depth_valid, _DEPTH_KINDS),
    Entry(f"{MODULE}.DepthConsistencyLoss", _depth_module, lambda: {k: v for k, v in _depth_valid().items()}, _module_kinds()),
    Entry(f"{MODULE}.align_depth", L.align_depth, _align_valid, dict(
        d_pred=DEPTH, d_tgt=DEPTH, mask=TensorArg(minimum=0.0, maximum=1.0, half=False, optional=True, min_dims=2), dilate_r=Int(minimum=0),
        robust=Choice(L.ROBUST_FITS), trim=Number(positive=True), iterations=Int(minimum=1),
    )),
    Entry(f"{MODULE}.align_scale_shift", L.align_scale_shift, _scale_shift_valid, dict(
        pred=TensorArg(nan="allowed", min_dims=4), target=TensorArg(nan="allowed", min_dims=4), weight=TensorArg(minimum=0.0, half=False, min_dims=4, zeros="error"),
        robust=Choice(L.ROBUST_FITS), trim=Number(positive=True), iterations=Int(minimum=1),
    )),
    Entry(f"{MODULE}.dilate", L.dilate, lambda: dict(mask01=_depth_maps()[2], r=1), dict(mask01=ONE_MAP, r=Int(minimum=0))),
    Entry(f"{MODULE}.erode", L.erode, lambda: dict(mask01=_depth_maps()[2], r=1), dict(mask01=ONE_MAP, r=Int(minimum=0))),
    Entry(f"{MODULE}.boundary_band", L.boundary_band, lambda: dict(mask_bin=_depth_maps()[2], r=1), dict(mask_bin=ONE_MAP, r=Int(minimum=0))),
    Entry(f"{MODULE}.depth_gradients", L.depth_gradients, lambda: dict(depth=_depth_maps()[0]), dict(depth=TensorArg(nan="allowed", batch_shared=False, min_dims=2))),
    Entry(f"{MODULE}.weighted_smooth_l1", L.weighted_smooth_l1, lambda: dict(pred=_depth_maps()[0], target=_depth_maps()[1], weight=_depth_maps()[2], beta=0.1, eps=1e-8),
          dict(pred=TensorArg(min_dims=2), target=TensorArg(min_dims=2), weight=TensorArg(minimum=0.0, half=False, min_dims=2), beta=Number(minimum=0.0), eps=Number(positive=True))),
    Entry(f"{MODULE}.depth_to_disparity", L.depth_to_disparity, lambda: dict(depth=_depth_maps()[1], min_depth=1e-3),
          dict(depth=TensorArg(nan="allowed", batch_shared=False, min_dims=0, empty_ok=True), min_depth=Number(positive=True))),
    Entry(f"{MODULE}.disparity_to_depth", L.disparity_to_depth, lambda: dict(disparity=_depth_maps()[1], min_disparity=1e-3),
          dict(disparity=TensorArg(nan="allowed", batch_shared=False, min_dims=0, empty_ok=True), min_disparity=Number(positive=True))),
]


# ---------------------------------------------------------------------------------------------
# Authenticity (seed 002)
# ---------------------------------------------------------------------------------------------

AB = 6


def _authenticity_valid():
    return dict(scores=_rand(AB, seed=1), logits=_randn(AB, 2, seed=2), labels=torch.tensor([1.0, 0.0, 1.0, 0.0, 0.7, 0.2]),
                regression_weight=1.0, classification_weight=0.3, ranking_weight=0.2, regression_type="mse", margin=0.5)


_AUTHENTICITY_KINDS = dict(
    scores=TensorArg(min_dims=1), logits=TensorArg(min_dims=2), labels=TensorArg(minimum=0.0, maximum=1.0, half=False, int_ok=True, min_dims=1),
    regression_weight=Number(minimum=0.0), classification_weight=Number(minimum=0.0), ranking_weight=Number(minimum=0.0),
    regression_type=Choice(L.REGRESSION_TYPES), margin=Number(minimum=0.0),
)
_OPTIONS = ("regression_weight", "classification_weight", "ranking_weight", "regression_type", "margin")


def _combined(cls):
    def call(scores, logits, labels, **options):
        total, terms = cls(**options)(scores, logits, labels)
        return total, torch.tensor([terms[k] for k in ("regression", "classification", "ranking", "total")], dtype=torch.float64)

    return call


def _focal(gamma, **arguments):
    tensors = {k: arguments.pop(k) for k in ("scores", "logits", "labels")}
    total, terms = L.FocalCombinedLoss(gamma=gamma, **arguments)(**tensors)
    return total, torch.tensor([terms[k] for k in ("regression", "classification", "ranking", "total")], dtype=torch.float64)


ENTRIES += [
    Entry(f"{MODULE}.CombinedLoss", _combined(L.CombinedLoss), _authenticity_valid, _AUTHENTICITY_KINDS),
    Entry(f"{MODULE}.FocalCombinedLoss", _focal, lambda: dict(_authenticity_valid(), gamma=2.0), dict(_AUTHENTICITY_KINDS, gamma=Number(minimum=0.0))),
    Entry(f"{MODULE}.pairwise_margin_ranking", L.pairwise_margin_ranking, lambda: dict(real_scores=_rand(4, seed=1), fake_scores=_rand(5, seed=2), margin=0.5),
          dict(real_scores=TensorArg(batch_shared=False, min_dims=1, empty_ok=True), fake_scores=TensorArg(batch_shared=False, min_dims=1, empty_ok=True), margin=Number(minimum=0.0))),
]


# ---------------------------------------------------------------------------------------------
# Names with nothing to call
# ---------------------------------------------------------------------------------------------

ENTRIES += [
    Entry(f"{MODULE}.{name}", note=note)
    for name, note in (
        ("AGGREGATIONS", "the accepted values of agg"),
        ("DISTANCES", "the accepted values of dist"),
        ("FEATURE_MATCH_KINDS", "the accepted values of kind"),
        ("NEGATIVE_AGGREGATIONS", "the accepted values of neg_agg"),
        ("REDUCTIONS", "the accepted values of reduction"),
        ("REGRESSION_TYPES", "the accepted values of regression_type"),
        ("ROBUST_FITS", "the accepted values of robust"),
        ("SAMPLE_WEIGHTINGS", "the accepted values of sample_weighting"),
        ("NonFiniteError", "an exception class (CombinedLoss's NaN/Inf error), raised in its sweep"),
        ("TexturePeak", "a result type (estimate_texture_period's), swept through it"),
        ("DepthAlignment", "a result type (align_depth's), swept through it"),
        ("DepthConsistencyTerms", "a result type (depth_consistency_loss's), swept through it"),
    )
]
