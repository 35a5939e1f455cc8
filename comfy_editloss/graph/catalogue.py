"""Node interfaces: what inputs, widgets and outputs a node type has.

A :class:`NodeSpec` is read either from a node class (``INPUT_TYPES``, ``RETURN_TYPES``...) or from an
entry of ComfyUI's ``GET /object_info`` catalogue. The :class:`Catalogue` holds the specs of every
node type a graph may use: ComfyUI's core nodes (the bundled ``data/object_info.json`` of ComfyUI
0.8.0, see ``data/VERSION.txt``), plus node packs loaded on top.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterable, Mapping

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
SECTIONS = ("required", "optional", "hidden")


@dataclass(frozen=True)
class InputSpec:
    """One declared input. ``type`` is ``"COMBO"`` for choice lists, whose options are ``choices``."""

    name: str
    type: str
    options: Mapping[str, Any]
    section: str
    choices: tuple | None = None

    @property
    def is_widget(self) -> bool:
        """Whether ComfyUI's frontend draws a widget for it (a value saved in ``widgets_values``)."""
        return self.section != "hidden" and self.type in WIDGET_TYPES and not self.options.get("forceInput", False)

    @property
    def default(self) -> Any:
        if "default" in self.options:
            return self.options["default"]
        if self.type == "COMBO":
            return self.choices[0] if self.choices else None
        return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(self.type)


@dataclass(frozen=True)
class OutputSpec:
    type: str
    name: str
    is_list: bool = False


@dataclass(frozen=True)
class NodeSpec:
    """The interface of one node type."""

    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    output_node: bool = False
    display_name: str | None = None
    category: str = ""
    description: str = ""
    source: str = "object_info"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    @property
    def visible_inputs(self) -> tuple[InputSpec, ...]:
        return tuple(i for i in self.inputs if i.section != "hidden")

    @property
    def title(self) -> str:
        return self.display_name or self.name

    @classmethod
    def from_object_info(cls, name: str, entry: Mapping[str, Any]) -> "NodeSpec":
        declared = entry.get("input", {})
        order = entry.get("input_order", {})
        inputs = []
        for section in SECTIONS:
            items = declared.get(section, {}) or {}
            names = order.get(section) or list(items)
            for input_name in names:
                inputs.append(_input_spec(input_name, items[input_name], section))
        types = entry.get("output", []) or []
        names = entry.get("output_name") or types
        lists = entry.get("output_is_list") or [False] * len(types)
        outputs = tuple(OutputSpec(_type_name(t), n, bool(l)) for t, n, l in zip(types, names, lists))
        return cls(
            name=name,
            inputs=tuple(inputs),
            outputs=outputs,
            output_node=bool(entry.get("output_node", False)),
            display_name=entry.get("display_name") or None,
            category=entry.get("category", ""),
            description=entry.get("description", ""),
            source=entry.get("python_module", "object_info"),
        )

    @classmethod
    def from_class(cls, name: str, node_class: type, display_name: str | None = None) -> "NodeSpec":
        declared = node_class.INPUT_TYPES()
        inputs = [
            _input_spec(input_name, value, section)
            for section in SECTIONS
            for input_name, value in (declared.get(section) or {}).items()
        ]
        types = tuple(getattr(node_class, "RETURN_TYPES", ()))
        names = tuple(getattr(node_class, "RETURN_NAMES", None) or types)
        lists = tuple(getattr(node_class, "OUTPUT_IS_LIST", None) or (False,) * len(types))
        outputs = tuple(OutputSpec(_type_name(t), n, bool(l)) for t, n, l in zip(types, names, lists))
        return cls(
            name=name,
            inputs=tuple(inputs),
            outputs=outputs,
            output_node=bool(getattr(node_class, "OUTPUT_NODE", False)),
            display_name=display_name,
            category=getattr(node_class, "CATEGORY", ""),
            description=getattr(node_class, "DESCRIPTION", ""),
            source=getattr(node_class, "__module__", "class"),
        )

    def to_object_info(self) -> dict:
        """This spec in the layout of a ``GET /object_info`` entry (as ComfyUI's server writes it)."""
        declared: dict = {}
        order: dict = {}
        for spec in self.inputs:
            first = list(spec.choices) if spec.type == "COMBO" and "options" not in spec.options else spec.type
            value = [first, dict(spec.options)] if spec.options else [first]
            declared.setdefault(spec.section, {})[spec.name] = value
            order.setdefault(spec.section, []).append(spec.name)
        declared.setdefault("required", {})
        order.setdefault("required", [])
        return {
            "input": declared,
            "input_order": order,
            "output": [o.type for o in self.outputs],
            "output_is_list": [o.is_list for o in self.outputs],
            "output_name": [o.name for o in self.outputs],
            "name": self.name,
            "display_name": self.display_name or self.name,
            "description": self.description,
            "python_module": self.source,
            "category": self.category,
            "output_node": self.output_node,
        }


def _type_name(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "COMBO"
    return str(value)


def _input_spec(name: str, value: Any, section: str) -> InputSpec:
    if isinstance(value, str):  # hidden inputs are declared by type name alone ("PROMPT")
        return InputSpec(name, value, {}, section)
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"input {name!r} must be declared as (type, options), got {value!r}")
    first = value[0]
    options = dict(value[1]) if len(value) > 1 and isinstance(value[1], Mapping) else {}
    if isinstance(first, (list, tuple)):
        return InputSpec(name, "COMBO", options, section, tuple(first))
    if first == "COMBO":
        return InputSpec(name, "COMBO", options, section, tuple(options.get("options", ())))
    return InputSpec(name, str(first), options, section)


class Catalogue:
    """Node specs by type name."""

    def __init__(self, specs: Iterable[NodeSpec] = ()) -> None:
        self._specs: dict[str, NodeSpec] = {}
        for spec in specs:
            self._specs[spec.name] = spec

    @classmethod
    def from_object_info(cls, object_info: Mapping[str, Mapping[str, Any]]) -> "Catalogue":
        return cls(NodeSpec.from_object_info(name, entry) for name, entry in object_info.items())

    @classmethod
    def core(cls) -> "Catalogue":
        """ComfyUI 0.8.0's core nodes (see ``data/VERSION.txt``)."""
        return cls.from_object_info(core_object_info())

    def with_classes(self, mappings: Mapping[str, type], display_names: Mapping[str, str] | None = None) -> "Catalogue":
        """A new catalogue with these node classes added (replacing specs of the same name)."""
        display_names = display_names or {}
        merged = Catalogue(self._specs.values())
        for name, node_class in mappings.items():
            merged._specs[name] = NodeSpec.from_class(name, node_class, display_names.get(name))
        return merged

    def with_specs(self, specs: Iterable[NodeSpec]) -> "Catalogue":
        merged = Catalogue(self._specs.values())
        for spec in specs:
            merged._specs[spec.name] = spec
        return merged

    def get(self, name: str) -> NodeSpec | None:
        return self._specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(self._specs)


_CORE_OBJECT_INFO: dict | None = None


def core_object_info() -> dict:
    """The bundled ``GET /object_info`` of ComfyUI 0.8.0 (read once, then shared; do not modify)."""
    global _CORE_OBJECT_INFO
    if _CORE_OBJECT_INFO is None:
        text = resources.files(__package__).joinpath("data").joinpath("object_info.json").read_text(encoding="utf-8")
        _CORE_OBJECT_INFO = json.loads(text)
    return _CORE_OBJECT_INFO
