"""Depth estimators: strict loading of every official layout (from the checkpoint manifests), the
architecture read from the keys, the official resizing rules, and our own invariants on random
weights. Equality with the official code is in test_depth_official.py (needs that code)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from conftest import random_depth_checkpoint

from comfy_editloss.depth import ARCHITECTURES, DepthEstimator, build_model, convert_state_dict, detect_architecture, estimate_depth, load_depth_estimator, model_from_state_dict
from comfy_editloss.depth.estimator import _target_size
from comfy_editloss.encoders.checkpoints import CheckpointError
from comfy_editloss.encoders.models import dinov2_pos_embed

# Names and shapes of the official files (facts, no weights): see tests/data/checkpoint_manifests/README.md.
MANIFESTS = Path(__file__).resolve().parent / "data" / "checkpoint_manifests"
MANIFEST_OF = {
    "depth_anything_v2_vits": "manifest_depth_anything_v2_vits.json",
    "depth_anything_v2_vitb": "manifest_depth_anything_v2_vitb.json",
    "depth_anything_v2_vitl": "manifest_depth_anything_v2_vitl.json",
    "depth_anything_v2_vitg": "manifest_depth_anything_v2_vitg.json",
    "midas_dpt_base_384": "manifest_midas_dpt_base_384.json",
    "midas_dpt_large_384": "manifest_midas_dpt_large_384.json",
}
SMALL = ("depth_anything_v2_vits", "midas_dpt_base_384")  # built for real with random values; the rest on `meta`


def _manifest(name: str) -> dict[str, list[int]]:
    return json.loads((MANIFESTS / MANIFEST_OF[name]).read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST_OF))
def test_every_official_layout_is_detected_and_loads_strictly(name):
    shapes = _manifest(name)
    meta = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    arch = detect_architecture(meta)
    assert arch.name == name
    with torch.device("meta"):
        model = build_model(arch)
    model.load_state_dict(convert_state_dict(meta, arch), strict=True, assign=True)  # every name and shape
    assert sum(t.numel() for t in meta.values()) == sum(t.numel() for t in model.state_dict().values())


@pytest.mark.parametrize("name", SMALL)
def test_a_random_state_dict_from_the_manifest_loads_with_its_values(name):
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v, generator=generator) * 0.02 for k, v in _manifest(name).items()}
    model, arch = model_from_state_dict(state)
    assert arch.name == name
    ours = model.state_dict()
    for key, value in convert_state_dict(state, arch).items():
        assert torch.equal(ours[key], value), key


def test_giant_swiglu_names_are_renamed_to_timms():
    arch = ARCHITECTURES["depth_anything_v2_vitg"]
    converted = convert_state_dict({"pretrained.blocks.3.mlp.w12.weight": torch.zeros(1), "pretrained.blocks.3.mlp.w3.bias": torch.zeros(1)}, arch)
    assert set(converted) == {"pretrained.blocks.3.mlp.fc1.weight", "pretrained.blocks.3.mlp.fc2.bias"}


def test_midas_small_keeps_the_official_layout():
    """No manifest ships for midas_v21_small_256: its layout is MiDaS's cut of gen-efficientnet's
    tf_efficientnet_lite3 (stem conv, bn, act, stages 0-1 | 2 | 3-4 | 5-6) and the expanding decoder."""
    state = random_depth_checkpoint("midas_v21_small_256")
    assert tuple(state["pretrained.layer1.0.weight"].shape) == (32, 3, 3, 3)
    assert "pretrained.layer1.1.running_var" in state and not any(k.startswith("pretrained.layer1.2.") for k in state)
    assert state["pretrained.layer4.1.0.conv_pwl.weight"].shape[0] == 384  # the last stage ends at 384 channels
    assert [tuple(state[f"scratch.layer{i}_rn.weight"].shape[:2]) for i in range(1, 5)] == [(64, 32), (128, 48), (256, 136), (512, 384)]
    assert tuple(state["scratch.refinenet4.out_conv.weight"].shape[:2]) == (256, 512)
    assert tuple(state["scratch.refinenet1.out_conv.weight"].shape[:2]) == (64, 64)
    assert tuple(state["scratch.output_conv.4.weight"].shape) == (1, 32, 1, 1)
    assert detect_architecture(state).name == "midas_v21_small_256"
    model, _ = model_from_state_dict(state)
    assert set(model.state_dict()) == set(state)


def test_unsupported_files_are_named():
    with pytest.raises(CheckpointError, match="DPT-Hybrid"):
        detect_architecture({"pretrained.model.patch_embed.backbone.stem.conv.weight": torch.zeros(1), "scratch.refinenet4.out_conv.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"ResNeXt-101"):
        detect_architecture({"pretrained.layer1.0.weight": torch.zeros(64, 3, 7, 7), "scratch.refinenet1.out_conv.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"not a supported depth model .*2 tensors, e\.g\. a\.weight, b\.bias"):
        detect_architecture({"a.weight": torch.zeros(1), "b.bias": torch.zeros(1)})


def test_the_architecture_comes_from_the_keys_not_the_file_name(tmp_path):
    path = tmp_path / "dpt_large_384.pt"  # a misleading name
    torch.save(random_depth_checkpoint("depth_anything_v2_vits"), path)
    assert load_depth_estimator(path).arch.name == "depth_anything_v2_vits"


def test_loader_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="depth model file 'nowhere.pth' not found"):
        load_depth_estimator("nowhere.pth")
    other = tmp_path / "classifier.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(CheckpointError, match=r"classifier\.pth: not a supported depth model"):
        load_depth_estimator(other)
    with pytest.raises(ValueError, match="precision must be one of"):
        load_depth_estimator(other, precision="fp8")
    with pytest.raises(ValueError, match="input_size must be None .* got -3"):
        load_depth_estimator(other, input_size=-3)
    small = tmp_path / "midas.pt"
    torch.save(random_depth_checkpoint("midas_v21_small_256"), small)
    with pytest.raises(ValueError, match="input_size must be >= 32 for MiDaS v2.1 small 256, got 20"):
        load_depth_estimator(small, input_size=20)


def test_safetensors_in_half_precision_load_as_float32_on_the_cpu(tmp_path):
    from safetensors.torch import save_file  # noqa: PLC0415

    state = {k: v.half() if v.is_floating_point() else v for k, v in random_depth_checkpoint("midas_v21_small_256").items()}
    save_file(state, str(tmp_path / "midas_small_fp16.safetensors"))
    estimator = load_depth_estimator(tmp_path / "midas_small_fp16.safetensors")
    assert estimator.arch.name == "midas_v21_small_256"
    assert {p.dtype for p in estimator.parameters()} == {torch.float32}
    assert load_depth_estimator(tmp_path / "midas_small_fp16.safetensors", precision="fp16").network.scratch.layer1_rn.weight.dtype == torch.float16


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        # Depth Anything V2, 518, lower_bound, multiple of 14: the short side stays >= 518
        ("depth_anything_v2_vits", (301, 457), (518, 784)),
        ("depth_anything_v2_vits", (700, 300), (1204, 518)),
        ("depth_anything_v2_vits", (518, 518), (518, 518)),
        # MiDaS DPT, 384, "minimal" (the side needing the least scaling fits), multiple of 32
        ("midas_dpt_large_384", (301, 457), (256, 384)),
        ("midas_dpt_large_384", (700, 300), (896, 384)),
        # MiDaS small, 256, upper_bound: the long side stays <= 256
        ("midas_v21_small_256", (700, 300), (256, 96)),
        ("midas_v21_small_256", (301, 457), (160, 256)),
        ("midas_v21_small_256", (5, 900), (32, 256)),  # never below one multiple (the official code would give 0)
    ],
)
def test_network_sizes_follow_the_official_resize_rules(name, size, expected):
    assert _target_size(*size, ARCHITECTURES[name], ARCHITECTURES[name].input_size) == expected


def test_dinov2_position_embedding_keeps_the_training_grid_and_interpolates_others():
    pos = torch.randn(1, 1 + 37 * 37, 8)
    assert dinov2_pos_embed(pos, 518, 518, 14) is pos
    resized = dinov2_pos_embed(pos, 518, 784, 14)
    assert resized.shape == (1, 1 + 37 * 56, 8) and torch.equal(resized[:, 0], pos[:, 0])
    # the official scale factors (grid + 0.1) / 37: a same-size grid of a non-square input is resampled, not copied
    yy, xx = torch.meshgrid(torch.arange(37.0), torch.arange(37.0), indexing="ij")
    smooth = torch.cat((torch.zeros(1, 1, 2), torch.stack((torch.sin(yy / 6), torch.cos(xx / 6)), -1).reshape(1, -1, 2)), dim=1)
    almost = dinov2_pos_embed(smooth, 518, 524, 14)
    assert almost.shape == smooth.shape and not torch.equal(almost, smooth)
    assert torch.allclose(almost, smooth, atol=0.05)  # a resampling of the same field, shifted by under a cell


@pytest.fixture(scope="module")
def estimators():
    out = {}
    for name in ("depth_anything_v2_vits", "midas_v21_small_256"):
        model, arch = model_from_state_dict(random_depth_checkpoint(name))
        out[name] = DepthEstimator(model, arch, input_size=ARCHITECTURES[name].multiple_of * 4)  # small: fast on the CPU
    return out


def _images(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["depth_anything_v2_vits", "midas_v21_small_256"])
def test_output_is_the_input_size_for_odd_sizes(estimators, name):
    for size in ((37, 53), (101, 29), (1, 1), (64, 64)):
        with torch.no_grad():
            out = estimators[name](_images(1, *size))
        assert out.shape == (1, 1, *size) and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["depth_anything_v2_vits", "midas_v21_small_256"])
def test_batch_independent_and_deterministic(estimators, name):
    images = _images(3, 45, 61)
    with torch.no_grad():
        together = estimators[name](images)
        alone = torch.cat([estimators[name](images[i : i + 1]) for i in range(3)])
        again = estimators[name](images)
    assert torch.allclose(together, alone, atol=1e-5, rtol=1e-5)
    assert torch.equal(together, again)
    assert not torch.allclose(together[0], together[1])  # different images, different depth


@pytest.mark.parametrize("name", ["depth_anything_v2_vits", "midas_v21_small_256"])
def test_finite_non_negative_and_not_squashed_on_flat_and_black_images(estimators, name):
    with torch.no_grad():
        flat = estimators[name](torch.full((1, 40, 40, 3), 0.5))
        black = estimators[name](torch.zeros(1, 40, 40, 3))
        white = estimators[name](torch.ones(1, 40, 40, 3))
    for out in (flat, black, white):
        assert torch.isfinite(out).all() and float(out.min()) >= 0
    # a min-max squash would map every flat image to the same constant (or NaN); raw outputs differ
    assert not torch.allclose(black, white)


def test_gradients_reach_the_images(estimators):
    images = _images(1, 32, 48).requires_grad_(True)
    estimators["midas_v21_small_256"](images).mean().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and float(images.grad.abs().sum()) > 0


def test_estimate_depth_batches_reports_progress_and_stops_on_interrupt(estimators):
    estimator = estimators["midas_v21_small_256"]
    images = _images(5, 33, 47)
    seen = []
    with torch.no_grad():
        out = estimate_depth(estimator, images, batch_size=2, progress=lambda done, total: seen.append((done, total)))
        direct = estimator(images)
    assert seen == [(2, 5), (4, 5), (5, 5)] and torch.allclose(out, direct, atol=1e-5)

    class Stop(Exception):
        pass

    calls = []

    def interrupt():
        calls.append(1)
        if len(calls) == 2:
            raise Stop

    with pytest.raises(Stop), torch.no_grad():
        estimate_depth(estimator, images, batch_size=2, check_interrupt=interrupt)


def test_bad_images_and_batch_sizes_are_refused(estimators):
    estimator = estimators["midas_v21_small_256"]
    with pytest.raises(ValueError, match=r"^images must be an IMAGE \[B, H, W, C\] with C = 1 or 3, got a torch.float32 tensor of shape \(2, 3, 8, 8\)"):
        estimator(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="^batch_size must be >= 1, got 0$"):
        estimate_depth(estimator, _images(1, 8, 8), batch_size=0)
    with pytest.raises(ValueError, match=r"^images must hold at least one image of at least 1x1 pixels, got shape \(0, 8, 8, 3\)$"):
        estimate_depth(estimator, torch.zeros(0, 8, 8, 3))


def test_state_dicts_are_checked_by_name():
    arch = ARCHITECTURES["depth_anything_v2_vits"]
    cases = [
        (lambda: detect_architecture(None), TypeError, r"^state must be a state dict \(a mapping of names to tensors\), got NoneType None$"),
        (lambda: detect_architecture([("a.weight", torch.zeros(1))]), TypeError, r"^state must be a state dict \(a mapping of names to tensors\), got a list of length 1$"),
        (lambda: detect_architecture({}), ValueError, r"^state must hold tensors, got an empty mapping$"),
        (lambda: detect_architecture({"a.weight": 1.0}), TypeError, r"^state\['a\.weight'\] must be a tensor, got float 1\.0$"),
        (lambda: convert_state_dict({3: torch.zeros(1)}, arch), TypeError, r"^state must have string names, got int 3$"),
        (lambda: model_from_state_dict("weights.pth"), TypeError, r"^state must be a state dict \(a mapping of names to tensors\), got str 'weights\.pth'$"),
        (lambda: detect_architecture({"fc.weight": torch.zeros(2, 2)}), CheckpointError, r"^state dict: not a supported depth model \(Depth Anything V2"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


@pytest.fixture(scope="module")
def midas_small_state():
    return random_depth_checkpoint("midas_v21_small_256")


def test_model_from_state_dict_refuses_what_does_not_fit_it(midas_small_state):
    state = midas_small_state
    last = "scratch.output_conv.4.weight"
    poisoned = state[last].clone()
    poisoned.view(-1)[7] = float("nan")
    cases = [
        (dict(state=dict(state, **{last: torch.zeros(2, 32, 1, 1)})), CheckpointError,
         r"^state dict: holds MiDaS v2\.1 small 256 but does not fit it: missing \[\], unexpected \[\], of another shape: scratch\.output_conv\.4\.weight \(2, 32, 1, 1\) where the model has \(1, 32, 1, 1\)$"),
        (dict(state=dict(state, **{last: torch.zeros(1, 32, 1, 1, dtype=torch.int64)})), CheckpointError,
         r"^state dict: holds MiDaS v2\.1 small 256 but does not fit it: missing \[\], unexpected \[\], not floating point: scratch\.output_conv\.4\.weight \(torch\.int64\)$"),
        (dict(state=dict(state, **{last: poisoned})), CheckpointError, r"^state dict: the weight scratch\.output_conv\.4\.weight holds 1 NaN/Inf value\(s\)"),
        (dict(state=state, dtype="fp16"), TypeError, r"^dtype must be a floating-point torch\.dtype \(torch\.float32, torch\.float16, torch\.bfloat16 or torch\.float64\), got str 'fp16'$"),
        (dict(state=state, dtype=torch.int64), TypeError, r"^dtype must be a floating-point torch\.dtype .*, got dtype torch\.int64$"),
        (dict(state=state, device="gpu"), ValueError, r"^device must be a device such as 'cpu', 'cuda' or 'cuda:1', got 'gpu'$"),
    ]
    for arguments, error, message in cases:
        with pytest.raises(error, match=message):
            model_from_state_dict(**arguments)
    model, _ = model_from_state_dict(state, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_architectures_are_checked_by_name():
    arch = ARCHITECTURES["depth_anything_v2_vits"]
    with pytest.raises(TypeError, match=r"^arch must be a DepthArchitecture \(a value of ARCHITECTURES\), got NoneType None$"):
        build_model(None)
    with pytest.raises(TypeError, match=r"^arch must be a DepthArchitecture \(a value of ARCHITECTURES\), got str 'depth_anything_v2_vits'$"):
        build_model("depth_anything_v2_vits")
    with pytest.raises(ValueError, match=r"^arch must be one of ARCHITECTURES \(depth_anything_v2_vits, .*\), got a DepthArchitecture 'depth_anything_v2_vits' that differs from all$"):
        build_model(dataclasses.replace(arch, timm_name="not_a_timm_model"))  # was timm's RuntimeError
    with pytest.raises(TypeError, match=r"^arch must be a DepthArchitecture"):
        convert_state_dict({"a": torch.zeros(1)}, arch.name)


def test_the_estimator_checks_its_network_size_and_images(estimators):
    estimator = estimators["midas_v21_small_256"]
    network, arch = estimator.network, estimator.arch
    with pytest.raises(TypeError, match=r"^network must be the MidasSmall network of MiDaS v2\.1 small 256 \(from model_from_state_dict\), got a Conv2d module$"):
        DepthEstimator(torch.nn.Conv2d(3, 1, 1), arch)
    with pytest.raises(TypeError, match=r"^network must be the MidasSmall network .*, got a DepthAnythingV2 module$"):
        DepthEstimator(estimators["depth_anything_v2_vits"].network, arch)
    with pytest.raises(TypeError, match=r"^input_size must be an int, got float 64\.0$"):
        DepthEstimator(network, arch, input_size=64.0)  # was truncated
    with pytest.raises(ValueError, match=r"^input_size must be >= 32 for MiDaS v2\.1 small 256, got 0$"):
        DepthEstimator(network, arch, input_size=0)  # was taken for the default, 256
    assert DepthEstimator(network, arch).input_size == 256
    images = _images(2, 9, 13)
    nan = images.clone()
    nan[1, 4, 4, 2] = float("nan")
    with pytest.raises(ValueError, match=r"^images must be finite and in \[0, 1\], got 1 NaN/Inf value\(s\) in sample\(s\) \[1\]$"):
        estimator(nan)
    with pytest.raises(ValueError, match=r"^images must lie in \[0, 1\], got values from 0\S* to 2\d\d\S*; clamp"):
        estimator(images * 255)
    with pytest.raises(ValueError, match=r"^images is on the meta device"):
        estimator(images.to("meta"))
    with pytest.raises(TypeError, match=r"^estimator must be a DepthEstimator \(load_depth_estimator\), got a Conv2d module$"):
        estimate_depth(torch.nn.Conv2d(3, 1, 1), images)
    with pytest.raises(TypeError, match=r"^progress must be callable \(or None\), got str 'print'$"):
        estimate_depth(estimator, images, progress="print")
    with pytest.raises(TypeError, match=r"^batch_size must be an int, got float 2\.5$"):
        estimate_depth(estimator, images, batch_size=2.5)


def test_the_loader_checks_its_options_and_file(tmp_path, midas_small_state):
    torch.save(midas_small_state, tmp_path / "midas.pt")
    with pytest.raises(ValueError, match=r"^device must be a device such as 'cpu', 'cuda' or 'cuda:1', got 'gpu'$"):
        load_depth_estimator(tmp_path / "midas.pt", device="gpu")
    with pytest.raises(ValueError, match=rf"^device is 'cuda:{torch.cuda.device_count()}' but this machine has {torch.cuda.device_count()} cuda device\(s\)$"):
        load_depth_estimator(tmp_path / "midas.pt", device=f"cuda:{torch.cuda.device_count()}")
    with pytest.raises(TypeError, match=r"^checkpoint must be a path \(a str or os\.PathLike\), got NoneType None$"):
        load_depth_estimator(None)
    (tmp_path / "folder.pth").mkdir()
    with pytest.raises(CheckpointError, match=r"folder\.pth: not a regular file \(a folder, FIFO or device\)$"):
        load_depth_estimator(tmp_path / "folder.pth")
    poisoned = dict(midas_small_state, **{"scratch.output_conv.4.bias": torch.tensor([float("inf")])})
    torch.save(poisoned, tmp_path / "inf.pt")
    with pytest.raises(CheckpointError, match=r"inf\.pt: the weight scratch\.output_conv\.4\.bias holds 1 NaN/Inf value\(s\)"):
        load_depth_estimator(tmp_path / "inf.pt")
