"""The encoder nodes, loaded as ComfyUI loads the pack (model files come from EDITLOSS_MODELS_DIR)."""

from __future__ import annotations

import importlib
import time
import warnings

import open_clip
import pytest
import timm
import torch
from safetensors.torch import save_file
from workflow_builder import node, out, workflow

from comfy_editloss.graph.convert import convert
from comfy_editloss.graph.execute import NodeExecutionError
from comfy_editloss.graph.runtime import Environment, run_workflow
from comfy_editloss.graph.validate import validate_prompt
from comfy_editloss.testing.synthetic import make_edit_scene


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models" / "editloss_encoders"
    folder.mkdir(parents=True)
    monkeypatch.setenv("EDITLOSS_MODELS_DIR", str(tmp_path / "models"))
    return folder


@pytest.fixture(scope="module")
def dino_state():
    torch.manual_seed(0)
    model = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, dynamic_img_size=True)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def test_weight_free_encode_node(nodes):
    image = make_edit_scene(0, (64, 96)).after
    with torch.inference_mode():
        global_, patches = nodes["EditLossWeightFreeEncode"]().encode(image, "gradient+pixel", 16)
    assert patches.tensor.shape == (1, 4, 6, 39) and patches.grid == (4, 6) and not patches.normalized
    assert global_.tensor.shape == (1, 39) and global_.normalized
    torch.testing.assert_close(global_.tensor.norm(dim=-1), torch.ones(1))
    assert patches.encoder == "weight_free:gradient+pixel:16"
    with pytest.raises(ValueError, match=r"^image must be an IMAGE \[B, H, W, C\] with C = 1 or 3, got a torch.float32 tensor of shape \(64, 96, 3\)"):
        nodes["EditLossWeightFreeEncode"]().encode(image[0], "gradient", 16)


def test_timm_loader_lists_files_caches_the_model_and_encodes(nodes, pack, models_dir, dino_state):
    save_file(dino_state, str(models_dir / "dinov2_vits14.safetensors"))
    loader = nodes["EditLossTimmLoader"]
    assert "dinov2_vits14.safetensors" in loader.INPUT_TYPES()["required"]["checkpoint"][0]
    models = importlib.import_module(pack.__name__ + ".comfy_editloss.encoders.models")
    calls = []
    real = models.load_timm_encoder

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    models.load_timm_encoder = counting
    try:
        (first,) = loader().load("vit_small_patch14_dinov2", "dinov2_vits14.safetensors", 56, "cls", "auto")
        start = time.perf_counter()
        (second,) = loader().load("vit_small_patch14_dinov2", "dinov2_vits14.safetensors", 56, "cls", "auto")
        assert time.perf_counter() - start < 0.5
    finally:
        models.load_timm_encoder = real
    assert first is second and len(calls) == 1  # a second run reuses the loaded model
    assert next(first.parameters()).dtype == torch.float32  # fp32 on the CPU
    images = torch.rand(3, 60, 90, 3)
    with torch.inference_mode():
        global_, patches = nodes["EditLossEncode"]().encode(first, images, 2)
    assert global_.tensor.shape == (3, 384) and patches.tensor.shape == (3, 4, 6, 384)
    assert global_.encoder == "timm:vit_small_patch14_dinov2"
    with torch.inference_mode():
        _, resized = nodes["EditLossEncode"]().encode(first, images, 8, 112, "squash", "0.5,0.5,0.5", "0.5, 0.5, 0.5")
    assert resized.tensor.shape == (3, 8, 8, 384)
    with pytest.raises(ValueError, match=r"^mean must be three numbers separated by commas, got 2: '0.5,0.5'$"):
        nodes["EditLossEncode"]().encode(first, images, 8, 0, "default", "0.5,0.5", "")
    with pytest.raises(TypeError, match=r"^encoder must be an EDITLOSS_ENCODER from an EditLoss loader node, got str 'x'$"):
        nodes["EditLossEncode"]().encode("x", images, 8)


def test_missing_model_file_names_the_folders_searched(nodes, models_dir):
    with pytest.raises(ValueError, match=r"model file 'nope.safetensors' not found; searched: .*editloss_encoders, .*clip_vision, .*checkpoints\. Put the file in models/editloss_encoders"):
        nodes["EditLossTimmLoader"]().load("vit_small_patch14_dinov2", "nope.safetensors", 0, "cls", "auto")


def test_comfyui_clip_vision_files_get_a_hint(nodes, models_dir):
    save_file({"vision_model.embeddings.patch_embedding.weight": torch.zeros(4, 3, 2, 2)}, str(models_dir / "clip_vision_h.safetensors"))
    with pytest.raises(ValueError, match=r"is a Hugging Face transformers CLIP vision file .* use EditLoss CLIP Vision Encode$"):
        nodes["EditLossOpenCLIPLoader"]().load("ViT-B-32", "clip_vision_h.safetensors", "fp32")


