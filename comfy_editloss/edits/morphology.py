"""Grey morphology of masks and maps ``[..., H, W]`` by a ``(2r+1)^2`` square: the one place the edit
masks, the overlay negatives and the depth loss dilate, erode and take boundary bands.

:func:`max_filter`, :func:`min_filter` and :func:`band` take any float map (NaN propagates as in
``torch.maximum``) and check only its type and shape, so they cost no device sync in a loss's hot
path; :func:`dilate`, :func:`erode` and :func:`boundary_band` are seed 004's helpers, which also
check that their masks are finite and in [0, 1]. Pixels outside the image are left out of every
window, as ``max_pool2d`` with padding does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import check_float_tensor, check_has_values, check_int, check_unit_range

__all__ = ["band", "boundary_band", "dilate", "erode", "max_filter", "min_filter"]


def _check_shape(x: object, name: str) -> torch.Tensor:
    check_float_tensor(x, name)
    if x.dim() < 2 or x.numel() == 0:
        raise ValueError(f"{name} must have shape [..., H, W] with H, W >= 1, got {tuple(x.shape)}")
    return x


def max_filter(x: torch.Tensor, r: int) -> torch.Tensor:
    """Maximum over the ``(2r+1)^2`` square around each pixel of ``x [..., H, W]`` (``r = 0``: ``x``).

    A row pass and a column pass of shifted maxima (a few times faster than max pooling on the CPU);
    where a gradient is needed, max pooling itself (its backward is autograd's).
    """
    return _max_filter(_check_shape(x, "x"), check_int(r, "r", minimum=0))


def _max_filter(x: torch.Tensor, r: int) -> torch.Tensor:
    if r <= 0:
        return x
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


def min_filter(x: torch.Tensor, r: int) -> torch.Tensor:
    """Minimum over the ``(2r+1)^2`` square (for a mask in [0, 1]: ``1 - max_filter(1 - x, r)``)."""
    return _min_filter(_check_shape(x, "x"), check_int(r, "r", minimum=0))


def _min_filter(x: torch.Tensor, r: int) -> torch.Tensor:
    return x if r <= 0 else -_max_filter(-x, r)


def band(x: torch.Tensor, r: int) -> torch.Tensor:
    """The pixels within ``r`` of a mask's boundary: ``max_filter - min_filter``, clamped to [0, 1]."""
    return _band(_check_shape(x, "x"), check_int(r, "r", minimum=0))


def _band(x: torch.Tensor, r: int) -> torch.Tensor:
    if r <= 0:
        return torch.zeros_like(x)
    return (_max_filter(x, r) - _min_filter(x, r)).clamp(0.0, 1.0)


def _check_mask(x: object, name: str) -> torch.Tensor:
    """A mask ``[..., H, W]`` of finite values in [0, 1] (one device sync)."""
    check_has_values(_check_shape(x, name), name)
    return check_unit_range(x, name)


def dilate(mask01: torch.Tensor, r: int) -> torch.Tensor:
    """Grey dilation of ``[..., H, W]`` masks in [0, 1] by a ``(2r+1)^2`` square (the seed's max
    pooling); ``r = 0`` returns the mask. Differentiable."""
    return _max_filter(_check_mask(mask01, "mask01"), check_int(r, "r", minimum=0))


def erode(mask01: torch.Tensor, r: int) -> torch.Tensor:
    """Grey erosion by a ``(2r+1)^2`` square (pixels outside the image left out, as in the seed)."""
    return _min_filter(_check_mask(mask01, "mask01"), check_int(r, "r", minimum=0))


def boundary_band(mask_bin: torch.Tensor, r: int) -> torch.Tensor:
    """``dilate(m, r) - erode(m, r)``: the pixels within ``r`` of the mask's boundary."""
    return _band(_check_mask(mask_bin, "mask_bin"), check_int(r, "r", minimum=0))
