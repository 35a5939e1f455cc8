r"""Depth consistency for object insertion (seed 004).

:func:`depth_consistency_loss` compares a depth (or disparity) map of the generated image with the
target's: inside the insertion mask, outside a dilated mask (the scene must not move), and the depth
gradients on a band around the mask's boundary (the object's outline must sit where it should):

.. math:: L = w_{in} \mathrm{mean}_{M V C}\,\rho(d_p - d_t) + w_{out} \mathrm{mean}_{(1 - \mathrm{dil}(M)) V C}\,\rho(d_p - d_t)
          + w_{edge} \tfrac12 \sum_{\partial \in \{x, y\}} \mathrm{mean}_{B V C}\,\rho(\partial d_p - \partial d_t)

with :math:`\rho` SmoothL1 of width ``beta``, ``V`` the valid (finite) pixels and ``C`` an optional
confidence. Its values equal the seed's code (to float rounding) on finite inputs; unlike the seed's
code, NaN/Inf pixels are truly left out, of the value and of the gradient (the seed's ``NaN * 0``
makes the whole loss NaN). The seed pools each term over the batch, so a sample with a large region
outweighs one with a small region; ``sample_weighting="samples"`` averages per-sample means instead
(a sample with an empty region is left out of that mean, not counted as 0), and
``reduction="none"`` gives the per-sample terms.

Depth estimators (MiDaS, Depth Anything) give relative inverse depth with unknown scale and shift:
align it first (:mod:`comfy_editloss.losses.alignment`). The module form is
:class:`comfy_editloss.losses.modules.DepthConsistencyLoss`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_float_tensor, check_number, check_same_device, check_unit_range, finite_or_raise
from ..edits.morphology import band, max_filter
from .autograd import backward_by_autograd
from .maps import as_map, check_radius
from .reduction import check_reduction, full_precision, reduce_batch

SAMPLE_WEIGHTINGS = ("pixels", "samples")


# ---------------------------------------------------------------------------------------------
# The seed's helpers (same names, arguments and results)
# ---------------------------------------------------------------------------------------------


def depth_gradients(depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y of ``[..., H, W]``, zero-padded on the last column / row.
    NaN/Inf pixels give NaN/Inf differences (they mark missing depth; the loss leaves them out)."""
    check_float_tensor(depth, "depth")
    if depth.dim() < 2 or depth.numel() == 0:
        raise ValueError(f"depth must have shape [..., H, W] with H, W >= 1, got {tuple(depth.shape)}")
    dx = depth[..., :, 1:] - depth[..., :, :-1]
    dy = depth[..., 1:, :] - depth[..., :-1, :]
    return F.pad(dx, (0, 1, 0, 0)), F.pad(dy, (0, 0, 0, 1))


def weighted_smooth_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, *, beta: float = 0.1, eps: float = 1e-8) -> torch.Tensor:
    """``sum(w * smooth_l1(pred, target)) / max(sum(w), eps)`` over every element (the seed's form).
    The three tensors have one shape; ``weight`` >= 0; NaN/Inf anywhere is an error naming it."""
    for name, x in (("pred", pred), ("target", target), ("weight", weight)):
        check_float_tensor(x, name)
        if x.shape != pred.shape:
            raise ValueError(f"{name} must have the shape of pred {tuple(pred.shape)}, got {tuple(x.shape)}; shapes are never broadcast")
        if x.numel() == 0:
            raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    check_same_device([("pred", pred), ("target", target), ("weight", weight)])
    beta = check_number(beta, "beta", minimum=0.0)
    eps = check_number(eps, "eps", strictly_positive=True)
    if weight.device.type != "meta" and bool((weight.detach() < 0).any()):
        raise ValueError(f"weight must be >= 0, got min {float(weight.detach().min()):g}")
    per = F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
    result = (per * weight).sum() / weight.sum().clamp_min(eps)
    return finite_or_raise(result, [("pred", pred), ("target", target), ("weight", weight)], "the weighted SmoothL1")


