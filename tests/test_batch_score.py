"""``python -m comfy_editloss score``: a workflow over a folder of edit sets, resumable, with
per-set errors that name the set and the file."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from comfy_editloss.__main__ import main
from comfy_editloss.batch import BatchError, _ui_variant, find_edit_sets, finished_results, score_sets
from comfy_editloss.graph.runtime import Environment

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
FLAGSHIP = ROOT / "workflows" / "kontext_edit_score.json"


@pytest.fixture(scope="module")
def env():
    return Environment.create()


def _sets(tmp_path: Path, names=("set_1", "set_2", "set_10")) -> Path:
    root = tmp_path / "sets"
    for name in names:
        shutil.copytree(SAMPLES / "object_replacement", root / name)
    return root


def test_every_set_is_scored_and_collected(tmp_path, env):
    root = _sets(tmp_path)
    out = tmp_path / "out"
    stream = io.StringIO()
    summary = score_sets(root, FLAGSHIP, out, env=env, stream=stream)
    assert [o.name for o in summary.outcomes] == ["set_1", "set_2", "set_10"]  # natural order
    assert all(o.status == "done" for o in summary.outcomes) and not summary.interrupted
    results = finished_results(out)
    assert list(results) == ["set_1", "set_2", "set_10"]
    for result in results.values():
        assert result["ranking"][0] == "correct" and result["generations"] == ["correct", "distorted", "no_edit", "overlay"]
        assert (out / "sets" / result["set"] / "editloss" / "scores_00001_.json").is_file()  # the report's own files
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert len(rows) == 3 * 4 and rows[0]["set"] == "set_1" and rows[0]["generation"] == "correct" and rows[0]["rank"] == "1"
    assert float(rows[0]["no_edit_identity"]) < float(next(r for r in rows if r["generation"] == "no_edit")["no_edit_identity"])
    data = json.loads((out / "scores.json").read_text())
    assert list(data["sets"]) == ["set_1", "set_2", "set_10"]
    assert (out / "summary.png").is_file()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("[########################] 3/3 set_10:")


def test_a_bad_set_is_named_with_its_file_and_the_others_go_on_then_resume_retries_it(tmp_path, env):
    root = _sets(tmp_path)
    broken = root / "set_2" / "generations" / "no_edit.png"
    broken.write_bytes(b"this is not a png")
    (root / "set_10" / "before.png").unlink()
    out = tmp_path / "out"
    stream = io.StringIO()
    summary = score_sets(root, FLAGSHIP, out, env=env, stream=stream)
    status = {o.name: o for o in summary.outcomes}
    assert status["set_1"].status == "done"
    assert status["set_2"].status == "failed" and "set 'set_2'" in status["set_2"].error and "no_edit.png" in status["set_2"].error
    assert status["set_10"].status == "failed" and "before.png" in status["set_10"].error
    assert "error: set 'set_2'" in stream.getvalue()
    assert list(finished_results(out)) == ["set_1"]
    first = (out / "sets" / "set_1" / "result.json").stat().st_mtime_ns
    # fix the files and run again: the finished set is skipped, untouched; the failed ones run
    shutil.copy(SAMPLES / "object_replacement" / "generations" / "no_edit.png", broken)
    shutil.copy(SAMPLES / "object_replacement" / "before.png", root / "set_10" / "before.png")
    summary = score_sets(root, FLAGSHIP, out, env=env, progress=False)
    assert {o.name: o.status for o in summary.outcomes} == {"set_1": "skipped", "set_2": "done", "set_10": "done"}
    assert (out / "sets" / "set_1" / "result.json").stat().st_mtime_ns == first
    assert len(list((out / "sets" / "set_1" / "editloss").glob("scores_*.json"))) == 1  # not recomputed
    assert list(finished_results(out)) == ["set_1", "set_2", "set_10"]


def test_an_interrupted_run_continues_where_it_stopped(tmp_path, env):
    root = _sets(tmp_path)
    out = tmp_path / "out"
    stops = []

    class InterruptAfterFirst(io.StringIO):
        def write(self, text):
            if "1/3" in text:
                stops[0]()  # what Ctrl+C calls
            return super().write(text)

    summary = score_sets(root, FLAGSHIP, out, env=env, stream=InterruptAfterFirst(), on_start=stops.append)
    assert summary.interrupted and [o.name for o in summary.outcomes] == ["set_1"]
    assert list(finished_results(out)) == ["set_1"]
    assert not list((out / "sets").glob("*/result.json.tmp")) and not (out / "sets" / "set_2" / "result.json").exists()
    assert len(list(csv.DictReader((out / "scores.csv").open()))) == 4  # aggregates of what finished
    summary = score_sets(root, FLAGSHIP, out, env=env, progress=False)
    assert [(o.name, o.status) for o in summary.outcomes] == [("set_1", "skipped"), ("set_2", "done"), ("set_10", "done")]


def test_muted_file_loaders_are_switched_on_for_sets_that_have_the_file(tmp_path):
    data = json.loads(FLAGSHIP.read_text())
    mask_id = next(n["id"] for n in data["nodes"] if n["type"] == "LoadImageMask")
    folder = tmp_path / "set"
    folder.mkdir()
    assert next(n for n in _ui_variant(data, folder)["nodes"] if n["id"] == mask_id)["mode"] == 2
    (folder / "mask.png").write_bytes(b"")
    assert next(n for n in _ui_variant(data, folder)["nodes"] if n["id"] == mask_id)["mode"] == 0
    assert next(n for n in data["nodes"] if n["id"] == mask_id)["mode"] == 2  # the workflow itself is untouched


def test_depth_sets_take_injected_files_relative_to_each_set(tmp_path, env):
    out = tmp_path / "out"
    workflow = ROOT / "workflows" / "depth_insertion.json"
    estimator = str(next(n["id"] for n in json.loads(workflow.read_text())["nodes"] if n["type"] == "EditLossEstimateDepth"))
    summary = score_sets(SAMPLES / "object_insertion", workflow, out, {(estimator, 0): "generations_depth.npy"}, env=env, progress=False)
    assert [o.status for o in summary.outcomes] == ["done"]
    assert finished_results(out)["object_insertion"]["ranking"] == ["right_depth", "wrong_depth"]


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    root = _sets(tmp_path, ("a",))
    assert main(["score", str(root), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("1 set(s) scored (1 now, 0 finished before), 0 failed")
    assert "Per generation name, over the sets:" in printed and "wrote " in printed
    (root / "a" / "after.png").write_bytes(b"broken")
    (tmp_path / "out" / "sets" / "a" / "result.json").unlink()
    assert main(["score", str(root), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    assert "error: set 'a'" in capsys.readouterr().out
    assert main(["score", str(tmp_path / "nothing"), "-o", str(tmp_path / "out")]) == 2
    assert "edit-set folder not found" in capsys.readouterr().err
    assert main(["score", str(root), "--workflow", "no_such_flow"]) == 2
    assert "workflow not found: 'no_such_flow' is neither a file nor a shipped workflow (" in capsys.readouterr().err
    no_report = tmp_path / "plain.json"
    no_report.write_text(json.dumps({"1": {"class_type": "LoadImage", "inputs": {"image": "before.png"}}}))
    assert main(["score", str(root), "--workflow", str(no_report)]) == 2
    assert "has no EditLossReport node" in capsys.readouterr().err


def test_finding_sets(tmp_path):
    with pytest.raises(BatchError, match="no edit sets in"):
        find_edit_sets(tmp_path)
    assert find_edit_sets(SAMPLES / "material_scale") == [SAMPLES / "material_scale"]
    assert [p.name for p in find_edit_sets(SAMPLES)] == ["material_scale", "object_insertion", "object_replacement"]
