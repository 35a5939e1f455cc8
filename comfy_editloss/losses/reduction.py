"""Reductions shared by every loss: positions -> sample (``agg``) and samples -> batch (``reduction``).

Two steps turn a per-position error into the number a training loop backpropagates:

1. :func:`reduce_over_nonbatch` collapses every dimension but the batch one (patch tokens, a spatial
   grid) into one value per sample, optionally restricted to a region by a ``mask``;
2. :func:`apply_reduction` collapses the per-sample values into the batch loss (``mean``/``sum``) or
   keeps them (``none``), optionally with per-sample ``weights``.

Seed 000 names them ``_reduce_over_nonbatch`` and ``_apply_reduction``; those names stay available as
aliases.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from .._checks import all_finite, as_sample_vector, check_choice, check_float_tensor, check_same_device, check_tensor, describe

AGGREGATIONS = ("mean", "sum", "max")
REDUCTIONS = ("none", "mean", "sum")


def compute_dtype(*tensors: torch.Tensor | None) -> tuple[torch.dtype, torch.dtype]:
    """The dtype to compute in and the dtype to return, for a set of floating-point inputs.

    Half-precision inputs (float16, bfloat16) are computed in float32, because sums over thousands of
    patch tokens and the ``exp`` of InfoNCE logits lose too much in 16 bits; the result is given back
    in the inputs' (promoted) dtype.
    """
    out = None
    for t in tensors:
        if t is not None:
            out = t.dtype if out is None else torch.promote_types(out, t.dtype)
    assert out is not None
    work = torch.float32 if out in (torch.float16, torch.bfloat16) else out
    return work, out


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Switch autocast off, so that the loss is computed in the dtype :func:`compute_dtype` chose."""
    try:
        ctx = torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # a device type autocast does not know (e.g. "meta"): nothing to disable
        ctx = contextlib.nullcontext()
    with ctx:
        yield


def check_mask(mask: object, positions_shape: torch.Size, name: str = "mask", of: str = "the embedding") -> torch.Tensor:
    """Validate a mask over the non-feature dims ``[B, ...]`` of an embedding ``[B, ..., D]``.

    A mask is a weight per position: bool, or float >= 0 (soft masks are fine). Its shape must equal
    the embedding's shape without the last dim exactly. Every sample must keep at least one position
    with positive weight, since the masked mean of an empty region is undefined; to leave a sample
    out, give it weight 0 through ``weights`` instead.
    """
    check_tensor(mask, name)
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"{name} must be a bool or floating-point tensor, got {mask.dtype}")
    if mask.shape != positions_shape:
        where = "the shape of x" if of == "x" else f"{of}'s shape without its feature dim"
        raise ValueError(f"{name} must have {where}, {tuple(positions_shape)}, got {tuple(mask.shape)}; masks are never broadcast")
    if mask.device.type == "meta":
        return mask  # no values to check: shapes only
    if mask.dtype != torch.bool:
        values = mask.detach()
        if not bool(all_finite(values)):
            raise ValueError(f"{name} must be finite, got NaN or Inf")
        if bool((values < 0).any()):
            raise ValueError(f"{name} must be >= 0 (a weight per position), got min {values.min().item():g}")
    totals = mask.detach().reshape(mask.shape[0], -1).sum(1, dtype=torch.float32)
    empty = torch.nonzero(totals <= 0).flatten().tolist()
    if empty:
        raise ValueError(
            f"{name} selects no position for sample(s) {empty}: the masked aggregate of an empty region "
            "is undefined; give such samples weight 0 through `weights` instead"
        )
    return mask


