"""Model preprocessing as differentiable torch operations on ComfyUI's IMAGE ``[B, H, W, 3]``.

The libraries' own pipelines (open_clip's ``image_transform``, timm's ``create_transform``) work on PIL
images and cut the gradient; these do the same resizing, cropping and normalisation with torch, so
gradients reach the image and batches run on the GPU. Resizing uses antialiased bicubic or bilinear
interpolation, which matches PIL's to within one uint8 step (tests/test_encoders.py checks it).

Resize modes (open_clip's names, plus one for models that take any size):

* ``"shortest"``: the shorter side becomes ``size``, then a centre crop to ``size x size``;
* ``"longest"``: the longer side becomes ``size``, then the image is padded to ``size x size``;
* ``"squash"``: resized to ``size x size``, aspect ratio not kept;
* ``"multiple"``: the shorter side becomes about ``size``, both sides rounded to a multiple of the
  model's patch size, no crop: the whole image is seen (DINOv2 and other ViTs with dynamic size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_float_tensor, check_number, describe

RESIZE_MODES = ("shortest", "longest", "squash", "multiple")
INTERPOLATIONS = ("bicubic", "bilinear")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessConfig:
    size: int = 224
    mean: tuple[float, ...] = OPENAI_MEAN
    std: tuple[float, ...] = OPENAI_STD
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"
    patch_size: int = 1  # for "multiple"
    fill: float = 0.0  # for "longest"

    def __post_init__(self) -> None:
        for name in ("size", "patch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            try:
                numbers = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be three numbers (one per RGB channel), got {value!r}") from None
            if len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
                raise ValueError(f"{name} must be three finite numbers (one per RGB channel), got {value!r}")
            if name == "std" and min(numbers) <= 0:
                raise ValueError(f"std must be > 0 for every channel, got {value!r}")
            object.__setattr__(self, name, numbers)
        check_choice(self.resize_mode, "resize_mode", RESIZE_MODES)
        check_choice(self.interpolation, "interpolation", INTERPOLATIONS)
        object.__setattr__(self, "fill", check_number(self.fill, "fill"))

    def with_overrides(self, **changes) -> "PreprocessConfig":
        changes = {k: v for k, v in changes.items() if v not in (None, "", "default", 0)}
        return replace(self, **changes)  # checked by __post_init__


def _resize(x: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    height, width = x.shape[-2:]
    if x.device.type == "cpu" and x.stride(1) == 1 and size[0] < height and size[1] < width:
        # An IMAGE seen as [B, 3, H, W] is channels-last in memory. There, on the CPU, shrinking the
        # rows first, then the columns, is about 10% faster than torch's one call (columns first);
        # the filter is separable, so the result is the same up to float rounding.
        x = F.interpolate(x, size=(size[0], width), mode=interpolation, antialias=True, align_corners=False)
    return F.interpolate(x, size=size, mode=interpolation, antialias=True, align_corners=False)


def output_size(height: int, width: int, config: PreprocessConfig) -> tuple[int, int]:
    """The (height, width) the model sees for an input of this size."""
    size = config.size
    if config.resize_mode == "multiple":
        scale = size / min(height, width)
        p = max(1, config.patch_size)
        return max(p, round(height * scale / p) * p), max(p, round(width * scale / p) * p)
    return size, size


def preprocess(images: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """IMAGE ``[B, H, W, 3]`` in [0, 1] -> normalised model input ``[B, 3, h, w]`` (differentiable)."""
    check_float_tensor(images, "images")
    if images.dim() != 4 or images.shape[-1] not in (1, 3) or 0 in images.shape:
        raise ValueError(f"images must be an IMAGE [B, H, W, 3] (or [B, H, W, 1]) with no empty dim, got shape {tuple(images.shape)}")
    # Duck-typed: inside ComfyUI the pack's nodes use their own copy of this module.
    if not all(hasattr(config, field) for field in ("size", "mean", "std", "resize_mode", "interpolation", "patch_size", "fill")):
        raise TypeError(f"config must be a PreprocessConfig, got {describe(config)}")
    x = images.permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    height, width = x.shape[-2:]
    size = config.size
    if config.resize_mode == "squash":
        x = _resize(x, (size, size), config.interpolation)
    elif config.resize_mode == "multiple":
        x = _resize(x, output_size(height, width, config), config.interpolation)
    elif config.resize_mode == "shortest":
        # torchvision.transforms.Resize(int): the short side to `size`, the long side truncated.
        if height <= width:
            new = (size, int(size * width / height))
        else:
            new = (int(size * height / width), size)
        x = _resize(x, new, config.interpolation)
        top = int(round((new[0] - size) / 2.0))
        left = int(round((new[1] - size) / 2.0))
        x = x[..., top : top + size, left : left + size]
    else:  # longest: timm's ResizeKeepRatio(longest=1) then a centre pad to size x size
        ratio = max(height / size, width / size)
        new = (round(height / ratio), round(width / ratio))
        x = _resize(x, new, config.interpolation)
        pad_h, pad_w = size - new[0], size - new[1]
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=config.fill)
    mean = torch.tensor(config.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(config.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std
