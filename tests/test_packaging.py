"""Packaging: requirements, pyproject, the README's commands and node table, CI."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the library itself supports 3.10

REPO_ROOT = Path(__file__).resolve().parents[1]
README = (REPO_ROOT / "README.md").read_text()


def _requirement_names(lines):
    return sorted(re.split(r"[ <>=!~;\[]", line.strip(), maxsplit=1)[0].lower() for line in lines)


def _pyproject():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_requirements_txt_equals_pyproject_dependencies():
    lines = [l.split("#")[0].strip() for l in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    requirements = sorted(l for l in lines if l)
    assert requirements == sorted(_pyproject()["project"]["dependencies"])


def test_torch_is_only_in_the_test_extra():
    project = _pyproject()["project"]
    assert not {"torch", "torchvision"} & set(_requirement_names(project["dependencies"]))
    assert {"torch", "torchvision", "pytest", "hypothesis"} <= set(_requirement_names(project["optional-dependencies"]["test"]))


def test_comfy_registry_table():
    comfy = _pyproject()["tool"]["comfy"]
    assert set(comfy) >= {"PublisherId", "DisplayName", "Icon"}
    assert comfy["DisplayName"]
    name = _pyproject()["project"]["name"]
    assert re.fullmatch(r"[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*", name) and "comfyui" not in name.lower()


def _code_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_shows_the_two_commands_and_ci_runs_the_test_command():
    commands = [line for block in _code_blocks(README) for line in block.splitlines()]
    main_job = (
        "python3 -m pip install torch==2.14.1 torchvision==0.29.1 -e . && "
        "python3 -m comfy_editloss run workflows/kontext_edit_score.json --input-dir samples/object_replacement"
    )
    tests = 'python3 -m pip install torch==2.14.1 torchvision==0.29.1 -e ".[test]" && python3 -m pytest tests'
    assert main_job in commands and tests in commands
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    install, run = tests.split(" && ")
    assert f"\n{install}\n{run}\n" in ci


def test_readme_node_table_lists_every_node(pack):
    rows = dict(re.findall(r"^\| `(EditLoss\w+)` \| ([^|]+?) \|", README, flags=re.M))
    assert rows == pack.NODE_DISPLAY_NAME_MAPPINGS


def test_readme_demo_output_is_what_the_demo_prints():
    from comfy_editloss.demo import format_table, make_scene, score_scene

    table = format_table(score_scene(make_scene(seed=0)))
    assert table in README


def test_readme_main_job_prints_the_table_shown_with_the_correct_result_first(tmp_path):
    """The main-job command (after its install step), run from another folder with the checkout's
    paths made absolute so that its output/ lands in tmp_path: stdout holds the README's table."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    command = next(line for block in _code_blocks(README) for line in block.splitlines() if "comfy_editloss run workflows/kontext_edit_score.json" in line)
    arguments = command.split(" && ")[1].split()[3:]  # after "python3 -m comfy_editloss"
    arguments = [str(REPO_ROOT / a) if a.startswith(("workflows/", "samples/")) else a for a in arguments]
    import os  # noqa: PLC0415

    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}  # as `pip install -e .` would
    proc = subprocess.run([sys.executable, "-m", "comfy_editloss", *arguments], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = re.search(r"```text\n(rank generation +no_edit_identity.*?)```", README, flags=re.S).group(1)
    printed = [line.strip() for line in proc.stdout.splitlines()]
    for line in shown.splitlines():
        assert line.strip() in printed, line
    first = next(i for i, line in enumerate(printed) if line.startswith("rank generation"))
    assert printed[first + 1].split()[:2] == ["1", "correct"]
    assert (tmp_path / "output" / "editloss" / "scores_00001_.json").is_file()


def test_the_readmes_install_comments_name_every_requirement():
    names = _requirement_names([l for l in (REPO_ROOT / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")])
    installs = [line for block in _code_blocks(README) for line in block.splitlines() if line.startswith("pip install") and "#" in line]
    assert len(installs) >= 2
    for line in installs:
        comment = line.split("#", 1)[1].lower()
        assert all(name in comment for name in names), (line, names)


def test_the_readmes_validate_examples_pass_on_the_shipped_files():
    examples = [line.split("#")[0].strip() for block in _code_blocks(README) for line in block.splitlines()
                if line.startswith("python3 -m comfy_editloss validate")]
    assert examples
    for example in examples:
        args = shlex.split(example)[1:]
        proc = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (example, proc.stdout[-2000:], proc.stderr[-2000:])


DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "benchmarks" / "README.md"]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _headings(text: str) -> set[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {_anchor(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_documents_links_reach_a_file_and_heading(document):
    text = document.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(target)
        elif anchor and (file.suffix != ".md" or anchor not in _headings(file.read_text())):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_documents_imports_name_what_the_library_has(document):
    import importlib  # noqa: PLC0415

    missing = []
    for block in re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.S):
        for module, names in re.findall(r"^\s*from (comfy_editloss[\w.]*) import ([\w, ]+)$", block, flags=re.M):
            imported = importlib.import_module(module)
            missing += [f"{module}.{n.strip()}" for n in names.split(",") if not hasattr(imported, n.strip())]
    assert missing == []
