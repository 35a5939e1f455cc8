"""UI-format workflow -> API-format prompt, the way ComfyUI's frontend does it (``graphToPrompt``).

ComfyUI's server runs API prompts only; the editor saves UI-format workflows, and only the frontend
turns one into the other. This module reproduces that conversion (frontend 1.35.9, bundled with
ComfyUI 0.8.0) from the workflow and a node :class:`~comfy_editloss.graph.catalogue.Catalogue`:

* workflow schema 0.4 (links as arrays) and 1.0 (links as objects), subgraphs in
  ``definitions.subgraphs`` expanded (inner nodes get ids ``"<instance>:<inner>"``, nested ones
  ``"<outer>:<instance>:<inner>"``), promoted widgets of subgraph instances;
* ``widgets_values`` matched positionally to the widgets the frontend creates for each input: the
  extra ``control_after_generate`` value after seed-like INT widgets and combos that ask for it, the
  upload-button value after upload combos, no slot for ``forceInput`` inputs; missing values take
  the catalogue's defaults;
* links followed through ``Reroute`` nodes, ``PrimitiveNode`` values copied into their targets,
  bypassed nodes (mode 4) passing a matching input through, muted nodes (mode 2) dropped with the
  inputs linked to them, ``Note``/``MarkdownNote`` dropped.

The link resolution mirrors the frontend's ``ExecutableNodeDTO`` (``resolveInput``/``resolveOutput``).
"""

from __future__ import annotations

import json
import math
import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .catalogue import Catalogue, InputSpec, NodeSpec

MODE_ALWAYS, MODE_NEVER, MODE_BYPASS = 0, 2, 4
VIRTUAL_TYPES = ("Note", "MarkdownNote", "PrimitiveNode", "Reroute")
SUBGRAPH_INPUT_NODE, SUBGRAPH_OUTPUT_NODE = -10, -20
SEED_NAMES = ("seed", "noise_seed")
# Subgraphs inside subgraphs: the frontend sets no limit, but each level costs a few Python frames
# when links are followed; far deeper than any real workflow, far below the recursion limit.
MAX_SUBGRAPH_DEPTH = 64
# Subgraph instances inside subgraphs multiply their nodes (a definition holding two instances of
# the level below, 26 levels deep, is 2**26 nodes in a file of a few kB): the expanded graph is
# capped far above any real workflow (ComfyUI's largest templates have a few hundred nodes).
MAX_EXPANDED_NODES = 100_000
# JSON values nested deeper than this (no workflow nests widget values more than a few levels) are
# refused before anything recurses into them.
MAX_JSON_DEPTH = 256
# The largest workflow of ComfyUI's template browser is under 1 MB; the bound keeps a wrong path
# (a disk image, /dev/zero) from being read into memory.
MAX_WORKFLOW_BYTES = 64 * 2**20
UPLOAD_OPTIONS = ("image_upload", "video_upload", "audio_upload", "file_upload", "animated_image_upload", "upload")

# Widgets that frontend extensions add to core nodes beyond their declared inputs: (name, default,
# whether it takes a position in widgets_values). PreviewAny (frontend 1.35.9) has two output-only
# "preview" text widgets that are not saved and do not count when saved values are assigned, so
# widgets_values[0] goes to previewMode; the prompt still carries "preview": "".
EXTENSION_WIDGETS: dict[str, tuple[tuple[str, Any, bool], ...]] = {
    "PreviewAny": (("preview", "", False), ("previewMode", False, True)),
    "SaveGLB": (("image", "", True),),
}


class ConversionError(ValueError):
    """A workflow that cannot be converted: names the file, node and what is wrong."""


# ---------------------------------------------------------------------------------------------
# The workflow as parsed
# ---------------------------------------------------------------------------------------------


@dataclass
class InputSlot:
    name: str
    type: str
    link: int | None
    widget: str | None = None  # the widget this input slot stands for, if any


@dataclass
class OutputSlot:
    name: str
    type: str
    links: list[int] = field(default_factory=list)


@dataclass
class Link:
    id: int
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: str


@dataclass
class UINode:
    id: Any
    type: str
    mode: int
    title: str | None
    inputs: list[InputSlot]
    outputs: list[OutputSlot]
    widgets_values: Any
    properties: dict


