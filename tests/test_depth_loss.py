"""Depth consistency (seed 004): equality with the seed's code, NaN handling, the options that fix
the seed's weaknesses, gradients, errors, properties, and the scale-and-shift alignment."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import seed004_depth_reference as seed
from comfy_editloss import losses as L

TERMS = ("total", "inside", "outside", "edge")


def _maps(shape, seed_value=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed_value)
    pred = torch.rand(*shape, generator=g, dtype=dtype) * 3
    target = torch.rand(*shape, generator=g, dtype=dtype) * 3
    mask = (torch.rand(*shape, generator=g, dtype=dtype) > 0.6).to(dtype)
    conf = torch.rand(*shape, generator=g, dtype=dtype)
    return pred, target, mask, conf


def _scene(batch=2, h=40, w=48, depth=2.0, offset=0.0):
    """A slanted floor with an inserted box: target depth, mask of the box."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h, dtype=torch.float64), torch.linspace(0, 1, w, dtype=torch.float64), indexing="ij")
    floor = 3.0 + 2.0 * yy + 0.2 * torch.sin(7 * xx)
    box = ((yy > 0.3) & (yy < 0.7) & (xx > 0.35) & (xx < 0.7)).to(torch.float64)
    target = floor * (1 - box) + depth * box
    pred = floor * (1 - box) + (depth + offset) * box
    return pred[None, None].repeat(batch, 1, 1, 1), target[None, None].repeat(batch, 1, 1, 1), box[None, None].repeat(batch, 1, 1, 1)


def _equal(ours, reference, tol=1e-6):
    for k in TERMS:
        assert getattr(ours, k).item() == pytest.approx(getattr(reference, k).item(), abs=tol), k


# ---------------------------------------------------------------------------------------------
# The seed's code is the spec
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 1, 20, 24), (3, 20, 24), (20, 24), (1, 1, 17, 9)])
@pytest.mark.parametrize(
    "options",
    [dict(), dict(outside_dilate_r=3, edge_band_r=2, beta=0.5), dict(beta=0.0), dict(outside_dilate_r=0, edge_band_r=0), dict(w_inside=2.0, w_outside=0.1, w_edge=3.0, eps=1e-3)],
)
@pytest.mark.parametrize("with_conf", [False, True])
def test_values_equal_the_seeds_code_on_random_maps(shape, options, with_conf):
    pred, target, mask, conf = _maps(shape)
    extra = dict(conf_pred=conf) if with_conf else {}
    _equal(L.depth_consistency_loss(pred, target, mask, **extra, **options), seed.depth_consistency_loss(pred, target, mask, **extra, **options))


def test_values_equal_the_seeds_code_on_structured_maps_soft_masks_and_batch_one_broadcast():
    pred, target, box = _scene(batch=3, offset=0.7)
    soft = F.avg_pool2d(box[:1], 5, stride=1, padding=2)  # batch 1, soft edges
    for p, t, m in ((pred, target, box), (pred.float(), target[:1].float(), soft.float()), (pred[:, 0], target[:, 0], soft[0])):
        _equal(L.depth_consistency_loss(p, t, m), seed.depth_consistency_loss(p, t, m))


def test_the_seeds_helpers_keep_their_results():
    g = torch.Generator().manual_seed(5)
    grey = torch.rand(2, 1, 13, 11, generator=g)
    binary = (grey > 0.5).float()
    for r in (0, 1, 2, 4):
        assert torch.equal(L.dilate(grey, r), seed.dilate(grey, r))
        assert torch.equal(L.erode(grey, r), seed.erode(grey, r))
        assert torch.equal(L.boundary_band(binary, r), seed.boundary_band(binary, r))
    for a, b in zip(L.depth_gradients(grey), seed.depth_gradients(grey)):
        assert torch.equal(a, b)
    assert L.weighted_smooth_l1(grey, binary, grey, beta=0.3) == seed.weighted_smooth_l1(grey, binary, grey, beta=0.3)


def test_gradients_equal_the_seeds_code_on_finite_maps():
    pred, target, mask, conf = _maps((2, 1, 16, 20), dtype=torch.float64)
    grads = []
    for fn in (L.depth_consistency_loss, seed.depth_consistency_loss):
        p = pred.clone().float().requires_grad_()
        (grad,) = torch.autograd.grad(fn(p, target.float(), mask.float(), conf_pred=conf.float(), edge_band_r=2).total, p)
        grads.append(grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-8)


