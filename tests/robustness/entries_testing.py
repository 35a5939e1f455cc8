"""Sweep entries of the graph runner's test API, :mod:`comfy_editloss.testing`.

The valid calls run the shipped weight-free workflow (``workflows/weight_free_edit_heatmaps.json``:
no model files) on a tiny edit set (32x32 images) in a scratch folder. The ``workflow`` argument
(:class:`WorkflowArg`) gets the files a runner meets in the wild (missing, a folder, a FIFO, a
symlink loop, a path under a file, ``/proc/self/mem``, ``/dev/zero``, empty, not UTF-8, not JSON,
JSON nested 200,000 deep) and workflows that are broken inside: API prompts with bad nodes or
links, UI workflows with fields of the wrong type, subgraphs nested 1000 deep or expanding to 2**26
nodes. A clear error for a bad workflow names the file (or the argument); validate_workflow may
also return the problem as a ValidationIssue naming the file.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from comfy_editloss import testing as T
from comfy_editloss.graph.convert import convert
from comfy_editloss.graph.host import HostFolders, using_folders
from entries_io import _fifo, _symlink
from sweep import Entry, Variant
from sweep_kinds import Bool, fresh, replaced

TESTING = "comfy_editloss.testing"
REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflows" / "weight_free_edit_heatmaps.json"
SCORES = (("9", 1), ("10", 1))  # the per-generation scores of no-edit identity and geometry match

SCRATCH = Path(tempfile.mkdtemp(prefix="editloss-sweep-testing-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
INPUT = SCRATCH / "input"
OUTPUT = SCRATCH / "output"
BAD = SCRATCH / "bad"


def _make_input() -> None:
    (INPUT / "generations").mkdir(parents=True, exist_ok=True)
    BAD.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    before = rng.random((32, 32, 3))
    after = before.copy()
    after[8:24, 8:24] = rng.random((16, 16, 3))
    for name, image in (("before", before), ("after", after), ("generations/1", after), ("generations/2", before)):
        Image.fromarray((image * 255).astype(np.uint8)).save(INPUT / f"{name}.png")


_make_input()
_ENV: dict = {}


def env() -> T.Environment:
    if "env" not in _ENV:
        _ENV["env"] = T.Environment.create()
    return _ENV["env"]


def _scores(result) -> list:
    return [[float(x) for x in result.output(n, s).values] for n, s in SCORES]


def _same_run(call, base: dict):
    """A check: the run gives the baseline's scores."""
    memo: dict = {}

    def check(result) -> str | None:
        if "value" not in memo:
            memo["value"] = _scores(call(**fresh(base)))
        if not isinstance(result, T.RunResult):
            return f"a {type(result).__name__}, not a RunResult"
        got = _scores(result)
        return None if np.allclose(got, memo["value"], rtol=1e-5, atol=1e-6) else f"scores {got} where the baseline gives {memo['value']}"

    return check


def _issues_naming(names: tuple[str, ...]):
    """A check for validate_workflow: a non-empty list of issues, one of them naming the file."""

    def check(result) -> str | None:
        if not isinstance(result, list) or not result or not all(isinstance(i, T.ValidationIssue) for i in result):
            return f"{result!r:.160} where a list of the problems is expected"
        text = "\n".join(str(i) for i in result)
        if not any(name and name in text for name in names):
            return f"no issue names the file: {text[:200]}"
        return None

    return check


# Workflows whose broken part only some outputs need: ComfyUI runs the others (label -> issue kind).
PARTIAL = {"UI: a link from an out-of-range slot": "dangling_link"}


def _skipped_for(kind: str):
    def check(result) -> str | None:
        if not isinstance(result, T.RunResult):
            return f"a {type(result).__name__}, not a RunResult"
        kinds = {i.kind for issues in result.skipped.values() for i in issues}
        return None if kind in kinds else f"skipped {sorted(result.skipped)} for {sorted(kinds)}, where outputs that need the broken link must be skipped ({kind})"

    return check


def _no_issues(result) -> str | None:
    return None if result == [] else f"{result!r:.200} where the workflow is valid"


# ---------------------------------------------------------------------------------------------
# Bad workflows
# ---------------------------------------------------------------------------------------------


def _write(name: str, content: Any) -> Path:
    path = BAD / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _ui() -> dict:
    return json.loads(WORKFLOW.read_text())


