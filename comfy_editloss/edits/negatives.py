"""Synthetic "overlay" negatives for the overlay-avoidance loss (seed 001, "Where do I get z_overlay?").

A typical failure of an object-replacement LoRA is the new object painted over the old one, which
still shows around it, or a half-transparent mix of both. Seed 001 builds its negative from the
source, the target and the edit mask:

* ``"new_over_old"``: the source with the new object pasted in (the old one shows where the new one
  does not cover it);
* ``"old_over_new"``: the target with the old object pasted back over the new one (the vice-versa);
* ``"blend"``: source and target mixed in the edit region.

Pasting needs the *objects*, not just the edit region (the union of both objects and the uncovered
background). Without object masks from the user, each object is found as the pixels of the edit
region that differ from the background behind them, and that background is estimated by filling the
edit region from the pixels around it (push-pull: averaged down a pyramid until every pixel has a
value, then blended back up).

Images are ComfyUI IMAGEs ``[B, H, W, C]`` in [0, 1], masks ``[B, H, W]``; a batch of 1 on any
input is used for every sample of the others. Everything is differentiable in the images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import (
    all_finite,
    check_choice,
    common_batch,
    check_float_tensor,
    check_has_values,
    check_image,
    check_int,
    check_number,
    check_same_device,
    check_unit_range,
    describe,
)
from .morphology import max_filter, min_filter

OVERLAY_MODES = ("new_over_old", "old_over_new", "blend")

__all__ = ["OVERLAY_MODES", "fill_from_surroundings", "object_masks", "overlay_negatives"]


def _check_mask(mask: object, name: str, size: tuple[int, int]) -> torch.Tensor:
    """A MASK ``[B, H, W]`` (or ``[H, W]``, read as batch 1) of the images' ``size``, in [0, 1]."""
    check_float_tensor(mask, name)
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dim() != 3 or tuple(mask.shape[1:]) != tuple(size):
        raise ValueError(f"{name} must be a MASK [B, H, W] of the images' size {tuple(size)}, got {describe(mask)}")
    if mask.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one mask, got batch size 0 (shape {tuple(mask.shape)})")
    check_has_values(mask, name)
    check_unit_range(mask, name)
    return mask


