"""Speed and memory of the task losses and InfoNCE against references measured in the same run.

For each loss it times forward + backward (gradient w.r.t. the prediction only, as in training, where
the target, source and overlay embeddings come from fixed images) of:

* ours: the library function;
* F: the equivalent written with ``torch.nn.functional`` where one exists;
* loop: a plain Python loop over samples (and negatives).

All three are checked to give the same value first. It also reports the largest tensor any single
operation allocates during forward + backward (views excluded), against the largest input, and the
peak memory on top of the inputs (CUDA: allocator peak; CPU: resident-set high-water mark).

Targets (issue: embedding losses): ours <= 1.2x F; no intermediate larger than the inputs except the
[B, B] / [B, K] logits.

    python3 benchmarks/bench_embedding_losses.py            # B=64, P=1024, D=768, K=8
    python3 benchmarks/bench_embedding_losses.py --small    # B=8, P=256, D=256, K=4
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import best_time, peak_extra_mb  # noqa: E402
from comfy_editloss.losses import (  # noqa: E402
    info_nce_loss,
    loss_geometry_match,
    loss_no_edit_identity,
    loss_overlay_avoidance,
    multi_negative_ranking_loss,
)

MARGIN, TEMPERATURE = 0.2, 0.07


class LargestAllocation(TorchDispatchMode):
    """Records the largest fresh tensor storage any aten op returns (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.nbytes, self.op = 0, ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                if t.untyped_storage().nbytes() > self.nbytes:
                    self.nbytes, self.op = t.untyped_storage().nbytes(), str(func)
        return out


@dataclass
class Case:
    name: str
    ours: Callable[[], torch.Tensor]
    functional: Callable[[], torch.Tensor] | None
    loop: Callable[[], torch.Tensor]
    inputs: list[torch.Tensor]


def _cos(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine similarity over the last dim, written out (the loop references' building block)."""
    return (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1)).clamp_min(1e-8)


def build_cases(b: int, p: int, d: int, k: int, device: torch.device) -> list[Case]:
    g = torch.Generator(device="cpu").manual_seed(0)
    make = lambda *shape: torch.randn(*shape, generator=g).to(device)  # noqa: E731
    pred = make(b, p, d).requires_grad_()
    gt, src, overlay = make(b, p, d), make(b, p, d), make(b, p, d)
    negs = make(b, k, p, d)

    def f_cos_triplet(negative):
        return lambda: F.triplet_margin_with_distance_loss(
            pred, gt, negative, distance_function=lambda x, y: (1 - F.cosine_similarity(x, y, dim=-1)).mean(-1), margin=MARGIN
        )

    def loop_triplet(negative):
        def run():
            per = [(1 - _cos(pred[i], gt[i])).mean() - (1 - _cos(pred[i], negative[i])).mean() + MARGIN for i in range(b)]
            return torch.stack(per).clamp_min(0).mean()

        return run

    def loop_geometry():
        return torch.stack([((pred[i] - gt[i]) ** 2).sum(-1).mean() for i in range(b)]).mean()

    def f_info_nce_explicit():
        logits = torch.cat([F.cosine_similarity(pred, gt, dim=-1).mean(-1, keepdim=True), F.cosine_similarity(pred[:, None], negs, dim=-1).mean(-1)], 1)
        return F.cross_entropy(logits / TEMPERATURE, torch.zeros(b, dtype=torch.long, device=device))

    def loop_info_nce_explicit():
        per = []
        for i in range(b):
            logits = torch.stack([_cos(pred[i], gt[i]).mean()] + [_cos(pred[i], negs[i, j]).mean() for j in range(k)]) / TEMPERATURE
            per.append(torch.logsumexp(logits, 0) - logits[0])
        return torch.stack(per).mean()

    def f_info_nce_in_batch():
        logits = F.normalize(pred, dim=-1).flatten(1) @ F.normalize(gt, dim=-1).flatten(1).T / (p * TEMPERATURE)
        return F.cross_entropy(logits, torch.arange(b, device=device))

    def loop_info_nce_in_batch():
        gt_unit = gt / gt.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        per = []
        for i in range(b):
            anchor = pred[i] / pred[i].norm(dim=-1, keepdim=True).clamp_min(1e-8)
            logits = torch.stack([(anchor * gt_unit[j]).sum(-1).mean() for j in range(b)]) / TEMPERATURE
            per.append(torch.logsumexp(logits, 0) - logits[i])
        return torch.stack(per).mean()

    def loop_multi_negative():
        per = []
        for i in range(b):
            d_pos = (1 - _cos(pred[i], gt[i])).mean()
            hinges = torch.stack([(d_pos - (1 - _cos(pred[i], negs[i, j])).mean() + MARGIN).clamp_min(0) for j in range(k)])
            per.append(hinges.mean())
        return torch.stack(per).mean()

    return [
        Case("loss_no_edit_identity (cos)", lambda: loss_no_edit_identity(pred, gt, src), f_cos_triplet(src), loop_triplet(src), [pred, gt, src]),
        Case("loss_geometry_match (l2)", lambda: loss_geometry_match(pred, gt), lambda: d * F.mse_loss(pred, gt), loop_geometry, [pred, gt]),
        Case("loss_overlay_avoidance (cos)", lambda: loss_overlay_avoidance(pred, gt, overlay), f_cos_triplet(overlay), loop_triplet(overlay), [pred, gt, overlay]),
        Case(f"info_nce_loss (K={k} negatives)", lambda: info_nce_loss(pred, gt, negs), f_info_nce_explicit, loop_info_nce_explicit, [pred, gt, negs]),
        Case("info_nce_loss (in-batch)", lambda: info_nce_loss(pred, gt), f_info_nce_in_batch, loop_info_nce_in_batch, [pred, gt]),
        Case(f"multi_negative_ranking_loss (K={k})", lambda: multi_negative_ranking_loss(pred, gt, negs), None, loop_multi_negative, [pred, gt, negs]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="B=8, P=256, D=256, K=4 for a quick run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement, best kept (default 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", default="", help="run only the losses whose name contains this text")
    args = parser.parse_args()
    b, p, d, k = (8, 256, 256, 4) if args.small else (64, 1024, 768, 8)
    device = torch.device(args.device)
    print(f"B={b} P={p} D={d} K={k} float32 on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print("forward+backward, gradient w.r.t. the prediction; times are the best of", args.repeat, "runs\n")
    header = f"{'loss':<34}{'ours ms':>9}{'F ms':>9}{'loop ms':>9}{'ours/F':>8}{'ours/loop':>10}{'largest op MB':>15}{'largest input MB':>18}{'peak extra MB':>15}"
    print(header)
    print("-" * len(header))
    worst_ratio = 0.0
    for case in build_cases(b, p, d, k, device):
        if args.only not in case.name:
            continue
        leaf = case.inputs[0]
        expected = case.loop().item()
        for other in (case.ours, case.functional):
            if other is not None:
                value = other().item()
                assert abs(value - expected) <= 1e-4 * max(1.0, abs(expected)), (case.name, value, expected)
        ours = best_time(case.ours, leaf, args.repeat, device)
        functional = best_time(case.functional, leaf, args.repeat, device) if case.functional else float("nan")
        loop = best_time(case.loop, leaf, max(1, args.repeat // 2), device)
        tracker = LargestAllocation()
        leaf.grad = None
        with tracker:
            case.ours().backward()
        leaf.grad = None
        peak = peak_extra_mb(case.ours, device)
        largest_input = max(t.untyped_storage().nbytes() for t in case.inputs) / 2**20
        if case.functional:
            worst_ratio = max(worst_ratio, ours / functional)
        print(
            f"{case.name:<34}{ours * 1e3:>9.1f}{functional * 1e3:>9.1f}{loop * 1e3:>9.1f}{ours / functional:>8.2f}"
            f"{ours / loop:>10.3f}{tracker.nbytes / 2**20:>15.1f}{largest_input:>18.1f}{peak:>15.1f}"
        )
    print(f"\nworst ours/F ratio: {worst_ratio:.2f} (target <= 1.2)")
    print("largest op: the biggest tensor one operation allocated; peak extra: memory on top of the inputs,")
    print("including the gradient of the prediction (one input's size).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
