"""open_clip and timm encoders from local files (random weights only), their preprocessing, the
ComfyUI CLIP vision adapter, caching and heat maps."""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import open_clip
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from comfy_editloss.encoders import (
    CheckpointError,
    OpenCLIPImageEncoder,
    TimmImageEncoder,
    WeightFreeImageEncoder,
    encode_images,
    find_model_file,
    load_open_clip_encoder,
    load_timm_encoder,
    preprocess,
    read_state_dict,
)
from comfy_editloss.encoders.models import dinov2_pos_embed
from comfy_editloss.encoders.preprocess import PreprocessConfig, _resize
from comfy_editloss.losses import loss_geometry_match, loss_no_edit_identity
from comfy_editloss.testing.synthetic import make_edit_scene


def _save(state, path):
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


@pytest.fixture(scope="module")
def clip_model():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_clip.create_model("ViT-S-32", pretrained=None).eval()


def _reference_clip(model, images, config):
    pixels = preprocess(images, config)
    model.visual.output_tokens = True
    try:
        pooled, tokens = model.visual(pixels)
    finally:
        model.visual.output_tokens = False
    return torch.nn.functional.normalize(pooled, dim=-1), tokens


class _JitHolder(torch.nn.Module):
    """A TorchScript archive with CLIP's parameters, as OpenAI's original files are."""

    def __init__(self, clip):
        super().__init__()
        for name, child in clip.named_children():
            setattr(self, name, child)
        for name, parameter in clip.named_parameters(recurse=False):
            self.register_parameter(name, parameter)

    def forward(self, x):
        return x * self.logit_scale


