r"""Depth consistency for object insertion (seed 004), and the alignment that relative depth needs.

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
:func:`align_depth` fits ``s * pred + t`` to the target on the background (valid pixels outside the
dilated insertion mask), least squares or robust, before the loss is taken.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_float_tensor, check_has_values, check_int, check_number, check_same_device, describe, finite_or_raise
from .autograd import backward_by_autograd
from .reduction import check_reduction, full_precision

SAMPLE_WEIGHTINGS = ("pixels", "samples")
ROBUST_FITS = ("none", "trimmed", "median")
DEPTH_SPACES = ("depth", "disparity")


# ---------------------------------------------------------------------------------------------
# The seed's helpers (same names, arguments and results)
# ---------------------------------------------------------------------------------------------


def _square_max(x: torch.Tensor, r: int) -> torch.Tensor:
    """Maximum over the ``(2r+1)^2`` square around each pixel, pixels outside the image left out:
    what ``max_pool2d(x, 2r+1, stride=1, padding=r)`` gives, as a row pass and a column pass of
    shifted maxima (a few times faster than max pooling on the CPU). Where a gradient is needed,
    max pooling itself (its backward is autograd's)."""
    if x.requires_grad and torch.is_grad_enabled():
        flat = x.reshape(-1, 1, *x.shape[-2:])
        padded = F.pad(flat, (r, r, r, r), value=float("-inf"))
        return F.max_pool2d(padded, 2 * r + 1, stride=1).reshape(x.shape)
    for dim in (-1, -2):
        out = x.clone()
        n = x.shape[dim]
        for shift in range(1, min(r, n - 1) + 1):
            ahead, behind = out.narrow(dim, 0, n - shift), out.narrow(dim, shift, n - shift)
            torch.maximum(ahead, x.narrow(dim, shift, n - shift), out=ahead)
            torch.maximum(behind, x.narrow(dim, 0, n - shift), out=behind)
        x = out
    return x


def _dilate(mask: torch.Tensor, r: int) -> torch.Tensor:
    return mask if r <= 0 else _square_max(mask, r)


def _erode(mask: torch.Tensor, r: int) -> torch.Tensor:
    return mask if r <= 0 else 1.0 - _square_max(1.0 - mask, r)


def _boundary_band(mask: torch.Tensor, r: int) -> torch.Tensor:
    if r <= 0:
        return torch.zeros_like(mask)
    return (_dilate(mask, r) - _erode(mask, r)).clamp(0.0, 1.0)


def _check_map(x: object, name: str, unit: bool) -> torch.Tensor:
    """A map ``[..., H, W]`` (at least 2 dims, none empty) of finite values (in [0, 1] if ``unit``)."""
    check_float_tensor(x, name)
    check_has_values(x, name)
    if x.dim() < 2 or x.numel() == 0:
        raise ValueError(f"{name} must have shape [..., H, W] with H, W >= 1, got {tuple(x.shape)}")
    if unit:
        _check_unit_range(x, name)
    return x


def dilate(mask01: torch.Tensor, r: int) -> torch.Tensor:
    """Grey dilation of ``[..., H, W]`` masks in [0, 1] by a ``(2r+1)^2`` square (the seed's max
    pooling); ``r = 0`` returns the mask. Differentiable."""
    return _dilate(_check_map(mask01, "mask01", unit=True), check_int(r, "r", minimum=0))


def erode(mask01: torch.Tensor, r: int) -> torch.Tensor:
    """Grey erosion by a ``(2r+1)^2`` square (pixels outside the image left out, as in the seed)."""
    return _erode(_check_map(mask01, "mask01", unit=True), check_int(r, "r", minimum=0))


def boundary_band(mask_bin: torch.Tensor, r: int) -> torch.Tensor:
    """``dilate(m, r) - erode(m, r)``: the pixels within ``r`` of the mask's boundary."""
    return _boundary_band(_check_map(mask_bin, "mask_bin", unit=True), check_int(r, "r", minimum=0))


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


def _as_4d(x: object, name: str, batch: int | None, size: tuple[int, int] | None) -> torch.Tensor:
    """``[H, W]``, ``[B, H, W]`` or ``[B, 1, H, W]`` -> ``[B, 1, H, W]``; batch 1 is expanded to ``batch``."""
    check_float_tensor(x, name)
    check_has_values(x, name)
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x.unsqueeze(1)
    elif x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"{name} must have shape [H, W], [B, H, W] or [B, 1, H, W], got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must hold at least one sample of at least 1x1 pixels, got shape {tuple(x.shape)}")
    if size is not None and tuple(x.shape[-2:]) != size:
        raise ValueError(f"{name} must be {size[0]}x{size[1]} (H x W) like d_pred, got {x.shape[-2]}x{x.shape[-1]} (shape {tuple(x.shape)})")
    if batch is not None and x.shape[0] != batch:
        if x.shape[0] != 1:
            raise ValueError(f"{name} has batch {x.shape[0]} but d_pred has batch {batch}; give one map per sample or batch 1 for all")
        x = x.expand(batch, -1, -1, -1)
    return x


