"""Sweep entries of :mod:`comfy_editloss.depth`: the architecture table, detection and conversion of
state dicts, building and loading the networks, the estimator and its batched runner.

Depth Anything V2 Small is the smallest supported network (25M parameters): its random state dict,
model and file are made once, on first use; the estimator sees one 14 x 14 patch, so a call takes
milliseconds. The state dict is passed as a read-only mapping, which the sweep does not copy per
variant.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

from comfy_editloss import depth as D
from entries_encoders import CallbackArg, DeviceArg, FileArg, ImageArg, ModelArg, save_weights, timm_test_vit_file, with_nan_weight
from sweep_kinds import Choice, Int, fresh, replaced
from sweep import Entry, Variant, close, equal_to_reference

MODULE = "comfy_editloss.depth"
SMALL = D.ARCHITECTURES["depth_anything_v2_vits"]


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _on_meta(arch):
    with torch.device("meta"):
        return D.build_model(arch)


@functools.cache
def meta_state(name: str = SMALL.name) -> dict:
    """The names and shapes of an architecture's state dict, without values."""
    return _on_meta(D.ARCHITECTURES[name]).state_dict()


@functools.cache
def small_state() -> MappingProxyType:
    """Depth Anything V2 Small with random values: normal(0, 0.02), norms' scales 1, and a final bias
    of 0.5 so that the last ReLU lets a depth through."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, value in meta_state().items():
        if key.endswith("norm1.weight") or key.endswith("norm2.weight") or key.endswith("norm.weight"):
            state[key] = torch.ones(value.shape)
        else:
            state[key] = torch.randn(value.shape, generator=generator) * 0.02
    state["depth_head.scratch.output_conv2.2.bias"] = torch.full((1,), 0.5)
    return MappingProxyType(state)


@functools.cache
def small_network():
    return D.model_from_state_dict(small_state())[0]


@functools.cache
def small_file():
    return save_weights(dict(small_state()), "depth_anything_v2_vits.pth")


@functools.cache
def small_estimator():
    return D.DepthEstimator(small_network(), SMALL, input_size=14)


PIXELS = torch.linspace(-1, 1, 2 * 3 * 14 * 14).reshape(2, 3, 14, 14)
PROBE = _rand(2, 9, 13, 3, seed=11)


def network_outputs(result) -> list[torch.Tensor]:
    """What ``model_from_state_dict``'s network makes of fixed pixels (in float32 for weights in
    another dtype: the CPU runs half precision poorly)."""
    network, _ = result
    dtype = next(network.parameters()).dtype
    if dtype not in (torch.float32, torch.float64):
        network, dtype = copy.deepcopy(network).to(torch.float32), torch.float32
    with torch.no_grad():
        return [network(PIXELS.to(dtype))]


def estimator_outputs(estimator) -> list[torch.Tensor]:
    with torch.no_grad():
        return [estimator(PROBE)]


def _compare_by(outputs, rtol=1e-5, atol=1e-6):
    inner = close(rtol=rtol, atol=atol)
    return lambda result, reference: inner(outputs(result), outputs(reference))


def _equal(result, reference):
    return None if result == reference else f"{result!r} != {reference!r}"


# ---------------------------------------------------------------------------------------------
# Argument kinds of this module
# ---------------------------------------------------------------------------------------------


def _error(argument, base, label, value):
    return Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error")


def _unchanged(state):
    """A check: the result holds the same names and the same tensors as ``state``."""

    def check(result):
        if set(result) != set(state) or any(result[k] is not state[k] for k in state):
            return f"names {sorted(result)} where the input has {sorted(state)}, or other tensors"
        return None

    return check


@dataclass
class StateDictArg:
    """A state dict: a mapping of names to tensors.

    Refused always: no mapping (``None``, a list of pairs, a string), an empty one, a name that is
    no string, a value that is no tensor. Another model's state is refused where the layout is read
    (``layout``); a rename must give it back unchanged. ``strict`` (the values are loaded): also a
    missing or an extra tensor, one of the wrong shape, NaN in a weight, integer weights. A mapping
    that is no dict (read-only) must give the same result."""

    strict: bool = False
    layout: bool = True

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        state = base[argument]
        keys = list(state)
        kind = MappingProxyType if isinstance(state, MappingProxyType) else dict

        def changed(mapping: dict) -> Any:
            return kind(mapping)

        first = state[keys[0]]
        out = [
            _error(argument, base, "None", None),
            _error(argument, base, "a list of pairs", list(state.items())[:3]),
            _error(argument, base, "a string", "state_dict.pth"),
            _error(argument, base, "empty", changed({})),
            _error(argument, base, "a name that is no string", changed({**state, 3: first})),
            _error(argument, base, "a value that is no tensor", changed({**state, keys[0]: 1.0})),
        ]
        another = changed({"fc.weight": torch.zeros(2, 2), "fc.bias": torch.zeros(2)})
        if self.layout:
            out.append(_error(argument, base, "another model's", another))
        else:
            out.append(Variant(f"{argument}: another model's", argument, replaced(base, argument, another), "valid", _unchanged(another)))
        if self.strict:
            weight = next(k for k in keys if state[k].is_floating_point() and state[k].dim() >= 2)
            value = state[weight]
            poisoned = value.clone()
            poisoned.view(-1)[0] = float("nan")
            out += [
                _error(argument, base, "a tensor missing", changed({k: v for k, v in state.items() if k != weight})),
                _error(argument, base, "an extra tensor", changed({**state, "pretrained.extra.weight": torch.zeros(2)})),
                _error(argument, base, "a tensor of the wrong shape", changed({**state, weight: torch.zeros(value.shape[0] + 1, *value.shape[1:])})),
                _error(argument, base, "NaN in a weight", changed({**state, weight: poisoned})),
                _error(argument, base, "integer weights", changed({**state, weight: torch.zeros(value.shape, dtype=torch.int64)})),
            ]
        other = dict(state) if kind is MappingProxyType else MappingProxyType(dict(state))
        out.append(Variant(f"{argument}: another mapping type", argument, replaced(base, argument, other), "valid", equal_to_reference(entry, fresh(base))))
        return out


@dataclass
class ArchArg:
    """An entry of :data:`ARCHITECTURES`. Refused: ``None``, its name as a string, its fields as a
    dict, and a changed copy (it describes no supported checkpoint)."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        arch = base[argument]
        bad = [("None", None), ("its name", arch.name), ("a dict", dataclasses.asdict(arch)), ("a changed copy", dataclasses.replace(arch, timm_name="not_a_timm_model"))]
        return [_error(argument, base, label, value) for label, value in bad]


