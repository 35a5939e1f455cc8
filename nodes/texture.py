"""Nodes for the texture tiling-scale losses of seed 003 and their pictures.

They take ComfyUI's IMAGE ``[B,H,W,3]`` and MASK ``[B,H,W]``, turn them into the library's
``[B,3,H,W]`` / ``[B,1,H,W]``, and use a batch-1 target or mask for every generation. Loss nodes
return the batch loss (FLOAT) and the per-sample values (EDITLOSS_SCORES); picture nodes an IMAGE
with one row per generation.
"""

from __future__ import annotations

import torch

from ..comfy_editloss._checks import check_number
from ..comfy_editloss.losses import (
    acf_period_loss,
    estimate_texture_period,
    log_polar_align_loss,
    scale_consistency_loss,
    spectral_period_loss,
)
from ..comfy_editloss.report.texture import acf_picture, log_polar_picture, spectrum_picture
from .common import LOSS_OUTPUT_TOOLTIPS, LOSS_RETURN_NAMES, LOSS_RETURN_TYPES, as_image, as_mask, loss_outputs, match_batch

CATEGORY_TEXTURE = "editloss/texture losses"
CATEGORY_PICTURES = "editloss/pictures"

GENERATED_TOOLTIP = "The generated material image(s) (IMAGE [B,H,W,3]); the batch is the number of generations scored."
TARGET_TOOLTIP = (
    "The reference material at the intended scale, the same size as the generation. Batch 1 is used for every "
    "generation; otherwise its batch must equal the generation's."
)
MASK_TOOLTIP = (
    "Optional region of the material (MASK [B,H,W] or [H,W], values 0..1, the size of the images): only the "
    "pattern inside it is measured, tapered at its border. Batch 1 applies to every sample. An all-black mask "
    "is an error. Not connected: the whole image."
)
R_BINS_TOOLTIP = "Radial frequency bins; bin k is the frequency k / r_bins of Nyquist, i.e. a period of 2 * r_bins / k px."
TAU_PEAK_TOOLTIP = (
    "Soft-argmax temperature of the peak, in fractions of the peak's power: near 0 takes the strongest frequency "
    "bin's own estimate; larger values let neighbouring bins share the vote (smoother, less sharp)."
)
MIN_BIN_TOOLTIP = "Lowest radial bin searched for the peak (2 leaves out DC and the frequency next to it: periods up to r_bins px)."
MAX_BIN_TOOLTIP = "Highest radial bin searched (0: up to Nyquist, a period of 2 px). Lower it to ignore fine grain and noise."


def _int(default: int, low: int, high: int, tooltip: str) -> tuple:
    return ("INT", {"default": default, "min": low, "max": high, "step": 1, "tooltip": tooltip})


def _float(default: float, low: float, high: float, step: float, tooltip: str) -> tuple:
    return ("FLOAT", {"default": default, "min": low, "max": high, "step": step, "tooltip": tooltip})


def _peak_inputs(tau_default: float = 0.06) -> dict:
    return {
        "r_bins": _int(256, 8, 4096, R_BINS_TOOLTIP),
        "tau": _float(tau_default, 0.001, 10.0, 0.001, TAU_PEAK_TOOLTIP),
        "min_bin": _int(2, 1, 4095, MIN_BIN_TOOLTIP),
        "max_bin": _int(0, 0, 4096, MAX_BIN_TOOLTIP),
    }


def _acf_inputs() -> dict:
    return {
        "r_bins": _int(256, 8, 4096, "Radial lag bins from 0 to half the shorter image side."),
        "tau": _float(0.08, 0.001, 10.0, 0.001, "Soft-argmax temperature of the ACF peak, in units of correlation."),
        "min_rel": _float(0.03, 0.0, 0.99, 0.01, "Shortest lag searched, as a fraction of half the shorter image side."),
        "max_rel": _float(0.6, 0.01, 1.0, 0.01, "Longest lag searched, as a fraction of half the shorter image side."),
    }


def _log_polar_inputs() -> dict:
    return {
        "out_r": _int(128, 2, 1024, "Log-spaced radii of the log-polar map, from r_min to Nyquist."),
        "out_t": _int(180, 2, 1440, "Angles of the log-polar map over 180 degrees."),
        "r_min": _float(0.01, 0.0001, 0.99, 0.001, "Lowest radius of the map, as a fraction of Nyquist (0.01: a period of 200 px)."),
    }


def _weight(default: float, tooltip: str = "Weight of the loss.") -> tuple:
    return _float(default, 0.0, 1000.0, 0.01, tooltip)


