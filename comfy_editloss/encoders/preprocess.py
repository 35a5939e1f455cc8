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
import numbers
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from .._checks import check_choice, check_number, describe
from .._checks import check_image as check_rgb_image

RESIZE_MODES = ("shortest", "longest", "squash", "multiple")
INTERPOLATIONS = ("bicubic", "bilinear")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_HALF_DTYPES = (torch.float16, torch.bfloat16)


def check_image(images: object, name: str = "images", min_size: int = 1) -> torch.Tensor:
    """An IMAGE an encoder takes: :func:`comfy_editloss._checks.check_image` with one or three
    channels (RGB or grey)."""
    return check_rgb_image(images, name, channels=(1, 3), min_size=min_size)


def check_config(config: object, name: str = "config") -> "PreprocessConfig":
    """A :class:`PreprocessConfig`, duck-typed: inside ComfyUI the pack's nodes use their own copy of
    this module, whose class is another object."""
    if not all(hasattr(config, field) for field in ("size", "mean", "std", "resize_mode", "interpolation", "patch_size", "fill")):
        raise TypeError(f"{name} must be a PreprocessConfig, got {describe(config)}")
    return config


def _rgb_numbers(value: object, name: str) -> tuple[float, float, float]:
    """Three finite numbers, one per RGB channel (any sequence or a tensor of three; no strings or bools)."""
    try:
        items = list(value.tolist() if isinstance(value, torch.Tensor) else value)
    except TypeError:
        raise TypeError(f"{name} must be three numbers (one per RGB channel), got {value!r}") from None
    if isinstance(value, (str, bytes)) or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{name} must be three numbers (one per RGB channel), got {value!r}")
    triple = tuple(float(v) for v in items)
    if len(triple) != 3 or not all(math.isfinite(v) for v in triple):
        raise ValueError(f"{name} must be three finite numbers (one per RGB channel), got {value!r}")
    return triple


@dataclass(frozen=True)
class PreprocessConfig:
    size: int = 224
    mean: tuple[float, ...] = OPENAI_MEAN
    std: tuple[float, ...] = OPENAI_STD
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"
    patch_size: int = 1  # for "multiple"
    fill: float = 0.0  # for "longest": the padding's value, in the image's [0, 1]

    def __post_init__(self) -> None:
        for name in ("size", "patch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("mean", "std"):
            triple = _rgb_numbers(getattr(self, name), name)
            if name == "std" and min(triple) <= 0:
                raise ValueError(f"std must be > 0 for every channel, got {getattr(self, name)!r}")
            object.__setattr__(self, name, triple)
        check_choice(self.resize_mode, "resize_mode", RESIZE_MODES)
        check_choice(self.interpolation, "interpolation", INTERPOLATIONS)
        object.__setattr__(self, "fill", check_number(self.fill, "fill", minimum=0.0, maximum=1.0))

    def with_overrides(self, **changes) -> "PreprocessConfig":
        """A copy with ``changes``; ``None`` keeps a field, as do the nodes' "keep the model's value"
        widgets: a ``size`` of 0 and a ``resize_mode``/``interpolation`` of "" or "default". Any
        other value is used, 0.0 and False included (a ``fill`` of 0.0 is black, not "keep")."""
        changes = {k: v for k, v in changes.items() if v is not None and not _keeps(k, v)}
        return replace(self, **changes)  # checked by __post_init__


def _keeps(field_name: str, value: object) -> bool:
    if field_name == "size":
        return type(value) is int and value == 0
    if field_name in ("resize_mode", "interpolation"):
        return isinstance(value, str) and value in ("", "default")
    return False


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
    """IMAGE ``[B, H, W, 3]`` in [0, 1] -> normalised model input ``[B, 3, h, w]`` (differentiable), in
    the images' dtype. Half-precision images are resized in float32: the CPU has no antialiased
    resize in half precision, and float32 loses nothing the model would see."""
    check_image(images)
    check_config(config)
    x = images.permute(0, 3, 1, 2)
    if x.dtype in _HALF_DTYPES:
        x = x.float()
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
    return ((x - mean) / std).to(images.dtype)
