"""Speed and memory of depth_consistency_loss against seed 004's own code, in the same run.

B=8 depth maps of 1024 x 1024 (float32) with an insertion mask and a confidence map; forward +
backward (gradient w.r.t. the predicted depth). Both are checked to give the same four terms first.
Peak memory is on top of the inputs (CUDA: allocator peak; CPU: resident-set high-water mark), each
implementation measured in a fresh process.

Target (issue: depth consistency): at most 1.0x the seed's time and memory, identical values.

    python3 benchmarks/bench_depth_loss.py                # B=8, 1024 x 1024
    python3 benchmarks/bench_depth_loss.py --size 256     # quicker
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
import seed004_depth_reference as seed  # noqa: E402
from _measure import best_time, memory_in_fresh_process, peak_extra_mb  # noqa: E402
from comfy_editloss.losses import depth_consistency_loss  # noqa: E402


def _memory_in_fresh_process(which: str, args: argparse.Namespace) -> float:
    return memory_in_fresh_process(__file__, ["--batch", str(args.batch), "--size", str(args.size), "--device", args.device, "--memory-of", which])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement, best kept (default 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--memory-of", choices=("seed", "ours"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    b, n = args.batch, args.size
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    scene = (2.0 + yy + 0.3 * torch.sin(9 * xx))[None, None].expand(b, 1, n, n)
    mask = (((yy - 0.55) ** 2 + (xx - 0.5) ** 2) < 0.06).float()[None, None].expand(b, 1, n, n)
    target = (scene - 0.8 * mask + 0.01 * torch.randn(b, 1, n, n, generator=g)).contiguous().to(device)
    pred = (target + 0.05 * torch.randn(b, 1, n, n, generator=g) + 0.2 * mask).contiguous().to(device).requires_grad_()
    conf = torch.rand(b, 1, n, n, generator=g).to(device)
    mask = mask.contiguous().to(device)
    if not args.memory_of:
        print(f"B={b} {n}x{n} float32 on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}")
        print(f"forward+backward, gradient w.r.t. d_pred; best of {args.repeat} runs; memory in a fresh process each\n")

    def ours():
        return depth_consistency_loss(pred, target, mask, conf_pred=conf).total

    def reference():
        return seed.depth_consistency_loss(pred, target, mask, conf_pred=conf).total

    a = depth_consistency_loss(pred, target, mask, conf_pred=conf)
    r = seed.depth_consistency_loss(pred, target, mask, conf_pred=conf)
    gaps = {k: abs(getattr(a, k).item() - getattr(r, k).item()) for k in ("total", "inside", "outside", "edge")}
    # Sums over 8M pixels in float32 differ in rounding: equal to a relative 1e-5.
    assert all(gap <= 1e-5 * max(1.0, abs(getattr(r, k).item())) for k, gap in gaps.items()), gaps
    if args.memory_of:
        fn = reference if args.memory_of == "seed" else ours
        print(f"peak extra MB: {peak_extra_mb(fn, device):.1f}")
        return 0
    results = {}
    for key, name, fn in (("seed", "seed 004 code", reference), ("ours", "depth_consistency_loss", ours)):
        results[name] = (best_time(fn, pred, args.repeat, device), _memory_in_fresh_process(key, args))
    header = f"{'implementation':<26}{'fwd+bwd ms':>12}{'peak extra MB':>15}"
    print(header)
    print("-" * len(header))
    for name, (elapsed, peak) in results.items():
        print(f"{name:<26}{elapsed * 1e3:>12.1f}{peak:>15.1f}")
    (t_seed, m_seed), (t_ours, m_ours) = results.values()
    print(f"\nlargest value gap {max(gaps.values()):.2e}; one input {pred.untyped_storage().nbytes() / 2**20:.0f} MB")
    print(f"ours/seed: time {t_ours / t_seed:.2f}, memory {m_ours / m_seed:.2f} (target <= 1.0 each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
