r"""Encoders that need no weights: they work out of the box, on any image size, and are
differentiable, so every workflow and training loop can use them before downloading a model.

* :func:`gradient_embedding`: a multi-scale histogram of gradient orientations per patch (in the
  spirit of HOG). It sees shape (edges and their directions), not colour, and tolerates shifts of a
  couple of pixels (votes are max-filtered, then pooled over overlapping cells).
* :func:`pixel_embedding`: the average colour of a 2x2 sub-grid of every patch, after a small blur.
  It sees colour and coarse layout.
* :func:`weight_free_embedding`: either, or both concatenated (the default for the workflows).

All take a ComfyUI IMAGE ``[B, H, W, C]`` (C = 1 or 3) in [0, 1] (values outside it, NaN included,
are refused) and return a grid embedding ``[B, h, w, D]`` with ``h = round(H / patch_size)``,
``w = round(W / patch_size)``, in the images' dtype; half precision is computed in float32.

Orientation without ``atan2``: for each pixel the per-channel gradients ``(g_x, g_y)`` are summed
into the structure tensor ``J``; its doubled-angle vector :math:`(J_{xx} - J_{yy}, 2 J_{xy})`
points along :math:`2\theta` (so edges are unsigned, as in HOG) and is weighted by the gradient
energy. Each of ``bins`` orientations :math:`\theta_k` receives the smooth vote
:math:`m \cdot \max(0, \cos(2\theta - 2\theta_k))^2`, with :math:`m = \sqrt{J_{xx} + J_{yy}}`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int
from .preprocess import check_image

KINDS = ("gradient", "pixel", "gradient+pixel")
_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
# The sides of the smallest image with a gradient (one pixel has none).
MIN_SIZE = 2


def _working_copy(images: torch.Tensor) -> torch.Tensor:
    """The images as ``[B, C, H, W]`` in at least float32. In half precision the gradient energies
    (squares of differences of pixels) fall below float16's normal range, and any epsilon that
    float16 can hold swamps them: the descriptor came out 6-7% off."""
    channels = images.permute(0, 3, 1, 2)
    return channels.float() if channels.dtype in (torch.float16, torch.bfloat16) else channels


def grid_size(height: int, width: int, patch_size: int) -> tuple[int, int]:
    return max(1, round(height / patch_size)), max(1, round(width / patch_size))


def _orientation_votes(channels: torch.Tensor, bins: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> orientation votes ``[B, bins, H, W]``."""
    c = channels.shape[1]
    kernel_x = _SOBEL.to(channels).expand(c, 1, 3, 3)
    kernel_y = _SOBEL.t().to(channels).expand(c, 1, 3, 3)
    padded = F.pad(channels, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, kernel_x, groups=c)
    gy = F.conv2d(padded, kernel_y, groups=c)
    jxx = (gx * gx).sum(1, keepdim=True)
    jyy = (gy * gy).sum(1, keepdim=True)
    jxy = (gx * gy).sum(1, keepdim=True)
    energy = jxx + jyy
    tiny = torch.finfo(channels.dtype).tiny ** 0.5
    magnitude = torch.sqrt(energy + tiny)
    cos2 = (jxx - jyy) / (energy + tiny)
    sin2 = 2 * jxy / (energy + tiny)
    angles = torch.arange(bins, device=channels.device, dtype=channels.dtype) * (2 * math.pi / bins)
    alignment = cos2 * angles.cos().view(1, -1, 1, 1) + sin2 * angles.sin().view(1, -1, 1, 1)
    return magnitude * alignment.clamp_min(0).square()


