"""``torch.nn.Module`` twins of the functional losses, for training code that builds its criteria once.

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

from .._checks import check_bool, check_choice, check_scalar
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
from .reduction import AGGREGATIONS, REDUCTIONS

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
