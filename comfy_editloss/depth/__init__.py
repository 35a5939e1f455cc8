"""Monocular depth estimators on timm, loading the official checkpoint files (no downloads):
Depth Anything V2 Small/Base/Large/Giant and MiDaS v3.0 DPT-Large/DPT-Base 384 and v2.1 small 256.

They give relative inverse depth (disparity up to an unknown scale and shift): align it to a target
(:func:`comfy_editloss.losses.align_depth`) before the depth-consistency loss.

Licences of the weights: Depth Anything V2 Small Apache-2.0; Base, Large, Giant CC-BY-NC-4.0
(non-commercial); MiDaS MIT.
"""

from .estimator import (
    ARCHITECTURES,
    PRECISIONS,
    DepthArchitecture,
    DepthEstimator,
    build_model,
    convert_state_dict,
    detect_architecture,
    estimate_depth,
    load_depth_estimator,
    model_from_state_dict,
)

__all__ = [
    "ARCHITECTURES",
    "PRECISIONS",
    "DepthArchitecture",
    "DepthEstimator",
    "build_model",
    "convert_state_dict",
    "detect_architecture",
    "estimate_depth",
    "load_depth_estimator",
    "model_from_state_dict",
]
