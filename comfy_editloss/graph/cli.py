"""``python -m comfy_editloss convert | validate | run | score``: the headless runner on the command line.

Building the parser imports nothing heavy (``--help`` works without torch); the runner's modules are
imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .convert import ConversionError, describe_path
from .pack import PackLoadError
from .validate import PromptValidationError, node_order

if TYPE_CHECKING:
    from .execute import RunResult
    from .runtime import Environment

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_PARTIAL = 0, 1, 2, 3

EXIT_CODES_RUN = (
    "exit codes: 0 every output ran; 1 a node failed or the run was interrupted; 2 invalid arguments (a path that "
    "is no workflow, an output folder that is a file, a malformed --inject) or a workflow ComfyUI would refuse (no "
    "output valid); 3 the workflow is partly valid: the valid outputs ran, the invalid ones were skipped (listed on stderr)"
)
EXIT_CODES_VALIDATE = (
    "exit codes: 0 every workflow is valid; 2 invalid arguments, or ComfyUI would refuse a workflow (no output valid, "
    "a node type that does not exist, a path that is no workflow); 3 partly valid: ComfyUI would run some outputs and "
    "ignore the others (their problems are listed)"
)
EXIT_CODES_SCORE = "exit codes: 0 every set scored; 1 some sets failed or the run was interrupted; 2 invalid arguments or workflow"
EXIT_CODES_CONVERT = "exit codes: 0 converted; 2 invalid arguments or a workflow that cannot be converted"


def add_commands(commands: argparse._SubParsersAction) -> None:
    packs_help = "a node pack folder to load (repeatable; default: the EditLoss pack this library belongs to)"
    models_help = (
        "a models folder laid out like ComfyUI's (editloss_encoders/, editloss_depth/, depthanything/...); repeatable; "
        "default: $EDITLOSS_MODELS_DIR or ./models"
    )

    convert = commands.add_parser(
        "convert", help="convert a UI-format workflow to the API prompt ComfyUI's frontend would send", epilog=EXIT_CODES_CONVERT,
        description="Converts a UI-format workflow (what the ComfyUI editor saves) into an API-format prompt, "
                    "as ComfyUI's frontend 1.35.9 does, using the node catalogue of ComfyUI 0.8.0 plus the loaded packs.",
    )
    convert.add_argument("workflow", help="UI-format workflow JSON")
    convert.add_argument("-o", "--output", help="write the prompt here instead of printing it")
    convert.add_argument("--pack", action="append", dest="packs", metavar="DIR", help=packs_help)
    convert.set_defaults(handler=_convert)

    validate = commands.add_parser(
        "validate", help="report every problem of workflows (UI or API format) at once",
        description="Converts (if needed) and validates workflows against the node catalogue: unknown node types, "
                    "missing inputs, type mismatches, values out of range or not in the list, failed custom "
                    "validation, dangling links and cycles. As ComfyUI, it checks each output node with the nodes it needs "
                    "(nodes no output needs are not checked) and says which outputs ComfyUI would run and which it would "
                    "ignore. Exits 2 if ComfyUI would refuse a workflow (no output valid, a node type that does not exist), "
                    "3 if it would ignore some outputs (their problems are listed), else 0.",
        epilog=EXIT_CODES_VALIDATE,
    )
    validate.add_argument("workflows", nargs="+", metavar="WORKFLOW")
    validate.add_argument("--input-dir", help="where LoadImage finds files (default: each workflow's folder)")
    validate.add_argument("--pack", action="append", dest="packs", metavar="DIR", help=packs_help)
    validate.add_argument("--json", action="store_true", help="print the problems as JSON")
    validate.add_argument("--models-dir", action="append", metavar="DIR", help=models_help)
    validate.set_defaults(handler=_validate)

    run = commands.add_parser(
        "run", help="run a workflow headless: outputs, previews and ui data go to an output folder",
        description="Runs the output nodes of a workflow (UI or API format) and what they need, as ComfyUI would. "
                    "Outputs of nodes that cannot run here (e.g. the diffusion half of a Kontext graph) can be "
                    "injected from files. Nothing in the output folder is overwritten: every file is numbered. "
                    "As ComfyUI, outputs that fail validation are skipped and listed on stderr (and in the run record) while "
                    "the valid ones run, and the command exits 3.",
        epilog=EXIT_CODES_RUN,
    )
    run.add_argument("workflow")
    run.add_argument("--inject", action="append", default=[], metavar="NODE:SLOT=FILE",
                     help="use FILE as output SLOT of node NODE instead of running it (image, .npy, .npz, .pt, .safetensors, .json, .txt); repeatable")
    run.add_argument("--target", action="append", metavar="NODE", help="compute only these nodes and what they need (default: every output node)")
    run.add_argument("--input-dir", help="where LoadImage finds files (default: the workflow's folder)")
    run.add_argument("--output-dir", default="output", help="where outputs, previews and the run record go (default: ./output)")
    run.add_argument("--pack", action="append", dest="packs", metavar="DIR", help=packs_help)
    run.add_argument("--json", action="store_true", help="print the run record as JSON")
    _add_progress_options(run, "a line per node")
    run.add_argument("--models-dir", action="append", metavar="DIR", help=models_help)
    run.set_defaults(handler=_run)

    score = commands.add_parser(
        "score", help="score a folder of edit sets with a workflow: progress, CSV/JSON of all scores, a summary chart; resumable",
        description="Runs a workflow that ends in an EditLoss Report on every edit set of a folder (a set = a folder with "
                    "before.png, after.png, generations/ and optionally mask.png and depth files), models loaded once. "
                    "Writes OUT/sets/<set>/result.json per set (atomically, last), OUT/scores.csv, OUT/scores.json and "
                    "OUT/summary.png. Run it again after an interruption: finished sets are neither recomputed nor rewritten. "
                    "Results are keyed by the workflow's prompt and the content of each set's files: a result made with another "
                    "workflow, other widget values or other files is stale and recomputed, as is an unreadable one. "
                    "A set that fails is reported by name and the others go on; a set whose images would need more memory than "
                    "is available (estimated from their pixels) fails with the estimate before it runs.",
        epilog=EXIT_CODES_SCORE,
    )
    score.add_argument("sets", metavar="SETS", help="a folder of edit sets (or one edit set)")
    score.add_argument("--workflow", default="kontext_edit_score",
                       help="a shipped workflow's name (kontext_edit_score, texture_scale, depth_insertion, ...) or a workflow file; default kontext_edit_score")
    score.add_argument("--output-dir", "-o", default="editloss_scores", help="where results go (default: ./editloss_scores)")
    score.add_argument("--inject", action="append", default=[], metavar="NODE:SLOT=FILE",
                       help="use FILE (relative to each set) as output SLOT of node NODE, e.g. a depth estimator's output from generations_depth.npy; repeatable")
    score.add_argument("--pack", action="append", dest="packs", metavar="DIR", help=packs_help)
    score.add_argument("--models-dir", action="append", metavar="DIR", help=models_help)
    score.add_argument("--memory-limit", metavar="SIZE",
                       help="the memory one set may take, e.g. 16G or 512M (none: no check); default $EDITLOSS_MEMORY_LIMIT, "
                            "else the memory available (MemAvailable, or the cgroup's limit)")
    _add_progress_options(score, "a bar per set (and the node a set is at, on a terminal)")
    score.set_defaults(handler=_score)


def _add_progress_options(parser: argparse.ArgumentParser, what: str) -> None:
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true", default=None, help=f"show progress on stderr ({what}) even when it is not a terminal")
    shown.add_argument("--quiet", action="store_false", dest="progress", help="no progress on stderr (default: progress only on a terminal)")
    parser.set_defaults(progress=None)


def _shows_progress(args) -> bool:
    return sys.stderr.isatty() if args.progress is None else args.progress


class ArgumentError(ValueError):
    """An option or argument that cannot be used (a folder that is a file, a malformed --inject);
    the message names it and says what is wrong."""


def _file_in_the_way(path: Path) -> Path | None:
    """The first folder of ``path``'s parents that is no folder (a file), if one is."""
    for parent in reversed(path.parents):
        if not os.path.isdir(parent) and os.path.lexists(parent):
            return parent
    return None


