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


def _module_parts(path: Path) -> tuple[list[str], list[str]]:
    """(the module's dotted parts, the package its relative imports start from)."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return parts, parts
    return parts, parts[:-1]


def _imported(path: Path):
    """(the module, the module it imports from as dotted parts of the repository, and the names it
    takes: those of the import, and the private attributes it reads of what it imported)."""
    module, package = _module_parts(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            imported.update({alias.asname or alias.name: target for alias in node.names})
            yield module, target, [alias.name for alias in node.names]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported:
            yield module, imported[node.value.id], [node.attr] if node.attr.startswith("_") else []


# What each part of the library may import: the layers of the architecture, bottom up. A part
# imports only parts below it (a loss never imports the runner; the runner never the command line).
LAYERS = {
    "_checks": set(),
    "types": {"_checks"},
    "io": {"_checks"},
    "edits": {"_checks"},
    "encoders": {"_checks"},
    "losses": {"_checks", "edits"},
    "depth": {"_checks", "encoders"},
    "report": {"_checks", "types", "edits", "losses"},
    "graph": {"_checks", "types", "io", "report"},
    "testing": {"graph"},
    "demo": {"losses"},
    "__main__": {"graph", "demo"},
    "masks": {"edits"},  # re-exports of the README's imports
    "negatives": {"edits"},
}


def test_each_part_of_the_library_imports_only_the_layers_below_it():
    offenders = []
    for path in sorted((REPO_ROOT / "comfy_editloss").rglob("*.py")):
        for module, target, names in _imported(path):
            part = module[1] if len(module) > 1 else None
            if part is None:  # the package's __init__: its version and docstring only
                offenders += [f"{path.relative_to(REPO_ROOT)} imports {target}"]
                continue
            targets = [target[1]] if len(target) > 1 else names  # `from .. import x` imports the part x
            offenders += [
                f"{path.relative_to(REPO_ROOT)} imports comfy_editloss.{t}"
                for t in targets
                if t != part and t not in LAYERS[part]
            ]
    assert set(LAYERS) >= {p.stem if p.is_file() else p.name for p in (REPO_ROOT / "comfy_editloss").iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()} - {"__init__"}
    assert offenders == []


def test_no_module_imports_another_modules_private_names():
    # A private name is the module's own business; what another module needs is made public.
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: from {'.'.join(target)} import {name}"
        for path in PACK_SOURCES
        for module, target, names in _imported(path)
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert offenders == []