def _ui_with(change) -> dict:
    data = _ui()
    change(data)
    return data


def _node(data: dict, node_id: int) -> dict:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def _set_node(node_id: int, key: str, value: Any):
    return lambda data: _node(data, node_id).__setitem__(key, value)


def _subgraph(sub_id: str, nodes: list[dict]) -> dict:
    return {"id": sub_id, "name": sub_id, "inputs": [], "outputs": [], "nodes": nodes, "links": []}


def _instance(node_id: int, type_: str) -> dict:
    return {"id": node_id, "type": type_, "mode": 0, "inputs": [], "outputs": [], "properties": {}}


def _nested_subgraphs(depth: int) -> dict:
    definitions = [_subgraph(f"level-{i}", [_instance(1, f"level-{i + 1}" if i + 1 < depth else "PreviewAny")]) for i in range(depth)]
    return {"nodes": [_instance(7, "level-0")], "links": [], "definitions": {"subgraphs": definitions}}


def _exponential_subgraphs(levels: int) -> dict:
    """Each level's subgraph holds two instances of the level below: 2**levels nodes once expanded."""
    definitions = [_subgraph(f"level-{i}", [_instance(1, f"level-{i + 1}"), _instance(2, f"level-{i + 1}")]) for i in range(levels)]
    definitions.append(_subgraph(f"level-{levels}", [_instance(1, "PreviewAny")]))
    return {"nodes": [_instance(7, "level-0")], "links": [], "definitions": {"subgraphs": definitions}}


def _api(nodes: dict) -> dict:
    return nodes


def _deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def bad_workflow_contents() -> dict[str, Any]:
    """Broken workflow files: label -> JSON value (or raw text/bytes)."""
    preview = {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}
    load = {"class_type": "LoadImage", "inputs": {"image": "before.png"}}
    return {
        "an empty file": b"",
        "not UTF-8": bytes(range(128, 256)),
        "not JSON": "{this is not json",
        "JSON nested 200000 deep": "[" * 200_000,
        "a JSON list": [1, 2, 3],
        "a JSON number": 3,
        "JSON null": None,
        "a JSON string": "workflow",
        "an empty JSON object": {},
        "an API prompt whose inputs is a list": {"1": load, "2": {"class_type": "PreviewAny", "inputs": [["1", 0]]}},
        "an API prompt node without class_type": {"1": load, "2": {"inputs": {"source": ["1", 0]}}},
        "an API prompt node that is a number": {"1": load, "2": 5},
        "an unknown class_type": {"1": {"class_type": "NoSuchNode", "inputs": {}}, "2": preview},
        "a class_type that is a number": {"1": {"class_type": 7, "inputs": {}}, "2": preview},
        "a link to an absent node": {"2": {"class_type": "PreviewAny", "inputs": {"source": ["99", 0]}}},
        "a link to an out-of-range slot": {"1": load, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 5]}}},
        "a link with a negative slot": {"1": load, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", -1]}}},
        "a cycle": {
            "1": {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "bilinear", "width": 8, "height": 8, "crop": "disabled"}},
            "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear", "width": 8, "height": 8, "crop": "disabled"}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        },
        "UI: links not a list": _ui_with(lambda d: d.__setitem__("links", {"1": [1, 2, 0, 5, 0, "IMAGE"]})),
        "UI: nodes not a list": _ui_with(lambda d: d.__setitem__("nodes", {"2": _node(d, 2)})),
        "UI: a node id that is a list": _ui_with(_set_node(2, "id", [2])),
        "UI: a node id that is an object": _ui_with(_set_node(2, "id", {"id": 2})),
        "UI: a node id that is null": _ui_with(_set_node(2, "id", None)),
        "UI: a node id that is true": _ui_with(_set_node(2, "id", True)),
        "UI: a node id that is 2.5": _ui_with(_set_node(2, "id", 2.5)),
        "UI: two nodes with one id": _ui_with(_set_node(3, "id", 2)),
        "UI: widgets_values a string": _ui_with(_set_node(9, "widgets_values", "0.2, cos, mean")),
        "UI: widgets_values a number": _ui_with(_set_node(9, "widgets_values", 0.2)),
        "UI: a link from an absent node": _ui_with(lambda d: d["links"].__setitem__(0, [1, 99, 0, 5, 0, "IMAGE"])),
        "UI: a link from an out-of-range slot": _ui_with(lambda d: d["links"].__setitem__(0, [1, 2, 9, 5, 0, "IMAGE"])),
        "UI: an unknown node type": _ui_with(_set_node(9, "type", "NoSuchNode")),
        "UI: inputs not a list": _ui_with(_set_node(5, "inputs", {"image": 1})),
        "UI: mode a string": _ui_with(_set_node(5, "mode", "always")),
        "UI: definitions a list": _ui_with(lambda d: d.__setitem__("definitions", [])),
        "UI: subgraphs nested 1000 deep": _nested_subgraphs(1000),
        "UI: subgraphs expanding to 2**26 nodes": _exponential_subgraphs(26),
    }


