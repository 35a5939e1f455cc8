"""Validate an API-format prompt against the node catalogue, collecting every problem at once.

Problem kinds are ComfyUI's own (``execution.py``: ``validate_inputs``/``validate_prompt``), plus
``dangling_link`` and ``cycle``. It is stricter than ComfyUI where ComfyUI silently coerces: an
``INT`` given ``5.7`` or a ``BOOLEAN`` given the string ``"false"`` is an error here, where ComfyUI
would run with ``5`` and ``True``.

Combos of nodes that run here are checked against the options their class lists at validation time
(as ComfyUI calls ``INPUT_TYPES`` when it validates), so file lists are those of the runner's input
folder; an empty list holds nothing. Combos of nodes that cannot run here come from the catalogue,
whose file lists are those of the machine it was made on: file names and empty lists are not checked.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Mapping

from .catalogue import Catalogue, InputSpec, NodeSpec

KINDS = (
    "invalid_prompt",
    "prompt_no_outputs",
    "required_input_missing",
    "bad_linked_input",
    "dangling_link",
    "return_type_mismatch",
    "invalid_input_type",
    "value_smaller_than_min",
    "value_bigger_than_max",
    "value_not_in_list",
    "custom_validation_failed",
    "exception_during_validation",
    "cycle",
)


@dataclass(frozen=True)
class ValidationIssue:
    kind: str
    message: str
    source: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None

    def __str__(self) -> str:
        where = self.source
        if self.node_id is not None:
            where += f": node {self.node_id} ({self.class_type})"
        if self.input_name is not None:
            where += f" input {self.input_name!r}"
        return f"{where}: {self.message} [{self.kind}]"

    def to_json(self) -> dict:
        return {
            "type": self.kind,
            "message": self.message,
            "source": self.source,
            "node_id": self.node_id,
            "class_type": self.class_type,
            "input_name": self.input_name,
        }


class PromptValidationError(ValueError):
    def __init__(self, issues: list[ValidationIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def types_match(received: str, expected: str) -> bool:
    """ComfyUI's validate_node_input: '*' matches anything, comma lists match any member."""
    if received == "*" or expected == "*" or received == expected:
        return True
    received_set = set(str(received).split(","))
    expected_set = set(str(expected).split(","))
    return bool(received_set & expected_set)


def is_link(value: Any) -> bool:
    return isinstance(value, list)


def validate_prompt(
    prompt: Any,
    catalogue: Catalogue,
    classes: Mapping[str, type] | None = None,
    source: str = "<prompt>",
    require_outputs: bool = True,
    only: set[str] | None = None,
) -> list[ValidationIssue]:
    """Every problem of an API prompt, in node-id order.

    Args:
        prompt: ``{node_id: {"class_type": ..., "inputs": {...}}}``.
        catalogue: node interfaces (see :class:`~comfy_editloss.graph.catalogue.Catalogue`).
        classes: runnable node classes, whose ``VALIDATE_INPUTS`` is called as ComfyUI does.
        source: the file name for messages.
        require_outputs: report a prompt with no output node (``prompt_no_outputs``).
        only: check the inputs of these nodes only (those a run will execute); None = all.

    A combo of a node that cannot run here (not in ``classes``) accepts a value that names a file
    (``ae.safetensors``): its options list the model folders of the machine the catalogue came from,
    not of the user's.
    """
    if not isinstance(prompt, Mapping) or not prompt:
        return [ValidationIssue("invalid_prompt", "a prompt is a non-empty JSON object of node id -> node", source)]
    classes = classes or {}
    live_specs: dict[str, NodeSpec | str] = {}
    issues: list[ValidationIssue] = []
    for node_id in sorted(prompt, key=_id_order):
        entry = prompt[node_id]
        if not isinstance(entry, Mapping) or "class_type" not in entry or not isinstance(entry.get("inputs", {}), Mapping):
            issues.append(ValidationIssue("invalid_prompt", "a node needs 'class_type' and an 'inputs' object", source, str(node_id)))
            continue
        spec = catalogue.get(entry["class_type"])
        if spec is None:
            # ComfyUI 0.8.0 rejects the whole prompt with invalid_prompt: "Cannot execute because node X does not exist."
            issues.append(ValidationIssue(
                "invalid_prompt", f"node type {entry['class_type']!r} does not exist (a missing custom node pack?)", source, str(node_id), entry["class_type"],
            ))
            continue
        if only is None or str(node_id) in only:
            node_class = classes.get(spec.name)
            if node_class is not None:
                if spec.name not in live_specs:
                    live_specs[spec.name] = _live_spec(spec, node_class)
                spec = live_specs[spec.name]
                if isinstance(spec, str):
                    issues.append(ValidationIssue("exception_during_validation", spec, source, str(node_id), entry["class_type"]))
                    continue
            issues += _validate_node(str(node_id), entry, spec, prompt, catalogue, node_class, source, node_class is not None)
    issues += _cycles(prompt, source)
    if require_outputs and not any(
        isinstance(e, Mapping) and (s := catalogue.get(e.get("class_type"))) is not None and s.output_node for e in prompt.values()
    ):
        issues.append(ValidationIssue("prompt_no_outputs", "the prompt has no output node, so nothing would run", source))
    return issues


