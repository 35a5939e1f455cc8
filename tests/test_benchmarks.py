"""The benchmark scripts run (no timing is asserted: these machines are shared and noisy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_embedding_loss_benchmark_runs_and_its_references_agree():
    # The script asserts that ours, the torch.nn.functional form and the loop give the same value.
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_embedding_losses.py"), "--small", "--repeat", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("loss_", "info_nce", "multi_negative"))]
    assert len(rows) == 6
    assert "worst ours/F ratio:" in proc.stdout


def test_runner_benchmark_runs_and_a_cached_rerun_executes_nothing():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_runner.py"), "--repeat", "2", "--nodes", "20"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nodes executed on the cached re-run: 0 (target 0)" in proc.stdout


def test_encode_benchmark_runs_and_the_loader_reuses_its_model():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_encode.py"), "--batch", "2", "--size", "64", "--repeat", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith(("open_clip", "timm"))]
    assert len(rows) == 3 and all(row[-1] == "True" for row in rows)


def test_weight_free_ranking_benchmark_prints_each_rate_for_both_masks():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_weight_free_ranking.py"), "--scenes", "4"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    header = next(line.split() for line in lines if line.startswith("mask"))
    assert header == ["mask", "gt<ov<none", "shift", "best", "geometry", "identity", "shift<dist", "shift<ov"]
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()[:1] in (["edit"], ["none"])}
    assert sorted(rows) == ["edit", "none"]
    for cells in rows.values():
        assert len(cells) == 6 and all(cell.endswith("%") for cell in cells)
        # A rate over 4 scenes is a multiple of 25%.
        assert all(float(cell[:-1]) in (0.0, 25.0, 50.0, 75.0, 100.0) for cell in cells)
    # The identity loss tells the unchanged source from the correct edit on every generated scene.
    assert rows["edit"][3] == "100.0%"


def test_texture_benchmark_runs_and_reports_a_ratio_for_each_loss():
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_texture_losses.py"), "--batch", "1", "--size", "64", "--repeat", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] and line.split()[0].endswith("Loss")]
    assert [row[0] for row in rows] == ["SpectralPeriodLoss", "LogPolarAlignLoss", "ScaleConsistencyLoss", "ACFPeriodLoss"]
    assert all(float(row[4]) > 0 for row in rows)
    assert "worst ratio to the fft2 floor:" in proc.stdout


def test_depth_benchmark_runs_and_matches_the_seeds_values():
    # The script asserts that ours and the seed's code give the same four terms.
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_depth_loss.py"), "--batch", "2", "--size", "64", "--repeat", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "seed 004 code" in proc.stdout and "ours/seed: time" in proc.stdout


def test_ranking_benchmark_runs_and_its_forms_agree():
    # The script asserts that the sorted form equals the matrix (or the double loop) before timing.
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_ranking_loss.py"), "--sizes", "16", "300", "--repeat", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["16", "16", "16", "300", "300", "300"]
    assert "skipped (hours of Python)" in proc.stdout


def test_depth_estimator_benchmark_runs_and_both_sides_compute_the_same_depth():
    # The script exits with an error if ours and the bare timm backbone + head differ.
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_depth_estimator.py"), "--repeat", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "same depth: max |ours - bare|" in proc.stdout and "overhead:" in proc.stdout


def test_batch_score_benchmark_runs_and_the_scorer_equals_the_loop():
    # The script asserts that the scorer's weighted totals equal the plain loop's.
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_batch_score.py"), "--sets", "3", "--size", "96", "--repeat", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scores equal: largest difference of the weighted totals" in proc.stdout
    assert "scorer / loop:" in proc.stdout and "target <= +10%" in proc.stdout