@dataclass
class DtypeArg:
    """A floating-point ``torch.dtype``; anything else is refused. float64 must give the float32
    result to rounding; half precisions must store the weights in them."""

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        bad = [("a string", "fp16"), ("int64", torch.int64), ("bool", torch.bool), ("complex", torch.complex64), ("None", None), ("a Python type", float)]
        out = [_error(argument, base, label, value) for label, value in bad]
        out.append(Variant(f"{argument}: float64", argument, replaced(base, argument, torch.float64), "valid", equal_to_reference(entry, fresh(base), _compare_by(network_outputs, rtol=1e-4, atol=1e-5))))
        for dtype in (torch.float16, torch.bfloat16):

            def check(result, dtype=dtype):
                found = {p.dtype for p in result[0].parameters()}
                return None if found == {dtype} else f"parameters in {found}, not {dtype}"

            out.append(Variant(f"{argument}: {dtype}", argument, replaced(base, argument, dtype), "valid", check))
        return out


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------


def _name(name):
    return f"{MODULE}.{name}"


IMAGE = ImageArg()

ENTRIES = [
    Entry(_name("ARCHITECTURES"), note="constant: the supported checkpoint layouts by name"),
    Entry(_name("PRECISIONS"), note="constant: the weight precisions of load_depth_estimator"),
    Entry(_name("DepthArchitecture"), note="frozen record of one supported layout (the values of ARCHITECTURES); the functions taking one are swept"),
]


def _other_layouts(base):
    for name in ("midas_v21_small_256", "midas_dpt_base_384"):
        yield Variant(f"state: {name}", "state", replaced(base, "state", meta_state(name)), "valid", lambda arch, name=name: None if arch.name == name else f"detected {arch.name}")