def _write_clip_formats(model, folder):
    state = model.state_dict()
    paths = {}
    paths["safetensors"] = folder / "vits32.safetensors"
    _save(state, paths["safetensors"])
    paths["bin"] = folder / "vits32.bin"
    torch.save(state, paths["bin"])
    paths["training"] = folder / "epoch_3.pt"
    torch.save({"epoch": 3, "name": "run", "state_dict": {"module." + k: v for k, v in state.items()}}, paths["training"])
    hub = folder / "hub"
    hub.mkdir()
    (hub / "open_clip_config.json").write_text(json.dumps({"model_cfg": open_clip.get_model_config("ViT-S-32"), "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}))
    _save(state, hub / "open_clip_model.safetensors")
    paths["hub"] = hub
    return paths


def test_open_clip_loads_every_format_and_reproduces_the_model(clip_model, tmp_path):
    images = torch.rand(2, 96, 128, 3)
    for kind, path in _write_clip_formats(clip_model, tmp_path).items():
        encoder = load_open_clip_encoder("ViT-S-32", path, precision="fp32")
        with torch.no_grad():  # one attention code path for both (MHA's fast path needs no grad)
            out = encoder(images)
            expected_global, expected_tokens = _reference_clip(clip_model, images, encoder.preprocess_config)
        assert torch.equal(out.global_embedding, expected_global), kind
        assert torch.equal(out.patch_tokens, expected_tokens.reshape(2, 7, 7, 384)), kind
        assert out.global_embedding.norm(dim=-1).allclose(torch.ones(2))
    hub_config = load_open_clip_encoder("ViT-S-32", tmp_path / "hub").preprocess_config
    assert hub_config.mean == (0.5, 0.5, 0.5) and hub_config.size == 224  # the hub file's preprocessing wins


def test_half_precision_weights_run_and_agree_with_float32(clip_model, tmp_path):
    # On a GPU "auto" stores weights in bf16/fp16; the CPU can run bf16 too, so the cast is checked here.
    _save(clip_model.state_dict(), tmp_path / "m.safetensors")
    images = torch.rand(2, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    full = load_open_clip_encoder("ViT-S-32", tmp_path / "m.safetensors", precision="auto")  # CPU: fp32
    half = load_open_clip_encoder("ViT-S-32", tmp_path / "m.safetensors", precision="bf16")
    assert next(full.parameters()).dtype == torch.float32 and next(half.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        a, b = full(images), half(images)
    assert b.global_embedding.dtype == torch.float32 and b.patch_tokens.dtype == torch.float32  # outputs always fp32
    assert F.cosine_similarity(a.global_embedding, b.global_embedding).min() > 0.995
    assert F.cosine_similarity(a.patch_tokens, b.patch_tokens, dim=-1).min() > 0.995
    with pytest.raises(ValueError, match=r"^precision must be one of 'auto', 'fp32', 'fp16', 'bf16', got 'f16'$"):
        load_open_clip_encoder("ViT-S-32", tmp_path / "m.safetensors", precision="f16")
    with pytest.raises(ValueError, match=r"^precision must be one of .*, got 'half'$"):
        load_timm_encoder("vit_small_patch14_dinov2", tmp_path / "m.safetensors", precision="half")
    with pytest.raises(ValueError, match=r"^global_pool must be one of 'cls', 'mean', 'head', got 'avg'$"):
        load_timm_encoder("vit_small_patch14_dinov2", tmp_path / "m.safetensors", global_pool="avg")
    with pytest.raises(ValueError, match=r"^image_size must be None \(the model's own\) or an integer >= 1, got 0$"):
        load_timm_encoder("vit_small_patch14_dinov2", tmp_path / "m.safetensors", image_size=0)


def test_openai_jit_archives_need_the_trusted_switch(clip_model, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(_JitHolder(clip_model), torch.rand(1, 3), check_trace=False).save(str(tmp_path / "ViT-S-32.pt"))
    with pytest.raises(CheckpointError, match=r"is a TorchScript \(JIT\) archive, such as OpenAI's original CLIP files: loading one runs code"):
        load_open_clip_encoder("ViT-S-32", tmp_path / "ViT-S-32.pt")
    encoder = load_open_clip_encoder("ViT-S-32", tmp_path / "ViT-S-32.pt", trusted_jit=True)
    # OpenAI's models use QuickGELU: switched on for their archives, so outputs differ from GELU's.
    assert type(encoder.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert torch.equal(encoder.visual.conv1.weight, clip_model.visual.conv1.weight)


@pytest.mark.parametrize(
    "vision_cfg,grid",
    [
        ({"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None}, (2, 2)),  # ResNet
        ({"image_size": 64, "timm_model_name": "resnet10t", "timm_model_pretrained": False, "timm_pool": "avg", "timm_proj": "linear"}, (2, 2)),
        ({"image_size": 224, "timm_model_name": "vit_tiny_patch16_224", "timm_model_pretrained": False, "timm_pool": "token", "timm_proj": "linear"}, (14, 14)),
    ],
    ids=["resnet", "timm-convnet", "timm-vit"],
)
def test_resnet_and_timm_backed_towers_give_the_same_kind_of_output(tmp_path, vision_cfg, grid):
    from open_clip.model import _build_vision_tower

    torch.manual_seed(1)
    tower = _build_vision_tower(32, dict(vision_cfg)).eval()
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 32, "vision_cfg": vision_cfg}}))
    _save({"visual." + k: v for k, v in tower.state_dict().items()}, tmp_path / "open_clip_model.safetensors")
    encoder = load_open_clip_encoder("", tmp_path)
    images = torch.rand(2, 50, 70, 3)
    with torch.no_grad():
        out = encoder(images)
        expected = torch.nn.functional.normalize(tower(preprocess(images, encoder.preprocess_config)), dim=-1)
    assert out.global_embedding.shape == (2, 32) and out.patch_tokens.shape[:3] == (2, *grid)
    torch.testing.assert_close(out.global_embedding, expected)


def _dinov2(architecture):
    torch.manual_seed(2)
    return timm.create_model(architecture, pretrained=False, num_classes=0, dynamic_img_size=True).eval()


def _meta_layout(model):
    """timm's DINOv2 state dict in the layout of Meta's original dinov2_*_pretrain.pth files: a
    mask token, "register_tokens", and a position for the class token in pos_embed even where timm
    keeps none (its register models)."""
    state = model.state_dict()
    meta = {("register_tokens" if k == "reg_token" else k): v for k, v in state.items()}
    meta["mask_token"] = torch.zeros(1, state["cls_token"].shape[-1])
    if getattr(model, "no_embed_class", False):
        meta["pos_embed"] = torch.cat([torch.zeros_like(state["pos_embed"][:, :1]), state["pos_embed"]], dim=1)
    return meta


def _official_dinov2_features(reference, pixels):
    """Meta's DINOv2 without registers on the weights of a timm model in float64: the position
    embedding resampled as Meta's ``interpolate_pos_encoding`` does (bicubic with scale factors
    ``(grid + 0.1) / 37``, no antialiasing, untouched for a square input of the training grid), added
    to the class token and the patch tokens, then the blocks and the norm."""
    pixels = pixels.double()
    height, width = pixels.shape[-2:]
    grid_h, grid_w = height // 14, width // 14
    positions = reference.pos_embed
    side = math.isqrt(positions.shape[1] - 1)
    if (grid_h, grid_w) != (side, side) or height != width:
        patch_positions = positions[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patch_positions = F.interpolate(patch_positions, scale_factor=((grid_h + 0.1) / side, (grid_w + 0.1) / side), mode="bicubic", align_corners=False, antialias=False)
        positions = torch.cat((positions[:, :1], patch_positions.flatten(2).transpose(1, 2)), dim=1)
    patches = F.conv2d(pixels, reference.patch_embed.proj.weight, reference.patch_embed.proj.bias, stride=14).flatten(2).transpose(1, 2)
    x = torch.cat((reference.cls_token.expand(len(pixels), -1, -1), patches), dim=1) + positions
    for block in reference.blocks:
        x = block(x)
    return reference.norm(x)


# float32 against the float64 reference: rounding only (a few 1e-6); the wrong rule is off by over 1e-3
FLOAT32_ROUNDING = 1e-4


def _largest_relative_difference(ours, official):
    """The largest ``|ours - official| / |official|`` over tokens (norms over channels)."""
    return float(((ours.double() - official).norm(dim=-1) / official.norm(dim=-1)).max())


@pytest.mark.parametrize("architecture", ["vit_small_patch14_dinov2", "vit_small_patch14_reg4_dinov2"])
def test_timm_dinov2_loads_timm_and_meta_files_and_reproduces_the_model(tmp_path, architecture):
    model = _dinov2(architecture)
    state = model.state_dict()
    _save(state, tmp_path / "model.safetensors")
    torch.save(state, tmp_path / "model.pth")
    torch.save(_meta_layout(model), tmp_path / "dinov2_vits14_pretrain.pth")
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps({"architecture": architecture, "num_classes": 0}))
    _save(state, hub / "model.safetensors")
    images = torch.rand(2, 100, 150, 3)
    outputs = {}
    for path in (tmp_path / "model.safetensors", tmp_path / "model.pth", tmp_path / "dinov2_vits14_pretrain.pth", hub):
        encoder = load_timm_encoder(architecture, path, precision="fp32", image_size=140)
        pixels = preprocess(images, encoder.preprocess_config)
        assert pixels.shape[-2:] == (140, 210)  # any size that is a multiple of the patch size
        with torch.no_grad():
            outputs[path] = encoder(images)
    registers = model.num_prefix_tokens > 1
    with torch.no_grad():
        features = model.forward_features(pixels) if registers else _official_dinov2_features(copy.deepcopy(model).double(), pixels)
    for path, out in outputs.items():
        if registers:  # timm resamples their positions exactly as Meta's code does
            assert torch.equal(out.global_embedding, torch.nn.functional.normalize(features[:, 0], dim=-1)), path
            assert torch.equal(out.patch_tokens, features[:, model.num_prefix_tokens :].reshape(2, 10, 15, -1)), path
        else:  # Meta's rule, whichever file the weights come from
            assert _largest_relative_difference(out.global_embedding, F.normalize(features[:, 0], dim=-1)) < FLOAT32_ROUNDING, path
            assert _largest_relative_difference(out.patch_tokens.reshape(2, 150, -1), features[:, 1:]) < FLOAT32_ROUNDING, path
    default = load_timm_encoder(architecture, tmp_path / "model.pth")
    assert default.preprocess_config.size == 518 and default.preprocess_config.resize_mode == "multiple"


@pytest.fixture(scope="module")
def meta_dinov2(tmp_path_factory):
    """A random DINOv2 ViT-S/14 without registers saved as Meta's dinov2_vits14_pretrain.pth, loaded
    (shorter side 70), and its float64 copy for the reference. The layer scales are 1 (those of Meta's
    files) rather than timm's initial 1e-5, so the blocks mix the tokens, and the positions are drawn
    at the scale of the patch embeddings."""
    model = _dinov2("vit_small_patch14_dinov2")
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith((".ls1.gamma", ".ls2.gamma")):
                parameter.fill_(1.0)
        model.pos_embed.normal_(0, 1, generator=torch.Generator().manual_seed(3))
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    torch.save(_meta_layout(model), path)
    encoder = load_timm_encoder("vit_small_patch14_dinov2", path, precision="fp32", image_size=70)
    return encoder, copy.deepcopy(model).double()


@pytest.mark.parametrize("size", [(70, 98), (98, 56), (84, 84), (518, 42)], ids=["wide", "tall", "square", "training-height"])
def test_dinov2_without_registers_places_positions_as_meta_does(meta_dinov2, size):
    # Meta's rule, not timm's, at every size: wide, tall, square off the training grid, the training grid on one side
    encoder, reference = meta_dinov2
    pixels = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        pooled, grid = encoder.encode_pixels(pixels)
        official = _official_dinov2_features(reference, pixels)
    tokens = grid.reshape(2, -1, grid.shape[-1])
    patch_difference = _largest_relative_difference(tokens, official[:, 1:])
    class_difference = _largest_relative_difference(pooled, official[:, 0])
    print(f"{size}: largest relative difference to Meta's rule: patch tokens {patch_difference:.3g}, class token {class_difference:.3g}")
    assert tokens.shape[1] == (size[0] // 14) * (size[1] // 14)
    assert patch_difference < FLOAT32_ROUNDING and class_difference < FLOAT32_ROUNDING


def test_dinov2_without_registers_equals_meta_after_the_loaders_preprocessing(meta_dinov2):
    encoder, reference = meta_dinov2
    images = torch.rand(1, 60, 90, 3, generator=torch.Generator().manual_seed(5))
    pixels = preprocess(images, encoder.preprocess_config)
    assert pixels.shape[-2:] == (70, 112)  # shorter side 70, longer side rounded to a multiple of 14
    with torch.no_grad():
        out = encoder(images)
        official = _official_dinov2_features(reference, pixels)
    patch_difference = _largest_relative_difference(out.patch_tokens.reshape(1, 40, -1), official[:, 1:])
    class_difference = _largest_relative_difference(out.global_embedding, F.normalize(official[:, 0], dim=-1))
    print(f"preprocessed {tuple(pixels.shape[-2:])}: largest relative difference to Meta's rule: patch tokens {patch_difference:.3g}, class token {class_difference:.3g}")
    assert patch_difference < FLOAT32_ROUNDING and class_difference < FLOAT32_ROUNDING


def test_dinov2_without_registers_keeps_timms_gradient_checkpointing(meta_dinov2, monkeypatch):
    encoder, _ = meta_dinov2
    images = torch.rand(1, 56, 84, 3, generator=torch.Generator().manual_seed(6))
    runs = []
    real_checkpoint = torch.utils.checkpoint.checkpoint

    def counted_checkpoint(*args, **kwargs):
        runs.append(1)
        return real_checkpoint(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", counted_checkpoint)
    gradients = []
    for checkpointing in (False, True):
        encoder.model.set_grad_checkpointing(checkpointing)
        try:
            image = images.clone().requires_grad_()
            encoder(image).patch_tokens.square().sum().backward()
        finally:
            encoder.model.set_grad_checkpointing(False)
        gradients.append(image.grad)
    assert len(runs) == len(encoder.model.blocks)  # one checkpointed segment per block, and only when asked
    torch.testing.assert_close(gradients[1], gradients[0])


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (("positions", 84, 84, 14), TypeError, "pos_embed must be a torch.Tensor, got str 'positions'"),
        ((torch.zeros(1, 37, 8, dtype=torch.int64), 84, 84, 14), TypeError, "pos_embed must be a floating-point tensor (float16, bfloat16, float32 or float64), got torch.int64"),
        ((torch.zeros(1, 36, 8), 84, 84, 14), ValueError, "pos_embed must be [1, 1 + M*M, C] (the class position, then an M x M grid), got shape (1, 36, 8)"),
        ((torch.zeros(2, 37, 8), 84, 84, 14), ValueError, "pos_embed must be [1, 1 + M*M, C] (the class position, then an M x M grid), got shape (2, 37, 8)"),
        ((torch.zeros(37, 8), 84, 84, 14), ValueError, "pos_embed must be [1, 1 + M*M, C] (the class position, then an M x M grid), got shape (37, 8)"),
        ((torch.zeros(1, 37, 8), 84, 84, 0), ValueError, "patch must be an integer >= 1, got 0"),
        ((torch.zeros(1, 37, 8), 10, 84, 14), ValueError, "height must be an integer >= the patch size 14 (one patch at least), got 10"),
        ((torch.zeros(1, 37, 8), 84, 84.0, 14), ValueError, "width must be an integer >= the patch size 14 (one patch at least), got 84.0"),
    ],
)
def test_dinov2_pos_embed_rejects_bad_arguments_by_name(arguments, error, message):
    with pytest.raises(error) as info:
        dinov2_pos_embed(*arguments)
    assert str(info.value) == message


def test_timm_global_pool_options(tmp_path):
    model = _dinov2("vit_small_patch14_dinov2")
    torch.save(model.state_dict(), tmp_path / "m.pth")
    images = torch.rand(1, 56, 56, 3)
    mean = load_timm_encoder("vit_small_patch14_dinov2", tmp_path / "m.pth", image_size=56, global_pool="mean")(images)
    torch.testing.assert_close(mean.global_embedding, torch.nn.functional.normalize(mean.patch_tokens.mean(dim=(1, 2)), dim=-1))


# PIL resizes in two passes and rounds to uint8 after each, so its output is within 1.5 uint8 steps
# of the exact resize; ours is exact (float).
UINT8_ROUNDING = 1.5 / 255


def test_preprocessing_matches_the_libraries_pil_transforms_within_uint8_rounding():
    scene = make_edit_scene(0, (480, 640))
    pixels = (scene.overlay[0].numpy() * 255).round().astype(np.uint8)
    image = torch.from_numpy(pixels).float().div(255)[None]
    pil = Image.fromarray(pixels)
    open_clip_cfg = PreprocessConfig(size=224)
    reference = open_clip.image_transform(224, is_train=False)(pil)[None]
    ours = preprocess(image, open_clip_cfg)
    std = torch.tensor(open_clip_cfg.std).view(1, 3, 1, 1)
    assert ((ours - reference).abs() * std).max() <= UINT8_ROUNDING
    squash_cfg = PreprocessConfig(size=224, mean=(0.5,) * 3, std=(0.5,) * 3, resize_mode="squash")
    reference = open_clip.image_transform(224, is_train=False, mean=(0.5,) * 3, std=(0.5,) * 3, resize_mode="squash")(pil)[None]
    assert ((preprocess(image, squash_cfg) - reference).abs() * 0.5).max() <= UINT8_ROUNDING
    model = _dinov2("vit_small_patch14_dinov2")
    data_config = timm.data.resolve_data_config({}, model=model)
    reference = timm.data.create_transform(**data_config)(pil)[None]
    timm_cfg = PreprocessConfig(size=518, mean=data_config["mean"], std=data_config["std"], resize_mode="shortest")
    std = torch.tensor(data_config["std"]).view(1, 3, 1, 1)
    assert ((preprocess(image, timm_cfg) - reference).abs() * std).max() <= UINT8_ROUNDING


def test_overrides_keep_a_field_only_for_the_keep_values():
    base = PreprocessConfig(size=336, fill=0.5, resize_mode="squash")
    assert base.with_overrides(size=0, resize_mode="default", mean=None) == base
    assert base.with_overrides(fill=0.0).fill == 0.0  # black, not "keep" (it was dropped as a 0)
    assert base.with_overrides(size=224, resize_mode="shortest").size == 224
    with pytest.raises(ValueError, match="^size must be an integer >= 1, got False$"):
        base.with_overrides(size=False)  # a bool is no size, not "keep"


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"size": 0}, ValueError, "size must be an integer >= 1, got 0"),
        ({"size": 224.0}, ValueError, "size must be an integer >= 1, got 224.0"),
        ({"patch_size": True}, ValueError, "patch_size must be an integer >= 1, got True"),
        ({"mean": (0.5, 0.5)}, ValueError, "mean must be three finite numbers (one per RGB channel), got (0.5, 0.5)"),
        ({"mean": "abc"}, TypeError, "mean must be three numbers (one per RGB channel), got 'abc'"),
        ({"std": (0.5, 0.0, 0.5)}, ValueError, "std must be > 0 for every channel, got (0.5, 0.0, 0.5)"),
        ({"std": (0.5, float("nan"), 0.5)}, ValueError, "std must be three finite numbers (one per RGB channel), got (0.5, nan, 0.5)"),
        ({"resize_mode": "crop"}, ValueError, "resize_mode must be one of 'shortest', 'longest', 'squash', 'multiple', got 'crop'"),
        ({"interpolation": "nearest"}, ValueError, "interpolation must be one of 'bicubic', 'bilinear', got 'nearest'"),
        ({"fill": float("inf")}, ValueError, "fill must be finite, got inf"),
        ({"fill": 1.5}, ValueError, "fill must be <= 1.0, got 1.5"),  # the padding is an image value, in [0, 1]
        ({"fill": -0.5}, ValueError, "fill must be >= 0.0, got -0.5"),
        ({"mean": ("0.5", "0.5", "0.5")}, TypeError, "mean must be three numbers (one per RGB channel), got ('0.5', '0.5', '0.5')"),
        ({"std": (True, 0.5, 0.5)}, TypeError, "std must be three numbers (one per RGB channel), got (True, 0.5, 0.5)"),
    ],
)
def test_preprocess_config_rejects_bad_values_by_name(changes, error, message):
    with pytest.raises(error) as info:
        PreprocessConfig(**changes)
    assert str(info.value) == message
    if changes != {"size": 0}:  # an override of 0 means "keep the model's size"
        with pytest.raises(error) as info:  # overrides are checked the same way
            PreprocessConfig().with_overrides(**changes)
        assert str(info.value) == message
    assert PreprocessConfig(mean=[0, 0.5, 1]).mean == (0.0, 0.5, 1.0)  # any sequence, kept as floats


def test_preprocess_rejects_what_is_not_an_image():
    config = PreprocessConfig(size=8)
    with pytest.raises(ValueError, match=r"^images must be an IMAGE \[B, H, W, C\] with C = 1 or 3, got a torch.float32 tensor of shape \(2, 3, 16, 16\)"):
        preprocess(torch.rand(2, 3, 16, 16), config)  # channels first
    with pytest.raises(ValueError, match=r"got shape \(0, 16, 16, 3\)$"):
        preprocess(torch.rand(0, 16, 16, 3), config)
    with pytest.raises(TypeError, match=r"^images must be a floating-point tensor .*, got torch.uint8$"):
        preprocess(torch.zeros(1, 16, 16, 3, dtype=torch.uint8), config)
    with pytest.raises(TypeError, match=r"^config must be a PreprocessConfig, got dict \{'size': 8\}$"):
        preprocess(torch.rand(1, 16, 16, 3), {"size": 8})
    infinite = torch.rand(2, 16, 16, 3)
    infinite[1, 3, 5, 0] = float("inf")
    with pytest.raises(ValueError, match=r"^images must be finite and in \[0, 1\], got 1 NaN/Inf value\(s\) in sample\(s\) \[1\]$"):
        preprocess(infinite, config)
    with pytest.raises(ValueError, match=r"^images must lie in \[0, 1\], got values from 0 to 255; clamp a decoded image, or divide a 0-255 one by 255$"):
        preprocess(torch.arange(256.0).reshape(1, 16, 16, 1), config)
    with pytest.raises(ValueError, match=r"^images is on the meta device"):
        preprocess(torch.empty(1, 16, 16, 3, device="meta"), config)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mode", ["shortest", "longest", "multiple"])
def test_preprocess_takes_half_precision_images(dtype, mode):
    # The CPU has no antialiased resize in half precision: it runs in float32, the result comes back in the images' dtype.
    images = torch.rand(2, 21, 30, 3, generator=torch.Generator().manual_seed(0)).to(dtype)
    config = PreprocessConfig(size=12, resize_mode=mode, patch_size=4)
    pixels = preprocess(images, config)
    assert pixels.dtype == dtype
    torch.testing.assert_close(pixels, preprocess(images.float(), config).to(dtype), rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_the_cpu_resize_equals_one_antialiased_interpolate_call(mode):
    # On the CPU, preprocess shrinks an IMAGE's rows, then its columns (faster for its channels-last
    # memory); the filter is separable, so it must equal torch's single antialiased call.
    torch.manual_seed(0)
    image = torch.rand(2, 97, 130, 3, dtype=torch.float64)
    for size in [(40, 40), (97, 61), (150, 40), (211, 300), (1, 1)]:
        pixels = _resize(image.permute(0, 3, 1, 2), size, mode)
        reference = F.interpolate(image.permute(0, 3, 1, 2).contiguous(), size=size, mode=mode, antialias=True)
        assert pixels.shape == reference.shape
        torch.testing.assert_close(pixels, reference, rtol=0, atol=1e-12)
    small = torch.rand(1, 9, 11, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: preprocess(x, PreprocessConfig(size=5, resize_mode="squash", interpolation=mode)), (small,))


def test_gradients_flow_through_the_encoder_to_the_image(clip_model, tmp_path):
    _save(clip_model.state_dict(), tmp_path / "m.safetensors")
    encoder = load_open_clip_encoder("ViT-S-32", tmp_path / "m.safetensors")
    scene = make_edit_scene(2, (64, 64))
    prediction = scene.overlay.clone().requires_grad_()
    out = encoder(prediction)
    target, source = encoder(scene.after), encoder(scene.before)
    loss = loss_no_edit_identity(out.global_embedding, target.global_embedding, source.global_embedding, margin=2.0)
    loss = loss + loss_geometry_match(out.patch_tokens, target.patch_tokens)
    loss.backward()
    assert prediction.grad is not None and prediction.grad.abs().sum() > 0


def test_encode_images_in_chunks_equals_one_batch(clip_model, tmp_path):
    _save(clip_model.state_dict(), tmp_path / "m.safetensors")
    encoder = load_open_clip_encoder("ViT-S-32", tmp_path / "m.safetensors")
    images = torch.rand(5, 40, 40, 3)
    steps = []
    chunked = encode_images(encoder, images, batch_size=2, progress=lambda done, total: steps.append((done, total)))
    whole = encoder(images)
    torch.testing.assert_close(chunked.global_embedding, whole.global_embedding, atol=1e-6, rtol=1e-5)
    assert steps == [(2, 5), (4, 5), (5, 5)]

    def stop():
        raise InterruptedError("stop")

    with pytest.raises(InterruptedError):
        encode_images(encoder, images, check_interrupt=stop)


def test_loaders_never_download_and_say_how_to_get_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"^'laion2b_s34b_b79k' names weights to download; this loader reads local files only and never downloads\. Get the file yourself \(https://huggingface.co/laion/CLIP-ViT-B-32-laion2B-s34B-b79K\)"):
        load_open_clip_encoder("ViT-B-32", "laion2b_s34b_b79k")
    with pytest.raises(CheckpointError, match=r"names weights to download.*https://huggingface.co/timm/vit_small_patch14_dinov2.lvd142m"):
        load_timm_encoder("vit_small_patch14_dinov2", "timm/vit_small_patch14_dinov2.lvd142m")
    with pytest.raises(CheckpointError, match=r"^checkpoint file 'missing.safetensors' not found$"):
        load_open_clip_encoder("ViT-B-32", "missing.safetensors")
    torch.save({"a": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match=r"wrong.pth does not fit timm's vit_small_patch14_dinov2: missing \["):
        load_timm_encoder("vit_small_patch14_dinov2", tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match=r"architecture 'not_a_model' is not a timm model"):
        load_timm_encoder("not_a_model", tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match=r"architecture 'ViT-Q-99' is not an open_clip model"):
        load_open_clip_encoder("ViT-Q-99", tmp_path / "wrong.pth")


@pytest.fixture
def weight_files(tmp_path):
    """Files a weights reader meets besides weights: each must be refused by name, none read without end."""
    state = {"layer.weight": torch.rand(3, 2), "layer.bias": torch.rand(3)}
    _save(state, tmp_path / "good.safetensors")
    (tmp_path / "truncated.safetensors").write_bytes((tmp_path / "good.safetensors").read_bytes()[:60])
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "notes.safetensors").write_text("not weights\n" * 20)
    torch.save({"epoch": 3, "lr": [0.1, 0.01]}, tmp_path / "no_tensors.pt")
    os.mkfifo(tmp_path / "fifo.pth")
    (tmp_path / "folder.pth").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.safetensors", r"truncated\.safetensors: cannot read it as safetensors \(SafetensorError: "),
        ("empty.safetensors", r"empty\.safetensors: cannot read it as safetensors \(SafetensorError: "),
        ("notes.safetensors", r"notes\.safetensors: cannot read it as safetensors \(SafetensorError: "),
        ("no_tensors.pt", r"no_tensors\.pt: holds no tensors \(got 2 entries, none a tensor\)$"),
        ("fifo.pth", r"fifo\.pth: not a regular file \(a folder, FIFO or device\)$"),
        ("folder.pth", r"folder\.pth: not a regular file \(a folder, FIFO or device\)$"),
        ("/dev/zero", r"^/dev/zero: not a regular file \(a folder, FIFO or device\)$"),
        ("missing.pth", r"missing\.pth: no such file$"),
    ],
)
def test_read_state_dict_refuses_what_holds_no_weights_by_name(weight_files, name, message):
    if name == "/dev/zero" and not Path(name).exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(CheckpointError, match=message):
        read_state_dict(weight_files / name)