# ---------------------------------------------------------------------------------------------
# What the seed's code gets wrong, fixed
# ---------------------------------------------------------------------------------------------


def test_nan_and_inf_pixels_are_left_out_of_the_value_and_the_gradient():
    pred, target, mask, _ = _maps((2, 1, 16, 20), seed_value=3)
    broken_pred, broken_target = pred.clone(), target.clone()
    broken_pred[0, 0, 5, 7] = float("nan")
    broken_target[1, 0, 9, 2] = float("inf")
    assert torch.isnan(seed.depth_consistency_loss(broken_pred, broken_target, mask).total)  # the seed's code
    p = broken_pred.clone().requires_grad_()
    terms = L.depth_consistency_loss(p, broken_target, mask)
    (grad,) = torch.autograd.grad(terms.total, p)
    assert all(torch.isfinite(getattr(terms, k)) for k in TERMS) and torch.isfinite(grad).all()
    assert grad[0, 0, 5, 7] == 0 and grad[1, 0, 9, 2] == 0
    # Equal to the same maps with those pixels given zero confidence, and their differences dropped.
    valid = torch.ones_like(pred)
    valid[0, 0, 5, 7] = valid[1, 0, 9, 2] = 0
    clean_pred = torch.where(valid > 0, pred, target)
    reference = seed.depth_consistency_loss(clean_pred, target, mask, conf_pred=valid, edge_band_r=0)
    ours = L.depth_consistency_loss(broken_pred, broken_target, mask, edge_band_r=0)
    for k in ("inside", "outside"):
        assert getattr(ours, k).item() == pytest.approx(getattr(reference, k).item(), abs=1e-6)


def _edge_term_loop(pred, target, band, beta):
    """The edge term by a plain loop over pixels: the SmoothL1 of each forward difference of the
    error, counted where the pixel is in the band and both pixels of the difference are finite
    (the zero-padded last column / row counts its own pixel, with difference 0)."""
    _, _, height, width = pred.shape
    halves = []
    for dy, dx in ((0, 1), (1, 0)):
        total = weight = 0.0
        for y in range(height):
            for x in range(width):
                if band[0, 0, y, x] <= 0:
                    continue
                here = (pred[0, 0, y, x], target[0, 0, y, x])
                if not all(math.isfinite(float(v)) for v in here):
                    continue
                y2, x2 = y + dy, x + dx
                if y2 >= height or x2 >= width:
                    difference = 0.0
                else:
                    there = (pred[0, 0, y2, x2], target[0, 0, y2, x2])
                    if not all(math.isfinite(float(v)) for v in there):
                        continue
                    difference = float((there[0] - there[1]) - (here[0] - here[1]))
                a = abs(difference)
                total += float(band[0, 0, y, x]) * (0.5 * a * a / beta if a < beta else a - 0.5 * beta)
                weight += float(band[0, 0, y, x])
        halves.append(total / weight)
    return 0.5 * (halves[0] + halves[1])


def test_an_invalid_pixel_drops_the_depth_differences_it_takes_part_in():
    pred, target, box = _scene(batch=1, h=20, w=24, offset=0.3)
    pred = pred.clone()
    pred[0, 0, 6, 10] = float("nan")  # on the box's top boundary band
    target = target.clone()
    target[0, 0, 10, 16] = float("inf")  # and one in the target, on the band too
    band = L.boundary_band((box > 0.5).double(), 1)
    assert band[0, 0, 6, 10] > 0 and band[0, 0, 10, 16] > 0
    near = L.depth_consistency_loss(pred, target, box, w_inside=0, w_outside=0)
    assert torch.isfinite(near.total)
    expected = _edge_term_loop(pred, target, band, beta=0.1)
    assert near.edge.item() == pytest.approx(expected, rel=1e-9)
    # Comparing a neighbour with the invalid pixel's stand-in zero error gives another value.
    sanitised = torch.where(torch.isfinite(pred) & torch.isfinite(target), pred - target, torch.zeros_like(pred))
    naive = _edge_term_loop(sanitised, torch.zeros_like(sanitised), band, beta=0.1)
    assert abs(naive - expected) > 0.05 * expected


