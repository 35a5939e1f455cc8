"""Where the library is imported from, and what it may import."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import comfy_editloss

REPO_ROOT = Path(__file__).resolve().parents[1]
PACK_SOURCES = [REPO_ROOT / "__init__.py", *sorted((REPO_ROOT / "nodes").rglob("*.py")), *sorted((REPO_ROOT / "comfy_editloss").rglob("*.py"))]


def test_library_comes_from_this_checkout():
    """`import comfy_editloss` is the library folder of the checkout the tests run from, never the
    pack root (which a checkout folder named comfy_editloss would also be called)."""
    checkout = Path(os.environ.get("EDITLOSS_EXPECTED_CHECKOUT", REPO_ROOT)).resolve()
    assert Path(comfy_editloss.__file__).resolve() == checkout / "comfy_editloss" / "__init__.py"
    from comfy_editloss.losses import loss_no_edit_identity  # the library, not the pack's __init__

    assert callable(loss_no_edit_identity)


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or ""


def test_pack_and_library_import_their_own_code_relatively():
    """ComfyUI imports the pack under its folder's path, so an absolute `comfy_editloss` or `nodes`
    import would reach another copy, or nothing."""
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in PACK_SOURCES
        for level, module in _imports(path)
        if level == 0 and module.split(".")[0] in ("comfy_editloss", "nodes")
    ]
    assert offenders == []


def test_library_never_imports_comfyui():
    comfy_modules = ("comfy", "comfy_extras", "folder_paths", "nodes", "server", "execution", "comfy_api")
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in sorted((REPO_ROOT / "comfy_editloss").rglob("*.py"))
        for level, module in _imports(path)
        if level == 0 and module.split(".")[0] in comfy_modules
    ]
    assert offenders == []
