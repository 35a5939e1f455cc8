"""comfy_editloss: losses and scores for Flux Kontext image edits.

The library is pure PyTorch and never imports ComfyUI. Its sub-packages:

* :mod:`comfy_editloss.losses`: differentiable losses for training loops;
* :mod:`comfy_editloss.types`: the data types the ComfyUI nodes pass between each other.

Inside this package every import is relative: the ComfyUI pack loads it as a sub-package of the
pack folder, under whatever name that folder has.
"""

__version__ = "0.1.0"
