"""The runner's command line and the run_workflow helper, on workflows that use our nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from workflow_builder import inp, node, out, workflow

from comfy_editloss.__main__ import main
from comfy_editloss.graph.convert import convert
from comfy_editloss.graph.runtime import Environment, parse_injection
from comfy_editloss.graph.execute import NotRunnableError
from comfy_editloss.testing import NodeExecutionError, PromptValidationError, run_workflow


def latent_scoring_workflow():
    """Before/after/generation images -> VAE Encode (not runnable here: injected) -> our latent
    embedding and task losses -> Preview as Text; plus the before image scaled and saved."""
    nodes = [
        node(1, "LoadImage", [], [out("IMAGE", "IMAGE", [1, 13]), out("MASK", "MASK")], ["before.png", "image"]),
        node(2, "VAELoader", [], [out("VAE", "VAE", [2, 3, 4])], ["ae.safetensors"]),
        node(3, "VAEEncode", [inp("pixels", "IMAGE", 1), inp("vae", "VAE", 2)], [out("LATENT", "LATENT", [5])], title="before latent"),
        node(4, "VAEEncode", [inp("pixels", "IMAGE", 14), inp("vae", "VAE", 3)], [out("LATENT", "LATENT", [6])], title="after latent"),
        node(5, "VAEEncode", [inp("pixels", "IMAGE", 15), inp("vae", "VAE", 4)], [out("LATENT", "LATENT", [7])], title="generation latent"),
        node(6, "EditLossLatentToEmbedding", [inp("latent", "LATENT", 5)], [out("embedding", "EDITLOSS_EMBEDDING", [8])]),
        node(7, "EditLossLatentToEmbedding", [inp("latent", "LATENT", 6)], [out("embedding", "EDITLOSS_EMBEDDING", [9, 16])]),
        node(8, "EditLossLatentToEmbedding", [inp("latent", "LATENT", 7)], [out("embedding", "EDITLOSS_EMBEDDING", [10, 17])]),
        node(9, "EditLossNoEditIdentity", [inp("z_pred", "EDITLOSS_EMBEDDING", 10), inp("z_gt", "EDITLOSS_EMBEDDING", 9), inp("z_src", "EDITLOSS_EMBEDDING", 8)],
             [out("loss", "FLOAT", [11]), out("scores", "EDITLOSS_SCORES", [12])], [0.2, "cos", "mean"]),
        node(10, "PreviewAny", [inp("source", "*", 11)], [], [None, None, None]),
        node(11, "PreviewAny", [inp("source", "*", 12)], []),
        node(12, "ImageScale", [inp("image", "IMAGE", 13)], [out("IMAGE", "IMAGE", [18])], ["bilinear", 16, 0, "disabled"]),
        node(13, "SaveImage", [inp("images", "IMAGE", 18)], [], ["scaled"]),
        node(14, "LoadImage", [], [out("IMAGE", "IMAGE", [14]), out("MASK", "MASK")], ["after.png", "image"]),
        node(15, "LoadImage", [], [out("IMAGE", "IMAGE", [15]), out("MASK", "MASK")], ["gen.png", "image"]),
        node(16, "EditLossGeometryMatch", [inp("z_pred", "EDITLOSS_EMBEDDING", 17), inp("z_gt", "EDITLOSS_EMBEDDING", 16)],
             [out("loss", "FLOAT", [19]), out("scores", "EDITLOSS_SCORES")], ["l2", "mean"]),
        node(17, "PreviewAny", [inp("source", "*", 19)], []),
    ]
    links = [[1, 1, 0, 3, 0, "IMAGE"], [2, 2, 0, 3, 1, "VAE"], [3, 2, 0, 4, 1, "VAE"], [4, 2, 0, 5, 1, "VAE"],
             [5, 3, 0, 6, 0, "LATENT"], [6, 4, 0, 7, 0, "LATENT"], [7, 5, 0, 8, 0, "LATENT"],
             [8, 6, 0, 9, 2, "EDITLOSS_EMBEDDING"], [9, 7, 0, 9, 1, "EDITLOSS_EMBEDDING"], [10, 8, 0, 9, 0, "EDITLOSS_EMBEDDING"],
             [11, 9, 0, 10, 0, "FLOAT"], [12, 9, 1, 11, 0, "EDITLOSS_SCORES"], [13, 1, 0, 12, 0, "IMAGE"], [18, 12, 0, 13, 0, "IMAGE"],
             [14, 14, 0, 4, 0, "IMAGE"], [15, 15, 0, 5, 0, "IMAGE"], [16, 7, 0, 16, 1, "EDITLOSS_EMBEDDING"], [17, 8, 0, 16, 0, "EDITLOSS_EMBEDDING"],
             [19, 16, 0, 17, 0, "FLOAT"]]
    return workflow(nodes, links)


@pytest.fixture
def case(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("before", "after", "gen"):
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
    latents = {name: rng.standard_normal((1, 16, 3, 4)).astype(np.float32) for name in ("before", "after")}
    latents["gen"] = np.concatenate([latents["after"], latents["before"]])  # a correct edit and a no-edit
    for name, value in latents.items():
        np.save(tmp_path / f"{name}.npy", value)
    (tmp_path / "wf.json").write_text(json.dumps(latent_scoring_workflow()))
    return tmp_path


REPO = Path(__file__).resolve().parents[1]
INJECT = ["--inject", "3:0=before.npy", "--inject", "4=after.npy", "--inject", "5:0=gen.npy"]


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "comfy_editloss", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_run_command_scores_with_injected_latents_and_never_overwrites(case):
    proc = cli("run", "wf.json", *INJECT, "--progress", cwd=case)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "wf.json: ran 11 node(s), 0 cached"  # the LoadImages feeding injected nodes do not run
    assert "11 PreviewAny: no_edit_identity (lower is better): [0, " in proc.stdout
    assert "[2/14] 3 VAEEncode (injected)" in proc.stderr
    record = json.loads((case / "output" / "run_00001_.json").read_text())
    assert record["files"] == [str(case / "output" / "scaled_00001_.png")]
    assert sorted(record["ui"]) == ["10", "11", "13", "17"]
    second = cli("run", "wf.json", *INJECT, "--json", cwd=case)
    assert second.returncode == 0 and second.stderr == ""  # no progress: stderr is not a terminal
    report = json.loads(second.stdout)
    assert report["record"].endswith("run_00002_.json") and report["files"][0].endswith("scaled_00002_.png")
    assert (case / "output" / "scaled_00001_.png").is_file() and (case / "output" / "run_00001_.json").is_file()


def test_run_command_exit_codes(case):
    missing = cli("run", "wf.json", cwd=case)
    assert missing.returncode == 2
    assert "input 'vae_name'" not in missing.stderr  # model file names are not checked here
    assert "node(s) 2 (VAELoader), 3 (VAEEncode), 4 (VAEEncode), 5 (VAEEncode) cannot run here" in missing.stderr
    np.save(case / "bad.npy", np.zeros((2, 16, 5, 5), np.float32))
    failing = cli("run", "wf.json", "--inject", "3:0=before.npy", "--inject", "4:0=bad.npy", "--inject", "5:0=gen.npy", cwd=case)
    assert failing.returncode == 1
    assert "wf.json: node 9 (EditLossNoEditIdentity) failed: ValueError: z_gt has feature shape (5, 5, 16) but z_pred has (3, 4, 16)" in failing.stderr
    assert "    z_gt: Embedding(tensor torch.float32 [2, 5, 5, 16] on cpu)" in failing.stderr
    bad_arg = cli("run", "wf.json", "--inject", "3:0", cwd=case)
    assert bad_arg.returncode == 2 and "--inject must be NODE:SLOT=FILE, got '3:0'" in bad_arg.stderr
    no_file = cli("run", "nope.json", cwd=case)
    assert no_file.returncode == 2 and "nope.json: no such file" in no_file.stderr
    broken = latent_scoring_workflow()
    broken["nodes"][8]["widgets_values"] = [-1.0, "cos", "mean"]  # what the outputs 10 and 11 need
    (case / "broken.json").write_text(json.dumps(broken))
    partial = cli("run", "broken.json", *INJECT, "--quiet", "--output-dir", "partial", cwd=case)
    assert partial.returncode == 3, partial.stderr  # as ComfyUI: the valid outputs run; 3 says some were skipped
    problem = "  broken.json: node 9 (EditLossNoEditIdentity) input 'margin': -1.0 is smaller than the minimum 0.0 [value_smaller_than_min]"
    assert partial.stderr.splitlines() == [
        "broken.json: skipped output 10 (PreviewAny), which fails validation:", problem,
        "broken.json: skipped output 11 (PreviewAny), which fails validation:", problem,
    ]
    record = json.loads((case / "partial" / "run_00001_.json").read_text())
    assert sorted(record["ui"]) == ["13", "17"] and sorted(record["skipped"]) == ["10", "11"]
    assert record["skipped"]["10"][0]["dependent_outputs"] == ["10", "11"]
    refused = cli("run", "broken.json", *INJECT, "--target", "10", "--target", "11", "--quiet", cwd=case)
    assert refused.returncode == 2 and refused.stderr.startswith("invalid workflow, 1 problem(s):\n" + problem)


def test_convert_and_validate_commands(case):
    proc = cli("convert", "wf.json", cwd=case)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == convert(latent_scoring_workflow(), Environment.create().catalogue)
    assert cli("convert", "wf.json", "-o", "prompt.json", cwd=case).returncode == 0
    assert json.loads((case / "prompt.json").read_text()) == json.loads(proc.stdout)
    valid = cli("validate", "prompt.json", "wf.json", cwd=case)
    assert valid.returncode == 0 and valid.stdout == "prompt.json: valid\nwf.json: valid\n"
    broken = latent_scoring_workflow()
    broken["nodes"][8]["widgets_values"] = [-1.0, "cosine", "mean"]
    (case / "broken.json").write_text(json.dumps(broken))
    invalid = cli("validate", "broken.json", "--json", cwd=case)
    assert invalid.returncode == 3  # partly valid: ComfyUI would still run the outputs 13 and 17
    kinds = [(i["node_id"], i["input_name"], i["type"], i["dependent_outputs"]) for i in json.loads(invalid.stdout)["broken.json"]]
    assert kinds == [("9", "margin", "value_smaller_than_min", ["10", "11"]), ("9", "dist", "value_not_in_list", ["10", "11"])]
    prompt = json.loads((case / "prompt.json").read_text())
    prompt["12"]["inputs"]["width"] = "wide"  # and what 13 needs
    prompt["30"] = {"class_type": "EditLossNoSuchNode", "inputs": {}}  # needed by no output, yet ComfyUI refuses the prompt for it
    (case / "refused.json").write_text(json.dumps(prompt))
    texts = cli("validate", "broken.json", "refused.json", cwd=case)
    assert texts.returncode == 2
    assert texts.stdout.splitlines()[0] == "broken.json: 2 problem(s); ComfyUI would run output(s) 13, 17 and ignore 10, 11"
    assert texts.stdout.splitlines()[3:5] == [
        "refused.json: 2 problem(s); ComfyUI would refuse it",
        "  refused.json: node 12 (ImageScale) input 'width': Failed to convert an input value to a INT value: 'wide' "
        "(invalid literal for int() with base 10: 'wide') [invalid_input_type]",
    ]


def test_help_documents_the_commands():
    proc = subprocess.run([sys.executable, "-m", "comfy_editloss", "run", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for text in ("--inject NODE:SLOT=FILE", "--target NODE", "--input-dir", "--output-dir", "--pack DIR", "overwritten"):
        assert text in proc.stdout
    assert " ".join(proc.stdout.split()).endswith(
        "exit codes: 0 every output ran; 1 a node failed or the run was interrupted; 2 invalid arguments (a path that is no workflow, "
        "an output folder that is a file, a malformed --inject) or a workflow ComfyUI would refuse (no output valid); 3 the workflow "
        "is partly valid: the valid outputs ran, the invalid ones were skipped (listed on stderr)"
    )
    validate = subprocess.run([sys.executable, "-m", "comfy_editloss", "validate", "--help"], capture_output=True, text=True)
    assert "3 partly valid: ComfyUI would run some outputs and ignore the others" in " ".join(validate.stdout.split())


def test_run_workflow_helper(case):
    result = run_workflow(case / "wf.json", inject={"3:0": case / "before.npy", ("4", 0): case / "after.npy", "5": case / "gen.npy"}, output_dir=case / "out")
    scores = result.output("9", 1)
    assert scores.values[0] == 0.0 and scores.values[1] > 0.2  # the correct edit passes, the no-edit does not
    assert result.output("16", 0) == pytest.approx(float(result.output("16", 1).values.mean()))
    assert result.ui["10"] == {"text": [str(result.output("9", 0))]}
    latent = {"samples": torch.from_numpy(np.load(case / "gen.npy"))}
    direct = run_workflow(case / "wf.json", inject={"3:0": case / "before.npy", "4:0": case / "after.npy", "5:0": latent}, output_dir=case / "out")
    assert torch.equal(direct.output("9", 1).values, scores.values)
    with pytest.raises(NotRunnableError, match=r"node\(s\) 2 \(VAELoader\), 4 \(VAEEncode\) cannot run here"):
        run_workflow(case / "wf.json", inject={"3:0": case / "before.npy"}, targets=["4"], output_dir=case / "out")
    broken = latent_scoring_workflow()
    broken["nodes"][8]["widgets_values"] = [-1.0, "cos", "mean"]
    partial = run_workflow(broken, inject={"3:0": case / "before.npy", "4:0": case / "after.npy", "5:0": case / "gen.npy"}, input_dir=case, output_dir=case / "out")
    assert sorted(partial.skipped) == ["10", "11"] and sorted(partial.ui) == ["13", "17"]  # the valid outputs ran
    with pytest.raises(PromptValidationError, match=r"node 9 \(EditLossNoEditIdentity\) input 'margin': -1.0 is smaller than the minimum 0.0 \[value_smaller_than_min\]$"):
        partial.output("9", 1)


def test_runner_cache_makes_a_rerun_execute_nothing(case):
    env = Environment.create()
    runner = env.runner()
    inject = {"3:0": case / "before.npy", "4:0": case / "after.npy", "5:0": case / "gen.npy"}
    first = run_workflow(case / "wf.json", inject=inject, output_dir=case / "out", runner=runner, env=env)
    again = run_workflow(case / "wf.json", inject=inject, output_dir=case / "out", runner=runner, env=env)
    assert len(first.executed) == 11 and again.executed == [] and len(again.cached) == 11


def test_injection_syntax():
    assert parse_injection("12:0=before.png") == ("12", 0, "before.png")
    assert parse_injection("12=a=b.png") == ("12", 0, "a=b.png")
    assert parse_injection("5:12:1=x.npy") == ("5:12", 1, "x.npy")
    with pytest.raises(ValueError, match=r"^--inject must be NODE:SLOT=FILE, got 'x'$"):
        parse_injection("x")


def test_node_failure_from_the_helper_names_the_node(case):
    np.save(case / "bad.npy", np.zeros((2, 16, 5, 5), np.float32))
    with pytest.raises(NodeExecutionError) as info:
        run_workflow(case / "wf.json", inject={"3:0": case / "before.npy", "4:0": case / "bad.npy", "5:0": case / "gen.npy"}, output_dir=case / "out")
    assert (info.value.node_id, info.value.class_type) == ("9", "EditLossNoEditIdentity")


def test_models_dir_option_gives_the_loaders_their_files(tmp_path, depth_models_dir):
    workflow = REPO / "workflows" / "depth_insertion.json"
    (tmp_path / "generations").mkdir()
    for name in ("before.png", "mask.png", "generations/1.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    np.save(tmp_path / "target_depth.npy", np.ones((8, 8), np.float32))
    without = cli("validate", str(workflow), "--input-dir", str(tmp_path), cwd=tmp_path)
    assert "depth_anything_v2_vits.pth" in without.stdout  # only the previews of the inputs would run
    assert without.returncode == 3 and "; ComfyUI would run output(s) 3, 5 and ignore 9, 13, 15, 16, 17, 18, 20, 21" in without.stdout
    with_models = cli("validate", str(workflow), "--input-dir", str(tmp_path), "--models-dir", str(depth_models_dir), cwd=tmp_path)
    assert with_models.returncode == 0 and with_models.stdout.strip().endswith("valid"), with_models.stdout


def _one_error_line(capsys) -> str:
    """What a command printed on stderr, checked to be one ``error: ...`` line (no traceback)."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_workflow_files_that_are_no_workflows_give_one_error_line_and_exit_2(case, capsys, monkeypatch):
    monkeypatch.chdir(case)
    (case / "folder").mkdir()
    os.mkfifo(case / "fifo.json")
    (case / "binary.json").write_bytes(bytes(range(128, 256)))
    (case / "nodes.json").write_text(json.dumps({"nodes": [1]}))
    no_origin = latent_scoring_workflow()
    no_origin["links"] = [{"id": 1, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "IMAGE"}]
    (case / "no_origin.json").write_text(json.dumps(no_origin))
    bad_link = latent_scoring_workflow()
    bad_link["nodes"][2]["inputs"][0]["link"] = "one"
    (case / "bad_link.json").write_text(json.dumps(bad_link))
    expected = {
        ("convert", "folder"): "error: folder: is a folder, not a workflow file",
        ("run", "folder"): "error: folder: is a folder, not a workflow file",
        ("convert", "fifo.json"): "error: fifo.json: is a named pipe (FIFO), not a workflow file",
        ("run", "fifo.json"): "error: fifo.json: is a named pipe (FIFO), not a workflow file",
        ("convert", "binary.json"): "error: binary.json: not a text file: byte 0 is not UTF-8 (invalid start byte); a workflow is JSON",
        ("convert", "nodes.json"): "error: nodes.json: nodes[0] must be an object, got int 1",
        ("convert", "no_origin.json"): "error: no_origin.json: link 1 has no 'origin_id' (a link object needs id, origin_id, origin_slot, target_id, target_slot)",
        ("run", "bad_link.json"): "error: bad_link.json: node 3: input 'pixels': link must be an integer, got 'one'",
    }
    for (command, path), message in expected.items():
        assert main([command, path]) == 2, (command, path)
        assert _one_error_line(capsys) == message
    assert main(["convert", "wf.json", "-o", "folder"]) == 2
    assert _one_error_line(capsys) == "error: --output folder: is a folder, not a file to write"
    assert main(["convert", "wf.json", "-o", "fifo.json"]) == 2  # opening it to write would wait for a reader
    assert _one_error_line(capsys) == "error: --output fifo.json: is a named pipe (FIFO), not a file to write"
    assert main(["convert", "wf.json", "-o", "wf.json/prompt.json"]) == 2
    assert _one_error_line(capsys) == "error: --output wf.json/prompt.json: wf.json is a file, not a folder"
    assert main(["validate", "fifo.json"]) == 2
    assert capsys.readouterr().out == "fifo.json: 1 problem(s); ComfyUI would refuse it\n  fifo.json: is a named pipe (FIFO), not a workflow file [invalid_prompt]\n"


