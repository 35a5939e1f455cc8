"""``torch.nn.Module`` twins of the functional losses (embedding, texture and depth), for training code
that builds its criteria once.

Each module stores the loss's options (validated when it is built, so a typo fails at start-up, not
hours into training) and its ``forward`` takes the tensors, plus per-call ``weights`` and ``mask``.

Example:
    >>> criterion = NoEditIdentityLoss(margin=0.25)
    >>> criterion(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    tensor(0.)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .._checks import check_bool, check_choice, check_number, check_scalar
from .depth import SAMPLE_WEIGHTINGS, DepthConsistencyTerms, depth_consistency_loss
from .distances import DISTANCES
from .embedding import (
    FEATURE_MATCH_KINDS,
    NEGATIVE_AGGREGATIONS,
    Negatives,
    contrastive_pair_loss,
    feature_match_loss,
    info_nce_loss,
    loss_geometry_match,
    loss_no_edit_identity,
    loss_overlay_avoidance,
    margin_ranking_on_distances,
    multi_negative_ranking_loss,
    triplet_margin_loss,
)
from .maps import check_radius
from .reduction import AGGREGATIONS, REDUCTIONS, check_reduction
from .texture import (
    acf_period_loss,
    check_acf_options,
    check_log_polar_options,
    check_peak_options,
    log_polar_align_loss,
    scale_consistency_loss,
    spectral_period_loss,
)

_OPTION_CHECKS: dict[str, Callable[[object, str], object]] = {
    "margin": lambda v, n: check_scalar(v, n, minimum=0.0),
    "temperature": lambda v, n: check_scalar(v, n, strictly_positive=True),
    "neg_temperature": lambda v, n: check_scalar(v, n, strictly_positive=True),
    "dist": lambda v, n: check_choice(v, n, DISTANCES),
    "kind": lambda v, n: check_choice(v, n, FEATURE_MATCH_KINDS),
    "agg": lambda v, n: check_choice(v, n, AGGREGATIONS),
    "neg_agg": lambda v, n: check_choice(v, n, NEGATIVE_AGGREGATIONS),
    "reduction": lambda v, n: check_choice(v, n, REDUCTIONS),
    "normalize": check_bool,
    "symmetric": check_bool,
}


class _EmbeddingLoss(nn.Module):
    """Options checked once; ``margin``, ``temperature`` and ``neg_temperature`` may be tensors (an
    ``nn.Parameter`` is registered on the module) and then get gradients."""

    def __init__(self, **options: object) -> None:
        super().__init__()
        for name, value in options.items():
            _OPTION_CHECKS[name](value, name)
            if isinstance(value, nn.Parameter):
                # A learnable margin or temperature: registered, so that .parameters() and .to() see it.
                self.register_parameter(name, value)
        self._option_values = options

    @property
    def options(self) -> dict[str, object]:
        """The loss's keyword options, registered parameters as the module holds them now."""
        return {name: self._parameters.get(name, value) if isinstance(value, nn.Parameter) else value for name, value in self._option_values.items()}

    def extra_repr(self) -> str:
        def shown(value: object) -> str:
            return f"{type(value).__name__}({float(value.detach()):g})" if isinstance(value, torch.Tensor) else repr(value)

        return ", ".join(f"{k}={shown(v)}" for k, v in self.options.items())


class FeatureMatchLoss(_EmbeddingLoss):
    """Module form of :func:`~comfy_editloss.losses.feature_match_loss`."""

    def __init__(self, kind: str = "l2", agg: str = "mean", reduction: str = "mean") -> None:
        super().__init__(kind=kind, agg=agg, reduction=reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weights=None, mask=None) -> torch.Tensor:
        return feature_match_loss(pred, target, weights=weights, mask=mask, **self.options)


class GeometryMatchLoss(_EmbeddingLoss):
    """Module form of :func:`~comfy_editloss.losses.loss_geometry_match`."""

    def __init__(self, kind: str = "l2", agg: str = "mean", reduction: str = "mean") -> None:
        super().__init__(kind=kind, agg=agg, reduction=reduction)

    def forward(self, z_pred: torch.Tensor, z_gt: torch.Tensor, weights=None, mask=None) -> torch.Tensor:
        return loss_geometry_match(z_pred, z_gt, weights=weights, mask=mask, **self.options)


