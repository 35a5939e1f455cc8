"""Nodes for depth consistency of an inserted object (seed 004): the EDITLOSS_DEPTH type, its
loaders, alignment, the loss and its picture."""

from __future__ import annotations

import torch

from ..comfy_editloss.io.depth_files import DEPTH_EXTENSIONS, read_depth_file
from ..comfy_editloss.losses import ROBUST_FITS, SAMPLE_WEIGHTINGS, align_depth, depth_consistency_loss, depth_to_disparity, disparity_to_depth
from ..comfy_editloss.report.depth import depth_picture, depth_preview
from ..comfy_editloss.types import DEPTH_SPACES, DEPTH_TYPE, SCORES_TYPE, Depth
from .host import folders
from .common import as_confidence, as_depth, as_image, as_mask, loss_outputs, match_batch

CATEGORY_DEPTH = "editloss/depth"
SPACE_TOOLTIP = (
    "What the values mean: disparity (inverse depth, larger = nearer: MiDaS, Depth Anything and most depth "
    "nodes) or depth (larger = farther: renders, sensors)."
)


CONFIDENCE_TOOLTIP = (
    "Optional confidence of the depth (MASK in [0,1], the size of the map): it weighs every pixel of the loss and "
    "of the alignment; 0 leaves a pixel out."
)


def _depth_mask(value: object, maps: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """A MASK for depth maps ``[B, 1, H, W]``, as ``[B, 1, H, W]``."""
    return as_mask(value, name, tuple(maps.shape[2:]), maps.shape[0], "the depth maps").unsqueeze(1)


def _in_space(depth: Depth, space: str) -> torch.Tensor:
    if depth.space == space:
        return depth.values
    return depth_to_disparity(depth.values) if space == "disparity" else disparity_to_depth(depth.values)


class EditLossDepthFromImage:
    DESCRIPTION = (
        "Makes an EDITLOSS_DEPTH from an IMAGE, e.g. the output of another pack's depth node. Such images are 8-bit "
        "and min-max normalised per image: only relative, so align them (EditLoss Align Depth) before scoring."
    )
    CATEGORY = CATEGORY_DEPTH
    FUNCTION = "convert"
    RETURN_TYPES = (DEPTH_TYPE,)
    RETURN_NAMES = ("depth",)
    OUTPUT_TOOLTIPS = ("float32 [B,1,H,W], the grey level of each pixel (mean of R, G, B), in [0,1].",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "A depth picture (IMAGE [B,H,W,3]); 8-bit and min-max normalised: relative depth only."}),
                "space": (list(DEPTH_SPACES), {"default": "disparity", "tooltip": SPACE_TOOLTIP + " Depth nodes' pictures are usually disparity (near = bright)."}),
            },
            "optional": {"confidence": ("MASK", {"tooltip": CONFIDENCE_TOOLTIP})},
        }

    def convert(self, image, space, confidence=None):
        values = as_image(image, "image")[..., :3].float().mean(dim=-1, keepdim=True).permute(0, 3, 1, 2)
        return (Depth(values, space, as_confidence(confidence, values), "image"),)


class EditLossLoadDepth:
    DESCRIPTION = (
        "Loads a depth or disparity map from the input folder with its real values: 16-bit PNG (raw integers, e.g. "
        "millimetres: set scale 0.001 for metres), .npy, .npz (array 'depth'), .pfm or .exr (needs the OpenEXR package)."
    )
    CATEGORY = CATEGORY_DEPTH
    FUNCTION = "load"
    RETURN_TYPES = (DEPTH_TYPE,)
    RETURN_NAMES = ("depth",)
    OUTPUT_TOOLTIPS = ("float32 [1,1,H,W] = stored value x scale; NaN/Inf stay (they are left out of the loss).",)

    @classmethod
    def INPUT_TYPES(cls):
        folder = folders.input_directory()
        files = sorted(f.name for f in folder.iterdir() if f.is_file() and f.suffix.lower() in DEPTH_EXTENSIONS) if folder.is_dir() else []
        return {
            "required": {
                "file": (files, {"tooltip": "A depth file in ComfyUI's input folder (" + ", ".join(DEPTH_EXTENSIONS) + ")."}),
                "space": (list(DEPTH_SPACES), {"default": "depth", "tooltip": SPACE_TOOLTIP}),
                "scale": ("FLOAT", {"default": 1.0, "min": 1e-9, "max": 1e9, "step": 0.001, "tooltip": "Multiplies the stored values (e.g. 0.001: millimetres to metres)."}),
            },
            "optional": {"confidence": ("MASK", {"tooltip": CONFIDENCE_TOOLTIP})},
        }

    def load(self, file, space, scale, confidence=None):
        values = torch.from_numpy(read_depth_file(folders.input_directory() / file).copy())[None, None] * scale
        return (Depth(values, space, as_confidence(confidence, values), file),)

    @classmethod
    def IS_CHANGED(cls, file, space, scale, confidence=None):
        path = folders.input_directory() / file
        return f"{path.stat().st_mtime_ns}-{path.stat().st_size}" if path.is_file() else file


