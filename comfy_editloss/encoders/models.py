"""Image encoders built from open_clip or timm with weights from local files.

Every encoder maps an IMAGE ``[B, H, W, 3]`` to an :class:`EncoderOutput`: a unit-norm global
embedding ``[B, D]`` (what the model is trained to compare images by) and patch tokens as a grid
``[B, h, w, C]``. The patch grid is taken the same way for every backbone: the last feature map
before pooling or projection, with class/register tokens removed for transformers.

open_clip and timm are imported inside the loaders only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_bool, check_choice, check_float_tensor, check_int, describe
from .checkpoints import (
    WEIGHT_SUFFIXES,
    CheckpointError,
    as_path,
    check_finite_parameters,
    find_weights_in_folder,
    fit_problems,
    is_torchscript_archive,
    read_state_dict,
    strip_prefix,
)
from .precision import PRECISIONS, storage_dtype
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, OPENAI_MEAN, OPENAI_STD, PreprocessConfig, check_config, preprocess

GLOBAL_POOLS = ("cls", "mean", "head")


def describe_model(value: object) -> str:
    """A value for an error message; a module by its class (its repr is the whole network)."""
    return f"a {type(value).__name__} module" if isinstance(value, nn.Module) else describe(value)


def check_text(value: object, name: str) -> str:
    """A name or a label: a ``str`` (``None`` or bytes would reach a cache key or a file name)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {describe(value)}")
    return value


def check_device(device: object, name: str = "device") -> torch.device:
    """A device that exists here, as a ``torch.device``: a ``torch.device`` or its string ("cpu",
    "cuda", "cuda:1"). Refused: what torch cannot parse, a GPU this machine does not have (torch
    would fail later, deep inside a ``.to``), and ``meta``, which holds no weights to run."""
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError:
            raise ValueError(f"{name} must be a device such as 'cpu', 'cuda' or 'cuda:1', got {device!r}") from None
    elif not isinstance(device, torch.device):
        raise TypeError(f"{name} must be a torch.device or a device string such as 'cpu' or 'cuda:0', got {describe(device)}")
    if device.type == "meta":
        raise ValueError(f"{name} must be a device that holds values, got 'meta'")
    backend = getattr(torch, device.type, None)  # torch.cuda, torch.mps, torch.xpu...
    if device.type != "cpu" and hasattr(backend, "is_available"):
        count = (backend.device_count() if hasattr(backend, "device_count") else 1) if backend.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise ValueError(f"{name} is {str(device)!r} but this machine has {count} {device.type} device(s)")
    return device


@dataclass
class EncoderOutput:
    global_embedding: torch.Tensor  # [B, D], unit norm
    patch_tokens: torch.Tensor  # [B, h, w, C]


class ImageEncoder(nn.Module):
    """A backbone with its preprocessing: ``forward(images [B,H,W,3]) -> EncoderOutput``."""

    def __init__(self, name: str, family: str, config: PreprocessConfig):
        super().__init__()
        self.name = check_text(name, "name")
        self.family = check_text(family, "family")
        self.preprocess_config = check_config(config)

    def encode_pixels(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised model input ``[B, 3, h, w]`` -> (global ``[B, D]``, patch grid ``[B, h', w', C]``)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, config: PreprocessConfig | None = None) -> EncoderOutput:
        """``config`` replaces the encoder's own preprocessing (``None``: the encoder's own)."""
        pixels = preprocess(images, self.preprocess_config if config is None else config)
        parameter = next(self.parameters(), None)
        if parameter is not None:
            pixels = pixels.to(device=parameter.device, dtype=parameter.dtype)
        pooled, tokens = self.encode_pixels(pixels)
        return EncoderOutput(F.normalize(pooled.float(), dim=-1), tokens.float())

    def extra_repr(self) -> str:
        return f"name={self.name!r}, family={self.family!r}, preprocess={self.preprocess_config}"


class WeightFreeImageEncoder(ImageEncoder):
    """The weight-free encoder (:func:`comfy_editloss.encoders.weight_free_embedding`) behind the
    interface of the loaded models, so that a graph or a script can switch between it and open_clip,
    timm or CLIP vision without rewiring. It has no weights and no preprocessing: images are encoded
    at their own size (the grid is the size divided by ``patch_size``); a ``config`` given to
    ``forward`` is checked, then not used."""

    def __init__(self, kind: str = "gradient+pixel", patch_size: int = 16):
        from .weightfree import KINDS  # noqa: PLC0415

        check_choice(kind, "kind", KINDS)
        check_int(patch_size, "patch_size", minimum=1)
        super().__init__(f"{kind}:{patch_size}", "weight_free", PreprocessConfig(size=patch_size, resize_mode="multiple", patch_size=patch_size))
        self.kind = kind
        self.patch_size = patch_size

    def forward(self, images: torch.Tensor, config: PreprocessConfig | None = None) -> EncoderOutput:
        from .weightfree import weight_free_embedding  # noqa: PLC0415

        if config is not None:
            check_config(config)
        patches = weight_free_embedding(images, self.kind, self.patch_size).float()
        return EncoderOutput(F.normalize(patches.mean(dim=(1, 2)), dim=-1), patches)


