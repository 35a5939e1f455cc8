r"""Relative depth made comparable: scale-and-shift alignment and depth/disparity conversion.

Depth estimators (MiDaS, Depth Anything) give relative inverse depth with unknown scale and shift:
:func:`align_depth` fits ``s * pred + t`` to the target on the background (valid pixels outside the
dilated insertion mask), least squares or robust, before the depth-consistency loss
(:mod:`comfy_editloss.losses.depth`) is taken. NaN/Inf pixels mark missing depth and are left out of
every fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from .._checks import check_choice, check_float_tensor, check_has_values, check_int, check_number, check_unit_range
from ..edits.morphology import max_filter
from .maps import as_map, check_radius
from .reduction import full_precision

ROBUST_FITS = ("none", "trimmed", "median")


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
    pred = as_map(d_pred, "d_pred", None, None)
    batch, size = pred.shape[0], tuple(pred.shape[-2:])
    target = as_map(d_tgt, "d_tgt", batch, size)
    weight = torch.ones_like(pred)
    if mask is not None:
        m = as_map(mask, "mask", batch, size)
        check_unit_range(m, "mask")
        weight = 1.0 - max_filter((m > 0.5).to(pred.dtype), check_radius(dilate_r, "dilate_r"))
    if conf is not None:
        c = as_map(conf, "conf", batch, size)
        check_unit_range(c, "conf")
        weight = weight * c.to(pred.dtype)
    work = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
    with full_precision(pred.device):
        return align_scale_shift(pred.to(work), target.to(work), weight.to(work), robust=robust, trim=trim, iterations=iterations)
