"""A picture of a depth comparison, as a ComfyUI IMAGE: where the inserted object sits at the wrong depth."""

from __future__ import annotations

import torch

from ..edits.morphology import boundary_band, dilate
from .heatmap import colorize, titled_panel

OUTLINE = torch.tensor([0.2, 1.0, 1.0])  # cyan
BAND = torch.tensor([0.3, 0.9, 0.3])  # green
INVALID = torch.tensor([0.5, 0.5, 0.5])


def _range(*maps: torch.Tensor) -> tuple[float, float]:
    """The 1st to 99th percentile of the finite values: one scale for all the maps."""
    values = torch.cat([m[torch.isfinite(m)].flatten() for m in maps])
    if values.numel() == 0:
        return 0.0, 1.0
    if values.numel() > 1_000_000:
        values = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
    low, high = torch.quantile(values.double(), torch.tensor([0.01, 0.99], dtype=torch.float64)).tolist()
    return (low, high) if high > low else (low, low + 1e-6)


def _colour(values: torch.Tensor, low: float, high: float) -> torch.Tensor:
    finite = torch.isfinite(values)
    rgb = colorize(((torch.where(finite, values, torch.zeros_like(values)) - low) / (high - low)).clamp(0, 1))
    return torch.where(finite[..., None], rgb, INVALID)


def depth_preview(values: torch.Tensor, colours: str = "inferno") -> torch.Tensor:
    """IMAGE ``[B,H,W,3]`` of depth maps ``[B,1,H,W]``, each coloured from its own 1st to 99th
    percentile (bright = large values); pixels without a value are grey."""
    out = []
    for v in values.detach().float().cpu()[:, 0]:
        low, high = _range(v)
        if colours == "inferno":
            out.append(_colour(v, low, high))
        else:
            scaled = ((torch.nan_to_num(v, nan=low, posinf=high, neginf=low) - low) / (high - low)).clamp(0, 1)
            out.append(scaled[..., None].expand(-1, -1, 3))
    return torch.stack(out)


def depth_picture(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    edge_band_r: int = 1,
    space: str = "depth",
) -> torch.Tensor:
    """``[B, 1, H, W]`` maps (and mask) -> IMAGE ``[B, H + 18, 3 W, 3]``: prediction | target on one
    colour scale (1st-99th percentile of both; grey where there is no value), then the absolute
    error on its own scale with the boundary band (green) the edge term compares; the mask's outline
    in cyan on all three."""
    batch, _, height, width = pred.shape
    rows = []
    for b in range(batch):
        p, t = pred[b, 0].float().cpu(), target[b, 0].float().cpu()
        low, high = _range(p, t)
        error = (p - t).abs()
        _, top = _range(error)
        panels = [_colour(p, low, high), _colour(t, low, high), _colour(error, 0.0, max(top, 1e-6))]
        if mask is not None:
            m = (mask[b : b + 1].float().cpu() > 0.5).float()
            outline = (dilate(m, 1) - m)[0, 0]  # the ring just outside the mask
            band = boundary_band(m, edge_band_r)[0, 0]
            panels[2] = panels[2] * (1 - 0.45 * band[..., None]) + BAND * 0.45 * band[..., None]
            panels = [panel * (1 - outline[..., None]) + OUTLINE * outline[..., None] for panel in panels]
        titles = [f"prediction ({space} {low:.3g}..{high:.3g})", "target (same scale)", f"|error| (0..{top:.3g}), edge band"]
        rows.append(torch.cat([titled_panel(panel, title) for panel, title in zip(panels, titles)], dim=1))
    return torch.stack(rows).clamp(0, 1)