def _live_spec(spec: NodeSpec, node_class: type) -> NodeSpec | str:
    """The interface a runnable class declares now (its file lists read from the current folders),
    or why ``INPUT_TYPES`` failed."""
    try:
        return NodeSpec.from_class(spec.name, node_class, spec.display_name)
    except Exception as exc:  # noqa: BLE001 - a pack's broken INPUT_TYPES is a finding, not a crash
        return f"INPUT_TYPES raised {type(exc).__name__}: {exc}"


def _id_order(node_id: Any) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(node_id).split(":"))


def _validate_node(node_id, entry, spec: NodeSpec, prompt, catalogue, node_class, source, runnable: bool) -> list[ValidationIssue]:
    inputs = entry.get("inputs", {})
    issues = []
    custom = _custom_validated_inputs(node_class)

    def issue(kind, message, name=None):
        issues.append(ValidationIssue(kind, message, source, node_id, spec.name, name))

    for inp in spec.inputs:
        if inp.section == "hidden":
            continue
        if inp.name not in inputs:
            if inp.section == "required":
                issue("required_input_missing", "required input is missing", inp.name)
            continue
        value = inputs[inp.name]
        if is_link(value):
            _check_link(value, inp, prompt, catalogue, issue)
        elif inp.name not in custom:
            _check_value(_unbox(value), inp, issue, listed_elsewhere=not runnable)
    if node_class is not None and hasattr(node_class, "VALIDATE_INPUTS"):
        _run_custom_validation(node_class, inputs, spec, prompt, catalogue, issue)
    return issues


def _unbox(value: Any) -> Any:
    if isinstance(value, Mapping) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


def _check_link(value, inp: InputSpec, prompt, catalogue, issue) -> None:
    if len(value) != 2 or not isinstance(value[0], (str, int)) or isinstance(value[1], bool) or not isinstance(value[1], int):
        issue("bad_linked_input", f"a link must be [node_id, output_index], got {value!r}", inp.name)
        return
    origin_id, slot = str(value[0]), value[1]
    origin = prompt.get(origin_id)
    if not isinstance(origin, Mapping):
        issue("dangling_link", f"linked to node {origin_id}, which is not in the prompt", inp.name)
        return
    origin_spec = catalogue.get(origin.get("class_type"))
    if origin_spec is None:
        return  # reported on the origin node itself
    if not 0 <= slot < len(origin_spec.outputs):
        issue("dangling_link", f"linked to output {slot} of node {origin_id} ({origin_spec.name}), which has {len(origin_spec.outputs)} output(s)", inp.name)
        return
    received = origin_spec.outputs[slot].type
    expected = inp.type
    if not types_match(received, expected):
        issue("return_type_mismatch", f"node {origin_id} ({origin_spec.name}) output {slot} gives {received}, but this input takes {expected}", inp.name)


FILE_EXTENSIONS = (
    ".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx", ".pkl", ".yaml", ".json",
    ".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".mp4", ".webm", ".mov", ".mkv",
    ".wav", ".mp3", ".flac", ".ogg", ".glb", ".obj", ".npy", ".npz",
)