@dataclass
class SubgraphDef:
    id: str
    name: str
    inputs: list[dict]
    outputs: list[dict]
    graph: "UIGraph"


@dataclass
class UIGraph:
    nodes: dict[str, UINode]
    links: dict[int, Link]
    definition: SubgraphDef | None = None

    def node(self, node_id: Any) -> UINode | None:
        return self.nodes.get(str(node_id))

    def outgoing(self, node: UINode) -> Iterable[Link]:
        for link in self.links.values():
            if str(link.origin_id) == str(node.id):
                yield link


def _integer(value: Any, what: str, where: str) -> int:
    """An id or slot number of a saved workflow. The frontend writes JSON numbers; digit strings
    are accepted too (JavaScript compares them loosely), anything else is an error naming it."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ConversionError(f"{where}: {what} must be an integer, got {value!r}")


LINK_FIELDS = ("id", "origin_id", "origin_slot", "target_id", "target_slot")


def _parse_links(raw: Any, where: str) -> dict[int, Link]:
    if raw is not None and not isinstance(raw, list):
        raise ConversionError(f"{where}: 'links' must be a list of links, got {type(raw).__name__}")
    links: dict[int, Link] = {}
    for item in raw or []:
        if isinstance(item, (list, tuple)):
            if len(item) < 5:
                raise ConversionError(f"{where}: link {item!r} must be [id, origin_id, origin_slot, target_id, target_slot, type]")
            fields = dict(zip(LINK_FIELDS, item))
            type_ = item[5] if len(item) > 5 else "*"
        elif isinstance(item, Mapping):
            missing = [name for name in LINK_FIELDS if name not in item]
            if missing:
                raise ConversionError(f"{where}: link {item.get('id', '?')!r} has no {', '.join(repr(m) for m in missing)} (a link object needs {', '.join(LINK_FIELDS)})")
            fields, type_ = item, item.get("type", "*")
        else:
            raise ConversionError(f"{where}: a link must be an array or an object, got {item!r}")
        link_id = _integer(fields["id"], f"the id of link {list(item) if isinstance(item, tuple) else item!r}", where)
        label = f"link {link_id}"
        link = Link(
            link_id,
            fields["origin_id"],
            _integer(fields["origin_slot"], f"{label}: origin_slot", where),
            fields["target_id"],
            _integer(fields["target_slot"], f"{label}: target_slot", where),
            str(type_),
        )
        links[link.id] = link
    return links


def _node_id(value: Any, where: str) -> int | str:
    """A node id as the frontend saves it: an integer (a JSON number), or a string (subgraph and
    some extensions' ids)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value:
        return value
    raise ConversionError(f"{where}: a node id must be an integer or a non-empty string, got {type(value).__name__} {value!r:.60}")


def _parse_node(raw: Mapping[str, Any], where: str) -> UINode:
    if "id" not in raw or "type" not in raw:
        raise ConversionError(f"{where}: a node needs an 'id' and a 'type', got keys {sorted(raw)}")
    node_id = _node_id(raw["id"], where)
    here = f"{where}: node {node_id!r}"
    if not isinstance(raw["type"], str) or not raw["type"]:
        raise ConversionError(f"{here}: 'type' must be a node type name (a string), got {type(raw['type']).__name__} {raw['type']!r:.60}")
    widgets = raw.get("widgets_values")
    if widgets is not None and not isinstance(widgets, (list, Mapping)):
        raise ConversionError(f"{here}: 'widgets_values' must be a list (or an object of name -> value), got {type(widgets).__name__} {widgets!r:.60}")
    inputs = [
        InputSlot(
            name=str(i.get("name", "")),
            type=_slot_type(i.get("type", "*")),
            link=None if i.get("link") is None else _integer(i["link"], f"input {i.get('name', index)!r}: link", here),
            widget=(i.get("widget") or {}).get("name") if isinstance(i.get("widget"), Mapping) else None,
        )
        for index, i in enumerate(_objects(raw.get("inputs"), "inputs", here))
    ]
    outputs = [
        OutputSlot(
            name=str(o.get("name", "")),
            type=_slot_type(o.get("type", "*")),
            links=[_integer(link, f"output {o.get('name', index)!r}: link", here) for link in _list(o.get("links"), f"output {o.get('name', index)!r}: links", here)],
        )
        for index, o in enumerate(_objects(raw.get("outputs"), "outputs", here))
    ]
    properties = raw.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise ConversionError(f"{here}: 'properties' must be an object, got {type(properties).__name__}")
    return UINode(
        id=node_id,
        type=raw["type"],
        mode=_integer(raw.get("mode") or 0, "mode", here),
        title=raw.get("title"),
        inputs=inputs,
        outputs=outputs,
        widgets_values=raw.get("widgets_values"),
        properties=dict(properties),
    )


def _list(value: Any, what: str, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConversionError(f"{where}: {what} must be a list, got {type(value).__name__} {value!r:.60}")
    return value


def _objects(value: Any, what: str, where: str) -> list[Mapping]:
    """A saved list of JSON objects (nodes, slots, subgraph definitions), each checked."""
    items = _list(value, f"'{what}'", where)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ConversionError(f"{where}: {what}[{index}] must be an object, got {type(item).__name__} {item!r:.60}")
    return items


def _slot_type(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # a combo socket saved with its options
        return "COMBO"
    return "*" if value in (None, "", 0) else str(value)


def _parse_graph(raw: Mapping[str, Any], where: str) -> UIGraph:
    if not isinstance(raw.get("nodes"), list):
        raise ConversionError(f"{where}: 'nodes' must be a list of nodes")
    nodes = {}
    for item in _objects(raw["nodes"], "nodes", where):
        node = _parse_node(item, where)
        if str(node.id) in nodes:
            raise ConversionError(f"{where}: two nodes have the id {node.id!r} (a node id must be unique)")
        nodes[str(node.id)] = node
    return UIGraph(nodes=nodes, links=_parse_links(raw.get("links"), where))


@dataclass
class Workflow:
    """A parsed UI-format workflow with its subgraph definitions."""

    graph: UIGraph
    subgraphs: dict[str, SubgraphDef]
    source: str

    @classmethod
    def parse(cls, data: Mapping[str, Any], source: str = "<workflow>") -> "Workflow":
        if not isinstance(data, Mapping):
            raise ConversionError(f"{source}: a UI workflow is a JSON object, got {type(data).__name__}")
        if "nodes" not in data:
            if data and all(isinstance(v, Mapping) and "class_type" in v for v in data.values()):
                raise ConversionError(f"{source}: this is already an API-format prompt (node id -> class_type), not a UI workflow")
            if any(isinstance(v, Mapping) and "class_type" in v for v in data.values()):
                broken = next(k for k, v in data.items() if not (isinstance(v, Mapping) and "class_type" in v))
                value = data[broken]
                what = "has no 'class_type'" if isinstance(value, Mapping) else f"is a {type(value).__name__}, not an object with 'class_type' and 'inputs'"
                raise ConversionError(f"{source}: an API-format prompt whose node {broken!r} {what}")
            raise ConversionError(f"{source}: not a UI workflow: no 'nodes' list")
        definitions = data.get("definitions")
        definitions = {} if definitions is None else definitions
        if not isinstance(definitions, Mapping):
            raise ConversionError(f"{source}: 'definitions' must be an object, got {type(definitions).__name__}")
        subgraphs = {}
        for raw in _objects(definitions.get("subgraphs"), "subgraphs", f"{source}: definitions"):
            sub_where = f"{source}: subgraph {raw.get('name') or raw.get('id')!r}"
            if "id" not in raw:
                raise ConversionError(f"{sub_where}: a subgraph definition needs an 'id', got keys {sorted(raw)}")
            graph = _parse_graph(raw, sub_where)
            definition = SubgraphDef(
                id=str(raw["id"]),
                name=str(raw.get("name", raw["id"])),
                inputs=list(_objects(raw.get("inputs"), "inputs", sub_where)),
                outputs=list(_objects(raw.get("outputs"), "outputs", sub_where)),
                graph=graph,
            )
            graph.definition = definition
            subgraphs[definition.id] = definition
        return cls(graph=_parse_graph(data, source), subgraphs=subgraphs, source=source)


# ---------------------------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetSlot:
    """One widget of a node, in the order the frontend creates them (= ``widgets_values`` order)."""

    name: str
    default: Any
    in_prompt: bool  # False for frontend-only companions (seed control, upload button)
    positional: bool = True  # takes a position in widgets_values


def widget_layout(spec: NodeSpec) -> list[WidgetSlot]:
    """The widgets the frontend creates for a node type, in order. A seed-like INT (or a combo that
    asks for it) is followed by its ``control_after_generate`` companion; an upload combo adds an
    upload button, which the frontend declares as one more required input, so it comes after the
    required widgets (``LoadImageMask`` saves ``["mask.png", "red", "image"]``)."""
    slots: list[WidgetSlot] = []
    uploads: list[WidgetSlot] = []
    for section in ("required", "optional"):
        if section == "optional":
            slots.extend(uploads)
        for inp in spec.inputs:
            if inp.section != section or not inp.is_widget:
                continue
            slots.append(WidgetSlot(inp.name, inp.default, True))
            if _has_value_control(inp):
                slots.append(WidgetSlot("control_after_generate", "fixed", False))
            if inp.type == "COMBO" and any(inp.options.get(key) for key in UPLOAD_OPTIONS):
                uploads.append(WidgetSlot("upload", None, False))
    for name, default, positional in EXTENSION_WIDGETS.get(spec.name, ()):
        slots.append(WidgetSlot(name, default, True, positional))
    return slots


def _has_value_control(inp: InputSpec) -> bool:
    control = inp.options.get("control_after_generate")
    if inp.type == "INT":
        return bool(control) if control is not None else inp.name in SEED_NAMES
    return inp.type == "COMBO" and bool(control)


def widget_values(node: UINode, spec: NodeSpec) -> dict[str, Any]:
    """Every widget's value by name (frontend companions included), from ``widgets_values``.

    Values are assigned by position, a saved ``null`` included (the frontend does the same and then
    sends ``null``); widgets past the end of the list keep their defaults; a dict (some packs save
    one) is matched by name."""
    saved = node.widgets_values
    values: dict[str, Any] = {}
    index = 0
    for slot in widget_layout(spec):
        value = slot.default
        if slot.positional:
            if isinstance(saved, Mapping):
                value = saved.get(slot.name, value)
            elif isinstance(saved, list) and index < len(saved):
                value = saved[index]
            index += 1
        values.setdefault(slot.name, value)
    return values


def _json_number(value: Any) -> Any:
    """What JavaScript's JSON writer makes of a value: integral floats become integers."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_number(v) for k, v in value.items()}
    return value


def _prompt_value(value: Any) -> Any:
    value = _json_number(value)
    # A list would read as a link [node_id, slot]; the frontend boxes it and the server unboxes it.
    return {"__value__": value} if isinstance(value, list) else value


# ---------------------------------------------------------------------------------------------
# Link resolution (the frontend's ExecutableNodeDTO)
# ---------------------------------------------------------------------------------------------


@dataclass
class Resolved:
    origin_id: str | None = None
    origin_slot: int = -1
    widget_value: Any = None
    is_widget: bool = False


def is_valid_connection(type_a: Any, type_b: Any) -> bool:
    """LiteGraph.isValidConnection: '*' and '' match anything; comma lists match any member."""
    a = "" if type_a in (None, "*", "") else str(type_a)
    b = "" if type_b in (None, "*", "") else str(type_b)
    if not a or not b or a == b:
        return True
    a, b = a.lower(), b.lower()
    if "," not in a and "," not in b:
        return a == b
    return any(x == y or not x or not y for x in a.split(",") for y in b.split(","))


class _Exec:
    """An executable view of one node at one place in the (expanded) graph."""

    def __init__(self, conv: "_Converter", node: UINode, graph: UIGraph, path: tuple[str, ...], instance: "_Exec | None"):
        self.conv = conv
        self.node = node
        self.graph = graph
        self.path = path  # ids of the subgraph instances that contain this node
        self.instance = instance  # the executable of the containing subgraph instance
        self.id = ":".join(path + (str(node.id),))
        self.definition = conv.workflow.subgraphs.get(node.type)
        self.inputs = self._runtime_inputs()

    # -- shape of the node --------------------------------------------------------------------

    @property
    def is_subgraph(self) -> bool:
        return self.definition is not None

    @property
    def is_virtual(self) -> bool:
        return self.is_subgraph or self.node.type in VIRTUAL_TYPES

    def _runtime_inputs(self) -> list[InputSlot]:
        if not self.is_subgraph:
            return self.node.inputs
        # An instance has one input per input of its definition; saved links are matched by name.
        saved = {(s.name, s.type): s for s in self.node.inputs}
        by_name = {s.name: s for s in self.node.inputs}
        slots = []
        for item in self.definition.inputs:
            name, type_ = str(item.get("name", "")), _slot_type(item.get("type", "*"))
            match = saved.get((name, type_)) or by_name.get(name)
            slots.append(InputSlot(name, type_, match.link if match else None, match.widget if match else None))
        return slots

    def output_type(self, slot: int) -> str:
        if self.is_subgraph:
            outputs = self.definition.outputs
            return _slot_type(outputs[slot].get("type", "*")) if slot < len(outputs) else "*"
        return self.node.outputs[slot].type if slot < len(self.node.outputs) else "*"

    # -- widgets -------------------------------------------------------------------------------

    def widget_value(self, name: str) -> tuple[bool, Any]:
        """(found, value) of this node's widget called ``name``."""
        if self.is_subgraph:
            promoted = self.conv.promoted_widgets(self)
            if name in promoted:
                return True, promoted[name]
            return False, None
        values = self.conv.widgets_of(self)
        if name in values:
            return True, values[name]
        return False, None

    def widget_for_slot(self, slot: InputSlot) -> tuple[bool, Any]:
        """The frontend's getWidgetFromSlot: the widget an input slot stands for, if any."""
        if self.is_subgraph:
            promoted = self.conv.promoted_widgets(self)
            return (True, promoted[slot.name]) if slot.name in promoted else (False, None)
        if slot.widget is None:
            return False, None
        return self.widget_value(slot.widget)

    # -- resolution ----------------------------------------------------------------------------

    def resolve_input(self, index: int, visited: set, type_: str | None = None) -> Resolved | None:
        key = (self.graph_key, str(self.node.id), "I", index)
        if key in visited:
            raise ConversionError(f"{self.conv.source}: circular link through input {index} of node {self.id} ({self.node.type})")
        visited.add(key)
        if index >= len(self.inputs):
            return None
        slot = self.inputs[index]
        if slot.link is None:
            return None
        link = self.graph.links.get(slot.link)
        if link is None:
            raise ConversionError(f"{self.conv.source}: node {self.id} ({self.node.type}) input {slot.name!r} refers to link {slot.link}, which does not exist")
        if self.instance is not None and _is_io(link.origin_id, SUBGRAPH_INPUT_NODE):
            outer_slot = self.instance.inputs[link.origin_slot] if link.origin_slot < len(self.instance.inputs) else None
            if outer_slot is None:
                raise ConversionError(f"{self.conv.source}: subgraph input {link.origin_slot} used by node {self.id} does not exist")
            if outer_slot.link is None:
                found, value = self.instance.widget_for_slot(outer_slot)
                return Resolved(widget_value=value, is_widget=True) if found else None
            return self.instance.resolve_input(link.origin_slot, visited)
        origin = self.graph.node(link.origin_id)
        if origin is None:
            raise ConversionError(f"{self.conv.source}: link {link.id} into node {self.id} comes from node {link.origin_id}, which does not exist")
        origin_exec = self.conv.executable(self.path + (str(origin.id),))
        return origin_exec.resolve_output(link.origin_slot, type_ or slot.type, visited)

    def resolve_output(self, slot: int, type_: str, visited: set) -> Resolved | None:
        key = (self.graph_key, str(self.node.id), "O", slot)
        if key in visited:
            raise ConversionError(f"{self.conv.source}: circular link through output {slot} of node {self.id} ({self.node.type})")
        visited.add(key)
        if self.node.mode == MODE_BYPASS:
            index = self._bypass_slot(slot, type_)
            return None if index < 0 else self.resolve_input(index, visited)
        if self.is_subgraph:
            return self._resolve_subgraph_output(slot, type_, visited)
        if self.node.type in VIRTUAL_TYPES:
            if slot < len(self.inputs):
                return self.resolve_input(slot, visited, type_)
            return None
        return Resolved(origin_id=self.id, origin_slot=slot)

    def _bypass_slot(self, slot: int, type_: str) -> int:
        inputs = self.inputs
        output_type = self.output_type(slot)
        if type_ in ("*", ""):
            return slot if len(inputs) > slot else 0
        if slot < len(inputs):
            opposite = inputs[slot]
            if is_valid_connection(opposite.type, output_type) and is_valid_connection(opposite.type, type_):
                return slot
        for index, inp in enumerate(inputs):
            if inp.type == type_:
                return index
        for index, inp in enumerate(inputs):
            if is_valid_connection(inp.type, output_type) and is_valid_connection(inp.type, type_):
                return index
        return -1

    def _resolve_subgraph_output(self, slot: int, type_: str, visited: set) -> Resolved | None:
        inner_graph = self.definition.graph
        for link in inner_graph.links.values():
            if _is_io(link.target_id, SUBGRAPH_OUTPUT_NODE) and link.target_slot == slot:
                if _is_io(link.origin_id, SUBGRAPH_INPUT_NODE):  # an input passed straight through
                    return self.resolve_input(link.origin_slot, visited)
                inner = self.conv.executable(self.path + (str(self.node.id), str(link.origin_id)))
                return inner.resolve_output(link.origin_slot, type_, visited)
        return None

    @property
    def graph_key(self) -> str:
        return self.graph.definition.id if self.graph.definition else ""


def _is_io(node_id: Any, io_id: int) -> bool:
    try:
        return int(node_id) == io_id
    except (TypeError, ValueError):
        return False


class _Converter:
    def __init__(self, workflow: Workflow, catalogue: Catalogue):
        self.workflow = workflow
        self.catalogue = catalogue
        self.source = workflow.source
        self.execs: dict[str, _Exec] = {}
        self._widgets: dict[tuple[str, str], dict[str, Any]] = {}
        self._promoted: dict[str, dict[str, Any]] = {}
        self._primitive_values = self._collect_primitive_values()
        self._expand(workflow.graph, (), None, set())

    def _expand(self, graph: UIGraph, path: tuple[str, ...], instance: _Exec | None, active: set) -> None:
        if len(path) > MAX_SUBGRAPH_DEPTH:
            raise ConversionError(
                f"{self.source}: node {path[0]}: subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep "
                f"(subgraph {graph.definition.name!r} at depth {len(path)}); flatten some of them"
            )
        for node in graph.nodes.values():
            dto = _Exec(self, node, graph, path, instance)
            self.execs[dto.id] = dto
            if len(self.execs) > MAX_EXPANDED_NODES:
                raise ConversionError(
                    f"{self.source}: the workflow expands to more than {MAX_EXPANDED_NODES} nodes (subgraph instances inside "
                    f"subgraphs multiply their nodes; here at {dto.id}, in subgraph {graph.definition.name if graph.definition else 'none'!r})"
                )
            if dto.is_subgraph:
                if dto.definition.id in active:
                    raise ConversionError(f"{self.source}: subgraph {dto.definition.name!r} contains itself (instance {dto.id})")
                self._expand(dto.definition.graph, path + (str(node.id),), dto, active | {dto.definition.id})

    def executable(self, exec_id: tuple[str, ...]) -> _Exec:
        key = ":".join(exec_id)
        if key not in self.execs:
            raise ConversionError(f"{self.source}: no node {key} in the expanded graph")
        return self.execs[key]

    def spec(self, dto: _Exec) -> NodeSpec:
        spec = self.catalogue.get(dto.node.type)
        if spec is None:
            raise ConversionError(f"{self.source}: node {dto.id} has unknown type {dto.node.type!r} (not in the node catalogue)")
        return spec

    def widgets_of(self, dto: _Exec) -> dict[str, Any]:
        key = (dto.graph_key, str(dto.node.id))
        if key not in self._widgets:
            values = widget_values(dto.node, self.spec(dto))
            values.update(self._primitive_values.get(key, {}))
            self._widgets[key] = values
        return self._widgets[key]

    def _collect_primitive_values(self) -> dict[tuple[str, str], dict[str, Any]]:
        """PrimitiveNode.applyToGraph: each primitive writes its value into the widgets it feeds."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        graphs = [self.workflow.graph] + [d.graph for d in self.workflow.subgraphs.values()]
        for graph in graphs:
            graph_key = graph.definition.id if graph.definition else ""
            for node in graph.nodes.values():
                if node.type != "PrimitiveNode" or not isinstance(node.widgets_values, list) or not node.widgets_values:
                    continue
                for link in graph.outgoing(node):
                    target = graph.node(link.target_id)
                    if target is None or link.target_slot >= len(target.inputs):
                        continue
                    slot = target.inputs[link.target_slot]
                    name = slot.widget or slot.name
                    found.setdefault((graph_key, str(target.id)), {})[name] = node.widgets_values[0]
        return found

    def promoted_widgets(self, dto: _Exec) -> dict[str, Any]:
        """The widgets a subgraph instance shows for its inputs, with their values."""
        if dto.id in self._promoted:
            return self._promoted[dto.id]
        definition = dto.definition
        inner_graph = definition.graph
        interior: dict[str, Any] = {}
        for index, item in enumerate(definition.inputs):
            name = str(item.get("name", ""))
            for link_id in _list(item.get("linkIds"), f"input {name!r}: linkIds", f"{self.source}: subgraph {definition.name!r}"):
                link = inner_graph.links.get(_integer(link_id, f"input {name!r}: a link id", f"{self.source}: subgraph {definition.name!r}"))
                if link is None:
                    continue
                target = inner_graph.node(link.target_id)
                if target is None:
                    continue
                slot = next((s for s in target.inputs if s.link == link.id), None)
                if slot is None:
                    continue
                inner = self.executable(dto.path + (str(dto.node.id), str(target.id)))
                found, value = inner.widget_for_slot(slot)
                if found:
                    interior[name] = value
                    break
        saved = dto.node.widgets_values if isinstance(dto.node.widgets_values, list) else []
        proxies = dto.node.properties.get("proxyWidgets")
        if isinstance(proxies, list):
            positions = {str(p[1]): i for i, p in enumerate(proxies) if isinstance(p, (list, tuple)) and len(p) == 2 and str(p[0]) == "-1"}
        else:
            positions = {name: i for i, name in enumerate(n for n in (str(x.get("name", "")) for x in definition.inputs) if n in interior)}
        values = {}
        for name, value in interior.items():
            position = positions.get(name)
            if position is not None and position < len(saved) and saved[position] is not None:
                value = saved[position]
            values[name] = value
        self._promoted[dto.id] = values
        return values

    # -- the prompt ----------------------------------------------------------------------------

    def prompt(self) -> dict[str, dict]:
        output: dict[str, dict] = {}
        for dto in self.execs.values():
            if dto.is_virtual or dto.node.mode in (MODE_NEVER, MODE_BYPASS):
                continue
            spec = self.spec(dto)
            widgets = self.widgets_of(dto)
            inputs: dict[str, Any] = {}
            for slot in widget_layout(spec):
                if slot.in_prompt:
                    inputs[slot.name] = _prompt_value(widgets[slot.name])
            for index, slot in enumerate(dto.inputs):
                resolved = dto.resolve_input(index, set())
                if resolved is None:
                    continue
                if resolved.is_widget:
                    inputs[slot.name] = _prompt_value(resolved.widget_value)
                else:
                    inputs[slot.name] = [resolved.origin_id, resolved.origin_slot]
            output[dto.id] = {
                "inputs": inputs,
                "class_type": dto.node.type,
                "_meta": {"title": dto.node.title or spec.title},
            }
        for entry in output.values():
            for name, value in list(entry["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                    del entry["inputs"][name]
        return output


def convert(workflow: Mapping[str, Any] | Workflow, catalogue: Catalogue | None = None, source: str = "<workflow>") -> dict[str, dict]:
    """Convert a UI-format workflow (parsed JSON) to the API prompt ComfyUI's frontend would send.

    Args:
        workflow: the workflow JSON (a dict) or a parsed :class:`Workflow`.
        catalogue: node specs; by default ComfyUI's core nodes only.
        source: a name for error messages (usually the file path).

    Raises:
        ConversionError: naming the file, node and problem (unknown node type, broken link...).
    """
    if not isinstance(workflow, Workflow):
        check_depth(workflow, source)
        workflow = Workflow.parse(workflow, source)
    try:
        return _Converter(workflow, catalogue or Catalogue.core()).prompt()
    except RecursionError:
        # Links are followed recursively through reroutes, bypassed nodes and subgraph borders.
        raise ConversionError(
            f"{workflow.source}: links pass through too many reroute, bypassed or subgraph nodes in a row to follow"
        ) from None


def check_depth(data: Any, source: str, limit: int | None = None) -> None:
    """Refuse JSON values nested deeper than ``limit`` (default MAX_JSON_DEPTH), without recursing:
    everything after this (conversion, validation, messages) may recurse into them."""
    limit = MAX_JSON_DEPTH if limit is None else limit
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children = value.values()
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth >= limit:
            raise ConversionError(f"{source}: not a workflow: its JSON is nested more than {limit} deep")
        stack.extend((child, depth + 1) for child in children)


def load_json(path: str | os.PathLike) -> Any:
    """The JSON of a workflow file. A path that is no workflow file (a folder, a pipe that would
    block, a device, a file over MAX_WORKFLOW_BYTES, bytes that are not UTF-8 or not JSON) is a
    ConversionError naming the file and what it is."""
    text = read_workflow_text(path)  # the path as given: Path("") would be "."
    path = Path(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConversionError(f"{path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise ConversionError(f"{path}: not a workflow: its JSON is nested too deep to read") from None


FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISREG, "a file"),
)


def describe_path(path: str | os.PathLike) -> str:
    """What is at ``path``: "a folder", "a file", "a named pipe (FIFO)", "a symlink loop"... or why it
    cannot be looked at."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return "a symlink loop" if exc.errno == errno.ELOOP else f"unusable ({exc.strerror or exc})"
    return file_kind(info.st_mode)


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ('a named pipe (FIFO)', 'a folder'...)."""
    return next((name for test, name in FILE_KINDS if test(mode)), "not a regular file")


def read_workflow_text(path: str | os.PathLike, limit: int | None = None) -> str:
    """The text of a workflow file, read without blocking and at most ``limit`` bytes
    (default MAX_WORKFLOW_BYTES). Only regular files are read: a FIFO would wait for a writer
    forever, a device never ends."""
    if isinstance(path, (str, os.PathLike)) and not os.fspath(path):
        raise ConversionError("workflow: an empty path, not a workflow file")
    path = Path(path)
    limit = MAX_WORKFLOW_BYTES if limit is None else limit
    if "\0" in str(path):
        raise ConversionError(f"{str(path)!r}: a path with a NUL byte, not a workflow file")
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ConversionError(f"{path}: is {file_kind(info.st_mode)}, not a workflow file")
        if info.st_size > limit:
            raise ConversionError(f"{path}: {info.st_size} bytes is more than a workflow file may have ({limit} bytes)")
        # O_NONBLOCK: should the path have become a FIFO since stat, opening it does not wait
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as handle:
            opened = os.fstat(handle.fileno())
            if not stat.S_ISREG(opened.st_mode):
                raise ConversionError(f"{path}: is {file_kind(opened.st_mode)}, not a workflow file")
            data = handle.read(limit + 1)  # files of /proc say 0 bytes and have more
    except FileNotFoundError:
        raise ConversionError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConversionError(f"{path}: more than {limit} bytes, more than a workflow file may have")
    if not data.strip():
        raise ConversionError(f"{path}: is empty" + (" (only white space)" if data else "") + ", not a workflow: a workflow file is JSON")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConversionError(f"{path}: not a text file: byte {exc.start} is not UTF-8 ({exc.reason}); a workflow is JSON") from None


def is_api_prompt(data: Any) -> bool:
    return isinstance(data, Mapping) and "nodes" not in data and bool(data) and all(
        isinstance(v, Mapping) and "class_type" in v for v in data.values()
    )
