"""Load a ComfyUI node pack the way ComfyUI does, and lint its node classes.

ComfyUI (``nodes.py``, ``load_custom_node``) imports a pack folder as a package named after the
folder's full path with ``.`` replaced by ``_x_``, from its ``__init__.py`` by file location,
registered in ``sys.modules`` before it runs, without touching ``sys.path``; the pack exports
``NODE_CLASS_MAPPINGS`` (and optionally ``NODE_DISPLAY_NAME_MAPPINGS``).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Mapping

from .catalogue import Catalogue


class PackLoadError(ImportError, ValueError):
    """A pack that ComfyUI could not load either (an ImportError, and a ValueError: a bad ``packs``
    argument, naming the folder)."""


@dataclass
class NodePack:
    """A loaded node pack."""

    path: Path
    module: ModuleType
    classes: dict[str, type]
    display_names: dict[str, str] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        return self.module.__name__


def pack_module_name(path: str | os.PathLike) -> str:
    """The ``sys.modules`` name ComfyUI gives a pack folder."""
    return str(path).replace(".", "_x_")


def load_pack(path: str | os.PathLike) -> NodePack:
    """Import a pack folder as ComfyUI does and collect its node classes.

    Loading the same folder twice returns the already imported module, as ComfyUI would keep it.
    """
    folder = Path(path)
    init = folder / "__init__.py"
    if not folder.is_dir():
        raise PackLoadError(f"{folder}: not a node pack: " + ("a file, not a folder" if folder.exists() else "no such folder"))
    if not init.is_file():
        raise PackLoadError(f"{folder}: not a node pack: it has no __init__.py")
    name = pack_module_name(os.fspath(folder))
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, os.fspath(init))
        if spec is None or spec.loader is None:
            raise PackLoadError(f"{folder}: cannot import {init}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            del sys.modules[name]
            raise PackLoadError(f"{folder}: importing the pack failed: {type(exc).__name__}: {exc}") from exc
    classes = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if not isinstance(classes, Mapping):
        raise PackLoadError(f"{folder}: the pack does not export NODE_CLASS_MAPPINGS (a dict of node id -> class)")
    display = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}
    return NodePack(folder, module, dict(classes), dict(display))


def this_pack_path() -> Path:
    """The pack folder that contains this library, when the library is used from a checkout."""
    return Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# Lint
# ---------------------------------------------------------------------------------------------

OUTPUT_ATTRIBUTES = ("RETURN_NAMES", "OUTPUT_IS_LIST", "OUTPUT_TOOLTIPS")


@dataclass(frozen=True)
class LintProblem:
    node_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.node_id}: {self.message}"


def lint_class(node_id: str, node_class: type, prefix: str | None = None, core: Catalogue | None = None) -> list[LintProblem]:
    """Everything ComfyUI (or a user of the node) would trip over in one node class."""
    problems: list[str] = []
    if prefix and not node_id.startswith(prefix):
        problems.append(f"node id does not start with the pack's prefix {prefix!r}")
    if core is not None and node_id in core:
        problems.append("node id clashes with a core ComfyUI node of the same name")
    try:
        declared = node_class.INPUT_TYPES()
    except Exception as exc:  # noqa: BLE001 - any failure here is the finding
        return [LintProblem(node_id, f"INPUT_TYPES() raised {type(exc).__name__}: {exc}")]
    if not isinstance(declared, Mapping) or "required" not in declared:
        problems.append("INPUT_TYPES() must return a dict with a 'required' section")
        declared = declared if isinstance(declared, Mapping) else {}
    unknown = set(declared) - {"required", "optional", "hidden"}
    if unknown:
        problems.append(f"INPUT_TYPES() has unknown sections {sorted(unknown)}")
    seen: dict[str, str] = {}
    for section in ("required", "optional", "hidden"):
        for name, value in (declared.get(section) or {}).items():
            if name in seen:
                problems.append(f"input {name!r} is declared twice ({seen[name]} and {section})")
            seen[name] = section
            if section != "hidden":
                options = value[1] if isinstance(value, (list, tuple)) and len(value) > 1 and isinstance(value[1], Mapping) else {}
                if not options.get("tooltip"):
                    problems.append(f"input {name!r} has no tooltip")
    return_types = getattr(node_class, "RETURN_TYPES", None)
    if not isinstance(return_types, tuple):
        problems.append("RETURN_TYPES must be a tuple")
        return_types = ()
    for attribute in OUTPUT_ATTRIBUTES:
        value = getattr(node_class, attribute, None)
        if value is not None and len(value) != len(return_types):
            problems.append(f"{attribute} has {len(value)} entries but RETURN_TYPES has {len(return_types)}")
    if return_types and getattr(node_class, "OUTPUT_TOOLTIPS", None) is None:
        problems.append("OUTPUT_TOOLTIPS is missing")
    if not str(getattr(node_class, "DESCRIPTION", "") or "").strip():
        problems.append("DESCRIPTION is missing")
    if not getattr(node_class, "CATEGORY", None):
        problems.append("CATEGORY is missing")
    function_name = getattr(node_class, "FUNCTION", None)
    function = getattr(node_class, function_name, None) if isinstance(function_name, str) else None
    if function is None:
        problems.append(f"FUNCTION {function_name!r} is not a method of the class")
    else:
        problems += _signature_problems(function_name, function, declared)
    return [LintProblem(node_id, message) for message in problems]


def _signature_problems(function_name: str, function, declared: Mapping) -> list[str]:
    problems = []
    params = inspect.signature(function).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for section in ("required", "optional", "hidden"):
        for name in declared.get(section) or {}:
            if name not in params:
                if not takes_kwargs:
                    problems.append(f"{function_name}() does not accept input {name!r}")
            elif section in ("optional", "hidden") and params[name].default is inspect.Parameter.empty:
                problems.append(f"{function_name}() needs a default for {section} input {name!r} (it may not be given)")
    return problems


def lint_pack(pack: NodePack | Mapping[str, type], prefix: str | None = None, core: Catalogue | None = None) -> list[LintProblem]:
    classes = pack.classes if isinstance(pack, NodePack) else pack
    problems: list[LintProblem] = []
    for node_id, node_class in classes.items():
        problems += lint_class(node_id, node_class, prefix, core)
    if isinstance(pack, NodePack):
        for node_id in set(pack.display_names) - set(classes):
            problems.append(LintProblem(node_id, "has a display name but no class"))
    return problems