def _names_a_file(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(FILE_EXTENSIONS)


def _check_value(value: Any, inp: InputSpec, issue, listed_elsewhere: bool = False) -> None:
    """``listed_elsewhere``: the combo's options come from the catalogue's machine, not this one."""
    kind = inp.type
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            issue("invalid_input_type", f"expected an integer, got {value!r}", inp.name)
            return
    elif kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            issue("invalid_input_type", f"expected a finite number, got {value!r}", inp.name)
            return
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            issue("invalid_input_type", f"expected true or false, got {value!r}", inp.name)
        return
    elif kind == "STRING":
        if not isinstance(value, str):
            issue("invalid_input_type", f"expected a string, got {value!r}", inp.name)
        return
    elif kind == "COMBO":
        choices = inp.choices or ()
        if listed_elsewhere and (_names_a_file(value) or not choices):
            return
        if inp.options.get("multiselect") or value in choices:
            return
        if not choices:
            issue("value_not_in_list", f"{value!r} is not an option: the list of options is empty", inp.name)
        else:
            shown = ", ".join(repr(c) for c in list(choices)[:8]) + (", ..." if len(choices) > 8 else "")
            issue("value_not_in_list", f"{value!r} is not one of {shown}", inp.name)
        return
    else:
        issue("invalid_input_type", f"a {kind} input must be linked to a node output, got the value {value!r}", inp.name)
        return
    low, high = inp.options.get("min"), inp.options.get("max")
    if low is not None and value < low:
        issue("value_smaller_than_min", f"{value!r} is smaller than the minimum {low!r}", inp.name)
    if high is not None and value > high:
        issue("value_bigger_than_max", f"{value!r} is bigger than the maximum {high!r}", inp.name)


def _custom_validated_inputs(node_class) -> set[str]:
    validate = getattr(node_class, "VALIDATE_INPUTS", None)
    if validate is None:
        return set()
    return set(inspect.signature(validate).parameters) - {"cls", "self", "input_types"}


def _run_custom_validation(node_class, inputs, spec: NodeSpec, prompt, catalogue, issue) -> None:
    """ComfyUI calls VALIDATE_INPUTS with the literal values it asks for (linked inputs are not
    known yet) and, if it asks, ``input_types`` of the linked ones."""
    validate = node_class.VALIDATE_INPUTS
    wanted = _custom_validated_inputs(node_class)
    params = inspect.signature(validate).parameters
    arguments = {name: _unbox(inputs[name]) for name in wanted if name in inputs and not is_link(inputs[name])}
    if "input_types" in params:
        types = {}
        for name, value in inputs.items():
            if is_link(value) and len(value) == 2:
                origin = prompt.get(str(value[0]))
                origin_spec = catalogue.get(origin.get("class_type")) if isinstance(origin, Mapping) else None
                if origin_spec is not None and isinstance(value[1], int) and 0 <= value[1] < len(origin_spec.outputs):
                    types[name] = origin_spec.outputs[value[1]].type
        arguments["input_types"] = types
    try:
        result = validate(**arguments)
    except Exception as exc:  # noqa: BLE001 - the node's own validation failing is the finding
        issue("exception_during_validation", f"VALIDATE_INPUTS raised {type(exc).__name__}: {exc}", next(iter(wanted)) if len(wanted) == 1 else None)
        return
    if result is not True:
        # ComfyUI names the validated input when VALIDATE_INPUTS looks at one.
        issue("custom_validation_failed", str(result), next(iter(wanted)) if len(wanted) == 1 else None)


def _cycles(prompt: Mapping, source: str) -> list[ValidationIssue]:
    """Links that close a loop: ComfyUI cannot order such a graph."""
    edges = {str(k): sorted({str(v[0]) for v in (e.get("inputs") or {}).values() if is_link(v) and len(v) == 2 and str(v[0]) in prompt})
             for k, e in prompt.items() if isinstance(e, Mapping)}
    state: dict[str, int] = {}
    issues = []
    for start in sorted(edges, key=_id_order):
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(child) == 1:
                loop = path[path.index(child):] + [child]
                entry = prompt[child]
                issues.append(ValidationIssue(
                    "cycle", "the links form a loop: " + " <- ".join(loop), source, child, entry.get("class_type"),
                ))
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(edges.get(child, []))))
                path.append(child)
    return issues
