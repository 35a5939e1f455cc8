"""The ranking term of CombinedLoss (seed 002): sorted scores and prefix sums against the double loop
over real x fake pairs and against the broadcast [R, F] matrix, in one run.

Forward + backward (gradient w.r.t. the scores) for R = F = 256, 4,096 and 100,000; the double loop
only at 256 (it takes seconds there already), the matrix where it fits in memory. Peak memory on
top of the inputs is measured in a fresh process per measurement (CPU: resident-set high-water mark;
CUDA: allocator peak). All forms are checked to agree first.

Target (issue: authenticity loss): at least 100x faster than the double loop at R = F = 256, and
memory linear in R + F.

    python3 benchmarks/bench_ranking_loss.py
    python3 benchmarks/bench_ranking_loss.py --sizes 256 4096
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _measure import best_time, memory_in_fresh_process, peak_extra_mb  # noqa: E402
from comfy_editloss.losses import pairwise_margin_ranking  # noqa: E402

MARGIN = 0.5
MATRIX_LIMIT_BYTES = 4 * 2**30  # the [R, F] matrix and its gradient: skipped above this


def make_scores(n: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(n)
    return torch.cat([torch.randn(n, generator=g) + 0.3, torch.randn(n, generator=g)]).to(device).requires_grad_()


def forms(scores: torch.Tensor, n: int) -> dict:
    def sorted_form():
        return pairwise_margin_ranking(scores[:n], scores[n:], MARGIN)

    def matrix_form():
        return torch.relu(MARGIN - (scores[:n, None] - scores[None, n:])).mean()

    def double_loop():
        total = scores.sum() * 0
        for i in range(n):
            for j in range(n):
                total = total + torch.relu(MARGIN - (scores[i] - scores[n + j]))
        return total / (n * n)

    return {"sorted + prefix sums": sorted_form, "[R, F] matrix": matrix_form, "double loop": double_loop}


def runnable(name: str, n: int) -> bool:
    if name == "double loop":
        return n <= 256
    if name == "[R, F] matrix":
        return 3 * 4 * n * n <= MATRIX_LIMIT_BYTES
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 4096, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.memory_of:
        n = args.sizes[0]
        scores = make_scores(n, device)
        print(f"peak extra MB: {peak_extra_mb(forms(scores, n)[args.memory_of], device):.2f}")
        return 0
    print(f"R = F, float32 on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; best of {args.repeat}\n")
    header = f"{'R = F':>8}  {'form':<22}{'fwd+bwd ms':>12}{'peak extra MB':>15}{'speed-up of sorted':>20}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        scores = make_scores(n, device)
        available = {k: v for k, v in forms(scores, n).items() if runnable(k, n)}
        reference = available.get("[R, F] matrix", available.get("double loop"))
        if reference is not None:
            a, b = float(available["sorted + prefix sums"]().detach()), float(reference().detach())
            assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), (n, a, b)
        times = {}
        for name, fn in available.items():
            repeat = 1 if name == "double loop" else args.repeat
            times[name] = best_time(fn, scores, repeat, device)
            memory = memory_in_fresh_process(__file__, ["--sizes", str(n), "--device", args.device, "--memory-of", name])
            ratio = times[name] / times["sorted + prefix sums"]
            print(f"{n:>8}  {name:<22}{times[name] * 1e3:>12.2f}{memory:>15.2f}{ratio:>19.1f}x")
        for name in forms(scores, n):
            if name not in available:
                need = "hours of Python" if name == "double loop" else f"{3 * 4 * n * n / 2**30:.0f} GiB"
                print(f"{n:>8}  {name:<22}{'skipped (' + need + ')':>47}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