def check_input_folder(path: str | None, option: str) -> None:
    """An input folder given on the command line must be one."""
    if path is not None:
        _check_folder(path, option, made_if_missing=False)


def check_output_folder(path: str, option: str) -> None:
    """An output folder (made if missing) must not be a file, nor lie under one."""
    _check_folder(path, option, made_if_missing=True)


def _check_folder(path: str, option: str, made_if_missing: bool) -> None:
    folder = Path(path)
    if os.path.isdir(folder):
        return
    blocker = _file_in_the_way(folder)
    if blocker is not None:
        raise ArgumentError(f"{option} {path}: {blocker} is {describe_path(blocker)}, not a folder")
    if os.path.lexists(folder):
        raise ArgumentError(f"{option} {path}: is {describe_path(folder)}, not a folder")
    if not made_if_missing:
        raise ArgumentError(f"{option} {path}: no such folder")


def check_output_file(path: str, option: str) -> None:
    """A file to write: not a folder, in a folder that exists."""
    target = Path(path)
    if os.path.isdir(target):
        raise ArgumentError(f"{option} {path}: is a folder, not a file to write")
    if os.path.islink(target) and not os.path.lexists(os.path.realpath(target)):  # a link to a file yet to be written
        if os.path.isdir(os.path.dirname(os.path.realpath(target))):
            return
        raise ArgumentError(f"{option} {path}: links to {os.path.realpath(target)}, in a folder that does not exist")
    if os.path.lexists(target) and not os.path.isfile(target):  # a FIFO would block the write, a device take it
        raise ArgumentError(f"{option} {path}: is {describe_path(target)}, not a file to write")
    blocker = _file_in_the_way(target)
    if blocker is not None:
        raise ArgumentError(f"{option} {path}: {blocker} is {describe_path(blocker)}, not a folder")
    if not os.path.isdir(target.parent if str(target.parent) else "."):
        raise ArgumentError(f"{option} {path}: the folder {target.parent} does not exist")