def _images_and_mask(widgets: dict, first: tuple = ("generated", GENERATED_TOOLTIP), second: tuple = ("target", TARGET_TOOLTIP), **optional: tuple) -> dict:
    """The INPUT_TYPES of a node on two images: the images, then its widgets; an optional mask."""
    return {
        "required": {first[0]: ("IMAGE", {"tooltip": first[1]}), second[0]: ("IMAGE", {"tooltip": second[1]}), **widgets},
        "optional": {"mask": ("MASK", {"tooltip": MASK_TOOLTIP}), **optional},
    }


def as_images(value: object, name: str) -> torch.Tensor:
    """ComfyUI IMAGE ``[B,H,W,C]`` -> ``[B,C,H,W]`` float32 (C = 1 or 3; RGBA loses its alpha)."""
    return as_image(value, name)[..., :3].permute(0, 3, 1, 2).float()


def texture_mask(value: object, images: torch.Tensor, name: str = "mask") -> torch.Tensor | None:
    """An optional MASK for ``images [B,C,H,W]``, as ``[B,1,H,W]`` on their device."""
    if value is None:
        return None
    return as_mask(value, name, tuple(images.shape[2:]), images.shape[0], "the images").unsqueeze(1).to(images.device)


def pair(generated: object, target: object, mask: object, generated_name: str = "generated", target_name: str = "target"):
    pred = as_images(generated, generated_name)
    ref = as_images(target, target_name)
    if ref.shape[2:] != pred.shape[2:]:
        raise ValueError(
            f"{target_name} is {ref.shape[3]}x{ref.shape[2]} px but {generated_name} is {pred.shape[3]}x{pred.shape[2]} px: "
            "the spectra are compared bin by bin, so scale one to the other's size first (e.g. with ImageScale)"
        )
    ref = match_batch(ref, pred.shape[0], target_name, generated_name).to(pred.device)
    return pred, ref, texture_mask(mask, pred)


def band_centre(center_period_px: object, batch: int) -> torch.Tensor | None:
    """The band centre of the spectral loss (and of its picture, which must show the same band) from
    the nodes' period in px: 0 = the target's detected period (None); otherwise a period the
    spectrum holds, at least 2 px (Nyquist), as a normalised frequency for each of ``batch`` samples."""
    period = check_number(center_period_px, "center_period_px", minimum=0.0)
    if period == 0:
        return None
    if period < 2:
        raise ValueError(f"center_period_px must be 0 (use the target's) or at least 2 px (Nyquist), got {center_period_px}")
    return torch.full((batch,), 2.0 / period)


def _max_bin(value: int) -> int | None:
    return None if value == 0 else value


class _TextureLoss:
    CATEGORY = CATEGORY_TEXTURE
    FUNCTION = "compute"
    RETURN_TYPES = LOSS_RETURN_TYPES
    RETURN_NAMES = LOSS_RETURN_NAMES
    OUTPUT_TOOLTIPS = LOSS_OUTPUT_TOOLTIPS


class EditLossSpectralPeriod(_TextureLoss):
    DESCRIPTION = (
        "SpectralPeriodLoss (seed 003): w_peak * (ln f_gen - ln f_target)^2 for the dominant spatial frequency of the "
        "material, plus w_band * the distance between the two radial power distributions in a narrow band around the "
        "target's period. Zero for the same pattern at the same scale, whatever its shift or colour; grows with the "
        "scale mismatch."
    )

    @classmethod
    def INPUT_TYPES(cls):
        widgets = {
            **_peak_inputs(),
            "band_sigma": _float(0.15, 0.01, 2.0, 0.01, "Width of the band, in natural log of frequency (0.15: about +-15%)."),
            "w_peak": _weight(1.0, "Weight of the peak term."),
            "w_band": _weight(1.0, "Weight of the band term."),
        }
        centre = _float(0.0, 0.0, 100000.0, 0.1, "Centre the band on this period in px instead of the target's detected one (0: the target's). E.g. a tile size known from the scene.")
        return _images_and_mask(widgets, center_period_px=centre)

    def compute(self, generated, target, r_bins, tau, min_bin, max_bin, band_sigma, w_peak, w_band, mask=None, center_period_px=0.0):
        pred, ref, mask = pair(generated, target, mask)
        center = band_centre(center_period_px, pred.shape[0])
        options = dict(r_bins=r_bins, tau=tau, band_sigma=band_sigma, w_peak=w_peak, w_band=w_band, min_bin=min_bin, max_bin=_max_bin(max_bin))
        values = spectral_period_loss(pred, ref, mask, center, reduction="none", **options)
        return loss_outputs(values, "spectral_period", center_period_px=center_period_px, **options)