def _save_openai_style_archive(path):
    """A TorchScript archive holding a random ViT-S-32's parameters under CLIP's names, as OpenAI's
    original files hold theirs; returns the model."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = open_clip.create_model("ViT-S-32", pretrained=None).eval()

        class Holder(torch.nn.Module):
            def __init__(self):
                super().__init__()
                for name, child in clip.named_children():
                    setattr(self, name, child)
                for name, parameter in clip.named_parameters(recurse=False):
                    self.register_parameter(name, parameter)

            def forward(self, x):
                return x

        torch.jit.trace(Holder(), torch.rand(1, 3), check_trace=False).save(str(path))
    return clip


def test_torchscript_archives_load_only_where_the_machine_allows_them(nodes, models_dir, monkeypatch, tmp_path):
    """Loading a JIT archive runs code from the file, and a prompt may come from anyone who reaches
    the server: the permission is EDITLOSS_TRUSTED_JIT in the server's environment; what a prompt or
    an old saved workflow says for the former trusted_jit widget changes nothing."""
    clip = _save_openai_style_archive(models_dir / "ViT-S-32.pt")
    loader = nodes["EditLossOpenCLIPLoader"]
    assert list(loader.INPUT_TYPES()["required"]) == ["architecture", "checkpoint", "precision"]
    refused = r"is a TorchScript \(JIT\) archive, .* start the server with the environment variable EDITLOSS_TRUSTED_JIT=1\)"
    for setting in (None, "0", "no", ""):
        if setting is None:
            monkeypatch.delenv("EDITLOSS_TRUSTED_JIT", raising=False)
        else:
            monkeypatch.setenv("EDITLOSS_TRUSTED_JIT", setting)
        with pytest.raises(ValueError, match=refused):
            loader().load("ViT-S-32", "ViT-S-32.pt", "fp32")
    # a prompt that still says trusted_jit = true unlocks nothing
    prompt = {"1": {"class_type": "EditLossOpenCLIPLoader", "inputs": {"architecture": "ViT-S-32", "checkpoint": "ViT-S-32.pt", "precision": "fp32", "trusted_jit": True}}}
    with pytest.raises(NodeExecutionError, match=refused):
        run_workflow(prompt, targets=["1"], output_dir=tmp_path / "output")
    monkeypatch.setenv("EDITLOSS_TRUSTED_JIT", "perhaps")
    with pytest.raises(ValueError, match=r"^EDITLOSS_TRUSTED_JIT must be 1 \(allow TorchScript archives\) or 0 \(refuse them\), got 'perhaps'$"):
        loader().load("ViT-S-32", "ViT-S-32.pt", "fp32")
    monkeypatch.setenv("EDITLOSS_TRUSTED_JIT", "1")
    (encoder,) = loader().load("ViT-S-32", "ViT-S-32.pt", "fp32")
    assert torch.equal(encoder.visual.conv1.weight, clip.visual.conv1.weight)
    assert type(encoder.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"  # OpenAI's archives use it


def test_an_old_saved_open_clip_loader_converts_without_its_trusted_jit_value(models_dir):
    """Saved workflows store widget values by position; trusted_jit was the last widget, so an old
    save has one value more, which is dropped (as ComfyUI's frontend drops it) and never reaches the node."""
    (models_dir / "ViT-S-32.safetensors").write_bytes(b"")
    env = Environment.create()
    saved = workflow([node(1, "EditLossOpenCLIPLoader", outputs=[out("encoder", "EDITLOSS_ENCODER")], widgets_values=["ViT-S-32", "ViT-S-32.safetensors", "fp32", True])], [])
    prompt = convert(saved, env.catalogue)
    assert prompt["1"]["inputs"] == {"architecture": "ViT-S-32", "checkpoint": "ViT-S-32.safetensors", "precision": "fp32"}
    assert validate_prompt(prompt, env.catalogue, env.classes, require_outputs=False) == []


class FakeClipVision:
    """ComfyUI's ClipVisionModel as the adapter uses it: encode_image(image, crop) returns an output
    with image_embeds [B, D] and last_hidden_state [B, T, C]."""

    def __init__(self, tokens, dim=8):
        self.tokens, self.dim, self.calls = tokens, dim, []

    def encode_image(self, image, crop=True):
        self.calls.append((tuple(image.shape), crop))
        b = image.shape[0]

        class Output(dict):
            def __getattr__(self, name):
                return self[name]

        g = torch.Generator().manual_seed(0)
        return Output(image_embeds=torch.randn(b, self.dim, generator=g), last_hidden_state=torch.randn(b, self.tokens, 6, generator=g))


@pytest.mark.parametrize("tokens,grid", [(257, 16), (729, 27), (261, 16)], ids=["clip", "siglip", "dinov2-registers"])
def test_clip_vision_adapter(nodes, tokens, grid):
    clip_vision = FakeClipVision(tokens)
    image = torch.rand(2, 32, 32, 3)
    global_, patches = nodes["EditLossCLIPVisionEncode"]().encode(clip_vision, image, "none")
    assert clip_vision.calls == [((2, 32, 32, 3), False)]
    assert global_.tensor.shape == (2, 8) and global_.normalized and patches.tensor.shape == (2, grid, grid, 6)
    output = clip_vision.encode_image(image)
    again = nodes["EditLossCLIPVisionOutputToEmbedding"]().convert(output)
    torch.testing.assert_close(again[1].tensor, output["last_hidden_state"][:, tokens - grid * grid :].reshape(2, grid, grid, 6))
    with pytest.raises(TypeError, match=r"^clip_vision must be a CLIP_VISION model from Load CLIP Vision, got str 'x'$"):
        nodes["EditLossCLIPVisionEncode"]().encode("x", image, "center")
    with pytest.raises(TypeError, match=r"^clip_vision_output must be a CLIP_VISION_OUTPUT with image_embeds and last_hidden_state"):
        nodes["EditLossCLIPVisionOutputToEmbedding"]().convert({"image_embeds": torch.zeros(1, 2)})


def test_patch_heatmap_node(nodes, pack_lib):
    scene = make_edit_scene(7, (64, 64))
    encode = nodes["EditLossWeightFreeEncode"]().encode
    images = torch.cat([scene.after, scene.before, scene.overlay])
    (_, pred), (_, gt), (_, src), (_, ov) = encode(images, "gradient+pixel", 16), encode(scene.after, "gradient+pixel", 16), encode(scene.before, "gradient+pixel", 16), encode(scene.overlay, "gradient+pixel", 16)
    (picture,) = nodes["EditLossPatchHeatmap"]().draw(images, pred, gt, src, "cos", z_overlay=ov)
    assert picture.shape == (3, 64 + 18, 64 * 4, 3) and picture.dtype == torch.float32
    assert 0 <= float(picture.min()) and float(picture.max()) <= 1
    # The correct edit's distance-to-target panel shows no heat: it is the image, darkened only.
    target_panel = picture[0, 18:, 64:128]
    assert torch.allclose(target_panel, images[0] * 0.35 + torch.tensor([0.001, 0.0, 0.014]) * 0.65, atol=1e-3)
    with pytest.raises(ValueError, match=r"^image has batch 1 but z_pred has batch 3"):
        nodes["EditLossPatchHeatmap"]().draw(scene.after, pred, gt, src, "cos")
    global_only = pack_lib.Embedding(torch.rand(3, 5))
    with pytest.raises(ValueError, match=r"^z_gt has feature shape \(5,\) but z_pred has \(4, 4, 39\)"):
        nodes["EditLossPatchHeatmap"]().draw(images, pred, global_only, src, "cos")


def test_a_model_handed_to_comfyuis_model_management_is_freed_when_the_cache_lets_it_go(pack, monkeypatch):
    # ComfyUI holds the patchers it is given only weakly; the pack keeps each patcher on its model,
    # so dropping the model (the model cache cleared) frees both. A registry of patchers keyed by
    # model id kept every model ever loaded alive.
    import gc
    import sys
    import types
    import weakref

    loaded = []
    management = types.ModuleType("comfy.model_management")
    management.get_torch_device = lambda: torch.device("cpu")
    management.unet_offload_device = lambda: torch.device("cpu")
    management.load_models_gpu = lambda patchers: loaded.append([weakref.ref(p) for p in patchers])

    class ModelPatcher:
        def __init__(self, model, load_device, offload_device):
            self.model = model

    patcher_module = types.ModuleType("comfy.model_patcher")
    patcher_module.ModelPatcher = ModelPatcher
    comfy = types.ModuleType("comfy")
    comfy.model_management, comfy.model_patcher = management, patcher_module
    for name, module in (("comfy", comfy), ("comfy.model_management", management), ("comfy.model_patcher", patcher_module)):
        monkeypatch.setitem(sys.modules, name, module)

    models = pack.nodes.host.models
    model = torch.nn.Linear(3, 2)
    models.load_for_inference(model)
    models.load_for_inference(model)
    assert len(loaded) == 2 and loaded[0][0]() is loaded[1][0]() is not None  # one patcher per model
    assert "_editloss_model_patcher" not in dict(model.named_modules())  # not a submodule of the model
    models.load_for_inference(torch.nn.Identity())  # no weights: nothing handed over
    assert len(loaded) == 2

    model_ref, patcher_ref = weakref.ref(model), loaded[0][0]
    del model
    gc.collect()
    assert model_ref() is None and patcher_ref() is None
