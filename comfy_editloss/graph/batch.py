"""Batch scoring: one workflow over a folder of edit sets, ``python -m comfy_editloss score SETS``.

Layout of the folder (what ``samples/`` ships)::

    SETS/
      chair_to_stool/              one edit set (any name); the order is natural (set_2 before set_10)
        before.png                 the source
        after.png                  the intended result (ground truth)
        generations/               the generations to score: any number of images of one size
        mask.png                   optional: the edit region (white)
        target_depth.npy           optional: depth files the workflow reads (depth workflows)
      ...

A folder is an edit set when it has a ``generations/`` folder. Each set runs the workflow with the set
as ComfyUI's input folder; a muted file loader of the workflow (``mask.png`` in the flagship) is
switched on for the sets that have its file. Models are loaded once for all sets (one runner,
one model cache). The workflow must end in an **EditLoss Report** node: its table is the set's result.

Output folder::

    OUT/
      sets/<set>/result.json       the set's scores, written last and atomically, with the key they
                                   were made under: the hash of the API prompt (the workflow after
                                   conversion, widget values included, and the injection settings)
                                   and the content hashes of the set's files. A set whose result has
                                   this run's key is finished and is neither run nor written again
                                   (resume = run again); a result made under another key is stale and
                                   recomputed, as is an unreadable one (with a warning naming it)
      sets/<set>/...               the set's report files and previews
      scores.csv, scores.json      the scores of this run's finished sets, rewritten atomically at the end
      summary.png                  the mean of each score per generation name over the sets, and how
                                   often each generation ranked first (a table and bar charts)

A set that fails (an unreadable image, a missing file) is reported by name with the file and the
run goes on; it is not marked finished, so the next run tries it again. Before a set runs, the memory
it needs is estimated from the pixels of its images (``BYTES_PER_PIXEL``); a set that would not fit
in the memory available (MemAvailable, the cgroup's limit, or ``memory_limit`` /
``$EDITLOSS_MEMORY_LIMIT``) fails with the estimate instead of being killed by the system.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..io.images import IMAGE_PATTERNS, natural_key
from ..report.files import write_atomic

RESULT_FILE = "result.json"
REPORT_NODE = "EditLossReport"
FILE_LOADERS = {"LoadImage": "image", "LoadImageMask": "image", "EditLossLoadDepth": "file"}
MODE_MUTED = 2
IMAGE_SUFFIXES = tuple(pattern.lstrip("*") for pattern in IMAGE_PATTERNS)

MEMORY_LIMIT_ENV = "EDITLOSS_MEMORY_LIMIT"
# Peak memory of scoring one edit set, per pixel of its images (before, after, generations, mask),
# on top of what the process holds before (Python, torch, the pack). Measured on the CPU with
# ``python3 benchmarks/bench_score_memory.py``: the peak resident set of fresh processes on sets of 4
# generations at 1024, 2048 and 4096 pixels square; the larger of the two slopes, rounded up (they
# were 107 and 118, 63 and 66, 129 and 124: within 10%, the per-pixel model holds).
BYTES_PER_PIXEL = {"kontext_edit_score": 118, "texture_scale": 66, "depth_insertion": 129}
# Other workflows: the largest of the shipped ones.
DEFAULT_BYTES_PER_PIXEL = max(BYTES_PER_PIXEL.values())


class BatchError(ValueError):
    """A problem with the whole batch (no sets, a workflow without a report); the message says what."""


class NotEnoughMemory(MemoryError):
    """A set that would need more memory than is available: refused before it runs, not killed after minutes."""


@dataclass
class SetOutcome:
    name: str
    status: str  # "done", "skipped" (finished before: its result reused), "failed"
    seconds: float = 0.0
    error: str = ""
    recomputed: str = ""  # why an earlier result was not reused ("stale: ...", "unreadable: ..."), if there was one


@dataclass
class BatchSummary:
    outcomes: list[SetOutcome] = field(default_factory=list)
    interrupted: bool = False
    files: list[Path] = field(default_factory=list)
    text: str = ""
    results: dict[str, dict] = field(default_factory=dict)  # this run's finished sets (reused or computed)

    @property
    def failed(self) -> list[SetOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def recomputed(self, kind: str) -> list[SetOutcome]:
        """Sets computed again because their earlier result was ``"stale"`` or ``"unreadable"``."""
        return [o for o in self.outcomes if o.status != "skipped" and o.recomputed.startswith(kind)]


def find_edit_sets(root: str | os.PathLike) -> list[Path]:
    """The edit sets under ``root`` (folders with a ``generations/`` folder), in natural order;
    ``root`` itself when it is one."""
    root = Path(root)
    if not root.is_dir():
        if os.path.lexists(root):
            from .convert import describe_path  # noqa: PLC0415

            raise BatchError(f"edit-set folder {root}: is {describe_path(root)}, not a folder (give the folder of edit sets, or one edit set)")
        raise BatchError(f"edit-set folder not found: {root}")
    if (root / "generations").is_dir():
        return [root]
    sets = [p for p in root.iterdir() if p.is_dir() and (p / "generations").is_dir()]
    if not sets:
        raise BatchError(f"no edit sets in {root}: an edit set is a folder with before.png, after.png and a generations/ folder")
    return sorted(sets, key=lambda p: natural_key(p.name))


def _ui_variant(workflow: Mapping, folder: Path) -> dict:
    """The UI workflow with its muted file loaders switched on where the set has their file."""
    data = json.loads(json.dumps(workflow))
    for node in data.get("nodes", []):
        widget = FILE_LOADERS.get(node.get("type"))
        values = node.get("widgets_values")
        if widget and node.get("mode") == MODE_MUTED and isinstance(values, list) and values and isinstance(values[0], str):
            if (folder / values[0]).is_file():
                node["mode"] = 0
    return data


# ---------------------------------------------------------------------------------------------
# What a result was made from: the prompt and the set's files
# ---------------------------------------------------------------------------------------------


def _set_files(folder: Path, skip: Path | None = None) -> list[Path]:
    """Every regular file of an edit set (sub-folders and linked folders included), in a fixed
    order; ``skip`` (resolved): a folder inside it that is not input (the output folder, if it is there)."""
    found = []
    for parent, folders, names in os.walk(folder, followlinks=True):
        here = Path(parent)
        if skip is not None and (here.resolve() == skip or skip in here.resolve().parents):
            folders[:] = []
            continue
        folders.sort()
        for name in sorted(names):
            path = here / name
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError:
                continue  # a dangling link: nothing to read
            if regular:
                found.append(path)
    return found


def prompt_hash(prompt: Mapping[str, Any], inject: Mapping[tuple[str, int], Any] | None = None) -> str:
    """The hash of what a set's result is computed by: the API prompt (class types, widget values,
    links; not the titles in ``_meta``, which change nothing) and the injection settings."""
    nodes = {str(k): {key: v for key, v in dict(entry).items() if key != "_meta"} for k, entry in prompt.items()}
    injected = sorted(f"{node}:{slot}={path}" for (node, slot), path in (inject or {}).items())
    text = json.dumps({"prompt": nodes, "inject": injected}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def input_hashes(folder: Path, files: list[Path], inject: Mapping[tuple[str, int], Any] | None = None) -> dict[str, str]:
    """Content hash of each of the set's ``files`` (by path relative to it), and of injected files
    that lie outside it (by the path as given)."""
    from .host import file_hash  # noqa: PLC0415 - the runner's file hash (LoadImage's IS_CHANGED)

    hashes = {path.relative_to(folder).as_posix(): file_hash(path) for path in files}
    for path in (inject or {}).values():
        target = (folder / path).resolve()
        if target == folder.resolve() or folder.resolve() in target.parents:
            continue  # hashed with the set
        for file in [target] if target.is_file() else _set_files(target) if target.is_dir() else []:
            hashes[str(path) if file == target else f"{path}/{file.relative_to(target).as_posix()}"] = file_hash(file)
    return hashes


def result_problem(data: Any) -> str:
    """What is wrong with a result.json's content ("" if it is a result the aggregates can read)."""
    if not isinstance(data, Mapping):
        return f"a JSON {type(data).__name__}, not a result object"
    generations = data.get("generations")
    if not isinstance(generations, list) or not all(isinstance(g, str) for g in generations):
        return "no 'generations' list of names"
    scores = data.get("scores")
    if not isinstance(scores, Mapping) or not scores:
        return "no 'scores' object"
    for name, entry in scores.items():
        values = entry.get("values") if isinstance(entry, Mapping) else None
        if not isinstance(values, list) or len(values) != len(generations):
            return f"score {name!r} has no 'values' list of {len(generations)} (one per generation)"
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            return f"score {name!r} has values that are not numbers"
    ranking = data.get("ranking")
    if ranking is not None and (
        not isinstance(ranking, list) or not all(isinstance(r, str) for r in ranking) or not set(ranking) <= set(generations)
    ):
        return "its 'ranking' names generations it does not have"
    return ""


