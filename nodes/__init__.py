"""The ComfyUI node classes of the pack: thin wrappers around the library in ``comfy_editloss``."""

from . import authenticity, depth, depth_estimators, embedding_losses, encoders, latent, masks, report, texture
from .host import folders

folders.register_model_folders()  # models/editloss_encoders and editloss_depth inside ComfyUI; nothing outside it

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
for _module in (encoders, masks, latent, embedding_losses, texture, depth, depth_estimators, authenticity, report):
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
