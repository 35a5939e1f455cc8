"""Putting the runner together: node packs + host stand-ins + catalogue, workflows from files."""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .catalogue import Catalogue
from .convert import ConversionError, convert, is_api_prompt, load_json
from .execute import RunResult, Runner, describe_value
from .host import HOST_NODES, HostFolders, host_value_for_file, using_folders
from .pack import NodePack, load_pack, this_pack_path
from .validate import PromptCheck, ValidationIssue, check_prompt


def default_packs() -> list[Path]:
    """The EditLoss pack, when this library runs from the pack's checkout (as in ComfyUI or a clone)."""
    path = this_pack_path()
    if (path / "__init__.py").is_file() and (path / "nodes").is_dir():
        return [path]
    return []


@dataclass
class Environment:
    """Everything needed to convert, validate and run workflows: node classes and their specs."""

    packs: list[NodePack] = field(default_factory=list)
    classes: dict[str, type] = field(default_factory=dict)
    catalogue: Catalogue = field(default_factory=Catalogue.core)

    @classmethod
    def create(cls, packs: Iterable[str | os.PathLike] | None = None, host_nodes: bool = True) -> "Environment":
        loaded = [load_pack(p) for p in (default_packs() if packs is None else packs)]
        classes: dict[str, type] = dict(HOST_NODES) if host_nodes else {}
        display: dict[str, str] = {}
        for pack in loaded:
            classes.update(pack.classes)
            display.update(pack.display_names)
        catalogue = Catalogue.core().with_classes({k: v for k, v in classes.items() if k not in HOST_NODES}, display)
        return cls(loaded, classes, catalogue)

    def pack_node_types(self) -> set[str]:
        return {name for pack in self.packs for name in pack.classes}

    def runner(self, **options: Any) -> Runner:
        return Runner(self.classes, self.catalogue, range_checked=self.pack_node_types(), **options)


def load_prompt(workflow: str | os.PathLike | Mapping[str, Any], env: Environment, source: str | None = None) -> tuple[dict, str]:
    """A workflow file or dict, UI or API format, as an API prompt (plus its name for messages)."""
    if isinstance(workflow, Mapping):
        data, source = workflow, source or "<workflow>"
    else:
        data, source = load_json(workflow), source or str(workflow)
    if is_api_prompt(data):
        return {str(k): dict(v) for k, v in data.items()}, source
    if isinstance(data, Mapping) and isinstance(data.get("prompt"), Mapping) and is_api_prompt(data["prompt"]):
        return {str(k): dict(v) for k, v in data["prompt"].items()}, source  # a saved /prompt request body
    return convert(data, env.catalogue, source=source), source


def check_workflow(
    workflow, env: Environment | None = None, source: str | None = None, input_dir: str | os.PathLike | None = None
) -> PromptCheck:
    """A workflow validated as ComfyUI validates it before a run: output by output, with the nodes
    each needs; which outputs would run and which would be ignored (a conversion error refuses it,
    as one issue). Image files are looked up in ``input_dir`` (default: the workflow's folder)."""
    env = env or Environment.create()
    try:
        prompt, source = load_prompt(workflow, env, source)
    except ConversionError as exc:
        broken = [ValidationIssue("invalid_prompt", str(exc).split(": ", 1)[-1], source or str(workflow))]
        return PromptCheck(issues=broken, fatal=broken)
    with using_folders(host_folders_for(workflow, input_dir, None)):
        return check_prompt(prompt, env.catalogue, env.classes, source)


def validate_workflow(
    workflow, env: Environment | None = None, source: str | None = None, input_dir: str | os.PathLike | None = None
) -> list[ValidationIssue]:
    """All problems of a workflow that ComfyUI would report: those of the nodes its outputs need
    and of the prompt as a whole (see :func:`check_workflow`); an empty list when it is valid."""
    return check_workflow(workflow, env, source, input_dir).issues


def parse_injection(text: str) -> tuple[str, int, str]:
    """``NODE:SLOT=FILE`` (the slot may be left out: ``12=before.png`` is output 0 of node 12).
    Node ids of subgraph nodes contain colons themselves (``5:12:0=x.png``): the last number before
    ``=`` is the slot when the id has more parts."""
    if "=" not in text:
        raise ValueError(f"--inject must be NODE:SLOT=FILE, got {text!r}")
    target, path = text.split("=", 1)
    node, _, slot = target.rpartition(":")
    if node and slot.isdigit():
        return node, int(slot), path
    return target, 0, path


