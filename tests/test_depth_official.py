"""Our depth estimators against the official implementations, on the same random weights.

These tests need the official code, which this repository does not ship. Get it and point
``EDITLOSS_OFFICIAL_CODE`` at the checkouts (separated by ``os.pathsep``)::

    git clone https://github.com/DepthAnything/Depth-Anything-V2
    git clone https://github.com/isl-org/MiDaS
    git clone https://github.com/rwightman/gen-efficientnet-pytorch   # MiDaS small's encoder (torch.hub)
    pip install opencv-python-headless                               # the official resizing
    EDITLOSS_OFFICIAL_CODE=Depth-Anything-V2:MiDaS:gen-efficientnet-pytorch python -m pytest tests/test_depth_official.py

Each test builds the official model with random weights, gives its ``state_dict()`` to our loader
(architecture detected from the keys, strict loading) and compares the whole pipelines: the official
``infer_image`` (Depth Anything V2) or ``run.py``'s ``load_model`` transform + ``process`` (MiDaS) on
a uint8 BGR image, ours on the same image as a ComfyUI IMAGE. Giant runs with ``EDITLOSS_OFFICIAL_GIANT=1``
(about 10 GB of memory).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from comfy_editloss.depth import DepthEstimator, model_from_state_dict

ROOTS = [p for p in os.environ.get("EDITLOSS_OFFICIAL_CODE", "").split(os.pathsep) if p]
pytestmark = pytest.mark.skipif(not ROOTS, reason="needs the official Depth-Anything-V2 / MiDaS code: see this file's docstring")
TOLERANCE = 2e-4  # relative to the output's range: float32 rounding of two different op orders


@pytest.fixture(scope="module", autouse=True)
def official_code_on_path():
    sys.path[:0] = ROOTS
    yield
    del sys.path[: len(ROOTS)]


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    smooth = 127 + 100 * np.sin(x[..., None] / (7.0 + np.arange(3)) + y[..., None] / 11.0)
    return np.clip(smooth + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)  # BGR


def _as_comfy_image(bgr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(bgr[..., ::-1].copy()).float().div(255).unsqueeze(0)


def _positive_output(model: torch.nn.Module, bias_name: str) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                p.normal_(0, 0.02 if p.shape[-1] > 1 else 0.1)
        dict(model.named_parameters())[bias_name].fill_(0.5)  # keep the final ReLU alive


def _compare(official: np.ndarray, ours: torch.Tensor) -> float:
    ours_np = ours[0, 0].numpy()
    assert ours_np.shape == official.shape
    scale = float(official.max() - official.min())
    assert scale > 1e-3, "degenerate random model: the comparison would prove nothing"
    diff = float(np.abs(ours_np - official).max()) / scale
    print(f"max |ours - official| / range = {diff:.3g} (range {scale:.4g})")
    return diff


@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl", "vitg"])
@pytest.mark.parametrize("size", [(301, 457), (518, 518), (700, 300)])
def test_depth_anything_v2_equals_official(encoder, size):
    if encoder == "vitg" and not os.environ.get("EDITLOSS_OFFICIAL_GIANT"):
        pytest.skip("set EDITLOSS_OFFICIAL_GIANT=1 to build the 1.3 B-parameter Giant twice")
    pytest.importorskip("cv2")
    dpt = pytest.importorskip("depth_anything_v2.dpt")
    configs = {
        "vits": {"features": 64, "out_channels": [48, 96, 192, 384]},
        "vitb": {"features": 128, "out_channels": [96, 192, 384, 768]},
        "vitl": {"features": 256, "out_channels": [256, 512, 1024, 1024]},
        "vitg": {"features": 384, "out_channels": [1536, 1536, 1536, 1536]},
    }
    official = dpt.DepthAnythingV2(encoder=encoder, **configs[encoder]).eval()
    _positive_output(official, "depth_head.scratch.output_conv2.2.bias")
    network, arch = model_from_state_dict(official.state_dict())
    assert arch.name == f"depth_anything_v2_{encoder}"
    bgr = _image(*size)
    expected = official.infer_image(bgr, 518)
    with torch.no_grad():
        ours = DepthEstimator(network, arch)(_as_comfy_image(bgr))
    assert _compare(expected, ours) < TOLERANCE


def _official_midas(model_type: str, tmp_path, monkeypatch):
    pytest.importorskip("cv2")
    model_loader = pytest.importorskip("midas.model_loader")
    if model_type == "midas_v21_small_256":
        geffnet = pytest.importorskip("geffnet")
        repo = os.path.dirname(os.path.dirname(geffnet.__file__))
        real_load = torch.hub.load
        # local code, and never the ImageNet download MidasNet_small asks for when built without a file
        monkeypatch.setattr(torch.hub, "load", lambda _repo, name, **kw: real_load(repo, name, source="local", **{**kw, "pretrained": False}))
        from midas.midas_net_custom import MidasNet_small  # noqa: PLC0415

        random_model = MidasNet_small(None, features=64, backbone="efficientnet_lite3", exportable=True, non_negative=True, blocks={"expand": True})
        bias = "scratch.output_conv.4.bias"
    else:
        from midas.dpt_depth import DPTDepthModel  # noqa: PLC0415

        backbone = {"dpt_large_384": "vitl16_384", "dpt_base_384": "vitb16_384"}[model_type]
        random_model = DPTDepthModel(path=None, backbone=backbone, non_negative=True)
        bias = "scratch.output_conv.4.bias"
    _positive_output(random_model, bias)
    state = random_model.state_dict()
    weights = tmp_path / f"{model_type}.pt"
    torch.save(state, weights)
    if model_type == "dpt_base_384":
        # run.py's load_model has no entry for it: the same model class, loaded from the file, with the
        # transform load_model gives every ViT DPT at 384 (dpt_large_384's: "minimal", mean = std = 0.5)
        from midas.dpt_depth import DPTDepthModel  # noqa: PLC0415

        model = DPTDepthModel(path=str(weights), backbone="vitb16_384", non_negative=True).eval()
        transform = _midas_transform(model_loader, 384, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    else:
        model, transform, _, _ = model_loader.load_model(torch.device("cpu"), str(weights), model_type, optimize=False)
    return model, transform, state


def _midas_transform(model_loader, size, method, mean, std):
    import cv2  # noqa: PLC0415
    from torchvision.transforms import Compose  # noqa: PLC0415

    return Compose(
        [
            model_loader.Resize(size, size, resize_target=None, keep_aspect_ratio=True, ensure_multiple_of=32, resize_method=method, image_interpolation_method=cv2.INTER_CUBIC),
            model_loader.NormalizeImage(mean=list(mean), std=list(std)),
            model_loader.PrepareForNet(),
        ]
    )


@pytest.mark.parametrize("model_type", ["midas_v21_small_256", "dpt_base_384", "dpt_large_384"])
@pytest.mark.parametrize("size", [(301, 457), (384, 384), (700, 300)])
def test_midas_equals_official(model_type, size, tmp_path, monkeypatch):
    import cv2  # noqa: PLC0415

    official, transform, state = _official_midas(model_type, tmp_path, monkeypatch)
    network, arch = model_from_state_dict(state)
    assert arch.name == ("midas_" + model_type if model_type.startswith("dpt") else model_type)
    bgr = _image(*size)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) / 255.0  # utils.read_image
    with torch.no_grad():
        sample = torch.from_numpy(transform({"image": rgb})["image"]).unsqueeze(0)  # run.py's process()
        prediction = official.forward(sample)
        expected = torch.nn.functional.interpolate(prediction.unsqueeze(1), size=rgb.shape[:2], mode="bicubic", align_corners=False).squeeze().numpy()
        ours = DepthEstimator(network, arch)(_as_comfy_image(bgr))
    assert _compare(expected, ours) < TOLERANCE