def read_result(path: Path) -> tuple[dict | None, str]:
    """A set's result.json and "" or, for a file that cannot serve as one, None and why."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot be read ({exc})"
    if not text.strip():
        return None, "is empty"
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"is not valid JSON ({exc})"
    problem = result_problem(data)
    return (None, f"is not a set's result: {problem}") if problem else (data, "")


def reusable_result(path: Path, key: Mapping, warn: Callable[[str], None]) -> tuple[dict | None, str]:
    """A set's earlier result when it was made under ``key`` (else None) and, for one there that is
    not reused, why: ``"stale: ..."`` or ``"unreadable: ..."`` (``warn`` is told about the latter)."""
    if not path.exists():
        return None, ""
    earlier, problem = read_result(path)
    if earlier is None:
        warn(f"{path} {problem}")
        return None, f"unreadable: {path.name} {problem}"
    why = stale_reason(earlier, key)
    return (None, f"stale: {why}") if why else (earlier, "")


def stale_reason(earlier: Mapping, key: Mapping) -> str:
    """Why a result made under ``earlier["key"]`` is not this run's ("" when it is)."""
    made = earlier.get("key")
    if not isinstance(made, Mapping):
        return "it records no workflow and file hashes (an earlier version wrote it)"
    if made.get("prompt") != key["prompt"]:
        return "the workflow, its widget values or the injected outputs changed"
    before, now = made.get("inputs") if isinstance(made.get("inputs"), Mapping) else {}, key["inputs"]
    changed = sorted({name for name in set(before) | set(now) if before.get(name) != now.get(name)}, key=natural_key)
    if not changed:
        return ""
    shown = ", ".join(f"{name} ({'new' if name not in before else 'gone' if name not in now else 'changed'})" for name in changed[:4])
    return f"files changed: {shown}" + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