def injections_from_files(specs: Mapping[tuple[str, int], str | os.PathLike], prompt: Mapping, env: Environment) -> dict[tuple[str, int], Any]:
    values = {}
    for (node_id, slot), path in specs.items():
        entry = prompt.get(str(node_id))
        if entry is None:
            raise ValueError(f"cannot inject {path}: node {node_id} is not in the workflow")
        spec = env.catalogue.get(entry["class_type"])
        if spec is None or not 0 <= slot < len(spec.outputs):
            count = len(spec.outputs) if spec else 0
            raise ValueError(f"cannot inject {path}: node {node_id} ({entry['class_type']}) has {count} output(s), not an output {slot}")
        output = f"output {slot} ({spec.outputs[slot].type}) of node {node_id} ({entry['class_type']})"
        try:
            value = host_value_for_file(path, spec.outputs[slot].type)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - image, array and pickle readers fail in many ways; each means "not that kind of file"
            raise ValueError(f"cannot inject {path} as {output}: {_unreadable(exc, path)}") from None
        if Path(path).suffix.lower() == ".pt" and not _holds_tensors(value):
            raise ValueError(f"cannot inject {path} as {output}: it holds a {type(value).__name__} ({describe_value(value)}), not a tensor or a dict of tensors")
        values[(str(node_id), slot)] = value
    return values


def _unreadable(exc: BaseException, path) -> str:
    """Why a file could not be read, in one line (the readers' own messages may span many)."""
    text = str(exc).removeprefix(f"{path}: ").strip()
    line = text.splitlines()[0] if text else ""
    if isinstance(exc, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:  # torch.load(weights_only=True)'s own
        line = (text.split("WeightsUnpickler error:", 1)[1].strip().splitlines() or [""])[0]
        if line.startswith("Unsupported global:"):  # a class or function, not data
            found = line.split("GLOBAL", 1)[-1].split(" was not")[0].strip()
            return f"it holds Python objects other than tensors, which are not loaded (here {found})"
    if isinstance(exc, ValueError) and not isinstance(exc, UnicodeDecodeError):
        return line  # the readers' own checks say what is wrong
    return f"not a readable {Path(path).suffix or 'extensionless'} file ({type(exc).__name__}{': ' + line if line else ''})"


def _holds_tensors(value: Any) -> bool:
    import torch  # noqa: PLC0415

    return isinstance(value, torch.Tensor) or (isinstance(value, Mapping) and any(isinstance(v, torch.Tensor) for v in value.values()))


def host_folders_for(workflow, input_dir, output_dir) -> HostFolders:
    """Input folder (default: the workflow's folder), output folder (default ./output), temp inside it."""
    if input_dir is None:
        input_dir = Path(workflow).resolve().parent if isinstance(workflow, (str, os.PathLike)) else Path.cwd()
    output = (Path(output_dir) if output_dir is not None else Path.cwd() / "output").resolve()
    return HostFolders(Path(input_dir).resolve(), output, output / "temp")


def run_workflow(
    workflow: str | os.PathLike | Mapping[str, Any],
    inject: Mapping[Any, Any] | None = None,
    packs: Iterable[str | os.PathLike] | None = None,
    input_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    targets: list[str] | None = None,
    runner: Runner | None = None,
    env: Environment | None = None,
) -> RunResult:
    """Run a workflow file (UI or API format) headless, for tests and scripts. As in ComfyUI, the
    outputs that fail validation are skipped (``RunResult.skipped``) and the others run; it raises
    :class:`PromptValidationError` when none is valid.

    Args:
        workflow: a path, or the workflow's JSON as a dict.
        inject: outputs of nodes that cannot run here: ``{"12:0": "before.png"}`` or
            ``{("12", 0): tensor}``; paths are loaded as the output's type.
        packs: node pack folders (default: the EditLoss pack of this checkout).
        input_dir: where LoadImage looks (default: the workflow's folder).
        output_dir: where SaveImage writes (default: ./output); previews go to its temp/.
        targets: node ids to compute (default: every output node).
        runner: reuse a Runner (and its cache) across calls.

    Example (in a user's test)::

        from comfy_editloss.testing import run_workflow
        result = run_workflow("my_graph.json", inject={"8:0": "generated.png"})
        assert result.output("15") < 0.2
    """
    env = env or Environment.create(packs)
    prompt, source = load_prompt(workflow, env)
    files: dict[tuple[str, int], str] = {}
    values: dict[tuple[str, int], Any] = {}
    for key, value in (inject or {}).items():
        node_id, slot = _injection_key(key)
        if isinstance(value, (str, os.PathLike)):
            files[(node_id, slot)] = value
        else:
            values[(node_id, slot)] = value
    folders = host_folders_for(workflow, input_dir, output_dir)
    runner = runner or env.runner()
    with using_folders(folders):
        values.update(injections_from_files(files, prompt, env))
        return runner.run(prompt, targets=targets, inject=values, source=source, extra_pnginfo=workflow_pnginfo(workflow))


def _injection_key(key: Any) -> tuple[str, int]:
    if isinstance(key, tuple):
        return str(key[0]), int(key[1])
    node, _, slot = str(key).rpartition(":")
    if node and slot.isdigit():
        return node, int(slot)
    return str(key), 0


def workflow_pnginfo(workflow) -> dict:
    """What SaveImage embeds besides the prompt: the UI workflow, as ComfyUI does."""
    if isinstance(workflow, Mapping) and "nodes" in workflow:
        return {"workflow": workflow}
    if isinstance(workflow, (str, os.PathLike)):
        try:
            data = json.loads(Path(workflow).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {"workflow": data} if isinstance(data, Mapping) and "nodes" in data else {}
    return {}
