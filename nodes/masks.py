"""Mask nodes."""

from __future__ import annotations

import torch

from ..comfy_editloss._checks import common_batch
from ..comfy_editloss.edits.masks import edit_mask_from_difference
from ..comfy_editloss.edits.negatives import OVERLAY_MODES, overlay_negatives
from .common import as_image, as_mask


class EditLossEditMask:
    DESCRIPTION = (
        "Derives the edit region from the source (before) and the intended result (after) when you have no "
        "mask: the pixels that differ by more than the threshold, cleaned of specks and grown a little. "
        "Connect it to the loss nodes' mask input to score only the edited region."
    )
    CATEGORY = "editloss/masks"
    FUNCTION = "derive"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("edit_mask",)
    OUTPUT_TOOLTIPS = ("1 in the edited region, 0 elsewhere [B,H,W].",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "before": ("IMAGE", {"tooltip": "The source image."}),
                "after": ("IMAGE", {"tooltip": "The intended result, same size as the source."}),
                "threshold": ("FLOAT", {"default": 0.08, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "How much a pixel must change (any channel, 0-1) to count as edited. Raise it if noise or compression shows up in the mask."}),
                "clean": ("INT", {"default": 1, "min": 0, "max": 32, "tooltip": "Remove specks smaller than about 2*clean+1 pixels."}),
                "grow": ("INT", {"default": 6, "min": 0, "max": 256, "tooltip": "Grow the region by this many pixels, to include the object's outline."}),
            },
            "optional": {
                "mask": ("MASK", {"tooltip": "Your own edit mask: when connected it is returned instead of the derived one, so a graph works with or without a mask. It must be the images' size, in [0, 1], with batch 1 or the images' batch."}),
            },
        }

    def derive(self, before, after, threshold, clean, grow, mask=None):
        if mask is None:
            return (edit_mask_from_difference(before, after, threshold, clean, grow).cpu(),)
        # A value outside [0, 1] or a batch that fits neither 1 nor the images' is an error, never clamped
        # or broadcast: the mask goes on to the overlay negative and the losses as it is.
        before, after = as_image(before, "before"), as_image(after, "after")
        mask = as_mask(mask, "mask", tuple(before.shape[1:3]))
        common_batch({"before": before, "after": after, "mask": mask})
        return (mask.detach().to("cpu", torch.float32),)


class EditLossOverlayNegative:
    DESCRIPTION = (
        "Builds the undesirable 'overlay' result that the overlay-avoidance loss pushes generations away from (seed 001): "
        "new_over_old = the source with the new object pasted over the old one (which still shows around it); "
        "old_over_new = the target with the old object pasted back; blend = source and target mixed in the edit region. "
        "The objects are found inside the edit mask as the pixels that differ from the background filled in from around "
        "the region; connect your own object masks if you have them. Encode the result like the other images and feed "
        "it to Overlay Avoidance's z_overlay."
    )
    CATEGORY = "editloss/masks"
    FUNCTION = "build"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("overlay",)
    OUTPUT_TOOLTIPS = ("The synthetic overlay negative, same size and batch as the inputs [B,H,W,3].",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "before": ("IMAGE", {"tooltip": "The source image (with the old object)."}),
                "after": ("IMAGE", {"tooltip": "The intended result (with the new object), same size as the source."}),
                "edit_mask": ("MASK", {"tooltip": "The edited region (from EditLoss Edit Mask, or your own), same size as the images."}),
                "mode": (list(OVERLAY_MODES), {"default": "new_over_old", "tooltip": "new_over_old = new object pasted over the old one; old_over_new = the old object pasted back over the new one; blend = a mix of both in the edit region."}),
                "blend": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": "For blend: the target's share in the edit region (0 = the source, 1 = the target)."}),
                "threshold": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "How much a pixel must differ from the background (any channel, 0-1) to belong to an object, when no object mask is connected."}),
            },
            "optional": {
                "new_object_mask": ("MASK", {"tooltip": "Optional: the new object's own mask (for new_over_old), instead of the estimate."}),
                "old_object_mask": ("MASK", {"tooltip": "Optional: the old object's own mask (for old_over_new), instead of the estimate."}),
            },
        }

    def build(self, before, after, edit_mask, mode, blend, threshold, new_object_mask=None, old_object_mask=None):
        overlay = overlay_negatives(before, after, edit_mask, mode, blend, new_object_mask, old_object_mask, threshold)
        return (overlay.detach().to("cpu", torch.float32).clamp(0, 1),)


NODE_CLASS_MAPPINGS = {"EditLossEditMask": EditLossEditMask, "EditLossOverlayNegative": EditLossOverlayNegative}
NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossEditMask": "EditLoss Edit Mask from Before/After",
    "EditLossOverlayNegative": "EditLoss Overlay Negative",
}
