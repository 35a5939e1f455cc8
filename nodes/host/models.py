"""Devices and ComfyUI's model management for the models this pack loads."""

from __future__ import annotations

from .comfy import model_management as _model_management


def compute_device():
    mm = _model_management()
    if mm is None:
        import torch  # noqa: PLC0415

        return torch.device("cpu")
    return mm.get_torch_device()


def offload_device():
    mm = _model_management()
    if mm is None:
        import torch  # noqa: PLC0415

        return torch.device("cpu")
    return mm.unet_offload_device()


# The attribute a model keeps its ModelPatcher in: the model is the patcher's one owner, so when
# the model cache lets the model go, the patcher goes with it (ComfyUI holds patchers only weakly).
# A registry keyed by id(model) kept every model ever loaded alive for the whole session.
_PATCHER_ATTRIBUTE = "_editloss_model_patcher"


def load_for_inference(model) -> None:
    """Inside ComfyUI, hand the model to ComfyUI's model management, which moves it to the GPU now and
    off it when memory is needed, like its own models. Outside ComfyUI, and for a model without
    weights (the weight-free encoder, or an adapter of a model ComfyUI already manages), nothing to do."""
    mm = _model_management()
    if mm is None or next(model.parameters(), None) is None:
        return
    import comfy.model_patcher  # noqa: PLC0415

    patcher = model.__dict__.get(_PATCHER_ATTRIBUTE)
    if patcher is None:
        patcher = comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())
        object.__setattr__(model, _PATCHER_ATTRIBUTE, patcher)  # a plain attribute, not a submodule
    mm.load_models_gpu([patcher])