def test_read_state_dict_checks_its_arguments(weight_files):
    assert set(read_state_dict(str(weight_files / "good.safetensors"))) == {"layer.weight", "layer.bias"}
    with pytest.raises(TypeError, match=r"^path must be a path \(a str or os.PathLike\), got NoneType None$"):
        read_state_dict(None)
    with pytest.raises(ValueError, match=r"^path must name a file, got an empty path$"):
        read_state_dict("")
    with pytest.raises(TypeError, match=r"^trusted_jit must be True or False, got int 1$"):
        read_state_dict(weight_files / "good.safetensors", trusted_jit=1)


def test_find_model_file_checks_names_and_folders(weight_files):
    empty = weight_files / "empty_folder"
    empty.mkdir()
    assert find_model_file("good.safetensors", [empty, weight_files]) == weight_files / "good.safetensors"
    assert find_model_file("good.safetensors", (f for f in [str(empty), str(weight_files)])) == weight_files / "good.safetensors"  # any iterable
    assert find_model_file("folder.pth", [weight_files]) == weight_files / "folder.pth"  # a hub folder is a model
    with pytest.raises(TypeError, match=r"^folders must be an iterable of folder paths \(a list or tuple\), got str '"):
        find_model_file("good.safetensors", str(weight_files))  # would be searched letter by letter
    with pytest.raises(TypeError, match=r"^each of folders must be a path \(a str or os.PathLike\), got NoneType None$"):
        find_model_file("good.safetensors", [None, weight_files])
    with pytest.raises(ValueError, match=r"^name must name a file, got an empty path$"):
        find_model_file("", [weight_files])  # Path("") is the current folder, which exists
    with pytest.raises(TypeError, match=r"^name must be a path \(a str or os.PathLike\), got int 3$"):
        find_model_file(3, [weight_files])
    with pytest.raises(CheckpointError, match=r"fifo\.pth is not a model file or folder \(it is a FIFO, socket or device\)$"):
        find_model_file("fifo.pth", [weight_files])


