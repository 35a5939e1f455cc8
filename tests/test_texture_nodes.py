"""The texture nodes (loaded as ComfyUI loads the pack): ComfyUI layouts in, the library's values out,
pictures as IMAGEs, errors that name the input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comfy_editloss import losses as L
from comfy_editloss.report.plot import PREDICTION, TARGET
from comfy_editloss.testing.synthetic import colour_texture, make_texture

SIZE = (96, 128)


def comfy_image(kind: str, period: float, angle: float = 0.0, seed: int = 0) -> torch.Tensor:
    return colour_texture(make_texture(kind, period, angle, size=SIZE, noise=0.03, seed=seed), (0.3, 0.2, 0.1), (0.9, 0.8, 0.6))


@pytest.fixture(scope="module")
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def inputs():
    generated = torch.cat([comfy_image("grid", 12, seed=1), comfy_image("grid", 18, seed=2)])  # [2, H, W, 3]
    target = comfy_image("grid", 14)  # batch 1: used for both generations
    mask = torch.zeros(SIZE)
    mask[8:88, 10:120] = 1.0  # [H, W]
    return generated, target, mask


def library(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def widgets(cls) -> dict:
    return {name: spec[1]["default"] for name, spec in cls.INPUT_TYPES()["required"].items() if spec[0] in ("INT", "FLOAT")}


def test_loss_nodes_equal_the_library_with_a_batch_one_target_and_a_single_mask(nodes, inputs):
    generated, target, mask = inputs
    pred, ref = library(generated), library(target).expand(2, -1, -1, -1)
    m = mask.expand(2, 1, *SIZE)
    cases = {
        "EditLossSpectralPeriod": L.spectral_period_loss(pred, ref, m, reduction="none"),
        "EditLossLogPolarAlign": L.log_polar_align_loss(pred, ref, m, reduction="none"),
        "EditLossACFPeriod": L.acf_period_loss(pred, ref, m, reduction="none"),
    }
    for node_id, expected in cases.items():
        cls = nodes[node_id]
        loss, scores = getattr(cls(), cls.FUNCTION)(generated, target, mask=mask, **widgets(cls))
        assert torch.allclose(scores.values, expected, atol=1e-6), node_id
        assert loss == pytest.approx(float(expected.mean()), rel=1e-5)
        assert scores.lower_is_better and len(scores) == 2
    cls = nodes["EditLossScaleConsistency"]
    _, scores = cls().compute(generated, target, mask=mask[None], **widgets(cls))
    assert torch.allclose(scores.values, L.scale_consistency_loss(pred, ref, m, reduction="none"), atol=1e-6)


def test_the_spectral_node_takes_the_band_centre_in_pixels(nodes, inputs):
    generated, target, _ = inputs
    node, options = nodes["EditLossSpectralPeriod"](), widgets(nodes["EditLossSpectralPeriod"])
    _, scores = node.compute(generated, target, **{**options, "w_peak": 0.0}, center_period_px=40.0)
    expected = L.spectral_period_loss(library(generated), library(target).expand(2, -1, -1, -1), None, [0.05, 0.05], w_peak=0.0, reduction="none")
    assert torch.allclose(scores.values, expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"^center_period_px must be 0 \(use the target's\) or at least 2 px \(Nyquist\), got 1\.5$"):
        node.compute(generated, target, **options, center_period_px=1.5)


@pytest.mark.parametrize("node_id", ["EditLossSpectralPeriod", "EditLossSpectrumPlot"])
@pytest.mark.parametrize(
    "period,kind,message",
    [
        (1.5, ValueError, r"^center_period_px must be 0 \(use the target's\) or at least 2 px \(Nyquist\), got 1\.5$"),
        (0.5, ValueError, r"^center_period_px must be 0 \(use the target's\) or at least 2 px \(Nyquist\), got 0\.5$"),
        (-4.0, ValueError, r"^center_period_px must be >= 0\.0, got -4\.0$"),
        (float("nan"), ValueError, r"^center_period_px must be finite, got nan$"),
        ("40", TypeError, r"^center_period_px must be a real number, got str '40'$"),
    ],
)
def test_the_loss_and_its_picture_refuse_the_same_band_centres(nodes, inputs, node_id, period, kind, message):
    generated, target, _ = inputs
    cls = nodes[node_id]
    with pytest.raises(kind, match=message):
        getattr(cls(), cls.FUNCTION)(generated, target, **widgets(cls), center_period_px=period)


def test_the_spectrum_picture_draws_the_band_where_the_loss_puts_it(nodes, inputs):
    generated, target, _ = inputs
    cls = nodes["EditLossSpectrumPlot"]
    (targets_own,) = cls().draw(generated, target, **widgets(cls))
    (default,) = cls().draw(generated, target, **widgets(cls), center_period_px=0.0)
    (moved,) = cls().draw(generated, target, **widgets(cls), center_period_px=40.0)
    assert torch.equal(targets_own, default) and (moved - default).abs().sum() > 100


def test_the_period_node_reports_period_and_orientation_in_comfyui_layout(nodes):
    # Horizontal stripes repeat vertically: orientation 90 degrees in the IMAGE layout [B, H, W, 3].
    image = torch.cat([comfy_image("stripes", 16, 90), comfy_image("stripes", 10, 0)])
    cls = nodes["EditLossTexturePeriod"]
    period, orientation, report = cls().measure(image, **widgets(cls))
    assert period == pytest.approx(16, rel=0.02) and orientation == pytest.approx(90, abs=1)
    lines = report.splitlines()
    assert len(lines) == 2 and lines[0].startswith("image 0: period 16.") and "orientation 90.0 deg" in lines[0]
    assert lines[1].startswith("image 1: period 10.0") or lines[1].startswith("image 1: period 9.9")


def _has_colour(picture: np.ndarray, colour: tuple[int, int, int]) -> bool:
    target = np.array(colour) / 255.0
    return bool((np.abs(picture - target).max(axis=-1) < 0.02).any())


def test_picture_nodes_draw_one_row_per_generation_with_both_curves(nodes, inputs):
    generated, target, mask = inputs
    for node_id, size in (("EditLossSpectrumPlot", (360, 640)), ("EditLossACFPlot", (360, 640)), ("EditLossLogPolarPlot", None)):
        cls = nodes[node_id]
        (picture,) = cls().draw(generated, target, mask=mask, **widgets(cls))
        assert picture.dtype == torch.float32 and picture.dim() == 4 and picture.shape[0] == 2 and picture.shape[-1] == 3, node_id
        assert float(picture.min()) >= 0 and float(picture.max()) <= 1
        if size:
            assert tuple(picture.shape[1:3]) == size
            for row in picture.numpy():
                assert _has_colour(row, TARGET) and _has_colour(row, PREDICTION), node_id
        # The two generations differ, so do their pictures.
        assert not torch.equal(picture[0], picture[1])


def test_pictures_differ_when_only_the_scale_does(nodes):
    cls = nodes["EditLossSpectrumPlot"]
    same = comfy_image("bricks", 16, seed=3)
    (a,) = cls().draw(same, comfy_image("bricks", 16), **widgets(cls))
    (b,) = cls().draw(comfy_image("bricks", 24, seed=3), comfy_image("bricks", 16), **widgets(cls))
    assert (a - b).abs().sum() > 100


@pytest.mark.parametrize(
    "node_id,call,message",
    [
        ("EditLossSpectralPeriod", lambda n, g, t, m: n.compute(g, t[:, :64], **widgets(type(n))), r"^target is 128x64 px but generated is 128x96 px: the spectra are compared bin by bin, so scale one to the other's size first"),
        ("EditLossACFPeriod", lambda n, g, t, m: n.compute(g, t, mask=m[:64], **widgets(type(n))), r"^mask is 128x64 px but the images are 128x96 px: scale the mask \(or the images\) to one size first$"),
        ("EditLossLogPolarAlign", lambda n, g, t, m: n.compute(g, t, mask=m.expand(3, -1, -1), **widgets(type(n))), r"^mask has batch 3 but the images has batch 2"),
        ("EditLossSpectralPeriod", lambda n, g, t, m: n.compute(g, torch.cat([t, t, t]), **widgets(type(n))), r"^target has batch 3 but generated has batch 2"),
        ("EditLossACFPeriod", lambda n, g, t, m: n.compute(g[..., 0], t, **widgets(type(n))), r"^generated must be an IMAGE \[B, H, W, C\] with C = 1, 3 or 4, got a torch.float32 tensor of shape \(2, 96, 128\)"),
        ("EditLossLogPolarAlign", lambda n, g, t, m: n.compute(g, "target.png", **widgets(type(n))), r"^target must be a torch.Tensor, got str 'target\.png'$"),
        ("EditLossACFPeriod", lambda n, g, t, m: n.compute(g, t, mask=torch.zeros_like(m), **widgets(type(n))), r"^mask is all zero for sample\(s\) \[0, 1\]: there is no texture to measure"),
        ("EditLossScaleConsistency", lambda n, g, t, m: n.compute(g, t[:, :64], **widgets(type(n))), r"^generated_2 is 128x64 px but generated_1 is 128x96 px"),
    ],
)
def test_node_errors_name_the_input(nodes, inputs, node_id, call, message):
    generated, target, mask = inputs
    with pytest.raises((ValueError, TypeError), match=message):
        call(nodes[node_id](), generated, target, mask)


def test_defaults_follow_the_seed(nodes):
    required = lambda node: {k: v[1]["default"] for k, v in nodes[node].INPUT_TYPES()["required"].items() if "default" in v[1]}  # noqa: E731
    assert {k: required("EditLossSpectralPeriod")[k] for k in ("r_bins", "tau", "band_sigma", "w_peak", "w_band", "min_bin", "max_bin")} == dict(
        r_bins=256, tau=0.06, band_sigma=0.15, w_peak=1.0, w_band=1.0, min_bin=2, max_bin=0
    )
    assert {k: required("EditLossLogPolarAlign")[k] for k in ("out_r", "out_t", "r_min", "w")} == dict(out_r=128, out_t=180, r_min=0.01, w=1.0)
    assert {k: required("EditLossACFPeriod")[k] for k in ("r_bins", "tau", "min_rel", "max_rel", "w")} == dict(r_bins=256, tau=0.08, min_rel=0.03, max_rel=0.6, w=1.0)
    assert {k: required("EditLossScaleConsistency")[k] for k in ("r_bins", "tau", "min_bin", "max_bin", "w")} == dict(r_bins=256, tau=0.06, min_bin=2, max_bin=0, w=1.0)
