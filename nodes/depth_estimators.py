"""Depth estimator nodes: load Depth Anything V2 or MiDaS from the official files, and predict an
EDITLOSS_DEPTH (disparity, never min-max squashed) with a preview image."""

from __future__ import annotations

from ..comfy_editloss._checks import describe
from ..comfy_editloss.depth import PRECISIONS, DepthEstimator, estimate_depth, load_depth_estimator
from ..comfy_editloss.encoders import cache as model_cache
from ..comfy_editloss.encoders.checkpoints import CheckpointError, find_model_file
from ..comfy_editloss.report.depth import depth_preview
from ..comfy_editloss.types import DEPTH_TYPE, Depth
from .host import folders, models, progress
from .common import as_confidence, as_image, storage_precision
from .depth import CATEGORY_DEPTH

DEPTH_MODEL_TYPE = "EDITLOSS_DEPTH_MODEL"
LICENCES = (
    "Licences of the weights: Depth Anything V2 Small Apache-2.0; Base, Large and Giant CC-BY-NC-4.0 (non-commercial "
    "use only); MiDaS MIT."
)


def _resolve(name: str):
    try:
        return find_model_file(name, folders.depth_model_folders())
    except CheckpointError as exc:
        raise CheckpointError(
            f"{exc}. Put the official file (depth_anything_v2_vits.pth, dpt_large_384.pt, ...) in models/{folders.DEPTH_FOLDER} and refresh."
        ) from None


class EditLossDepthEstimatorLoader:
    DESCRIPTION = (
        "Loads a depth estimator from its official weights file, never downloading: Depth Anything V2 "
        "(depth_anything_v2_vits/vitb/vitl/vitg.pth, or the same as .safetensors) or MiDaS (dpt_large_384.pt, "
        "dpt_base_384.pt, midas_v21_small_256.pt). The architecture is read from the file's contents. Files are looked "
        "for in models/editloss_depth, models/depthanything and comfyui_controlnet_aux's ckpts. " + LICENCES
    )
    CATEGORY = CATEGORY_DEPTH
    FUNCTION = "load"
    RETURN_TYPES = (DEPTH_MODEL_TYPE,)
    RETURN_NAMES = ("depth_model",)
    OUTPUT_TOOLTIPS = ("The loaded estimator; connect it to EditLoss Estimate Depth.",)

    @classmethod
    def INPUT_TYPES(cls):
        files = folders.list_depth_model_files()
        return {
            "required": {
                "model": (files or [f"(put depth model files in models/{folders.DEPTH_FOLDER})"], {"tooltip": "The weights file. " + LICENCES}),
                "precision": (list(PRECISIONS), {"default": "auto", "tooltip": "auto = fp16 on a GPU, fp32 on the CPU."}),
                "input_size": ("INT", {"default": 0, "min": 0, "max": 4096, "step": 2, "tooltip": "The size the network works at (0 = its own: 518 Depth Anything V2, 384 MiDaS DPT, 256 MiDaS small). Larger sees finer detail, costs more."}),
            }
        }

    def load(self, model, precision, input_size):
        path = _resolve(model)
        storage = storage_precision(precision, auto_on_cuda="fp16")
        key = ("depth", model_cache.file_identity(path), storage, input_size)
        estimator, _ = model_cache.cached(key, lambda: load_depth_estimator(path, storage, models.offload_device(), input_size or None))
        return (estimator,)


class EditLossEstimateDepth:
    DESCRIPTION = (
        "Predicts depth for a batch of images (e.g. the generations) with a loaded estimator, at the images' own size: "
        "relative inverse depth (disparity up to an unknown scale and shift, larger = nearer), never min-max squashed. "
        "Align it to the target (EditLoss Align Depth) before scoring."
    )
    CATEGORY = CATEGORY_DEPTH
    FUNCTION = "estimate"
    RETURN_TYPES = (DEPTH_TYPE, "IMAGE")
    RETURN_NAMES = ("depth", "preview")
    OUTPUT_TOOLTIPS = (
        "EDITLOSS_DEPTH in disparity space, float32 [B,1,H,W] at the input size.",
        "The disparity as a picture (each image from its 1st to 99th percentile; bright = near).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "depth_model": (DEPTH_MODEL_TYPE, {"tooltip": "From EditLoss Load Depth Estimator."}),
                "image": ("IMAGE", {"tooltip": "The images (IMAGE [B,H,W,3]), any size."}),
                "batch_size": ("INT", {"default": 4, "min": 1, "max": 256, "tooltip": "Images run at once; lower it if memory runs out."}),
            },
            "optional": {"confidence": ("MASK", {"tooltip": "Optional confidence of the depth (MASK in [0,1], the images' size), carried with it to the alignment and the loss."})},
        }

    def estimate(self, depth_model, image, batch_size, confidence=None):
        if not isinstance(depth_model, DepthEstimator):
            raise TypeError(f"depth_model must be an {DEPTH_MODEL_TYPE} from EditLoss Load Depth Estimator, got {describe(depth_model)}")
        image = as_image(image, "image", channels=(1, 3))
        models.load_for_inference(depth_model)
        bar = progress.progress_bar(image.shape[0])
        values = estimate_depth(
            depth_model, image, batch_size,
            progress=(lambda done, total: bar.update_absolute(done, total)) if bar is not None else None,
            check_interrupt=progress.throw_if_interrupted,
        )
        depth = Depth(values, "disparity", as_confidence(confidence, values), depth_model.name)
        return depth, depth_preview(values)


NODE_CLASS_MAPPINGS = {
    "EditLossDepthEstimatorLoader": EditLossDepthEstimatorLoader,
    "EditLossEstimateDepth": EditLossEstimateDepth,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossDepthEstimatorLoader": "EditLoss Load Depth Estimator (Depth Anything V2, MiDaS)",
    "EditLossEstimateDepth": "EditLoss Estimate Depth",
}