def _path_names(path: Any) -> tuple[str, ...]:
    if isinstance(path, (str, os.PathLike)) and str(path):
        return (str(path), Path(path).name)
    return ()


def bad_workflow_paths() -> dict[str, Any]:
    under = BAD / "file.json"
    under.write_text("{}")
    found: dict[str, Any] = {
        "missing": BAD / "missing.json",
        "a folder": BAD,
        "a FIFO": _fifo(BAD / "fifo.json"),
        "a symlink loop": _symlink(BAD / "loop.json", "loop.json"),
        "a path under a file": under / "x.json",
        "/proc/self/mem": Path("/proc/self/mem") if os.path.exists("/proc/self/mem") else None,
        "/dev/zero": Path("/dev/zero") if os.path.exists("/dev/zero") else None,
        "/dev/zero through a symlink": _symlink(BAD / "zero.json", "/dev/zero") if os.path.exists("/dev/zero") else None,
    }
    return {label: path for label, path in found.items() if path is not None}


@dataclass
class WorkflowArg:
    """A workflow: a path to a UI or API workflow file, or its JSON as a dict.

    Attributes:
        returns_issues: the call may report a bad workflow as a list of issues (validate_workflow)
            instead of raising.
    """

    returns_issues: bool = False

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out: list[Variant] = []

        def bad(label: str, value: Any, arguments: dict | None = None) -> None:
            arguments = arguments if arguments is not None else replaced(base, argument, value)
            if "inject" in arguments:
                arguments["inject"] = None  # the workflow alone is wrong: no injection into its nodes
            names = _path_names(value) + (("workflow",) if isinstance(value, str) and (not value or "\0" in value) else ())
            names = names or ("workflow",)
            if not self.returns_issues and label.split("holding ")[-1] in PARTIAL:
                # As ComfyUI: the outputs that need the broken node are skipped, the others run.
                out.append(Variant(f"{argument}: {label}", argument, arguments, "either", _skipped_for(PARTIAL[label.split("holding ")[-1]]), names=names))
            elif self.returns_issues:
                out.append(Variant(f"{argument}: {label}", argument, arguments, "either", _issues_naming(names + ("<workflow>",)), names=names))
            else:
                out.append(Variant(f"{argument}: {label}", argument, arguments, "error", names=names))

        def valid(label: str, value: Any) -> None:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "valid", entry.check_valid(base)))

        for label, value in (("None", None), ("an int", 3), ("bytes", bytes(WORKFLOW)), ("a list", [str(WORKFLOW)])):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=("workflow",)))
        bad("an empty string", "")
        bad("a NUL byte", f"{WORKFLOW}\0")
        for label, path in bad_workflow_paths().items():
            bad(label, path)
        for label, content in bad_workflow_contents().items():
            slug = "".join(c if c.isalnum() else "_" for c in label)[:60]
            bad(f"a file holding {label}", _write(f"{slug}.json", content))
            if isinstance(content, dict):
                bad(f"a dict holding {label}", json.loads(json.dumps(content)))
        # In memory, nested deeper than Python's recursion limit (no file could hold it: json refuses).
        deep = _ui()
        _node(deep, 9)["widgets_values"] = _deep_list(200_000)
        bad("a dict whose widgets_values are nested 200000 deep", deep, {**fresh({k: v for k, v in base.items() if k != argument}), argument: deep})
        api_deep = {"1": {"class_type": "PreviewAny", "inputs": {"source": {"__value__": _deep_list(200_000)}}}}
        bad("an API dict whose value is nested 200000 deep", api_deep, {**fresh({k: v for k, v in base.items() if k != argument}), argument: api_deep})
        valid("a str", str(WORKFLOW))
        valid("its JSON as a dict", _ui())
        api = BAD / "weight_free.api.json"
        api.write_text(json.dumps(convert(_ui(), env().catalogue)))
        valid("its API prompt", api)
        valid("its API prompt as a dict", json.loads(api.read_text()))
        link = _symlink(BAD / "link.json", str(WORKFLOW))
        if link is not None:
            valid("a symlink to it", link)
        return out


