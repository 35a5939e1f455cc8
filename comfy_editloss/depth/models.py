"""Depth networks: a timm encoder plus a decoder of our own, laid out like the official checkpoints.

* :class:`DepthAnythingV2`: timm's DINOv2 ViT-S/B/L/G-14 (``pretrained``) and the DPT head
  (``depth_head``), as in ``depth_anything_v2_vit{s,b,l,g}.pth``;
* :class:`MidasDPT`: timm's ViT-B/16 or ViT-L/16 at 384 (``pretrained.model``), its reassembly layers
  (``pretrained.act_postprocess1..4``, readout "project") and the DPT decoder (``scratch``), as in
  MiDaS v3.0 ``dpt_large_384.pt`` / ``dpt_base_384.pt``;
* :class:`MidasSmall`: timm's ``tf_efficientnet_lite3`` cut into four levels (``pretrained.layer1..4``)
  and the MiDaS small decoder (``scratch``), as in ``midas_v21_small_256.pt``.

Every ``forward(pixels [B,3,h,w]) -> [B,h',w']`` returns relative inverse depth (disparity up to scale
and shift), non-negative, at the network's own output size. Where the official code does something
numerically particular (DINOv2's position-embedding interpolation with its 0.1 offset, MiDaS's
bilinear one), this code does the same thing, so outputs equal the official ones.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.models import dinov2_pos_embed
from .blocks import Interpolate, Scratch


def _patch_tokens(vit: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Patch embedding as the official code runs it: the strided convolution, flattened to
    ``[B, h*w, C]`` (any input size; a remainder smaller than a patch is dropped)."""
    x = vit.patch_embed.proj(pixels).flatten(2).transpose(1, 2)
    return vit.patch_embed.norm(x)


def midas_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """MiDaS's ``_resize_pos_embed``: bilinear to the patch grid (corners not aligned)."""
    side = int(math.sqrt(pos_embed.shape[1] - 1))
    grid = pos_embed[0, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(grid_h, grid_w), mode="bilinear")
    return torch.cat((pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1)), dim=1)


