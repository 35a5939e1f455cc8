r"""Embedding losses of seeds 000/001: distances, metric-learning building blocks, and the three task
losses for Flux Kontext object replacement (no edit, distorted geometry, overlay).

Every function works on precomputed embeddings shaped ``[B, D]`` (global), ``[B, P, D]`` (tokens),
``[B, H, W, D]`` (a feature grid) or any ``[B, ..., D]``. Distances are taken per position over the
feature dim ``D`` and aggregated over the other non-batch dims with ``agg``; an optional ``mask`` of
shape ``[B, ...]`` (the embedding's shape without ``D``) restricts that aggregate to a region; see
:func:`~comfy_editloss.losses.reduction.check_mask`. The per-sample values are then reduced over the
batch with ``reduction`` and optional ``weights``
(:func:`~comfy_editloss.losses.reduction.apply_reduction`).

Distances (``dist``/``kind``): ``"cos"``, ``"l2"`` (squared), ``"euclidean"``, ``"l1"``; the exact
definitions and how they differ from ``torch.nn.functional`` are in
:mod:`comfy_editloss.losses.distances`.

Inputs are never broadcast: every embedding must have the anchor's shape. float16/bfloat16 inputs are
computed in float32 with autocast off and the result is returned in the inputs' dtype. All functions
are differentiable; bad arguments raise ``TypeError``/``ValueError`` naming the argument.

NaN/Inf: an embedding has no missing values, so NaN or Inf anywhere in an input (masked-out positions
included) raises ``ValueError`` naming the input and its samples, and so does a result that
overflows the dtype (e.g. the squared L2 distance of float32 embeddings near 1e20). The check is one
reduction and one device sync per call. Cosine similarities and unit vectors are computed from each
vector divided by its largest magnitude, so they are exact at any magnitude (1e-30 or 1e30 in float32).

``margin``, ``temperature`` and ``neg_temperature`` may be tensors (e.g. an ``nn.Parameter``): they
stay in the autograd graph and get gradients.

Differences from pytorch-metric-learning, for users coming from it: pml's distances normalise
embeddings by default (``LpDistance(normalize_embeddings=True)``), here only ``"cos"`` does; pml's
``TripletMarginLoss`` averages over the triplets with a positive loss (``AvgNonZeroReducer``), here
``reduction="mean"`` averages over all samples; pml's ``ContrastiveLoss`` uses unsquared hinges
(``pos_margin=0, neg_margin=1``), here the contrastive loss is Hadsell et al.'s squared form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import torch

from .._checks import (
    as_sample_vector,
    check_bool,
    check_choice,
    check_embedding,
    check_float_tensor,
    check_scalar,
    check_same_device,
    check_same_shape,
    check_tensor,
    describe,
    finite_or_raise,
)
from .distances import DISTANCES, sample_distance, sample_similarity, similarity_matrix
from .reduction import (
    AGGREGATIONS,
    check_mask,
    check_reduction,
    compute_dtype,
    full_precision,
    reduce_batch,
)

NEGATIVE_AGGREGATIONS = ("mean", "max", "sum", "logsumexp")
FEATURE_MATCH_KINDS = ("l2", "l1", "cos", "euclidean")

Negatives = Union[torch.Tensor, Sequence[torch.Tensor]]


@dataclass
class _Batch:
    """Checked inputs, cast to the compute dtype, with what is needed to give the result back."""

    tensors: list[torch.Tensor]
    mask: torch.Tensor | None
    out_dtype: torch.dtype
    device: torch.device
    named: list[tuple[str, torch.Tensor]]

    def checked(self, result: torch.Tensor, what: str) -> torch.Tensor:
        """``result`` if finite, else the error naming the input with NaN/Inf (see ``finite_or_raise``)."""
        return finite_or_raise(result, self.named, what)

    def finish(self, per_sample: torch.Tensor, reduction: str, weights: torch.Tensor | None, what: str = "the loss") -> torch.Tensor:
        return self.checked(reduce_batch(per_sample, reduction, weights), what).to(self.out_dtype)


def _embeddings(named: Sequence[tuple[str, torch.Tensor]], mask: torch.Tensor | None) -> _Batch:
    """Check embeddings that must share one shape (the first one's) and the optional mask."""
    first_name, first = named[0]
    for name, x in named:
        check_embedding(x, name)
        if x is not first:
            check_same_shape(first, x, first_name, name)
    if mask is not None:
        check_tensor(mask, "mask")
    device = check_same_device(list(named) + [("mask", mask)])
    if mask is not None:
        check_mask(mask, first.shape[:-1], of=first_name)
    work, out = compute_dtype(*(x for _, x in named))
    tensors = [x.to(work) for _, x in named]
    return _Batch(tensors, mask, out, device, list(named))


def _negatives(z_negs: object, anchor: torch.Tensor, anchor_name: str, name: str) -> list[tuple[str, torch.Tensor]]:
    """Negatives as a list of ``(name, tensor)``, each shaped like the anchor.

    Accepts a tensor ``[B, K, ..., D]`` (split into K views, no copy) or a list/tuple of K tensors
    shaped like the anchor ``[B, ..., D]``.
    """
    if isinstance(z_negs, torch.Tensor):
        check_float_tensor(z_negs, name)
        expected = (anchor.shape[0], "K", *anchor.shape[1:])
        if z_negs.dim() != anchor.dim() + 1 or z_negs.shape[0] != anchor.shape[0] or z_negs.shape[2:] != anchor.shape[1:]:
            raise ValueError(
                f"{name} as a tensor must have shape [B, K, ...] = {list(expected)} for {anchor_name} of shape "
                f"{tuple(anchor.shape)}, got {tuple(z_negs.shape)}; or pass a list of K tensors shaped like {anchor_name}"
            )
        if z_negs.shape[1] == 0:
            raise ValueError(f"{name} must hold at least one negative, got K=0 (shape {tuple(z_negs.shape)})")
        return [(f"{name}[:, {k}]", z_negs[:, k]) for k in range(z_negs.shape[1])]
    if isinstance(z_negs, (list, tuple)):
        if len(z_negs) == 0:
            raise ValueError(f"{name} must hold at least one negative, got an empty {type(z_negs).__name__}")
        return [(f"{name}[{k}]", z) for k, z in enumerate(z_negs)]
    raise TypeError(f"{name} must be a tensor [B, K, ..., D] or a list of tensors [B, ..., D], got {describe(z_negs)}")


def _operand(value: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """A margin or temperature ready to combine with ``like``: a learnable (tensor) value is moved to
    its device and dtype, staying in the autograd graph."""
    return value.to(device=like.device, dtype=like.dtype) if isinstance(value, torch.Tensor) else value


def _check_common(dist: str, agg: str, dist_name: str = "dist", dists: Sequence[str] = DISTANCES) -> None:
    check_choice(dist, dist_name, dists)
    check_choice(agg, "agg", AGGREGATIONS)


# ---------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------


def l2_distance(
    a: torch.Tensor, b: torch.Tensor, squared: bool = True, agg: str = "mean", mask: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Euclidean distance per sample: :math:`\operatorname{agg}_p \lVert a_p - b_p \rVert_2^{(2)}`.

    Args:
        a, b: embeddings ``[B, ..., D]`` of one shape.
        squared: ``True`` (default) for :math:`\lVert a-b\rVert_2^2`, ``False`` for
            :math:`\lVert a-b\rVert_2`.
        agg: ``"mean"``, ``"sum"`` or ``"max"`` over the non-batch, non-feature dims.
        mask: optional weights ``[B, ...]`` over those dims.

    Returns:
        ``[B]`` distances.

    Example:
        >>> l2_distance(torch.tensor([[3.0, 4.0]]), torch.zeros(1, 2))
        tensor([25.])
    """
    check_bool(squared, "squared")
    check_choice(agg, "agg", AGGREGATIONS)
    batch = _embeddings([("a", a), ("b", b)], mask)
    with full_precision(batch.device):
        d = sample_distance(*batch.tensors, "l2" if squared else "euclidean", agg, batch.mask)
        return batch.checked(d, "the squared distance" if squared else "the distance").to(batch.out_dtype)


def cosine_distance(
    a: torch.Tensor, b: torch.Tensor, normalize: bool = True, agg: str = "mean", mask: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Cosine distance per sample: :math:`\operatorname{agg}_p \, (1 - \cos(a_p, b_p))`.

    Args:
        a, b: embeddings ``[B, ..., D]`` of one shape.
        normalize: ``True`` (default) to L2-normalise before the dot product; ``False`` takes
            :math:`1 - \langle a, b\rangle` for embeddings that are already unit-norm.
        agg: ``"mean"``, ``"sum"`` or ``"max"`` over the non-batch, non-feature dims.
        mask: optional weights ``[B, ...]``.

    Returns:
        ``[B]`` distances, in :math:`[0, 2]` when normalised. A zero vector has similarity 0.

    Example:
        >>> cosine_distance(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]]))
        tensor([1.])
    """
    check_bool(normalize, "normalize")
    check_choice(agg, "agg", AGGREGATIONS)
    batch = _embeddings([("a", a), ("b", b)], mask)
    with full_precision(batch.device):
        d = sample_distance(*batch.tensors, "cos", agg, batch.mask, normalize)
        return batch.checked(d, "the dot product").to(batch.out_dtype)


def pair_distance(
    a: torch.Tensor, b: torch.Tensor, dist: str = "cos", agg: str = "mean", mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-sample distance with the metric chosen by name: the one switch every loss uses.

    Args:
        a, b: embeddings ``[B, ..., D]`` of one shape.
        dist: ``"cos"`` (default, cosine distance), ``"l2"`` (squared Euclidean), ``"euclidean"``
            or ``"l1"``.
        agg: ``"mean"``, ``"sum"`` or ``"max"`` over the non-batch, non-feature dims.
        mask: optional weights ``[B, ...]``.

    Returns:
        ``[B]`` distances.

    Example:
        >>> pair_distance(torch.ones(2, 3, 4), torch.zeros(2, 3, 4), dist="l1")
        tensor([4., 4.])
    """
    _check_common(dist, agg)
    batch = _embeddings([("a", a), ("b", b)], mask)
    with full_precision(batch.device):
        return batch.checked(sample_distance(*batch.tensors, dist, agg, batch.mask), f"the {dist} distance").to(batch.out_dtype)


# ---------------------------------------------------------------------------------------------
# Generic losses
# ---------------------------------------------------------------------------------------------


def _feature_match(
    names: tuple[str, str],
    pred: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    agg: str,
    reduction: str,
    weights: torch.Tensor | None,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    _check_common(kind, agg, "kind", FEATURE_MATCH_KINDS)
    batch = _embeddings(list(zip(names, (pred, target))), mask)
    w = check_reduction(reduction, weights, batch.tensors[0].shape[0], of=batch.named[0][0])
    with full_precision(batch.device):
        return batch.finish(sample_distance(*batch.tensors, kind, agg, batch.mask), reduction, w)


def feature_match_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    kind: str = "l2",
    agg: str = "mean",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Pull the prediction's features towards the target's: :math:`L_i = \operatorname{agg}_p d(\hat z_{i,p}, z_{i,p})`.

    With ``kind="l2"``, ``agg="mean"``, no mask and ``reduction="mean"`` this equals
    ``D * torch.nn.functional.mse_loss(pred, target)``; with ``kind="l1"`` it equals
    ``D * torch.nn.functional.l1_loss(pred, target)``.

    Args:
        pred: embedding of the model's output ``[B, ..., D]``.
        target: embedding of the ground truth, same shape.
        kind: ``"l2"`` (squared, default), ``"l1"``, ``"cos"`` or ``"euclidean"``.
        agg: ``"mean"``, ``"sum"`` or ``"max"`` over positions.
        reduction: ``"none"`` (``[B]``), ``"mean"`` or ``"sum"``.
        weights: optional per-sample weights ``[B]``.
        mask: optional weights ``[B, ...]`` over positions, e.g. the edited region.

    Example:
        >>> feature_match_loss(torch.ones(2, 4), torch.zeros(2, 4))
        tensor(4.)
    """
    return _feature_match(("pred", "target"), pred, target, kind, agg, reduction, weights, mask)


def contrastive_pair_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    y: torch.Tensor,
    margin: float = 1.0,
    dist: str = "l2",
    agg: str = "mean",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Pairwise contrastive loss of Hadsell, Chopra & LeCun (2006).

    .. math::
        L_i = \tfrac12\, y_i\, D_i^2 + \tfrac12\,(1 - y_i)\, \max(0, m - D_i)^2

    where :math:`D_i` is the **unsquared** distance of the pair, as in the paper: with ``dist="l2"``
    it is the Euclidean distance (for patch embeddings, the ``agg`` of per-position Euclidean
    distances), with ``"cos"``/``"l1"``/``"euclidean"`` that distance. The ½ factors are the paper's.

    Args:
        z1, z2: the two embeddings of each pair ``[B, ..., D]``.
        y: ``[B]`` pair labels in [0, 1]: 1 = similar (pull together), 0 = dissimilar (push apart
            beyond ``margin``). Bool, integer or float (soft labels interpolate).
        margin: :math:`m \ge 0`.
        dist, agg, reduction, weights, mask: as in :func:`pair_distance` and
            :func:`~comfy_editloss.losses.reduction.apply_reduction`.

    Example:
        >>> contrastive_pair_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([1, 0]), reduction="none")
        tensor([0.0000, 0.5000])
    """
    margin = check_scalar(margin, "margin", minimum=0.0)
    _check_common(dist, agg)
    batch = _embeddings([("z1", z1), ("z2", z2)], mask)
    n = batch.tensors[0].shape[0]
    labels = as_sample_vector(y, "y", n, minimum=0.0, maximum=1.0, of="z1")
    w = check_reduction(reduction, weights, n, of=batch.named[0][0])
    margin = _operand(margin, batch.tensors[0])
    with full_precision(batch.device):
        d = sample_distance(*batch.tensors, "euclidean" if dist == "l2" else dist, agg, batch.mask)
        labels = labels.to(device=d.device, dtype=d.dtype)
        per_sample = 0.5 * (labels * d.square() + (1 - labels) * (margin - d).clamp_min(0).square())
        return batch.finish(per_sample, reduction, w)


def _triplet(
    names: tuple[str, str, str],
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float,
    dist: str,
    agg: str,
    reduction: str,
    weights: torch.Tensor | None,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    margin = check_scalar(margin, "margin", minimum=0.0)
    _check_common(dist, agg)
    batch = _embeddings(list(zip(names, (anchor, positive, negative))), mask)
    w = check_reduction(reduction, weights, batch.tensors[0].shape[0], of=batch.named[0][0])
    a, p, n = batch.tensors
    margin = _operand(margin, a)
    with full_precision(batch.device):
        d_pos = sample_distance(a, p, dist, agg, batch.mask)
        d_neg = sample_distance(a, n, dist, agg, batch.mask)
        return batch.finish((d_pos - d_neg + margin).clamp_min(0), reduction, w)


def triplet_margin_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 0.2,
    dist: str = "cos",
    agg: str = "mean",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Triplet hinge (FaceNet): :math:`L_i = \max(0,\ d(a_i, p_i) - d(a_i, n_i) + m)`.

    With ``dist="euclidean"``, ``[B, D]`` inputs and ``reduction="mean"`` it equals
    ``torch.nn.functional.triplet_margin_loss(anchor, positive, negative, margin, p=2, eps=0)``.
    The default ``dist="cos"`` suits CLIP-like embeddings; ``"l2"`` is FaceNet's squared distance.

    Args:
        anchor: usually the prediction ``[B, ..., D]``.
        positive: what the anchor should be close to (the ground truth).
        negative: what it should be farther from than ``positive`` by ``margin`` (source, overlay).
        margin: :math:`m \ge 0`.
        dist, agg, reduction, weights, mask: see :func:`pair_distance` and :func:`feature_match_loss`.

    Example:
        >>> a = torch.tensor([[1.0, 0.0]])
        >>> triplet_margin_loss(a, a, torch.tensor([[0.0, 1.0]]))
        tensor(0.)
    """
    return _triplet(("anchor", "positive", "negative"), anchor, positive, negative, margin, dist, agg, reduction, weights, mask)


def margin_ranking_on_distances(
    d_pos: torch.Tensor,
    d_neg: torch.Tensor,
    margin: float = 0.2,
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Hinge on precomputed distances: :math:`L_i = \max(0,\ d^{+}_i - d^{-}_i + m)`.

    Equals ``torch.nn.functional.margin_ranking_loss(d_neg, d_pos, torch.ones_like(d_pos), margin)``
    (note the order: the negative distance should be the larger one).

    Args:
        d_pos: ``[B]`` distances of the correct pairs (should be smaller).
        d_neg: ``[B]`` distances of the wrong pairs (should be larger).
        margin: :math:`m \ge 0`.
        reduction, weights: see :func:`~comfy_editloss.losses.reduction.apply_reduction`.

    Example:
        >>> margin_ranking_on_distances(torch.tensor([0.1, 0.5]), torch.tensor([0.6, 0.4]), reduction="none")
        tensor([0.0000, 0.3000])
    """
    margin = check_scalar(margin, "margin", minimum=0.0)
    check_float_tensor(d_pos, "d_pos")
    check_float_tensor(d_neg, "d_neg")
    if d_pos.dim() != 1 or d_pos.shape[0] == 0:
        raise ValueError(f"d_pos must have shape [B] (one distance per sample), got {tuple(d_pos.shape)}")
    check_same_shape(d_pos, d_neg, "d_pos", "d_neg")
    device = check_same_device([("d_pos", d_pos), ("d_neg", d_neg)])
    w = check_reduction(reduction, weights, d_pos.shape[0], of="d_pos")
    work, out = compute_dtype(d_pos, d_neg)
    margin = _operand(margin, d_pos.to(work))
    with full_precision(device):
        per_sample = (d_pos.to(work) - d_neg.to(work) + margin).clamp_min(0)
        result = reduce_batch(per_sample, reduction, w)
        return finite_or_raise(result, [("d_pos", d_pos), ("d_neg", d_neg)], "the loss").to(out)


def _aggregate_negatives(hinges: torch.Tensor, neg_agg: str, temperature: float) -> torch.Tensor:
    """``[B, K] -> [B]`` over the negatives."""
    if neg_agg == "mean":
        return hinges.mean(1)
    if neg_agg == "sum":
        return hinges.sum(1)
    if neg_agg == "max":
        return hinges.amax(1)
    # Smooth maximum: tau * log(mean(exp(h / tau))). Unlike max it gives every violated negative a
    # gradient (softmax-weighted); the -log K shift keeps it 0 when all hinges are 0 and puts it
    # between the mean (tau -> inf) and the max (tau -> 0).
    k = hinges.shape[1]
    return temperature * (torch.logsumexp(hinges / temperature, dim=1) - math.log(k))


def multi_negative_ranking_loss(
    z_anchor: torch.Tensor,
    z_positive: torch.Tensor,
    z_negs: Negatives,
    margin: float = 0.2,
    dist: str = "cos",
    agg: str = "mean",
    neg_agg: str = "mean",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    neg_temperature: float = 0.05,
) -> torch.Tensor:
    r"""Triplet hinge against several negatives at once.

    .. math::
        L_i = \operatorname{Agg}_{k=1..K} \max(0,\ d(a_i, p_i) - d(a_i, n_{ik}) + m)

    Args:
        z_anchor: usually the prediction ``[B, ..., D]``.
        z_positive: the ground truth, same shape.
        z_negs: a tensor ``[B, K, ..., D]`` or a list of ``K`` tensors shaped like ``z_anchor``
            (e.g. ``[z_src, z_overlay]``).
        margin: :math:`m \ge 0`.
        dist, agg: see :func:`pair_distance`.
        neg_agg: over the K hinges: ``"mean"`` (default), ``"max"`` (only the hardest negative gets a
            gradient), ``"sum"``, or ``"logsumexp"``: the smooth maximum
            :math:`\tau \log \frac1K \sum_k e^{h_k/\tau}`, which lies between mean and max, is 0 when
            every hinge is 0, and spreads the gradient over violated negatives by softmax weight.
        reduction, weights, mask: see :func:`feature_match_loss`.
        neg_temperature: :math:`\tau > 0` of ``"logsumexp"``, in the units of the distance (the
            default 0.05 suits cosine distances with margins around 0.2).

    Example:
        >>> a = torch.tensor([[1.0, 0.0]])
        >>> multi_negative_ranking_loss(a, a, [a, -a], neg_agg="max")
        tensor(0.2000)
    """
    margin = check_scalar(margin, "margin", minimum=0.0)
    neg_temperature = check_scalar(neg_temperature, "neg_temperature", strictly_positive=True)
    _check_common(dist, agg)
    check_choice(neg_agg, "neg_agg", NEGATIVE_AGGREGATIONS)
    check_embedding(z_anchor, "z_anchor")
    negatives = _negatives(z_negs, z_anchor, "z_anchor", "z_negs")
    batch = _embeddings([("z_anchor", z_anchor), ("z_positive", z_positive), *negatives], mask)
    w = check_reduction(reduction, weights, batch.tensors[0].shape[0], of=batch.named[0][0])
    a, p, *negs = batch.tensors
    margin, neg_temperature = _operand(margin, a), _operand(neg_temperature, a)
    with full_precision(batch.device):
        d_pos = sample_distance(a, p, dist, agg, batch.mask)
        hinges = torch.stack(
            [(d_pos - sample_distance(a, n, dist, agg, batch.mask) + margin).clamp_min(0) for n in negs], dim=1
        )
        return batch.finish(_aggregate_negatives(hinges, neg_agg, neg_temperature), reduction, w)


def info_nce_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negatives: Negatives | None = None,
    temperature: float = 0.07,
    normalize: bool = True,
    agg: str = "mean",
    symmetric: bool = False,
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""InfoNCE: pick the positive out of the negatives, as cross-entropy over similarity logits.

    .. math::
        L_i = -\log \frac{e^{s(a_i, p_i)/T}}{e^{s(a_i, p_i)/T} + \sum_k e^{s(a_i, n_{ik})/T}}

    * **Explicit negatives** (``negatives`` given): logits ``[B, 1 + K]`` per sample.
    * **In-batch negatives** (``negatives=None``): the other samples' positives are the negatives,
      logits ``S[i, j] = s(a_i, p_j) / T`` of shape ``[B, B]`` with targets on the diagonal; needs
      ``B >= 2``.
    * ``symmetric=True`` adds the other direction and averages the two, as CLIP does: in-batch, the
      cross-entropy over the columns of ``S`` (each positive picks its anchor); with explicit
      negatives, the positive as query against ``[a_i, n_i1, ..., n_iK]``.

    **Similarity** ``s``: cosine (``normalize=True``, default) or dot product. For patch or grid
    embeddings ``[B, ..., D]`` the per-sample logit is the ``agg`` (mean by default) of the
    similarities of **aligned positions**: :math:`s(a_i, b_j) = \operatorname{agg}_p s(a_{i,p},
    b_{j,p})`, weighted by the anchor's ``mask`` (position ``p`` of one image against position ``p``
    of the other: suited to before/after images of one layout). With ``agg="mean"`` this is the
    cosine of the token-normalised embeddings flattened to ``[B, P*D]``, scaled by ``1/P``, so the
    in-batch logits cost one matrix product.

    Args:
        anchor: usually the prediction ``[B, ..., D]``.
        positive: the ground truth, same shape.
        negatives: ``None``, a tensor ``[B, K, ..., D]`` or a list of K tensors shaped like ``anchor``.
        temperature: :math:`T > 0`.
        normalize: cosine (True) or dot-product (False) similarity.
        agg: ``"mean"``, ``"sum"`` or ``"max"`` over aligned positions.
        symmetric: average with the reverse direction (see above).
        reduction, weights, mask: see :func:`feature_match_loss`; the mask belongs to the anchor.

    Example:
        >>> a = torch.eye(3)
        >>> info_nce_loss(a, a, temperature=1.0)  # doctest: +ELLIPSIS
        tensor(0.5514...)
    """
    temperature = check_scalar(temperature, "temperature", strictly_positive=True)
    check_bool(normalize, "normalize")
    check_bool(symmetric, "symmetric")
    check_choice(agg, "agg", AGGREGATIONS)
    check_embedding(anchor, "anchor")
    named_negatives = [] if negatives is None else _negatives(negatives, anchor, "anchor", "negatives")
    batch = _embeddings([("anchor", anchor), ("positive", positive), *named_negatives], mask)
    a, p, *negs = batch.tensors
    n = a.shape[0]
    if negatives is None and n < 2:
        raise ValueError(
            f"info_nce_loss with in-batch negatives (negatives=None) needs a batch of at least 2 samples, "
            f"got anchor of shape {tuple(anchor.shape)}; pass explicit negatives for a single sample"
        )
    w = check_reduction(reduction, weights, n, of=batch.named[0][0])
    temperature = _operand(temperature, a)
    with full_precision(batch.device):
        if negatives is None:
            logits = similarity_matrix(a, p, normalize, agg, batch.mask) / temperature
            target = logits.diagonal()
            per_sample = torch.logsumexp(logits, dim=1) - target
            if symmetric:
                per_sample = 0.5 * (per_sample + torch.logsumexp(logits, dim=0) - target)
        else:
            s_ap = sample_similarity(a, p, normalize, agg, batch.mask)
            logits = torch.stack([s_ap] + [sample_similarity(a, x, normalize, agg, batch.mask) for x in negs], 1)
            logits = logits / temperature
            per_sample = torch.logsumexp(logits, dim=1) - logits[:, 0]
            if symmetric:
                reverse = torch.stack([s_ap] + [sample_similarity(p, x, normalize, agg, batch.mask) for x in negs], 1)
                reverse = reverse / temperature
                per_sample = 0.5 * (per_sample + torch.logsumexp(reverse, dim=1) - reverse[:, 0])
        return batch.finish(per_sample, reduction, w)


# ---------------------------------------------------------------------------------------------
# The three task losses (seed 001)
# ---------------------------------------------------------------------------------------------


def loss_no_edit_identity(
    z_pred: torch.Tensor,
    z_gt: torch.Tensor,
    z_src: torch.Tensor,
    margin: float = 0.2,
    dist: str = "cos",
    agg: str = "mean",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Penalise "no edit happened": the prediction must be closer to the target (after) than to the
    source (before) by ``margin``.

    :math:`L_i = \max(0,\ d(\hat z_i, z^{gt}_i) - d(\hat z_i, z^{src}_i) + m)`, i.e.
    :func:`triplet_margin_loss` with anchor ``z_pred``, positive ``z_gt``, negative ``z_src``.
    Works best with semantic (CLIP-like, global) embeddings; with a ``mask`` on patch embeddings it
    looks only at the edited region.

    Args:
        z_pred: embedding of the generated edit ``[B, ..., D]``.
        z_gt: embedding of the intended result (after), same shape.
        z_src: embedding of the source (before), same shape.
        margin, dist, agg, reduction, weights, mask: see :func:`triplet_margin_loss`.

    Example:
        >>> src, gt = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
        >>> loss_no_edit_identity(src, gt, src)  # the output is the unchanged source
        tensor(1.2000)
    """
    return _triplet(("z_pred", "z_gt", "z_src"), z_pred, z_gt, z_src, margin, dist, agg, reduction, weights, mask)


def loss_geometry_match(
    z_pred: torch.Tensor,
    z_gt: torch.Tensor,
    kind: str = "l2",
    agg: str = "mean",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Penalise distorted geometry: pull the prediction's (shape-sensitive, patch) features to the
    target's, :math:`L_i = \operatorname{agg}_p d(\hat z_{i,p}, z^{gt}_{i,p})`.

    The same computation as :func:`feature_match_loss`, named for the task. Use patch/grid
    embeddings from an encoder that sees shape (DINOv2 tokens, gradient-orientation descriptors,
    VAE latents); a global embedding cannot see geometry.

    Args:
        z_pred: embedding of the generated edit ``[B, ..., D]``.
        z_gt: embedding of the intended result, same shape.
        kind, agg, reduction, weights, mask: see :func:`feature_match_loss`.

    Example:
        >>> loss_geometry_match(torch.ones(1, 4, 2), torch.ones(1, 4, 2))
        tensor(0.)
    """
    return _feature_match(("z_pred", "z_gt"), z_pred, z_gt, kind, agg, reduction, weights, mask)


def loss_overlay_avoidance(
    z_pred: torch.Tensor,
    z_gt: torch.Tensor,
    z_overlay: torch.Tensor,
    margin: float = 0.2,
    dist: str = "cos",
    agg: str = "mean",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Penalise "new object painted over the old one": the prediction must be closer to the target
    than to an overlay negative by ``margin``.

    :math:`L_i = \max(0,\ d(\hat z_i, z^{gt}_i) - d(\hat z_i, z^{ov}_i) + m)`: :func:`triplet_margin_loss`
    with negative ``z_overlay``, the embedding of a synthetic overlay (the new object pasted over the
    old one, or source and target blended in the edit region).

    Args:
        z_pred: embedding of the generated edit ``[B, ..., D]``.
        z_gt: embedding of the intended result, same shape.
        z_overlay: embedding of the overlay negative, same shape.
        margin, dist, agg, reduction, weights, mask: see :func:`triplet_margin_loss`.

    Example:
        >>> gt, ov = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])
        >>> loss_overlay_avoidance(gt, gt, ov, margin=0.1)  # doctest: +ELLIPSIS
        tensor(0.)
    """
    return _triplet(("z_pred", "z_gt", "z_overlay"), z_pred, z_gt, z_overlay, margin, dist, agg, reduction, weights, mask)