def _pool_overlapping(maps: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Average over cells twice the patch size, one per patch (50% overlap): tolerant to shifts."""
    fine = F.adaptive_avg_pool2d(maps, (grid[0] * 2, grid[1] * 2))
    return F.avg_pool2d(fine, kernel_size=3, stride=2, padding=1, count_include_pad=False)


def gradient_embedding(
    images: torch.Tensor, patch_size: int = 16, bins: int = 9, scales: int = 3, shift_tolerance: int = 2
) -> torch.Tensor:
    """Multi-scale gradient-orientation histograms per patch: ``[B, h, w, bins * scales]``.

    Args:
        images: IMAGE ``[B, H, W, C]`` in [0, 1].
        patch_size: pixels per patch side (the grid is ``round(H / patch_size) x round(W / patch_size)``).
        bins: orientations in [0, 180) degrees.
        scales: the image, then halved ``scales - 1`` times; coarse scales see the object's outline
            rather than its texture.
        shift_tolerance: each orientation vote is spread to its neighbours within this many pixels
            (a max filter, as complex cells do), so moving an edge by up to that much changes
            little, while an extra edge (the old object showing through) still counts in full.

    Votes are pooled over overlapping cells (twice the patch, one per patch), then divided by the
    local energy around the patch (3x3 patches) plus the image's mean energy: the descriptor follows
    shapes, weak textures stay small, and flat areas stay near zero.
    """
    check_image(images, min_size=MIN_SIZE)
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    bins = check_int(bins, "bins", minimum=2)
    scales = check_int(scales, "scales", minimum=1)
    shift_tolerance = check_int(shift_tolerance, "shift_tolerance", minimum=0)
    grid = grid_size(images.shape[1], images.shape[2], patch_size)
    channels = _working_copy(images)
    parts = []
    for level in range(scales):
        if level:
            if min(channels.shape[-2:]) < 4:
                break
            channels = F.avg_pool2d(channels, 2)
        votes = _orientation_votes(channels, bins)
        radius = max(1, shift_tolerance >> level) if shift_tolerance else 0
        if radius:
            votes = F.max_pool2d(votes, kernel_size=2 * radius + 1, stride=1, padding=radius)
        votes = _pool_overlapping(votes, grid)
        energy = votes.square().sum(1, keepdim=True)
        local = F.avg_pool2d(energy, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        floor = energy.mean(dim=(1, 2, 3), keepdim=True)
        parts.append(votes / torch.sqrt(local + floor + torch.finfo(votes.dtype).tiny))
    features = torch.cat(parts, dim=1)
    if len(parts) < scales:  # a tiny image: keep D fixed by repeating the coarsest scale
        features = torch.cat([features] + [parts[-1]] * (scales - len(parts)), dim=1)
    return features.permute(0, 2, 3, 1).to(images.dtype).contiguous()


def pixel_embedding(images: torch.Tensor, patch_size: int = 16, sub: int = 2, blur: int = 3) -> torch.Tensor:
    """Average colour of a ``sub x sub`` grid inside every patch: ``[B, h, w, C * sub * sub]``.

    The image is first box-blurred over ``2 * blur + 1`` pixels so that a shift of a pixel or two
    moves colour between neighbouring cells only a little.
    """
    check_image(images, min_size=MIN_SIZE)
    patch_size = check_int(patch_size, "patch_size", minimum=1)
    sub = check_int(sub, "sub", minimum=1)
    blur = check_int(blur, "blur", minimum=0)
    grid = grid_size(images.shape[1], images.shape[2], patch_size)
    channels = _working_copy(images)
    if blur:
        channels = F.avg_pool2d(F.pad(channels, (blur,) * 4, mode="replicate"), kernel_size=2 * blur + 1, stride=1)
    pooled = F.adaptive_avg_pool2d(channels, (grid[0] * sub, grid[1] * sub))
    b, c = pooled.shape[:2]
    cells = pooled.view(b, c, grid[0], sub, grid[1], sub).permute(0, 2, 4, 1, 3, 5)
    return cells.reshape(b, grid[0], grid[1], c * sub * sub).to(images.dtype).contiguous()


def weight_free_embedding(images: torch.Tensor, kind: str = "gradient+pixel", patch_size: int = 16) -> torch.Tensor:
    """The weight-free encoder of the workflows: ``"gradient"`` (shape), ``"pixel"`` (colour) or both
    concatenated (the default; the colour part is scaled by 2 to a norm comparable with the
    gradient part's)."""
    check_choice(kind, "kind", KINDS)
    parts = []
    if "gradient" in kind:
        parts.append(gradient_embedding(images, patch_size))
    if "pixel" in kind:
        colour = pixel_embedding(images, patch_size)
        parts.append(colour * 2.0 if parts else colour)
    return torch.cat(parts, dim=-1)