@dataclass
class FolderArg:
    """A folder (to read from, or to write into: ``missing_ok``)."""

    optional: bool = True
    missing_ok: bool = False
    none: str = "valid"  # what None gives: "valid" (a default folder) or "either"

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        folder = Path(base[argument])
        a_file = BAD / "a_file.txt"
        a_file.write_text("not a folder")
        out = []
        for label, value in (("an int", 3), ("a list", [str(folder)]), ("bytes", bytes(folder)), ("a NUL byte", f"{folder}\0"), ("a file", a_file), ("under a file", a_file / "sub")):
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=_path_names(value)))
        missing = SCRATCH / f"missing-{argument}"
        if self.missing_ok:
            out.append(Variant(f"{argument}: missing (made)", argument, replaced(base, argument, missing), "valid", entry.check_valid(base)))
        else:
            out.append(Variant(f"{argument}: missing", argument, replaced(base, argument, missing), "error", names=_path_names(missing)))
        loop = _symlink(BAD / f"loop-{argument}", f"loop-{argument}")
        if loop is not None:
            out.append(Variant(f"{argument}: a symlink loop", argument, replaced(base, argument, loop), "error", names=_path_names(loop)))
        out.append(Variant(f"{argument}: a str", argument, replaced(base, argument, str(folder)), "valid", entry.check_valid(base)))
        return out


def _image_tensor() -> torch.Tensor:
    array = np.asarray(Image.open(INPUT / "before.png").convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array)[None]


@dataclass
class InjectArg:
    """run_workflow's ``inject``: ``{"NODE:SLOT" or (node, slot): path or value}``; the valid one
    injects the before image as output 0 of LoadImage node 2."""

    keyed_by_tuple: bool = False  # Runner.run: keys are (node_id, slot) only, values are values

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = []
        image = INPUT / "before.png"
        value = _image_tensor() if self.keyed_by_tuple else image

        def error(label: str, bad: Any, names: tuple[str, ...] = ()) -> None:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, bad), "error", names=names))

        def valid(label: str, good: Any) -> None:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, good), "valid", entry.check_valid(base)))

        key = ("2", 0) if self.keyed_by_tuple else "2:0"
        error("a list", [(key, value)])
        error("a string", "2:0=before.png")
        error("an int", 3)
        error("a key 2.5", {2.5: value})
        error("a key None", {None: value})
        error("a key of one part", {("2",): value})
        error("a key of three parts", {("2", 0, 1): value})
        error("a slot that is a string", {("2", "x"): value})
        error("a slot that is 0.5", {("2", 0.5): value})
        error("a slot that is True", {("2", True): value})
        error("a negative slot", {("2", -1): value})
        error("a key naming an absent node", {("99", 0) if self.keyed_by_tuple else "99:0": value})
        error("an out-of-range slot", {("2", 7) if self.keyed_by_tuple else "2:7": value})
        error("a value None", {key: None})
        error("a value 3", {key: 3})
        error("a value that is a list", {key: [1.0, 2.0]})
        error("a tensor of the wrong shape", {key: torch.zeros(3)})
        error("a float64 image", {key: _image_tensor().double()})
        error("an image with values above 1", {key: _image_tensor() * 0 + 2.0})
        if not self.keyed_by_tuple:
            text = BAD / "text.txt"
            text.write_text("hello")
            missing = BAD / "missing.png"
            for label, path in (("a missing file", missing), ("a text file", text), ("a folder without images", BAD / "empty-folder"),
                                ("a FIFO", _fifo(BAD / "fifo.png")), ("a symlink loop", _symlink(BAD / "loop.png", "loop.png")),
                                ("/dev/zero as .npy", _symlink(BAD / "zero.npy", "/dev/zero") if os.path.exists("/dev/zero") else None),
                                ("an empty file", _write("empty.png", b"")), ("a NUL byte", f"{image}\0")):
                if path is None:
                    continue
                if label.startswith("a folder"):
                    Path(path).mkdir(exist_ok=True)
                error(label, {key: path}, _path_names(path))
            valid("a (node, slot) key", {("2", 0): image})
            valid("a key without slot", {"2": image})
            valid("an int node id", {(2, 0): image})
            valid("a str path", {key: str(image)})
            valid("a tensor", {key: _image_tensor()})
        else:
            valid("an int node id", {(2, 0): value})
            valid("None", None)
        return out