@dataclass
class DepthConsistencyTerms:
    """The loss and its three terms (scalars, or ``[B]`` with ``reduction="none"``). A batch result
    also carries, in ``per_sample``, the terms ``reduction="none"`` gives, from the same pass: a
    caller that reports both (a node's loss and its per-generation scores) computes the loss once."""

    total: torch.Tensor
    inside: torch.Tensor
    outside: torch.Tensor
    edge: torch.Tensor
    per_sample: DepthConsistencyTerms | None = None


# ---------------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------------


@dataclass
class _Maps:
    pred: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    confidence: torch.Tensor | None
    out_dtype: torch.dtype


def _maps(d_pred, d_tgt, mask, conf_pred) -> _Maps:
    pred = as_map(d_pred, "d_pred", None, None)
    batch, size = pred.shape[0], tuple(pred.shape[-2:])
    target = as_map(d_tgt, "d_tgt", batch, size)
    m = as_map(mask, "mask", batch, size)
    check_unit_range(m, "mask")
    conf = None
    if conf_pred is not None:
        conf = as_map(conf_pred, "conf_pred", batch, size)
        check_unit_range(conf, "conf_pred")
    for name, t in (("d_tgt", target), ("mask", m), ("conf_pred", conf)):
        if t is not None and t.device != pred.device:
            raise ValueError(f"{name} is on {t.device} but d_pred is on {pred.device}; move all inputs to one device")
    work = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
    cast = lambda t: None if t is None else t.to(work)  # noqa: E731
    return _Maps(cast(pred), cast(target), cast(m), cast(conf), work)


# ---------------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------------


def _smooth_l1(x: torch.Tensor, beta: float) -> torch.Tensor:
    """SmoothL1 of ``x`` against 0 (``F.smooth_l1_loss``; ``beta = 0`` is L1)."""
    return F.smooth_l1_loss(x, x.new_zeros(()).expand_as(x), reduction="none", beta=beta)


def _smooth_l1_slope(x: torch.Tensor, beta: float) -> torch.Tensor:
    """d/dx of :func:`_smooth_l1` (as autograd gives it for ``F.smooth_l1_loss``: 0 at 0)."""
    return torch.sign(x) if beta <= 0 else (x / beta).clamp_(-1.0, 1.0)


class _Regions:
    """The weight maps of the four terms, made once from the inputs (no gradient flows through them).
    ``valid`` is None when every pixel is finite and there is no confidence or pixel weight."""

    def __init__(self, mask: torch.Tensor, valid: torch.Tensor | None, finite: torch.Tensor | None, outside_r: int, band_r: int) -> None:
        m_bin = (mask > 0.5).to(mask.dtype)
        self.mask, self.valid, self.finite = mask, valid, finite
        self.outside = 1.0 - max_filter(m_bin, outside_r)
        self.band = band(m_bin, band_r)

    def weight(self, term: str) -> torch.Tensor:
        region = {"inside": self.mask, "outside": self.outside}.get(term, self.band)
        weight = region if self.valid is None else region * self.valid
        if self.finite is None or term in ("inside", "outside"):
            return weight
        # A difference counts where both of its pixels are valid (the zero-padded last one: its own).
        if term == "edge_x":
            neighbour = torch.cat([self.finite[..., :, 1:], torch.ones_like(self.finite[..., :, :1])], dim=-1)
        else:
            neighbour = torch.cat([self.finite[..., 1:, :], torch.ones_like(self.finite[..., :1, :])], dim=-2)
        return weight * neighbour


_TERMS = ("inside", "outside", "edge_x", "edge_y")


def _difference(error: torch.Tensor, term: str) -> torch.Tensor:
    """The error map, or its forward difference without the seed's zero padding (the padded last
    column / row has difference 0, so it adds nothing to a weighted sum)."""
    if term == "edge_x":
        return error[..., :, 1:] - error[..., :, :-1]
    if term == "edge_y":
        return error[..., 1:, :] - error[..., :-1, :]
    return error


def _trim(weight: torch.Tensor, term: str) -> torch.Tensor:
    return weight[..., :, :-1] if term == "edge_x" else weight[..., :-1, :] if term == "edge_y" else weight