def _tokens_to_grid(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    b, n, c = tokens.shape
    if height * width != n:
        side = int(math.isqrt(n))
        if side * side != n:
            raise ValueError(f"cannot arrange {n} patch tokens on a grid (input {height}x{width})")
        height = width = side
    return tokens.reshape(b, height, width, c)


class OpenCLIPImageEncoder(ImageEncoder):
    """open_clip's image tower: ViT (``VisionTransformer``), ResNet (``ModifiedResNet``) or
    timm-backed (``TimmModel``)."""

    TOWERS = ("VisionTransformer", "ModifiedResNet", "TimmModel")

    def __init__(self, visual: nn.Module, name: str, config: PreprocessConfig):
        kind = type(visual).__name__
        if not isinstance(visual, nn.Module) or kind not in self.TOWERS:
            hint = " (pass the model's .visual)" if hasattr(visual, "visual") else ""
            raise TypeError(f"visual must be an open_clip image tower ({', '.join(self.TOWERS)}){hint}, got {describe_model(visual)}")
        super().__init__(name, "open_clip", config)
        self.visual = visual
        self.kind = kind

    def encode_pixels(self, pixels):
        visual = self.visual
        if self.kind == "VisionTransformer":
            previous = visual.output_tokens
            visual.output_tokens = True
            try:
                pooled, tokens = visual(pixels)
            finally:
                visual.output_tokens = previous
            grid = visual.grid_size if isinstance(visual.grid_size, tuple) else (visual.grid_size, visual.grid_size)
            return pooled, _tokens_to_grid(tokens, *grid)
        if self.kind == "ModifiedResNet":
            x = visual.stem(pixels)
            x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))
            return visual.attnpool(x), x.permute(0, 2, 3, 1)
        features = visual.trunk.forward_features(pixels)
        pooled = visual.head(visual.trunk.forward_head(features))
        return pooled, _timm_feature_grid(visual.trunk, features, pixels.shape[-2:])


def _timm_feature_grid(model: nn.Module, features: torch.Tensor, size) -> torch.Tensor:
    if features.dim() == 4:
        return features.permute(0, 2, 3, 1)
    prefix = int(getattr(model, "num_prefix_tokens", 1 if getattr(model, "cls_token", None) is not None else 0))
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is not None and hasattr(patch_embed, "dynamic_feat_size"):
        grid = patch_embed.dynamic_feat_size(tuple(size))
    else:
        side = int(math.isqrt(features.shape[1] - prefix))
        grid = (side, side)
    return _tokens_to_grid(features[:, prefix:], *grid)