class ContrastivePairLoss(_EmbeddingLoss):
    """Module form of :func:`~comfy_editloss.losses.contrastive_pair_loss`."""

    def __init__(self, margin: float = 1.0, dist: str = "l2", agg: str = "mean", reduction: str = "mean") -> None:
        super().__init__(margin=margin, dist=dist, agg=agg, reduction=reduction)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor, y: torch.Tensor, weights=None, mask=None) -> torch.Tensor:
        return contrastive_pair_loss(z1, z2, y, weights=weights, mask=mask, **self.options)


class _TripletLike(_EmbeddingLoss):
    def __init__(self, margin: float = 0.2, dist: str = "cos", agg: str = "mean", reduction: str = "mean") -> None:
        super().__init__(margin=margin, dist=dist, agg=agg, reduction=reduction)


class TripletMarginLoss(_TripletLike):
    """Module form of :func:`~comfy_editloss.losses.triplet_margin_loss`."""

    def forward(self, anchor, positive, negative, weights=None, mask=None) -> torch.Tensor:
        return triplet_margin_loss(anchor, positive, negative, weights=weights, mask=mask, **self.options)


class NoEditIdentityLoss(_TripletLike):
    """Module form of :func:`~comfy_editloss.losses.loss_no_edit_identity`."""

    def forward(self, z_pred, z_gt, z_src, weights=None, mask=None) -> torch.Tensor:
        return loss_no_edit_identity(z_pred, z_gt, z_src, weights=weights, mask=mask, **self.options)


class OverlayAvoidanceLoss(_TripletLike):
    """Module form of :func:`~comfy_editloss.losses.loss_overlay_avoidance`."""

    def forward(self, z_pred, z_gt, z_overlay, weights=None, mask=None) -> torch.Tensor:
        return loss_overlay_avoidance(z_pred, z_gt, z_overlay, weights=weights, mask=mask, **self.options)


class MarginRankingOnDistancesLoss(_EmbeddingLoss):
    """Module form of :func:`~comfy_editloss.losses.margin_ranking_on_distances`."""

    def __init__(self, margin: float = 0.2, reduction: str = "mean") -> None:
        super().__init__(margin=margin, reduction=reduction)

    def forward(self, d_pos: torch.Tensor, d_neg: torch.Tensor, weights=None) -> torch.Tensor:
        return margin_ranking_on_distances(d_pos, d_neg, weights=weights, **self.options)


class MultiNegativeRankingLoss(_EmbeddingLoss):
    """Module form of :func:`~comfy_editloss.losses.multi_negative_ranking_loss`."""

    def __init__(
        self,
        margin: float = 0.2,
        dist: str = "cos",
        agg: str = "mean",
        neg_agg: str = "mean",
        reduction: str = "mean",
        neg_temperature: float = 0.05,
    ) -> None:
        super().__init__(margin=margin, dist=dist, agg=agg, neg_agg=neg_agg, reduction=reduction, neg_temperature=neg_temperature)

    def forward(self, z_anchor, z_positive, z_negs: Negatives, weights=None, mask=None) -> torch.Tensor:
        return multi_negative_ranking_loss(z_anchor, z_positive, z_negs, weights=weights, mask=mask, **self.options)


