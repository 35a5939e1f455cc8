r"""What the texture-scale losses (seed 003) share: luma, a masked apodisation window, the power
spectrum and its radial profile, the dominant period, log-polar maps and the autocorrelation.

Conventions (one place for all four losses and the pictures):

* **Images** are ``[B, C, H, W]`` with ``C`` = 1 or 3; three channels are turned into luma
  (Rec. 601: ``0.299 R + 0.587 G + 0.114 B``). Any ``H != W``.
* **Masks** are ``[B, 1, H, W]`` in [0, 1] (binary or soft): the material region. The window is the
  mask times a separable Hann window over the mask's bounding box (extended by one pixel), so a
  region's hard frame does not leak into the spectrum. The texture is measured as
  ``y = window * (luma - weighted mean)``, divided by its energy: brightness, contrast and the area
  of the region do not change the spectrum's shape, only the pattern does. An all-zero mask for a
  sample is an error.
* **Frequencies** are normalised radial frequencies ``rho = 2 * |f|`` with ``f`` in cycles per
  pixel: 1 is the Nyquist frequency along an axis, and a period of ``p`` px is ``rho = 2 / p``.
  Radial bin ``k`` of ``r_bins`` is ``rho = k / r_bins`` (so with ``r_bins = 256`` on a 512 px
  image, one bin per FFT bin). Pixels are assigned linearly to the two nearest bins, so profiles
  change smoothly as a peak moves. Corners beyond ``rho = 1`` are left out.
* **Orientation** of a pattern is the direction in which it repeats (its wave vector), in degrees
  in [0, 180), counter-clockwise on screen from the x axis: 0 for vertical stripes, 90 for
  horizontal ones.
* The FFT path runs in float32 (float64 if given float64) with autocast off.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from .autograd import backward_by_autograd

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# The dominant peak's harmonic check: a sub-harmonic f/n counts when it is a peak of its own, within
# 0.35 bins of f/n, at least 3 bins from f and at least this fraction of f's power.
_HARMONIC_MIN_POWER = 0.1
_HARMONIC_ORDERS = (2, 3, 4)
# The ACF's first peak must rise this much (in correlation) above the lowest value before it.
ACF_PROMINENCE = 0.1
_TINY = 1e-30
# Contrast (relative to the mean brightness) below which a texture counts as flat.
_FLAT = 1e-5


def grid_cache(maxsize: int):
    """``functools.lru_cache`` for functions that build constant tensors (frequency grids, bin
    assignments) from sizes, devices and dtypes.

    The tensors are built with inference mode and autograd off, so they are plain constants: a first
    call under ``torch.inference_mode()`` (every ComfyUI node call) must not cache inference tensors,
    which a later differentiable call could not save for backward. Callers must not modify them.
    """

    def decorate(function):
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def build(*args):
            if torch.is_inference_mode_enabled():
                with torch.inference_mode(False), torch.no_grad():
                    return cached(*args)
            with torch.no_grad():
                return cached(*args)

        build.cache_clear = cached.cache_clear
        build.cache_info = cached.cache_info
        return build

    return decorate


# ---------------------------------------------------------------------------------------------
# The texture signal
# ---------------------------------------------------------------------------------------------


def luma(images: torch.Tensor) -> torch.Tensor:
    """``[B, 1 or 3, H, W]`` -> ``[B, 1, H, W]`` (Rec. 601 luma; one channel is returned as is)."""
    if images.shape[1] == 1:
        return images
    red, green, blue = LUMA_WEIGHTS
    # One output buffer and two in-place accumulations: no [B, 3, H, W] temporary.
    return (images[:, 0:1] * red).add_(images[:, 1:2], alpha=green).add_(images[:, 2:3], alpha=blue)


def _bounding_hann(present: torch.Tensor) -> torch.Tensor:
    """``[B, n]`` bool (where the mask is on along one axis) -> ``[B, n]`` Hann window over the
    span from the first to the last such index, extended by one pixel so its ends are not zero."""
    n = present.shape[-1]
    index = torch.arange(n, device=present.device)
    first = torch.where(present, index, n).amin(dim=-1)
    last = torch.where(present, index, -1).amax(dim=-1)
    span = (last - first + 2).clamp_min(1).to(torch.float64)
    t = (index[None] - first[:, None] + 1).to(torch.float64) / span[:, None]
    return torch.where((t > 0) & (t < 1), torch.sin(math.pi * t) ** 2, torch.zeros_like(t))


def apodisation_window(mask: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W]`` mask -> the window ``mask * hann_y * hann_x`` over the mask's bounding box."""
    on = mask[:, 0] > 0
    hann_y = _bounding_hann(on.any(dim=-1)).to(mask.dtype)
    hann_x = _bounding_hann(on.any(dim=-2)).to(mask.dtype)
    return torch.einsum("bh,bw->bhw", hann_y, hann_x).unsqueeze(1).mul_(mask)