def dinov2_pos_embed(pos_embed: torch.Tensor, height: int, width: int, patch: int) -> torch.Tensor:
    """The position embedding ``[1, 1 + n, C]`` of a DINOv2 without registers for an input of
    ``height x width`` pixels, as Meta's ``interpolate_pos_encoding`` computes it (and Depth Anything V2,
    which ships that code): bicubic with scale factors ``(grid + 0.1) / old_grid`` and no antialiasing;
    unchanged for a square input of the training grid. The class position is kept as it is.

    timm resamples to the grid size with antialiasing instead, which is Meta's rule for the register
    models only; for the others it moves every token at any size but a square of the training size."""
    check_float_tensor(pos_embed, "pos_embed")
    n = pos_embed.shape[1] - 1 if pos_embed.dim() == 3 else 0
    side = math.isqrt(max(n, 0))
    if pos_embed.dim() != 3 or pos_embed.shape[0] != 1 or n < 1 or side * side != n:
        raise ValueError(f"pos_embed must be [1, 1 + M*M, C] (the class position, then an M x M grid), got shape {tuple(pos_embed.shape)}")
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
        raise ValueError(f"patch must be an integer >= 1, got {patch!r}")
    for name, value in (("height", height), ("width", width)):  # SymInt: a traced size (torch.compile)
        if isinstance(value, bool) or not isinstance(value, (int, torch.SymInt)) or value < patch:
            raise ValueError(f"{name} must be an integer >= the patch size {patch} (one patch at least), got {value!r}")
    grid_h, grid_w = height // patch, width // patch
    if grid_h * grid_w == n and height == width:
        return pos_embed
    dim = pos_embed.shape[-1]
    grid = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((grid_h + 0.1) / side, (grid_w + 0.1) / side), mode="bicubic", antialias=False)
    if tuple(grid.shape[-2:]) != (grid_h, grid_w):  # the 0.1 offset is there to make this never happen
        raise RuntimeError(f"position-embedding grid {tuple(grid.shape[-2:])} != patch grid {(grid_h, grid_w)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos_embed[:, :1].float(), grid), dim=1).to(pos_embed.dtype)


def _uses_meta_dinov2_positions(model: nn.Module) -> bool:
    """A timm DINOv2 without registers (``vit_*_patch14_dinov2``): its weights, from timm's files or
    Meta's, were trained with :func:`dinov2_pos_embed`. The register models keep no class position
    (``no_embed_class``) and are resampled by timm exactly as Meta's code does."""
    architecture = str((getattr(model, "pretrained_cfg", None) or {}).get("architecture", ""))
    return (
        architecture.endswith("_dinov2")
        and getattr(model, "pos_embed", None) is not None
        and getattr(model, "cls_token", None) is not None
        and getattr(model, "reg_token", None) is None
        and not getattr(model, "no_embed_class", True)
    )


def _dinov2_forward_features(vit: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """timm's ``forward_features`` with the position embedding of Meta's DINOv2 (:func:`dinov2_pos_embed`)
    in place of timm's resampling: the class token, then the patch tokens, plus positions; blocks (with
    timm's gradient checkpointing when it is switched on, to save memory in training); norm."""
    tokens = vit.patch_embed(pixels)
    tokens = tokens.reshape(tokens.shape[0], -1, tokens.shape[-1])  # NHWC (dynamic size) or NLC
    x = torch.cat((vit.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens), dim=1)
    x = x + dinov2_pos_embed(vit.pos_embed, pixels.shape[-2], pixels.shape[-1], vit.patch_embed.patch_size[0]).to(x.dtype)
    x = vit.norm_pre(vit.patch_drop(vit.pos_drop(x)))
    if getattr(vit, "grad_checkpointing", False):
        from timm.models import checkpoint_seq  # noqa: PLC0415

        return vit.norm(checkpoint_seq(vit.blocks, x))
    return vit.norm(vit.blocks(x))


class TimmImageEncoder(ImageEncoder):
    """A timm backbone. Global embedding: ``"cls"`` (the class token), ``"mean"`` (mean of the patch
    tokens) or ``"head"`` (the model's own pooling, pre-logits).

    A DINOv2 without registers places its position embedding as Meta's model does
    (:func:`dinov2_pos_embed`), so its tokens equal the official model's at every input size."""

    def __init__(self, model: nn.Module, name: str, config: PreprocessConfig, global_pool: str = "cls"):
        if not isinstance(model, nn.Module) or not all(hasattr(model, a) for a in ("forward_features", "forward_head")):
            raise TypeError(f"model must be a timm model (with forward_features and forward_head), got {describe_model(model)}")
        check_choice(global_pool, "global_pool", GLOBAL_POOLS)
        super().__init__(name, "timm", config)
        self.model = model
        if global_pool == "cls" and getattr(model, "cls_token", None) is None:
            global_pool = "head"
        self.global_pool = global_pool
        self.meta_dinov2_positions = _uses_meta_dinov2_positions(model)

    def encode_pixels(self, pixels):
        if self.meta_dinov2_positions:
            features = _dinov2_forward_features(self.model, pixels)
        else:
            features = self.model.forward_features(pixels)
        grid = _timm_feature_grid(self.model, features, pixels.shape[-2:])
        if self.global_pool == "cls" and features.dim() == 3:
            pooled = features[:, 0]
        elif self.global_pool == "mean":
            pooled = grid.mean(dim=(1, 2))
        else:
            pooled = self.model.forward_head(features, pre_logits=True)
        return pooled, grid


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _missing_checkpoint(checkpoint: str | Path, source: Callable[[], str]) -> CheckpointError:
    """A checkpoint that is not a local file: a hub name or tag gets the way to download it."""
    text = str(checkpoint)
    looks_like_a_file = Path(text).suffix.lower() in WEIGHT_SUFFIXES or text.startswith((".", "/", "~")) or "\\" in text
    if looks_like_a_file and not text.startswith("hf-hub:"):
        return CheckpointError(f"checkpoint file {text!r} not found")
    return CheckpointError(
        f"{text!r} names weights to download; this loader reads local files only and never downloads. "
        f"Get the file yourself ({source()}) and give its path, or put it in a model folder."
    )


def _open_clip_source(open_clip, architecture: str, tag: str) -> str:
    try:
        cfg = open_clip.get_pretrained_cfg(architecture, tag)
    except Exception:  # noqa: BLE001
        cfg = {}
    if cfg.get("hf_hub"):
        return f"https://huggingface.co/{cfg['hf_hub'].rstrip('/')}"
    if cfg.get("url"):
        return cfg["url"]
    tags = open_clip.list_pretrained_tags_by_model(architecture) if architecture in open_clip.list_models() else []
    return f"open_clip's tags for {architecture}: {', '.join(tags) or 'none'}"


def _open_clip_preprocess(open_clip, architecture: str, vision_cfg: Mapping, from_file: Mapping | None) -> PreprocessConfig:
    """The preprocessing the architecture was trained with: from the hub config when present, else
    from open_clip's pretrained tags for the architecture, else OpenAI's."""
    size = vision_cfg.get("image_size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    known: dict[str, Any] = {}
    if architecture in open_clip.list_models():
        for tag in open_clip.list_pretrained_tags_by_model(architecture):
            cfg = open_clip.get_pretrained_cfg(architecture, tag)
            known = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if cfg.get(k) is not None}
            if known:
                break
    known.update({k: v for k, v in (from_file or {}).items() if k in ("mean", "std", "interpolation", "resize_mode") and v is not None})
    return PreprocessConfig(
        size=int(size),
        mean=tuple(known.get("mean", OPENAI_MEAN)),
        std=tuple(known.get("std", OPENAI_STD)),
        resize_mode=known.get("resize_mode", "shortest"),
        interpolation=known.get("interpolation", "bicubic"),
    )


def load_open_clip_encoder(
    architecture: str,
    checkpoint: str | Path,
    precision: str = "auto",
    device: str | torch.device = "cpu",
    trusted_jit: bool = False,
) -> OpenCLIPImageEncoder:
    """An open_clip image tower (only) with weights from a local file.

    Args:
        architecture: an open_clip model name (``open_clip.list_models()``), e.g. ``"ViT-B-32"``.
            Ignored when ``checkpoint`` is a hub folder with ``open_clip_config.json``.
        checkpoint: open_clip's ``.safetensors``/``.bin``, a training checkpoint, a hub folder
            (``open_clip_config.json`` + weights), or an OpenAI JIT archive (needs ``trusted_jit``;
            such files use QuickGELU, which is then switched on).
        precision: ``"auto"`` (fp16/bf16 on CUDA, fp32 on CPU), ``"fp32"``, ``"fp16"``, ``"bf16"``.
        device: where the model goes.
    """
    check_text(architecture, "architecture")
    path = as_path(checkpoint, "checkpoint")
    check_choice(precision, "precision", PRECISIONS)
    device = check_device(device)
    check_bool(trusted_jit, "trusted_jit")
    import open_clip  # noqa: PLC0415
    from open_clip.model import _build_vision_tower  # noqa: PLC0415

    file_cfg: Mapping | None = None
    if not path.exists():
        raise _missing_checkpoint(checkpoint, lambda: _open_clip_source(open_clip, architecture, str(checkpoint)))
    if path.is_dir():
        config_file = path / "open_clip_config.json"
        if config_file.is_file():
            file_cfg = json.loads(config_file.read_text(encoding="utf-8"))
        path = find_weights_in_folder(path, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "model.safetensors", "pytorch_model.bin"))
    if file_cfg is not None:
        model_cfg = dict(file_cfg.get("model_cfg") or {})
        preprocess_cfg = file_cfg.get("preprocess_cfg") or {}
        name = architecture or "open_clip_config.json"
    else:
        model_cfg = open_clip.get_model_config(architecture)
        if model_cfg is None:
            raise CheckpointError(f"architecture {architecture!r} is not an open_clip model; see open_clip.list_models()")
        preprocess_cfg = None
        name = architecture
    state = strip_prefix(read_state_dict(path, trusted_jit=trusted_jit), "visual.")
    jit = is_torchscript_archive(path)
    quick_gelu = bool(model_cfg.get("quick_gelu", False)) or jit
    visual = _build_vision_tower(model_cfg["embed_dim"], dict(model_cfg["vision_cfg"]), quick_gelu=quick_gelu)
    _load_exactly(visual, state, f"{path} does not fit {name}'s image tower", path)
    config = _open_clip_preprocess(open_clip, architecture, model_cfg["vision_cfg"], preprocess_cfg)
    encoder = OpenCLIPImageEncoder(visual.eval(), name, config)
    return encoder.to(device=device, dtype=storage_dtype(precision, device)).requires_grad_(False)


def _load_exactly(model: nn.Module, state: Mapping[str, torch.Tensor], misfit: str, path: Path) -> None:
    """Load every tensor of ``state`` into ``model``, or say what does not fit (``misfit: ...``)."""
    problems = fit_problems(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{misfit}: {problems}")
    model.load_state_dict(state, strict=True)
    check_finite_parameters(model, str(path))


def _timm_preprocess(model: nn.Module, image_size: int | None) -> PreprocessConfig:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    input_size = cfg.get("input_size", (3, 224, 224))
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    patch = patch[0] if isinstance(patch, (tuple, list)) else patch
    dynamic = bool(getattr(model, "dynamic_img_size", False))
    return PreprocessConfig(
        size=int(image_size or input_size[-1]),
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)),
        resize_mode="multiple" if dynamic and patch else "shortest",
        interpolation=cfg.get("interpolation", "bicubic") if cfg.get("interpolation") in ("bicubic", "bilinear") else "bicubic",
        patch_size=int(patch or 1),
    )


