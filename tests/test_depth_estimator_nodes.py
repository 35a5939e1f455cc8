"""The depth estimator nodes, loaded as ComfyUI loads the pack; model files come from
EDITLOSS_MODELS_DIR laid out like ComfyUI's models folder."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import save_file

from comfy_editloss.testing.synthetic import make_edit_scene


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture
def models(tmp_path, monkeypatch, depth_models_dir):
    root = tmp_path / "models"
    shutil.copytree(depth_models_dir, root)
    monkeypatch.setenv("EDITLOSS_MODELS_DIR", str(root))
    return root


def test_loader_lists_our_folder_and_the_other_packs_folder(nodes, models):
    state = torch.load(models / "editloss_depth" / "depth_anything_v2_vits.pth", weights_only=True)
    (models / "depthanything").mkdir()
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(models / "depthanything" / "depth_anything_v2_vits_fp16.safetensors"))
    (models / "editloss_depth" / "notes.txt").write_text("not a model")
    options = nodes["EditLossDepthEstimatorLoader"].INPUT_TYPES()["required"]["model"][0]
    assert options == ["depth_anything_v2_vits.pth", "depth_anything_v2_vits_fp16.safetensors"]
    (estimator,) = nodes["EditLossDepthEstimatorLoader"]().load("depth_anything_v2_vits_fp16.safetensors", "auto", 0)
    assert estimator.arch.name == "depth_anything_v2_vits" and next(estimator.parameters()).dtype == torch.float32  # auto on the CPU


def test_loader_caches_and_names_the_folders_for_a_missing_file(nodes, models):
    loader = nodes["EditLossDepthEstimatorLoader"]()
    first = loader.load("depth_anything_v2_vits.pth", "auto", 56)[0]
    assert loader.load("depth_anything_v2_vits.pth", "auto", 56)[0] is first
    assert first.input_size == 56
    with pytest.raises(ValueError, match=r"model file 'dpt_large_384.pt' not found; searched: .*editloss_depth.*depthanything.*Put the official file"):
        loader.load("dpt_large_384.pt", "auto", 0)


def test_estimate_node_returns_disparity_at_the_image_size_and_a_preview(nodes, models, pack_lib):
    (estimator,) = nodes["EditLossDepthEstimatorLoader"]().load("depth_anything_v2_vits.pth", "fp32", 56)
    images = torch.cat([make_edit_scene(seed, (45, 70)).after for seed in range(3)])
    mask = torch.ones(1, 45, 70) * 0.5
    with torch.inference_mode():
        depth, preview = nodes["EditLossEstimateDepth"]().estimate(estimator, images, 2, confidence=mask)
        alone = nodes["EditLossEstimateDepth"]().estimate(estimator, images[1:2], 1)[0]
    assert isinstance(depth, pack_lib.Depth) and depth.space == "disparity" and depth.source == "depth_anything_v2_vits"
    assert depth.values.shape == (3, 1, 45, 70) and depth.confidence.shape == (3, 1, 45, 70)
    torch.testing.assert_close(depth.values[1:2], alone.values, atol=1e-5, rtol=1e-5)
    assert preview.shape == (3, 45, 70, 3) and 0 <= float(preview.min()) and float(preview.max()) <= 1
    with torch.no_grad():
        raw = estimator(images)
    torch.testing.assert_close(depth.values, raw, atol=1e-5, rtol=1e-5)  # the network's values, not squashed per image


def test_estimate_node_refuses_wrong_inputs(nodes, models):
    (estimator,) = nodes["EditLossDepthEstimatorLoader"]().load("depth_anything_v2_vits.pth", "fp32", 56)
    with pytest.raises(TypeError, match=r"depth_model must be an EDITLOSS_DEPTH_MODEL from EditLoss Load Depth Estimator, got"):
        nodes["EditLossEstimateDepth"]().estimate("model", torch.zeros(1, 8, 8, 3), 1)
    with pytest.raises(ValueError, match=r"^image must be an IMAGE \[B, H, W, C\] with C = 1 or 3, got a torch.float32 tensor of shape \(8, 8, 3\)"):
        nodes["EditLossEstimateDepth"]().estimate(estimator, torch.zeros(8, 8, 3), 1)
    with pytest.raises(ValueError, match=r"^confidence is 4x4 px but the depth maps are 8x8 px: scale the mask \(or the depth maps\) to one size first$"):
        nodes["EditLossEstimateDepth"]().estimate(estimator, torch.zeros(1, 8, 8, 3), 1, confidence=torch.ones(1, 4, 4))


def test_inside_comfyui_the_other_packs_folders_are_searched(nodes, models, tmp_path, monkeypatch):
    """With ComfyUI's ``folder_paths``: models/editloss_depth, models/depthanything and the nested
    ckpts/ of comfyui_controlnet_aux (files under their Hugging Face repository names)."""
    import types  # noqa: PLC0415

    nested = tmp_path / "custom_nodes" / "comfyui_controlnet_aux" / "ckpts" / "depth-anything" / "Depth-Anything-V2-Small"
    nested.mkdir(parents=True)
    (models / "editloss_depth" / "depth_anything_v2_vits.pth").rename(nested / "depth_anything_v2_vits.pth")
    (nested.parent / "unrelated_annotator.pth").write_bytes(b"")  # not a depth file: not listed
    folders = {"editloss_depth": [str(models / "editloss_depth")], "custom_nodes": [str(tmp_path / "custom_nodes")]}
    fake = types.SimpleNamespace(models_dir=str(models), get_folder_paths=lambda name: folders[name], folder_names_and_paths=folders)
    monkeypatch.setitem(__import__("sys").modules, "folder_paths", fake)
    options = nodes["EditLossDepthEstimatorLoader"].INPUT_TYPES()["required"]["model"][0]
    assert options == ["depth-anything/Depth-Anything-V2-Small/depth_anything_v2_vits.pth"]
    (estimator,) = nodes["EditLossDepthEstimatorLoader"]().load(options[0], "auto", 28)
    assert estimator.arch.name == "depth_anything_v2_vits"
