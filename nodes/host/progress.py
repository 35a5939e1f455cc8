"""Progress and interrupts of the running node, as ComfyUI shows and raises them."""

from __future__ import annotations

from .comfy import model_management as _model_management


def progress_bar(total: int):
    """ComfyUI's progress bar for the running node, or None."""
    try:
        import comfy.utils  # noqa: PLC0415

        return comfy.utils.ProgressBar(total)
    except ImportError:
        return None


def throw_if_interrupted() -> None:
    mm = _model_management()
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()
