"""Small helpers to write UI-format workflows in tests, in the shape ComfyUI's editor saves them."""

from __future__ import annotations

from typing import Any


def inp(name: str, type_: str, link: int | None = None, widget: str | None = None) -> dict:
    slot = {"name": name, "type": type_, "link": link}
    if widget:
        slot["widget"] = {"name": widget}
    return slot


def out(name: str, type_: str, links: list[int] | None = None) -> dict:
    return {"name": name, "type": type_, "links": links}


def node(node_id: int, type_: str, inputs=(), outputs=(), widgets_values: Any = None, mode: int = 0, title: str | None = None, properties: dict | None = None) -> dict:
    data = {
        "id": node_id,
        "type": type_,
        "pos": [node_id * 100, 0],
        "size": [200, 100],
        "flags": {},
        "order": node_id,
        "mode": mode,
        "inputs": list(inputs),
        "outputs": list(outputs),
        "properties": {"Node name for S&R": type_, **(properties or {})},
    }
    if widgets_values is not None:
        data["widgets_values"] = widgets_values
    if title is not None:
        data["title"] = title
    return data


def workflow(nodes: list[dict], links: list[list], subgraphs: list[dict] | None = None, version: float = 0.4) -> dict:
    """Links are given as 0.4 arrays [id, origin, origin_slot, target, target_slot, type]; version 1
    writes them as objects, as schema 1.0 does."""
    if version == 1:
        written: list = [
            {"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4], "type": l[5]} for l in links
        ]
    else:
        written = links
    data = {
        "last_node_id": max((n["id"] for n in nodes), default=0),
        "last_link_id": max((l[0] for l in links), default=0),
        "nodes": nodes,
        "links": written,
        "groups": [],
        "config": {},
        "extra": {},
        "version": version,
    }
    if subgraphs:
        data["definitions"] = {"subgraphs": subgraphs}
    return data


def subgraph(sub_id: str, name: str, nodes: list[dict], links: list[list], inputs: list[tuple], outputs: list[tuple]) -> dict:
    """A subgraph definition. ``inputs``/``outputs``: (name, type, [link ids]); links as 0.4 arrays,
    with -10 / -20 for the subgraph's input / output node."""
    return {
        "id": sub_id,
        "version": 1,
        "state": {},
        "revision": 0,
        "config": {},
        "name": name,
        "inputNode": {"id": -10, "bounding": [0, 0, 100, 100]},
        "outputNode": {"id": -20, "bounding": [900, 0, 100, 100]},
        "inputs": [{"id": f"in{i}", "name": n, "type": t, "linkIds": ids} for i, (n, t, ids) in enumerate(inputs)],
        "outputs": [{"id": f"out{i}", "name": n, "type": t, "linkIds": ids} for i, (n, t, ids) in enumerate(outputs)],
        "widgets": [],
        "nodes": nodes,
        "links": [
            {"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4], "type": l[5]} for l in links
        ],
        "groups": [],
        "extra": {},
    }