class EditLossLogPolarAlign(_TextureLoss):
    DESCRIPTION = (
        "LogPolarAlignLoss (seed 003): compares the power spectra of generation and target in log-polar coordinates, "
        "where a change of scale is a shift along the log radius: the mean squared difference of the two maps as "
        "cumulative distributions. Sensitive to scale, much less to rotation, blind to shift and colour."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return _images_and_mask({**_log_polar_inputs(), "w": _weight(1.0)})

    def compute(self, generated, target, out_r, out_t, r_min, w, mask=None):
        pred, ref, mask = pair(generated, target, mask)
        options = dict(out_r=out_r, out_t=out_t, r_min=r_min, w=w)
        return loss_outputs(log_polar_align_loss(pred, ref, mask, reduction="none", **options), "log_polar_align", **options)


class EditLossScaleConsistency(_TextureLoss):
    DESCRIPTION = (
        "ScaleConsistencyLoss (seed 003): w * (ln f_1 - ln f_2)^2 between the dominant frequencies of two generations "
        "made under the same conditions (e.g. two seeds): a LoRA whose tiling scale drifts from seed to seed scores high."
    )

    @classmethod
    def INPUT_TYPES(cls):
        first = ("generated_1", "First generation(s) (IMAGE [B,H,W,3]).")
        second = ("generated_2", "Second generation(s) under the same conditions, the same size. Batch 1 is used for every sample of generated_1.")
        return _images_and_mask({**_peak_inputs(), "w": _weight(1.0)}, first, second)

    def compute(self, generated_1, generated_2, r_bins, tau, min_bin, max_bin, w, mask=None):
        first, second, mask = pair(generated_1, generated_2, mask, "generated_1", "generated_2")
        options = dict(r_bins=r_bins, tau=tau, min_bin=min_bin, max_bin=_max_bin(max_bin), w=w)
        return loss_outputs(scale_consistency_loss(first, second, mask, reduction="none", **options), "scale_consistency", **options)


class EditLossACFPeriod(_TextureLoss):
    DESCRIPTION = (
        "ACFPeriodLoss (seed 003): w * (ln lag_gen - ln lag_target)^2 with the lag of the first significant peak of "
        "each radially averaged autocorrelation (computed from the power spectrum, Wiener-Khinchin): how far apart "
        "the repeats of the pattern are."
    )

    @classmethod
    def INPUT_TYPES(cls):
        return _images_and_mask({**_acf_inputs(), "w": _weight(1.0)})

    def compute(self, generated, target, r_bins, tau, min_rel, max_rel, w, mask=None):
        pred, ref, mask = pair(generated, target, mask)
        options = dict(r_bins=r_bins, tau=tau, min_rel=min_rel, max_rel=max_rel, w=w)
        return loss_outputs(acf_period_loss(pred, ref, mask, reduction="none", **options), "acf_period", **options)


class EditLossTexturePeriod:
    DESCRIPTION = (
        "Measures the dominant period (px) and orientation of a repeating material (tiles, bricks, planks) in an image, "
        "inside an optional mask: the quantity the texture losses compare. Orientation is the direction in which the "
        "pattern repeats, degrees counter-clockwise from the x axis (0: vertical stripes)."
    )
    CATEGORY = CATEGORY_TEXTURE
    FUNCTION = "measure"
    RETURN_TYPES = ("FLOAT", "FLOAT", "STRING")
    RETURN_NAMES = ("period_px", "orientation_deg", "report")
    OUTPUT_TOOLTIPS = (
        "Period of the first image in pixels.",
        "Orientation of the first image in degrees [0, 180).",
        "One line per image: period, frequency, orientation, strength (share of power in the peak; near 0: no pattern).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"image": ("IMAGE", {"tooltip": "The material image(s) (IMAGE [B,H,W,3])."}), **_peak_inputs()},
            "optional": {"mask": ("MASK", {"tooltip": MASK_TOOLTIP})},
        }

    def measure(self, image, r_bins, tau, min_bin, max_bin, mask=None):
        images = as_images(image, "image")
        peak = estimate_texture_period(images, texture_mask(mask, images), r_bins=r_bins, tau=tau, min_bin=min_bin, max_bin=_max_bin(max_bin))
        lines = []
        for i in range(images.shape[0]):
            harmonic = int(peak.harmonic[i])
            note = f" (from its harmonic {harmonic})" if harmonic > 1 else ""
            lines.append(
                f"image {i}: period {float(peak.period_px[i]):.2f} px{note}, frequency {float(peak.frequency[i]):.4f} of Nyquist, "
                f"orientation {float(peak.orientation_deg[i]):.1f} deg, strength {float(peak.strength[i]):.2f}"
            )
        return float(peak.period_px[0]), float(peak.orientation_deg[0]), "\n".join(lines)


class _Picture:
    CATEGORY = CATEGORY_PICTURES
    FUNCTION = "draw"
    RETURN_TYPES = ("IMAGE",)


class EditLossSpectrumPlot(_Picture):
    DESCRIPTION = (
        "Draws the radially averaged power spectra of generation and target on a log axis labelled in pixels of period, "
        "with the detected peaks and the band the spectral loss looks at: a peak left of the target's means the "
        "generated pattern is too coarse, right of it too fine."
    )
    RETURN_NAMES = ("spectra",)
    OUTPUT_TOOLTIPS = ("One chart per generation (640x360).",)

    @classmethod
    def INPUT_TYPES(cls):
        widgets = {**_peak_inputs(), "band_sigma": _float(0.15, 0.01, 2.0, 0.01, "Width of the band drawn (and used for the loss in the title).")}
        return _images_and_mask(widgets, center_period_px=_float(0.0, 0.0, 100000.0, 0.1, "Centre of the band in px (0: the target's detected period; otherwise at least 2 px, as for the loss)."))

    def draw(self, generated, target, r_bins, tau, min_bin, max_bin, band_sigma, mask=None, center_period_px=0.0):
        pred, ref, mask = pair(generated, target, mask)
        center = band_centre(center_period_px, pred.shape[0])
        return (spectrum_picture(pred, ref, mask, center, r_bins=r_bins, tau=tau, band_sigma=band_sigma, min_bin=min_bin, max_bin=_max_bin(max_bin)),)


class EditLossACFPlot(_Picture):
    DESCRIPTION = (
        "Draws the radial autocorrelation profiles of generation and target with their first peaks (the distance between "
        "repeats of the pattern) and greys the lags outside the search range of the ACF loss."
    )
    RETURN_NAMES = ("acf",)
    OUTPUT_TOOLTIPS = ("One chart per generation (640x360).",)

    @classmethod
    def INPUT_TYPES(cls):
        return _images_and_mask(_acf_inputs())

    def draw(self, generated, target, r_bins, tau, min_rel, max_rel, mask=None):
        pred, ref, mask = pair(generated, target, mask)
        return (acf_picture(pred, ref, mask, r_bins=r_bins, tau=tau, min_rel=min_rel, max_rel=max_rel),)


class EditLossLogPolarPlot(_Picture):
    DESCRIPTION = (
        "Draws the log-polar power spectra of target and generation side by side on one colour scale, and where their "
        "power differs: a pattern at the wrong scale appears shifted left (coarser) or right (finer), a rotated one up or down."
    )
    RETURN_NAMES = ("log_polar",)
    OUTPUT_TOOLTIPS = ("One row of three panels per generation.",)

    @classmethod
    def INPUT_TYPES(cls):
        return _images_and_mask(_log_polar_inputs())

    def draw(self, generated, target, out_r, out_t, r_min, mask=None):
        pred, ref, mask = pair(generated, target, mask)
        return (log_polar_picture(pred, ref, mask, out_r=out_r, out_t=out_t, r_min=r_min),)


NODE_CLASS_MAPPINGS = {
    "EditLossSpectralPeriod": EditLossSpectralPeriod,
    "EditLossLogPolarAlign": EditLossLogPolarAlign,
    "EditLossScaleConsistency": EditLossScaleConsistency,
    "EditLossACFPeriod": EditLossACFPeriod,
    "EditLossTexturePeriod": EditLossTexturePeriod,
    "EditLossSpectrumPlot": EditLossSpectrumPlot,
    "EditLossACFPlot": EditLossACFPlot,
    "EditLossLogPolarPlot": EditLossLogPolarPlot,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossSpectralPeriod": "EditLoss Spectral Period (texture scale)",
    "EditLossLogPolarAlign": "EditLoss Log-Polar Align (texture scale)",
    "EditLossScaleConsistency": "EditLoss Scale Consistency (two generations)",
    "EditLossACFPeriod": "EditLoss ACF Period (texture scale)",
    "EditLossTexturePeriod": "EditLoss Texture Period",
    "EditLossSpectrumPlot": "EditLoss Spectrum Plot",
    "EditLossACFPlot": "EditLoss ACF Plot",
    "EditLossLogPolarPlot": "EditLoss Log-Polar Plot",
}