class EditLossDepthToImage:
    DESCRIPTION = "Draws an EDITLOSS_DEPTH as an IMAGE for preview: colours from the 1st to the 99th percentile of each map (grey: no value)."
    CATEGORY = CATEGORY_DEPTH
    FUNCTION = "draw"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("IMAGE [B,H,W,3]; bright = large values.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"depth": (DEPTH_TYPE, {"tooltip": "The depth to show."}), "colours": (["inferno", "grey"], {"default": "inferno", "tooltip": "Colour map."})}}

    def draw(self, depth, colours):
        return (depth_preview(as_depth(depth, "depth").values, colours),)


class EditLossAlignDepth:
    DESCRIPTION = (
        "Fits scale * predicted + shift to the target in disparity space on the background (valid pixels outside the "
        "dilated insertion mask) and applies it: relative depth from MiDaS or Depth Anything has unknown scale and "
        "shift. A scale <= 0 is not applied and is reported."
    )
    CATEGORY = CATEGORY_DEPTH
    FUNCTION = "align"
    RETURN_TYPES = (DEPTH_TYPE, "FLOAT", "FLOAT", "FLOAT", "STRING")
    RETURN_NAMES = ("aligned", "scale", "shift", "residual", "report")
    OUTPUT_TOOLTIPS = (
        "The predicted map aligned to the target, in the target's space.",
        "Fitted scale (first sample).",
        "Fitted shift (first sample).",
        "RMS residual of the fit on the background (first sample), in disparity units.",
        "One line per sample: scale, shift, residual, and whether the scale was usable.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "predicted": (DEPTH_TYPE, {"tooltip": "Depth of the generation (e.g. from a depth estimator)."}),
                "target": (DEPTH_TYPE, {"tooltip": "Depth of the target / context. Batch 1 is used for every sample."}),
                "dilate_r": ("INT", {"default": 2, "min": 0, "max": 256, "step": 1, "tooltip": "Pixels around the mask left out of the fit."}),
                "robust": (list(ROBUST_FITS), {"default": "trimmed", "tooltip": "none: least squares; median: medians and MADs (rough); trimmed: refit without outliers (recommended)."}),
            },
            "optional": {"mask": ("MASK", {"tooltip": "The insertion mask: the fit uses only the background outside it."})},
        }

    def align(self, predicted, target, dilate_r, robust, mask=None):
        pred, ref = as_depth(predicted, "predicted"), as_depth(target, "target")
        p = _in_space(pred, "disparity")
        t = match_batch(_in_space(ref, "disparity"), p.shape[0], "target", "predicted")
        if t.shape[2:] != p.shape[2:]:
            raise ValueError(f"target is {t.shape[3]}x{t.shape[2]} px but predicted is {p.shape[3]}x{p.shape[2]} px: resize one first")
        m = None if mask is None else _depth_mask(mask, p)
        conf = pred.confidence
        fit = align_depth(p, t, m, conf=conf, dilate_r=dilate_r, robust=robust)
        aligned = fit.aligned.float()
        values = aligned if ref.space == "disparity" else disparity_to_depth(aligned)
        lines = [
            f"sample {i}: scale {float(fit.scale[i]):.6g}, shift {float(fit.shift[i]):.6g}, residual {float(fit.residual[i]):.4g}"
            + ("" if bool(fit.scale_ok[i]) else "  (scale <= 0: NOT applied; is one map depth and the other disparity?)")
            for i in range(p.shape[0])
        ]
        return Depth(values, ref.space, pred.confidence, f"aligned {pred.source}"), float(fit.scale[0]), float(fit.shift[0]), float(fit.residual[0]), "\n".join(lines)


