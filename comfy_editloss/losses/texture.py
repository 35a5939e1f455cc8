r"""Texture tiling-scale losses (seed 003): they see the period of a repeating material and nothing else.

A LoRA that replaces a material (tiles, bricks, planks) often gets the pattern right and its scale
wrong. These losses compare where the power of the texture's spectrum sits, not the pixels, so a
copy of the target that is shifted or slightly re-coloured costs (almost) nothing, while the same
pattern at 0.5x or 2x costs a lot, growing with the mismatch.

* :func:`spectral_period_loss` / :class:`SpectralPeriodLoss`:
  ``w_peak * (ln rho_pred - ln rho_target)^2 + w_band * band``. ``rho`` is the dominant peak's
  frequency (:func:`estimate_texture_period`), ``band`` the mean absolute difference of the two
  cumulative radial power distributions, weighted by a Gaussian in ``ln rho`` of width
  ``band_sigma`` around the target's peak (or ``center_override``): the spectrum's shape is pulled
  into place near the target period, the rest is hardly touched. Both terms are 0 for equal spectra.
* :func:`log_polar_align_loss` / :class:`LogPolarAlignLoss`: the spectra in log-polar coordinates,
  where a change of scale is a shift along the log-radius and a rotation a shift along the angle.
  ``w * mean(D^2)`` with ``D`` the difference of the two maps as distribution functions (cumulative
  over log-radius and angle) less its mean over the angle: it grows with the scale mismatch rather
  than saturating once the peaks no longer overlap, and a rotation alone costs far less than a change
  of scale.
* :func:`scale_consistency_loss` / :class:`ScaleConsistencyLoss`:
  ``w * (ln rho_1 - ln rho_2)^2`` between two generations under the same conditions.
* :func:`acf_period_loss` / :class:`ACFPeriodLoss`: ``w * (ln lag_pred - ln lag_target)^2`` with the
  lag of the first significant peak of the radially averaged autocorrelation (computed through the
  power spectrum, Wiener-Khinchin).

Conventions shared by all of them (see :mod:`comfy_editloss.losses.spectral`): images
``[B, 1 or 3, H, W]`` (luma is used; prediction and target may differ in channel count), any
``H != W`` of at least 8 px; ``mask [B, 1, H, W]`` in [0, 1] marks the material and apodises it (an
all-zero mask for a sample is an error; ``None`` is the whole image); the texture is normalised to
unit energy, so neither its brightness, its contrast (at any magnitude: the images are divided by
their largest value first) nor the mask's area changes a loss. NaN/Inf pixels are an error naming the
argument (a region is left out with the mask, not with NaN). The FFT path
runs in float32 with autocast off (float64 for float64 inputs); the result is float32 (float64).
Each loss returns the batch mean by default; ``reduction="none"`` gives one value per sample and
``weights`` weighs samples, as everywhere in :mod:`comfy_editloss.losses`.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .._checks import all_finite, as_sample_vector, check_float_tensor, check_has_values, check_int, check_number, check_same_device, check_tensor, check_unit_range
from .reduction import check_reduction, full_precision, reduce_batch
from .spectral import (
    TexturePeak,
    acf_first_peak,
    apodisation_window,
    correlation_of_signal,
    cumulative_log_polar,
    dominant_peak,
    luma,
    overlap_normaliser,
    radial_correlation,
    radial_power,
    spectrum_of_signal,
    whiten,
)

MIN_SIZE = 8
_TINY = 1e-30


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def check_images(x: object, name: str, values: bool = True) -> torch.Tensor:
    """``[B, 1 or 3, H, W]`` float, at least ``MIN_SIZE`` px a side and, with ``values``, every pixel
    finite (a texture has no missing pixels: leave a region out with the mask instead)."""
    check_float_tensor(x, name)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape [B, C, H, W] with C = 1 or 3 (ComfyUI's IMAGE [B, H, W, 3] must be "
            f"permuted first), got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image, got batch size 0 (shape {tuple(x.shape)})")
    if x.shape[2] < MIN_SIZE or x.shape[3] < MIN_SIZE:
        raise ValueError(
            f"{name} must be at least {MIN_SIZE}x{MIN_SIZE} px to have a spectrum worth measuring, "
            f"got {x.shape[2]}x{x.shape[3]} (shape {tuple(x.shape)})"
        )
    if values:
        check_finite_pixels(x, name)
    return x


def check_finite_pixels(x: torch.Tensor, name: str) -> None:
    check_has_values(x, name)
    if not bool(all_finite(x)):
        bad = ~torch.isfinite(x.detach())
        samples = torch.nonzero(bad.flatten(1).any(dim=1)).flatten().tolist()
        raise ValueError(
            f"{name} must be finite, got {int(bad.sum())} NaN/Inf pixel(s) in sample(s) {samples[:8]}; "
            "leave a region out with the mask instead"
        )


def check_same_layout(first: torch.Tensor, other: torch.Tensor, first_name: str, name: str) -> None:
    if other.shape[0] != first.shape[0] or other.shape[2:] != first.shape[2:]:
        raise ValueError(
            f"{name} must have the batch size and H x W of {first_name}, [{first.shape[0]}, C, {first.shape[2]}, "
            f"{first.shape[3]}], got shape {tuple(other.shape)}; images are never broadcast or resized here"
        )


def check_texture_mask(mask: object, images: torch.Tensor, images_name: str, name: str = "mask") -> torch.Tensor:
    """A ``[B, 1, H, W]`` soft mask in [0, 1] with some area in every sample; ``None`` -> ones."""
    batch, _, height, width = images.shape
    if mask is None:
        return torch.ones(batch, 1, height, width, device=images.device, dtype=images.dtype)
    check_tensor(mask, name)
    check_has_values(mask, name)
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"{name} must be a floating-point or bool tensor, got {mask.dtype}")
    if tuple(mask.shape) != (batch, 1, height, width):
        raise ValueError(
            f"{name} must have shape [B, 1, H, W] = [{batch}, 1, {height}, {width}] like {images_name}, got "
            f"{tuple(mask.shape)}; masks are never broadcast (a ComfyUI MASK [B, H, W] needs .unsqueeze(1))"
        )
    values = mask.detach()
    if mask.dtype != torch.bool:
        check_unit_range(mask, name)
    area = values.reshape(batch, -1).sum(1, dtype=torch.float32)
    empty = torch.nonzero(area <= 0).flatten().tolist()
    if empty:
        raise ValueError(
            f"{name} is all zero for sample(s) {empty}: there is no texture to measure; drop those samples "
            "or give them weight 0 through `weights`"
        )
    return mask


def check_peak_options(r_bins: object, tau: object, min_bin: object, max_bin: object) -> tuple[int, float, int, int]:
    r_bins = check_int(r_bins, "r_bins", 8)
    tau = check_number(tau, "tau", strictly_positive=True)
    min_bin = check_int(min_bin, "min_bin", 1)
    if max_bin is None:
        max_bin = r_bins
    max_bin = check_int(max_bin, "max_bin", 1)
    if not min_bin < max_bin <= r_bins:
        raise ValueError(
            f"min_bin and max_bin must satisfy 1 <= min_bin < max_bin <= r_bins ({r_bins}), got min_bin={min_bin}, "
            f"max_bin={max_bin} (bin k is the normalised frequency k / r_bins; min_bin >= 1 leaves out DC)"
        )
    return r_bins, tau, min_bin, max_bin


def check_log_polar_options(out_r: object, out_t: object, r_min: object, w: object) -> tuple[int, int, float, float]:
    out_r = check_int(out_r, "out_r", 2)
    out_t = check_int(out_t, "out_t", 2)
    r_min = check_number(r_min, "r_min", strictly_positive=True)
    if r_min >= 1:
        raise ValueError(f"r_min must be in (0, 1) (normalised frequency, 1 = Nyquist), got {r_min}")
    return out_r, out_t, r_min, check_number(w, "w", minimum=0.0)


def check_acf_options(r_bins: object, tau: object, min_rel: object, max_rel: object) -> tuple[int, float, float, float]:
    r_bins = check_int(r_bins, "r_bins", 8)
    tau = check_number(tau, "tau", strictly_positive=True)
    min_rel = check_number(min_rel, "min_rel", minimum=0.0)
    max_rel = check_number(max_rel, "max_rel", strictly_positive=True)
    if not min_rel < max_rel <= 1:
        raise ValueError(
            f"min_rel and max_rel must satisfy 0 <= min_rel < max_rel <= 1 (fractions of the largest lag, half "
            f"the shorter image side), got min_rel={min_rel}, max_rel={max_rel}"
        )
    if math.floor(max_rel * r_bins) - math.ceil(min_rel * r_bins) < 2:
        raise ValueError(
            f"min_rel={min_rel} and max_rel={max_rel} leave fewer than 3 of r_bins={r_bins} lag bins to search"
        )
    return r_bins, tau, min_rel, max_rel


# ---------------------------------------------------------------------------------------------
# Shared machinery
# ---------------------------------------------------------------------------------------------


class TextureBatch:
    """Checked inputs: several image batches over one mask, as unit-energy windowed textures."""

    def __init__(self, named: Sequence[tuple[str, torch.Tensor]], mask: torch.Tensor | None, mask_name: str = "mask"):
        first_name, first = named[0]
        for name, images in named:
            check_images(images, name, values=False)
            if images is not first:
                check_same_layout(first, images, first_name, name)
        if mask is not None:
            check_tensor(mask, mask_name)
        self.device = check_same_device(list(named) + [(mask_name, mask)])
        for name, images in named:
            check_finite_pixels(images, name)
        mask = check_texture_mask(mask, first, first_name, mask_name)
        dtypes = [images.dtype for _, images in named]
        self.dtype = torch.float64 if torch.float64 in dtypes else torch.float32
        self.batch, self.height, self.width = first.shape[0], first.shape[2], first.shape[3]
        with full_precision(self.device):
            self.window = apodisation_window(mask.to(self.dtype))[:, 0]
            # Each batch on its own, so that the backward pass only runs for those needing a gradient.
            self.signals = [whiten(luma(images.to(self.dtype))[:, 0], self.window) for _, images in named]

    def power(self) -> torch.Tensor:
        """Power spectra ``[copies * B, H, W // 2 + 1]``."""
        return torch.cat([spectrum_of_signal(y) for y in self.signals])

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(x.split(self.batch))

    def finish(self, per_sample: torch.Tensor, reduction: str, weights: torch.Tensor | None) -> torch.Tensor:
        return reduce_batch(per_sample, reduction, weights).to(self.dtype)


def _peaks(textures: TextureBatch, power: torch.Tensor, r_bins: int, tau: float, min_bin: int, max_bin: int) -> TexturePeak:
    return dominant_peak(power, textures.width, r_bins, tau, min_bin, max_bin)


def band_distance(
    sums_pred: torch.Tensor, sums_target: torch.Tensor, center: torch.Tensor, band_sigma: float, min_bin: int, max_bin: int
) -> torch.Tensor:
    r"""The band term of :func:`spectral_period_loss` from ring powers ``[B, r_bins]``.

    With the powers of bins ``min_bin..max_bin`` normalised to distributions and their cumulative
    sums :math:`F_p, F_t` at the bin boundaries :math:`\rho_k = (k + 1/2) / r_{bins}`:

    .. math:: \sum_k g_k |F_p - F_t|_k \Delta\ln\rho_k \, / \sum_k g_k \Delta\ln\rho_k, \quad
              g_k = \exp(-(\ln\rho_k - \ln c)^2 / 2\sigma^2)

    a Wasserstein-1 distance in :math:`\ln\rho` seen through a Gaussian window around the centre
    ``c``: it grows with how far power has moved, up to about 1.
    """
    r_bins = sums_pred.shape[-1]
    k = torch.arange(r_bins, device=sums_pred.device, dtype=sums_pred.dtype)
    valid = ((k >= min_bin) & (k <= max_bin)).to(sums_pred.dtype)
    boundary = torch.log((k + 0.5) / r_bins)
    step = torch.log((k + 1.5) / (k + 0.5))
    gauss = torch.exp(-(boundary[None] - torch.log(center)[:, None]) ** 2 / (2 * band_sigma**2)) * valid * step
    pred = sums_pred * valid
    target = sums_target * valid
    pred = pred / (pred.sum(dim=1, keepdim=True) + _TINY)
    target = target / (target.sum(dim=1, keepdim=True) + _TINY)
    cdf_gap = torch.cumsum(pred - target, dim=1).abs()
    return (cdf_gap * gauss).sum(dim=1) / (gauss.sum(dim=1) + _TINY)


# ---------------------------------------------------------------------------------------------
# The period on its own
# ---------------------------------------------------------------------------------------------


def estimate_texture_period(
    images: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    r_bins: int = 256,
    tau: float = 0.06,
    min_bin: int = 2,
    max_bin: int | None = None,
) -> TexturePeak:
    """The dominant period (px) and orientation of the masked texture in each image.

    Args:
        images: ``[B, 1 or 3, H, W]`` float.
        mask: ``[B, 1, H, W]`` in [0, 1], or ``None`` for the whole image.
        r_bins: radial bins; bin ``k`` is the normalised frequency ``k / r_bins`` (1 = Nyquist,
            i.e. a period of 2 px), which ``min_bin`` and ``max_bin`` are counted in.
        tau: soft-argmax temperature in units of the peak's power (see
            :func:`comfy_editloss.losses.spectral.dominant_peak`): ``tau -> 0`` takes the strongest
            frequency bin's own sub-bin estimate; larger values average it with its neighbours.
        min_bin, max_bin: the search range; ``min_bin = 2`` (default) leaves out DC and the
            frequency below it, so periods up to ``r_bins`` px count (256 px by default);
            ``max_bin = None`` searches up to Nyquist.

    Returns:
        :class:`~comfy_editloss.losses.spectral.TexturePeak` of ``[B]`` tensors: ``period_px``,
        ``frequency``, ``orientation_deg`` ([0, 180), counter-clockwise, the direction in which the
        pattern repeats), ``strength`` and ``harmonic``. ``period_px`` and ``frequency`` are
        differentiable with respect to ``images``.

    Example:
        >>> x = torch.arange(64.0).remainder(16).lt(8).float().expand(1, 1, 64, 64)
        >>> round(float(estimate_texture_period(x).period_px), 1)
        16.0
    """
    r_bins, tau, min_bin, max_bin = check_peak_options(r_bins, tau, min_bin, max_bin)
    textures = TextureBatch([("images", images)], mask)
    with full_precision(textures.device):
        return _peaks(textures, textures.power(), r_bins, tau, min_bin, max_bin)


# ---------------------------------------------------------------------------------------------
# The four losses
# ---------------------------------------------------------------------------------------------


def spectral_period_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    center_override: torch.Tensor | Sequence[float] | None = None,
    *,
    r_bins: int = 256,
    tau: float = 0.06,
    band_sigma: float = 0.15,
    w_peak: float = 1.0,
    w_band: float = 1.0,
    min_bin: int = 2,
    max_bin: int | None = None,
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""``w_peak * (ln rho_pred - ln rho_target)^2 + w_band * band`` per sample (see the module).

    Args:
        pred, target: ``[B, 1 or 3, H, W]``; the loss is differentiable with respect to both.
        mask: ``[B, 1, H, W]`` in [0, 1] (or ``None``: the whole image).
        center_override: ``[B]`` normalised frequencies in (0, 1] (``2 / period_px``) to centre the
            band on instead of the target's detected peak, e.g. a period known from depth or a prior.
        r_bins, tau, min_bin, max_bin: as in :func:`estimate_texture_period`.
        band_sigma: width of the band, in ``ln rho`` (0.15: about +-15% of the frequency).
        w_peak, w_band: weights of the two terms (>= 0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``[B]``).
        weights: optional ``[B]`` sample weights >= 0.
    """
    r_bins, tau, min_bin, max_bin = check_peak_options(r_bins, tau, min_bin, max_bin)
    band_sigma = check_number(band_sigma, "band_sigma", strictly_positive=True)
    w_peak = check_number(w_peak, "w_peak", minimum=0.0)
    w_band = check_number(w_band, "w_band", minimum=0.0)
    textures = TextureBatch([("pred", pred), ("target", target)], mask)
    weights = check_reduction(reduction, weights, textures.batch)
    if center_override is not None:
        center_override = as_sample_vector(center_override, "center_override", textures.batch)
        values = center_override.detach()
        if bool((values <= 0).any()) or bool((values > 1).any()):
            raise ValueError(
                "center_override must hold normalised frequencies in (0, 1] (2 / period in px; 1 = Nyquist), "
                f"got values from {values.min().item():g} to {values.max().item():g}"
            )
    with full_precision(textures.device):
        power = textures.power()
        peaks = _peaks(textures, power, r_bins, tau, min_bin, max_bin)
        rho_pred, rho_target = textures.split(peaks.frequency)
        per_sample = w_peak * (torch.log(rho_pred) - torch.log(rho_target)) ** 2
        if w_band > 0:
            if center_override is None:
                center = rho_target
            else:
                center = center_override.to(device=textures.device, dtype=textures.dtype)
            sums_pred, sums_target = textures.split(radial_power(power, textures.width, r_bins))
            per_sample = per_sample + w_band * band_distance(sums_pred, sums_target, center, band_sigma, min_bin, max_bin)
        return textures.finish(per_sample, reduction, weights)


def log_polar_align_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    out_r: int = 128,
    out_t: int = 180,
    r_min: float = 1e-2,
    w: float = 1.0,
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""``w * mean((D - mean_theta D)^2)`` over the log-polar grid, per sample (see the module).

    ``D = C_pred - C_target`` where ``C`` is the share of the spectrum's power below each log-radius
    and angle (:func:`~comfy_editloss.losses.spectral.cumulative_log_polar`; ``out_r`` log-spaced
    radii from ``r_min`` to 1 in normalised frequency, ``out_t`` angles over 180 degrees). Removing
    the mean over the angle makes the loss blind to where the angle axis starts, so it is
    periodic in the angle as the spectrum is.
    """
    out_r, out_t, r_min, w = check_log_polar_options(out_r, out_t, r_min, w)
    textures = TextureBatch([("pred", pred), ("target", target)], mask)
    weights = check_reduction(reduction, weights, textures.batch)
    with full_precision(textures.device):
        maps = cumulative_log_polar(textures.power(), textures.width, out_r, out_t, r_min)
        map_pred, map_target = textures.split(maps)
        gap = map_pred - map_target
        gap = gap - gap.mean(dim=2, keepdim=True)
        return textures.finish(w * gap.square().mean(dim=(1, 2)), reduction, weights)


def scale_consistency_loss(
    pred1: torch.Tensor,
    pred2: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    r_bins: int = 256,
    tau: float = 0.06,
    min_bin: int = 2,
    max_bin: int | None = None,
    w: float = 1.0,
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """``w * (ln rho_1 - ln rho_2)^2``: two generations under the same conditions should repeat
    their pattern at the same scale. Symmetric in ``pred1`` and ``pred2``; options as in
    :func:`estimate_texture_period`."""
    r_bins, tau, min_bin, max_bin = check_peak_options(r_bins, tau, min_bin, max_bin)
    w = check_number(w, "w", minimum=0.0)
    textures = TextureBatch([("pred1", pred1), ("pred2", pred2)], mask)
    weights = check_reduction(reduction, weights, textures.batch)
    with full_precision(textures.device):
        peaks = _peaks(textures, textures.power(), r_bins, tau, min_bin, max_bin)
        rho1, rho2 = textures.split(peaks.frequency)
        return textures.finish(w * (torch.log(rho1) - torch.log(rho2)) ** 2, reduction, weights)


def acf_lags(
    textures: TextureBatch, r_bins: int, tau: float, min_rel: float, max_rel: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Radial ACF profiles ``[copies * B, r_bins]``, the lag of each bin and the first-peak lags."""
    max_lag = min(textures.height, textures.width) // 2
    normaliser = overlap_normaliser(textures.window, max_lag)
    correlation = torch.cat([correlation_of_signal(y, normaliser, max_lag) for y in textures.signals])
    profile, lags = radial_correlation(correlation, max_lag, r_bins)
    return profile, lags, acf_first_peak(profile, lags, tau, min_rel, max_rel)


def acf_period_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    r_bins: int = 256,
    tau: float = 0.08,
    min_rel: float = 0.03,
    max_rel: float = 0.6,
    w: float = 1.0,
    reduction: str = "mean",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """``w * (ln lag_pred - ln lag_target)^2`` with the lag (px) of the first significant peak of
    each radially averaged autocorrelation (:func:`~comfy_editloss.losses.spectral.acf_first_peak`).

    Lags are searched between ``min_rel`` and ``max_rel`` times half the shorter image side (with the
    defaults on 512 px: about 8 to 154 px); ``tau`` is the soft-argmax temperature in units of
    correlation; ``r_bins`` radial lag bins.
    """
    r_bins, tau, min_rel, max_rel = check_acf_options(r_bins, tau, min_rel, max_rel)
    w = check_number(w, "w", minimum=0.0)
    textures = TextureBatch([("pred", pred), ("target", target)], mask)
    weights = check_reduction(reduction, weights, textures.batch)
    with full_precision(textures.device):
        _, _, first = acf_lags(textures, r_bins, tau, min_rel, max_rel)
        lag_pred, lag_target = textures.split(first)
        return textures.finish(w * (torch.log(lag_pred) - torch.log(lag_target)) ** 2, reduction, weights)