@dataclass
class OptionArg:
    """An option with some bad values of the wrong type (each must be refused naming it)."""

    bad: tuple[tuple[str, Any], ...]
    good: tuple[tuple[str, Any], ...] = ()

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        out = [Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error") for label, value in self.bad]
        out += [Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "valid", entry.check_valid(base)) for label, value in self.good]
        return out


class _RunEntry(Entry):
    """An entry whose valid variants must give the baseline's scores."""

    def check_valid(self, base: dict):
        return _same_run(self.call, base)


class _ValidateEntry(Entry):
    def check_valid(self, base: dict):
        return _no_issues


def _packs() -> dict[str, Any]:
    not_a_pack = BAD / "not-a-pack"
    not_a_pack.mkdir(exist_ok=True)
    no_mappings = BAD / "no-mappings"
    no_mappings.mkdir(exist_ok=True)
    (no_mappings / "__init__.py").write_text("X = 1\n")
    failing = BAD / "failing-pack"
    failing.mkdir(exist_ok=True)
    (failing / "__init__.py").write_text("raise RuntimeError('no torch here')\n")
    return {"a folder that is not a pack": not_a_pack, "a pack without NODE_CLASS_MAPPINGS": no_mappings, "a pack that fails to import": failing,
            "a missing folder": BAD / "no-such-pack", "a file": BAD / "a_file.txt"}


def _pack_variants(argument: str, base: dict, entry) -> list[Variant]:
    out = []
    for label, value in (("an int", 3), ("a str (not a list)", str(REPO)), ("a list holding an int", [3]), ("a list holding None", [None]), ("a dict", {str(REPO): 1})):
        out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error"))
    for label, path in _packs().items():
        out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, [path]), "error", names=_path_names(path)))
    out.append(Variant(f"{argument}: this pack, as a list", argument, replaced(base, argument, [REPO]), "valid", entry.check_valid(base)))
    out.append(Variant(f"{argument}: this pack, as a tuple of str", argument, replaced(base, argument, (str(REPO),)), "valid", entry.check_valid(base)))
    return out


@dataclass
class PacksArg:
    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        return _pack_variants(argument, base, entry)


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------

ENTRIES: list[Entry] = []


def _run_workflow(**arguments):
    return T.run_workflow(**arguments)


def _run_workflow_valid() -> dict:
    return {"workflow": WORKFLOW, "inject": {"2:0": INPUT / "before.png"}, "packs": None, "input_dir": INPUT, "output_dir": OUTPUT, "targets": None, "runner": None, "env": None}


def _run_workflow_extra(base: dict):
    yield Variant("targets: a str", "targets", replaced(base, "targets", "13"), "error")
    yield Variant("targets: an absent node", "targets", replaced(base, "targets", ["99"]), "error", names=("99",))
    yield Variant("targets: an int", "targets", replaced(base, "targets", 13), "error")
    yield Variant("targets: the output nodes", "targets", replaced(base, "targets", ["11", "12", "14"]), "valid", _same_run(_run_workflow, base))
    yield Variant("targets: int ids", "targets", replaced(base, "targets", [11, 12, 14]), "valid", _same_run(_run_workflow, base))
    yield Variant("runner: a str", "runner", replaced(base, "runner", "runner"), "error")
    yield Variant("runner: a Runner", "runner", replaced(base, "runner", env().runner()), "valid", _same_run(_run_workflow, base))
    yield Variant("env: a str", "env", replaced(base, "env", "env"), "error")
    yield Variant("env: a dict", "env", replaced(base, "env", {"classes": {}}), "error")
    yield Variant("env: an Environment", "env", replaced(base, "env", env()), "valid", _same_run(_run_workflow, base))
    yield Variant("env and packs both given", "packs", {**fresh(base), "env": env(), "packs": [REPO]}, "error", names=("env",))
    yield Variant("packs: none (no EditLoss nodes)", "packs", replaced(base, "packs", []), "error", names=("not in the node catalogue",))