def _term_sums(pred: torch.Tensor, target: torch.Tensor, regions: _Regions, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The error map (NaN/Inf pixels zeroed), the weighted SmoothL1 sums of the four terms
    ``[4, B]`` (accumulated in float64: the sum of a map's terms may exceed float32 where their
    mean does not) and their weight sums ``[4, B]``, in plain differentiable ops."""
    error = pred - target
    if regions.finite is not None:
        error = torch.where(regions.finite > 0, error, torch.zeros_like(error))
    sums, totals = [], []
    for term in _TERMS:
        weight = regions.weight(term)
        sums.append((_smooth_l1(_difference(error, term), beta) * _trim(weight, term)).flatten(1).sum(dim=1, dtype=torch.float64))
        totals.append(weight.flatten(1).sum(dim=1))
        del weight
    return error, torch.stack(sums), torch.stack(totals)


class _DepthTermSums(torch.autograd.Function):
    """:func:`_term_sums` with a backward pass that keeps only the error map and the region maps,
    and forms each weighted slope when it needs it: about half the memory of the seed's code, which
    keeps every product. A double backward recomputes it with plain ops
    (:mod:`comfy_editloss.losses.autograd`)."""

    @staticmethod
    def forward(ctx, pred: torch.Tensor, target: torch.Tensor, regions: _Regions, beta: float):
        error, sums, totals = _term_sums(pred, target, regions, beta)
        ctx.save_for_backward(pred, target, error)
        ctx.regions, ctx.beta = regions, beta
        ctx.mark_non_differentiable(totals)
        return sums, totals

    @staticmethod
    def backward(ctx, grad_sums: torch.Tensor, _grad_totals: torch.Tensor):
        pred, target, error = ctx.saved_tensors
        regions, beta = ctx.regions, ctx.beta
        if torch.is_grad_enabled():  # create_graph=True: a backward that is itself differentiable
            plain = lambda p, t: _term_sums(p, t, regions, beta)[1]  # noqa: E731
            return (*backward_by_autograd(plain, (pred, target), ctx.needs_input_grad[:2], grad_sums), None, None)
        grad_sums = grad_sums.to(error.dtype)  # the sums' float64 is for their range; their gradients are small
        shape = (-1, 1, 1, 1)
        coefficient = grad_sums[0].view(shape) * regions.weight("inside") + grad_sums[1].view(shape) * regions.weight("outside")
        grad = _smooth_l1_slope(error, beta).mul_(coefficient)
        del coefficient
        for index, term in ((2, "edge_x"), (3, "edge_y")):
            g = _smooth_l1_slope(_difference(error, term), beta).mul_(_trim(regions.weight(term), term)).mul_(grad_sums[index].view(shape))
            # The adjoint of the forward difference: d(e[i+1] - e[i]) spreads +g to i+1 and -g to i.
            if term == "edge_x":
                grad[..., :, 1:] += g
                grad[..., :, :-1] -= g
            else:
                grad[..., 1:, :] += g
                grad[..., :-1, :] -= g
            del g
        if regions.finite is not None:
            grad = grad * regions.finite
        grad_pred = grad if ctx.needs_input_grad[0] else None
        grad_target = -grad if ctx.needs_input_grad[1] else None
        return grad_pred, grad_target, None, None


def depth_consistency_loss(
    d_pred: torch.Tensor,
    d_tgt: torch.Tensor,
    mask: torch.Tensor,
    *,
    conf_pred: torch.Tensor | None = None,
    outside_dilate_r: int = 1,
    edge_band_r: int = 1,
    beta: float = 0.1,
    w_inside: float = 1.0,
    w_outside: float = 0.5,
    w_edge: float = 0.5,
    eps: float = 1e-8,
    sample_weighting: str = "pixels",
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
) -> DepthConsistencyTerms:
    """Seed 004's depth-consistency loss (see the module docstring for the formula).

    Args:
        d_pred: depth or disparity of the generation, ``[B, 1, H, W]``, ``[B, H, W]`` or ``[H, W]``.
        d_tgt: the target's, the same size (batch 1 is used for every sample); prepared the same way
            (same space, aligned: see :func:`align_depth`).
        mask: insertion mask in [0, 1], the same size (batch 1 broadcast); the inside term weighs by
            it, the outside and edge terms use it binarised at 0.5.
        conf_pred: optional confidence of ``d_pred`` in [0, 1], multiplies every weight.
        outside_dilate_r: the outside term leaves out the mask dilated by this many pixels.
        edge_band_r: half-width of the boundary band of the edge term.
        beta: SmoothL1 width (0: L1).
        w_inside, w_outside, w_edge: term weights.
        eps: floor of the weight sums.
        sample_weighting: ``"pixels"`` (the seed's): each term is one weighted mean over all pixels of
            the batch, so samples count by their region's area; ``"samples"``: each sample's weighted
            mean, averaged over the samples whose region is not empty.
        reduction: ``"mean"`` (over the batch, as ``sample_weighting`` says) or ``"none"``: per-sample
            terms ``[B]`` (0 for a sample whose region is empty).
        weights: optional ``[B]`` sample weights >= 0 (multiply a sample's pixels with
            ``"pixels"``, its mean with ``"samples"``; they scale the per-sample terms with ``"none"``).

    Returns:
        :class:`DepthConsistencyTerms` (``total``, ``inside``, ``outside``, ``edge``) in float32 (float64
        for float64 inputs); with ``reduction="mean"`` its ``per_sample`` holds the per-sample terms
        of the same pass.

    NaN/Inf pixels of ``d_pred`` or ``d_tgt`` are left out of every term and get zero gradient; a
    depth gradient counts only where both of its pixels are valid.
    """
    maps = _maps(d_pred, d_tgt, mask, conf_pred)
    outside_dilate_r = check_radius(outside_dilate_r, "outside_dilate_r")
    edge_band_r = check_radius(edge_band_r, "edge_band_r")
    beta = check_number(beta, "beta", minimum=0.0)
    w_inside = check_number(w_inside, "w_inside", minimum=0.0)
    w_outside = check_number(w_outside, "w_outside", minimum=0.0)
    w_edge = check_number(w_edge, "w_edge", minimum=0.0)
    eps = check_number(eps, "eps", strictly_positive=True)
    check_choice(sample_weighting, "sample_weighting", SAMPLE_WEIGHTINGS)
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be one of 'mean', 'none', got {reduction!r}")
    batch = maps.pred.shape[0]
    weights = check_reduction("mean", weights, batch)

    with full_precision(maps.pred.device):
        pred, target, m = maps.pred, maps.target, maps.mask
        with torch.no_grad():
            finite = torch.isfinite(pred) & torch.isfinite(target)
            all_finite = bool(finite.all())
            finite_map = None if all_finite else finite.to(pred.dtype)
            valid = finite_map
            if maps.confidence is not None:
                valid = maps.confidence if valid is None else valid * maps.confidence
            if weights is not None and sample_weighting == "pixels":
                per_pixel = weights.to(pred)[:, None, None, None]
                valid = per_pixel.expand_as(m) if valid is None else valid * per_pixel
            regions = _Regions(m.detach(), valid, finite_map, outside_dilate_r, edge_band_r)
        sums, totals = _DepthTermSums.apply(pred, target, regions, beta)
        terms = {term: (sums[i], totals[i]) for i, term in enumerate(_TERMS)}
        edge_x, edge_y = terms["edge_x"], terms["edge_y"]

        def per_sample(sums: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            total, weight = sums
            return reduce_batch(total / weight.clamp_min(eps), "none", weights)

        def batch(sums: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            total, weight = sums
            if sample_weighting == "pixels":  # the seed's: one mean over every pixel of the batch
                return total.sum() / weight.sum().clamp_min(eps)
            # The weighted mean of the per-sample means over the samples whose region is not empty.
            present = (weight > 0).to(total.dtype)
            sample_weight = present if weights is None else present * weights.to(total)
            return reduce_batch(total / weight.clamp_min(eps), "mean", sample_weight)

        def combined(finish) -> DepthConsistencyTerms:
            inside = finish(terms["inside"])
            outside = finish(terms["outside"])
            edge = 0.5 * (finish(edge_x) + finish(edge_y))
            total = w_inside * inside + w_outside * outside + w_edge * edge
            out = maps.out_dtype
            return DepthConsistencyTerms(total=total.to(out), inside=inside.to(out), outside=outside.to(out), edge=edge.to(out))

        if reduction == "none":
            return combined(per_sample)
        result = combined(batch)
        result.per_sample = combined(per_sample)
        return result
