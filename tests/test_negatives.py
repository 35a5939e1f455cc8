"""Overlay negatives (seed 001's "Where do I get z_overlay?") and the object masks behind them."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from comfy_editloss.edits.masks import edit_mask_from_difference
from comfy_editloss.edits.negatives import fill_from_surroundings, object_masks, overlay_negatives
from comfy_editloss.testing.synthetic import make_edit_scene


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum()) / max(1.0, float((a | b).sum()))


@pytest.mark.parametrize("seed", range(6))
def test_estimated_overlay_matches_the_scene_painted_one(seed):
    """The synthetic scene paints the new object over the old one: the estimate finds the same
    object and builds nearly the same picture, from before, after and a derived edit mask only."""
    scene = make_edit_scene(seed, (128, 128))
    edit = edit_mask_from_difference(scene.before, scene.after)
    old, new = object_masks(scene.before, scene.after, edit)
    painted_new = (scene.overlay - scene.before).abs().amax(-1) > 0.05
    assert _iou(new, painted_new.float()) > 0.9
    overlay = overlay_negatives(scene.before, scene.after, edit)
    region = edit > 0.5
    assert float((overlay - scene.overlay).abs().amax(-1)[region].mean()) < 0.02
    # where the old object still shows in the painted overlay, it shows in the estimate too
    old_visible = (scene.overlay - scene.after).abs().amax(-1) > 0.2
    assert float(((overlay - scene.after).abs().amax(-1) > 0.2)[old_visible].float().mean()) > 0.9


def test_modes_follow_their_formulas_with_given_object_masks():
    g = torch.Generator().manual_seed(0)
    before, after = torch.rand(2, 1, 12, 10, 3, generator=g)
    edit = torch.rand(1, 12, 10, generator=g)
    new, old = (torch.rand(1, 12, 10, generator=g) > 0.5).float().unbind(0)[0][None], (torch.rand(1, 12, 10, generator=g) > 0.5).float()
    got = overlay_negatives(before, after, edit, "new_over_old", new_object_mask=new)
    assert torch.allclose(got, before * (1 - new[..., None]) + after * new[..., None])
    got = overlay_negatives(before, after, edit, "old_over_new", old_object_mask=old)
    assert torch.allclose(got, after * (1 - old[..., None]) + before * old[..., None])
    got = overlay_negatives(before, after, edit, "blend", blend=0.3)
    assert torch.allclose(got, before + 0.3 * edit[..., None] * (after - before))


@given(st.integers(0, 2**16), st.sampled_from(["new_over_old", "old_over_new", "blend"]))
def test_outside_the_edit_region_the_negative_is_the_source_or_target(seed, mode):
    g = torch.Generator().manual_seed(seed)
    before = torch.rand(1, 16, 16, 3, generator=g)
    after = before.clone()
    after[:, 4:12, 4:12] = torch.rand(1, 8, 8, 3, generator=g)
    edit = torch.zeros(1, 16, 16)
    edit[:, 3:13, 3:13] = 1
    overlay = overlay_negatives(before, after, edit, mode)
    outside = edit[0] == 0
    assert torch.equal(overlay[0][outside], before[0][outside])  # before == after there
    assert float(overlay.min()) >= 0 and float(overlay.max()) <= 1


def test_an_all_zero_edit_mask_gives_the_source_back():
    scene = make_edit_scene(1, (64, 64))
    zero = torch.zeros(1, 64, 64)
    for mode in ("new_over_old", "blend"):
        assert torch.equal(overlay_negatives(scene.before, scene.after, zero, mode), scene.before)
    assert torch.equal(overlay_negatives(scene.before, scene.after, zero, "old_over_new"), scene.after)


def test_batch_one_inputs_serve_every_sample_and_gradients_reach_the_images():
    scene = make_edit_scene(2, (48, 48))
    after = scene.after.expand(3, -1, -1, -1).clone().requires_grad_(True)
    edit = edit_mask_from_difference(scene.before, scene.after)
    overlay = overlay_negatives(scene.before, after, edit, "blend")
    assert overlay.shape == (3, 48, 48, 3)
    overlay.sum().backward()
    assert after.grad is not None and float(after.grad.abs().sum()) > 0


def test_fill_keeps_known_pixels_and_fills_holes_smoothly():
    image = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32).clone()
    known = torch.ones(1, 1, 32, 32)
    known[..., 10:20, 10:20] = 0
    holed = image * known
    filled = fill_from_surroundings(holed, known)
    assert torch.equal(filled[known.expand_as(filled) > 0], image[known.expand_as(image) > 0])
    # a linear ramp is filled close to itself
    assert float((filled - image).abs().max()) < 0.08
    assert torch.equal(fill_from_surroundings(image, torch.zeros(1, 1, 32, 32)), torch.zeros_like(image))


def test_bad_inputs_are_named():
    scene = make_edit_scene(0, (32, 32))
    edit = torch.ones(1, 32, 32)
    with pytest.raises(ValueError, match="mode must be one of"):
        overlay_negatives(scene.before, scene.after, edit, "paste")
    with pytest.raises(ValueError, match=r"edit_mask must be a MASK \[B, H, W\] of the images' size \(32, 32\)"):
        overlay_negatives(scene.before, scene.after, torch.ones(1, 16, 16))
    with pytest.raises(ValueError, match=r"edit_mask must lie in \[0, 1\], got values from 2 to 2"):
        overlay_negatives(scene.before, scene.after, edit * 2)
    with pytest.raises(ValueError, match="blend must be <= 1.0"):
        overlay_negatives(scene.before, scene.after, edit, "blend", blend=1.5)
    with pytest.raises(ValueError, match="before and after must have the same size"):
        overlay_negatives(scene.before, scene.after[:, :16], edit)
    with pytest.raises(ValueError, match=r"batches differ \(before 2, after 3"):
        overlay_negatives(scene.before.expand(2, -1, -1, -1), scene.after.expand(3, -1, -1, -1), edit)
    with pytest.raises(ValueError, match=r"after must be an IMAGE \[B, H, W, C\]"):
        overlay_negatives(scene.before, scene.after[0], edit)


def test_gradients_in_float64():
    g = torch.Generator().manual_seed(3)
    before, after = torch.rand(2, 1, 6, 5, 3, generator=g, dtype=torch.float64).unbind(0)
    edit = torch.rand(1, 6, 5, generator=g, dtype=torch.float64)
    new = (torch.rand(1, 6, 5, generator=g) > 0.5).double()
    for mode, kwargs in (("blend", {"blend": 0.4}), ("new_over_old", {"new_object_mask": new})):
        fn = lambda b, a, m: overlay_negatives(b, a, m, mode, **kwargs)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (before.clone().requires_grad_(), after.clone().requires_grad_(), edit.clone().requires_grad_()))
    known = (torch.rand(1, 1, 6, 5, generator=g) > 0.4).double()
    image = torch.rand(1, 3, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: fill_from_surroundings(x, known), (image,))


@pytest.mark.parametrize("mode", ["new_over_old", "old_over_new"])
def test_each_samples_negative_is_independent_of_the_rest_of_the_batch(mode):
    # A small edit region fills from a shallow pyramid, a region covering most of the picture from a
    # deep one: batched together, each must still get its own result.
    scenes = [make_edit_scene(seed, (96, 96)) for seed in (0, 1, 2)]
    before = torch.cat([s.before for s in scenes])
    after = torch.cat([s.after for s in scenes])
    edit = edit_mask_from_difference(before, after)
    edit[1] = 0
    edit[1, 2:94, 3:90] = 1  # the big one
    edit[2] = 0
    edit[2, 40:46, 50:57] = 1  # a tiny one
    batched = overlay_negatives(before, after, edit, mode)
    alone = torch.cat([overlay_negatives(before[i : i + 1], after[i : i + 1], edit[i : i + 1], mode) for i in range(3)])
    assert torch.equal(batched, alone)
    old_b, new_b = object_masks(before, after, edit)
    for i in range(3):
        old_i, new_i = object_masks(before[i : i + 1], after[i : i + 1], edit[i : i + 1])
        assert torch.equal(old_b[i : i + 1], old_i) and torch.equal(new_b[i : i + 1], new_i)


def test_the_fill_of_a_sample_does_not_depend_on_its_batch():
    g = torch.Generator().manual_seed(3)
    image = torch.rand(3, 2, 40, 52, generator=g)
    known = torch.ones(3, 1, 40, 52)
    known[0, :, 10:14, 10:14] = 0
    known[1, :, 2:38, 5:50] = 0  # needs many more levels than sample 0
    batched = fill_from_surroundings(image, known)
    for i in range(3):
        assert torch.equal(batched[i : i + 1], fill_from_surroundings(image[i : i + 1], known[i : i + 1]))
    assert torch.equal(batched[2], image[2])  # nothing unknown: unchanged


def _poked(x: torch.Tensor, value: float) -> torch.Tensor:
    y = x.clone()
    y.view(-1)[y.numel() // 2] = value
    return y


@pytest.mark.parametrize("value,message", [(float("nan"), r"before must be finite and in \[0, 1\], got 1 NaN/Inf value\(s\)"),
                                           (1.5, r"before must lie in \[0, 1\], got values from 0\.\d+ to 1\.5"),
                                           (-0.5, r"before must lie in \[0, 1\], got values from -0\.5 to ")])
def test_images_out_of_the_unit_range_or_nan_are_refused_by_name(value, message):
    scene = make_edit_scene(0, (16, 16))
    before = _poked(scene.before, value)
    edit = torch.ones(1, 16, 16)
    for call in (lambda: edit_mask_from_difference(before, scene.after), lambda: object_masks(before, scene.after, edit),
                 lambda: overlay_negatives(before, scene.after, edit, "blend")):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("value", [2.5, 2.0, True])
def test_pixel_radii_must_be_ints_not_rounded(value):
    scene = make_edit_scene(0, (16, 16))
    with pytest.raises(TypeError, match=rf"^grow must be an int, got {type(value).__name__} {value!r}$"):
        edit_mask_from_difference(scene.before, scene.after, grow=value)
    with pytest.raises(TypeError, match=rf"^clean must be an int, got {type(value).__name__} {value!r}$"):
        object_masks(scene.before, scene.after, torch.ones(1, 16, 16), clean=value)


def test_meta_and_empty_inputs_are_errors_by_name():
    scene = make_edit_scene(0, (16, 16))
    edit = torch.ones(1, 16, 16)
    with pytest.raises(ValueError, match=r"^after is on the meta device"):
        edit_mask_from_difference(scene.before, scene.after.to("meta"))
    with pytest.raises(ValueError, match=r"^edit_mask is on the meta device"):
        overlay_negatives(scene.before, scene.after, edit.to("meta"))
    with pytest.raises(ValueError, match=r"^new_object_mask is on the meta device"):
        overlay_negatives(scene.before, scene.after, edit, new_object_mask=edit.to("meta"))
    with pytest.raises(ValueError, match=r"^edit_mask must hold at least one mask, got batch size 0"):
        object_masks(scene.before, scene.after, edit[:0])
    with pytest.raises(ValueError, match=r"^before must hold at least one image of at least 1x1 pixels, got shape \(0, 16, 16, 3\)"):
        overlay_negatives(scene.before[:0], scene.after, edit)


@pytest.mark.parametrize("mode", ["new_over_old", "old_over_new", "blend"])
def test_every_given_option_is_checked_whatever_the_mode(mode):
    scene = make_edit_scene(0, (16, 16))
    edit = torch.ones(1, 16, 16)
    for name in ("new_object_mask", "old_object_mask"):
        with pytest.raises(ValueError, match=rf"^{name} must be finite and in \[0, 1\], got 1 NaN/Inf value\(s\) in sample\(s\) \[0\]$"):
            overlay_negatives(scene.before, scene.after, edit, mode, **{name: _poked(edit, float("nan"))})
    with pytest.raises(ValueError, match=r"^threshold must be >= 0.0, got -1.0$"):
        overlay_negatives(scene.before, scene.after, edit, mode, new_object_mask=edit, old_object_mask=edit, threshold=-1.0)


def test_fill_checks_its_inputs_by_name():
    image, known = torch.rand(2, 3, 6, 5), torch.ones(2, 1, 6, 5)
    with pytest.raises(ValueError, match=r"^known must have shape \[B, 1, H, W\] = \(2, 1, 6, 5\) for an image of shape \(2, 3, 6, 5\), got \(1, 1, 6, 5\)$"):
        fill_from_surroundings(image, known[:1])
    with pytest.raises(ValueError, match=r"^image must be finite, got 1 NaN/Inf value\(s\)$"):
        fill_from_surroundings(_poked(image, float("inf")), known)
    with pytest.raises(ValueError, match=r"^known must lie in \[0, 1\], got values from 2 to 2$"):
        fill_from_surroundings(image, known * 2)
    with pytest.raises(TypeError, match=r"^image must be a torch.Tensor, got a list of length 2$"):
        fill_from_surroundings(image.tolist(), known)
    # A bool mask of the known pixels is read as 0/1.
    holes = torch.rand(2, 1, 6, 5, generator=torch.Generator().manual_seed(0)) > 0.3
    assert torch.equal(fill_from_surroundings(image, holes), fill_from_surroundings(image, holes.float()))


def test_half_precision_fill_has_the_float64_values_and_gradients():
    g = torch.Generator().manual_seed(5)
    known = torch.ones(1, 1, 40, 36)
    known[..., 4:36, 3:33] = 0  # a big hole: the pyramid's weights get small
    image = torch.rand(1, 3, 40, 36, generator=g).half()
    half = image.clone().requires_grad_(True)
    exact = image.double().requires_grad_(True)
    filled, reference = fill_from_surroundings(half, known.half()), fill_from_surroundings(exact, known.double())
    assert filled.dtype == torch.float16
    assert torch.allclose(filled.double(), reference, atol=2e-3)
    filled.float().pow(2).sum().backward()
    reference.pow(2).sum().backward()
    assert bool(torch.isfinite(half.grad).all())
    assert torch.allclose(half.grad.double(), exact.grad, rtol=2e-2, atol=2e-2)
