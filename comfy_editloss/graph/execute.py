"""Execute an API prompt with ComfyUI's semantics, outside ComfyUI.

What ComfyUI's ``execution.py`` does and this reproduces: only the ancestors of output nodes (or of
chosen targets) run, in a dependency order (here deterministic: ready nodes by id); an output that
fails validation is skipped and the others run (the prompt is refused when none is valid); nodes run
under ``torch.inference_mode()``; every output is a list and ``INPUT_IS_LIST``/``OUTPUT_IS_LIST`` map a
node over lists the same way; a node may return ``{"ui": ..., "result": ...}``; hidden inputs
(``PROMPT``, ``EXTRA_PNGINFO``, ``UNIQUE_ID``) are filled in; outputs of unchanged nodes are cached
across runs (``IS_CHANGED`` included), so a re-run executes nothing; a run can be interrupted.

On top of that it checks the data contracts of ComfyUI's and our types at run time (see
:func:`check_output`), that no node modifies its inputs in place, and it reports the first failing
node with its id, type, exception and a summary of its inputs. Outputs of nodes that cannot run here
(the diffusion half of a Kontext workflow) can be injected.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from .catalogue import Catalogue, NodeSpec
from .validate import PromptValidationError, ValidationIssue, node_order, check_prompt, is_link, needed_nodes, output_nodes


class NodeExecutionError(RuntimeError):
    """The first node that failed, with what it was given."""

    def __init__(self, source: str, node_id: str, class_type: str, error: BaseException | str, inputs: Mapping[str, Any] | None = None):
        self.source, self.node_id, self.class_type = source, node_id, class_type
        self.error = error
        self.inputs_summary = {name: describe_value(value) for name, value in (inputs or {}).items()}
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        lines = [f"{source}: node {node_id} ({class_type}) failed: {reason}"]
        lines += [f"    {name}: {summary}" for name, summary in self.inputs_summary.items()]
        super().__init__("\n".join(lines))


class InjectionError(NodeExecutionError, ValueError):
    """An injected output that breaks its type's contract, found before anything runs: bad input
    (a ValueError), raised as the NodeExecutionError of the node it stands for."""

    def __init__(self, source: str, node_id: str, class_type: str, problem: str):
        self.source, self.node_id, self.class_type, self.error, self.inputs_summary = source, node_id, class_type, problem, {}
        Exception.__init__(self, f"{source}: node {node_id} ({class_type}): {problem}")


class Interrupted(RuntimeError):
    pass


class NotRunnableError(RuntimeError, ValueError):
    """Nodes that no loaded pack or host stand-in can run: the workflow needs more than is here
    (a ValueError: the command line and callers treat it as bad input)."""


def injection_target(key: Any, what: str = "inject") -> tuple[str, int]:
    """An ``inject`` key ``(node_id, slot)`` checked: a node id (str or int) and a slot (an int >= 0)."""
    if not isinstance(key, tuple) or len(key) != 2:
        raise TypeError(f"{what} keys must be (node_id, slot) pairs, got {type(key).__name__} {key!r:.80}")
    node_id, slot = key
    if isinstance(node_id, bool) or not isinstance(node_id, (str, int)) or node_id == "":
        raise TypeError(f"{what} key {key!r:.80}: the node id must be a str or an int, got {type(node_id).__name__}")
    if isinstance(slot, bool) or not isinstance(slot, int):
        raise TypeError(f"{what} key {key!r:.80}: the slot must be an int, got {type(slot).__name__} {slot!r}")
    if slot < 0:
        raise ValueError(f"{what} key {key!r:.80}: the slot must be >= 0, got {slot}")
    return str(node_id), slot


def describe_value(value: Any) -> str:
    """A one-line summary of a node input or output: shapes, dtypes and devices, never the data."""
    if isinstance(value, list):
        if len(value) == 1:
            return describe_value(value[0])
        return f"list of {len(value)}: " + ", ".join(describe_value(v) for v in value[:3]) + (", ..." if len(value) > 3 else "")
    if isinstance(value, torch.Tensor):
        return f"tensor {value.dtype} {list(value.shape)} on {value.device}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {describe_value(v)}" for k, v in list(value.items())[:4]) + "}"
    tensor = getattr(value, "tensor", None)
    if isinstance(tensor, torch.Tensor):
        return f"{type(value).__name__}({describe_value(tensor)})"
    values = getattr(value, "values", None)
    if isinstance(values, torch.Tensor):
        return f"{type(value).__name__}({getattr(value, 'name', '')}: {describe_value(values)})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------------
# Type contracts
# ---------------------------------------------------------------------------------------------


def check_output(type_name: str, value: Any, check_range: bool = True) -> str | None:
    """Why ``value`` breaks the contract of ``type_name``, or None. ``check_range`` covers value
    ranges (IMAGE in [0, 1]), which ComfyUI's own resizing may overshoot."""
    if type_name == "IMAGE":
        if not isinstance(value, torch.Tensor):
            return f"IMAGE must be a tensor, got {describe_value(value)}"
        if value.dtype != torch.float32 or value.dim() != 4 or value.shape[-1] != 3 or value.device.type != "cpu":
            return f"IMAGE must be a float32 tensor [B,H,W,3] on the CPU, got {describe_value(value)}"
        if check_range and value.numel() and (float(value.min()) < 0.0 or float(value.max()) > 1.0):
            return f"IMAGE values must be in [0, 1], got [{float(value.min()):.4g}, {float(value.max()):.4g}]"
    elif type_name == "MASK":
        if not isinstance(value, torch.Tensor) or value.dtype != torch.float32 or value.dim() != 3 or value.device.type != "cpu":
            return f"MASK must be a float32 tensor [B,H,W] on the CPU, got {describe_value(value)}"
    elif type_name == "LATENT":
        if not isinstance(value, Mapping) or not isinstance(value.get("samples"), torch.Tensor):
            return f"LATENT must be a dict with a 'samples' tensor, got {describe_value(value)}"
    elif type_name == "FLOAT":
        if not isinstance(value, float):
            return f"FLOAT must be a Python float, got {describe_value(value)}"
    elif type_name == "INT":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"INT must be a Python int, got {describe_value(value)}"
    elif type_name == "BOOLEAN":
        if not isinstance(value, bool):
            return f"BOOLEAN must be True or False, got {describe_value(value)}"
    elif type_name == "STRING":
        if not isinstance(value, str):
            return f"STRING must be a str, got {describe_value(value)}"
    elif type_name == "EDITLOSS_EMBEDDING":
        tensor = getattr(value, "tensor", None)
        if not isinstance(tensor, torch.Tensor) or tensor.dim() < 2:
            return f"EDITLOSS_EMBEDDING must carry a tensor [B, ..., D], got {describe_value(value)}"
    elif type_name == "EDITLOSS_SCORES":
        values = getattr(value, "values", None)
        if not isinstance(values, torch.Tensor) or values.dim() != 1 or values.device.type != "cpu":
            return f"EDITLOSS_SCORES must carry CPU values [B], got {describe_value(value)}"
    return None


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    tensor = getattr(value, "tensor", None)
    if isinstance(tensor, torch.Tensor):
        return [tensor]
    return []