def test_samples_weighting_averages_per_sample_means_and_skips_empty_regions():
    pred, target, box = _scene(batch=3, offset=0.0)
    pred = pred.clone()
    small = torch.zeros_like(box[0])
    small[0, 10:14, 10:14] = 1
    pred[0] += 1.0 * small  # sample 0: a small region with a big error
    mask = torch.stack([small, box[1], torch.zeros_like(small)])  # sample 1: a large region, no error; 2: empty
    pixels = L.depth_consistency_loss(pred, target, mask)
    samples = L.depth_consistency_loss(pred, target, mask, sample_weighting="samples")
    per = L.depth_consistency_loss(pred, target, mask, reduction="none")
    assert per.inside.shape == (3,) and per.inside[2] == 0 and per.inside[1] == 0
    # The seed pools pixels: sample 0's error is diluted by sample 1's large error-free region.
    area0, area1 = small.sum().item(), box[1].sum().item()
    assert pixels.inside.item() == pytest.approx(per.inside[0].item() * area0 / (area0 + area1), rel=1e-9)
    assert pixels.inside.item() == pytest.approx(seed.depth_consistency_loss(pred, target, mask).inside.item(), rel=1e-6)
    # Per sample: the mean over the two samples that have a region (the empty one is not a 0).
    assert samples.inside.item() == pytest.approx(per.inside[:2].mean().item(), rel=1e-9)
    assert samples.inside.item() > 5 * pixels.inside.item()


def test_per_sample_terms_and_weights():
    pred, target, mask, conf = _maps((3, 1, 12, 14), seed_value=9, dtype=torch.float64)
    per = L.depth_consistency_loss(pred, target, mask, conf_pred=conf, reduction="none")
    for b in range(3):
        one = L.depth_consistency_loss(pred[b : b + 1], target[b : b + 1], mask[b : b + 1], conf_pred=conf[b : b + 1])
        for k in TERMS:
            assert getattr(per, k)[b].item() == pytest.approx(getattr(one, k).item(), rel=1e-12)
    w = torch.tensor([1.0, 0.0, 0.5])
    weighted = L.depth_consistency_loss(pred, target, mask, conf_pred=conf, sample_weighting="samples", weights=w)
    assert weighted.total.item() == pytest.approx((per.total * w).sum().item() / 1.5, rel=1e-12)
    pooled = L.depth_consistency_loss(pred, target, mask, conf_pred=conf * w[:, None, None, None].to(conf))
    assert L.depth_consistency_loss(pred, target, mask, conf_pred=conf, weights=w).total.item() == pytest.approx(pooled.total.item(), rel=1e-12)
    # a batch result carries the per-sample terms of the same pass
    for options in (dict(), dict(sample_weighting="samples"), dict(weights=w), dict(sample_weighting="samples", weights=w)):
        batch = L.depth_consistency_loss(pred, target, mask, conf_pred=conf, **options)
        alone = L.depth_consistency_loss(pred, target, mask, conf_pred=conf, reduction="none", **options)
        assert alone.per_sample is None
        for k in TERMS:
            assert torch.equal(getattr(batch.per_sample, k), getattr(alone, k)), (options, k)


# ---------------------------------------------------------------------------------------------
# Gradients and precision
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [dict(), dict(beta=0.0), dict(edge_band_r=2, outside_dilate_r=2, sample_weighting="samples")])
def test_float64_gradcheck(options):
    pred, target, mask, conf = _maps((2, 1, 7, 9), seed_value=4, dtype=torch.float64)
    target[0, 0, 3, 3] = float("nan")
    pred.requires_grad_()
    target.requires_grad_()
    fn = lambda p, t: L.depth_consistency_loss(p, t, mask, conf_pred=conf, **options).total  # noqa: E731
    assert torch.autograd.gradcheck(fn, (pred, target), eps=1e-7, atol=1e-6)