def texture_signal(images: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The windowed texture ``y [B, H, W]`` with unit energy, and the window ``[B, H, W]``.

    ``y = w (luma - mean_w) / ||w (luma - mean_w)||``: a texture with no contrast gives zeros.
    """
    window = apodisation_window(mask)[:, 0]
    return whiten(luma(images)[:, 0], window), window


def whiten(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """``x [N, H, W]`` (luma) under ``window [N, H, W]`` -> the unit-energy windowed texture
    ``window * (x - mean) / norm``, with ``mean`` the window-weighted mean; the same for any
    positive scaling of ``x``."""
    # The result does not depend on the scale of x: divide by its largest magnitude first, so that
    # neither the mean nor the energy overflows (or underflows) for extreme pixel values.
    scale = x.detach().abs().flatten(1).amax(dim=1)[:, None, None]
    x = x / torch.where(scale > 0, scale, torch.ones_like(scale))
    flat_w = window.flatten(1)
    mean = (torch.einsum("ni,ni->n", x.flatten(1), flat_w) / flat_w.sum(dim=1))[:, None, None]
    y = (x - mean).mul_(window)
    energy = torch.linalg.vector_norm(y, dim=(-2, -1), keepdim=True).square()
    # A texture whose contrast is at the level of rounding (a flat colour) has no pattern: it becomes
    # zeros with zero gradient, rather than its rounding noise blown up to unit energy.
    floor = (_FLAT * (mean.detach().abs() + 1e-6)) ** 2 * flat_w.square().sum(dim=1)[:, None, None]
    return y * (torch.rsqrt(energy + floor) * (energy.detach() > floor))


class _PowerSpectrum(torch.autograd.Function):
    """``|rfft2(y)|^2 / (H W)`` with a backward that is one ``irfft2`` (the generic backward of
    ``rfft2`` goes through a full complex transform and several full-size temporaries)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(y)
        size = y.shape[-2] * y.shape[-1]
        power = torch.view_as_real(spectrum).square().sum(dim=-1).div_(size)
        ctx.save_for_backward(y, spectrum)
        ctx.width = y.shape[-1]
        return power

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # d/dy sum_k g_k |Y_k|^2 / N = (2 / N) Re sum_k g_k Y_k e^{i w k n} over the half plane, which
        # is 2 * irfft2(c * g * Y) with c = 1/2 on the columns irfft2 mirrors (all but column 0 and,
        # for even W, the Nyquist column) and g made symmetric on those two columns (P(-r) = P(r)
        # there, so only the symmetric part of g matters, and it keeps c * g * Y Hermitian).
        y, spectrum = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a backward that is itself differentiable
            return backward_by_autograd(_plain_power, (y,), ctx.needs_input_grad, grad)[0]
        width = ctx.width
        height = grad.shape[-2]
        grad = grad * 0.5
        mirror = (-torch.arange(height, device=grad.device)) % height
        own = [0] + ([grad.shape[-1] - 1] if width % 2 == 0 else [])
        for column in own:
            grad[..., column] = grad[..., column] + grad[..., mirror, column]
        return torch.fft.irfft2(spectrum * grad, s=(height, width)).mul_(2)


def _plain_power(y: torch.Tensor) -> torch.Tensor:
    """What :class:`_PowerSpectrum` computes, through autograd's own ``rfft2``."""
    return torch.fft.rfft2(y).abs().square() / (y.shape[-2] * y.shape[-1])


def spectrum_of_signal(y: torch.Tensor) -> torch.Tensor:
    """Power spectrum ``[N, H, W // 2 + 1]`` of unit-energy textures ``y [N, H, W]``."""
    return _PowerSpectrum.apply(y)


# ---------------------------------------------------------------------------------------------
# Spectrum and radial profile
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrequencyGrid:
    """Frequencies of ``torch.fft.rfft2`` output ``[H, W // 2 + 1]``."""

    height: int
    width: int
    fx: torch.Tensor  # cycles per pixel along x
    fy: torch.Tensor  # cycles per pixel along y (rows, downwards)
    rho: torch.Tensor  # normalised radial frequency 2 |f|
    multiplicity: torch.Tensor  # [W // 2 + 1]: how many full-spectrum bins each column stands for


@grid_cache(maxsize=16)
def frequency_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> FrequencyGrid:
    columns = width // 2 + 1
    fy = torch.fft.fftfreq(height, device=device, dtype=dtype)[:, None].expand(height, columns)
    fx = torch.fft.rfftfreq(width, device=device, dtype=dtype)[None, :].expand(height, columns)
    multiplicity = torch.full((columns,), 2.0, device=device, dtype=dtype)
    multiplicity[0] = 1.0
    if width % 2 == 0:
        multiplicity[-1] = 1.0  # the Nyquist column has no mirror of its own
    return FrequencyGrid(height, width, fx, fy, 2 * torch.sqrt(fx * fx + fy * fy), multiplicity)


def power_spectrum(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Normalised power spectrum ``[B, H, W // 2 + 1]`` of the masked texture (half plane of
    ``rfft2``): over the full plane it sums to 1 (Parseval), a distribution over frequencies."""
    y, _ = texture_signal(images, mask)
    return spectrum_of_signal(y)


@grid_cache(maxsize=16)
def _radial_assignment(height: int, width: int, r_bins: int, device: torch.device, dtype: torch.dtype):
    grid = frequency_grid(height, width, device, dtype)
    t = grid.rho * r_bins
    low = torch.floor(t)
    frac = t - low
    low = low.long()
    index = torch.stack([low, low + 1]).clamp(max=r_bins).reshape(2, -1)  # bin r_bins: dropped
    weight = (torch.stack([1 - frac, frac]) * grid.multiplicity).reshape(2, -1)
    counts = torch.zeros(r_bins + 1, device=device, dtype=dtype).index_add_(0, index.flatten(), weight.flatten())
    return index.flatten(), weight, counts[:r_bins]


def radial_power(power: torch.Tensor, width: int, r_bins: int = 256) -> torch.Tensor:
    """Power per radial bin ``[B, r_bins]`` of spectra ``[B, H, W // 2 + 1]`` of images ``W`` wide
    (summed over each ring of the full plane; the two bins either side of a frequency share it
    linearly, through one ``scatter_add``)."""
    batch, height, _ = power.shape
    index, weight, _ = _radial_assignment(height, width, r_bins, power.device, power.dtype)
    values = (power.reshape(batch, 1, -1) * weight).reshape(batch, -1)
    sums = torch.zeros(batch, r_bins + 1, device=power.device, dtype=power.dtype)
    return sums.scatter_add(1, index.expand(batch, -1), values)[:, :r_bins]


def radial_profile(power: torch.Tensor, width: int, r_bins: int = 256) -> torch.Tensor:
    """Radially averaged power spectrum ``[B, r_bins]``: the mean power in each ring (0 for a ring
    with no frequency bin in it, which happens when ``r_bins`` exceeds the image's half size)."""
    _, height, _ = power.shape
    _, _, counts = _radial_assignment(height, width, r_bins, power.device, power.dtype)
    return radial_power(power, width, r_bins) / counts.clamp_min(1e-12)


def ring_counts(height: int, width: int, r_bins: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """How many frequency bins (linearly shared) fall in each of the ``r_bins`` rings ``[r_bins]``:
    0 marks a ring finer than the image's frequency spacing, which holds no frequency."""
    return _radial_assignment(height, width, r_bins, torch.device(device or "cpu"), dtype)[2]


def bin_frequencies(r_bins: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised frequency of each radial bin: ``k / r_bins``."""
    return torch.arange(r_bins, device=device, dtype=dtype) / r_bins


def soft_argmax(scores: torch.Tensor, positions: torch.Tensor, tau: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_k softmax(scores / tau)_k * positions_k`` over the last dim (``valid`` selects).

    ``scores`` are normalised by the caller so that ``tau`` has a fixed meaning (e.g. fractions of
    the peak's height): candidates below the best by several ``tau`` hardly count; ``tau -> 0``
    gives the position of the maximum, a large ``tau`` the plain mean of the positions.
    """
    logits = scores / tau
    if valid is not None:
        logits = logits.masked_fill(~valid, float("-inf"))
    return (torch.softmax(logits, dim=-1) * positions).sum(dim=-1)


# ---------------------------------------------------------------------------------------------
# The dominant period
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TexturePeak:
    """The dominant periodic component of each texture of a batch (all ``[B]``).

    Attributes:
        frequency: normalised radial frequency ``rho`` (1 = Nyquist), differentiable.
        period_px: ``2 / frequency``, the period in pixels, differentiable.
        orientation_deg: direction of repetition, degrees in [0, 180), counter-clockwise on screen.
        strength: share of the texture's spectral power within one bin of the strongest peak (and its
            mirror): near 0 for a texture with no periodic pattern, up to about 1 for one sinusoid.
        harmonic: ``n`` when the strongest peak was the n-th harmonic of the period (thin grout lines
            and mortar joints put as much power in harmonics as in the fundamental), else 1.
    """

    frequency: torch.Tensor
    period_px: torch.Tensor
    orientation_deg: torch.Tensor
    strength: torch.Tensor
    harmonic: torch.Tensor


def _gather_around(values: torch.Tensor, row: torch.Tensor, col: torch.Tensor, width: int, radius: int) -> torch.Tensor:
    """``values [B, H, W//2+1]`` (or one map ``[H, W//2+1]`` for all) at ``(row + i, col + j)`` for
    ``|i|, |j| <= radius`` -> ``[B, n, n]``, reading columns outside the half plane from their
    mirror ``(-row, -col)`` (a real image's spectrum is symmetric), so a peak on the edge of the
    half plane keeps its whole neighbourhood."""
    height, columns = values.shape[-2], values.shape[-1]
    batch = row.shape[0]
    offsets = torch.arange(-radius, radius + 1, device=values.device)
    n = 2 * radius + 1
    rows = ((row[:, None, None] + offsets[None, :, None]) % height).expand(batch, n, n)
    cols = (col[:, None, None] + offsets[None, None, :]).expand(batch, n, n)
    outside = (cols < 0) | (cols > columns - 1)
    rows = torch.where(outside, (-rows) % height, rows)
    cols = torch.where(cols < 0, -cols, torch.where(cols > columns - 1, width - cols, cols))
    flat = (rows * columns + cols).reshape(batch, -1)
    if values.dim() == 2:
        return values.reshape(-1)[flat].view(batch, n, n)
    return values.reshape(batch, -1).gather(1, flat).view(batch, n, n)


def _parabolic_offset(left: torch.Tensor, centre: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Sub-bin offset of the vertex of the parabola through three log-powers, in [-0.5, 0.5]
    (exact for a Gaussian peak, within a few hundredths of a bin for a Hann-windowed sinusoid);
    0 where the three do not bend down."""
    curvature = left - 2 * centre + right
    bends = curvature < -1e-6
    safe = torch.where(bends, curvature, -torch.ones_like(curvature))
    return torch.where(bends, 0.5 * (left - right) / safe, torch.zeros_like(curvature)).clamp(-0.5, 0.5)


def _signed(index: torch.Tensor, size: int) -> torch.Tensor:
    return torch.where(index < (size + 1) // 2, index, index - size)


def dominant_peak(
    power: torch.Tensor,
    width: int,
    r_bins: int = 256,
    tau: float = 0.06,
    min_bin: int = 2,
    max_bin: int | None = None,
) -> TexturePeak:
    """The dominant period of textures from their power spectra ``[B, H, W//2+1]`` (arguments
    checked by the caller; ``width`` is the images' W).

    1. The strongest frequency bin with ``min_bin <= rho * r_bins <= max_bin`` (DC and the far tail
       are left out).
    2. A soft-argmax over it and its 8 neighbours, each voting for its own sub-bin peak position (the
       vertex of a parabola through the log-power, per axis), with weights
       ``softmax((P / P_max) / tau)``: ``tau -> 0`` keeps the strongest bin's estimate; a larger
       ``tau`` lets neighbours share the vote, smoothing the estimate and its gradient as the peak
       crosses bins. Accurate to well under 1% of the period (see tests).
    3. If that peak is the n-th harmonic of a lower peak (n = 2, 3, 4), the period is n times its
       period: a grid of thin lines has harmonics as strong as its fundamental.
    """
    batch, height, columns = power.shape
    grid = frequency_grid(height, width, power.device, power.dtype)
    max_bin = r_bins if max_bin is None else max_bin
    in_ring = (grid.rho * r_bins >= min_bin) & (grid.rho * r_bins <= max_bin)
    strongest = power.masked_fill(~in_ring, -1.0).reshape(batch, -1).argmax(dim=1)
    row, col = strongest // columns, strongest % columns

    logs = torch.log(_gather_around(power, row, col, width, 2) + _TINY)  # [B, 5, 5]
    near = _gather_around(power, row, col, width, 1)  # [B, 3, 3]
    centre = logs[:, 1:4, 1:4]
    dx = _parabolic_offset(logs[:, 1:4, 0:3], centre, logs[:, 1:4, 2:5])
    dy = _parabolic_offset(logs[:, 0:3, 1:4], centre, logs[:, 2:5, 1:4])
    offsets = torch.arange(-1, 2, device=power.device, dtype=power.dtype)
    pos_y = (_signed(row, height).to(power.dtype)[:, None, None] + offsets[None, :, None] + dy) / height
    pos_x = (col.to(power.dtype)[:, None, None] + offsets[None, None, :] + dx) / width
    top = near[:, 1, 1]
    # Only frequencies inside the search ring vote, so the estimate never slides onto DC.
    voters = _gather_around(in_ring, row, col, width, 1)
    logits = (near / top.clamp_min(_TINY)[:, None, None] / tau).masked_fill(~voters, float("-inf"))
    votes = torch.softmax(logits.reshape(batch, -1), dim=1).view(batch, 3, 3)
    fx = (votes * pos_x).sum(dim=(1, 2))
    fy = (votes * pos_y).sum(dim=(1, 2))

    harmonic = torch.ones(batch, device=power.device, dtype=torch.long)
    logs_top = torch.log(top + _TINY)
    for n in _HARMONIC_ORDERS:
        harmonic = torch.where(_has_subharmonic(power, width, fx, fy, n, logs_top, top, r_bins, min_bin), n, harmonic)
    fx, fy = fx / harmonic, fy / harmonic
    frequency = 2 * torch.sqrt(fx * fx + fy * fy)
    orientation = torch.rad2deg(torch.atan2(-fy, fx)).remainder(180.0) + 0.0  # no -0
    # remainder(-1e-17, 180) rounds to 180.0 itself: the same direction as 0, outside [0, 180).
    orientation = torch.where(orientation >= 180.0, orientation - 180.0, orientation)
    strength = (2 * near.sum(dim=(1, 2))).clamp(max=1.0)
    return TexturePeak(frequency, 2 / frequency, orientation, strength.detach(), harmonic)


def _has_subharmonic(power, width, fx, fy, n, logs_top, top, r_bins, min_bin) -> torch.Tensor:
    """Whether ``f / n`` is a peak of its own (see :func:`dominant_peak`), per sample."""
    height = power.shape[-2]
    with torch.no_grad():
        ty, tx = fy * height / n, fx * width / n  # f / n in bins
        row = torch.round(ty).long() % height
        col = torch.round(tx).long()
        flip = col < 0
        row, col = torch.where(flip, (-row) % height, row), col.abs()
        around = _gather_around(power, row, col, width, 1).reshape(power.shape[0], -1)
        best = around.argmax(dim=1)
        row = (row + best // 3 - 1) % height
        col = col + best % 3 - 1
        flip = col < 0
        row, col = torch.where(flip, (-row) % height, row), col.abs()
        own = _gather_around(power, row, col, width, 1).reshape(power.shape[0], -1)
        logs = torch.log(own + _TINY)
        peak_x = col.to(power.dtype) + _parabolic_offset(logs[:, 3], logs[:, 4], logs[:, 5])
        peak_y = _signed(row, height).to(power.dtype) + _parabolic_offset(logs[:, 1], logs[:, 4], logs[:, 7])
        off = torch.minimum(
            torch.maximum((peak_x - tx).abs(), (peak_y - ty).abs()),
            torch.maximum((peak_x + tx).abs(), (peak_y + ty).abs()),
        )
        distance = torch.sqrt(tx * tx + ty * ty) * (n - 1)  # |f - f/n| in bins
        radius_bins = 2 * torch.sqrt(fx * fx + fy * fy) / n * r_bins
        return (
            (own[:, 4] >= own.amax(dim=1))
            & (own[:, 4] > 0)
            & (logs[:, 4] >= logs_top + math.log(_HARMONIC_MIN_POWER))
            & (off <= 0.35)
            & (distance >= 3)
            & (radius_bins >= min_bin)
            & (top > 0)
        )


# ---------------------------------------------------------------------------------------------
# Log-polar maps
# ---------------------------------------------------------------------------------------------


@grid_cache(maxsize=16)
def _log_polar_assignment(height: int, width: int, out_r: int, out_t: int, r_min: float, device: torch.device, dtype: torch.dtype):
    grid = frequency_grid(height, width, device, dtype)
    rho = grid.rho
    u = (torch.log(rho.clamp_min(_TINY)) - math.log(r_min)) / -math.log(r_min) * (out_r - 1)
    angle = torch.atan2(-grid.fy, grid.fx)  # [-pi/2, pi/2]: the half plane of rfft2
    v = (angle + math.pi / 2) / math.pi * out_t
    u0, v0 = torch.floor(u), torch.floor(v)
    fu, fv = u - u0, v - v0
    u0, v0 = u0.long(), v0.long()
    inside = (rho > 0) & (u >= 0) & (u <= out_r - 1)
    # Column 0 holds both f and -f (angles +-90 deg, the same direction): half weight each.
    column = torch.where(grid.fx == 0, 0.5, 1.0).to(dtype)
    indices, weights = [], []
    for du, wu in ((0, 1 - fu), (1, fu)):
        for dv, wv in ((0, 1 - fv), (1, fv)):
            indices.append((u0 + du).clamp(0, out_r - 1) * out_t + (v0 + dv) % out_t)
            weights.append(wu * wv * column * inside)
    return torch.stack(indices).reshape(4, -1).flatten(), torch.stack(weights).reshape(4, -1)


def log_polar_power(power: torch.Tensor, width: int, out_r: int = 128, out_t: int = 180, r_min: float = 1e-2) -> torch.Tensor:
    """The spectrum's power in log-polar cells ``[B, out_r, out_t]``: rows are log-spaced radii
    from ``r_min`` to 1 (normalised frequency), columns directions from -90 to 90 degrees
    (counter-clockwise on screen). Each frequency bin's power is shared bilinearly between the four
    nearest cells, so the total is kept (no sampling aliasing at high frequencies). A change of
    scale shifts the map along the rows, a rotation along the columns (cyclically)."""
    batch, height, _ = power.shape
    index, weight = _log_polar_assignment(height, width, out_r, out_t, float(r_min), power.device, power.dtype)
    values = (power.reshape(batch, 1, -1) * weight).reshape(batch, -1)
    cells = torch.zeros(batch, out_r * out_t, device=power.device, dtype=power.dtype)
    return cells.scatter_add(1, index.expand(batch, -1), values).view(batch, out_r, out_t)


def cumulative_log_polar(power: torch.Tensor, width: int, out_r: int = 128, out_t: int = 180, r_min: float = 1e-2) -> torch.Tensor:
    """The log-polar map as a distribution function ``[B, out_r, out_t]``: the share of the power
    in ``r_min <= rho <= r`` and directions from -90 degrees up to ``theta``."""
    cells = log_polar_power(power, width, out_r, out_t, r_min)
    cells = cells / (cells.sum(dim=(1, 2), keepdim=True) + _TINY)
    return cells.cumsum(dim=1).cumsum(dim=2)


# ---------------------------------------------------------------------------------------------
# Autocorrelation (Wiener-Khinchin)
# ---------------------------------------------------------------------------------------------


def autocorrelation(images: torch.Tensor, mask: torch.Tensor, max_lag: int) -> torch.Tensor:
    r"""Autocorrelation of the masked texture for lags ``|dy|, |dx| <= max_lag``.

    :math:`c(\tau) = \sum_x y(x) y(x+\tau) / \sum_x w(x) w(x+\tau)`, divided by :math:`c(0)`: the
    windowed covariance at each lag over the window's own overlap (so the window's taper does not
    pull peaks towards short lags), as a correlation (1 at lag 0). Computed as the inverse FFT of
    the power spectrum (Wiener-Khinchin) with zero padding by ``max_lag``, so it is the linear, not
    the circular, autocorrelation. Returns ``[B, H + max_lag, W + max_lag]`` in FFT layout (lag
    ``-d`` at index ``size - d``).
    """
    y, window = texture_signal(images, mask)
    return correlation_of_signal(y, overlap_normaliser(window, max_lag), max_lag)


def overlap_normaliser(window: torch.Tensor, max_lag: int) -> torch.Tensor:
    """``w_overlap(0) / w_overlap(tau)`` for windows ``[N, H, W]`` (0 where the overlap vanishes), in
    the layout of :func:`correlation_of_signal`; no gradient."""
    size = (window.shape[-2] + max_lag, window.shape[-1] + max_lag)
    with torch.no_grad():
        spectrum = torch.fft.rfft2(window.detach(), s=size)
        overlap = torch.fft.irfft2(spectrum.real.square() + spectrum.imag.square(), s=size)
        zero_lag = overlap[:, :1, :1]
        usable = overlap > 1e-6 * zero_lag
        return torch.where(usable, zero_lag / torch.where(usable, overlap, zero_lag), torch.zeros_like(overlap))


def correlation_of_signal(y: torch.Tensor, normaliser: torch.Tensor, max_lag: int) -> torch.Tensor:
    """:func:`autocorrelation` of textures ``y [N, H, W]``, given their windows'
    :func:`overlap_normaliser`."""
    size = (y.shape[-2] + max_lag, y.shape[-1] + max_lag)
    spectrum = torch.fft.rfft2(y, s=size)
    raw = torch.fft.irfft2(spectrum.real.square() + spectrum.imag.square(), s=size)
    zero = raw[:, :1, :1]
    return raw * normaliser / zero.clamp_min(_TINY) * (zero > 0)


@grid_cache(maxsize=16)
def _lag_assignment(height: int, width: int, max_lag: int, device: torch.device, dtype: torch.dtype):
    """Linear assignment of the lags of a correlation map in FFT layout to 1-px rings 0..max_lag."""
    lag_y = _signed(torch.arange(height, device=device), height).to(dtype)
    lag_x = _signed(torch.arange(width, device=device), width).to(dtype)
    radius = torch.sqrt(lag_y[:, None] ** 2 + lag_x[None, :] ** 2)
    low = torch.floor(radius)
    frac = radius - low
    low = low.long()
    index = torch.stack([low, low + 1]).clamp(max=max_lag + 1).reshape(2, -1)  # ring max_lag+1: dropped
    weight = torch.stack([1 - frac, frac]).reshape(2, -1)
    counts = torch.zeros(max_lag + 2, device=device, dtype=dtype).index_add_(0, index.flatten(), weight.flatten())
    return index.flatten(), weight, counts[: max_lag + 1]


def acf_profile(images: torch.Tensor, mask: torch.Tensor, r_bins: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Radially averaged autocorrelation ``[B, r_bins]`` and the lag of each bin in pixels
    ``[r_bins]``: bin ``k`` is lag ``k * R / r_bins`` with ``R = min(H, W) // 2``."""
    max_lag = min(images.shape[-2], images.shape[-1]) // 2
    return radial_correlation(autocorrelation(images, mask, max_lag), max_lag, r_bins)


def radial_correlation(correlation: torch.Tensor, max_lag: int, r_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Radial profile ``[N, r_bins]`` of correlation maps from :func:`correlation_of_signal`, and the
    lag of each bin, ``k * max_lag / r_bins`` px.

    The map is first averaged over rings 1 px apart (each lag shared linearly between the two nearest
    rings, one ``scatter_add``), then read at the bins' lags by linear interpolation: bins finer than
    a pixel (``r_bins`` > ``max_lag``, small images) stay smooth rather than empty.
    """
    batch, height, width = correlation.shape
    index, weight, counts = _lag_assignment(height, width, max_lag, correlation.device, correlation.dtype)
    values = (correlation.reshape(batch, 1, -1) * weight).reshape(batch, -1)
    sums = torch.zeros(batch, max_lag + 2, device=correlation.device, dtype=correlation.dtype)
    rings = sums.scatter_add(1, index.expand(batch, -1), values)[:, : max_lag + 1] / counts.clamp_min(1e-12)
    lags = torch.arange(r_bins, device=correlation.device, dtype=correlation.dtype) * (max_lag / r_bins)
    low = lags.floor().long().clamp(max=max_lag - 1)
    frac = lags - low.to(lags.dtype)
    profile = rings[:, low] * (1 - frac) + rings[:, low + 1] * frac
    return profile, lags


@grid_cache(maxsize=8)
def _peak_neighbourhoods(r_bins: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``[r_bins, r_bins]`` bool: bin j is within ``max(2, round(0.15 k))`` bins of bin k; and the
    soft-argmax windows, ``max(2, round(0.25 k))``."""
    k = torch.arange(r_bins, device=device)
    gap = (k[None, :] - k[:, None]).abs()
    near = gap <= (0.15 * k).round().clamp_min(2)[:, None]
    window = gap <= (0.25 * k).round().clamp_min(2)[:, None]
    return near, window


def acf_first_peak(profile: torch.Tensor, lags: torch.Tensor, tau: float = 0.08, min_rel: float = 0.03, max_rel: float = 0.6) -> torch.Tensor:
    """Lag in pixels ``[B]`` of the first significant peak of radial ACF profiles ``[B, r_bins]``.

    Searched among bins ``min_rel * r_bins .. max_rel * r_bins`` (fractions of the largest lag,
    half the shorter image side): the first bin that is the maximum of the profile within 15% of its
    lag (at least 2 bins), so that wiggles on a flank do not count, and that rises at least
    ``ACF_PROMINENCE`` (0.1) above the lowest correlation at any shorter lag. Its position is a
    soft-argmax over the bins within a quarter of its lag (at least 2 bins), with weights
    ``softmax((c_k - c_peak) / tau)``; ``tau`` is in units of correlation: ``tau -> 0`` gives the
    peak bin's lag, a larger one pulls the estimate towards the middle of the window. With no such
    peak (no repeating pattern), the most prominent bin in range is used.

    A radially averaged ACF peaks at the period of a 2-D lattice (tiles, bricks), but the circular
    average of a 1-D pattern (stripes, planks) peaks about 12% beyond its period (as the Bessel
    function J0 does for a sinusoid). A loss comparing two such lags of the same kind of pattern is
    not affected: both are scaled alike.
    """
    batch, r_bins = profile.shape
    k = torch.arange(r_bins, device=profile.device)
    lo, hi = math.ceil(min_rel * r_bins), math.floor(max_rel * r_bins)
    in_range = (k >= lo) & (k <= hi)
    near, windows = _peak_neighbourhoods(r_bins, profile.device)
    with torch.no_grad():
        values = profile.detach()
        local_max = values[:, None, :].masked_fill(~(near & in_range[None, :])[None], float("-inf")).amax(dim=-1)
        prominence = values - torch.cummin(values, dim=1).values
        peak = in_range & (k > lo) & (k < hi) & (values >= local_max) & (prominence >= ACF_PROMINENCE)
        fallback = prominence.masked_fill(~in_range, float("-inf")).argmax(dim=1)
        first = torch.where(peak.any(dim=1), peak.int().argmax(dim=1), fallback)
        window = windows[first] & in_range
    top = profile.gather(1, first[:, None])
    return soft_argmax(profile - top, lags.expand(batch, -1), tau, window)
