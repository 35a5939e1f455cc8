"""Mask nodes."""

from __future__ import annotations

from ..comfy_editloss.masks import edit_mask_from_difference


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
            }
        }

    def derive(self, before, after, threshold, clean, grow):
        return (edit_mask_from_difference(before, after, threshold, clean, grow).cpu(),)


NODE_CLASS_MAPPINGS = {"EditLossEditMask": EditLossEditMask}
NODE_DISPLAY_NAME_MAPPINGS = {"EditLossEditMask": "EditLoss Edit Mask from Before/After"}
