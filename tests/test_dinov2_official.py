"""Our DINOv2 encoders against Meta's official model, on the same random weights.

These tests need Meta's code, which this repository does not ship. Get it and point
``EDITLOSS_OFFICIAL_CODE`` at the checkout (with the other official checkouts of
test_depth_official.py, separated by ``os.pathsep``)::

    git clone https://github.com/facebookresearch/dinov2
    EDITLOSS_OFFICIAL_CODE=dinov2 python -m pytest tests/test_dinov2_official.py

Each case builds Meta's ViT-S/14 or ViT-B/14 with the settings of the released
``dinov2_vit{s,b}14[_reg4]_pretrain.pth`` (those of Meta's ``hubconf``: 518 pixels, layer scales 1,
no block chunks; the register models with 4 registers, antialiased interpolation and no offset),
saves its ``state_dict()`` as that file, loads the file with :func:`load_timm_encoder` and compares
the patch tokens and the class token with Meta's ``forward_features`` on the same pixels: at the
training size, at other squares, at non-square sizes and after the loader's own preprocessing of a
non-square image.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch
import torch.nn.functional as F

from comfy_editloss.encoders import load_timm_encoder, preprocess

ROOTS = [p for p in os.environ.get("EDITLOSS_OFFICIAL_CODE", "").split(os.pathsep) if p]
pytestmark = pytest.mark.skipif(not ROOTS, reason="needs Meta's official dinov2 code: see this file's docstring")
TOLERANCE = 1e-4  # relative to each token's norm: float32 rounding of two different op orders

REGISTERS = {"num_register_tokens": 4, "interpolate_antialias": True, "interpolate_offset": 0.0}
MODELS = {  # Meta's file -> (Meta's builder, its options beyond the common ones, timm's architecture)
    "dinov2_vits14_pretrain.pth": ("vit_small", {}, "vit_small_patch14_dinov2"),
    "dinov2_vits14_reg4_pretrain.pth": ("vit_small", REGISTERS, "vit_small_patch14_reg4_dinov2"),
    "dinov2_vitb14_pretrain.pth": ("vit_base", {}, "vit_base_patch14_dinov2"),
    "dinov2_vitb14_reg4_pretrain.pth": ("vit_base", REGISTERS, "vit_base_patch14_reg4_dinov2"),
}


@pytest.fixture(scope="module")
def vision_transformer():
    """Meta's ``dinov2.models.vision_transformer``, with xFormers off: its CPU attention is the plain one."""
    sys.path[:0] = ROOTS
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("XFORMERS_DISABLED", "1")
            module = pytest.importorskip("dinov2.models.vision_transformer")
        yield module
    finally:
        del sys.path[: len(ROOTS)]


@pytest.fixture(scope="module", params=sorted(MODELS))
def official_and_ours(request, vision_transformer, tmp_path_factory):
    """Meta's model with random weights, and ours loaded from its state dict saved as Meta's file.
    The positions are drawn at the scale of the patch embeddings (Meta's initial 0.02 would leave
    them a small part of each token, unlike trained weights)."""
    builder, options, architecture = MODELS[request.param]
    torch.manual_seed(0)
    official = getattr(vision_transformer, builder)(patch_size=14, img_size=518, init_values=1.0, block_chunks=0, **options).eval()
    with torch.no_grad():
        official.pos_embed.normal_(0, 1)
    path = tmp_path_factory.mktemp("dinov2") / request.param
    torch.save(official.state_dict(), path)
    return official, load_timm_encoder(architecture, path, precision="fp32")


def _largest_relative_difference(ours: torch.Tensor, official: torch.Tensor) -> float:
    return float(((ours - official).norm(dim=-1) / official.norm(dim=-1)).max())


def _report(case: str, patch_difference: float, class_difference: float) -> None:
    print(f"{case}: largest |ours - official| / |official|: patch tokens {patch_difference:.3g}, class token {class_difference:.3g}")


@pytest.mark.parametrize("size", [(518, 518), (224, 224), (364, 518), (518, 700), (280, 420)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_dinov2_tokens_equal_the_official_model(official_and_ours, size):
    official, encoder = official_and_ours
    pixels = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = official.forward_features(pixels)
        pooled, grid = encoder.encode_pixels(pixels)
    assert grid.shape[1:3] == (size[0] // 14, size[1] // 14)
    patch_difference = _largest_relative_difference(grid.flatten(1, 2), expected["x_norm_patchtokens"])
    class_difference = _largest_relative_difference(pooled, expected["x_norm_clstoken"])
    _report(f"{encoder.name} {size}", patch_difference, class_difference)
    assert patch_difference < TOLERANCE and class_difference < TOLERANCE


def test_dinov2_equals_the_official_model_after_the_loaders_preprocessing(official_and_ours):
    official, encoder = official_and_ours
    images = torch.rand(1, 300, 457, 3, generator=torch.Generator().manual_seed(2))
    pixels = preprocess(images, encoder.preprocess_config)
    assert pixels.shape[-2:] == (518, 784)  # the shorter side at 518, the longer one at a multiple of 14
    with torch.no_grad():
        expected = official.forward_features(pixels)
        out = encoder(images)
    patch_difference = _largest_relative_difference(out.patch_tokens.flatten(1, 2), expected["x_norm_patchtokens"])
    class_difference = _largest_relative_difference(out.global_embedding, F.normalize(expected["x_norm_clstoken"], dim=-1))
    _report(f"{encoder.name} preprocessed {tuple(pixels.shape[-2:])}", patch_difference, class_difference)
    assert patch_difference < TOLERANCE and class_difference < TOLERANCE
