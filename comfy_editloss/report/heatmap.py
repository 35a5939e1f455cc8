"""Per-patch distance heat maps drawn over images, as ComfyUI IMAGEs: where an edit failed, not
only whether it did."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses.distances import distance_per_position

# Anchor colours of a perceptually ordered dark-to-bright map (close to matplotlib's "inferno").
_INFERNO = torch.tensor(
    [
        [0.001, 0.000, 0.014], [0.122, 0.047, 0.282], [0.335, 0.060, 0.429], [0.531, 0.134, 0.416],
        [0.735, 0.216, 0.330], [0.902, 0.369, 0.186], [0.986, 0.591, 0.040], [0.979, 0.837, 0.224],
        [0.988, 0.998, 0.645],
    ]
)
HEADER = 18


def colorize(values: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] ``[...]`` -> colours ``[..., 3]``."""
    anchors = _INFERNO.to(values.device, values.dtype)
    scaled = values.clamp(0, 1) * (len(anchors) - 1)
    low = scaled.floor().long().clamp(max=len(anchors) - 2)
    frac = (scaled - low).unsqueeze(-1)
    return anchors[low] * (1 - frac) + anchors[low + 1] * frac


def patch_distances(prediction: torch.Tensor, reference: torch.Tensor, dist: str = "cos") -> torch.Tensor:
    """Per-patch distance ``[B, h, w]`` of grid embeddings ``[B, h, w, D]`` (rounding below 0 clipped)."""
    return distance_per_position(prediction.float(), reference.float(), dist).clamp_min(0)


def titled_panel(panel: torch.Tensor, text: str) -> torch.Tensor:
    """``[H, W, 3]`` with a header line of text above it: ``[H + HEADER, W, 3]``."""
    import numpy as np  # noqa: PLC0415
    from PIL import Image, ImageDraw  # noqa: PLC0415

    width = panel.shape[1]
    header = Image.new("RGB", (width, HEADER), (24, 24, 24))
    ImageDraw.Draw(header).text((4, 3), text, fill=(235, 235, 235))
    top = torch.from_numpy(np.asarray(header, dtype=np.float32) / 255.0)
    return torch.cat([top, panel.cpu()], dim=0)


def heatmap_panels(
    images: torch.Tensor,
    maps: dict[str, torch.Tensor],
    alpha: float = 0.65,
) -> torch.Tensor:
    """One row per sample: the image, then each map over it, on one shared colour scale.

    Args:
        images: IMAGE ``[B, H, W, 3]`` (the generations).
        maps: title -> per-patch values ``[B, h, w]`` (e.g. distance to the target).
        alpha: opacity of the colours over the image.

    Returns:
        IMAGE ``[B, H + 18, W * (1 + len(maps)), 3]`` in [0, 1]; each title shows the sample's mean
        and the scale's maximum.
    """
    batch, height, width = images.shape[:3]
    rows = []
    for b in range(batch):
        top = max(float(m[b].max()) for m in maps.values()) or 1.0
        panels = [titled_panel(images[b].float(), "generation")]
        for title, values in maps.items():
            upsampled = F.interpolate(values[b][None, None].float(), size=(height, width), mode="bilinear", align_corners=False)[0, 0]
            colour = colorize(upsampled / top).cpu()
            blended = images[b].float().cpu() * (1 - alpha) + colour * alpha
            panels.append(titled_panel(blended, f"{title}: mean {float(values[b].mean()):.3g} (max {top:.3g})"))
        rows.append(torch.cat(panels, dim=1))
    return torch.stack(rows).clamp(0, 1)
