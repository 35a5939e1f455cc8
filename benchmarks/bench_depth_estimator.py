"""Depth Anything V2 Small at 518 x 518: our estimator against the bare timm backbone + head, in the same run.

Ours: ``DepthEstimator(images)``, the whole pipeline a node runs: IMAGE [B,H,W,3] in, normalisation,
the network with DINOv2's own position-embedding handling, ReLU, resizing back to the input size.
Bare: timm's own ``forward_intermediates`` (the four normed block outputs) on already-normalised
pixels, then the same DPT head: the least any implementation on timm has to compute. Both give the
same depth (checked first). Random weights (the speed does not depend on them); inference mode.
Peak memory is on top of the model and inputs, each measured in a fresh process.

Target (issue: depth estimators): overhead (ours / bare - 1) at most 10%.

    python3 benchmarks/bench_depth_estimator.py              # B=1, 518 x 518
    python3 benchmarks/bench_depth_estimator.py --batch 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _measure import best, memory_in_fresh_process, peak_extra_mb  # noqa: E402
from comfy_editloss.depth import ARCHITECTURES, DepthEstimator, build_model  # noqa: E402


def _setup(args: argparse.Namespace):
    torch.manual_seed(0)
    device = torch.device(args.device)
    arch = ARCHITECTURES["depth_anything_v2_vits"]
    network = build_model(arch).eval().to(device)
    estimator = DepthEstimator(network, arch, input_size=args.size)  # the network works at the image's size
    images = torch.rand(args.batch, args.size, args.size, 3, generator=torch.Generator().manual_seed(1)).to(device)
    pixels = estimator.preprocess(images)
    grid_h, grid_w = pixels.shape[-2] // 14, pixels.shape[-1] // 14
    layers = list(arch.layers)

    def ours() -> torch.Tensor:
        return estimator(images)

    def bare() -> torch.Tensor:
        tokens = network.pretrained.forward_intermediates(pixels, indices=layers, norm=True, output_fmt="NLC", intermediates_only=True)
        return F.relu(network.depth_head(tokens, grid_h, grid_w))

    return device, ours, bare


def _memory_in_fresh_process(which: str, args: argparse.Namespace) -> float:
    return memory_in_fresh_process(__file__, ["--batch", str(args.batch), "--size", str(args.size), "--device", args.device, "--memory-of", which])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=518, help="a multiple of 14 (default 518, the model's own)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per implementation, best kept (default 5)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--memory-of", choices=("ours", "bare"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size % 14:
        parser.error(f"--size must be a multiple of 14, got {args.size}")
    if args.size != 518:
        print("note: at sizes other than 518 timm resamples the position embedding its own way (antialiased, no 0.1 "
              "offset), so the bare reference computes a slightly different depth there; the timing still compares")
    device, ours, bare = _setup(args)
    if args.memory_of:
        with torch.inference_mode():
            fn = ours if args.memory_of == "ours" else bare
            fn()  # warm-up: one-off allocations are not the pipeline's
            print(f"peak extra MB: {peak_extra_mb(fn, device, backward=False):.1f}")
        return 0
    print(f"Depth Anything V2 Small, B={args.batch} {args.size}x{args.size} on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    with torch.inference_mode():
        a, b = ours(), bare()
        difference = float((a[:, 0] - b).abs().max())
        print(f"same depth: max |ours - bare| = {difference:.2e} (scale {float(b.abs().max()):.3g})")
        if args.size == 518 and difference > 1e-4 * max(float(b.abs().max()), 1e-6):
            raise SystemExit("ours and the bare timm + head give different depth: the comparison would be meaningless")
        ours(), bare()  # warm-up
        t_ours, t_bare = [], []
        for _ in range(args.repeat):  # interleaved: both see the same machine load
            t_ours.append(best(ours, 1, device))
            t_bare.append(best(bare, 1, device))
    mem_ours, mem_bare = _memory_in_fresh_process("ours", args), _memory_in_fresh_process("bare", args)
    overhead = min(t_ours) / min(t_bare) - 1
    print(f"{'':28}{'ours':>12}{'bare timm + head':>18}")
    print(f"{'forward, best of ' + str(args.repeat) + ' (ms)':28}{1000 * min(t_ours):12.1f}{1000 * min(t_bare):18.1f}")
    print(f"{'peak extra memory (MB)':28}{mem_ours:12.1f}{mem_bare:18.1f}")
    print(f"overhead: {100 * overhead:+.1f}% time (target <= +10%), memory ratio {mem_ours / mem_bare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
