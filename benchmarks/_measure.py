"""Timing and memory helpers shared by the benchmark scripts."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from typing import Callable

import torch


def best(fn: Callable[[], object], repeat: int, device: torch.device | None = None) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` (CUDA work is waited for)."""
    cuda = device is not None and device.type == "cuda"
    times = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def best_time(fn: Callable[[], torch.Tensor], leaf: torch.Tensor, repeat: int, device: torch.device) -> float:
    """Best time of forward + backward of ``fn`` over ``repeat`` runs after one warm-up run."""

    def step() -> None:
        leaf.grad = None
        fn().backward()

    step()
    return best(step, repeat, device)


def _rss_high_water_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_rss_high_water() -> float:
    # Linux resets the high-water mark to the current resident size. Tensors of more than 32 MiB
    # are always their own mappings in glibc, so the mark sees every large intermediate.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _rss_high_water_mb()


def peak_extra_mb(fn: Callable[[], torch.Tensor], device: torch.device, backward: bool = True) -> float:
    """Peak memory of forward (+ backward) of ``fn`` on top of what was allocated before it (MB)."""

    def run() -> None:
        out = fn()
        if backward:
            out.backward()

    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        run()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    try:
        base = _reset_rss_high_water()
    except OSError:
        return float("nan")
    run()
    return _rss_high_water_mb() - base


def memory_in_fresh_process(script: str, arguments: list[str]) -> float:
    """Run ``script`` with ``arguments`` in a new Python and read the ``peak extra MB: X`` it prints.
    On the CPU memory freed by an earlier run stays in the allocator and would hide the next run's
    peak from the resident-set high-water mark, so each implementation gets a process of its own."""
    output = subprocess.run([sys.executable, script, *arguments], capture_output=True, text=True, check=True).stdout
    return float(output.rsplit("peak extra MB:", 1)[1])