class InfoNCELoss(_EmbeddingLoss):
    """Module form of :func:`~comfy_editloss.losses.info_nce_loss`."""

    def __init__(
        self,
        temperature: float = 0.07,
        normalize: bool = True,
        agg: str = "mean",
        symmetric: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(temperature=temperature, normalize=normalize, agg=agg, symmetric=symmetric, reduction=reduction)

    def forward(self, anchor, positive, negatives: Negatives | None = None, weights=None, mask=None) -> torch.Tensor:
        return info_nce_loss(anchor, positive, negatives, weights=weights, mask=mask, **self.options)


# ---------------------------------------------------------------------------------------------
# Texture scale (seed 003): the seed's constructors and forward signatures
# ---------------------------------------------------------------------------------------------


class _TextureModule(nn.Module):
    """Stores the loss's options (checked when built, so a typo fails at start-up, not hours into
    training) and passes them to the function on each call."""

    def __init__(self, **options: object) -> None:
        super().__init__()
        check_reduction(options["reduction"], None, 1)
        self.options = options
        for name, value in options.items():
            setattr(self, name, value)

    def _loss(self, function, *args: object, weights: torch.Tensor | None) -> torch.Tensor:
        return function(*args, weights=weights, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={value!r}" for name, value in self.options.items())


class SpectralPeriodLoss(_TextureModule):
    """Module form of :func:`spectral_period_loss` (seed 003's constructor and ``forward``)."""

    def __init__(
        self,
        r_bins: int = 256,
        tau: float = 0.06,
        band_sigma: float = 0.15,
        w_peak: float = 1.0,
        w_band: float = 1.0,
        min_bin: int = 2,
        max_bin: int | None = None,
        reduction: str = "mean",
    ) -> None:
        check_peak_options(r_bins, tau, min_bin, max_bin)
        check_number(band_sigma, "band_sigma", strictly_positive=True)
        check_number(w_peak, "w_peak", minimum=0.0)
        check_number(w_band, "w_band", minimum=0.0)
        super().__init__(
            r_bins=r_bins, tau=tau, band_sigma=band_sigma, w_peak=w_peak, w_band=w_band, min_bin=min_bin, max_bin=max_bin,
            reduction=reduction,
        )

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
        center_override: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self._loss(spectral_period_loss, pred, target, mask, center_override, weights=weights)


class LogPolarAlignLoss(_TextureModule):
    """Module form of :func:`log_polar_align_loss` (seed 003's constructor and ``forward``)."""

    def __init__(self, out_r: int = 128, out_t: int = 180, r_min: float = 1e-2, w: float = 1.0, reduction: str = "mean") -> None:
        check_log_polar_options(out_r, out_t, r_min, w)
        super().__init__(out_r=out_r, out_t=out_t, r_min=r_min, w=w, reduction=reduction)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self._loss(log_polar_align_loss, pred, target, mask, weights=weights)


class ScaleConsistencyLoss(_TextureModule):
    """Module form of :func:`scale_consistency_loss` (seed 003's constructor and ``forward``)."""

    def __init__(
        self, r_bins: int = 256, tau: float = 0.06, min_bin: int = 2, max_bin: int | None = None, w: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        check_peak_options(r_bins, tau, min_bin, max_bin)
        check_number(w, "w", minimum=0.0)
        super().__init__(r_bins=r_bins, tau=tau, min_bin=min_bin, max_bin=max_bin, w=w, reduction=reduction)

    def forward(
        self, pred1: torch.Tensor, pred2: torch.Tensor, mask: torch.Tensor | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self._loss(scale_consistency_loss, pred1, pred2, mask, weights=weights)


class ACFPeriodLoss(_TextureModule):
    """Module form of :func:`acf_period_loss` (seed 003's constructor and ``forward``)."""

    def __init__(
        self, r_bins: int = 256, tau: float = 0.08, min_rel: float = 0.03, max_rel: float = 0.6, w: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        check_acf_options(r_bins, tau, min_rel, max_rel)
        check_number(w, "w", minimum=0.0)
        super().__init__(r_bins=r_bins, tau=tau, min_rel=min_rel, max_rel=max_rel, w=w, reduction=reduction)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self._loss(acf_period_loss, pred, target, mask, weights=weights)


# ---------------------------------------------------------------------------------------------
# Depth consistency (seed 004)
# ---------------------------------------------------------------------------------------------


class DepthConsistencyLoss(torch.nn.Module):
    """Module form of :func:`depth_consistency_loss`; ``forward`` returns the total, and the last
    call's terms are kept in ``self.terms`` for logging."""

    def __init__(
        self,
        outside_dilate_r: int = 1,
        edge_band_r: int = 1,
        beta: float = 0.1,
        w_inside: float = 1.0,
        w_outside: float = 0.5,
        w_edge: float = 0.5,
        eps: float = 1e-8,
        sample_weighting: str = "pixels",
    ) -> None:
        super().__init__()
        check_radius(outside_dilate_r, "outside_dilate_r")
        check_radius(edge_band_r, "edge_band_r")
        check_number(beta, "beta", minimum=0.0)
        for name, value in (("w_inside", w_inside), ("w_outside", w_outside), ("w_edge", w_edge)):
            check_number(value, name, minimum=0.0)
        check_number(eps, "eps", strictly_positive=True)
        check_choice(sample_weighting, "sample_weighting", SAMPLE_WEIGHTINGS)
        self.options = dict(
            outside_dilate_r=outside_dilate_r, edge_band_r=edge_band_r, beta=beta, w_inside=w_inside,
            w_outside=w_outside, w_edge=w_edge, eps=eps, sample_weighting=sample_weighting,
        )
        self.terms: DepthConsistencyTerms | None = None

    def forward(self, d_pred: torch.Tensor, d_tgt: torch.Tensor, mask: torch.Tensor, conf_pred: torch.Tensor | None = None) -> torch.Tensor:
        self.terms = depth_consistency_loss(d_pred, d_tgt, mask, conf_pred=conf_pred, **self.options)
        return self.terms.total

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())
