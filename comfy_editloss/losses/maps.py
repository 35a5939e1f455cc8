"""Map arguments of the depth loss and the alignment: ``[H, W]``, ``[B, H, W]`` or ``[B, 1, H, W]``
tensors made ``[B, 1, H, W]``, a batch of 1 standing for every sample (a target or mask shared by a
batch of generations)."""

from __future__ import annotations

import torch

from .._checks import check_float_tensor, check_has_values, check_int


def as_map(x: object, name: str, batch: int | None, size: tuple[int, int] | None) -> torch.Tensor:
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


def check_radius(value: object, name: str) -> int:
    """A radius in pixels: an int >= 0."""
    return check_int(value, name, minimum=0)
