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
from comfy_editloss.graph.batch import (
    BYTES_PER_PIXEL,
    BatchError,
    _ui_variant,
    available_memory,
    find_edit_sets,
    finished_results,
    format_bytes,
    parse_size,
    prompt_hash,
    score_sets,
)
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
    summary = score_sets(root, FLAGSHIP, out, env=env, stream=stream, progress=True)
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
    summary = score_sets(root, FLAGSHIP, out, env=env, stream=stream, progress=True)
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

    summary = score_sets(root, FLAGSHIP, out, env=env, stream=InterruptAfterFirst(), progress=True, on_start=stops.append)
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


def _with_weights(tmp_path: Path, weights: str) -> Path:
    """The flagship with other weights of its report's total (another prompt, same file name)."""
    data = json.loads(FLAGSHIP.read_text())
    report = next(n for n in data["nodes"] if n["type"] == "EditLossReport")
    report["widgets_values"][1] = weights
    path = tmp_path / "flows" / FLAGSHIP.name
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_results_made_with_another_prompt_or_other_files_are_stale_and_recomputed(tmp_path, env):
    root = _sets(tmp_path, ("set_1", "set_2"))
    out = tmp_path / "out"
    score_sets(root, FLAGSHIP, out, env=env, progress=False)
    first = finished_results(out)
    # other widget values: every result is stale
    identity_only = _with_weights(tmp_path, "no_edit_identity=1.0")
    stream = io.StringIO()
    summary = score_sets(root, identity_only, out, env=env, stream=stream, progress=True)
    assert [o.status for o in summary.outcomes] == ["done", "done"]  # not "skipped": reused under the new weights
    assert [(o.status, o.recomputed) for o in summary.outcomes] == [("done", "stale: the workflow, its widget values or the injected outputs changed")] * 2
    again = finished_results(out)
    assert again["set_1"]["scores"]["weighted_total"]["values"] == again["set_1"]["scores"]["no_edit_identity"]["values"]
    assert again["set_1"]["scores"]["weighted_total"]["values"] != first["set_1"]["scores"]["weighted_total"]["values"]
    assert "set_1: " in stream.getvalue() and "(recomputed, stale: the workflow, its widget values" in stream.getvalue()
    assert stream.getvalue().splitlines()[-1] == "earlier results: 0 reused, 2 recomputed because stale (workflow, settings or files changed), 0 recomputed because unreadable"
    # one image of one set changed: that set only
    shutil.copy(root / "set_2" / "generations" / "correct.png", root / "set_2" / "generations" / "no_edit.png")
    summary = score_sets(root, identity_only, out, env=env, progress=False)
    assert [(o.name, o.status, o.recomputed) for o in summary.outcomes] == [
        ("set_1", "skipped", ""), ("set_2", "done", "stale: files changed: generations/no_edit.png (changed)")
    ]
    changed = finished_results(out)["set_2"]["scores"]["no_edit_identity"]["values"]
    assert changed[2] == changed[0]  # the "no_edit" generation is now the correct one
    assert set(json.loads((out / "scores.json").read_text())["sets"]) == {"set_1", "set_2"}


def test_the_prompt_hash_follows_widget_values_links_and_injections_not_titles():
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "before.png"}, "_meta": {"title": "Before"}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    inject = {("1", 0): "generations_depth.npy"}
    same = prompt_hash(prompt, inject)
    retitled = json.loads(json.dumps(prompt))
    retitled["1"]["_meta"]["title"] = "Source"
    assert prompt_hash(retitled, inject) == same
    other_value = json.loads(json.dumps(prompt))
    other_value["1"]["inputs"]["image"] = "after.png"
    relinked = json.loads(json.dumps(prompt))
    relinked["2"]["inputs"]["images"] = ["1", 1]
    for changed in (prompt_hash(other_value, inject), prompt_hash(relinked, inject), prompt_hash(prompt, {("1", 0): "other.npy"}), prompt_hash(prompt)):
        assert changed != same


def test_an_output_folder_inside_the_set_is_not_one_of_its_inputs(tmp_path, env, monkeypatch):
    root = _sets(tmp_path, ("a",))
    monkeypatch.chdir(root / "a")
    assert [o.status for o in score_sets(".", FLAGSHIP, "scores", env=env, progress=False).outcomes] == ["done"]
    assert [o.status for o in score_sets(".", FLAGSHIP, "scores", env=env, progress=False).outcomes] == ["skipped"]
    assert list(finished_results("scores")) == ["a"]


def test_empty_or_corrupt_results_are_recomputed_with_a_warning_naming_them(tmp_path, env):
    root = _sets(tmp_path, ("empty", "list", "shape", "text"))
    out = tmp_path / "out"
    score_sets(root, FLAGSHIP, out, env=env, progress=False)
    corrupt = {"empty": "", "list": "[]", "shape": json.dumps({"generations": ["a"], "scores": {"x": {"values": [1, 2]}}}), "text": "{half a fil"}
    for name, text in corrupt.items():
        (out / "sets" / name / "result.json").write_text(text)
    stream = io.StringIO()
    summary = score_sets(root, FLAGSHIP, out, env=env, stream=stream, progress=False)
    assert [o.status for o in summary.outcomes] == ["done"] * 4 and not summary.failed
    warnings = [line for line in stream.getvalue().splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: {out / 'sets' / 'empty' / 'result.json'} is empty; set 'empty' is scored again",
        f"warning: {out / 'sets' / 'list' / 'result.json'} is not a set's result: a JSON list, not a result object; set 'list' is scored again",
        f"warning: {out / 'sets' / 'shape' / 'result.json'} is not a set's result: score 'x' has no 'values' list of 1 (one per generation); set 'shape' is scored again",
        f"warning: {out / 'sets' / 'text' / 'result.json'} is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); set 'text' is scored again",
    ]
    assert len(summary.recomputed("unreadable")) == 4
    assert summary.outcomes[0].recomputed == "unreadable: result.json is empty"
    assert list(finished_results(out)) == ["empty", "list", "shape", "text"]
    assert len(list(csv.DictReader((out / "scores.csv").open()))) == 4 * 4


