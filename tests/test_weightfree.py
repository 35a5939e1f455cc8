"""The weight-free encoders: shapes, gradients, shift tolerance, and the ranking they give the task
losses on generated edit scenes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from comfy_editloss.encoders import gradient_embedding, pixel_embedding, weight_free_embedding
from comfy_editloss.losses import loss_geometry_match, loss_no_edit_identity, loss_overlay_avoidance
from comfy_editloss.testing.synthetic import make_edit_scene, shift_image


@pytest.mark.parametrize("size", [(64, 64), (37, 91), (128, 96), (8, 8)])
@pytest.mark.parametrize("kind,dim", [("gradient", 27), ("pixel", 12), ("gradient+pixel", 39)])
def test_shapes_for_any_size(size, kind, dim):
    images = torch.rand(2, *size, 3)
    out = weight_free_embedding(images, kind, patch_size=16)
    assert out.shape == (2, max(1, round(size[0] / 16)), max(1, round(size[1] / 16)), dim)
    assert torch.isfinite(out).all()


def test_grey_images_and_flat_images():
    assert gradient_embedding(torch.rand(1, 32, 32, 1)).shape == (1, 2, 2, 27)
    flat = gradient_embedding(torch.full((1, 32, 32, 3), 0.5))
    assert torch.isfinite(flat).all() and flat.abs().max() == 0


def test_gradient_features_ignore_colour_and_brightness_pixel_features_do_not():
    scene = make_edit_scene(3, (96, 96))
    image = scene.after
    recoloured = image[..., [2, 0, 1]]
    assert torch.allclose(gradient_embedding(image), gradient_embedding(image * 0.5), atol=0.05)
    assert (pixel_embedding(image) - pixel_embedding(recoloured)).abs().max() > 0.1


def test_gradcheck_float64():
    images = torch.rand(1, 12, 10, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: gradient_embedding(x, patch_size=4, scales=2), (images,), eps=1e-6, atol=1e-4)
    assert torch.autograd.gradcheck(lambda x: pixel_embedding(x, patch_size=4), (images,), eps=1e-6, atol=1e-6)


def test_gradients_flow_from_the_losses_to_the_image():
    scene = make_edit_scene(1, (64, 64))
    prediction = scene.overlay.clone().requires_grad_()
    z_pred = weight_free_embedding(prediction)
    loss = loss_geometry_match(z_pred, weight_free_embedding(scene.after)) + loss_no_edit_identity(
        z_pred, weight_free_embedding(scene.after), weight_free_embedding(scene.before), margin=1.0
    )
    loss.backward()
    assert prediction.grad is not None and prediction.grad.abs().sum() > 0 and torch.isfinite(prediction.grad).all()


def test_small_shifts_cost_less_than_a_changed_shape():
    scene = make_edit_scene(5, (128, 128))
    target = gradient_embedding(scene.after)
    shifted = gradient_embedding(shift_image(scene.after[0], 2, -2)[None])
    assert loss_geometry_match(shifted, target) < 0.25 * loss_geometry_match(gradient_embedding(scene.distorted), target)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"^images must be an IMAGE \[B, H, W, C\] with C = 1 or 3, got a torch.float32 tensor of shape \(2, 3, 32, 32\)"):
        weight_free_embedding(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"^kind must be one of 'gradient', 'pixel', 'gradient\+pixel', got 'hog'$"):
        weight_free_embedding(torch.rand(1, 8, 8, 3), "hog")
    with pytest.raises(ValueError, match=r"^patch_size must be >= 1"):
        gradient_embedding(torch.rand(1, 8, 8, 3), patch_size=0)


def scene_scores(seed: int, size=(128, 128), use_mask=True):
    """The three task losses (seed 001's mix 1.0/0.5/0.7) of every candidate of one scene."""
    scene = make_edit_scene(seed, size)
    z_gt, z_src, z_ov = (weight_free_embedding(x) for x in (scene.after, scene.before, scene.overlay))
    mask = F.adaptive_avg_pool2d(scene.edit_mask[:, None], z_gt.shape[1:3])[:, 0] if use_mask else None
    totals = {}
    for name, image in scene.images().items():
        z = weight_free_embedding(image)
        identity = loss_no_edit_identity(z, z_gt, z_src, mask=mask)
        geometry = loss_geometry_match(z, z_gt, mask=mask)
        overlay = loss_overlay_avoidance(z, z_gt, z_ov, mask=mask)
        totals[name] = float(1.0 * identity + 0.5 * geometry + 0.7 * overlay)
    return totals


def test_task_losses_rank_correct_overlay_no_edit_and_tolerate_a_shift():
    """Issue figure (measured on 200 scenes by benchmarks/bench_weight_free_ranking.py): at least 95%
    of scenes rank ground truth < overlay < no edit, and the 2-pixel-shifted ground truth beats the
    distorted object, the overlay and no edit. Here on 40 scenes, with the edit region as mask."""
    ranked = shifted_ok = 0
    for seed in range(1000, 1040):
        s = scene_scores(seed)
        ranked += s["after"] < s["overlay"] < s["no_edit"]
        shifted_ok += s["shifted"] < min(s["distorted"], s["overlay"], s["no_edit"])
    assert ranked >= 38 and shifted_ok >= 38, (ranked, shifted_ok)


def test_edit_mask_from_difference():
    from comfy_editloss.edits.masks import edit_mask_from_difference

    scene = make_edit_scene(2, (96, 96))
    mask = edit_mask_from_difference(scene.before, scene.after, threshold=0.08, clean=1, grow=0)
    changed = ((scene.after - scene.before).abs().amax(-1) > 0.08).float()
    assert mask.shape == (1, 96, 96) and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert (mask * changed).sum() >= 0.95 * changed.sum()  # nearly all changed pixels survive the cleaning
    grown = edit_mask_from_difference(scene.before, scene.after, grow=6)
    assert grown.sum() > mask.sum() and torch.all(grown >= mask)
    noisy = scene.before + (torch.rand_like(scene.before) - 0.5) * 0.1
    speck = noisy.clone()
    speck[0, 10, 10] = 1 - speck[0, 10, 10]  # one pixel changed: not an edit
    assert edit_mask_from_difference(noisy, speck, threshold=0.2, clean=1, grow=0).sum() == 0
    batch = edit_mask_from_difference(scene.before, torch.cat([scene.after, scene.before]), grow=0)
    assert batch.shape == (2, 96, 96) and batch[1].sum() == 0
    with pytest.raises(ValueError, match=r"^before and after must have the same size and channels, got \(96, 96, 3\) and \(48, 96, 3\)$"):
        edit_mask_from_difference(scene.before, scene.after[:, :48])


def test_half_precision_is_computed_in_float32():
    """float16 images give the float64 result of the same (half-rounded) values within half precision's
    tolerance; in float16 arithmetic the gradient energies fall below the epsilon that float16 can hold
    and the descriptor came out 6-7% off."""
    images = torch.rand(2, 9, 11, 3, generator=torch.Generator().manual_seed(0)).half()
    for function in (gradient_embedding, pixel_embedding, weight_free_embedding):
        half = function(images, patch_size=4)
        reference = function(images.double(), patch_size=4)
        error = float(((half.double() - reference).abs() / (2e-3 + 2e-2 * reference.abs())).max())
        print(f"{function.__name__}: float16's largest error is {error:.3g} times the half-precision tolerance (2e-3 + 2% of the value)")
        assert half.dtype == torch.float16 and error <= 1


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x: gradient_embedding(x.where(x > 0.1, torch.nan)), ValueError, r"^images must be finite and in \[0, 1\], got \d+ NaN/Inf value\(s\) in sample\(s\) \[0, 1\]$"),
        (lambda x: pixel_embedding(x * 255), ValueError, r"^images must lie in \[0, 1\], got values from 0\S* to 2\d\d\S*; clamp a decoded image, or divide a 0-255 one by 255$"),
        (lambda x: weight_free_embedding(x * 2 - 1), ValueError, r"^images must lie in \[0, 1\], got values from -0\.\d+ to 0\.\d+; clamp"),
        (lambda x: gradient_embedding(x.to("meta")), ValueError, r"^images is on the meta device"),
        (lambda x: gradient_embedding(x, patch_size=2.5), TypeError, r"^patch_size must be an int, got float 2\.5$"),
        (lambda x: gradient_embedding(x, bins=4.0), TypeError, r"^bins must be an int, got float 4\.0$"),
        (lambda x: gradient_embedding(x, scales=True), TypeError, r"^scales must be an int, got bool True$"),
        (lambda x: gradient_embedding(x, shift_tolerance=1.5), TypeError, r"^shift_tolerance must be an int, got float 1\.5$"),
        (lambda x: pixel_embedding(x, sub=2.5), TypeError, r"^sub must be an int, got float 2\.5$"),
        (lambda x: pixel_embedding(x, blur=1.0), TypeError, r"^blur must be an int, got float 1\.0$"),
        (lambda x: weight_free_embedding(x, patch_size=16.0), TypeError, r"^patch_size must be an int, got float 16\.0$"),
    ],
    ids=["nan", "0-255", "minus-one-to-one", "meta", "patch_size-2.5", "bins-4.0", "scales-True", "shift-1.5", "sub-2.5", "blur-1.0", "patch_size-16.0"],
)
def test_images_and_integer_options_are_checked_not_truncated(call, error, message):
    with pytest.raises(error, match=message):
        call(torch.rand(2, 16, 16, 3, generator=torch.Generator().manual_seed(1)))
