"""Write UI-format workflows (what ComfyUI's editor saves and loads) from Python.

The shipped workflows in ``workflows/`` are generated with this, so that their node interfaces,
widget order and links always agree with the node catalogue::

    wf = WorkflowBuilder(catalogue)
    load = wf.add("LoadImage", widgets={"image": "before.png"}, pos=(0, 0))
    enc = wf.add("EditLossWeightFreeEncode", widgets={"kind": "gradient", "patch_size": 16})
    wf.connect(load, "IMAGE", enc, "image")
    data = wf.to_json()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .catalogue import Catalogue, NodeSpec
from .convert import widget_layout


@dataclass
class BuiltNode:
    id: int
    spec: NodeSpec
    widgets: dict[str, Any]
    pos: tuple[float, float]
    size: tuple[float, float]
    title: str | None = None
    mode: int = 0  # 0 = runs, 2 = muted (left out of the prompt, with the links from it), 4 = bypassed
    text: str | None = None  # for notes
    links_in: dict[str, int] = field(default_factory=dict)
    links_out: dict[int, list[int]] = field(default_factory=dict)


class WorkflowBuilder:
    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self.nodes: list[BuiltNode] = []
        self.notes: list[dict] = []
        self.links: list[list] = []
        self._next_id = 1

    def _new_id(self) -> int:
        node_id = self._next_id
        self._next_id += 1
        return node_id

    def add(
        self, node_type: str, widgets: dict[str, Any] | None = None, pos=(0, 0), size=(320, 120), title: str | None = None, mode: int = 0
    ) -> BuiltNode:
        spec = self.catalogue.get(node_type)
        if spec is None:
            raise KeyError(f"node type {node_type!r} is not in the catalogue")
        widgets = dict(widgets or {})
        known = {slot.name for slot in widget_layout(spec)}
        unknown = set(widgets) - known
        if unknown:
            raise KeyError(f"{node_type} has no widget(s) {sorted(unknown)}; its widgets: {sorted(known)}")
        if mode not in (0, 2, 4):
            raise ValueError(f"mode must be 0 (runs), 2 (muted) or 4 (bypassed), got {mode!r}")
        node = BuiltNode(self._new_id(), spec, widgets, tuple(pos), tuple(size), title, mode)
        self.nodes.append(node)
        return node

    def note(self, text: str, pos=(0, 0), size=(400, 300), markdown: bool = True) -> None:
        self.notes.append({"id": self._new_id(), "type": "MarkdownNote" if markdown else "Note", "pos": list(pos), "size": list(size), "text": text})

    def connect(self, source: BuiltNode, output: str | int, target: BuiltNode, input_name: str) -> None:
        slot = output if isinstance(output, int) else [o.name for o in source.spec.outputs].index(output)
        if target.spec.input(input_name) is None:
            raise KeyError(f"{target.spec.name} has no input {input_name!r}")
        if input_name in target.links_in:
            raise ValueError(f"{target.spec.name} input {input_name!r} is already linked")
        link_id = len(self.links) + 1
        self.links.append([link_id, source.id, slot, target.id, None, source.spec.outputs[slot].type])
        target.links_in[input_name] = link_id
        source.links_out.setdefault(slot, []).append(link_id)

    def _input_slots(self, node: BuiltNode) -> list[dict]:
        """The input sockets as the editor saves them: sockets for non-widget inputs, and a socket for
        a widget input only when it is linked (converted to an input)."""
        slots = []
        for inp in node.spec.visible_inputs:
            if inp.is_widget and inp.name not in node.links_in:
                continue
            slot = {"name": inp.name, "type": inp.type if inp.type != "COMBO" else "COMBO", "link": node.links_in.get(inp.name)}
            if inp.is_widget:
                slot["widget"] = {"name": inp.name}
            if inp.section == "optional":
                slot["shape"] = 7
            slots.append(slot)
        return slots

    def to_json(self, extra: dict | None = None) -> dict:
        nodes_json = []
        for order, node in enumerate(self.nodes):
            inputs = self._input_slots(node)
            index = {slot["name"]: i for i, slot in enumerate(inputs)}
            for link in self.links:
                if link[3] == node.id and link[4] is None:
                    name = next(n for n, lid in node.links_in.items() if lid == link[0])
                    link[4] = index[name]
            values = []
            for slot in widget_layout(node.spec):
                if not slot.positional:
                    continue
                if slot.name in node.widgets:
                    values.append(node.widgets[slot.name])
                elif slot.name == "control_after_generate":
                    values.append("fixed")
                elif slot.name == "upload":
                    values.append("image")
                else:
                    values.append(slot.default)
            entry = {
                "id": node.id,
                "type": node.spec.name,
                "pos": list(node.pos),
                "size": list(node.size),
                "flags": {},
                "order": order,
                "mode": node.mode,
                "inputs": inputs,
                "outputs": [
                    {"name": o.name, "type": o.type, "links": node.links_out.get(i) or None, **({"slot_index": i} if node.links_out.get(i) else {})}
                    for i, o in enumerate(node.spec.outputs)
                ],
                "properties": {"Node name for S&R": node.spec.name},
                "widgets_values": values,
            }
            if node.title:
                entry["title"] = node.title
            nodes_json.append(entry)
        for note in self.notes:
            nodes_json.append({
                "id": note["id"], "type": note["type"], "pos": note["pos"], "size": note["size"], "flags": {}, "order": len(nodes_json),
                "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": [note["text"]],
            })
        return {
            "last_node_id": self._next_id - 1,
            "last_link_id": len(self.links),
            "nodes": nodes_json,
            "links": [list(link) for link in self.links],
            "groups": [],
            "config": {},
            "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}, **(extra or {})},
            "version": 0.4,
        }