def test_folders_and_options_that_cannot_be_used_give_one_error_line_naming_the_option(case, capsys, monkeypatch):
    monkeypatch.chdir(case)
    expected = {
        ("validate", "wf.json", "--input-dir", "nowhere"): "error: --input-dir nowhere: no such folder",
        ("run", "wf.json", "--input-dir", "wf.json"): "error: --input-dir wf.json: is a file, not a folder",
        ("run", "wf.json", *INJECT, "--output-dir", "wf.json"): "error: --output-dir wf.json: is a file, not a folder",
        ("run", "wf.json", *INJECT, "--output-dir", "wf.json/out"): "error: --output-dir wf.json/out: wf.json is a file, not a folder",
        ("score", ".", "-o", "gen.png/scores"): "error: --output-dir gen.png/scores: gen.png is a file, not a folder",
        ("validate", "wf.json", "--models-dir", "before.png"): "error: --models-dir before.png: is a file, not a folder",
        ("run", "wf.json", "--inject", "=before.npy"): "error: --inject must be NODE:SLOT=FILE, got '=before.npy': no node",
        ("run", "wf.json", "--inject", "3:0="): "error: --inject must be NODE:SLOT=FILE, got '3:0=': no file",
        ("run", "wf.json", "--inject", "3:-1=before.npy"): "error: --inject must be NODE:SLOT=FILE, got '3:-1=before.npy': the slot -1 is not an output number (0, 1, ...)",
        ("run", "wf.json", *INJECT, "--target", "99"): "error: --target 99: node 99 is not in wf.json (its nodes: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)",
        ("score", "wf.json"): "error: edit-set folder wf.json: is a file, not a folder (give the folder of edit sets, or one edit set)",
    }
    for argv, message in expected.items():
        assert main(list(argv)) == 2, argv
        assert _one_error_line(capsys) == message
    assert not (case / "output").exists()  # refused before anything ran


