"""The overlay negatives, now :mod:`comfy_editloss.edits.negatives`: this module re-exports them for
code that imports ``comfy_editloss.negatives``."""

from .edits.negatives import OVERLAY_MODES, __all__, fill_from_surroundings, object_masks, overlay_negatives  # noqa: F401