ENTRIES.append(Entry(
    _name("detect_architecture"), D.detect_architecture,
    lambda: dict(state=meta_state()),
    dict(state=StateDictArg()),
    compare=_equal,
    extra=_other_layouts,
))
ENTRIES.append(Entry(
    _name("convert_state_dict"), D.convert_state_dict,
    lambda: dict(state={"pretrained.blocks.3.mlp.w12.weight": _rand(4, 2, seed=1), "pretrained.blocks.3.mlp.w3.bias": _rand(2, seed=2), "depth_head.projects.0.bias": _rand(3, seed=3)}, arch=D.ARCHITECTURES["depth_anything_v2_vitg"]),
    dict(state=StateDictArg(layout=False), arch=ArchArg()),
))
ENTRIES.append(Entry(_name("build_model"), _on_meta, lambda: dict(arch=SMALL), dict(arch=ArchArg())))
ENTRIES.append(Entry(
    _name("model_from_state_dict"), D.model_from_state_dict,
    lambda: dict(state=small_state(), dtype=torch.float32, device="cpu"),
    dict(state=StateDictArg(strict=True), dtype=DtypeArg(), device=DeviceArg()),
    result_tensors=network_outputs,
    compare=_compare_by(network_outputs),
))
ENTRIES.append(Entry(
    _name("DepthEstimator"),
    lambda network, arch, input_size, images: D.DepthEstimator(network, arch, input_size)(images),
    lambda: dict(network=small_network(), arch=SMALL, input_size=14, images=_rand(2, 5, 7, 3)),
    dict(network=ModelArg(lambda: torch.nn.Conv2d(3, 1, 1)), arch=ArchArg(), input_size=Int(minimum=14, optional=True), images=IMAGE),
))


def _batches(base):
    calls = []
    arguments = replaced(base, "progress", lambda done, total: calls.append((done, total)))
    arguments["check_interrupt"] = lambda: calls.append("check")

    def check(_):
        return None if calls == ["check", (2, 3), "check", (3, 3)] else f"callbacks {calls}"

    yield Variant("progress: the calls", "progress", arguments, "valid", check)
    for batch_size in (1, 5):
        yield Variant(f"batch_size: {batch_size}", "batch_size", replaced(base, "batch_size", batch_size), "valid", equal_to_reference(ENTRY_ESTIMATE, fresh(base)))


ENTRY_ESTIMATE = Entry(
    _name("estimate_depth"), D.estimate_depth,
    lambda: dict(estimator=small_estimator(), images=_rand(3, 5, 7, 3), batch_size=2, progress=lambda done, total: None, check_interrupt=lambda: None),
    dict(estimator=ModelArg(lambda: torch.nn.Linear(3, 3)), images=IMAGE, batch_size=Int(minimum=1), progress=CallbackArg(), check_interrupt=CallbackArg()),
    extra=_batches,
)
ENTRIES.append(ENTRY_ESTIMATE)


def _loader_extras(base):
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):

        def check(estimator, dtype=dtype):
            found = {p.dtype for p in estimator.parameters()}
            if found != {dtype}:
                return f"parameters in {found}, not {dtype}"
            out = estimator_outputs(estimator)[0]
            return None if out.dtype == torch.float32 and out.shape == (2, 1, 9, 13) else f"output {out.dtype} {tuple(out.shape)}"

        yield Variant(f"precision: {precision}", "precision", replaced(base, "precision", precision), "valid", check)
    yield Variant("precision: auto (fp32 on the CPU)", "precision", replaced(base, "precision", "auto"), "valid", equal_to_reference(ENTRY_LOAD, fresh(base)))
    nan_file = with_nan_weight(small_file())
    yield Variant("checkpoint: NaN in a weight", "checkpoint", replaced(base, "checkpoint", nan_file), "error", names=(str(nan_file),))


ENTRY_LOAD = Entry(
    _name("load_depth_estimator"), D.load_depth_estimator,
    lambda: dict(checkpoint=small_file(), precision="fp32", device="cpu", input_size=14),
    dict(checkpoint=FileArg(other=timm_test_vit_file), precision=Choice(D.PRECISIONS), device=DeviceArg(), input_size=Int(minimum=14, optional=True)),
    result_tensors=estimator_outputs,
    compare=_compare_by(estimator_outputs),
    extra=_loader_extras,
)
ENTRIES.append(ENTRY_LOAD)
