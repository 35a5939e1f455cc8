"""The command line's bad-input sweep: every subcommand of ``python -m comfy_editloss`` gets bad and
edge input (paths that are no workflow, output folders that are files, malformed options, numbers
out of range, a workflow that only partly validates) plus valid controls, each in its own process
with a time limit and a memory cap, and every run is classified with the classes of sweep.py:

* a bad input must end in a *clear error*: a nonzero exit code (the one the case says, when it says
  one), no Python traceback, and one short message that names the argument or file and what is
  wrong. A traceback is an *internal error*, exit 0 an *accepted bad input*, a message that is long
  or names neither an *unclear error*;
* a valid control must exit with its code (0, or 3 for a partly valid workflow) without a traceback
  (a *correct result*), else it is a *refused valid input*;
* a run over the time limit is *over the time limit* (a FIFO read that blocks, /dev/zero read whole).

So that ~80 runs fit in about a minute and a half on two cores, the runs are forked from two
server processes that imported torch and the runner once (``SERVER``): each run is a fresh process
(its own working folder, environment, signal handlers and memory cap) that calls the command line's
``main`` as ``python -m comfy_editloss`` does; a few runs are real ``python -m comfy_editloss``
subprocesses, to cover the entry point itself. At most two runs are under way at a time.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sweep
from sweep import ACCEPTED, CLEAR_ERROR, CORRECT, FAILURES, INTERNAL, REFUSED, SLOW, UNCLEAR

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
SAMPLES = ROOT / "samples"
FLAGSHIP = WORKFLOWS / "kontext_edit_score.json"
DEPTH = WORKFLOWS / "depth_insertion.json"
TIME_LIMIT_S = 60
WORKERS = 2
MEMORY_CAP = 4 * 2**30  # bytes of address space a run may add to what torch's import maps
TRACEBACK = "Traceback (most recent call last)"

RUN_NUMBERS = itertools.count()  # names of the runs' stdout/stderr files


def _pythonpath() -> str:
    """This checkout first, so that the runs import the library under test, not an installed one."""
    return os.pathsep.join([str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])


# A fork server: imports the command line and the runner once, then forks one process per case.
SERVER = r"""
import json, os, resource, signal, sys, time, traceback
import comfy_editloss.__main__ as entry
import comfy_editloss.graph.cli, comfy_editloss.graph.execute, comfy_editloss.graph.runtime, comfy_editloss.graph.batch, comfy_editloss.demo
import PIL.Image, numpy
def vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0
CAP = int(sys.argv[1])
for line in sys.stdin:
    case = json.loads(line)
    pid = os.fork()
    if pid == 0:
        rc = 70
        try:
            os.chdir(case["cwd"])
            os.environ.update(case["env"])
            cap = vm_size() + CAP
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            for fd, name in ((1, "stdout"), (2, "stderr")):
                os.dup2(os.open(case[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            sys.argv = ["comfy_editloss", *case["argv"]]
            try:
                rc = entry.main(case["argv"])
            except SystemExit as exc:  # what the interpreter makes of it
                rc = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
                if not isinstance(exc.code, (int, type(None))):
                    print(exc.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                rc = 1
            sys.stdout.flush(); sys.stderr.flush()
        finally:
            os._exit(rc if isinstance(rc, int) else 1)
    deadline = time.monotonic() + case["timeout"]
    status = None
    while True:
        done, waited = os.waitpid(pid, os.WNOHANG)
        if done:
            status = waited
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.02)
    rc = None if status is None else os.waitstatus_to_exitcode(status)
    print(json.dumps({"rc": rc}), flush=True)
"""


@dataclass
class Case:
    """One run: ``argv`` in ``cwd``; ``expect`` "error" (with the exit code ``rc`` when given, and
    ``names``: texts the message must contain) or "valid" (exit code ``rc``, default 0)."""

    label: str
    argv: list[str]
    expect: str = "error"
    names: tuple[str, ...] = ()
    rc: int | None = None
    stream: str = "stderr"  # where the message is (validate reports problems on stdout)
    max_lines: int | None = 2  # of the message (argparse's usage lines not counted)
    cwd: Path | None = None
    env: dict = field(default_factory=dict)
    real: bool = False  # a real `python -m comfy_editloss` subprocess, not a fork of the server
    check: object = None  # for a valid run: (stdout, stderr) -> None if right, else what is wrong


@dataclass
class Ran:
    rc: int | None
    stdout: str
    stderr: str
    seconds: float


def _message_lines(text: str) -> list[str]:
    """The lines of a message; for argparse's errors, from the ``...: error:`` line on (the usage
    lines before it are argparse's reminder, not the message)."""
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("usage:"):
            rest = [j for j in range(i, len(lines)) if ": error: " in lines[j]]
            if rest:
                return lines[rest[0]:]
    return lines


def classify(case: Case, ran: Ran) -> sweep.Outcome:
    def outcome(kind: str, detail: str = "") -> sweep.Outcome:
        return sweep.Outcome("cli " + (case.argv[0] if case.argv else "(none)"), case.label, kind, detail)

    tail = lambda text: text.strip()[-600:]  # noqa: E731
    if ran.rc is None:
        return outcome(SLOW, f"killed after {TIME_LIMIT_S} s")
    if TRACEBACK in ran.stderr or TRACEBACK in ran.stdout:
        return outcome(INTERNAL, tail(ran.stderr))
    if case.expect == "valid":
        want = 0 if case.rc is None else case.rc
        if ran.rc != want:
            return outcome(REFUSED, f"exit {ran.rc}, not {want}: {tail(ran.stderr)}")
        problem = case.check(ran.stdout, ran.stderr) if case.check else None
        return outcome(REFUSED, problem) if problem else outcome(CORRECT)
    if ran.rc == 0:
        return outcome(ACCEPTED, f"exit 0: {tail(ran.stdout)}")
    if case.rc is not None and ran.rc != case.rc:
        return outcome(UNCLEAR, f"exit {ran.rc}, not {case.rc}: {tail(ran.stderr)}")
    lines = _message_lines(ran.stdout if case.stream == "stdout" else ran.stderr)
    text = "\n".join(lines)
    if not lines:
        return outcome(UNCLEAR, f"exit {ran.rc} and nothing on {case.stream}")
    if case.max_lines is not None and len(lines) > case.max_lines:
        return outcome(UNCLEAR, f"{len(lines)} lines, not at most {case.max_lines}: {text[:600]}")
    missing = [name for name in case.names if name not in text]
    if missing:
        return outcome(UNCLEAR, f"the message does not say {missing}: {text[:600]}")
    return outcome(CLEAR_ERROR)


# ---------------------------------------------------------------------------------------------
# Running the cases
# ---------------------------------------------------------------------------------------------


class Server:
    def __init__(self, env: dict):
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(MEMORY_CAP)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, cwd=ROOT
        )

    def run(self, case: Case, folder: Path, index: int) -> Ran:
        out, err = folder / f"{index}.out", folder / f"{index}.err"
        request = {"argv": case.argv, "cwd": str(case.cwd), "env": case.env, "stdout": str(out), "stderr": str(err), "timeout": TIME_LIMIT_S}
        started = time.perf_counter()
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the sweep's fork server ended")
        rc = json.loads(answer)["rc"]
        read = lambda p: p.read_text(encoding="utf-8", errors="replace") if p.exists() else ""  # noqa: E731
        return Ran(rc, read(out), read(err), time.perf_counter() - started)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _limit_memory() -> None:
    import resource  # noqa: PLC0415

    cap = 3 * 2**30 + MEMORY_CAP + 2 * 2**30  # torch's import maps about 3 GB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_real(case: Case, env: dict) -> Ran:
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "comfy_editloss", *case.argv], cwd=case.cwd, env={**env, **case.env}, capture_output=True,
            text=True, errors="replace", timeout=TIME_LIMIT_S, preexec_fn=_limit_memory, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        return Ran(None, str(exc.stdout or ""), str(exc.stderr or ""), time.perf_counter() - started)
    return Ran(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - started)


def run_cases(cases: list[Case], servers: list[Server], folder: Path, env: dict) -> list[tuple[Case, Ran]]:
    """Every case, at most ``len(servers)`` at a time, in the order given (results in that order)."""
    todo: queue.Queue = queue.Queue()
    for index, case in enumerate(cases):
        todo.put((index, case))
    results: dict[int, tuple[Case, Ran]] = {}

    def work(server: Server) -> None:
        while True:
            try:
                index, case = todo.get_nowait()
            except queue.Empty:
                return
            ran = run_real(case, env) if case.real else server.run(case, folder, next(RUN_NUMBERS))
            results[index] = (case, ran)

    threads = [threading.Thread(target=work, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[i] for i in range(len(cases))]


# ---------------------------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------------------------


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def bad_workflow_paths(here: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Paths that are no workflow file: label -> (path, what the message must say besides the path)."""
    (here / "folder.json").mkdir()
    _fifo(here / "fifo.json")
    os.symlink("loop.json", here / "loop.json")
    (here / "file.json").write_text("{}")
    (here / "blank.json").write_text("")
    (here / "text.json").write_text("a workflow, honestly\n")
    (here / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    os.symlink("/dev/zero", here / "zero.json")
    return {
        "missing": ("missing.json", ("no such file",)),
        "a folder": ("folder.json", ("is a folder",)),
        "a FIFO": ("fifo.json", ("FIFO",)),
        "a symlink loop": ("loop.json", ("symbolic links",)),
        "a path under a file": ("file.json/wf.json", ("Not a directory",)),
        "/proc/self/mem": ("/proc/self/mem", ("cannot read it",)),
        "/dev/zero": ("zero.json", ("character device",)),
        "empty": ("blank.json", ("is empty",)),
        "not JSON": ("text.json", ("not valid JSON",)),
        "JSON nested 200,000 deep": ("deep.json", ("nested too deep",)),
    }


def _edit_set(folder: Path, source: str = "object_replacement") -> Path:
    shutil.copytree(SAMPLES / source, folder)
    return folder


def _out_has(name: str):
    def check(stdout: str, stderr: str) -> str | None:
        return None if name in stdout else f"stdout does not say {name!r}: {stdout[-300:]}"

    return check


def _valid_json(stdout: str, stderr: str) -> str | None:
    try:
        json.loads(stdout)
    except ValueError as exc:
        return f"stdout is not JSON ({exc})"
    return None


def phase_one(here: Path) -> list[Case]:
    cases: list[Case] = []
    paths = bad_workflow_paths(here)
    scene = _edit_set(here / "sets" / "chair")
    depth_set = _edit_set(here / "depth_set", "object_insertion")
    (here / "no_sets").mkdir()
    (here / "a_file").write_text("not a folder\n")
    bad_set = _edit_set(here / "bad_sets" / "broken")
    (bad_set / "after.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    shutil.copy(FLAGSHIP, here / "flagship.json")
    os.symlink("new_prompt.json", here / "link_to_new.json")
    shutil.copy(FLAGSHIP, scene / "wf.json")
    (here / "linked").mkdir()
    os.symlink(scene / "wf.json", here / "linked" / "wf.json")

    for label, (path, says) in paths.items():
        shown = path if path.startswith("/") else path
        cases.append(Case(f"convert: workflow {label}", ["convert", path], names=(shown, *says), rc=2))
        cases.append(Case(f"run: workflow {label}", ["run", path, "--quiet"], names=(shown, *says), rc=2))
        cases.append(Case(f"validate: workflow {label}", ["validate", path], names=(shown, *says), rc=2, stream="stdout"))
        says_score = ("workflow not found",) if label == "missing" else says
        cases.append(Case(f"score: --workflow {label}", ["score", str(scene), "--workflow", path, "--quiet", "-o", "out_wf"], names=(shown, *says_score), rc=2))

    cases += [
        # outputs
        Case("convert -o a folder", ["convert", "flagship.json", "-o", "folder.json"], names=("folder.json", "--output", "is a folder"), rc=2),
        Case("convert -o a path under a file", ["convert", "flagship.json", "-o", "file.json/prompt.json"], names=("file.json", "--output", "not a folder"), rc=2),
        Case("convert -o a FIFO", ["convert", "flagship.json", "-o", "fifo.json"], names=("fifo.json", "--output", "FIFO"), rc=2),
        Case("convert -o /dev/zero", ["convert", "flagship.json", "-o", "zero.json"], names=("zero.json", "--output", "character device"), rc=2),
        Case("run --output-dir a FIFO", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--output-dir", "fifo.json", "--quiet"],
             names=("fifo.json", "--output-dir", "FIFO", "not a folder"), rc=2),
        Case("run --output-dir a file", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--output-dir", "a_file", "--quiet"],
             names=("a_file", "--output-dir", "not a folder"), rc=2),
        Case("run --output-dir under a file", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--output-dir", "a_file/out", "--quiet"],
             names=("a_file", "--output-dir", "not a folder"), rc=2),
        Case("score --output-dir a file", ["score", str(scene), "--output-dir", "a_file", "--quiet"], names=("a_file", "--output-dir", "not a folder"), rc=2),
        Case("score -o under a file", ["score", str(scene), "-o", "a_file/out", "--quiet"], names=("a_file", "--output-dir", "not a folder"), rc=2),
        Case("run --output-dir under a symlink loop", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--output-dir", "loop.json/out", "--quiet"],
             names=("loop.json", "--output-dir", "symlink loop"), rc=2),
        Case("convert -o under a symlink loop", ["convert", "flagship.json", "-o", "loop.json/prompt.json"], names=("loop.json", "--output", "symlink loop"), rc=2),
        # input folders
        Case("validate --input-dir a file", ["validate", str(FLAGSHIP), "--input-dir", "a_file"], names=("a_file", "--input-dir", "not a folder"), rc=2),
        Case("validate --input-dir missing", ["validate", str(FLAGSHIP), "--input-dir", "nowhere"], names=("nowhere", "--input-dir", "no such folder"), rc=2),
        Case("run --input-dir a file", ["run", str(FLAGSHIP), "--input-dir", "a_file", "--quiet"], names=("a_file", "--input-dir", "not a folder"), rc=2),
        Case("run --input-dir missing", ["run", str(FLAGSHIP), "--input-dir", "nowhere", "--quiet"], names=("nowhere", "--input-dir", "no such folder"), rc=2),
        # --inject
        Case("run --inject without =", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--inject", "5:0", "--quiet"], names=("--inject", "NODE:SLOT=FILE", "'5:0'"), rc=2),
        Case("run --inject without a node", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--inject", "=before.png", "--quiet"], names=("--inject", "'=before.png'"), rc=2),
        Case("run --inject without a file", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--inject", "5:0=", "--quiet"], names=("--inject", "'5:0='"), rc=2),
        Case("run --inject a negative slot", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--inject", "2:-1=a_file", "--quiet"], names=("--inject", "'2:-1=a_file'"), rc=2),
        Case("run --inject a node not in the workflow", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--inject", "999:0=a_file", "--quiet"],
             names=("a_file", "node 999"), rc=2),
        Case("run --inject a slot too large", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--inject", "2:9=a_file", "--quiet"], names=("a_file", "not an output 9"), rc=2),
        Case("run --inject a missing file", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--inject", "2:0=nope.png", "--quiet"], names=("nope.png",), rc=2),
        Case("score --inject without =", ["score", str(scene), "--inject", "12", "--quiet", "-o", "out_inj"], names=("--inject", "NODE:SLOT=FILE", "'12'"), rc=2),
        Case("run --target a node not in the workflow", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--target", "999", "--quiet"], names=("999", "--target"), rc=2),
        Case("validate --models-dir missing", ["validate", str(FLAGSHIP), "--input-dir", str(scene), "--models-dir", "nowhere"],
             names=("nowhere", "--models-dir", "no such folder"), rc=2),
        Case("score --models-dir a file", ["score", str(scene), "--models-dir", "a_file", "--quiet", "-o", "out_models"],
             names=("a_file", "--models-dir", "not a folder"), rc=2),
        Case("validate --pack missing", ["validate", str(FLAGSHIP), "--pack", "nowhere"], names=("nowhere",), rc=2),
        Case("convert --pack a file", ["convert", str(FLAGSHIP), "--pack", "a_file"], names=("a_file",), rc=2),
        Case("convert --pack a folder that is no pack", ["convert", str(FLAGSHIP), "--pack", "no_sets"], names=("no_sets",), rc=2),
        Case("validate: one good, one missing workflow", ["validate", str(FLAGSHIP), "missing.json", "--input-dir", str(scene)],
             names=("missing.json", "no such file"), rc=2, stream="stdout", max_lines=3),
        # edit sets
        Case("score: no edit sets", ["score", "no_sets", "--quiet", "-o", "out_none"], names=("no_sets", "no edit sets"), rc=2),
        Case("score: SETS missing", ["score", "nowhere", "--quiet", "-o", "out_none"], names=("nowhere", "not found"), rc=2),
        Case("score: SETS a file", ["score", "a_file", "--quiet", "-o", "out_none"], names=("a_file", "not a folder"), rc=2),
        Case("score: an unreadable image", ["score", str(here / "bad_sets"), "--quiet", "-o", "out_bad"], names=("'broken'", "after.png"), rc=1,
             stream="stdout", max_lines=None),
        # numbers
        Case("demo --seed 2**70", ["demo", "--seed", str(2**70)], names=("--seed",), rc=2),
        Case("demo --seed -2**63-1", ["demo", "--seed", str(-(2**63) - 1)], names=("--seed",), rc=2),
        Case("demo --seed 1.5", ["demo", "--seed", "1.5"], names=("--seed", "1.5"), rc=2),
        Case("demo --dim 0", ["demo", "--dim", "0"], names=("--dim",), rc=2),
        Case("demo --dim -3", ["demo", "--dim", "-3"], names=("--dim",), rc=2),
        Case("demo --dim 2.5", ["demo", "--dim", "2.5"], names=("--dim", "2.5"), rc=2),
        Case("demo --dim 10**12", ["demo", "--dim", str(10**12)], names=("--dim",), rc=2),
        Case("score --memory-limit -1", ["score", str(scene), "--memory-limit", "-1", "--quiet", "-o", "out_mem"], names=("--memory-limit", "'-1'"), rc=2),
        Case("score --memory-limit 0", ["score", str(scene), "--memory-limit", "0", "--quiet", "-o", "out_mem"], names=("--memory-limit", "'0'"), rc=2),
        Case("score --memory-limit 1.5x", ["score", str(scene), "--memory-limit", "1.5x", "--quiet", "-o", "out_mem"], names=("--memory-limit", "'1.5x'"), rc=2),
        Case("score --memory-limit 1", ["score", str(scene), "--memory-limit", "1", "--quiet", "-o", "out_mem1"], names=("'chair'", "memory"), rc=1,
             stream="stdout", max_lines=None),
        # usage
        Case("no command", [], names=("COMMAND",), rc=2, real=True),
        Case("an unknown command", ["frobnicate"], names=("frobnicate",), rc=2, real=True),
        Case("run: an unknown option", ["run", str(FLAGSHIP), "--bogus"], names=("--bogus",), rc=2, real=True),
        Case("validate: no workflow", ["validate"], names=("WORKFLOW",), rc=2),
        Case("demo: an unknown option", ["demo", "--dimension", "3"], names=("--dimension",), rc=2),
        Case("score: --progress and --quiet", ["score", str(scene), "--progress", "--quiet"], names=("--quiet", "--progress"), rc=2),
        # partly valid: outputs skipped
        Case("validate: a partly valid workflow", ["validate", str(DEPTH), "--input-dir", str(depth_set)], names=("would run output(s)", "ignore"), rc=3,
             stream="stdout", max_lines=None),
        Case("run: a partly valid workflow", ["run", str(DEPTH), "--input-dir", str(depth_set), "--output-dir", "out_partial", "--quiet"],
             names=("skipped output",), rc=3, max_lines=None),
        Case("score --inject a node not in the workflow", ["score", str(scene), "--inject", "99:0=x.png", "-o", "out_inject99", "--quiet"],
             names=("x.png", "node 99", "not in the workflow"), rc=2),
        Case("score: SETS a FIFO", ["score", "fifo.json", "-o", "out_fifo_sets", "--quiet"], names=("fifo.json", "FIFO", "not a folder"), rc=2),
        Case("score: SETS a symlink loop", ["score", "loop.json", "-o", "out_loop_sets", "--quiet"], names=("loop.json", "symlink loop", "not a folder"), rc=2),
        Case("validate: a workflow under a symlink loop, then a valid one", ["validate", "loop.json/wf.json", "linked/wf.json"],
             names=("loop.json/wf.json", "symbolic links", "linked/wf.json: valid"), rc=2, stream="stdout", max_lines=None),
        # valid controls
        Case("help", ["--help"], "valid", real=True, check=_out_has("COMMAND")),
        Case("run: the flagship on the sample", ["run", str(FLAGSHIP), "--input-dir", str(scene), "--output-dir", "out_run", "--quiet"], "valid",
             real=True, check=_out_has("ran ")),
        Case("convert: the flagship", ["convert", str(FLAGSHIP)], "valid", check=_valid_json),
        Case("convert -o a new file", ["convert", "flagship.json", "-o", "prompt.json"], "valid"),
        Case("convert -o a link to a file yet to be written", ["convert", "flagship.json", "-o", "link_to_new.json"], "valid"),
        Case("validate: a workflow through a symlink reads the files beside the real one", ["validate", "linked/wf.json"], "valid", check=_out_has("valid")),
        Case("validate: the flagship with its sample", ["validate", str(FLAGSHIP), "--input-dir", str(scene)], "valid", check=_out_has("valid")),
        Case("validate: the converted prompt", ["validate", "prompt.json", "--input-dir", str(scene)], "valid", check=_out_has("valid")),
        Case("score: one edit set", ["score", str(scene), "-o", "out_score", "--quiet", "--memory-limit", "none"], "valid", check=_out_has("1 set(s) scored")),
        Case("demo --seed 2**64-1", ["demo", "--seed", str(2**64 - 1), "--dim", "8"], "valid", check=_out_has("correct edit")),
        Case("demo --seed -1", ["demo", "--seed", "-1", "--dim", "8"], "valid", check=_out_has("correct edit")),
        Case("demo --json", ["demo", "--dim", "1", "--json"], "valid", check=_valid_json),
    ]
    for case in cases:
        case.cwd = case.cwd or here
    return cases


def _resumed(here: Path, name: str, edit) -> Path:
    """A copy of the scored output folder whose set result is changed by ``edit`` (result -> text)."""
    out = here / f"resumed_{name}"
    shutil.copytree(here / "out_score", out)
    result = out / "sets" / "chair" / "result.json"
    result.write_text(edit(json.loads(result.read_text())))
    return out


def phase_two(here: Path) -> list[Case]:
    """Reruns of the scored folder whose result.json is broken: recomputed with a warning, never a crash."""
    scene = here / "sets" / "chair"

    def with_(**changes):
        return lambda result: json.dumps({**result, **changes})

    broken = {
        "[]": lambda result: "[]",
        "a list of lists as ranking": with_(ranking=[["correct"]]),
        "a score whose values are text": lambda r: json.dumps({**r, "scores": {k: {**v, "values": ["x"] * len(v["values"])} for k, v in r["scores"].items()}}),
        "generations that are not names": with_(generations=[1, 2, 3, 4]),
        "no key": lambda r: json.dumps({k: v for k, v in r.items() if k != "key"}),
    }
    cases = []
    for label, edit in broken.items():
        out = _resumed(here, label.replace(" ", "_").replace("[]", "list"), edit)
        warned = label != "no key"

        def check(stdout, stderr, warned=warned):
            if "1 set(s) scored (1 now, 0 finished before), 0 failed" not in stdout:
                return f"the set was not scored again: {stdout[:300]}"
            if warned and "warning: " not in stderr:
                return f"no warning on stderr: {stderr[-300:]}"
            return None

        cases.append(Case(f"score: resumed, result.json {label}", ["score", str(scene), "-o", str(out), "--quiet"], "valid", cwd=here, check=check))
    return cases


def test_every_command_gives_bad_input_a_clear_error_and_runs_the_controls(tmp_path):
    env = {**os.environ, "PYTHONPATH": _pythonpath(), "HF_HUB_OFFLINE": "1"}
    env.pop("EDITLOSS_MODELS_DIR", None)
    env.pop("EDITLOSS_MEMORY_LIMIT", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    here = tmp_path / "cases"
    here.mkdir()
    servers = [Server(env) for _ in range(WORKERS)]
    started = time.perf_counter()
    try:
        ran = run_cases(phase_one(here), servers, logs, env)
        ran += run_cases(phase_two(here), servers, logs, env)
    finally:
        for server in servers:
            server.close()
    seconds = time.perf_counter() - started
    outcomes = [(classify(case, result), result) for case, result in ran]
    for outcome, result in outcomes:
        sweep.CLI_COUNTS[outcome.kind] += 1
        message = (result.stderr.strip() or result.stdout.strip()).splitlines()
        print(f"{outcome.kind:<20} exit {result.rc} {result.seconds:5.1f} s  {outcome.variant}: {message[-1][:200] if message else ''}")
    failing = [o for o, _ in outcomes if o.kind in FAILURES]
    slowest = max(outcomes, key=lambda pair: pair[1].seconds)
    print(f"\n{len(outcomes)} command-line runs in {seconds:.1f} s (slowest: {slowest[0].variant}, {slowest[1].seconds:.1f} s)")
    assert not failing, f"{len(failing)} of {len(outcomes)} runs failed:\n" + "\n".join(str(o) for o in failing)