def test_injected_files_that_cannot_be_read_give_one_error_line_and_exit_2(case, capsys, monkeypatch):
    monkeypatch.chdir(case)
    png = (case / "before.png").read_bytes()
    (case / "truncated.png").write_bytes(png[: len(png) // 2])
    torch.save({"note": "no tensor here"}, case / "dict.pt")
    torch.save(Path("before.png"), case / "object.pt")  # a class that weights_only refuses
    (case / "garbage.pt").write_bytes(b"not a torch file at all")
    expected = {
        "12:0=truncated.png": "error: cannot inject truncated.png as output 0 (IMAGE) of node 12 (ImageScale): not a readable .png file (OSError: image file is truncated)",
        "3:0=dict.pt": "error: cannot inject dict.pt as output 0 (LATENT) of node 3 (VAEEncode): it holds a dict ({note: 'no tensor here'}), not a tensor or a dict of tensors",
        "3:0=object.pt": "error: cannot inject object.pt as output 0 (LATENT) of node 3 (VAEEncode): it holds Python objects other than tensors, which are not loaded (here pathlib.PosixPath)",
        "3:0=garbage.pt": "error: cannot inject garbage.pt as output 0 (LATENT) of node 3 (VAEEncode): not a readable .pt file (UnpicklingError: Unsupported operand 110)",
    }
    for injection, message in expected.items():
        assert main(["run", "wf.json", *INJECT, "--inject", injection, "--output-dir", "out"]) == 2, injection
        assert _one_error_line(capsys) == message


# Sends Ctrl-C to the command line while it imports torch, before the commands' own handling.
CTRL_C_DURING_IMPORTS = """
import os, runpy, signal, sys
class CtrlCOnTorchImport:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlCOnTorchImport())
sys.argv = ["comfy_editloss", *sys.argv[1:]]
runpy.run_module("comfy_editloss", run_name="__main__", alter_sys=True)
"""

# Runs the command line with torch (and numpy, PIL) unimportable.
WITHOUT_TORCH = """
import runpy, sys
class Unimportable:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "numpy", "PIL"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Unimportable())
sys.argv = ["comfy_editloss", *sys.argv[1:]]
runpy.run_module("comfy_editloss", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_in_the_first_seconds_exits_1_with_one_line(case):
    proc = subprocess.run([sys.executable, "-c", CTRL_C_DURING_IMPORTS, "run", "wf.json", *INJECT], cwd=case, capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stderr) == (1, "error: interrupted\n")


def test_help_needs_no_torch():
    for command in ([], ["run"], ["score"], ["convert"], ["validate"], ["demo"]):
        proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *command, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith("usage: python -m comfy_editloss"), (command, proc.stderr[-2000:])
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "score", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "--memory-limit SIZE" in proc.stdout and "stale and recomputed" in proc.stdout
