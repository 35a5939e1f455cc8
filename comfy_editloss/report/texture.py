"""Pictures of the texture-scale measurements, as ComfyUI IMAGEs ``[B, H, W, 3]``: why a generated
material's pattern is at the wrong scale, at a glance.

* :func:`spectrum_picture`: the radially averaged power spectra of generation and target on a
  log-frequency axis labelled in pixels of period, the detected peaks and the band the spectral
  loss looks at;
* :func:`acf_picture`: the radial autocorrelation profiles with their first peaks and the search range;
* :func:`log_polar_picture`: the two log-polar spectra side by side on one colour scale, and where
  their power differs.

Each takes the library's layout (``[B, 1 or 3, H, W]`` images, ``[B, 1, H, W]`` mask or ``None``)
and one row per sample.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..losses import texture as T
from ..losses.reduction import full_precision
from ..losses.spectral import dominant_peak, log_polar_power, radial_profile, ring_counts
from .heatmap import colorize
from .plot import BAND, INK, PREDICTION, TARGET, Chart, font

CHART_SIZE = (640, 360)


def _period_label(frequency: float) -> str:
    period = 2 / frequency
    return f"{period:.0f}" if period >= 10 else f"{period:.2g}"


def _period_ticks(low: float, high: float) -> list[float]:
    """Frequencies of round periods (2, 3, 4, 6, 8, 12, 16, ... px) within [low, high]."""
    periods = [m * 2.0**k for k in range(0, 14) for m in (1.0, 1.5)]
    return sorted(2 / p for p in periods if low <= 2 / p <= high)


def _stack(rows: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(rows)).clamp(0, 1)


def spectrum_picture(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    center_override: torch.Tensor | None = None,
    *,
    r_bins: int = 256,
    tau: float = 0.06,
    band_sigma: float = 0.15,
    w_peak: float = 1.0,
    w_band: float = 1.0,
    min_bin: int = 2,
    max_bin: int | None = None,
    size: tuple[int, int] = CHART_SIZE,
) -> torch.Tensor:
    """Radially averaged spectra of generation and target, their peaks and the band (one chart per
    sample, ``size`` = (width, height)). Arguments as :func:`~comfy_editloss.losses.spectral_period_loss`."""
    r_bins, tau, min_bin, max_bin = T.check_peak_options(r_bins, tau, min_bin, max_bin)
    losses = T.spectral_period_loss(
        pred, target, mask, center_override, r_bins=r_bins, tau=tau, band_sigma=band_sigma, w_peak=w_peak,
        w_band=w_band, min_bin=min_bin, max_bin=max_bin, reduction="none",
    )
    textures = T.TextureBatch([("pred", pred), ("target", target)], mask)
    with torch.no_grad(), full_precision(textures.device):
        power = textures.power()
        peaks = dominant_peak(power, textures.width, r_bins, tau, min_bin, max_bin)
        profiles = radial_profile(power, textures.width, r_bins).cpu().double()
        counts = ring_counts(textures.height, textures.width, r_bins, power.device, power.dtype)
    frequency = peaks.frequency.cpu().double()
    b = textures.batch
    k = np.arange(r_bins)
    rho = k / r_bins
    usable = (k >= min_bin) & (k <= max_bin) & (counts.cpu().numpy() > 0)
    low, high = max(min_bin, 1) / r_bins, max_bin / r_bins
    rows = []
    for i in range(b):
        curves = []
        for j in (i, b + i):
            values = profiles[j].numpy()
            top = values[usable].max() if usable.any() else 0.0
            with np.errstate(divide="ignore"):
                curves.append(np.where(usable & (values > 0), np.log10(np.maximum(values, 1e-300) / max(top, 1e-300)), np.nan))
        finite = np.concatenate([c[np.isfinite(c)] for c in curves]) if any(np.isfinite(c).any() for c in curves) else np.array([-1.0])
        y_low = max(float(finite.min()), -8.0)
        f_pred, f_target = float(frequency[i]), float(frequency[b + i])
        center = float(center_override[i]) if center_override is not None else f_target
        ratio = f_target / f_pred
        chart = Chart(
            *size, x_range=(low, high), y_range=(math.floor(y_low), 0.3), x_log=True,
            title=f"sample {i}: period {2 / f_pred:.1f} px, target {2 / f_target:.1f} px (x{ratio:.2f})  |  spectral loss {float(losses[i]):.3g}",
            x_label="period (px), log scale: radial frequency = 2 / period",
            y_label="log10 power (ring mean, peak = 0)",
            x_ticks=_period_ticks(low, high), x_tick_label=_period_label,
        )
        chart.span(center * math.exp(-band_sigma), center * math.exp(band_sigma), BAND, 70, label=f"band ±sigma ({'override' if center_override is not None else 'target peak'})")
        chart.line(rho, curves[1], TARGET, label="target")
        chart.line(rho, curves[0], PREDICTION, label="generation")
        # Each note on the side away from the other line.
        chart.vline(f_target, TARGET, dashed=True, text=f"target {2 / f_target:.1f} px", text_row=0, text_left=f_target < f_pred)
        chart.vline(f_pred, PREDICTION, dashed=True, text=f"generation {2 / f_pred:.1f} px", text_row=1, text_left=f_pred <= f_target)
        rows.append(chart.render())
    return _stack(rows)


def acf_picture(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    r_bins: int = 256,
    tau: float = 0.08,
    min_rel: float = 0.03,
    max_rel: float = 0.6,
    w: float = 1.0,
    size: tuple[int, int] = CHART_SIZE,
) -> torch.Tensor:
    """Radial autocorrelation profiles of generation and target with their first peaks; the lags
    outside the search range are greyed. Arguments as :func:`~comfy_editloss.losses.acf_period_loss`."""
    r_bins, tau, min_rel, max_rel = T.check_acf_options(r_bins, tau, min_rel, max_rel)
    losses = T.acf_period_loss(pred, target, mask, r_bins=r_bins, tau=tau, min_rel=min_rel, max_rel=max_rel, w=w, reduction="none")
    textures = T.TextureBatch([("pred", pred), ("target", target)], mask)
    with torch.no_grad(), full_precision(textures.device):
        profile, lags, first = T.acf_lags(textures, r_bins, tau, min_rel, max_rel)
    profile, lags, first = profile.cpu().double().numpy(), lags.cpu().double().numpy(), first.cpu().double().numpy()
    b = textures.batch
    max_lag = min(textures.height, textures.width) // 2
    rows = []
    for i in range(b):
        lag_pred, lag_target = first[i], first[b + i]
        chart = Chart(
            *size, x_range=(0.0, float(lags[-1])), y_range=(-1.0, 1.05),
            title=f"sample {i}: first ACF peak {lag_pred:.1f} px, target {lag_target:.1f} px (x{lag_pred / lag_target:.2f})  |  ACF loss {float(losses[i]):.3g}",
            x_label="lag (px)", y_label="autocorrelation (radial mean)",
        )
        grey = (150, 150, 150)
        chart.span(0.0, min_rel * max_lag, grey, 50, label="outside the search range")
        chart.span(max_rel * max_lag, float(lags[-1]), grey, 50)
        chart.line(lags, profile[b + i], TARGET, label="target")
        chart.line(lags, profile[i], PREDICTION, label="generation")
        for lag, other, colour, row in ((lag_target, lag_pred, TARGET, 0), (lag_pred, lag_target, PREDICTION, 1)):
            chart.vline(lag, colour, dashed=True, text=f"{lag:.1f} px", text_row=row, text_left=lag < other)
            chart.marker(lag, float(np.interp(lag, lags, profile[b + i if colour == TARGET else i])), colour)
        rows.append(chart.render())
    return _stack(rows)


def _diverging(values: np.ndarray) -> np.ndarray:
    """Signed values in [-1, 1] -> blue (negative) / white / red (positive) ``[..., 3]``."""
    v = np.clip(values, -1, 1)[..., None]
    white = np.ones(3)
    blue, red = np.array(TARGET) / 255.0, np.array((214, 39, 40)) / 255.0
    return np.where(v < 0, white + (-v) * (blue - white), white + v * (red - white))


def log_polar_picture(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    out_r: int = 128,
    out_t: int = 180,
    r_min: float = 1e-2,
    w: float = 1.0,
    panel: tuple[int, int] = (300, 220),
) -> torch.Tensor:
    """The log-polar power spectra of target and generation side by side (log10 of each cell's share
    of the power, one colour scale), then the difference of the shares (red: the generation has more
    power there, blue: the target has). A change of scale shifts the pattern left or right (along the
    log-period axis), a rotation up or down."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    out_r, out_t, r_min, w = T.check_log_polar_options(out_r, out_t, r_min, w)
    losses = T.log_polar_align_loss(pred, target, mask, out_r=out_r, out_t=out_t, r_min=r_min, w=w, reduction="none")
    textures = T.TextureBatch([("pred", pred), ("target", target)], mask)
    with torch.no_grad(), full_precision(textures.device):
        cells = log_polar_power(textures.power(), textures.width, out_r, out_t, r_min)
        cells = cells / cells.sum(dim=(1, 2), keepdim=True).clamp_min(1e-30)
    cells = cells.cpu().double().numpy()
    b = textures.batch
    pw, ph = panel
    left, top, gap, bottom = 44, 40, 16, 40
    width = left + 3 * pw + 2 * gap + 10
    height = top + ph + bottom
    small, normal = font(11), font(13)
    rows = []
    for i in range(b):
        maps = {"target": cells[b + i], "generation": cells[i]}
        logs = {k: np.log10(np.maximum(v, 1e-12)) for k, v in maps.items()}
        high = max(v.max() for v in logs.values())
        low = high - 5.0
        image = Image.new("RGB", (width, height), (250, 250, 250))
        draw = ImageDraw.Draw(image)
        draw.text((left, 8), f"sample {i}: log-polar spectra  |  log-polar loss {float(losses[i]):.3g}", fill=INK, font=normal)
        difference = maps["generation"] - maps["target"]
        scale = max(np.abs(difference).max(), 1e-12)
        panels = [
            ("target", colorize(torch.from_numpy((logs["target"] - low) / (high - low))).numpy()),
            ("generation", colorize(torch.from_numpy((logs["generation"] - low) / (high - low))).numpy()),
            # A power law (0.4) so that small differences of share still show.
            (f"generation - target (red: generation; max {scale:.2g})", _diverging(np.sign(difference) * (np.abs(difference) / scale) ** 0.4)),
        ]
        for n, (title, rgb) in enumerate(panels):
            x0 = left + n * (pw + gap)
            # Rows of the map are log radii (x here), columns angles (y here, -90 at the bottom).
            picture = np.transpose(rgb, (1, 0, 2))[::-1]
            tile = Image.fromarray((np.clip(picture, 0, 1) * 255).astype(np.uint8)).resize((pw, ph), Image.NEAREST)
            image.paste(tile, (x0, top))
            draw.rectangle([x0 - 1, top - 1, x0 + pw, top + ph], outline=INK)
            draw.text((x0, top - 16), title, fill=INK, font=small)
            for period in (2, 4, 8, 16, 32, 64, 128, 256):
                rho = 2 / period
                if r_min <= rho <= 1:
                    px = x0 + (math.log(rho) - math.log(r_min)) / -math.log(r_min) * (pw - 1)
                    draw.line([(px, top + ph), (px, top + ph + 4)], fill=INK)
                    label = str(period)
                    draw.text((px - draw.textlength(label, font=small) / 2, top + ph + 6), label, fill=INK, font=small)
            if n == 0:
                for angle in (-90, -45, 0, 45, 90):
                    py = top + ph - (angle + 90) / 180 * (ph - 1)
                    label = f"{angle}°"
                    draw.text((x0 - 6 - draw.textlength(label, font=small), py - 6), label, fill=INK, font=small)
        draw.text((left, top + ph + 22), "period (px), log scale  ->  finer pattern to the right; angle of repetition up", fill=INK, font=small)
        rows.append(np.asarray(image, dtype=np.float32) / 255.0)
    return _stack(rows)