ENTRIES.append(_RunEntry(
    f"{TESTING}.run_workflow", _run_workflow, _run_workflow_valid,
    dict(workflow=WorkflowArg(), inject=InjectArg(), packs=PacksArg(), input_dir=FolderArg(), output_dir=FolderArg(missing_ok=True)),
    extra=_run_workflow_extra,
))


def _validate_workflow(**arguments):
    return T.validate_workflow(**arguments)


def _validate_extra(base: dict):
    yield Variant("env: a str", "env", replaced(base, "env", "env"), "error")
    yield Variant("env: an Environment", "env", replaced(base, "env", env()), "valid", _no_issues)
    yield Variant("source: an int", "source", replaced(base, "source", 3), "error")
    yield Variant("source: a name", "source", replaced(base, "source", "mine.json"), "valid", _no_issues)
    broken = _ui_with(_set_node(9, "widgets_values", [-1.0, "cos", "mean"]))
    yield Variant("workflow: a dict with a value below its minimum", "workflow", replaced(base, "workflow", broken), "valid",
                  lambda r: None if [i.kind for i in r] == ["value_smaller_than_min"] else f"{r!r:.200}")


ENTRIES.append(_ValidateEntry(
    f"{TESTING}.validate_workflow", _validate_workflow,
    lambda: {"workflow": WORKFLOW, "env": None, "source": None, "input_dir": INPUT},
    dict(workflow=WorkflowArg(returns_issues=True), input_dir=FolderArg()),
    extra=_validate_extra,
))


def _prompt() -> dict:
    return convert(_ui(), env().catalogue)


def _runner_call(classes, catalogue, check_contracts, range_checked, progress, prompt, inject, targets, extra_pnginfo, validate):
    runner = T.Runner(classes, catalogue, check_contracts=check_contracts, range_checked=range_checked, progress=progress)
    with using_folders(HostFolders(INPUT, OUTPUT, OUTPUT / "temp")):
        return runner.run(prompt, targets=targets, inject=inject, extra_pnginfo=extra_pnginfo, validate=validate)


def _runner_valid() -> dict:
    return {"classes": dict(env().classes), "catalogue": env().catalogue, "check_contracts": True, "range_checked": None, "progress": None,
            "prompt": _prompt(), "inject": {("2", 0): _image_tensor()}, "targets": None, "extra_pnginfo": None, "validate": True}


def _bad_prompts() -> dict[str, Any]:
    return {label: value for label, value in bad_workflow_contents().items() if isinstance(value, dict) and not value.get("nodes")
            and "definitions" not in value}


def _runner_extra(base: dict):
    for label, prompt in _bad_prompts().items():
        yield Variant(f"prompt: {label}", "prompt", {**replaced(base, "prompt", prompt), "inject": None}, "error", names=("<prompt>",))
    for label, prompt in (("a list", [1]), ("None", None), ("a UI workflow", _ui())):
        yield Variant(f"prompt: {label}", "prompt", replaced(base, "prompt", prompt), "error", names=("<prompt>",))
    yield Variant("targets: a str", "targets", replaced(base, "targets", "13"), "error")
    yield Variant("targets: an absent node", "targets", replaced(base, "targets", ["99"]), "error", names=("99",))
    yield Variant("targets: the output nodes", "targets", replaced(base, "targets", ["11", "12", "14"]), "valid", _same_run(_runner_call, base))
    yield Variant("extra_pnginfo: an int", "extra_pnginfo", replaced(base, "extra_pnginfo", 3), "error")
    yield Variant("extra_pnginfo: a dict", "extra_pnginfo", replaced(base, "extra_pnginfo", {"workflow": {}}), "valid", _same_run(_runner_call, base))
    yield Variant("classes: a list", "classes", replaced(base, "classes", [1]), "error")
    yield Variant("classes: a value that is not a class", "classes", replaced(base, "classes", {**env().classes, "LoadImage": 3}), "error", names=("LoadImage",))
    yield Variant("catalogue: a dict", "catalogue", replaced(base, "catalogue", {}), "error")
    yield Variant("catalogue: None (from the classes)", "catalogue", replaced(base, "catalogue", None), "valid", _same_run(_runner_call, base))
    yield Variant("progress: an int", "progress", replaced(base, "progress", 3), "error")
    yield Variant("progress: a function", "progress", replaced(base, "progress", lambda *a: None), "valid", _same_run(_runner_call, base))
    yield Variant("range_checked: a str", "range_checked", replaced(base, "range_checked", "LoadImage"), "error")
    yield Variant("range_checked: an int", "range_checked", replaced(base, "range_checked", 3), "error")
    yield Variant("range_checked: a set", "range_checked", replaced(base, "range_checked", {"LoadImage"}), "valid", _same_run(_runner_call, base))