class EditLossDepthConsistency:
    DESCRIPTION = (
        "Depth consistency of an inserted object (seed 004): SmoothL1 of predicted vs target depth inside the mask, "
        "outside the dilated mask (the scene must not move), and of the depth gradients on the mask's boundary band "
        "(the object's outline). NaN/Inf pixels are left out. Align relative depth first."
    )
    CATEGORY = CATEGORY_DEPTH
    FUNCTION = "compute"
    RETURN_TYPES = ("FLOAT", "FLOAT", "FLOAT", "FLOAT", SCORES_TYPE)
    RETURN_NAMES = ("loss", "inside", "outside", "edge", "scores")
    OUTPUT_TOOLTIPS = (
        "w_inside * inside + w_outside * outside + w_edge * edge.",
        "Inside the mask.",
        "Outside the dilated mask.",
        "Depth gradients on the boundary band.",
        "The total per sample, lower is better.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        def number(default, low, high, step, tooltip):
            return ("FLOAT", {"default": default, "min": low, "max": high, "step": step, "tooltip": tooltip})

        return {
            "required": {
                "predicted": (DEPTH_TYPE, {"tooltip": "Depth of the generation, prepared like the target (same space, aligned)."}),
                "target": (DEPTH_TYPE, {"tooltip": "Depth of the target. Batch 1 is used for every sample."}),
                "mask": ("MASK", {"tooltip": "The insertion mask (1 inside), the size of the depth maps; batch 1 for every sample."}),
                "outside_dilate_r": ("INT", {"default": 1, "min": 0, "max": 256, "step": 1, "tooltip": "The outside term leaves out this many pixels around the mask."}),
                "edge_band_r": ("INT", {"default": 1, "min": 0, "max": 256, "step": 1, "tooltip": "Half-width of the boundary band of the edge term."}),
                "beta": number(0.1, 0.0, 100.0, 0.01, "SmoothL1 width in depth units (0: L1)."),
                "w_inside": number(1.0, 0.0, 100.0, 0.01, "Weight of the inside term."),
                "w_outside": number(0.5, 0.0, 100.0, 0.01, "Weight of the outside term."),
                "w_edge": number(0.5, 0.0, 100.0, 0.01, "Weight of the edge term."),
                "sample_weighting": (list(SAMPLE_WEIGHTINGS), {"default": "pixels", "tooltip": "pixels (the seed's): every pixel of the batch counts once; samples: each generation counts once."}),
            }
        }

    def compute(self, predicted, target, mask, outside_dilate_r, edge_band_r, beta, w_inside, w_outside, w_edge, sample_weighting):
        pred, ref = as_depth(predicted, "predicted"), as_depth(target, "target")
        if pred.space != ref.space:
            raise ValueError(f"predicted is {pred.space} but target is {ref.space}: convert or align them into one space first (EditLoss Align Depth)")
        p = pred.values
        t = match_batch(ref.values, p.shape[0], "target", "predicted")
        options = dict(outside_dilate_r=outside_dilate_r, edge_band_r=edge_band_r, beta=beta, w_inside=w_inside, w_outside=w_outside, w_edge=w_edge)
        m = _depth_mask(mask, p)
        terms = depth_consistency_loss(p, t, m, conf_pred=pred.confidence, sample_weighting=sample_weighting, **options)
        _, scores = loss_outputs(terms.per_sample.total, "depth_consistency", sample_weighting=sample_weighting, **options)
        return float(terms.total), float(terms.inside), float(terms.outside), float(terms.edge), scores


class EditLossDepthPlot:
    DESCRIPTION = (
        "Draws predicted and target depth side by side on one colour scale, and their absolute difference with the "
        "mask's outline (cyan) and the boundary band of the edge term (green): where the object sits too near or too far."
    )
    CATEGORY = "editloss/pictures"
    FUNCTION = "draw"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("depth_comparison",)
    OUTPUT_TOOLTIPS = ("One row of three panels per sample.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "predicted": (DEPTH_TYPE, {"tooltip": "Depth of the generation (aligned)."}),
                "target": (DEPTH_TYPE, {"tooltip": "Depth of the target. Batch 1 is used for every sample."}),
                "edge_band_r": ("INT", {"default": 1, "min": 0, "max": 256, "step": 1, "tooltip": "Half-width of the band drawn."}),
            },
            "optional": {"mask": ("MASK", {"tooltip": "The insertion mask, outlined on every panel."})},
        }

    def draw(self, predicted, target, edge_band_r, mask=None):
        pred, ref = as_depth(predicted, "predicted"), as_depth(target, "target")
        p = pred.values
        t = match_batch(_in_space(ref, pred.space), p.shape[0], "target", "predicted")
        m = None if mask is None else _depth_mask(mask, p)
        return (depth_picture(p, t, m, edge_band_r=edge_band_r, space=pred.space),)


NODE_CLASS_MAPPINGS = {
    "EditLossDepthFromImage": EditLossDepthFromImage,
    "EditLossLoadDepth": EditLossLoadDepth,
    "EditLossDepthToImage": EditLossDepthToImage,
    "EditLossAlignDepth": EditLossAlignDepth,
    "EditLossDepthConsistency": EditLossDepthConsistency,
    "EditLossDepthPlot": EditLossDepthPlot,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossDepthFromImage": "EditLoss Depth from Image",
    "EditLossLoadDepth": "EditLoss Load Depth",
    "EditLossDepthToImage": "EditLoss Depth to Image",
    "EditLossAlignDepth": "EditLoss Align Depth (scale and shift)",
    "EditLossDepthConsistency": "EditLoss Depth Consistency",
    "EditLossDepthPlot": "EditLoss Depth Plot",
}
