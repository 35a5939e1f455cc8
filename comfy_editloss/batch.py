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
      sets/<set>/result.json       the set's scores, written last and atomically: a set with it is
                                   finished and is never run or written again (resume = run again)
      sets/<set>/...               the set's report files and previews
      scores.csv, scores.json      every finished set's scores, rewritten atomically at the end of a run
      summary.png                  the mean of each score per generation name over the sets, and how
                                   often each generation ranked first (a table and bar charts)

A set that fails (an unreadable image, a missing file) is reported by name with the file and the
run goes on; it is not marked finished, so the next run tries it again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .image_io import natural_key
from .report.files import write_atomic

RESULT_FILE = "result.json"
REPORT_NODE = "EditLossReport"
FILE_LOADERS = {"LoadImage": "image", "LoadImageMask": "image", "EditLossLoadDepth": "file"}
MODE_MUTED = 2


class BatchError(ValueError):
    """A problem with the whole batch (no sets, a workflow without a report); the message says what."""


@dataclass
class SetOutcome:
    name: str
    status: str  # "done", "skipped" (finished before), "failed"
    seconds: float = 0.0
    error: str = ""


@dataclass
class BatchSummary:
    outcomes: list[SetOutcome] = field(default_factory=list)
    interrupted: bool = False
    files: list[Path] = field(default_factory=list)
    text: str = ""

    @property
    def failed(self) -> list[SetOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def find_edit_sets(root: str | os.PathLike) -> list[Path]:
    """The edit sets under ``root`` (folders with a ``generations/`` folder), in natural order;
    ``root`` itself when it is one."""
    root = Path(root)
    if not root.is_dir():
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

    from .report.table import ScoreTable  # noqa: PLC0415
    from .types import Scores  # noqa: PLC0415

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
    """One line per set on a pipe, a redrawn line on a terminal: done/total, rate, time left."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.stream, self.enabled = total, stream or sys.stderr, enabled
        self.start = time.perf_counter()
        self.done = 0
        self.ran = 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, outcome: SetOutcome) -> None:
        self.done += 1
        if outcome.status != "skipped":
            self.ran += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = elapsed / self.ran if self.ran else 0.0
        left = rate * (self.total - self.done)
        width = 24
        filled = int(width * self.done / max(1, self.total))
        bar = "#" * filled + "-" * (width - filled)
        note = {"done": f"{outcome.seconds:.2f} s", "skipped": "finished before", "failed": "FAILED"}[outcome.status]
        line = f"[{bar}] {self.done}/{self.total} {outcome.name}: {note}" + (f" | {rate:.2f} s/set, {left:.0f} s left" if self.ran else "")
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if self.done == self.total or outcome.status == "failed" else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def score_sets(
    sets_dir: str | os.PathLike,
    workflow: str | os.PathLike | Mapping[str, Any],
    output_dir: str | os.PathLike,
    inject: Mapping[tuple[str, int], str] | None = None,
    env=None,
    runner=None,
    progress: bool = True,
    stream=None,
    on_start: Callable[[Callable[[], None]], None] | None = None,
) -> BatchSummary:
    """Run ``workflow`` on every edit set of ``sets_dir``; see the module's docstring.

    Args:
        inject: ``{(node_id, slot): path}`` outputs to take from files, paths relative to each set
            (e.g. the depth estimator's output from ``generations_depth.npy``).
        env, runner: reuse an :class:`Environment` / :class:`Runner` (and their models) across calls.
        on_start: called before the first set with a ``stop()`` function (thread- and signal-safe,
            e.g. for Ctrl+C): the running set stops before its next node and no other set starts.
    """
    from .graph.convert import ConversionError, load_json  # noqa: PLC0415
    from .graph.execute import Interrupted  # noqa: PLC0415
    from .graph.runtime import Environment, load_prompt, run_workflow  # noqa: PLC0415

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
    reports = sorted((k for k, v in prompt.items() if v.get("class_type") == REPORT_NODE), key=natural_key)
    if not reports:
        raise BatchError(f"{source} has no {REPORT_NODE} node: batch scoring collects each set's scores from it")
    output = Path(output_dir)
    (output / "sets").mkdir(parents=True, exist_ok=True)
    summary = BatchSummary()
    bar = _Progress(len(sets), stream, progress)
    for folder in sets:
        if stopped.is_set():
            summary.interrupted = True
            break
        name = folder.name
        result_path = output / "sets" / name / RESULT_FILE
        if result_path.is_file():
            outcome = SetOutcome(name, "skipped")
        else:
            started = time.perf_counter()
            try:
                variant = _ui_variant(data, folder) if "nodes" in data else data
                files = {key: str(folder / path) for key, path in (inject or {}).items()}
                result = run_workflow(variant, files, input_dir=folder, output_dir=result_path.parent, runner=runner, env=env)
                report = reports[0]
                table, total = result.output(report, 3), result.output(report, 4)
                record = {"set": name, "folder": str(folder), "workflow": source, **table.to_json(total)}
                write_atomic(result_path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
                outcome = SetOutcome(name, "done", time.perf_counter() - started)
            except (Interrupted, KeyboardInterrupt):
                summary.interrupted = True
                break
            except Exception as exc:  # noqa: BLE001 - one bad set must not stop the others
                outcome = SetOutcome(name, "failed", time.perf_counter() - started, f"set {name!r} ({folder}): {_first_lines(exc)}")
        summary.outcomes.append(outcome)
        bar.update(outcome)
        if outcome.status == "failed" and progress:
            (stream or sys.stderr).write(f"error: {outcome.error}\n")
    # from every finished set, this run's and earlier runs' (also after an interrupt)
    summary.files = write_aggregates(output, source)
    return summary


def _first_lines(exc: BaseException, count: int = 6) -> str:
    text = str(exc) or type(exc).__name__
    lines = text.splitlines()
    return "\n  ".join(lines[:count]) + (" ..." if len(lines) > count else "")


def finished_results(output_dir: str | os.PathLike) -> dict[str, dict]:
    """Every finished set's result under ``output_dir``, in natural order of the set names."""
    folder = Path(output_dir) / "sets"
    results = {}
    if folder.is_dir():
        for path in sorted(folder.glob(f"*/{RESULT_FILE}"), key=lambda p: natural_key(p.parent.name)):
            results[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return results


def write_aggregates(output_dir: str | os.PathLike, workflow: str) -> list[Path]:
    """scores.csv, scores.json and summary.png from every finished set (atomic rewrites)."""
    output = Path(output_dir)
    results = finished_results(output)
    files = [
        write_atomic(output / "scores.csv", _csv_rows(results)),
        write_atomic(output / "scores.json", json.dumps({"workflow": workflow, "sets": results}, indent=2, ensure_ascii=False) + "\n"),
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


def summary_text(summary: BatchSummary, output_dir: str | os.PathLike) -> str:
    results = finished_results(output_dir)
    counts = {status: sum(1 for o in summary.outcomes if o.status == status) for status in ("done", "skipped", "failed")}
    lines = [f"{len(results)} set(s) scored ({counts['done']} now, {counts['skipped']} finished before), {counts['failed']} failed"]
    if summary.interrupted:
        lines.append("interrupted: run the same command again to continue where it stopped")
    table = summary_table(results)
    if table is not None:
        lines += ["", "Per generation name, over the sets:", table.format_text()]
    for outcome in summary.failed:
        lines.append(f"error: {outcome.error}")
    lines += [f"wrote {p}" for p in summary.files]
    return "\n".join(lines)