def load_timm_encoder(
    architecture: str,
    checkpoint: str | Path,
    precision: str = "auto",
    device: str | torch.device = "cpu",
    image_size: int | None = None,
    global_pool: str = "cls",
) -> TimmImageEncoder:
    """A timm backbone with weights from a local file: timm's own files (``.safetensors``/``.bin``,
    or a hub folder with ``config.json``) or Meta's original DINOv2 ``dinov2_*_pretrain.pth``.

    Vision transformers are built with ``dynamic_img_size=True``: any input size that is a
    multiple of the patch size works (``image_size`` sets the shorter side; the default is the
    model's pretraining size, 518 for DINOv2). DINOv2 gives the tokens of Meta's model at every
    size: without registers its position embedding is resampled by Meta's rule
    (:func:`dinov2_pos_embed`) whichever file the weights come from; with registers timm's rule is Meta's.
    """
    check_text(architecture, "architecture")
    path = as_path(checkpoint, "checkpoint")
    check_choice(precision, "precision", PRECISIONS)
    device = check_device(device)
    check_choice(global_pool, "global_pool", GLOBAL_POOLS)
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be None (the model's own) or an integer >= 1, got {image_size!r}")
    import timm  # noqa: PLC0415

    if not path.exists():
        raise _missing_checkpoint(checkpoint, lambda: _timm_source(timm, architecture))
    if path.is_dir():
        config_file = path / "config.json"
        if config_file.is_file():
            architecture = json.loads(config_file.read_text(encoding="utf-8")).get("architecture", architecture)
        path = find_weights_in_folder(path, ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors"))
    base = architecture.split(".")[0]
    if not timm.is_model(base):
        raise CheckpointError(f"architecture {architecture!r} is not a timm model; see timm.list_models()")
    options: dict[str, Any] = {"pretrained": False, "num_classes": 0}
    if "vit" in base or "dinov2" in base or "eva" in base:
        options["dynamic_img_size"] = True
    model = timm.create_model(base, **options)
    state = read_state_dict(path)
    if any(k in state for k in ("mask_token", "register_tokens")) or any(".ls1.gamma" in k for k in state):
        from timm.models.vision_transformer import checkpoint_filter_fn  # noqa: PLC0415

        state = checkpoint_filter_fn(state, model)  # Meta's DINOv2 layout -> timm's
    state = {k: v for k, v in state.items() if not k.startswith(("head.", "fc.", "classifier."))}
    _load_exactly(model, state, f"{path} does not fit timm's {base}", path)
    config = _timm_preprocess(model, image_size)
    encoder = TimmImageEncoder(model.eval(), base, config, global_pool)
    return encoder.to(device=device, dtype=storage_dtype(precision, device)).requires_grad_(False)


def _timm_source(timm, architecture: str) -> str:
    try:
        cfg = timm.models.get_pretrained_cfg(architecture)
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg or {})
    except Exception:  # noqa: BLE001
        cfg = {}
    if cfg.get("hf_hub_id"):
        return f"https://huggingface.co/{cfg['hf_hub_id']}"
    return cfg.get("url") or f"the weights of {architecture}"

