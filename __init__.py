"""ComfyUI entry point of the EditLoss node pack.

ComfyUI imports this folder as a package named after its path, so everything below is imported
relatively; the library in ``comfy_editloss/`` is loaded as a sub-package of this one.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