@pytest.fixture(scope="module")
def test_vit_file(tmp_path_factory):
    """timm's smallest ViT (test_vit: 16-pixel patches, 64 wide) with random weights, in a file."""
    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, num_classes=0, dynamic_img_size=True)
    path = tmp_path_factory.mktemp("test_vit") / "test_vit.safetensors"
    _save(model.state_dict(), path)
    return path


def test_encode_images_checks_every_input_by_name(test_vit_file):
    encoder = load_timm_encoder("test_vit", test_vit_file, image_size=32)
    images = torch.rand(3, 20, 20, 3)
    assert encode_images(encoder, images, batch_size=2).global_embedding.shape == (3, 64)
    cases = [
        (dict(images=images[:0]), ValueError, r"^images must hold at least one image of at least 1x1 pixels, got shape \(0, 20, 20, 3\)$"),
        (dict(images=images[:, :0]), ValueError, r"^images must hold at least one image of at least 1x1 pixels, got shape \(3, 0, 20, 3\)$"),
        (dict(batch_size=2.5), TypeError, r"^batch_size must be an int, got float 2\.5$"),
        (dict(batch_size=True), TypeError, r"^batch_size must be an int, got bool True$"),
        (dict(batch_size=0), ValueError, r"^batch_size must be >= 1, got 0$"),
        (dict(config=0), TypeError, r"^config must be a PreprocessConfig, got int 0$"),
        (dict(progress="print"), TypeError, r"^progress must be callable \(or None\), got str 'print'$"),
        (dict(check_interrupt=1), TypeError, r"^check_interrupt must be callable \(or None\), got int 1$"),
        (dict(encoder="x"), TypeError, r"^encoder must be an ImageEncoder \(load_open_clip_encoder, load_timm_encoder, WeightFreeImageEncoder\), got str 'x'$"),
        (dict(encoder=torch.nn.Linear(3, 3)), TypeError, r"^encoder must be an ImageEncoder .*, got a Linear module$"),
    ]
    for changes, error, message in cases:
        arguments = dict(encoder=encoder, images=images, batch_size=2) | changes
        with pytest.raises(error, match=message):
            encode_images(**arguments)


