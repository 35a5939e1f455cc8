"""Differentiable losses for Flux Kontext image edits, usable in any PyTorch training loop.

``from comfy_editloss.losses import loss_no_edit_identity, loss_geometry_match, loss_overlay_avoidance``
(embeddings, seeds 000/001) and ``SpectralPeriodLoss, LogPolarAlignLoss, ScaleConsistencyLoss,
ACFPeriodLoss`` (texture scale, seed 003; helpers in :mod:`comfy_editloss.losses.spectral`).
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
    ContrastivePairLoss,
    FeatureMatchLoss,
    GeometryMatchLoss,
    InfoNCELoss,
    MarginRankingOnDistancesLoss,
    MultiNegativeRankingLoss,
    NoEditIdentityLoss,
    OverlayAvoidanceLoss,
    TripletMarginLoss,
)
from .spectral import TexturePeak
from .texture import (
    ACFPeriodLoss,
    LogPolarAlignLoss,
    ScaleConsistencyLoss,
    SpectralPeriodLoss,
    acf_period_loss,
    estimate_texture_period,
    log_polar_align_loss,
    scale_consistency_loss,
    spectral_period_loss,
)
from .reduction import AGGREGATIONS, REDUCTIONS, apply_reduction, reduce_over_nonbatch

__all__ = [
    "ACFPeriodLoss",
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