class DPTHead(nn.Module):
    """Depth Anything V2's head: per level a 1x1 projection and a resize (x4, x2, x1, /2), the fusion
    decoder, ``output_conv1``, bilinear upsampling to the patch grid x 14, ``output_conv2``."""

    def __init__(self, embed_dim: int, features: int, out_channels: Sequence[int]):
        super().__init__()
        self.projects = nn.ModuleList(nn.Conv2d(embed_dim, c, kernel_size=1) for c in out_channels)
        c = out_channels
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(c[0], c[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(c[1], c[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(c[3], c[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_channels, features)
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, stride=1, padding=1)
        self.scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, kernel_size=1),
            nn.ReLU(),
            nn.Identity(),
        )

    def forward(self, tokens: Sequence[torch.Tensor], grid_h: int, grid_w: int, patch: int = 14) -> torch.Tensor:
        levels = []
        for x, project, resize in zip(tokens, self.projects, self.resize_layers):
            x = x.transpose(1, 2).reshape(x.shape[0], x.shape[-1], grid_h, grid_w)
            levels.append(resize(project(x)))
        out = self.scratch.output_conv1(self.scratch.fuse(levels, sized=True))
        out = F.interpolate(out, (grid_h * patch, grid_w * patch), mode="bilinear", align_corners=True)
        return self.scratch.output_conv2(out)


class DepthAnythingV2(nn.Module):
    """Depth Anything V2 on timm's DINOv2 (``vit_*_patch14_dinov2``).

    Args:
        vit: the timm ViT (built with ``num_classes=0``); it gains the checkpoint's unused
            ``mask_token`` so that official files load strictly.
        layers: the blocks whose (normed) outputs feed the head.
        features, out_channels: head widths of the size (64/[48,96,192,384] for Small...).
    """

    patch = 14

    def __init__(self, vit: nn.Module, layers: Sequence[int], features: int, out_channels: Sequence[int]):
        super().__init__()
        embed_dim = vit.embed_dim
        vit.register_parameter("mask_token", nn.Parameter(torch.zeros(1, embed_dim)))  # masked pretraining only
        self.pretrained = vit
        self.layers = tuple(int(i) for i in layers)
        self.depth_head = DPTHead(embed_dim, features, out_channels)

    def intermediate_tokens(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        vit = self.pretrained
        height, width = pixels.shape[-2:]
        x = _patch_tokens(vit, pixels)
        x = torch.cat((vit.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x), dim=1)
        x = x + dinov2_pos_embed(vit.pos_embed, height, width, self.patch).to(x.dtype)
        out = []
        for i, block in enumerate(vit.blocks[: max(self.layers) + 1]):
            x = block(x)
            if i in self.layers:
                out.append(vit.norm(x)[:, 1:])
        return out

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        grid_h, grid_w = pixels.shape[-2] // self.patch, pixels.shape[-1] // self.patch
        depth = self.depth_head(self.intermediate_tokens(pixels), grid_h, grid_w, self.patch)
        return F.relu(depth).squeeze(1)


def _midas_output_conv(features: int, align_corners: bool) -> nn.Sequential:
    """MiDaS's output head: 3x3 conv to half width, 2x bilinear upsampling (DPT aligns the corners,
    v2.1 small does not), 3x3 conv to 32, ReLU, 1x1 conv to depth, ReLU (non-negative)."""
    return nn.Sequential(
        nn.Conv2d(features, features // 2, kernel_size=3, stride=1, padding=1),
        Interpolate(scale_factor=2, align_corners=align_corners),
        nn.Conv2d(features // 2, 32, kernel_size=3, stride=1, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 1, kernel_size=1),
        nn.ReLU(),
        nn.Identity(),
    )


class ProjectReadout(nn.Module):
    """MiDaS's readout "project": each patch token concatenated with the class token, Linear + GELU."""

    def __init__(self, dim: int):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x[:, 1:]
        return self.project(torch.cat((tokens, x[:, :1].expand_as(tokens)), dim=-1))


class _Reassemble(nn.Module):
    """Holds the timm ViT (``model``) and the four ``act_postprocess`` stages of a MiDaS DPT."""

    def __init__(self, vit: nn.Module, out_channels: Sequence[int]):
        super().__init__()
        self.model = vit
        dim = vit.embed_dim
        c = out_channels
        resizes = [
            nn.ConvTranspose2d(c[0], c[0], kernel_size=4, stride=4),
            nn.ConvTranspose2d(c[1], c[1], kernel_size=2, stride=2),
            None,
            nn.Conv2d(c[3], c[3], kernel_size=3, stride=2, padding=1),
        ]
        for i, (channels, resize) in enumerate(zip(c, resizes), start=1):
            # indices 1 and 2 are the official Transpose and Unflatten, which hold nothing
            stage = [ProjectReadout(dim), nn.Identity(), nn.Identity(), nn.Conv2d(dim, channels, kernel_size=1)]
            setattr(self, f"act_postprocess{i}", nn.Sequential(*stage, *([resize] if resize is not None else [])))


class MidasDPT(nn.Module):
    """MiDaS v3.0 DPT (ViT-B/16 or ViT-L/16, 384) on timm's ``vit_*_patch16_384``."""

    patch = 16

    def __init__(self, vit: nn.Module, hooks: Sequence[int], out_channels: Sequence[int], features: int = 256):
        super().__init__()
        self.pretrained = _Reassemble(vit, out_channels)
        self.hooks = tuple(int(i) for i in hooks)
        self.scratch = Scratch(out_channels, features)
        self.scratch.output_conv = _midas_output_conv(features, align_corners=True)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        vit = self.pretrained.model
        grid_h, grid_w = pixels.shape[-2] // self.patch, pixels.shape[-1] // self.patch
        x = _patch_tokens(vit, pixels)
        x = torch.cat((vit.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x), dim=1)
        x = x + midas_pos_embed(vit.pos_embed, grid_h, grid_w).to(x.dtype)
        levels = []
        for i, block in enumerate(vit.blocks[: max(self.hooks) + 1]):
            x = block(x)
            if i in self.hooks:
                stage = getattr(self.pretrained, f"act_postprocess{len(levels) + 1}")
                tokens = stage[0](x)
                grid = tokens.transpose(1, 2).reshape(x.shape[0], -1, grid_h, grid_w)
                levels.append(stage[3:](grid))
        return self.scratch.output_conv(self.scratch.fuse(levels, sized=True)).squeeze(1)


class _EfficientNetLevels(nn.Module):
    """timm's EfficientNet cut where MiDaS cuts it: stem + stages 0-1, stage 2, stages 3-4, stages 5-6.
    timm's ``bn1`` carries the stem's activation, so index 2 (the official separate activation) is empty."""

    def __init__(self, net: nn.Module):
        super().__init__()
        blocks = net.blocks
        self.layer1 = nn.Sequential(net.conv_stem, net.bn1, nn.Identity(), *blocks[0:2])
        self.layer2 = nn.Sequential(*blocks[2:3])
        self.layer3 = nn.Sequential(*blocks[3:5])
        self.layer4 = nn.Sequential(*blocks[5:9])


class MidasSmall(nn.Module):
    """MiDaS v2.1 small: timm's ``tf_efficientnet_lite3`` and the expanding fusion decoder (64 features)."""

    patch = 32

    def __init__(self, net: nn.Module, in_channels: Sequence[int] = (32, 48, 136, 384), features: int = 64):
        super().__init__()
        self.pretrained = _EfficientNetLevels(net)
        self.scratch = Scratch(in_channels, features, expand=True)
        self.scratch.output_conv = _midas_output_conv(features, align_corners=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        p = self.pretrained
        l1 = p.layer1(pixels)
        l2 = p.layer2(l1)
        l3 = p.layer3(l2)
        l4 = p.layer4(l3)
        return self.scratch.output_conv(self.scratch.fuse((l1, l2, l3, l4), sized=False)).squeeze(1)
