"""Edit masks: where the intended edit happens, derived from the source and the target when the
user has no mask of their own."""

from __future__ import annotations

import torch

from .._checks import check_image, check_int, check_number, check_same_device
from .morphology import max_filter, min_filter

__all__ = ["edit_mask_from_difference"]


def edit_mask_from_difference(
    before: torch.Tensor, after: torch.Tensor, threshold: float = 0.08, clean: int = 1, grow: int = 6
) -> torch.Tensor:
    """MASK ``[B, H, W]`` (0/1) of the pixels the edit changes.

    A pixel is changed when any channel differs by more than ``threshold`` (in [0, 1] units); specks
    smaller than about ``2 * clean + 1`` pixels are removed (a morphological opening), and the region
    is grown by ``grow`` pixels so that it covers the object's outline and a little context.

    Args:
        before, after: IMAGEs ``[B, H, W, C]`` in [0, 1] of one size and channels; a batch of 1 on
            either side is used for every image of the other.
        threshold: >= 0.
        clean, grow: ints >= 0 (a radius in pixels is never rounded from 2.5).
    """
    before, after = check_image(before, "before"), check_image(after, "after")
    if before.shape[1:] != after.shape[1:]:
        raise ValueError(f"before and after must have the same size and channels, got {tuple(before.shape[1:])} and {tuple(after.shape[1:])}")
    if before.shape[0] != after.shape[0] and 1 not in (before.shape[0], after.shape[0]):
        raise ValueError(f"before has batch {before.shape[0]} and after {after.shape[0]}: give one of them batch 1, or equal batches")
    check_same_device((("before", before), ("after", after)))
    threshold = check_number(threshold, "threshold", minimum=0.0)
    clean = check_int(clean, "clean", minimum=0)
    grow = check_int(grow, "grow", minimum=0)
    difference = (after.float() - before.float()).abs().amax(dim=-1)
    changed = (difference > threshold).float()
    if clean:
        changed = max_filter(min_filter(changed, clean), clean)
    return max_filter(changed, grow)