def fingerprint(tensor: torch.Tensor) -> tuple:
    """The dtype, shape and a hash of the bytes of a tensor, to notice a node writing into its
    inputs. Sums would miss an in-place permutation (a flip, a sort, a shuffle) and, in float, small
    changes; the bytes miss nothing and are NaN-safe."""
    data = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(data.reshape(-1).view(torch.uint8).numpy()).hexdigest()  # hashed in place, no copy
    return ("tensor", str(data.dtype), tuple(data.shape), digest)


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run produced. ``outputs[node_id][slot]`` is a list, as ComfyUI stores outputs."""

    outputs: dict[str, tuple[list, ...]] = field(default_factory=dict)
    ui: dict[str, dict] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    # Outputs left out because they fail validation (ComfyUI ignores them and runs the others),
    # with the problems that stop each; not_run: every node that did not run for that reason.
    skipped: dict[str, list[ValidationIssue]] = field(default_factory=dict)
    not_run: dict[str, list[ValidationIssue]] = field(default_factory=dict)

    def output(self, node_id: str | int, slot: int = 0) -> Any:
        """The value of one output; a single item unwrapped, a list as a list. A node left out
        because the outputs that need it fail validation raises their PromptValidationError."""
        if isinstance(node_id, bool) or not isinstance(node_id, (str, int)):
            raise TypeError(f"node_id must be a node id (a str or an int), got {type(node_id).__name__} {node_id!r:.80}")
        if isinstance(slot, bool) or not isinstance(slot, int):
            raise TypeError(f"slot must be an int, got {type(slot).__name__} {slot!r:.80}")
        if str(node_id) in self.not_run:
            raise PromptValidationError(self.not_run[str(node_id)])
        if str(node_id) not in self.outputs:
            ran = ", ".join(sorted(self.outputs, key=node_order)) or "none"
            raise MissingOutputError(f"node_id {str(node_id)!r}: no such node ran (or was injected) in this run; the nodes that did: {ran}")
        outputs = self.outputs[str(node_id)]
        if not 0 <= slot < len(outputs) or outputs[slot] is None:
            if not outputs:
                raise MissingOutputError(f"slot {slot}: node {node_id} has no outputs (an output node: what it shows is in ui[{str(node_id)!r}])")
            if 0 <= slot < len(outputs):
                raise MissingOutputError(f"slot {slot}: output {slot} of node {node_id} was not computed (nor injected)")
            raise MissingOutputError(f"slot {slot}: node {node_id} has output(s) 0 to {len(outputs) - 1}")
        values = outputs[slot]
        return values[0] if len(values) == 1 else values


class MissingOutputError(KeyError, ValueError):
    """RunResult.output of a node or slot the run has no value for (a KeyError, as a dict's)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class _CacheEntry:
    outputs: tuple[list, ...]
    ui: dict | None


class Runner:
    """Runs API prompts with the given node classes; keep one Runner to reuse its cache.

    Args:
        classes: node type -> class, for every node that can run here.
        catalogue: node interfaces for validation; by default the core catalogue plus ``classes``.
        check_contracts: check outputs against their types' contracts and inputs for in-place changes.
        range_checked: node types whose IMAGE outputs must stay in [0, 1] (our own nodes); None = all.
        progress: called as ``progress(node_id, class_type, done, total)`` after each node.
    """

    def __init__(
        self,
        classes: Mapping[str, type],
        catalogue: Catalogue | None = None,
        check_contracts: bool = True,
        range_checked: set[str] | None = None,
        progress: Callable[[str, str, int, int], None] | None = None,
    ) -> None:
        if not isinstance(classes, Mapping):
            raise TypeError(f"classes must be a dict of node type -> node class, got {type(classes).__name__} {classes!r:.80}")
        for name, node_class in classes.items():
            if not isinstance(name, str) or not isinstance(node_class, type):
                raise TypeError(f"classes must map node type names to node classes, got {name!r:.60}: {type(node_class).__name__} {node_class!r:.60}")
        if catalogue is not None and not isinstance(catalogue, Catalogue):
            raise TypeError(f"catalogue must be a Catalogue (or None: the core nodes and classes), got {type(catalogue).__name__} {catalogue!r:.80}")
        if not isinstance(check_contracts, bool):
            raise TypeError(f"check_contracts must be True or False, got {type(check_contracts).__name__} {check_contracts!r:.80}")
        if range_checked is not None:
            if isinstance(range_checked, (str, bytes)) or not isinstance(range_checked, (set, frozenset, list, tuple)) or not all(isinstance(n, str) for n in range_checked):
                raise TypeError(f"range_checked must be a set of node type names (or None: every node), got {type(range_checked).__name__} {range_checked!r:.80}")
            range_checked = set(range_checked)
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be a function progress(node_id, class_type, done, total) or None, got {type(progress).__name__} {progress!r:.80}")
        self.classes = dict(classes)
        self.catalogue = catalogue if catalogue is not None else Catalogue.core().with_classes(self.classes)
        self.check_contracts = check_contracts
        self.range_checked = range_checked
        self.progress = progress
        # As ComfyUI's classic cache: per node id, the outputs of its last run and the signature of
        # the inputs they came from; a changed signature replaces them, so memory stays bounded.
        self._cache: dict[str, tuple[Any, _CacheEntry]] = {}
        self._instances: dict[str, Any] = {}
        self._interrupt = threading.Event()

    def interrupt(self) -> None:
        """Stop the running prompt before its next node (callable from another thread)."""
        self._interrupt.set()

    def clear_cache(self) -> None:
        self._cache.clear()

    def run(
        self,
        prompt: Mapping[str, Mapping],
        targets: list[str] | None = None,
        inject: Mapping[tuple[str, int], Any] | None = None,
        extra_pnginfo: Mapping[str, Any] | None = None,
        source: str = "<prompt>",
        validate: bool = True,
    ) -> RunResult:
        """Run the output nodes of ``prompt`` (or ``targets``) and everything they need.

        Args:
            inject: ``{(node_id, slot): value}`` outputs given instead of computed; the node does not run.
            validate: check the prompt first, and cast its numbers as ComfyUI does (``prompt`` itself
                is not modified); without it, widget values reach the nodes as they are.
        """
        self._interrupt.clear()
        if not isinstance(validate, bool):
            raise TypeError(f"validate must be True or False, got {type(validate).__name__} {validate!r:.80}")
        if extra_pnginfo is not None and not isinstance(extra_pnginfo, Mapping):
            raise TypeError(f"extra_pnginfo must be a dict (what SaveImage embeds) or None, got {type(extra_pnginfo).__name__} {extra_pnginfo!r:.80}")
        if inject is not None and not isinstance(inject, Mapping):
            raise TypeError(f"inject must be a dict of (node_id, slot) -> value, got {type(inject).__name__} {inject!r:.80}")
        if targets is not None and (isinstance(targets, (str, bytes)) or not isinstance(targets, (list, tuple))):
            raise TypeError(f"targets must be a list of node ids, got {type(targets).__name__} {targets!r:.80}")
        if not isinstance(prompt, Mapping):
            raise TypeError(f"{source}: prompt must be an API prompt (a dict of node id -> node), got {type(prompt).__name__} {prompt!r:.80}")
        if validate:
            from .convert import ConversionError, check_depth  # noqa: PLC0415

            try:
                check_depth(prompt, source)
            except ConversionError as exc:
                raise ValueError(f"prompt: {exc}") from None
        inject = {injection_target(k): v for k, v in (inject or {}).items()}
        injected_nodes = {node_id for node_id, _ in inject}
        for node_id in injected_nodes:
            if node_id not in prompt:
                raise ValueError(f"{source}: cannot inject outputs of node {node_id}: it is not in the prompt")
        if targets is None:
            targets = self._output_nodes(prompt)
        targets = [str(t) for t in targets]
        for target in targets:
            if target not in prompt:
                raise ValueError(f"{source}: targets: node {target} is not in the prompt")
        self._check_injected(prompt, inject, source)
        check = None
        if validate:
            check = check_prompt(prompt, self.catalogue, self.classes, source, outputs=targets, stop_at=injected_nodes)
            if check.refused:
                raise PromptValidationError(check.issues)
            # As ComfyUI: the outputs that fail validation are left out and the others run, with
            # the cast values (what the nodes get, and the PROMPT they see).
            prompt, targets = check.prompt, check.valid_outputs
        order = self._order(prompt, targets, injected_nodes)
        not_runnable = [n for n in order if n not in injected_nodes and prompt[n]["class_type"] not in self.classes]
        if not_runnable:
            names = ", ".join(f"{n} ({prompt[n]['class_type']})" for n in not_runnable)
            raise NotRunnableError(
                f"{source}: node(s) {names} cannot run here (not in the loaded packs or the host stand-ins); "
                "inject their outputs instead (--inject NODE:SLOT=FILE)"
            )
        result = RunResult()
        if check is not None:
            result.skipped = check.failed
            for output, issues in check.failed.items():
                for node_id in check.needed[output] - set(order):
                    known = result.not_run.setdefault(node_id, [])
                    known += [i for i in issues if i not in known]
        keys: dict[str, Any] = {}
        values: dict[str, tuple[list, ...]] = {}
        with torch.inference_mode():
            for done, node_id in enumerate(order, 1):
                if self._interrupt.is_set():
                    raise Interrupted(f"{source}: interrupted before node {node_id} ({prompt[node_id]['class_type']})")
                entry = prompt[node_id]
                if node_id in injected_nodes:
                    values[node_id] = self._injected(node_id, entry, inject)
                    keys[node_id] = ("injected", node_id, content_key(values[node_id]))
                    if self.progress is not None:
                        self.progress(node_id, entry["class_type"] + " (injected)", done, len(order))
                    continue
                node_class = self.classes[entry["class_type"]]
                spec = self.catalogue.get(entry["class_type"]) or NodeSpec.from_class(entry["class_type"], node_class)
                key = self._cache_key(node_id, entry, node_class, keys, source)
                keys[node_id] = key
                stored = self._cache.get(node_id)
                cached = stored[1] if stored is not None and stored[0] == key else None
                if cached is not None:
                    values[node_id] = cached.outputs
                    if cached.ui is not None:
                        result.ui[node_id] = cached.ui
                    result.cached.append(node_id)
                else:
                    outputs, ui = self._execute(node_id, entry, node_class, spec, values, prompt, extra_pnginfo, source)
                    values[node_id] = outputs
                    self._cache[node_id] = (key, _CacheEntry(outputs, ui))
                    if ui is not None:
                        result.ui[node_id] = ui
                    result.executed.append(node_id)
                if self.progress is not None:
                    self.progress(node_id, entry["class_type"], done, len(order))
        result.outputs = values
        return result

    # -- planning ------------------------------------------------------------------------------

    def _output_nodes(self, prompt) -> list[str]:
        return output_nodes(prompt, self.catalogue, self.classes)

    @staticmethod
    def _order(prompt, targets: list[str], stop_at: set[str]) -> list[str]:
        """Ancestors of the targets (not above injected nodes), each after what it needs; among
        nodes that are ready, the lowest id first."""
        needed = needed_nodes(prompt, targets, stop_at)
        depends = {
            n: ({str(v[0]) for v in prompt[n].get("inputs", {}).values() if is_link(v) and str(v[0]) in needed} if n not in stop_at else set())
            for n in needed
        }
        users: dict[str, list[str]] = {n: [] for n in needed}
        for n, sources in depends.items():
            for source in sources:
                users[source].append(n)
        waiting = {n: len(sources) for n, sources in depends.items()}
        ready = [(node_order(n), n) for n, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, node_id = heapq.heappop(ready)
            order.append(node_id)
            for user in users[node_id]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (node_order(user), user))
        if len(order) < len(needed):
            raise ValueError("the prompt's links form a loop")
        return order

    def _check_injected(self, prompt, inject, source) -> None:
        """Every injected value checked before anything runs: a slot the node has, a value that
        keeps its type's contract."""
        for (node_id, slot), value in inject.items():
            entry = prompt[node_id]
            class_type = entry.get("class_type") if isinstance(entry, Mapping) else None
            spec = self.catalogue.get(class_type) if isinstance(class_type, str) else None
            if spec is None:
                continue  # an unknown node type: validation reports it
            if slot >= len(spec.outputs):
                raise InjectionError(source, node_id, class_type, f"cannot inject output {slot}: it has {len(spec.outputs)} output(s)")
            if self.check_contracts:
                problem = check_output(spec.outputs[slot].type, value)
                if problem:
                    raise InjectionError(source, node_id, class_type, f"injected output {slot}: {problem}")

    def _injected(self, node_id, entry, inject) -> tuple[list, ...]:
        spec = self.catalogue.get(entry["class_type"])
        count = len(spec.outputs) if spec else 1 + max(slot for (n, slot) in inject if n == node_id)
        outputs = []
        for slot in range(count):
            if (node_id, slot) in inject:  # checked before the run began (_check_injected)
                outputs.append([inject[(node_id, slot)]])
            else:
                outputs.append(None)  # not injected: an error if a node needs it
        return tuple(outputs)

    def _cache_key(self, node_id, entry, node_class, keys, source):
        parts = []
        for name in sorted(entry.get("inputs", {})):
            value = entry["inputs"][name]
            if is_link(value):
                parts.append((name, "link", keys.get(str(value[0])), int(value[1])))
            else:
                parts.append((name, "value", _freeze(value)))
        changed = None
        if hasattr(node_class, "IS_CHANGED"):
            literal = {k: v for k, v in entry.get("inputs", {}).items() if not is_link(v)}
            try:
                changed = _call_with_accepted(node_class.IS_CHANGED, literal)
            except Exception as exc:  # noqa: BLE001 - a failing IS_CHANGED forces a re-run, as in ComfyUI
                changed = ("failed", repr(exc), object())
            if isinstance(changed, float) and math.isnan(changed):
                changed = object()  # NaN: always changed
        hidden_unique = node_id if _hidden_kinds(node_class) & {"UNIQUE_ID", "PROMPT"} else None
        return (entry["class_type"], tuple(parts), _freeze(changed), hidden_unique)

    # -- one node ------------------------------------------------------------------------------

    def _execute(self, node_id, entry, node_class, spec: NodeSpec, values, prompt, extra_pnginfo, source):
        inputs: dict[str, list] = {}
        for name, value in entry.get("inputs", {}).items():
            if spec.input(name) is None and name not in _hidden_inputs(node_class):
                continue  # frontend-only extras (PreviewAny's preview text); ComfyUI ignores them too
            if is_link(value):
                origin, slot = str(value[0]), int(value[1])
                produced = values[origin][slot] if slot < len(values[origin]) else None
                if produced is None:
                    raise NodeExecutionError(source, node_id, entry["class_type"], f"input {name!r} needs output {slot} of node {origin}, which was not injected")
                inputs[name] = produced
            else:
                inputs[name] = [_unbox(value)]
        for name, kind in _hidden_inputs(node_class).items():
            inputs[name] = [{"PROMPT": dict(prompt), "EXTRA_PNGINFO": dict(extra_pnginfo or {}), "UNIQUE_ID": node_id}.get(kind)]
        before = {name: [fingerprint(t) for t in _tensors(v)] for name, v in inputs.items()} if self.check_contracts else {}
        instance = self._instances.get(node_id)
        if instance is None or type(instance) is not node_class:
            instance = node_class()
            self._instances[node_id] = instance
        function = getattr(instance, node_class.FUNCTION)
        try:
            results, uis = _map_over_lists(node_class, function, inputs)
        except (Interrupted, NodeExecutionError):
            raise
        except Exception as exc:
            raise NodeExecutionError(source, node_id, entry["class_type"], exc, inputs) from exc
        if self.check_contracts:
            for name, v in inputs.items():
                if [fingerprint(t) for t in _tensors(v)] != before[name]:
                    raise NodeExecutionError(source, node_id, entry["class_type"], f"modified its input {name!r} in place", inputs)
        outputs = _merge_outputs(node_class, results, len(spec.outputs))
        if self.check_contracts:
            check_range = self.range_checked is None or entry["class_type"] in self.range_checked
            for slot, (out_spec, produced) in enumerate(zip(spec.outputs, outputs)):
                for item in produced:
                    problem = check_output(out_spec.type, item, check_range)
                    if problem:
                        raise NodeExecutionError(source, node_id, entry["class_type"], f"output {slot} ({out_spec.name}): {problem}", inputs)
        return outputs, _merge_ui(uis)


def content_key(value: Any) -> Any:
    """A hashable key of a value's content, tensors included (their bytes are hashed)."""
    if isinstance(value, torch.Tensor):
        return fingerprint(value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), content_key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(content_key(v) for v in value)
    tensor = getattr(value, "tensor", None)
    if isinstance(tensor, torch.Tensor):
        return (type(value).__name__, content_key(tensor), repr(getattr(value, "encoder", None)))
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _unbox(value: Any) -> Any:
    if isinstance(value, Mapping) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


_HIDDEN: dict[type, dict[str, str]] = {}


def _hidden_inputs(node_class) -> dict[str, str]:
    """A class's hidden inputs (memoized: INPUT_TYPES may list files on every call)."""
    if node_class not in _HIDDEN:
        hidden = node_class.INPUT_TYPES().get("hidden") or {}
        _HIDDEN[node_class] = {name: (kind if isinstance(kind, str) else kind[0]) for name, kind in hidden.items()}
    return _HIDDEN[node_class]


def _hidden_kinds(node_class) -> set[str]:
    return set(_hidden_inputs(node_class).values())


def _call_with_accepted(function, arguments: Mapping[str, Any]):
    import inspect  # noqa: PLC0415

    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return function(**arguments)
    return function(**{k: v for k, v in arguments.items() if k in params})


def _map_over_lists(node_class, function, inputs: Mapping[str, list]):
    """ComfyUI's _map_node_over_list: call once with whole lists (INPUT_IS_LIST) or once per index,
    shorter lists repeating their last item."""
    if getattr(node_class, "INPUT_IS_LIST", False):
        calls = [dict(inputs)]
    else:
        longest = max((len(v) for v in inputs.values()), default=0)
        if longest == 0:
            calls = [{}]
        else:
            calls = [{k: v[i if i < len(v) else -1] for k, v in inputs.items() if v} for i in range(longest)]
    results, uis = [], []
    for arguments in calls:
        returned = function(**arguments)
        if isinstance(returned, Mapping):
            if returned.get("ui") is not None:
                uis.append(returned["ui"])
            returned = returned.get("result", ())
        if returned is None:
            returned = ()
        if not isinstance(returned, tuple):
            raise TypeError(f"{node_class.__name__}.{node_class.FUNCTION} must return a tuple or a dict with 'result', got {type(returned).__name__}")
        results.append(returned)
    return results, uis


def _merge_outputs(node_class, results: list[tuple], count: int) -> tuple[list, ...]:
    is_list = tuple(getattr(node_class, "OUTPUT_IS_LIST", None) or (False,) * count)
    merged: list[list] = [[] for _ in range(count)]
    for returned in results:
        if len(returned) != count:
            raise TypeError(f"{node_class.__name__} returned {len(returned)} value(s) for {count} output(s)")
        for slot, value in enumerate(returned):
            if is_list[slot]:
                merged[slot].extend(value)
            else:
                merged[slot].append(value)
    return tuple(merged)


def _merge_ui(uis: list[Mapping]) -> dict | None:
    if not uis:
        return None
    merged: dict[str, list] = {}
    for ui in uis:
        for key, value in ui.items():
            merged.setdefault(key, []).extend(value if isinstance(value, (list, tuple)) else [value])
    return merged
