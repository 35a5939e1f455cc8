"""The pack loads the way ComfyUI loads it, under the folder names users give it, and importing it
does nothing but define nodes: no model loading, no network, no output, no sys.path change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FOLDER_NAMES = ["comfy-editloss", "comfy_editloss", "ComfyUI-EditLoss"]

# Runs in a fresh interpreter: guards first, then the load exactly as ComfyUI's nodes.py does it.
LOADER = textwrap.dedent(
    r"""
    import importlib.abc, importlib.util, io, json, os, socket, sys, tempfile
    module_path, report_path = sys.argv[1], sys.argv[2]

    import torch  # ComfyUI has torch imported long before it loads custom nodes

    events = []
    def refuse_network(*args, **kwargs):
        events.append("network")
        raise OSError("network access while importing the pack")
    socket.socket.connect = refuse_network
    socket.create_connection = refuse_network
    socket.getaddrinfo = refuse_network

    real_torch_load = torch.load
    def spy_load(*args, **kwargs):
        events.append("torch.load")
        return real_torch_load(*args, **kwargs)
    torch.load = spy_load

    class BlockAbsoluteImports(importlib.abc.MetaPathFinder):
        # Inside ComfyUI neither the pack root nor its parent is on sys.path, so an absolute import
        # of the pack's own packages would fail for users even where an installed copy hides it here.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("comfy_editloss", "nodes"):
                events.append("absolute import of " + name)
                raise ImportError("absolute import of " + name)
            return None
    sys.meta_path.insert(0, BlockAbsoluteImports())

    path_before = list(sys.path)
    modules_before = set(sys.modules)
    sys.stdout.flush(); sys.stderr.flush()
    capture = tempfile.TemporaryFile(mode="w+b")
    saved = os.dup(1), os.dup(2)
    os.dup2(capture.fileno(), 1); os.dup2(capture.fileno(), 2)
    error = None
    try:
        sys_module_name = module_path.replace(".", "_x_")
        spec = importlib.util.spec_from_file_location(sys_module_name, os.path.join(module_path, "__init__.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[sys_module_name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(saved[0], 1); os.dup2(saved[1], 2)
    capture.seek(0)
    new_modules = sorted(set(sys.modules) - modules_before)
    report = {
        "error": error,
        "output": capture.read().decode(errors="replace"),
        "events": events,
        "sys_path_unchanged": sys.path == path_before,
        "module_name": sys_module_name,
        "nodes": sorted(getattr(module, "NODE_CLASS_MAPPINGS", {})) if error is None else [],
        "display_names": sorted(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {})) if error is None else [],
        "foreign_modules": [m for m in new_modules if not m.startswith(sys_module_name)],
    }
    with open(report_path, "w") as f:
        json.dump(report, f)
    """
)

HEAVY_MODULES = ("open_clip", "timm", "safetensors", "transformers", "huggingface_hub", "matplotlib", "comfy")


def load_in_fresh_interpreter(module_path: Path, tmp_path: Path) -> dict:
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    proc = subprocess.run(
        [sys.executable, "-c", LOADER, str(module_path), str(report)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(report.read_text())


@pytest.mark.parametrize("parent", ["custom_nodes", "ComfyUI.v0.8/custom_nodes"])
@pytest.mark.parametrize("folder", FOLDER_NAMES)
def test_pack_imports_like_comfyui_and_does_nothing_else(tmp_path, pack, folder, parent):
    pack_dir = tmp_path / parent / folder
    pack_dir.parent.mkdir(parents=True)
    pack_dir.symlink_to(REPO_ROOT, target_is_directory=True)
    report = load_in_fresh_interpreter(pack_dir, tmp_path)
    assert report["error"] is None, report["error"]
    assert report["module_name"] == str(pack_dir).replace(".", "_x_")
    assert report["nodes"] == sorted(pack.NODE_CLASS_MAPPINGS) and len(report["nodes"]) >= 11
    assert report["display_names"] == report["nodes"]
    assert report["output"] == ""
    assert report["events"] == []  # no network, no torch.load, no absolute import of our packages
    assert report["sys_path_unchanged"]
    heavy = [m for m in report["foreign_modules"] if m.split(".")[0] in HEAVY_MODULES]
    assert heavy == []


def _copy_checkout(destination: Path) -> None:
    """The files of this checkout (as git sees them, when it can), without caches."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
        ).stdout.decode().split("\0")
        files = [f for f in listed if f and (REPO_ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = [
            str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.rglob("*")
            if p.is_file() and not {".git", "__pycache__", ".hypothesis", ".pytest_cache"} & set(p.parts)
        ]
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)


@pytest.mark.parametrize("folder", FOLDER_NAMES)
def test_pytest_collects_and_imports_the_library_from_a_checkout_named(tmp_path, folder):
    """`pytest tests` from a checkout of any of these names collects every test module (the root
    __init__.py does not get in the way) and `import comfy_editloss` reaches that checkout's library,
    both with `python -m pytest` (cwd on sys.path) and with the `pytest` script (cwd not on it)."""
    checkout = tmp_path / folder
    _copy_checkout(checkout)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["EDITLOSS_EXPECTED_CHECKOUT"] = str(checkout)
    args = ["tests", "-q", "-p", "no:cacheprovider", "-k", "test_library_comes_from_this_checkout"]
    script_like = "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; import pytest; sys.exit(pytest.main(sys.argv[1:]))"
    for command in ([sys.executable, "-m", "pytest", *args], [sys.executable, "-c", script_like, *args]):
        proc = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "1 passed" in proc.stdout, proc.stdout[-3000:]
