"""The decoder blocks that MiDaS and Depth Anything V2 share (the DPT "scratch"): 3x3 convolutions that
bring each encoder level to a common width, and RefineNet-style fusion blocks that merge the levels
from coarse to fine.

Attribute names follow the official checkpoints (``layer1_rn``, ``refinenet4``, ``resConfUnit1``,
``out_conv``...), so an official state dict loads into these modules as it is.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))``."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, stride=1, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, stride=1, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + x


class FeatureFusionBlock(nn.Module):
    """Fuses the coarser path with a skip connection, upsamples (bilinear, corners aligned) to ``size``
    (or 2x), then a 1x1 convolution; ``expand`` halves the channels (MiDaS v2.1 small)."""

    def __init__(self, features: int, expand: bool = False):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features // 2 if expand else features, kernel_size=1, stride=1, padding=0, bias=True)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None, size: Sequence[int] | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=tuple(int(s) for s in size), mode="bilinear", align_corners=True)
        return self.out_conv(x)


class Interpolate(nn.Module):
    """A parameter-free upsampling step inside an ``nn.Sequential`` (keeps the official indices)."""

    def __init__(self, scale_factor: float, align_corners: bool):
        super().__init__()
        self.scale_factor = scale_factor
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=self.align_corners)


class Scratch(nn.Module):
    """``layer{1..4}_rn`` (3x3, no bias) to ``features`` channels (x1, x2, x4, x8 with ``expand``) and
    the four fusion blocks. The output head is added by each model as attributes of its own."""

    def __init__(self, in_channels: Sequence[int], features: int, expand: bool = False):
        super().__init__()
        widths = [features * (2**i if expand else 1) for i in range(4)]
        for i, (cin, cout) in enumerate(zip(in_channels, widths), start=1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False))
        # refinenet1 never expands: it ends at `features` channels (MiDaS small's own layout).
        for i, width in enumerate(widths, start=1):
            setattr(self, f"refinenet{i}", FeatureFusionBlock(width, expand=expand and i > 1))

    def fuse(self, layers: Sequence[torch.Tensor], sized: bool) -> torch.Tensor:
        """The four encoder levels (fine to coarse) -> the fused finest path. ``sized``: upsample each
        path to the next level's size (DPT) rather than by exactly 2 (MiDaS small)."""
        l1, l2, l3, l4 = (getattr(self, f"layer{i}_rn")(x) for i, x in enumerate(layers, start=1))
        path = self.refinenet4(l4, size=l3.shape[2:] if sized else None)
        path = self.refinenet3(path, l3, size=l2.shape[2:] if sized else None)
        path = self.refinenet2(path, l2, size=l1.shape[2:] if sized else None)
        return self.refinenet1(path, l1)