def test_a_result_whose_ranking_holds_no_names_is_not_a_result():
    from comfy_editloss.graph.batch import result_problem  # noqa: PLC0415

    result = {"generations": ["a", "b"], "scores": {"x": {"values": [1.0, 2.0]}}}
    assert result_problem({**result, "ranking": ["b", "a"]}) == ""
    for ranking in ([["a"]], [{"a": 1}], [1], ["c"]):  # unhashable names made the set fail with a TypeError
        assert result_problem({**result, "ranking": ranking}) == "its 'ranking' names generations it does not have"


def test_a_set_that_would_not_fit_in_memory_is_refused_before_it_runs(tmp_path, env, monkeypatch):
    root = _sets(tmp_path, ("set_1", "set_2"))
    out = tmp_path / "out"
    images = 2 + 4  # before, after and four generations of 256x256
    needed = BYTES_PER_PIXEL["kontext_edit_score"] * images * 256 * 256
    summary = score_sets(root, FLAGSHIP, out, env=env, progress=False, memory_limit=needed - 1)
    assert [o.status for o in summary.outcomes] == ["failed", "failed"] and finished_results(out) == {}
    assert summary.outcomes[0].error == (
        f"set 'set_1' ({root / 'set_1'}): needs about {format_bytes(needed)} of memory to score with kontext_edit_score "
        f"({images} image(s), the largest 256x256, {images * 256 * 256 / 1e6:.1f} Mpx at {BYTES_PER_PIXEL['kontext_edit_score']} bytes per pixel) "
        f"but {format_bytes(needed - 1)} is available (the memory limit given); downscale its images, free memory, "
        "or set --memory-limit / $EDITLOSS_MEMORY_LIMIT (e.g. 64G, or none for no check) to try anyway"
    )
    assert not (out / "sets" / "set_1" / "editloss").exists()  # refused before it ran
    monkeypatch.setenv("EDITLOSS_MEMORY_LIMIT", "1M")
    summary = score_sets(root, FLAGSHIP, out, env=env, progress=False)
    assert "but 1.0 MB is available ($EDITLOSS_MEMORY_LIMIT)" in summary.outcomes[0].error
    summary = score_sets(root, FLAGSHIP, out, env=env, progress=False, memory_limit=needed)  # the option wins
    assert [o.status for o in summary.outcomes] == ["done", "done"]


def test_memory_limits_and_the_memory_available(tmp_path):
    assert [parse_size(text) for text in ("16G", "512M", "1.5GB", "8GiB", "2048", "none", 300)] == [16 * 2**30, 512 * 2**20, int(1.5 * 2**30), 8 * 2**30, 2048, None, 300]
    for bad in ("lots", "-1G", "0", 0, "12X"):
        with pytest.raises(BatchError, match=r"^memory_limit must be a positive size such as 16G, 512M or none, got "):
            parse_size(bad)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n")
    own = tmp_path / "cgroup"
    own.write_text("0::/job\n")
    group = tmp_path / "fs" / "job"
    group.mkdir(parents=True)
    (group / "memory.max").write_text("max\n")
    assert available_memory(str(meminfo), str(tmp_path / "fs"), str(own)) == (20000000 * 1024, "MemAvailable in /proc/meminfo")
    (group / "memory.max").write_text(f"{8 * 2**30}\n")
    (group / "memory.current").write_text(f"{3 * 2**30}\n")
    assert available_memory(str(meminfo), str(tmp_path / "fs"), str(own)) == (5 * 2**30, f"left under the cgroup's memory.max ({group / 'memory.max'})")


def test_progress_only_on_a_terminal_or_when_asked(tmp_path, env, capsys):
    root = _sets(tmp_path, ("a",))

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert main(["score", str(root), "-o", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().err == ""  # stderr is no terminal here
    piped = io.StringIO()
    score_sets(root, FLAGSHIP, tmp_path / "out", env=env, stream=piped)
    assert piped.getvalue() == ""
    terminal = Terminal()
    score_sets(root, FLAGSHIP, tmp_path / "out2", env=env, stream=terminal)
    drawn = terminal.getvalue().split("\r\x1b[2K")
    assert any(" a: node 1/" in part for part in drawn)  # where a long set is
    assert drawn[-1].startswith("[########################] 1/1 a: ") and drawn[-1].endswith("\n")
    assert main(["score", str(root), "-o", str(tmp_path / "out"), "--progress"]) == 0
    assert capsys.readouterr().err.startswith("[########################] 1/1 a: finished before, reused\n")
