"""Validate an API-format prompt against the node catalogue, collecting every problem at once.

Problem kinds are ComfyUI's own (``execution.py``: ``validate_inputs``/``validate_prompt``), plus
``dangling_link`` and ``cycle``. Numbers are cast as ComfyUI casts them, with ``int()`` and
``float()`` (``1`` for a ``FLOAT`` becomes ``1.0``, ``"20"`` for an ``INT`` becomes ``20``): that is
the value the node gets, and the prompt holds it afterwards (see ``casts``), as the prompt ComfyUI
stores in a saved PNG does; a value the cast refuses gets ComfyUI's error. It is stricter than
ComfyUI where the cast would change what a value says: an ``INT`` given ``5.7`` or ``true``, a
``BOOLEAN`` given the string ``"false"`` or a ``STRING`` given ``5`` is an error here, where ComfyUI
would run with ``5``, ``1``, ``True`` and ``"5"`` (inputs a node's ``VALIDATE_INPUTS`` checks itself
are cast as ComfyUI does, nothing more).

Combos of nodes that run here are checked against the options their class lists at validation time
(as ComfyUI calls ``INPUT_TYPES`` when it validates), so file lists are those of the runner's input
folder; an empty list holds nothing. Combos of nodes that cannot run here come from the catalogue,
whose file lists are those of the machine it was made on: file names and empty lists are not checked.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

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
    """One problem. ``outputs``: the output nodes it stops (ComfyUI's ``dependent_outputs``), when
    known (see :func:`check_prompt`)."""

    kind: str
    message: str
    source: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None
    outputs: tuple[str, ...] = ()

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
            "dependent_outputs": list(self.outputs),
        }


class PromptValidationError(ValueError):
    def __init__(self, issues: list[ValidationIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass
class PromptCheck:
    """What ComfyUI's ``validate_prompt`` decides about a prompt: each output is validated with the
    nodes it needs, the valid ones run and the others are ignored; the prompt is refused only when
    no output is valid or the prompt itself is broken (a node type that does not exist anywhere in
    it, a node without ``class_type``, no output at all). Nodes no output needs are not checked.

    Attributes:
        outputs: the outputs checked (or a run's targets), in id order.
        issues: every problem found, in node-id order, each with the outputs it stops.
        failed: output -> the problems that stop it.
        needed: output -> the nodes it needs, itself included.
        prompt: a copy of the prompt holding ComfyUI's casts of its values (what the nodes get).
        fatal: the problems of the whole prompt, which refuse it whatever its outputs.
    """

    outputs: list[str] = field(default_factory=list)
    issues: list[ValidationIssue] = field(default_factory=list)
    failed: dict[str, list[ValidationIssue]] = field(default_factory=dict)
    needed: dict[str, set[str]] = field(default_factory=dict)
    prompt: dict[str, dict] = field(default_factory=dict)
    fatal: list[ValidationIssue] = field(default_factory=list)

    @property
    def valid_outputs(self) -> list[str]:
        return [o for o in self.outputs if o not in self.failed] if not self.fatal else []

    @property
    def refused(self) -> bool:
        """Whether ComfyUI would refuse the prompt (nothing would run)."""
        return not self.valid_outputs


def check_prompt(
    prompt: Any,
    catalogue: Catalogue,
    classes: Mapping[str, type] | None = None,
    source: str = "<prompt>",
    outputs: Iterable[str] | None = None,
    stop_at: Iterable[str] = (),
) -> PromptCheck:
    """Validate a prompt output by output, as ComfyUI does before it runs one.

    Args:
        outputs: the nodes to compute (default: every output node of the prompt).
        stop_at: nodes whose outputs are given (injected): neither they nor what they need are checked.

    See :func:`validate_prompt` for the other arguments.
    """
    if not isinstance(prompt, Mapping) or not prompt:
        broken = validate_prompt(prompt, catalogue, classes, source)
        return PromptCheck(issues=broken, fatal=broken)
    stop_at = {str(n) for n in stop_at}
    outputs = sorted({str(o) for o in (output_nodes(prompt, catalogue, classes) if outputs is None else outputs)}, key=node_order)
    needed = {o: needed_nodes(prompt, [o], stop_at) for o in outputs}
    reached = set().union(*needed.values())
    casts: dict[str, dict[str, Any]] = {}
    found = validate_prompt(prompt, catalogue, classes, source, require_outputs=False, only=reached - stop_at, casts=casts)
    found = [i for i in found if i.kind != "cycle" or i.node_id in reached]  # loops no output needs do not matter
    issues = [i if i.kind == "invalid_prompt" else replace(i, outputs=tuple(o for o in outputs if i.node_id in needed[o])) for i in found]
    if not outputs:
        issues.append(ValidationIssue("prompt_no_outputs", "the prompt has no output node, so nothing would run", source))
    fatal = [i for i in issues if i.kind in ("invalid_prompt", "prompt_no_outputs")]
    failed = {o: stopping for o in outputs if (stopping := [i for i in issues if o in i.outputs])}
    return PromptCheck(outputs, issues, failed, needed, with_casts(prompt, casts), fatal)


def output_nodes(prompt: Mapping, catalogue: Catalogue, classes: Mapping[str, type] | None = None) -> list[str]:
    """The prompt's output nodes (``OUTPUT_NODE``), which ComfyUI runs with what they need."""
    found = []
    for node_id, entry in prompt.items():
        class_type = entry.get("class_type") if isinstance(entry, Mapping) else None
        if not isinstance(class_type, str):
            continue
        node_class = (classes or {}).get(class_type)
        spec = catalogue.get(class_type)
        if (node_class is not None and getattr(node_class, "OUTPUT_NODE", False)) or (spec is not None and spec.output_node):
            found.append(str(node_id))
    return found


def needed_nodes(prompt: Mapping, starts: Iterable[str], stop_at: set[str] | frozenset = frozenset()) -> set[str]:
    """The nodes ``starts`` need, themselves included, through links (not above ``stop_at`` nodes)."""
    needed: set[str] = set()
    stack = [str(s) for s in starts]
    while stack:
        node_id = stack.pop()
        if node_id in needed:
            continue
        needed.add(node_id)
        entry = prompt.get(node_id)
        if node_id in stop_at or not isinstance(entry, Mapping) or not isinstance(entry.get("inputs", {}), Mapping):
            continue
        for value in entry.get("inputs", {}).values():
            if is_link(value) and value and str(value[0]) in prompt:
                stack.append(str(value[0]))
    return needed


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
    casts: dict[str, dict[str, Any]] | None = None,
) -> list[ValidationIssue]:
    """Every problem of an API prompt, in node-id order.

    Args:
        prompt: ``{node_id: {"class_type": ..., "inputs": {...}}}``.
        catalogue: node interfaces (see :class:`~comfy_editloss.graph.catalogue.Catalogue`).
        classes: runnable node classes, whose ``VALIDATE_INPUTS`` is called as ComfyUI does.
        source: the file name for messages.
        require_outputs: report a prompt with no output node (``prompt_no_outputs``).
        only: check the inputs of these nodes only (those a run will execute); None = all.
        casts: filled with ``{node_id: {input: value}}``: the values ComfyUI's casts change, to write
            into the prompt before it runs (see :func:`with_casts`).

    A combo of a node that cannot run here (not in ``classes``) accepts a value that names a file
    (``ae.safetensors``): its options list the model folders of the machine the catalogue came from,
    not of the user's.
    """
    if not isinstance(prompt, Mapping) or not prompt:
        return [ValidationIssue("invalid_prompt", "a prompt is a non-empty JSON object of node id -> node", source)]
    classes = classes or {}
    live_specs: dict[str, NodeSpec | str] = {}
    issues: list[ValidationIssue] = []
    for node_id in sorted(prompt, key=node_order):
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
            node_casts = {}
            issues += _validate_node(str(node_id), entry, spec, prompt, catalogue, node_class, source, node_class is not None, node_casts)
            if node_casts and casts is not None:
                casts[str(node_id)] = node_casts
    issues += _cycles(prompt, source)
    if require_outputs and not output_nodes(prompt, catalogue, classes):
        issues.append(ValidationIssue("prompt_no_outputs", "the prompt has no output node, so nothing would run", source))
    return issues


def _live_spec(spec: NodeSpec, node_class: type) -> NodeSpec | str:
    """The interface a runnable class declares now (its file lists read from the current folders),
    or why ``INPUT_TYPES`` failed."""
    try:
        return NodeSpec.from_class(spec.name, node_class, spec.display_name)
    except Exception as exc:  # noqa: BLE001 - a pack's broken INPUT_TYPES is a finding, not a crash
        return f"INPUT_TYPES raised {type(exc).__name__}: {exc}"


def node_order(node_id: Any) -> tuple:
    """Sort key of node ids as ComfyUI orders them: numbers as numbers, subgraph ids (``5:3``) part by part."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(node_id).split(":"))


def with_casts(prompt: Mapping[str, Mapping], casts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    """A copy of ``prompt`` holding the cast values, as ComfyUI writes them back into its prompt."""
    copied = {node_id: dict(entry) if isinstance(entry, Mapping) else entry for node_id, entry in prompt.items()}
    for node_id, values in casts.items():
        copied[node_id]["inputs"] = {**copied[node_id].get("inputs", {}), **values}
    return copied


def _validate_node(node_id, entry, spec: NodeSpec, prompt, catalogue, node_class, source, runnable: bool, casts: dict) -> list[ValidationIssue]:
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
            continue
        typed = _typed_value(_unbox(value), inp, issue, strict=inp.name not in custom)
        if typed is _INVALID:
            continue
        if typed is not value and inp.type in COMFYUI_CASTS:
            casts[inp.name] = typed
        if inp.name not in custom:
            _check_value(typed, inp, issue, listed_elsewhere=not runnable)
    if node_class is not None and hasattr(node_class, "VALIDATE_INPUTS"):
        _run_custom_validation(node_class, {**inputs, **casts}, spec, prompt, catalogue, issue)
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


COMFYUI_CASTS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
_INVALID = object()


def _typed_value(value: Any, inp: InputSpec, issue, strict: bool = True) -> Any:
    """The value ComfyUI hands the node (its cast of a widget value), or ``_INVALID`` after
    reporting why there is none. ``strict``: refuse what the cast would change (the module's
    docstring says which); otherwise only what it cannot cast."""
    kind = inp.type
    cast = COMFYUI_CASTS.get(kind)
    if cast is None:
        if kind != "COMBO" and strict:
            issue("invalid_input_type", f"a {kind} input must be linked to a node output, got the value {value!r}", inp.name)
            return _INVALID
        return value
    if strict and _changed_by_cast(value, kind):
        expected = {"INT": "an integer", "FLOAT": "a finite number", "STRING": "a string", "BOOLEAN": "true or false"}[kind]
        issue("invalid_input_type", f"expected {expected}, got {value!r}", inp.name)
        return _INVALID
    try:
        typed = cast(value)
    except (TypeError, ValueError, OverflowError) as exc:
        issue("invalid_input_type", f"Failed to convert an input value to a {kind} value: {value!r} ({exc})", inp.name)
        return _INVALID
    if strict and kind == "FLOAT" and not math.isfinite(typed):
        issue("invalid_input_type", f"expected a finite number, got {value!r}", inp.name)
        return _INVALID
    return typed


def _changed_by_cast(value: Any, kind: str) -> bool:
    """Whether ComfyUI's cast would change what the value says: 5.7 -> 5, True -> 1, "false" -> True, 5 -> "5"."""
    if kind == "STRING":
        return not isinstance(value, str)
    if kind == "BOOLEAN":
        return not isinstance(value, bool)
    if isinstance(value, bool):
        return True
    return kind == "INT" and isinstance(value, float) and math.isfinite(value) and not value.is_integer()


def _check_value(value: Any, inp: InputSpec, issue, listed_elsewhere: bool = False) -> None:
    """Limits and choices of a value of the input's type. ``listed_elsewhere``: the combo's options
    come from the catalogue's machine, not this one."""
    kind = inp.type
    if kind == "COMBO":
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
    if kind not in ("INT", "FLOAT"):
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
    edges = {str(k): sorted({str(v[0]) for v in e["inputs"].values() if is_link(v) and len(v) == 2 and str(v[0]) in prompt})
             if isinstance(e.get("inputs"), Mapping) else []
             for k, e in prompt.items() if isinstance(e, Mapping)}
    state: dict[str, int] = {}
    issues = []
    for start in sorted(edges, key=node_order):
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
