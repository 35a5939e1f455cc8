"""The main-job stand-in: `python -m comfy_editloss demo`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from comfy_editloss.demo import make_scene, score_scene


@pytest.mark.parametrize("seed", range(5))
def test_each_task_loss_catches_its_failure(seed):
    s = score_scene(make_scene(seed=seed))
    correct, no_edit, overlay, distorted = s["correct edit"], s["no edit"], s["overlay"], s["distorted"]
    assert min(s, key=lambda n: s[n]["total"]) == "correct edit"
    assert no_edit["no_edit_identity"] > 0.5 and correct["no_edit_identity"] == 0.0
    assert distorted["geometry_match"] > 50 * correct["geometry_match"]
    assert overlay["overlay_avoidance"] > 0.5 and correct["overlay_avoidance"] == 0.0
    assert overlay["overlay_avoidance"] > distorted["overlay_avoidance"]


def test_demo_command_prints_the_ranked_table():
    proc = subprocess.run([sys.executable, "-m", "comfy_editloss", "demo"], capture_output=True, text=True, check=True)
    lines = proc.stdout.strip().splitlines()
    assert lines[1].split()[:3] == ["rank", "generation", "no_edit_identity"]
    assert lines[2].split()[:3] == ["1", "correct", "edit"]
    assert len(lines) == 7
    as_json = subprocess.run([sys.executable, "-m", "comfy_editloss", "demo", "--json", "--seed", "3"], capture_output=True, text=True, check=True)
    scores = json.loads(as_json.stdout)
    assert set(scores) == {"correct edit", "no edit", "overlay", "distorted", "blend"}


def test_demo_command_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "comfy_editloss", "demo", "--dim", "0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--dim must be >= 1" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "comfy_editloss", "fly"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice: 'fly'" in proc.stderr


def test_demo_numbers_out_of_range_give_one_error_line(capsys):
    from comfy_editloss.__main__ import main  # noqa: PLC0415

    expected = {
        ("--seed", str(2**70)): f"error: --seed must be from -2**63 to 2**64-1 (-9223372036854775808 to 18446744073709551615), got {2**70}",
        ("--seed", str(-(2**63) - 1)): f"error: --seed must be from -2**63 to 2**64-1 (-9223372036854775808 to 18446744073709551615), got {-(2**63) - 1}",
        ("--dim", str(10**12)): f"error: --dim must be >= 1 and <= 65536, got {10**12}",
        ("--dim", "-3"): "error: --dim must be >= 1 and <= 65536, got -3",
    }
    for option, message in expected.items():
        assert main(["demo", *option]) == 2, option
        assert capsys.readouterr().err == message + "\n"
    assert main(["demo", "--dim", "4", "--seed", str(2**64 - 1), "--json"]) == 0
    assert main(["demo", "--dim", "4", "--seed", "-1", "--json"]) == 0
    assert "correct edit" in capsys.readouterr().out