def test_half_precision_is_computed_in_float32():
    pred, target, mask, _ = _maps((2, 1, 16, 16))
    ours = L.depth_consistency_loss(pred.half(), target.bfloat16(), mask)
    assert ours.total.dtype == torch.float32
    assert ours.total.item() == pytest.approx(L.depth_consistency_loss(pred.half().float(), target.bfloat16().float(), mask).total.item(), rel=1e-6)
    assert L.depth_consistency_loss(pred.double(), target.double(), mask.double()).total.dtype == torch.float64


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

P, M = torch.rand(2, 1, 8, 10), torch.ones(2, 1, 8, 10)


@pytest.mark.parametrize(
    "call,kind,message",
    [
        (lambda: L.depth_consistency_loss(torch.rand(8), P, M), ValueError, r"^d_pred must have shape \[H, W\], \[B, H, W\] or \[B, 1, H, W\], got \(8,\)$"),
        (lambda: L.depth_consistency_loss(torch.rand(2, 3, 8, 10), P, M), ValueError, r"^d_pred must have shape \[H, W\], \[B, H, W\] or \[B, 1, H, W\], got \(2, 3, 8, 10\)$"),
        (lambda: L.depth_consistency_loss(P, torch.rand(2, 1, 8, 11), M), ValueError, r"^d_tgt must be 8x10 \(H x W\) like d_pred, got 8x11 \(shape \(2, 1, 8, 11\)\)$"),
        (lambda: L.depth_consistency_loss(P, P, torch.ones(3, 1, 8, 10)), ValueError, r"^mask has batch 3 but d_pred has batch 2; give one map per sample or batch 1 for all$"),
        (lambda: L.depth_consistency_loss(P, P, M * 2), ValueError, r"^mask must lie in \[0, 1\], got values from 2 to 2$"),
        (lambda: L.depth_consistency_loss(P, P, M, conf_pred=M * float("nan")), ValueError, r"^conf_pred must be finite and in \[0, 1\], got 160 NaN/Inf value\(s\) in sample\(s\) \[0, 1\]$"),
        (lambda: L.depth_consistency_loss(P.long(), P, M), TypeError, r"^d_pred must be a floating-point tensor"),
        (lambda: L.depth_consistency_loss(P, P, M, outside_dilate_r=-1), ValueError, r"^outside_dilate_r must be >= 0, got -1$"),
        (lambda: L.depth_consistency_loss(P, P, M, edge_band_r=1.5), TypeError, r"^edge_band_r must be an int, got float 1\.5$"),
        (lambda: L.depth_consistency_loss(P, P, M, beta=-0.1), ValueError, r"^beta must be >= 0\.0, got -0\.1$"),
        (lambda: L.depth_consistency_loss(P, P, M, sample_weighting="area"), ValueError, r"^sample_weighting must be one of 'pixels', 'samples', got 'area'$"),
        (lambda: L.depth_consistency_loss(P, P, M, reduction="sum"), ValueError, r"^reduction must be one of 'mean', 'none', got 'sum'$"),
        (lambda: L.depth_consistency_loss(P, P.to("meta"), M), ValueError, r"^d_tgt is on the meta device: this computation depends on its values"),
        (lambda: L.depth_consistency_loss(torch.rand(0, 1, 8, 10), P[:0], M[:0]), ValueError, r"^d_pred must hold at least one sample of at least 1x1 pixels, got shape \(0, 1, 8, 10\)$"),
        (lambda: L.depth_consistency_loss(torch.rand(2, 1, 0, 10), P, M), ValueError, r"^d_pred must hold at least one sample of at least 1x1 pixels, got shape \(2, 1, 0, 10\)$"),
        (lambda: L.align_depth(P[:0], P[:0]), ValueError, r"^d_pred must hold at least one sample of at least 1x1 pixels, got shape \(0, 1, 8, 10\)$"),
        (lambda: L.align_depth(P, P, robust="trimmed", iterations=-1), ValueError, r"^iterations must be >= 1, got -1$"),
        (lambda: L.align_depth(P, P, robust="trimmed", iterations=2.5), TypeError, r"^iterations must be an int, got float 2\.5$"),
        (lambda: L.align_depth(P, P, robust="trimmed", iterations=True), TypeError, r"^iterations must be an int, got bool True$"),
        (lambda: L.align_scale_shift(P, P[:1], M), ValueError, r"^target must have the shape of pred \(2, 1, 8, 10\), got \(1, 1, 8, 10\); maps are never broadcast here$"),
        (lambda: L.align_scale_shift(P, P, -M), ValueError, r"^weight must be finite and >= 0"),
        (lambda: L.align_depth(P, P, M), ValueError, r"^no background pixel to fit on for sample\(s\) \[0, 1\]"),
        (lambda: L.align_depth(P, P, robust="huber"), ValueError, r"^robust must be one of 'none', 'trimmed', 'median', got 'huber'$"),
        (lambda: L.depth_to_disparity(P, min_depth=0), ValueError, r"^min_depth must be > 0, got 0\.0$"),
    ],
)
def test_bad_inputs_are_named(call, kind, message):
    with pytest.raises(kind, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@given(scale=st.floats(0.2, 5), shift=st.floats(-3, 3), seed_value=st.integers(0, 50))
def test_identical_maps_cost_nothing_and_the_aligned_loss_ignores_scale_and_shift(scale, shift, seed_value):
    pred, target, box = _scene(batch=2, offset=0.4)
    noise = 0.01 * torch.randn(pred.shape, generator=torch.Generator().manual_seed(seed_value), dtype=pred.dtype)
    pred = pred + noise
    assert L.depth_consistency_loss(target, target.clone(), box).total.item() == 0.0
    base = L.depth_consistency_loss(L.align_depth(pred, target, box).aligned, target, box).total.item()
    moved = L.depth_consistency_loss(L.align_depth(scale * pred + shift, target, box).aligned, target, box).total.item()
    assert moved == pytest.approx(base, rel=1e-7, abs=1e-10)


def test_the_loss_grows_as_the_object_is_pushed_away_and_outside_ignores_the_inside():
    values = []
    for offset in (0.0, 0.05, 0.1, 0.3, 0.6, 1.0, 2.0):
        pred, target, box = _scene(offset=offset)
        values.append(L.depth_consistency_loss(pred, target, box))
    totals = [v.total.item() for v in values]
    assert totals[0] == 0 and all(a < b for a, b in zip(totals, totals[1:])), totals
    # Only the inside changed, and the outside term leaves out the dilated mask: it stays 0.
    assert all(v.outside.item() == 0.0 for v in values)


@given(r=st.integers(1, 3), change=st.floats(-2, 2))
def test_changing_only_the_inside_leaves_the_outside_term_alone(r, change):
    pred, target, box = _scene(offset=0.3)
    base = L.depth_consistency_loss(pred, target, box, outside_dilate_r=r).outside
    changed = L.depth_consistency_loss(pred + change * box, target, box, outside_dilate_r=r).outside
    assert changed.item() == base.item()


# ---------------------------------------------------------------------------------------------
# Alignment
# ---------------------------------------------------------------------------------------------


def _disparity_pair(outliers: float = 0.0, seed_value: int = 0):
    g = torch.Generator().manual_seed(seed_value)
    _, target, box = _scene(batch=2, h=64, w=80)
    target_disp = L.depth_to_disparity(target)
    pred = (target_disp - 0.11) / 2.5  # target = 2.5 * pred + 0.11
    pred = pred + 0.3 * box  # the insertion differs: it must not pull the fit
    if outliers:
        bad = torch.rand(pred.shape, generator=g, dtype=pred.dtype) < outliers
        pred = torch.where(bad, pred + torch.rand(pred.shape, generator=g, dtype=pred.dtype) * 2 - 0.5, pred)
    return pred, target_disp, box


def test_alignment_recovers_a_known_scale_and_shift_on_noiseless_data():
    pred, target, box = _disparity_pair()
    fit = L.align_depth(pred, target, box)
    assert torch.allclose(fit.scale, torch.full((2,), 2.5, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(fit.shift, torch.full((2,), 0.11, dtype=torch.float64), atol=1e-4)
    assert fit.residual.max() < 1e-6 and fit.scale_ok.all()
    outside = (1 - L.dilate(box, 2)) > 0
    assert torch.allclose(fit.aligned[outside], target[outside], atol=1e-8)


def test_the_trimmed_fit_stays_within_2_percent_with_5_percent_outliers():
    pred, target, box = _disparity_pair(outliers=0.05, seed_value=1)
    plain = L.align_depth(pred, target, box)
    median = L.align_depth(pred, target, box, robust="median")
    fit = L.align_depth(pred, target, box, robust="trimmed")
    assert (fit.scale / 2.5 - 1).abs().max() < 0.02 and (fit.shift / 0.11 - 1).abs().max() < 0.02, (fit.scale, fit.shift)
    assert (plain.scale / 2.5 - 1).abs().max() > 0.5  # least squares alone is pulled far off
    assert (median.scale / 2.5 - 1).abs().max() < 0.1  # the medians: robust, rough
    clean = L.align_depth(*_disparity_pair()[:2], box, robust="trimmed")
    assert torch.allclose(clean.scale, torch.full((2,), 2.5, dtype=torch.float64), atol=1e-6)


def test_a_non_positive_scale_is_reported_not_used():
    pred, target, box = _disparity_pair()
    with pytest.warns(RuntimeWarning, match=r"fitted scale is <= 0 for sample\(s\) \[0, 1\].*is one map depth and the other disparity\?"):
        fit = L.align_depth(-pred, target, box)
    assert not fit.scale_ok.any() and (fit.scale < 0).all()
    assert torch.equal(fit.aligned, -pred)


def test_least_squares_alignment_is_differentiable_and_confidence_weighted():
    pred, target, box = _disparity_pair()
    p = pred.clone().requires_grad_()
    fit = L.align_depth(p, target + 0.01 * torch.randn(target.shape, dtype=target.dtype, generator=torch.Generator().manual_seed(2)), box)
    loss = L.depth_consistency_loss(fit.aligned, target, box).total
    (grad,) = torch.autograd.grad(loss, p)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # Zero confidence on a corrupted region: the fit ignores it.
    corrupted = pred.clone()
    corrupted[..., :10, :] += 5
    conf = torch.ones_like(pred)
    conf[..., :10, :] = 0
    fit = L.align_depth(corrupted, target, box, conf=conf)
    assert torch.allclose(fit.scale, torch.full((2,), 2.5, dtype=torch.float64), atol=1e-6)


def test_depth_disparity_conversion_clamps_and_round_trips():
    depth = torch.tensor([0.0, 1e-5, 0.5, 2.0, float("inf"), float("nan")])
    disparity = L.depth_to_disparity(depth, min_depth=1e-3)
    assert disparity[:4].tolist() == pytest.approx([1000.0, 1000.0, 2.0, 0.5])
    assert disparity[4] == 0 and math.isnan(disparity[5])
    assert L.disparity_to_depth(disparity[2:4]).tolist() == pytest.approx([0.5, 2.0])
    assert L.disparity_to_depth(torch.tensor([0.0]), min_disparity=0.01).item() == pytest.approx(100.0)


def test_module_form():
    pred, target, mask, conf = _maps((2, 1, 10, 12))
    module = L.DepthConsistencyLoss(edge_band_r=2)
    value = module(pred, target, mask, conf)
    assert value.item() == L.depth_consistency_loss(pred, target, mask, conf_pred=conf, edge_band_r=2).total.item()
    assert module.terms.inside.item() > 0
    assert "edge_band_r=2" in repr(module)


@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e30, 1e38])
def test_extreme_depth_scales_give_the_float64_value_not_inf(scale):
    pred, target, box = _scene(batch=2, h=20, w=24, offset=0.4)
    ours = L.depth_consistency_loss((pred * scale).float(), (target * scale).float(), box.float())
    expected = L.depth_consistency_loss((pred * scale).float().double(), (target * scale).float().double(), box)
    assert ours.total.dtype == torch.float32 and torch.isfinite(ours.total)
    for k in TERMS:
        assert getattr(ours, k).item() == pytest.approx(getattr(expected, k).item(), rel=1e-5), k
    # The scale-and-shift fit at that scale: the floor, where pred equals target, is recovered.
    alignment = L.align_depth((pred * scale).float(), ((0.5 * target + 0.1) * scale).float(), box.float())
    assert torch.isfinite(alignment.residual).all()
    assert alignment.scale.tolist() == pytest.approx([0.5, 0.5], rel=1e-4)
    assert (alignment.shift / scale).tolist() == pytest.approx([0.1, 0.1], rel=1e-3)
