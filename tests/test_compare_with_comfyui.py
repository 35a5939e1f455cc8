"""benchmarks/compare_with_comfyui.py against a stand-in for ComfyUI's /prompt and /history that
caches as ComfyUI 0.8.0 does (no server is started)."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from workflow_builder import inp, node, out, workflow

from comfy_editloss.graph.runtime import Environment, run_workflow

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_with_comfyui.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_with_comfyui", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CachingComfyUI:
    """/prompt and /history as execution.py and server.py fill them: a prompt queued again runs
    none of the nodes whose inputs did not change, and the ui of a node taken from the cache is put
    into the history only when the prompt came with a client_id (``execute``: ``if
    server.client_id is not None``). ``results``: node id -> ui of a first run."""

    def __init__(self, results: dict):
        self.results = results
        self.history: dict[str, dict] = {}
        self.previous = None
        self.error: dict | None = None  # the execution_error of the next prompt, if it is to fail

    def post(self, url: str, body: dict) -> dict:
        assert url.endswith("/prompt")
        prompt_id = f"prompt-{len(self.history)}"
        cached = body["prompt"] == self.previous
        outputs = {} if cached and body.get("client_id") is None else copy.deepcopy(self.results)
        self.previous = copy.deepcopy(body["prompt"])
        status = {"status_str": "success", "completed": True, "messages": [["execution_cached", {"nodes": list(body["prompt"]) if cached else []}]]}
        if self.error is not None:
            status = {"status_str": "error", "completed": False, "messages": status["messages"] + [["execution_error", self.error]]}
        self.history[prompt_id] = {"prompt": [0, prompt_id, body["prompt"], {}, []], "outputs": outputs, "status": status}
        return {"prompt_id": prompt_id}

    def get(self, url: str) -> dict:
        prompt_id = url.rsplit("/", 1)[1]
        return {prompt_id: copy.deepcopy(self.history[prompt_id])} if prompt_id in self.history else {}


def _text_workflow() -> dict:
    nodes = [
        node(1, "LoadImage", [], [out("IMAGE", "IMAGE", [1]), out("MASK", "MASK", [2])], ["cmp.png", "image"]),
        node(2, "PreviewAny", [inp("source", "*", 1)], [], [False]),
        node(3, "PreviewAny", [inp("source", "*", 2)], [], [False]),
    ]
    return workflow(nodes, [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 1, 3, 0, "MASK"]])


def test_a_rerun_against_a_server_that_cached_the_prompt_still_compares_every_node(tmp_path, compare, monkeypatch, capsys):
    images, comfyui = tmp_path / "images", tmp_path / "ComfyUI"
    images.mkdir()
    (comfyui / "input").mkdir(parents=True)
    Image.fromarray(np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)).save(images / "cmp.png")
    (tmp_path / "wf.json").write_text(json.dumps(_text_workflow()))
    env = Environment.create()
    first_run = run_workflow(tmp_path / "wf.json", input_dir=images, output_dir=tmp_path / "reference", env=env)
    server = CachingComfyUI({key: dict(ui) for key, ui in first_run.ui.items()})
    monkeypatch.setattr(compare, "post", server.post)
    monkeypatch.setattr(compare, "get", server.get)
    args = argparse.Namespace(url="http://comfyui", images=str(images), workflow=str(tmp_path / "wf.json"), server_temp=str(comfyui / "temp"))
    for attempt in ("first", "again, all cached"):
        failures = compare.compare_workflow(args, env, comfyui, tmp_path / "work")
        printed = capsys.readouterr().out
        assert failures == 0, (attempt, printed)
        assert f"{args.workflow} node 2 text: equal" in printed and f"{args.workflow} node 3 text: equal" in printed, (attempt, printed)


def test_a_node_missing_from_the_history_is_a_difference_named_by_its_id(tmp_path, compare, monkeypatch, capsys):
    server = CachingComfyUI({"17": {"text": ["0.5"]}})
    monkeypatch.setattr(compare, "post", server.post)
    monkeypatch.setattr(compare, "get", server.get)
    outputs = compare.run_on_server("http://comfyui", {"17": {"class_type": "PreviewAny", "inputs": {}}}, seconds=1)
    assert compare.server_ui(outputs, "17", "text") == ["0.5"]
    assert compare.server_ui(outputs, "18", "text") is None
    assert "node 18: no 'text' in ComfyUI's history (it has ['17']): DIFFERENT" in capsys.readouterr().out
    server.error = {"node_id": "17", "exception_message": "boom"}
    with pytest.raises(RuntimeError, match=r"^ComfyUI failed prompt prompt-1: \[\{'node_id': '17', 'exception_message': 'boom'\}\]$"):
        compare.run_on_server("http://comfyui", {}, seconds=1)