def test_loaders_check_devices_and_options_by_name(test_vit_file):
    absent = f"cuda:{torch.cuda.device_count()}"
    for load in (
        lambda **changes: load_timm_encoder(**(dict(architecture="test_vit", checkpoint=test_vit_file) | changes)),
        lambda **changes: load_open_clip_encoder(**(dict(architecture="ViT-S-32", checkpoint=test_vit_file) | changes)),
    ):
        with pytest.raises(ValueError, match=r"^device must be a device such as 'cpu', 'cuda' or 'cuda:1', got 'gpu'$"):
            load(device="gpu")
        with pytest.raises(ValueError, match=rf"^device is '{absent}' but this machine has {torch.cuda.device_count()} cuda device\(s\)$"):
            load(device=absent)
        with pytest.raises(ValueError, match=r"^device must be a device that holds values, got 'meta'$"):
            load(device="meta")
        with pytest.raises(TypeError, match=r"^device must be a torch.device or a device string such as 'cpu' or 'cuda:0', got int 0$"):
            load(device=0)
        with pytest.raises(TypeError, match=r"^architecture must be a string, got NoneType None$"):
            load(architecture=None)
        with pytest.raises(TypeError, match=r"^checkpoint must be a path \(a str or os.PathLike\), got int 3$"):
            load(checkpoint=3)
    with pytest.raises(TypeError, match=r"^trusted_jit must be True or False, got str 'yes'$"):
        load_open_clip_encoder("ViT-S-32", test_vit_file, trusted_jit="yes")
    assert next(load_timm_encoder("test_vit", test_vit_file, device=torch.device("cpu")).parameters()).device.type == "cpu"


