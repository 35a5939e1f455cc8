"""Putting the runner together: node packs + host stand-ins + catalogue, workflows from files."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .catalogue import Catalogue
from .convert import ConversionError, check_depth, convert, describe_path, is_api_prompt, load_json
from .execute import RunResult, Runner, describe_value, injection_target
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
        if not isinstance(host_nodes, bool):
            raise TypeError(f"host_nodes must be True or False, got {type(host_nodes).__name__} {host_nodes!r}")
        loaded = [load_pack(p) for p in (default_packs() if packs is None else pack_paths(packs))]
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


def pack_paths(packs: Any) -> list[str | os.PathLike]:
    """``packs`` checked: a list (or other iterable) of pack folder paths."""
    if isinstance(packs, (str, bytes, os.PathLike, Mapping)) or not isinstance(packs, Iterable):
        raise TypeError(f"packs must be a list of node pack folders, got {type(packs).__name__} {packs!r:.80}" + ("; put the folder in a list" if isinstance(packs, (str, os.PathLike)) else ""))
    paths = list(packs)
    for index, path in enumerate(paths):
        if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
            raise TypeError(f"packs[{index}] must be the path of a node pack folder, got {type(path).__name__} {path!r:.80}")
    return paths


def _environment(env: Any, packs: Any = None) -> "Environment":
    if env is None:
        return Environment.create(packs)
    if not isinstance(env, Environment):
        raise TypeError(f"env must be an Environment (Environment.create(packs)), got {type(env).__name__} {env!r:.80}")
    if packs is not None:
        raise ValueError("give packs or env, not both: an Environment has its packs loaded already")
    return env


def load_prompt(workflow: str | os.PathLike | Mapping[str, Any], env: Environment, source: str | None = None) -> tuple[dict, str]:
    """A workflow file or dict, UI or API format, as an API prompt (plus its name for messages)."""
    if source is not None and not isinstance(source, str):
        raise TypeError(f"source must be a name (a str) for messages, got {type(source).__name__} {source!r:.80}")
    if isinstance(workflow, Mapping):
        data, source = workflow, source or "<workflow>"
    elif isinstance(workflow, (str, os.PathLike)) and isinstance(os.fspath(workflow), str):
        data, source = load_json(workflow), source or str(workflow)
    else:
        raise TypeError(f"workflow must be the path of a workflow file or its JSON as a dict, got {type(workflow).__name__} {workflow!r:.80}")
    check_depth(data, source)
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
    env = _environment(env)
    try:
        prompt, source = load_prompt(workflow, env, source)
    except ConversionError as exc:
        named = source or (str(workflow) if isinstance(workflow, (str, os.PathLike)) else "<workflow>")
        message = str(exc)
        broken = [ValidationIssue("invalid_prompt", message[len(named) + 2:] if message.startswith(named + ": ") else message, named)]
        host_folders_for(workflow, input_dir, None)  # a bad input_dir is an error all the same
        return PromptCheck(issues=broken, fatal=broken)
    folders = host_folders_for(workflow, input_dir, None)
    with using_folders(folders):
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


def injected_output(node_id: str, slot: int, path: Any, prompt: Mapping, env: Environment) -> tuple[str, str]:
    """The type of output ``slot`` of node ``node_id`` and its description, or a ValueError saying
    why ``path`` cannot be injected there (no such node, no such output)."""
    entry = prompt.get(str(node_id))
    if entry is None:
        raise ValueError(f"cannot inject {path}: node {node_id} is not in the workflow")
    spec = env.catalogue.get(entry["class_type"])
    if spec is None or not 0 <= slot < len(spec.outputs):
        count = len(spec.outputs) if spec else 0
        raise ValueError(f"cannot inject {path}: node {node_id} ({entry['class_type']}) has {count} output(s), not an output {slot}")
    return spec.outputs[slot].type, f"output {slot} ({spec.outputs[slot].type}) of node {node_id} ({entry['class_type']})"


def injections_from_files(specs: Mapping[tuple[str, int], str | os.PathLike], prompt: Mapping, env: Environment) -> dict[tuple[str, int], Any]:
    values = {}
    for (node_id, slot), path in specs.items():
        output_type, output = injected_output(node_id, slot, path, prompt, env)
        problem = _not_a_file_to_inject(path, output_type)
        if problem:
            raise ValueError(f"cannot inject {path} as {output}: {problem}")
        try:
            value = host_value_for_file(path, output_type)
        except FileNotFoundError as exc:
            raise ValueError(f"cannot inject {path} as {output}: {str(exc).removeprefix(f'{path}: ')}") from None
        except Exception as exc:  # noqa: BLE001 - image, array and pickle readers fail in many ways; each means "not that kind of file"
            raise ValueError(f"cannot inject {path} as {output}: {_unreadable(exc, path)}") from None
        if Path(path).suffix.lower() == ".pt" and not _holds_tensors(value):
            raise ValueError(f"cannot inject {path} as {output}: it holds a {type(value).__name__} ({describe_value(value)}), not a tensor or a dict of tensors")
        values[(str(node_id), slot)] = value
    return values


def _not_a_file_to_inject(path: str | os.PathLike, output_type: str) -> str | None:
    """Why ``path`` is no file to read an output from (missing, a FIFO that would block, a device
    that never ends, a folder where no image batch is asked for), or None."""
    import stat  # noqa: PLC0415

    if "\0" in os.fspath(path):
        return "the path has a NUL byte"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return None if output_type == "IMAGE" else f"is a folder (a folder of images is injected only as an IMAGE batch, this output is {output_type})"
    if not stat.S_ISREG(info.st_mode):
        from .convert import file_kind  # noqa: PLC0415

        return f"is {file_kind(info.st_mode)}, not a file"
    return None


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
    """Input folder (default: the workflow's folder), output folder (default ./output), temp inside
    it. The input folder must exist; the output folder may be made, but not under a file."""
    if input_dir is None:
        input_dir = _workflow_folder(workflow)
    else:
        input_dir = _folder_path(input_dir, "input_dir")
        if not input_dir.is_dir():
            raise ValueError(f"input_dir {input_dir}: " + (f"is {describe_path(input_dir)}, not a folder" if os.path.lexists(input_dir) else "no such folder"))
    if output_dir is None:
        output = (Path.cwd() / "output").resolve()
    else:
        output = _folder_path(output_dir, "output_dir")
        existing = next((p for p in (output, *output.parents) if os.path.lexists(p)), None)
        if existing is not None and not existing.is_dir():
            what = describe_path(existing)
            raise ValueError(f"output_dir {output}: " + (f"is {what}, not a folder" if existing == output else f"cannot be made: {existing} is {what}"))
    return HostFolders(input_dir, output, output / "temp")


def _workflow_folder(workflow) -> Path:
    """The default input folder: the folder of the workflow's file, symlinks followed (a linked
    workflow reads the files beside the real one); the working directory for a dict. A path that
    cannot be followed (a symlink loop) is left as it is: reading the workflow reports it by name."""
    if not (isinstance(workflow, (str, os.PathLike)) and os.fspath(workflow)):
        return Path.cwd().resolve()
    try:
        return Path(workflow).resolve().parent
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return Path(os.path.abspath(workflow)).parent


def _folder_path(value: Any, name: str) -> Path:
    """A folder argument as a resolved Path, or a TypeError/ValueError naming the argument."""
    if not isinstance(value, (str, os.PathLike)) or isinstance(os.fspath(value), bytes):
        raise TypeError(f"{name} must be the path of a folder (a str or a Path), got {type(value).__name__} {value!r:.80}")
    if not os.fspath(value):
        raise ValueError(f"{name} must be the path of a folder, got an empty string")
    if "\0" in os.fspath(value):
        raise ValueError(f"{name} {os.fspath(value)!r}: a path with a NUL byte")
    try:
        return Path(value).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ValueError(f"{name} {os.fspath(value)}: cannot be followed: {exc}") from None


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
    if runner is not None and not isinstance(runner, Runner):
        raise TypeError(f"runner must be a Runner (env.runner()), got {type(runner).__name__} {runner!r:.80}")
    env = _environment(env, packs)
    if inject is not None and not isinstance(inject, Mapping):
        raise TypeError(f"inject must be a dict of 'NODE:SLOT' (or (node_id, slot)) -> file or value, got {type(inject).__name__} {inject!r:.80}")
    prompt, source = load_prompt(workflow, env)
    folders = host_folders_for(workflow, input_dir, output_dir)
    files: dict[tuple[str, int], str] = {}
    values: dict[tuple[str, int], Any] = {}
    for key, value in (inject or {}).items():
        node_id, slot = _injection_key(key)
        if isinstance(value, (str, os.PathLike)):
            files[(node_id, slot)] = value
        else:
            values[(node_id, slot)] = value
    runner = runner or env.runner()
    with using_folders(folders):
        values.update(injections_from_files(files, prompt, env))
        return runner.run(prompt, targets=targets, inject=values, source=source, extra_pnginfo=workflow_pnginfo(workflow))


def _injection_key(key: Any) -> tuple[str, int]:
    """An ``inject`` key: ``"NODE:SLOT"``, ``"NODE"`` (slot 0) or ``(node_id, slot)``."""
    if isinstance(key, tuple):
        return injection_target(key)
    if not isinstance(key, str) or not key:
        raise TypeError(f"inject keys must be 'NODE:SLOT' or (node_id, slot), got {type(key).__name__} {key!r:.80}")
    node, _, slot = key.rpartition(":")
    if node and slot.isdigit():
        return node, int(slot)
    return key, 0


def workflow_pnginfo(workflow) -> dict:
    """What SaveImage embeds besides the prompt: the UI workflow, as ComfyUI does."""
    if isinstance(workflow, Mapping) and "nodes" in workflow:
        return {"workflow": workflow}
    if isinstance(workflow, (str, os.PathLike)):
        try:
            data = load_json(workflow)  # bounded, and a file that changed into a FIFO does not block
        except (OSError, ValueError):
            return {}
        return {"workflow": data} if isinstance(data, Mapping) and "nodes" in data else {}
    return {}
