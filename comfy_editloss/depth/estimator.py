"""Depth estimators from the official checkpoint files: which architecture a file holds (read from its
keys, never from its name), building it on timm, loading it strictly, and running it on IMAGE batches
with the official pre- and post-processing.

Pre-processing, as the official ``image2tensor``/``run.py``: resize (bicubic, no antialiasing: OpenCV's
``INTER_CUBIC``) keeping the aspect ratio so that the sides are multiples of 14 (Depth Anything V2, at
least ``input_size`` each: "lower_bound") or of 32 (MiDaS: DPT "minimal", small "upper_bound"),
normalise, run, then resize the output back to the input size (bilinear with aligned corners for Depth
Anything V2, bicubic for MiDaS). The output is relative inverse depth: never min-max squashed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_callback, check_choice, check_int, describe
from ..encoders.checkpoints import CheckpointError, as_path, check_finite_parameters, check_state_dict, fit_problems, read_state_dict
from ..encoders.precision import PRECISIONS, storage_dtype
from ..encoders.preprocess import IMAGENET_MEAN, IMAGENET_STD
from ..encoders.models import check_device, describe_model
from ..encoders.preprocess import check_image

RESIZE_METHODS = ("lower_bound", "upper_bound", "minimal")

APACHE, NC, MIT = "Apache-2.0", "CC-BY-NC-4.0 (non-commercial use only)", "MIT"


@dataclass(frozen=True)
class DepthArchitecture:
    """One supported checkpoint: how to build it and how the official code feeds it."""

    name: str
    title: str
    official_file: str
    licence: str
    timm_name: str
    input_size: int
    multiple_of: int
    resize_method: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    upsample: str  # how the output goes back to the input size: "bilinear" (corners aligned) or "bicubic"
    layers: tuple[int, ...] = ()
    features: int = 256
    out_channels: tuple[int, ...] = ()


def _da(size: str, title: str, licence: str, timm_name: str, layers, features, out_channels) -> DepthArchitecture:
    return DepthArchitecture(
        f"depth_anything_v2_vit{size}", f"Depth Anything V2 {title}", f"depth_anything_v2_vit{size}.pth", licence, timm_name,
        518, 14, "lower_bound", IMAGENET_MEAN, IMAGENET_STD, "bilinear", tuple(layers), features, tuple(out_channels),
    )


ARCHITECTURES: dict[str, DepthArchitecture] = {
    a.name: a
    for a in (
        _da("s", "Small", APACHE, "vit_small_patch14_dinov2", (2, 5, 8, 11), 64, (48, 96, 192, 384)),
        _da("b", "Base", NC, "vit_base_patch14_dinov2", (2, 5, 8, 11), 128, (96, 192, 384, 768)),
        _da("l", "Large", NC, "vit_large_patch14_dinov2", (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
        _da("g", "Giant", NC, "vit_giant_patch14_dinov2", (9, 19, 29, 39), 384, (1536, 1536, 1536, 1536)),
        DepthArchitecture(
            "midas_dpt_large_384", "MiDaS v3.0 DPT-Large 384", "dpt_large_384.pt", MIT, "vit_large_patch16_384",
            384, 32, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic", (5, 11, 17, 23), 256, (256, 512, 1024, 1024),
        ),
        DepthArchitecture(
            "midas_dpt_base_384", "MiDaS v3.0 DPT-Base 384", "dpt_base_384.pt", MIT, "vit_base_patch16_384",
            384, 32, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic", (2, 5, 8, 11), 256, (96, 192, 384, 768),
        ),
        DepthArchitecture(
            "midas_v21_small_256", "MiDaS v2.1 small 256", "midas_v21_small_256.pt", MIT, "tf_efficientnet_lite3",
            256, 32, "upper_bound", IMAGENET_MEAN, IMAGENET_STD, "bicubic", (), 64, (32, 48, 136, 384),
        ),
    )
}

_DA_BY_WIDTH = {384: "depth_anything_v2_vits", 768: "depth_anything_v2_vitb", 1024: "depth_anything_v2_vitl", 1536: "depth_anything_v2_vitg"}
_DPT_BY_WIDTH = {768: "midas_dpt_base_384", 1024: "midas_dpt_large_384"}


def check_architecture(arch: object, name: str = "arch") -> DepthArchitecture:
    """One of :data:`ARCHITECTURES` (a changed copy describes no checkpoint this code can build)."""
    if not isinstance(arch, DepthArchitecture):
        raise TypeError(f"{name} must be a DepthArchitecture (a value of ARCHITECTURES), got {describe_model(arch)}")
    if ARCHITECTURES.get(arch.name) != arch:
        raise ValueError(f"{name} must be one of ARCHITECTURES ({', '.join(ARCHITECTURES)}), got a DepthArchitecture {arch.name!r} that differs from all")
    return arch


def detect_architecture(state: Mapping[str, torch.Tensor]) -> DepthArchitecture:
    """The architecture of a checkpoint, read from its tensor names and shapes.

    Raises:
        CheckpointError: for a state dict of no supported depth model, naming what it looks like.
        TypeError, ValueError: for ``state`` that is no state dict (see ``check_state_dict``).
    """
    return _detect_architecture(check_state_dict(state), "state dict")


def _detect_architecture(state: Mapping[str, torch.Tensor], source: str) -> DepthArchitecture:
    """:func:`detect_architecture`, its errors starting with ``source`` (the file, when loading one)."""
    keys = set(state)

    def width(key: str) -> int:
        return int(state[key].shape[-1])

    if "pretrained.patch_embed.proj.weight" in keys and any(k.startswith("depth_head.") for k in keys):
        dim = int(state["pretrained.patch_embed.proj.weight"].shape[0])
        if dim in _DA_BY_WIDTH and tuple(state["pretrained.patch_embed.proj.weight"].shape[-2:]) == (14, 14):
            return ARCHITECTURES[_DA_BY_WIDTH[dim]]
        raise CheckpointError(f"{source}: looks like Depth Anything but its ViT is {dim} wide with patch {tuple(state['pretrained.patch_embed.proj.weight'].shape[-2:])}: not V2 Small/Base/Large/Giant")
    if any(k.startswith("pretrained.model.patch_embed.backbone.") for k in keys):
        raise CheckpointError(f"{source}: this is MiDaS DPT-Hybrid (ResNet-50 + ViT-B, e.g. dpt_hybrid_384.pt): not supported; use dpt_large_384.pt, dpt_base_384.pt or Depth Anything V2")
    if "pretrained.model.pos_embed" in keys and "scratch.refinenet4.out_conv.weight" in keys:
        if any(".attn.relative_position" in k for k in keys) or any("layers.0.blocks" in k for k in keys):
            raise CheckpointError(f"{source}: this is a MiDaS v3.1 BEiT/Swin model: not supported; use dpt_large_384.pt, dpt_base_384.pt or Depth Anything V2")
        dim = width("pretrained.model.pos_embed")
        patch = tuple(state["pretrained.model.patch_embed.proj.weight"].shape[-2:]) if "pretrained.model.patch_embed.proj.weight" in keys else None
        if dim in _DPT_BY_WIDTH and patch == (16, 16):
            return ARCHITECTURES[_DPT_BY_WIDTH[dim]]
        raise CheckpointError(f"{source}: looks like a MiDaS DPT but its ViT is {dim} wide with patch {patch}: only ViT-B/16 and ViT-L/16 (384) are supported")
    if "pretrained.layer1.0.weight" in keys and "scratch.refinenet1.out_conv.weight" in keys:
        stem = tuple(state["pretrained.layer1.0.weight"].shape)
        if stem == (32, 3, 3, 3) and "pretrained.layer4.1.0.conv_pw.weight" in keys:
            return ARCHITECTURES["midas_v21_small_256"]
        raise CheckpointError(f"{source}: looks like MiDaS v2.x with a stem of shape {stem} (e.g. midas_v21_384.pt on ResNeXt-101): not supported; use midas_v21_small_256.pt")
    sample = ", ".join(sorted(keys)[:4])
    raise CheckpointError(
        f"{source}: not a supported depth model (Depth Anything V2 vits/vitb/vitl/vitg, MiDaS dpt_large_384/dpt_base_384/"
        f"midas_v21_small_256): {len(keys)} tensors, e.g. {sample}"
    )


def convert_state_dict(state: Mapping[str, torch.Tensor], arch: DepthArchitecture) -> dict[str, torch.Tensor]:
    """Official names -> ours: the same, except DINOv2-Giant's SwiGLU (``w12``/``w3``), which timm
    calls ``fc1``/``fc2`` (the same packed layout). The tensors are not copied."""
    check_state_dict(state)
    check_architecture(arch)
    out = {}
    for key, value in state.items():
        if arch.name.startswith("depth_anything") and ".mlp.w" in key:
            key = key.replace(".mlp.w12.", ".mlp.fc1.").replace(".mlp.w3.", ".mlp.fc2.")
        out[key] = value
    return out


def build_model(arch: DepthArchitecture) -> nn.Module:
    """The network of ``arch`` with freshly initialised weights (use the ``meta`` device to skip that)."""
    check_architecture(arch)
    import timm  # noqa: PLC0415

    from .models import DepthAnythingV2, MidasDPT, MidasSmall  # noqa: PLC0415

    if arch.name.startswith("depth_anything"):
        vit = timm.create_model(arch.timm_name, pretrained=False, num_classes=0, dynamic_img_size=True)
        return DepthAnythingV2(vit, arch.layers, arch.features, arch.out_channels)
    if arch.name.startswith("midas_dpt"):
        vit = timm.create_model(arch.timm_name, pretrained=False, num_classes=1000)  # the files keep ImageNet's head
        return MidasDPT(vit, arch.layers, arch.out_channels, arch.features)
    net = timm.create_model(arch.timm_name, pretrained=False)
    return MidasSmall(net, arch.out_channels, arch.features)


def model_from_state_dict(state: Mapping[str, torch.Tensor], dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> tuple[nn.Module, DepthArchitecture]:
    """Detect, build (on the meta device: no random initialisation) and load ``state`` strictly: every
    tensor of the architecture present, none extra, each of its shape, floating point and finite.

    The network's weights are ``state``'s tensors where no cast or move was needed (not copies)."""
    check_state_dict(state)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype (torch.float32, torch.float16, torch.bfloat16 or torch.float64), got {describe(dtype)}")
    return _model_from_state_dict(state, dtype, check_device(device), "state dict")


def _model_from_state_dict(state: Mapping[str, torch.Tensor], dtype: torch.dtype, device: torch.device, source: str) -> tuple[nn.Module, DepthArchitecture]:
    arch = _detect_architecture(state, source)
    converted = convert_state_dict(state, arch)
    with torch.device("meta"):
        model = build_model(arch)
    problems = fit_problems(model.state_dict(), converted)
    if problems:
        raise CheckpointError(f"{source}: holds {arch.title} but does not fit it: {problems}")
    converted = {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)) for k, v in converted.items()}
    model.load_state_dict(converted, strict=True, assign=True)
    left = [name for name, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if left:
        raise CheckpointError(f"{source}: {arch.title}: no value for {left[:5]}")
    check_finite_parameters(model, source)
    return model.eval().requires_grad_(False), arch


def _target_size(height: int, width: int, arch: DepthArchitecture, input_size: int) -> tuple[int, int]:
    """The official ``Resize.get_size`` with ``keep_aspect_ratio=True`` (NumPy's round half to even)."""
    scale_h, scale_w = input_size / height, input_size / width
    method, m = arch.resize_method, arch.multiple_of
    if method == "lower_bound":
        scale_h = scale_w = max(scale_h, scale_w)
    elif method == "upper_bound":
        scale_h = scale_w = min(scale_h, scale_w)
    else:
        scale_h = scale_w = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h

    def constrain(x: float) -> int:
        y = int(round(x / m) * m)
        if method == "upper_bound" and y > input_size:
            y = int((x // m) * m)
        if method == "lower_bound" and y < input_size:
            y = int(-(-x // m) * m)
        return max(y, m)

    return constrain(scale_h * height), constrain(scale_w * width)


def _check_network(network: object, arch: DepthArchitecture) -> None:
    """``network`` is of the class ``build_model(arch)`` builds (torch.compile's wrapper looked through)."""
    from .models import DepthAnythingV2, MidasDPT, MidasSmall  # noqa: PLC0415

    expected = DepthAnythingV2 if arch.name.startswith("depth_anything") else MidasDPT if arch.name.startswith("midas_dpt") else MidasSmall
    if not isinstance(getattr(network, "_orig_mod", network), expected):
        raise TypeError(f"network must be the {expected.__name__} network of {arch.title} (from model_from_state_dict), got {describe_model(network)}")


class DepthEstimator(nn.Module):
    """A depth network with its official pre- and post-processing.

    ``forward(images [B,H,W,3] in [0,1]) -> [B,1,H,W]`` float32 relative inverse depth at the input
    size. Differentiable (call it outside ``no_grad`` to get gradients to the images).
    """

    def __init__(self, network: nn.Module, arch: DepthArchitecture, input_size: int | None = None):
        check_architecture(arch)
        _check_network(network, arch)
        if input_size is not None:
            check_int(input_size, "input_size")
            if input_size < arch.multiple_of:
                raise ValueError(f"input_size must be >= {arch.multiple_of} for {arch.title}, got {input_size}")
        super().__init__()
        self.network = network
        self.arch = arch
        self.input_size = arch.input_size if input_size is None else input_size

    @property
    def name(self) -> str:
        return self.arch.name

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) the network sees for an input of this size."""
        return _target_size(height, width, self.arch, self.input_size)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = self.network_size(*x.shape[-2:])
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=False)
        mean = torch.tensor(self.arch.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.arch.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_image(images)
        parameter = next(self.network.parameters())
        height, width = images.shape[1:3]
        pixels = self.preprocess(images.to(device=parameter.device, dtype=torch.float32)).to(parameter.dtype)
        out = self.network(pixels).float().unsqueeze(1)
        if self.arch.upsample == "bilinear":
            return F.interpolate(out, (height, width), mode="bilinear", align_corners=True)
        return F.interpolate(out, (height, width), mode="bicubic", align_corners=False)


def load_depth_estimator(
    checkpoint: str | os.PathLike,
    precision: str = "auto",
    device: str | torch.device = "cpu",
    input_size: int | None = None,
) -> DepthEstimator:
    """A depth estimator from an official checkpoint file (``.pth``/``.pt``, or ``.safetensors`` with the
    same names, e.g. kijai's fp16/fp32 conversions). The architecture comes from the file's keys.

    Args:
        checkpoint: path of the file; nothing is downloaded.
        precision: ``"auto"`` (fp16 on CUDA, fp32 elsewhere), ``"fp32"``, ``"fp16"``, ``"bf16"``.
        device: where the model goes.
        input_size: the network's working size (518 for Depth Anything V2, 384 MiDaS DPT, 256 MiDaS
            small by default): larger sees finer detail and costs more.

    Example:
        >>> est = load_depth_estimator("models/editloss_depth/depth_anything_v2_vits.pth")  # doctest: +SKIP
        >>> disparity = est(images)  # [B,1,H,W]  # doctest: +SKIP
    """
    path = as_path(checkpoint, "checkpoint")
    check_choice(precision, "precision", PRECISIONS)
    device = check_device(device)
    if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1):
        raise ValueError(f"input_size must be None (the model's own) or an integer >= 1, got {input_size!r}")
    if not path.exists():
        raise CheckpointError(f"depth model file {str(checkpoint)!r} not found")
    # auto on CUDA is fp16: what the official code and the other depth packs run these models in.
    dtype = storage_dtype(precision, device, auto_on_cuda="fp16")
    network, arch = _model_from_state_dict(read_state_dict(path), dtype, device, str(path))
    return DepthEstimator(network, arch, input_size)


def estimate_depth(
    estimator: DepthEstimator,
    images: torch.Tensor,
    batch_size: int = 4,
    progress: Callable[[int, int], None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Run ``estimator`` over IMAGEs ``[B,H,W,3]`` in chunks: ``[B,1,H,W]`` float32 on the CPU.
    ``check_interrupt()`` runs before each chunk (it raises to stop), ``progress(done, total)`` after."""
    if not isinstance(getattr(estimator, "_orig_mod", estimator), DepthEstimator):
        raise TypeError(f"estimator must be a DepthEstimator (load_depth_estimator), got {describe_model(estimator)}")
    check_image(images)
    check_int(batch_size, "batch_size", minimum=1)
    check_callback(progress, "progress")
    check_callback(check_interrupt, "check_interrupt")
    out = []
    total = int(images.shape[0])
    for start in range(0, total, batch_size):
        if check_interrupt is not None:
            check_interrupt()
        out.append(estimator(images[start : start + batch_size]).to("cpu", torch.float32))
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return torch.cat(out)