ENTRIES.append(_RunEntry(
    f"{TESTING}.Runner", _runner_call, _runner_valid,
    dict(check_contracts=Bool(), validate=Bool(), inject=InjectArg(keyed_by_tuple=True)),
    extra=_runner_extra,
))


def _environment_call(packs, host_nodes, options):
    environment = T.Environment.create(packs, host_nodes=host_nodes)
    with using_folders(HostFolders(INPUT, OUTPUT, OUTPUT / "temp")):
        return environment.runner(**options).run(_prompt(), inject={("2", 0): _image_tensor()})


def _environment_extra(base: dict):
    for label, options in (("check_contracts a str", {"check_contracts": "yes"}), ("progress an int", {"progress": 3}),
                           ("range_checked a str", {"range_checked": "x"})):
        yield Variant(f"options: {label}", "options", replaced(base, "options", options), "error", names=tuple(options))
    yield Variant("options: an unknown option", "options", replaced(base, "options", {"bogus": 1}), "error", names=("bogus",))
    yield Variant("options: classes given twice", "options", replaced(base, "options", {"classes": {}}), "error", names=("classes",))
    yield Variant("options: progress", "options", replaced(base, "options", {"progress": lambda *a: None}), "valid", _same_run(_environment_call, base))
    yield Variant("host_nodes: False (no LoadImage)", "host_nodes", replaced(base, "host_nodes", False), "error", names=("cannot run here",))


ENTRIES.append(_RunEntry(
    f"{TESTING}.Environment", _environment_call, lambda: {"packs": None, "host_nodes": True, "options": {}},
    dict(packs=PacksArg(), host_nodes=Bool()), extra=_environment_extra,
))


def _baseline_result():
    if "result" not in _ENV:
        _ENV["result"] = T.run_workflow(WORKFLOW, input_dir=INPUT, output_dir=OUTPUT, env=env())
    return _ENV["result"]


def _output(node_id, slot):
    return _baseline_result().output(node_id, slot)


def _output_is_baseline(result) -> str | None:
    expected = _baseline_result().output("9", 0)
    return None if result == expected else f"{result!r} where {expected!r} is expected"


def _output_extra(base: dict):
    for label, node_id in (("an absent node", "99"), ("None", None), ("a list", ["9"]), ("a node that did not run (the note)", "1")):
        yield Variant(f"node_id: {label}", "node_id", replaced(base, "node_id", node_id), "error")
    for label, slot in (("an absent slot", 5), ("-1", -1), ("a str", "0"), ("0.0", 0.0), ("True", True), ("None", None)):
        yield Variant(f"slot: {label}", "slot", replaced(base, "slot", slot), "error")
    yield Variant("node_id: an int", "node_id", replaced(base, "node_id", 9), "valid", _output_is_baseline)


ENTRIES.append(Entry(f"{TESTING}.RunResult", _output, lambda: {"node_id": "9", "slot": 0}, {}, extra=_output_extra))
ENTRIES.append(Entry(f"{TESTING}.NodeExecutionError", note="the error (a RuntimeError) of a node that failed while running, naming the file, node, its type and inputs"))
ENTRIES.append(Entry(f"{TESTING}.PromptValidationError", note="the error (a ValueError) of a workflow that fails validation: its ValidationIssues"))
ENTRIES.append(Entry(f"{TESTING}.ValidationIssue", note="one problem validation found (a frozen dataclass of what ComfyUI reports)"))
