"""Speed and memory of the texture-scale losses against the FFTs they cannot do without.

For each loss it times forward + backward (gradient w.r.t. the prediction, as in training) at B=4,
1024 x 1024, RGB, with a mask, and divides it by the time of the ``torch.fft.fft2`` calls the loss
needs, measured in the same run on tensors of the same sizes:

* spectral, log-polar, scale consistency: the spectrum of prediction and target (one fft2 of
  ``[2B, H, W]``) and, for the gradient, one transform of ``[B, H, W]``;
* ACF: the padded spectrum of both (fft2 of ``[2B, H + R, W + R]``, ``R = min(H, W) / 2``), its inverse
  (the autocorrelation), the window's spectrum and inverse (``[B, H + R, W + R]`` each), and two
  transforms of ``[B, H + R, W + R]`` for the gradient.

The losses use the real-input ``rfft2``/``irfft2``, which do half the work of ``fft2``; the floor
counts the full complex ``fft2`` the issue names. It also prints the peak memory on top of the
inputs (CUDA: allocator peak; CPU: resident-set high-water mark) and the size of one input.

Target (issue: texture losses): each loss within 6x of its FFT floor.

    python3 benchmarks/bench_texture_losses.py                 # B=4, 1024 x 1024
    python3 benchmarks/bench_texture_losses.py --size 256      # quicker
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import best, best_time, peak_extra_mb  # noqa: E402
from comfy_editloss.losses import (  # noqa: E402
    acf_period_loss,
    log_polar_align_loss,
    scale_consistency_loss,
    spectral_period_loss,
)
from comfy_editloss.testing.synthetic import make_texture  # noqa: E402


def fft_floor(shapes: list[tuple[int, ...]], repeat: int, device: torch.device) -> float:
    """Sum of the best times of ``torch.fft.fft2`` on float32 tensors of these shapes."""
    total = 0.0
    for shape in shapes:
        x = torch.randn(*shape, device=device)
        torch.fft.fft2(x)  # warm-up (plans, allocator)
        total += best(lambda: torch.fft.fft2(x), repeat, device)
        del x
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement, best kept (default 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    b, n = args.batch, args.size
    device = torch.device(args.device)
    print(f"B={b} {n}x{n} RGB float32 with a mask, on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"forward+backward, gradient w.r.t. the prediction; best of {args.repeat} runs\n")

    target_grey = torch.stack([make_texture("bricks", 40 + 8 * i, 10 * i, size=(n, n), noise=0.05, seed=i) for i in range(b)])
    pred_grey = torch.stack([make_texture("bricks", 52 + 8 * i, 10 * i, size=(n, n), noise=0.05, seed=9 + i) for i in range(b)])
    target = target_grey[:, None].expand(b, 3, n, n).contiguous().to(device)
    pred = pred_grey[:, None].expand(b, 3, n, n).contiguous().to(device).requires_grad_()
    mask = torch.zeros(b, 1, n, n, device=device)
    mask[..., n // 16 : n - n // 16, n // 8 : n - n // 32] = 1.0
    pad = n + n // 2
    spectrum_ffts = [(2 * b, n, n), (b, n, n)]
    acf_ffts = [(2 * b, pad, pad)] * 2 + [(b, pad, pad)] * 4
    cases = [
        ("SpectralPeriodLoss", lambda: spectral_period_loss(pred, target, mask), spectrum_ffts),
        ("LogPolarAlignLoss", lambda: log_polar_align_loss(pred, target, mask), spectrum_ffts),
        ("ScaleConsistencyLoss", lambda: scale_consistency_loss(pred, target, mask), spectrum_ffts),
        ("ACFPeriodLoss", lambda: acf_period_loss(pred, target, mask), acf_ffts),
    ]
    input_mb = pred.untyped_storage().nbytes() / 2**20
    header = f"{'loss':<22}{'value':>9}{'fwd+bwd ms':>12}{'fft2 floor ms':>15}{'ratio':>8}{'peak extra MB':>15}{'one input MB':>14}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    floors: dict[str, float] = {}
    for name, fn, shapes in cases:
        value = fn().item()
        elapsed = best_time(fn, pred, args.repeat, device)
        key = repr(shapes)
        if key not in floors:
            floors[key] = fft_floor(shapes, args.repeat, device)
        floor = floors[key]
        peak = peak_extra_mb(fn, device)
        worst = max(worst, elapsed / floor)
        print(f"{name:<22}{value:>9.4f}{elapsed * 1e3:>12.1f}{floor * 1e3:>15.1f}{elapsed / floor:>8.2f}{peak:>15.1f}{input_mb:>14.1f}")
    print(f"\nworst ratio to the fft2 floor: {worst:.2f} (target <= 6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