def parse_inject_option(text: str) -> tuple[str, int, str]:
    """``--inject NODE:SLOT=FILE``, with a message naming the option for each way it can be wrong."""
    from .runtime import parse_injection  # noqa: PLC0415

    usage = f"--inject must be NODE:SLOT=FILE, got {text!r}"
    if "=" not in text:
        raise ArgumentError(usage)
    target, path = text.split("=", 1)
    if not target.strip():
        raise ArgumentError(f"{usage}: no node")
    if not path.strip():
        raise ArgumentError(f"{usage}: no file")
    node, _, slot = target.rpartition(":")
    if node and slot and not slot.isdigit() and slot.lstrip("+-").isdigit():
        raise ArgumentError(f"{usage}: the slot {slot} is not an output number (0, 1, ...)")
    return parse_injection(text)


def _check_targets(targets: list[str] | None, prompt: dict, source: str) -> None:
    unknown = [t for t in targets or [] if str(t) not in prompt]
    if unknown:
        raise ArgumentError(f"--target {unknown[0]}: node {unknown[0]} is not in {source} (its nodes: {', '.join(sorted(prompt, key=node_order))})")


def _environment(args) -> Environment:
    from .runtime import Environment  # noqa: PLC0415 - torch, pack loading: not for --help

    for folder in getattr(args, "models_dir", None) or []:
        check_input_folder(folder, "--models-dir")
    if getattr(args, "models_dir", None):
        # the pack's model loaders read it (nodes/host/folders.py), as they would ComfyUI's model folders
        os.environ["EDITLOSS_MODELS_DIR"] = os.pathsep.join(str(Path(d).resolve()) for d in args.models_dir)
    return Environment.create(args.packs)


def _convert(args) -> int:
    from .runtime import load_prompt  # noqa: PLC0415

    if args.output:
        check_output_file(args.output, "--output")
    env = _environment(args)
    prompt, _ = load_prompt(args.workflow, env)
    text = json.dumps(prompt, indent=2, sort_keys=True, ensure_ascii=False)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ArgumentError(f"--output {args.output}: cannot write it: {exc.strerror or exc}") from None
    else:
        print(text)
    return EXIT_OK


def _validate(args) -> int:
    from .runtime import check_workflow  # noqa: PLC0415

    check_input_folder(args.input_dir, "--input-dir")
    env = _environment(args)
    report = {workflow: check_workflow(workflow, env, input_dir=args.input_dir) for workflow in args.workflows}
    if args.json:
        print(json.dumps({w: [i.to_json() for i in check.issues] for w, check in report.items()}, indent=2))
    else:
        for workflow, check in report.items():
            if check.issues:
                verdict = "ComfyUI would refuse it" if check.refused else (
                    f"ComfyUI would run output(s) {', '.join(check.valid_outputs)} and ignore {', '.join(check.failed)}")
                print(f"{workflow}: {len(check.issues)} problem(s); {verdict}")
                for issue in check.issues:
                    print(f"  {issue}")
            else:
                print(f"{workflow}: valid")
    if any(check.refused for check in report.values()):
        return EXIT_INVALID
    return EXIT_PARTIAL if any(check.issues for check in report.values()) else EXIT_OK


