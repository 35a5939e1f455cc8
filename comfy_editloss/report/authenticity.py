"""A picture of CombinedLoss's terms per sample of a batch, as a ComfyUI IMAGE."""

from __future__ import annotations

import numpy as np
import torch

from .plot import INK, PREDICTION, SECOND, TARGET, Chart

TERM_COLOURS = {"regression": TARGET, "classification": PREDICTION, "ranking": SECOND}


def terms_picture(per_sample: dict[str, torch.Tensor], weights: dict[str, float], labels: torch.Tensor, scores: torch.Tensor, size: tuple[int, int] = (720, 360)) -> torch.Tensor:
    """Grouped bars: for each sample, its weighted share of each term (``weight * value``), with its
    label and score under it. Returns IMAGE ``[1, H, W, 3]``."""
    batch = int(labels.shape[0])
    values = {k: (weights[k] * v.detach().double().cpu()).numpy() for k, v in per_sample.items()}
    top = max(float(max(v.max() for v in values.values())), 1e-6) * 1.4  # room for the legend
    chart = Chart(
        *size, x_range=(-0.6, batch - 0.4), y_range=(0.0, top),
        title=f"CombinedLoss terms per sample (weighted); batch of {batch}: {int((labels > 0.5).sum())} real, {int((labels <= 0.5).sum())} fake",
        x_label="sample: label / score", y_label="weight x term",
        x_ticks=list(range(batch)),
        x_tick_label=lambda i: f"{int(round(i))}: {float(labels[int(round(i))]):.2g}/{float(scores[int(round(i))]):.2g}",
    )
    width = 0.8 / len(values)
    for b in range(batch):
        for j, (name, v) in enumerate(values.items()):
            x0 = b - 0.4 + j * width
            chart.bar(x0, x0 + width, float(v[b]), TERM_COLOURS.get(name, INK), label=name)
    return torch.from_numpy(np.ascontiguousarray(chart.render()))[None]