def _check_scene(before: object, after: object, edit_mask: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The source and target IMAGEs (one size and channels) and the edit MASK of their size."""
    before, after = check_image(before, "before"), check_image(after, "after")
    if before.shape[1:] != after.shape[1:]:
        raise ValueError(f"before and after must have the same size and channels, got {tuple(before.shape[1:])} and {tuple(after.shape[1:])}")
    edit_mask = _check_mask(edit_mask, "edit_mask", tuple(before.shape[1:3]))
    check_same_device((("before", before), ("after", after), ("edit_mask", edit_mask)))
    return before, after, edit_mask


def _expand(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    return tensor if tensor.shape[0] == batch else tensor.expand(batch, *tensor.shape[1:])


def fill_from_surroundings(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill the pixels where ``known`` is 0 from the pixels around them (push-pull).

    Args:
        image: ``[B, C, H, W]``, finite.
        known: ``[B, 1, H, W]`` in [0, 1] (or bool), 1 where the image's value is kept.

    Known pixels are returned unchanged; unknown ones get a smooth interpolation of the known pixels
    nearest to them. A sample with no known pixel at all gets zeros. Half-precision images are
    filled in float32 (the pyramid's small weights underflow float16) and returned in their dtype.
    """
    check_float_tensor(image, "image")
    if image.dim() != 4 or image.numel() == 0:
        raise ValueError(f"image must be [B, C, H, W] with no empty dim, got {describe(image)}")
    if not isinstance(known, torch.Tensor) or not (known.dtype == torch.bool or known.is_floating_point()):
        raise TypeError(f"known must be a floating-point or bool tensor [B, 1, H, W], got {describe(known)}")
    expected = (image.shape[0], 1, *image.shape[2:])
    if tuple(known.shape) != expected:
        raise ValueError(f"known must have shape [B, 1, H, W] = {expected} for an image of shape {tuple(image.shape)}, got {tuple(known.shape)}")
    check_same_device((("image", image), ("known", known)))
    check_has_values(image, "image")
    check_has_values(known, "known")
    if not bool(all_finite(image)):
        raise ValueError(f"image must be finite, got {int((~torch.isfinite(image.detach())).sum())} NaN/Inf value(s)")
    if known.dtype != torch.bool:
        check_unit_range(known, "known")
    compute = torch.promote_types(image.dtype, torch.float32)
    return _push_pull(image.to(compute), known.to(compute)).to(image.dtype)


def _push_pull(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    values, weights = image * known, known
    levels = [(values, weights)]
    # Each sample stops at the first level where all its pixels are known (or the image is one
    # pixel), so that its fill never depends on the other samples of the batch.
    done = _all_known(weights)
    depth = torch.zeros_like(done, dtype=torch.long)
    while min(values.shape[-2:]) > 1 and not bool(done.all()):
        values = F.avg_pool2d(values, 2, ceil_mode=True)
        weights = F.avg_pool2d(weights, 2, ceil_mode=True)
        levels.append((values, weights))
        depth = torch.where(done, depth, len(levels) - 1)
        done = done | _all_known(weights)
    filled = None
    for level in range(len(levels) - 1, -1, -1):
        values, weights = levels[level]
        coarsest = values / weights.clamp_min(1e-8)
        if filled is None:
            filled = coarsest
            continue
        coarse = F.interpolate(filled, size=values.shape[-2:], mode="bilinear", align_corners=False)
        here = (depth == level).view(-1, 1, 1, 1)
        filled = torch.where(here, coarsest, values + (1 - weights) * coarse)
    return filled


def _all_known(weights: torch.Tensor) -> torch.Tensor:
    return weights.flatten(1).amin(dim=1) > 0


def object_masks(
    before: torch.Tensor, after: torch.Tensor, edit_mask: torch.Tensor, threshold: float = 0.1, clean: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks ``[B, H, W]`` (0/1) of the old object (in ``before``) and the new one (in ``after``).

    The background behind the edit region is filled in from outside it (from ``before``, which equals
    ``after`` there for a clean edit); an object is where its image differs from that background by
    more than ``threshold`` in any channel, inside the edit mask, with specks under ``2*clean+1``
    pixels removed.
    """
    before, after, edit_mask = _check_scene(before, after, edit_mask)
    threshold = check_number(threshold, "threshold", minimum=0.0)
    clean = check_int(clean, "clean", minimum=0)
    named = {"before": before, "after": after, "edit_mask": edit_mask}
    batch = common_batch(named)
    before, after, edit_mask = (_expand(t.float(), batch) for t in named.values())
    region = (edit_mask > 0.5).float()
    known = 1 - max_filter(region, 1)
    background = fill_from_surroundings(before.permute(0, 3, 1, 2), known[:, None]).permute(0, 2, 3, 1)
    masks = []
    for image in (before, after):
        differs = ((image - background).abs().amax(dim=-1) > threshold).float() * region
        if clean:
            differs = max_filter(min_filter(differs, clean), clean) * region
        masks.append(differs)
    return masks[0], masks[1]


def overlay_negatives(
    before: torch.Tensor,
    after: torch.Tensor,
    edit_mask: torch.Tensor,
    mode: str = "new_over_old",
    blend: float = 0.5,
    new_object_mask: torch.Tensor | None = None,
    old_object_mask: torch.Tensor | None = None,
    threshold: float = 0.1,
) -> torch.Tensor:
    """The undesirable "overlay" result of an edit, as an IMAGE ``[B, H, W, C]``.

    Args:
        before: the source IMAGE.
        after: the intended result (target) IMAGE, same size.
        edit_mask: MASK ``[B, H, W]`` in [0, 1] of the edited region (e.g. from
            :func:`comfy_editloss.masks.edit_mask_from_difference`).
        mode: ``"new_over_old"`` = ``before * (1 - m_new) + after * m_new``; ``"old_over_new"`` =
            ``after * (1 - m_old) + before * m_old``; ``"blend"`` = ``before + blend * edit_mask *
            (after - before)``.
        blend: the target's share in the edit region for ``"blend"``, in [0, 1].
        new_object_mask, old_object_mask: the objects' own masks, if you have them; otherwise they
            are estimated by :func:`object_masks` with ``threshold``. A mask given is checked even
            where the mode does not use it.

    A batch of 1 on any input is used for every sample of the others.
    """
    check_choice(mode, "mode", OVERLAY_MODES)
    before, after, edit_mask = _check_scene(before, after, edit_mask)
    size = tuple(before.shape[1:3])
    blend = check_number(blend, "blend", minimum=0.0, maximum=1.0)
    threshold = check_number(threshold, "threshold", minimum=0.0)
    named = {"before": before, "after": after, "edit_mask": edit_mask}
    # Both object masks are checked whatever the mode: a bad one is a mistake even where unused.
    objects = {name: _check_mask(m, name, size) for name, m in (("new_object_mask", new_object_mask), ("old_object_mask", old_object_mask)) if m is not None}
    check_same_device([*named.items(), *objects.items()])
    batch = common_batch({**named, **objects})
    if mode == "blend":
        weight = _expand(edit_mask, batch).to(before.dtype)[..., None] * blend
        return _expand(before, batch) + weight * (_expand(after, batch) - _expand(before, batch))
    name = "new_object_mask" if mode == "new_over_old" else "old_object_mask"
    given = objects.get(name)
    if given is None:
        old, new = object_masks(before, after, edit_mask, threshold)
        given = new if mode == "new_over_old" else old
    base, pasted = (before, after) if mode == "new_over_old" else (after, before)
    weight = _expand(given, batch).to(before.dtype)[..., None]
    return _expand(base, batch) * (1 - weight) + _expand(pasted, batch) * weight
