"""Differentiable losses for Flux Kontext image edits, usable in any PyTorch training loop.

``from comfy_editloss.losses import loss_no_edit_identity, loss_geometry_match, loss_overlay_avoidance``
(embeddings, seeds 000/001) and ``SpectralPeriodLoss, LogPolarAlignLoss, ScaleConsistencyLoss,
ACFPeriodLoss`` (texture scale, seed 003; helpers in :mod:`comfy_editloss.losses.spectral`) and
``depth_consistency_loss``, ``align_depth`` (object insertion, seed 004) and ``CombinedLoss`` (an
authenticity scorer, seed 002). The ``nn.Module`` twins of the functional losses are in
:mod:`comfy_editloss.losses.modules`.
"""

from .distances import DISTANCES
from .embedding import (
    FEATURE_MATCH_KINDS,
    NEGATIVE_AGGREGATIONS,
    contrastive_pair_loss,
    cosine_distance,
    feature_match_loss,
    info_nce_loss,
    l2_distance,
    loss_geometry_match,
    loss_no_edit_identity,
    loss_overlay_avoidance,
    margin_ranking_on_distances,
    multi_negative_ranking_loss,
    pair_distance,
    triplet_margin_loss,
)
from .modules import (
    ACFPeriodLoss,
    ContrastivePairLoss,
    DepthConsistencyLoss,
    FeatureMatchLoss,
    GeometryMatchLoss,
    InfoNCELoss,
    LogPolarAlignLoss,
    MarginRankingOnDistancesLoss,
    MultiNegativeRankingLoss,
    NoEditIdentityLoss,
    OverlayAvoidanceLoss,
    ScaleConsistencyLoss,
    SpectralPeriodLoss,
    TripletMarginLoss,
)
from .authenticity import REGRESSION_TYPES, CombinedLoss, FocalCombinedLoss, NonFiniteError, pairwise_margin_ranking
from .alignment import ROBUST_FITS, DepthAlignment, align_depth, align_scale_shift, depth_to_disparity, disparity_to_depth
from .depth import SAMPLE_WEIGHTINGS, DepthConsistencyTerms, depth_consistency_loss, depth_gradients, weighted_smooth_l1
from ..edits.morphology import boundary_band, dilate, erode
from .spectral import TexturePeak
from .texture import (
    acf_period_loss,
    estimate_texture_period,
    log_polar_align_loss,
    scale_consistency_loss,
    spectral_period_loss,
)
from .reduction import AGGREGATIONS, REDUCTIONS, apply_reduction, reduce_over_nonbatch

__all__ = [
    "ACFPeriodLoss",
    "CombinedLoss",
    "FocalCombinedLoss",
    "NonFiniteError",
    "REGRESSION_TYPES",
    "ROBUST_FITS",
    "SAMPLE_WEIGHTINGS",
    "pairwise_margin_ranking",
    "DepthAlignment",
    "DepthConsistencyLoss",
    "DepthConsistencyTerms",
    "align_depth",
    "align_scale_shift",
    "boundary_band",
    "depth_consistency_loss",
    "depth_gradients",
    "depth_to_disparity",
    "dilate",
    "disparity_to_depth",
    "erode",
    "weighted_smooth_l1",
    "AGGREGATIONS",
    "LogPolarAlignLoss",
    "ScaleConsistencyLoss",
    "SpectralPeriodLoss",
    "TexturePeak",
    "acf_period_loss",
    "estimate_texture_period",
    "log_polar_align_loss",
    "scale_consistency_loss",
    "spectral_period_loss",
    "ContrastivePairLoss",
    "FeatureMatchLoss",
    "GeometryMatchLoss",
    "InfoNCELoss",
    "MarginRankingOnDistancesLoss",
    "MultiNegativeRankingLoss",
    "NoEditIdentityLoss",
    "OverlayAvoidanceLoss",
    "TripletMarginLoss",
    "DISTANCES",
    "FEATURE_MATCH_KINDS",
    "NEGATIVE_AGGREGATIONS",
    "REDUCTIONS",
    "apply_reduction",
    "contrastive_pair_loss",
    "cosine_distance",
    "feature_match_loss",
    "info_nce_loss",
    "l2_distance",
    "loss_geometry_match",
    "loss_no_edit_identity",
    "loss_overlay_avoidance",
    "margin_ranking_on_distances",
    "multi_negative_ranking_loss",
    "pair_distance",
    "reduce_over_nonbatch",
    "triplet_margin_loss",
]