@dataclass
class MemoryEstimate:
    images: int
    pixels: int
    largest: tuple[int, int]  # width, height of the largest image
    bytes_per_pixel: int

    @property
    def bytes(self) -> int:
        return self.pixels * self.bytes_per_pixel


def estimate_memory(files: list[Path], workflow: str) -> MemoryEstimate:
    """The memory scoring a set will take: the pixels of its images (sizes read from the file
    headers, nothing decoded) times the workflow's measured figure (``BYTES_PER_PIXEL``)."""
    from PIL import Image  # noqa: PLC0415

    count = pixels = 0
    largest = (0, 0)
    for path in files:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, ValueError):
            continue  # an unreadable image fails the set when it is loaded, naming the file
        count += 1
        pixels += width * height
        if width * height > largest[0] * largest[1]:
            largest = (width, height)
    return MemoryEstimate(count, pixels, largest, BYTES_PER_PIXEL.get(Path(workflow).stem, DEFAULT_BYTES_PER_PIXEL))


def available_memory(meminfo: str = "/proc/meminfo", cgroup_root: str = "/sys/fs/cgroup", own_cgroup: str = "/proc/self/cgroup") -> tuple[int | None, str]:
    """Memory this process can still take (bytes) and where the figure comes from: the kernel's
    MemAvailable (os.sysconf's free pages elsewhere), or what is left under the cgroup (v2)
    memory.max when that is less, as in a container. (None, "") when neither can be read."""
    found: list[tuple[int, str]] = []
    try:
        with open(meminfo) as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append((int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"))
    except (OSError, ValueError):
        try:
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free physical memory (os.sysconf)"))
        except (OSError, ValueError, AttributeError):
            pass
    try:
        with open(own_cgroup) as handle:
            group = next((line.strip().split("::", 1)[1] for line in handle if line.startswith("0::")), None)
        if group is not None:
            folder = Path(cgroup_root) / group.lstrip("/")
            limit = (folder / "memory.max").read_text().strip()
            if limit != "max":
                used = int((folder / "memory.current").read_text().strip())
                found.append((max(0, int(limit) - used), f"left under the cgroup's memory.max ({folder / 'memory.max'})"))
    except (OSError, ValueError, StopIteration):
        pass
    return min(found) if found else (None, "")


SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
NO_LIMIT = ("none", "off", "unlimited")


def parse_size(text: str | int, what: str = "memory_limit") -> int | None:
    """``16G``, ``512M``, ``1.5GB``, ``8GiB`` or a number of bytes; ``none`` (no check) gives None."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise BatchError(f"{what} must be a positive size such as 16G, 512M or none, got {text!r}")
        return text
    value = str(text).strip().lower()
    if value in NO_LIMIT:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?", value)
    if match is None or float(match.group(1)) <= 0:
        raise BatchError(f"{what} must be a positive size such as 16G, 512M or none, got {text!r}")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)])


def memory_budget(memory_limit: str | int | None = None) -> tuple[int | None, str]:
    """The memory a set may take (None: no check) and where that comes from: ``memory_limit``,
    else ``$EDITLOSS_MEMORY_LIMIT``, else what the machine has available."""
    if memory_limit is not None:
        return parse_size(memory_limit, "--memory-limit"), "the memory limit given"
    if os.environ.get(MEMORY_LIMIT_ENV, "").strip():
        return parse_size(os.environ[MEMORY_LIMIT_ENV], MEMORY_LIMIT_ENV), f"${MEMORY_LIMIT_ENV}"
    return available_memory()


def format_bytes(count: float) -> str:
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def memory_problem(estimate: MemoryEstimate, budget: int | None, origin: str, workflow: str) -> str:
    """The message for a set that would not fit ("" when it fits or there is no budget)."""
    if budget is None or estimate.bytes <= budget:
        return ""
    width, height = estimate.largest
    return (
        f"needs about {format_bytes(estimate.bytes)} of memory to score with {Path(workflow).stem} "
        f"({estimate.images} image(s), the largest {width}x{height}, {estimate.pixels / 1e6:.1f} Mpx at "
        f"{estimate.bytes_per_pixel} bytes per pixel) but {format_bytes(budget)} is available ({origin}); "
        f"downscale its images, free memory, or set --memory-limit / ${MEMORY_LIMIT_ENV} (e.g. 64G, or none for no check) to try anyway"
    )


def _csv_rows(results: Mapping[str, dict]) -> str:
    names: list[str] = []
    for result in results.values():
        for name in result["scores"]:
            if name not in names:
                names.append(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["set", "generation", "rank", *names])
    for set_name, result in results.items():
        ranking = result.get("ranking") or []
        for i, label in enumerate(result["generations"]):
            rank = ranking.index(label) + 1 if label in ranking else ""
            row = [set_name, label, rank]
            for name in names:
                values = result["scores"].get(name, {}).get("values")
                value = values[i] if values is not None else None
                row.append("" if value is None else value)
            writer.writerow(row)
    return out.getvalue()


def summary_table(results: Mapping[str, dict]):
    """Per generation name (over the sets that have it): the mean of each score, and the share of
    sets in which it ranked first. Returns a ScoreTable (or None without results)."""
    import torch  # noqa: PLC0415

    from ..report.table import ScoreTable  # noqa: PLC0415
    from ..types import Scores  # noqa: PLC0415

    if not results:
        return None
    labels: list[str] = []
    columns: dict[str, bool] = {}
    for result in results.values():
        labels += [g for g in result["generations"] if g not in labels]
        for name, entry in result["scores"].items():
            columns.setdefault(name, bool(entry.get("lower_is_better", True)))
    table = ScoreTable(labels, [])
    for name, lower in columns.items():
        sums = {label: [] for label in labels}
        for result in results.values():
            values = result["scores"].get(name, {}).get("values")
            if values is None:
                continue
            for label, value in zip(result["generations"], values):
                if value is not None and math.isfinite(value):
                    sums[label].append(value)
        means = [sum(v) / len(v) if v else math.nan for v in sums.values()]
        table.add(Scores(f"mean {name}", torch.tensor(means, dtype=torch.float32), lower))
    firsts = {label: 0 for label in labels}
    counted = {label: 0 for label in labels}
    for result in results.values():
        ranking = result.get("ranking") or []
        for label in result["generations"]:
            counted[label] += 1
        if ranking:
            firsts[ranking[0]] += 1
    share = [firsts[label] / counted[label] if counted[label] else math.nan for label in labels]
    table.add(Scores("ranked first", torch.tensor(share, dtype=torch.float32), lower_is_better=False))
    return table


class _Progress:
    """Progress on ``stream``: one line per set on a pipe, a redrawn line on a terminal (which also
    shows the node a set is at: a large set takes minutes); done/total, rate, time left."""

    def __init__(self, total: int, stream=None, enabled: bool | None = None):
        self.total, self.stream = total, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = self.tty if enabled is None else enabled
        self.start = time.perf_counter()
        self.done = 0
        self.ran = 0
        self.line_open = False  # a redrawn line without its newline yet (terminal)

    def _bar(self) -> str:
        width = 24
        filled = int(width * self.done / max(1, self.total))
        return "[" + "#" * filled + "-" * (width - filled) + "]"

    def node(self, name: str, node_id: str, class_type: str, done: int, total: int) -> None:
        """Where the running set is (terminal only: on a pipe it would be a line per node)."""
        if self.enabled and self.tty:
            self.stream.write(f"\r\x1b[2K{self._bar()} {self.done}/{self.total} {name}: node {done}/{total} {node_id} {class_type}")
            self.stream.flush()
            self.line_open = True

    def update(self, outcome: SetOutcome) -> None:
        self.done += 1
        if outcome.status != "skipped":
            self.ran += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = elapsed / self.ran if self.ran else 0.0
        left = rate * (self.total - self.done)
        note = {"done": f"{outcome.seconds:.2f} s", "skipped": "finished before, reused", "failed": "FAILED"}[outcome.status]
        if outcome.recomputed and outcome.status != "skipped":
            note += f" (recomputed, {outcome.recomputed})"
        line = f"{self._bar()} {self.done}/{self.total} {outcome.name}: {note}" + (f" | {rate:.2f} s/set, {left:.0f} s left" if self.ran else "")
        if self.tty:
            self.line_open = not (self.done == self.total or outcome.status == "failed")
            self.stream.write("\r\x1b[2K" + line + ("" if self.line_open else "\n"))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A warning or an error: always shown (on its own line, also under a redrawn bar)."""
        self.stream.write(("\n" if self.line_open else "") + text + "\n")
        self.stream.flush()
        self.line_open = False

    def finish(self, summary: "BatchSummary") -> None:
        """After the sets: on a rerun, how many earlier results were reused and how many recomputed."""
        if not self.enabled:
            return
        if self.line_open:
            self.stream.write("\n")  # interrupted: end the redrawn line
        line = reuse_text(summary)
        if line:
            self.stream.write(line + "\n")
        self.stream.flush()


def reuse_text(summary: "BatchSummary") -> str:
    """How many earlier results were reused, and recomputed because stale or unreadable ("" when
    the run met none)."""
    reused = sum(1 for o in summary.outcomes if o.status == "skipped")
    stale, unreadable = len(summary.recomputed("stale")), len(summary.recomputed("unreadable"))
    if not reused + stale + unreadable:
        return ""
    return f"earlier results: {reused} reused, {stale} recomputed because stale (workflow, settings or files changed), {unreadable} recomputed because unreadable"


def score_sets(
    sets_dir: str | os.PathLike,
    workflow: str | os.PathLike | Mapping[str, Any],
    output_dir: str | os.PathLike,
    inject: Mapping[tuple[str, int], str] | None = None,
    env=None,
    runner=None,
    progress: bool | None = None,
    stream=None,
    on_start: Callable[[Callable[[], None]], None] | None = None,
    memory_limit: str | int | None = None,
) -> BatchSummary:
    """Run ``workflow`` on every edit set of ``sets_dir``; see the module's docstring.

    Args:
        inject: ``{(node_id, slot): path}`` outputs to take from files, paths relative to each set
            (e.g. the depth estimator's output from ``generations_depth.npy``).
        env, runner: reuse an :class:`Environment` / :class:`Runner` (and their models) across calls.
        progress: progress on ``stream`` (default stderr): True, False, or None for "when it is a
            terminal". Warnings (an unreadable earlier result) are written to it in any case.
        on_start: called before the first set with a ``stop()`` function (thread- and signal-safe,
            e.g. for Ctrl+C): the running set stops before its next node and no other set starts.
        memory_limit: the memory one set may take, in bytes or as ``"16G"``; ``"none"``: no check;
            default ``$EDITLOSS_MEMORY_LIMIT``, else the memory available (see :func:`available_memory`).
    """
    from .convert import ConversionError, load_json  # noqa: PLC0415
    from .execute import Interrupted  # noqa: PLC0415
    from .runtime import Environment, injected_output, load_prompt, run_workflow  # noqa: PLC0415

    budget, budget_origin = memory_budget(memory_limit)
    env = env or Environment.create()
    runner = runner or env.runner()
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        runner.interrupt()

    if on_start is not None:
        on_start(stop)
    sets = find_edit_sets(sets_dir)
    data = dict(workflow) if isinstance(workflow, Mapping) else load_json(workflow)
    source = "<workflow>" if isinstance(workflow, Mapping) else str(workflow)
    try:
        prompt, _ = load_prompt(data, env, source)
    except ConversionError as exc:
        raise BatchError(str(exc)) from None
    for (node_id, slot), path in (inject or {}).items():  # the files are each set's; the nodes are known now
        try:
            injected_output(node_id, slot, path, prompt, env)
        except ValueError as exc:
            raise BatchError(str(exc)) from None
    reports = sorted((k for k, v in prompt.items() if v.get("class_type") == REPORT_NODE), key=natural_key)
    if not reports:
        raise BatchError(f"{source} has no {REPORT_NODE} node: batch scoring collects each set's scores from it")
    output = Path(output_dir)
    (output / "sets").mkdir(parents=True, exist_ok=True)
    summary = BatchSummary()
    bar = _Progress(len(sets), stream, progress)
    outside_progress = runner.progress
    for folder in sets:
        if stopped.is_set():
            summary.interrupted = True
            break
        name = folder.resolve().name  # "." names no set
        result_path = output / "sets" / name / RESULT_FILE
        started = time.perf_counter()
        recomputed = ""
        try:
            variant = _ui_variant(data, folder) if "nodes" in data else data
            set_prompt, _ = load_prompt(variant, env, source)
            files = _set_files(folder, skip=output.resolve())
            key = {"prompt": prompt_hash(set_prompt, inject), "inputs": input_hashes(folder, files, inject)}
            earlier, recomputed = reusable_result(result_path, key, lambda text, name=name: bar.message(f"warning: {text}; set {name!r} is scored again"))
            if earlier is not None:
                summary.results[name] = earlier
                outcome = SetOutcome(name, "skipped")
            else:
                problem = memory_problem(estimate_memory(files, source), budget, budget_origin, source)
                if problem:
                    raise NotEnoughMemory(problem)
                if bar.enabled and bar.tty:
                    runner.progress = lambda node_id, class_type, done, total, name=name: bar.node(name, node_id, class_type, done, total)
                inject_files = {k: str(folder / path) for k, path in (inject or {}).items()}
                result = run_workflow(variant, inject_files, input_dir=folder, output_dir=result_path.parent, runner=runner, env=env)
                report = reports[0]
                table, total = result.output(report, 3), result.output(report, 4)
                record = {"set": name, "folder": str(folder), "workflow": source, **table.to_json(total), "key": key}
                write_atomic(result_path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
                summary.results[name] = record
                outcome = SetOutcome(name, "done", time.perf_counter() - started, recomputed=recomputed)
        except (Interrupted, KeyboardInterrupt):
            summary.interrupted = True
            break
        except Exception as exc:  # noqa: BLE001 - one bad set must not stop the others
            outcome = SetOutcome(name, "failed", time.perf_counter() - started, f"set {name!r} ({folder}): {_first_lines(exc)}", recomputed)
        finally:
            runner.progress = outside_progress
        summary.outcomes.append(outcome)
        bar.update(outcome)
        if outcome.status == "failed" and bar.enabled:
            bar.message(f"error: {outcome.error}")
    bar.finish(summary)
    # from every finished set of this run, computed now or earlier (also after an interrupt)
    summary.files = write_aggregates(output, source, summary.results)
    return summary


def _first_lines(exc: BaseException, count: int = 6) -> str:
    text = str(exc) or type(exc).__name__
    lines = text.splitlines()
    return "\n  ".join(lines[:count]) + (" ..." if len(lines) > count else "")


def finished_results(output_dir: str | os.PathLike) -> dict[str, dict]:
    """Every readable set result under ``output_dir``, in natural order of the set names (whatever
    workflow made them; :func:`score_sets` checks that)."""
    folder = Path(output_dir) / "sets"
    results = {}
    if folder.is_dir():
        for path in sorted(folder.glob(f"*/{RESULT_FILE}"), key=lambda p: natural_key(p.parent.name)):
            data, _ = read_result(path)
            if data is not None:
                results[path.parent.name] = data
    return results


def write_aggregates(output_dir: str | os.PathLike, workflow: str, results: Mapping[str, dict] | None = None) -> list[Path]:
    """scores.csv, scores.json and summary.png (atomic rewrites) from ``results`` (default: every
    readable result in the folder)."""
    output = Path(output_dir)
    results = finished_results(output) if results is None else {k: results[k] for k in sorted(results, key=natural_key)}
    scores_only = {name: {k: v for k, v in result.items() if k != "key"} for name, result in results.items()}  # not the file hashes
    files = [
        write_atomic(output / "scores.csv", _csv_rows(results)),
        write_atomic(output / "scores.json", json.dumps({"workflow": workflow, "sets": scores_only}, indent=2, ensure_ascii=False) + "\n"),
    ]
    table = summary_table(results)
    if table is not None:
        files.append(_write_summary_picture(output / "summary.png", table))
    return files


def _write_summary_picture(path: Path, table) -> Path:
    from PIL import Image  # noqa: PLC0415

    top = table.render_table()
    chart = table.render_chart()
    width = max(top.shape[1], chart.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)), constant_values=250 / 255)  # noqa: E731
    picture = np.concatenate([pad(top), pad(chart)], axis=0)
    temporary = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray((np.clip(picture, 0, 1) * 255).round().astype(np.uint8)).save(temporary)
    os.replace(temporary, path)
    return path


def summary_text(summary: BatchSummary) -> str:
    results = summary.results
    counts = {status: sum(1 for o in summary.outcomes if o.status == status) for status in ("done", "skipped", "failed")}
    lines = [f"{len(results)} set(s) scored ({counts['done']} now, {counts['skipped']} finished before), {counts['failed']} failed"]
    if reuse_text(summary):
        lines.append(reuse_text(summary))
    if summary.interrupted:
        lines.append("interrupted: run the same command again to continue where it stopped")
    table = summary_table(results)
    if table is not None:
        lines += ["", "Per generation name, over the sets:", table.format_text()]
    for outcome in summary.failed:
        lines.append(f"error: {outcome.error}")
    lines += [f"wrote {p}" for p in summary.files]
    return "\n".join(lines)