def test_loaders_refuse_weights_of_another_shape_or_not_finite(test_vit_file, tmp_path):
    state = read_state_dict(test_vit_file)
    reshaped = dict(state, **{"pos_embed": state["pos_embed"][:, :-1]})
    _save(reshaped, tmp_path / "reshaped.safetensors")
    with pytest.raises(CheckpointError, match=r"reshaped\.safetensors does not fit timm's test_vit: missing \[\], unexpected \[\], of another shape: pos_embed \(1, 100, 64\) where the model has \(1, 101, 64\)$"):
        load_timm_encoder("test_vit", tmp_path / "reshaped.safetensors")
    poisoned = dict(state, **{"blocks.0.attn.qkv.weight": state["blocks.0.attn.qkv.weight"].clone()})
    poisoned["blocks.0.attn.qkv.weight"][3, 4] = float("nan")
    _save(poisoned, tmp_path / "nan.safetensors")
    with pytest.raises(CheckpointError, match=r"nan\.safetensors: the weight blocks\.0\.attn\.qkv\.weight holds 1 NaN/Inf value\(s\); the file is damaged"):
        load_timm_encoder("test_vit", tmp_path / "nan.safetensors")
    from open_clip.model import _build_vision_tower

    vision_cfg = {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16}
    tower_state = _build_vision_tower(16, dict(vision_cfg)).state_dict()
    tower_state["proj"] = tower_state["proj"].clone().fill_(float("inf"))
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 16, "vision_cfg": vision_cfg}}))
    _save(tower_state, tmp_path / "open_clip_model.safetensors")
    with pytest.raises(CheckpointError, match=r"open_clip_model\.safetensors: the weight proj holds 512 NaN/Inf value\(s\)"):
        load_open_clip_encoder("", tmp_path)