def aggregate(x: torch.Tensor, agg: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, ...] -> [B]`` without argument checks (callers check once, up front).

    ``mean`` with a mask is the mask-weighted mean ``sum(m * x) / sum(m)``: it is normalised by the
    mask's area, so an all-ones mask gives the unmasked mean and a small region is not diluted by
    the positions outside it. ``sum`` is ``sum(m * x)``. ``max`` takes the maximum over positions
    whose weight is > 0 (the mask selects; soft weights do not scale the maximum).
    """
    batch = x.shape[0]
    if x.dim() == 1:
        values = x.unsqueeze(1)
        weights = None if mask is None else mask.reshape(batch, 1)
    else:
        values = x.reshape(batch, -1)
        weights = None if mask is None else mask.reshape(batch, -1)
    if weights is None:
        if agg == "mean":
            return values.mean(1)
        if agg == "sum":
            return values.sum(1)
        return values.amax(1)
    if agg == "max":
        return values.masked_fill(weights <= 0, float("-inf")).amax(1)
    weights = weights.to(values.dtype)
    total = (values * weights).sum(1)
    if agg == "sum":
        return total
    return total / weights.sum(1)


def reduce_over_nonbatch(x: torch.Tensor, agg: str = "mean", mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Collapse every non-batch dimension of ``x`` into one value per sample.

    Args:
        x: tensor ``[B, ...]``, e.g. per-patch distances ``[B, P]`` or a grid ``[B, H, W]``.
        agg: ``"mean"`` (default), ``"sum"`` or ``"max"`` over the non-batch dims.
        mask: optional weights with the shape of ``x``, see :func:`check_mask`.

    Returns:
        ``[B]``. A 1-D ``x`` is returned unchanged (up to a mask-selection check).

    Example:
        >>> reduce_over_nonbatch(torch.tensor([[1., 2., 3.], [4., 5., 6.]]), "max")
        tensor([3., 6.])
    """
    check_float_tensor(x, "x")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"x must have shape [B, ...] with B >= 1, got {describe(x)}")
    check_choice(agg, "agg", AGGREGATIONS)
    if mask is not None:
        check_tensor(mask, "mask")
        check_same_device([("x", x), ("mask", mask)])
        check_mask(mask, x.shape, of="x")
    return aggregate(x, agg, mask)


def reduce_batch(per_sample: torch.Tensor, reduction: str, weights: torch.Tensor | None) -> torch.Tensor:
    """:func:`apply_reduction` without argument checks."""
    if weights is not None:
        weights = weights.to(device=per_sample.device, dtype=per_sample.dtype)
        weighted = per_sample * weights
        if reduction == "none":
            return weighted
        if reduction == "sum":
            return weighted.sum()
        # An all-zero weight vector means "nothing to learn from this batch": 0 with zero gradient,
        # rather than the 0/0 of a plain weighted mean.
        total = weights.sum()
        return weighted.sum() / torch.where(total > 0, total, torch.ones_like(total))
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.mean()


def check_reduction(reduction: object, weights: object, batch: int, of: str | None = None) -> torch.Tensor | None:
    check_choice(reduction, "reduction", REDUCTIONS)
    if weights is None:
        return None
    return as_sample_vector(weights, "weights", batch, minimum=0.0, of=of)


def apply_reduction(
    per_sample: torch.Tensor, reduction: str = "mean", weights: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Turn per-sample losses ``[B]`` into the batch loss.

    * ``"none"``: ``per_sample`` (times ``weights`` if given), shape ``[B]``;
    * ``"mean"``: the mean, or with weights the weighted mean :math:`\sum_i w_i l_i / \sum_i w_i`
      (as ``torch.nn.functional.cross_entropy`` does with class weights); all-zero weights give 0;
    * ``"sum"``: :math:`\sum_i w_i l_i`.

    Args:
        per_sample: ``[B]`` per-sample losses.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        weights: optional ``[B]`` finite weights >= 0 (tensor or list of numbers).
    """
    check_float_tensor(per_sample, "per_sample")
    if per_sample.dim() != 1 or per_sample.shape[0] == 0:
        raise ValueError(f"per_sample must have shape [B] with B >= 1, got {tuple(per_sample.shape)}")
    weights = check_reduction(reduction, weights, per_sample.shape[0], of="per_sample")
    return reduce_batch(per_sample, reduction, weights)


# The seed's private names.
_reduce_over_nonbatch = reduce_over_nonbatch
_apply_reduction = apply_reduction
