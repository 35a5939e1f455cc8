"""Finding ComfyUI's own modules: ``None`` outside ComfyUI (tests, the headless runner)."""

from __future__ import annotations


def folder_paths():
    try:
        import folder_paths  # noqa: PLC0415 - ComfyUI's module, present only inside ComfyUI

        return folder_paths
    except ImportError:
        return None


def model_management():
    try:
        import comfy.model_management as model_management  # noqa: PLC0415

        return model_management
    except ImportError:
        return None