def _check_unit_range(x: torch.Tensor, name: str) -> None:
    values = x.detach()
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must be finite, got NaN or Inf")
    low, high = values.min().item(), values.max().item()
    if low < 0 or high > 1:
        raise ValueError(f"{name} must lie in [0, 1], got values from {low:g} to {high:g}")


def _check_radius(value: object, name: str) -> int:
    return check_int(value, name, minimum=0)


@dataclass
class _Maps:
    pred: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    confidence: torch.Tensor | None
    out_dtype: torch.dtype


def _maps(d_pred, d_tgt, mask, conf_pred) -> _Maps:
    pred = _as_4d(d_pred, "d_pred", None, None)
    batch, size = pred.shape[0], tuple(pred.shape[-2:])
    target = _as_4d(d_tgt, "d_tgt", batch, size)
    m = _as_4d(mask, "mask", batch, size)
    _check_unit_range(m, "mask")
    conf = None
    if conf_pred is not None:
        conf = _as_4d(conf_pred, "conf_pred", batch, size)
        _check_unit_range(conf, "conf_pred")
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
        self.outside = 1.0 - _dilate(m_bin, outside_r)
        self.band = _boundary_band(m_bin, band_r)

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
    outside_dilate_r = _check_radius(outside_dilate_r, "outside_dilate_r")
    edge_band_r = _check_radius(edge_band_r, "edge_band_r")
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
            per = total / weight.clamp_min(eps)
            return per * weights.to(per) if weights is not None else per

        def batch(sums: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            total, weight = sums
            if sample_weighting == "pixels":
                return total.sum() / weight.sum().clamp_min(eps)
            present = (weight > 0).to(total.dtype)
            sample_weight = present if weights is None else present * weights.to(total)
            per = total / weight.clamp_min(eps)
            return (per * sample_weight).sum() / sample_weight.sum().clamp_min(eps)

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
        _check_radius(outside_dilate_r, "outside_dilate_r")
        _check_radius(edge_band_r, "edge_band_r")
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


# ---------------------------------------------------------------------------------------------
# Depth and disparity, and scale-and-shift alignment
# ---------------------------------------------------------------------------------------------


def depth_to_disparity(depth: torch.Tensor, min_depth: float = 1e-3) -> torch.Tensor:
    """``1 / max(depth, min_depth)``: near is large. NaN stays NaN; +Inf depth gives 0."""
    check_float_tensor(depth, "depth")
    min_depth = check_number(min_depth, "min_depth", strictly_positive=True)
    return 1.0 / depth.clamp_min(min_depth)


def disparity_to_depth(disparity: torch.Tensor, min_disparity: float = 1e-3) -> torch.Tensor:
    """``1 / max(disparity, min_disparity)``: depth at most ``1 / min_disparity``. NaN stays NaN."""
    check_float_tensor(disparity, "disparity")
    min_disparity = check_number(min_disparity, "min_disparity", strictly_positive=True)
    return 1.0 / disparity.clamp_min(min_disparity)


@dataclass
class DepthAlignment:
    """``aligned = scale * pred + shift`` per sample (``[B, 1, H, W]``; ``scale``, ``shift``,
    ``residual``, ``scale_ok``: ``[B]``). ``residual`` is the weighted RMS of the fit on the pixels it
    used. Where the fitted scale is not positive (``scale_ok`` False) the map is returned unaligned
    (scale 1, shift 0 applied) and a warning is issued: a negative scale flips near and far, almost
    always a sign that one map is depth and the other disparity."""

    aligned: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor
    residual: torch.Tensor
    scale_ok: torch.Tensor


def _magnitude(x: torch.Tensor) -> torch.Tensor:
    """Per-row largest magnitude of ``[B, N]`` (1 for an all-zero row), as a ``[B, 1]`` constant."""
    m = x.detach().abs().amax(dim=1, keepdim=True)
    return torch.where(m > 0, m, torch.ones_like(m))


def _weighted_fit(p: torch.Tensor, q: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample weighted least squares ``q ~ s p + t`` over flattened ``[B, N]``.

    Computed on ``p``, ``q`` and ``w`` divided by their largest magnitudes (the fit is equivariant to
    each), so that neither the squares nor the sums overflow or underflow at extreme depth scales."""
    sp, sq, w = _magnitude(p), _magnitude(q), w / _magnitude(w)
    p, q = p / sp, q / sq
    sw = w.sum(dim=1).clamp_min(1e-30)
    mp = (w * p).sum(dim=1) / sw
    mq = (w * q).sum(dim=1) / sw
    cp, cq = p - mp[:, None], q - mq[:, None]
    var = (w * cp * cp).sum(dim=1)
    cov = (w * cp * cq).sum(dim=1)
    scale = cov / var.clamp_min(1e-30)
    shift = mq - scale * mp
    return scale * (sq / sp)[:, 0], shift * sq[:, 0]


def _weighted_median(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Per-row weighted median of ``[B, N]`` (weights >= 0; the lower median)."""
    order = x.argsort(dim=1)
    xs, ws = x.gather(1, order), w.gather(1, order)
    cumulative = ws.cumsum(dim=1)
    half = 0.5 * cumulative[:, -1:]
    index = (cumulative < half).sum(dim=1, keepdim=True).clamp(max=x.shape[1] - 1)
    return xs.gather(1, index)[:, 0]


def align_scale_shift(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    *,
    robust: str = "none",
    trim: float = 2.5,
    iterations: int = 5,
) -> DepthAlignment:
    """Fit ``target ~ scale * pred + shift`` per sample on the pixels with ``weight > 0``.

    Args:
        pred, target, weight: ``[B, 1, H, W]`` (weight >= 0; NaN/Inf pixels of pred or target are
            left out).
        robust: ``"none"``: weighted least squares (differentiable in ``pred``); ``"median"``: scale
            from the ratio of median absolute deviations, shift from the medians (robust but rough:
            outliers still widen the deviations, ~6% off with 5% wild outliers); ``"trimmed"``: from
            that start, least squares refitted ``iterations`` times on the pixels whose residual is
            within ``trim`` x 1.4826 x the median absolute residual (outliers out; within 2% with 5%
            outliers, exact without).
        trim: the cut of ``"trimmed"``, in robust standard deviations (> 0).
        iterations: the refits of ``"trimmed"`` (an int >= 1).

    Shapes are never broadcast: the three maps have one shape (:func:`align_depth` takes batch-1
    targets and masks and expands them).
    """
    check_choice(robust, "robust", ROBUST_FITS)
    trim = check_number(trim, "trim", strictly_positive=True)
    iterations = check_int(iterations, "iterations", minimum=1)
    for name, x in (("pred", pred), ("target", target), ("weight", weight)):
        check_float_tensor(x, name)
        check_has_values(x, name)
        if x.dim() != 4 or x.shape[1] != 1 or x.numel() == 0:
            raise ValueError(f"{name} must have shape [B, 1, H, W] with B, H, W >= 1, got {tuple(x.shape)}")
        if x.shape != pred.shape:
            raise ValueError(f"{name} must have the shape of pred {tuple(pred.shape)}, got {tuple(x.shape)}; maps are never broadcast here")
        if x.device != pred.device:
            raise ValueError(f"{name} is on {x.device} but pred is on {pred.device}; move all inputs to one device")
    w_values = weight.detach()
    if not bool(torch.isfinite(w_values).all()) or bool((w_values < 0).any()):
        raise ValueError("weight must be finite and >= 0 (a weight per pixel)")
    batch = pred.shape[0]
    finite = torch.isfinite(pred) & torch.isfinite(target)
    w = torch.where(finite, weight, torch.zeros_like(weight)).flatten(1)
    p = torch.where(finite, pred, torch.zeros_like(pred)).flatten(1)
    q = torch.where(finite, target, torch.zeros_like(target)).flatten(1)
    empty = torch.nonzero(w.sum(dim=1) <= 0).flatten().tolist()
    if empty:
        raise ValueError(
            f"no background pixel to fit on for sample(s) {empty}: the pixels outside the dilated mask with positive "
            "weight and finite depth in both maps are none; shrink the mask or its dilation"
        )
    if robust in ("median", "trimmed"):
        with torch.no_grad():
            mp, mq = _weighted_median(p, w), _weighted_median(q, w)
            dp = _weighted_median((p - mp[:, None]).abs(), w)
            dq = _weighted_median((q - mq[:, None]).abs(), w)
        scale = dq / dp.clamp_min(1e-30)
        shift = mq - scale * mp
    else:
        scale, shift = _weighted_fit(p, q, w)
    if robust == "trimmed":
        # Start from the medians (least squares would already be pulled by the outliers), then refit
        # on the pixels that fit.
        fit_w = w
        for _ in range(iterations):
            with torch.no_grad():
                residual = (scale[:, None] * p + shift[:, None] - q).abs()
                spread = 1.4826 * _weighted_median(residual, fit_w) + 1e-12
                fit_w = w * (residual <= trim * spread[:, None])
            scale, shift = _weighted_fit(p, q, fit_w)
        w = fit_w
    scale_ok = scale > 0
    if not bool(scale_ok.all()):
        bad = torch.nonzero(~scale_ok).flatten().tolist()
        warnings.warn(
            f"depth alignment: the fitted scale is <= 0 for sample(s) {bad} ({scale[~scale_ok].tolist()}); those maps are "
            "left unaligned. A negative scale flips near and far: is one map depth and the other disparity?",
            RuntimeWarning,
            stacklevel=2,
        )
    use_scale = torch.where(scale_ok, scale, torch.ones_like(scale))
    use_shift = torch.where(scale_ok, shift, torch.zeros_like(shift))
    # The weighted RMS of the fit, in units of the target's magnitude (no overflow of the squares).
    sq, unit_w = _magnitude(q), w / _magnitude(w)
    misfit = (use_scale[:, None] * p + use_shift[:, None] - q) / sq
    residual = ((unit_w * misfit**2).sum(dim=1) / unit_w.sum(dim=1).clamp_min(1e-30)).sqrt() * sq[:, 0]
    aligned = pred * use_scale.view(batch, 1, 1, 1) + use_shift.view(batch, 1, 1, 1)
    return DepthAlignment(aligned, scale, shift, residual, scale_ok)


def align_depth(
    d_pred: torch.Tensor,
    d_tgt: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    conf: torch.Tensor | None = None,
    dilate_r: int = 2,
    robust: str = "none",
    trim: float = 2.5,
    iterations: int = 5,
) -> DepthAlignment:
    """Align ``d_pred`` to ``d_tgt`` by a scale and a shift fitted on the background.

    Use disparity maps (MiDaS, Depth Anything give relative inverse depth, affine-invariant in
    disparity): convert metric depth with :func:`depth_to_disparity` first. The fit uses the valid
    pixels outside ``mask`` dilated by ``dilate_r`` (the insertion is what is being judged, so it
    must not pull the fit), weighted by ``conf`` if given. Shapes as in
    :func:`depth_consistency_loss`; returns ``[B, 1, H, W]`` maps and ``[B]`` values.
    """
    pred = _as_4d(d_pred, "d_pred", None, None)
    batch, size = pred.shape[0], tuple(pred.shape[-2:])
    target = _as_4d(d_tgt, "d_tgt", batch, size)
    weight = torch.ones_like(pred)
    if mask is not None:
        m = _as_4d(mask, "mask", batch, size)
        _check_unit_range(m, "mask")
        weight = 1.0 - _dilate((m > 0.5).to(pred.dtype), _check_radius(dilate_r, "dilate_r"))
    if conf is not None:
        c = _as_4d(conf, "conf", batch, size)
        _check_unit_range(c, "conf")
        weight = weight * c.to(pred.dtype)
    work = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
    with full_precision(pred.device):
        return align_scale_shift(pred.to(work), target.to(work), weight.to(work), robust=robust, trim=trim, iterations=iterations)


__all__ = [
    "DEPTH_SPACES",
    "DepthAlignment",
    "DepthConsistencyLoss",
    "DepthConsistencyTerms",
    "ROBUST_FITS",
    "SAMPLE_WEIGHTINGS",
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
]
