"""Peak memory of ``python -m comfy_editloss score`` per pixel of an edit set, for the shipped workflows.

The batch scorer refuses a set whose estimated memory does not fit (``comfy_editloss.graph.batch``,
``BYTES_PER_PIXEL``): the estimate is bytes per pixel times the pixels of the set's images. This
script measures that figure. For each workflow, one edit set of 4 generations (before, after,
generations/, mask.png, target and generation depth files) is written at each size, and each is
scored in a fresh Python process, whose resident-set high-water mark (``VmHWM``) is the peak. The
figure is the slope of the peak between consecutive sizes (what the fixed part, Python, torch and
the pack, leaves out), the largest of them rounded up::

    python3 benchmarks/bench_score_memory.py                   # 1024, 2048, 4096: ~45 min on 2 cores, 15 GB of RAM
    python3 benchmarks/bench_score_memory.py --sizes 256 512   # a quick check

Linux only (``/proc/self/status``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from comfy_editloss.testing.synthetic import make_edit_scene  # noqa: E402

WORKFLOWS = ("kontext_edit_score", "texture_scale", "depth_insertion")
GENERATIONS = ("correct", "no_edit", "distorted", "overlay")

# Runs the command line in this process and prints the high-water mark of its resident set.
CHILD = """
import sys
from comfy_editloss.__main__ import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(f"exit {code} peak kB: {peak}")
"""


def write_set(folder: Path, size: int) -> int:
    """One edit set at ``size`` x ``size``; returns the pixels of its images (what the scorer counts)."""
    from PIL import Image  # noqa: PLC0415

    def save(image: torch.Tensor, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[0].clamp(0, 1) * 255).round().byte().numpy()).save(path, compress_level=1)

    scene = make_edit_scene(7, (size, size))
    save(scene.before, folder / "before.png")
    save(scene.after, folder / "after.png")
    for name, image in zip(GENERATIONS, (scene.shifted, scene.before, scene.distorted, scene.overlay)):
        save(image, folder / "generations" / f"{name}.png")
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    depth = np.linspace(1.0, 5.0, size, dtype=np.float32)[:, None].repeat(size, 1)
    np.save(folder / "target_depth.npy", depth)
    np.save(folder / "generations_depth.npy", np.stack([1.0 / depth] * len(GENERATIONS)))
    return (3 + len(GENERATIONS)) * size * size


def peak_bytes(folder: Path, workflow: str, out: Path) -> int:
    arguments = ["score", str(folder), "--workflow", workflow, "-o", str(out), "--quiet", "--memory-limit", "none"]
    if workflow == "depth_insertion":  # the estimator's output from the set, as the tests do
        data = json.loads((ROOT / "workflows" / f"{workflow}.json").read_text())
        estimator = next(n["id"] for n in data["nodes"] if n["type"] == "EditLossEstimateDepth")
        arguments += ["--inject", f"{estimator}:0=generations_depth.npy"]
    done = subprocess.run([sys.executable, "-c", CHILD, *arguments], capture_output=True, text=True, cwd=ROOT)
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if not line.startswith("exit 0 "):
        raise RuntimeError(f"{workflow} at {folder.name} failed:\n{done.stdout}\n{done.stderr}")
    return int(line.rsplit(":", 1)[1]) * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096], metavar="SIZE", help="at least two, ascending")
    parser.add_argument("--workflows", nargs="+", default=list(WORKFLOWS))
    args = parser.parse_args()
    if len(args.sizes) < 2 or sorted(set(args.sizes)) != args.sizes:
        parser.error(f"--sizes needs two or more ascending sizes, got {args.sizes}")
    work = Path(tempfile.mkdtemp(prefix="editloss_memory_"))
    try:
        pixels = {size: write_set(work / f"set_{size}", size) for size in args.sizes}
        print(f"edit sets of {len(GENERATIONS)} generations + before, after, mask: {', '.join(f'{s}x{s} ({pixels[s] / 1e6:.1f} Mpx)' for s in args.sizes)}")
        steps = list(zip(args.sizes, args.sizes[1:]))
        print(f"{'workflow':<22}" + "".join(f"{f'peak MB {s}':>15}" for s in args.sizes) + "".join(f"{f'B/px {a}-{b}':>16}" for a, b in steps) + f"{'figure':>8}{'fixed MB':>10}")
        for workflow in args.workflows:
            peaks = {size: peak_bytes(work / f"set_{size}", workflow, work / f"out_{workflow}_{size}") for size in args.sizes}
            slopes = [(peaks[b] - peaks[a]) / (pixels[b] - pixels[a]) for a, b in steps]
            fixed = peaks[args.sizes[0]] - slopes[0] * pixels[args.sizes[0]]
            print(f"{workflow:<22}" + "".join(f"{peaks[s] / 2**20:>15.0f}" for s in args.sizes) + "".join(f"{slope:>16.1f}" for slope in slopes)
                  + f"{math.ceil(max(slopes)):>8}{fixed / 2**20:>10.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