def test_encoder_classes_check_their_arguments(clip_model, test_vit_file):
    config = PreprocessConfig(size=32)
    images = torch.rand(1, 20, 20, 3)
    with pytest.raises(TypeError, match=r"^visual must be an open_clip image tower \(VisionTransformer, ModifiedResNet, TimmModel\), got a Linear module$"):
        OpenCLIPImageEncoder(torch.nn.Linear(2, 2), "tower", config)
    with pytest.raises(TypeError, match=r"^visual must be an open_clip image tower .* \(pass the model's \.visual\), got a CLIP module$"):
        OpenCLIPImageEncoder(clip_model, "tower", config)
    with pytest.raises(TypeError, match=r"^name must be a string, got NoneType None$"):
        OpenCLIPImageEncoder(clip_model.visual, None, config)
    with pytest.raises(TypeError, match=r"^config must be a PreprocessConfig, got str 'shortest'$"):
        OpenCLIPImageEncoder(clip_model.visual, "tower", "shortest")
    model = load_timm_encoder("test_vit", test_vit_file, image_size=32).model
    with pytest.raises(TypeError, match=r"^model must be a timm model \(with forward_features and forward_head\), got a Linear module$"):
        TimmImageEncoder(torch.nn.Linear(2, 2), "test_vit", config)
    with pytest.raises(ValueError, match=r"^global_pool must be one of 'cls', 'mean', 'head', got 'avg'$"):
        TimmImageEncoder(model, "test_vit", config, global_pool="avg")
    encoder = TimmImageEncoder(model, "test_vit", config)
    with pytest.raises(TypeError, match=r"^config must be a PreprocessConfig, got int 0$"):
        encoder(images, 0)  # was taken for "the encoder's own"
    with pytest.raises(TypeError, match=r"^config must be a PreprocessConfig, got dict \{'size': 4\}$"):
        WeightFreeImageEncoder(patch_size=4)(images, {"size": 4})  # the weight-free encoder does not use it, but a wrong one is wrong
    with pytest.raises(TypeError, match=r"^patch_size must be an int, got float 4\.0$"):
        WeightFreeImageEncoder(patch_size=4.0)