def _run(args) -> int:
    from .host import save_image_path  # noqa: PLC0415
    from .runtime import host_folders_for, load_prompt, run_workflow  # noqa: PLC0415

    check_input_folder(args.input_dir, "--input-dir")
    check_output_folder(args.output_dir, "--output-dir")
    inject = {}
    for text in args.inject:
        node, slot, path = parse_inject_option(text)
        inject[(node, slot)] = path
    env = _environment(args)
    prompt, source = load_prompt(args.workflow, env)
    _check_targets(args.target, prompt, source)
    folders = host_folders_for(args.workflow, args.input_dir, args.output_dir)
    progress = None if not _shows_progress(args) else (lambda node_id, class_type, done, total: print(f"[{done}/{total}] {node_id} {class_type}", file=sys.stderr))
    runner = env.runner(progress=progress)
    previous = signal.signal(signal.SIGINT, lambda *_: runner.interrupt())
    try:
        result = run_workflow(args.workflow, inject, input_dir=args.input_dir, output_dir=args.output_dir, targets=args.target, runner=runner, env=env)
    finally:
        signal.signal(signal.SIGINT, previous)
    for output, issues in result.skipped.items():
        print(f"{source}: skipped output {output} ({prompt[output]['class_type']}), which fails validation:", file=sys.stderr)
        for issue in issues:
            print(f"  {issue}", file=sys.stderr)
    record = _record(result, prompt, folders)
    folder, stem, counter, _ = save_image_path("run", folders.output)
    record_path = folder / f"{stem}_{counter:05}_.json"
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({**record, "record": str(record_path)}, indent=2, ensure_ascii=False))
    else:
        print(f"{source}: ran {len(result.executed)} node(s), {len(result.cached)} cached")
        for node_id, ui in record["ui"].items():
            for text in ui.get("text", []):
                label = f"  {node_id} {prompt[node_id]['class_type']}:"
                if "\n" in str(text):  # a table: under its node, indented
                    print(label + "\n" + "\n".join(f"    {line}" for line in str(text).splitlines()))
                else:
                    print(f"{label} {text}")
        for path in record["files"]:
            print(f"  wrote {path}")
        print(f"  run record: {record_path}")
    return EXIT_PARTIAL if result.skipped else EXIT_OK


def shipped_workflow(name: str) -> Path:
    """A workflow file, or the name of a workflow shipped in this checkout's workflows/ folder. A
    path that exists but is no file (a folder, a FIFO) is returned too: reading it says what it is."""
    path = Path(name)
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return path
    except FileNotFoundError:
        pass
    except OSError:
        return path  # a symlink loop, a path under a file: reading it says so
    from .pack import this_pack_path  # noqa: PLC0415

    shipped = this_pack_path() / "workflows"
    candidate = shipped / (name if name.endswith(".json") else f"{name}.json")
    if candidate.is_file():
        return candidate
    if path.exists():
        return path
    names = ", ".join(sorted(p.stem for p in shipped.glob("*.json"))) if shipped.is_dir() else "none found"
    raise FileNotFoundError(f"workflow not found: {name!r} is neither a file nor a shipped workflow ({names})")


def _score(args) -> int:
    from .batch import BatchError, memory_budget, score_sets, summary_text  # noqa: PLC0415

    memory_budget(args.memory_limit)  # a wrong size is an error before anything is loaded
    check_output_folder(args.output_dir, "--output-dir")
    inject = {}
    for text in args.inject:
        node, slot, path = parse_inject_option(text)
        inject[(node, slot)] = path
    env = _environment(args)
    workflow = shipped_workflow(args.workflow)
    stops = []
    previous = signal.signal(signal.SIGINT, lambda *_: [stop() for stop in stops])
    try:
        summary = score_sets(
            args.sets, workflow, args.output_dir, inject, env=env, progress=_shows_progress(args), on_start=stops.append, memory_limit=args.memory_limit
        )
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        signal.signal(signal.SIGINT, previous)
    print(summary_text(summary))
    return EXIT_FAILED if summary.failed or summary.interrupted else EXIT_OK


def _record(result: RunResult, prompt, folders) -> dict[str, Any]:
    from .execute import describe_value  # noqa: PLC0415

    files = []
    for ui in result.ui.values():
        for image in ui.get("images", []):
            if isinstance(image, dict) and "filename" in image:
                base = folders.output if image.get("type") == "output" else folders.temp
                files.append(str(base / image.get("subfolder", "") / image["filename"]))
    return {
        "executed": result.executed,
        "cached": result.cached,
        "ui": {k: _jsonable(v) for k, v in result.ui.items()},
        "outputs": {k: [describe_value(v) if v is not None else None for v in outs] for k, outs in result.outputs.items()},
        "files": files,
        "skipped": {k: [i.to_json() for i in issues] for k, issues in result.skipped.items()},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    from .execute import describe_value  # noqa: PLC0415

    return describe_value(value)


def main_for(args) -> int:
    """Run a graph subcommand, turning expected failures into a message and an exit code."""
    from .execute import Interrupted, NodeExecutionError  # noqa: PLC0415 - torch: not for --help

    try:
        return args.handler(args)
    except (ConversionError, PackLoadError, ValueError, OSError) as exc:
        if isinstance(exc, PromptValidationError):
            print(f"invalid workflow, {len(exc.issues)} problem(s):", file=sys.stderr)
            for issue in exc.issues:
                print(f"  {issue}", file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (NodeExecutionError, Interrupted) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
