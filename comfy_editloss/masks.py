"""The edit masks, now :mod:`comfy_editloss.edits.masks`: this module re-exports them for code that
imports ``comfy_editloss.masks``."""

from .edits.masks import __all__, edit_mask_from_difference  # noqa: F401
