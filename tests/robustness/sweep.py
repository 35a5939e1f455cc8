"""The bad-input sweep: every public name of the library is called with generated bad and edge
inputs, and every call is classified.

An *entry* says how to make one valid call of a public name and what kind each argument is; each
kind generates *variants* of that call, one argument changed at a time, each with what must happen:

* ``"error"``: the input is bad; the call must raise ``ValueError``/``TypeError`` whose message names
  the argument (a *clear error*). Returning anything, or another exception, is a failure.
* ``"valid"``: the input is unusual but fine (float64, half precision, a non-contiguous view, a mask of
  ones, an extreme scale of a scale-free input): the call must return a *correct result*: finite where
  the inputs are, and equal to a reference (the same call in float64, or an invariant such as the
  unchanged result of the baseline).
* ``"either"``: a clear error or a correct result are both fine (e.g. a meta tensor).

Every call is also checked for modifying its inputs in place and for running over a time limit.
Outcomes are counted per class; :data:`FAILURES` are the classes that fail the sweep.
"""

from __future__ import annotations

import math
import signal
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch

CLEAR_ERROR = "clear error"
CORRECT = "correct result"
INTERNAL = "internal error"
UNCLEAR = "unclear error"
SILENT_NAN = "silent NaN/Inf"
WRONG = "wrong result"
ACCEPTED = "accepted bad input"
REFUSED = "refused valid input"
MODIFIED = "input modified in place"
SLOW = "over the time limit"

PASSES = (CLEAR_ERROR, CORRECT)
FAILURES = (INTERNAL, UNCLEAR, SILENT_NAN, WRONG, ACCEPTED, REFUSED, MODIFIED, SLOW)
CLASSES = PASSES + FAILURES

TIME_LIMIT_S = 20.0

# Session-wide tallies, printed by tests/robustness/conftest.py.
COUNTS: Counter = Counter()
CALLS_PER_ENTRY: Counter = Counter()
# The command line's sweep (test_cli_sweep.py): runs of the subcommands, in the same classes.
CLI_COUNTS: Counter = Counter()


@dataclass
class Variant:
    """One call: ``arguments`` with one of them (``argument``) changed as ``label`` says."""

    label: str
    argument: str
    arguments: dict
    expect: str  # "error", "valid" or "either"
    check: Callable[[Any], str | None] | None = None  # for a result: None if right, else what is wrong
    names: tuple[str, ...] = ()  # other names a clear error may use for the argument


@dataclass
class Outcome:
    entry: str
    variant: str
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.entry} [{self.variant}]: {self.kind}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Entry:
    """How to call one public name.

    Attributes:
        name: the public name, ``module.attribute``.
        call: called with the variant's arguments as keywords.
        valid: makes fresh arguments of one valid call.
        kinds: the kind of each argument that gets variants (see sweep_sweep_kinds.py).
        result_tensors: the tensors of a result to check (default: every tensor in it).
        reference: the result a valid variant must equal, from its arguments (default: the same call
            with every floating-point tensor in float64).
        compare: (result, reference) -> None if close enough, else what differs.
        half_compare: the same for a float16 input against float64 on its values (default: every
            tensor within half precision's tolerance).
        extra: more variants, from the valid arguments (whole-call cases the kinds do not make).
        note: for a name with nothing to call (a constant, a result type), why.
    """

    name: str
    call: Callable[..., Any] | None = None
    valid: Callable[[], dict] | None = None
    kinds: Mapping[str, Any] = field(default_factory=dict)
    result_tensors: Callable[[Any], list[torch.Tensor]] | None = None
    reference: Callable[[dict], Any] | None = None
    compare: Callable[[Any, Any], str | None] | None = None
    half_compare: Callable[[Any, Any], str | None] | None = None
    extra: Callable[[dict], Iterable[Variant]] | None = None
    note: str = ""

    def variants(self) -> list[Variant]:
        if self.call is None:
            return []
        base = self.valid()
        found = [Variant("baseline", "", base, "valid")]
        for argument, kind in self.kinds.items():
            found += kind.variants(argument, base, self)
        if self.extra is not None:
            found += list(self.extra(base))
        return found


# ---------------------------------------------------------------------------------------------
# Looking at values
# ---------------------------------------------------------------------------------------------


def tensors_in(value: Any, depth: int = 0) -> list[torch.Tensor]:
    """Every tensor in a value: tensors, sequences, mappings, dataclasses and plain objects' fields."""
    if depth > 4:
        return []
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v, depth + 1)]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in tensors_in(v, depth + 1)]
    if isinstance(value, torch.nn.Module):
        return []
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:
        return [t for name in fields for t in tensors_in(getattr(value, name, None), depth + 1)]
    return []


def _snapshot(arguments: Mapping[str, Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    pairs = []
    for tensor in tensors_in(dict(arguments)):
        if tensor.device.type == "meta":
            continue
        pairs.append((tensor, tensor.detach().clone()))
    return pairs


def _same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(torch.equal(torch.nan_to_num(a.detach(), 1.0, 2.0, 3.0), torch.nan_to_num(b, 1.0, 2.0, 3.0))) and bool(
            torch.equal(torch.isnan(a.detach()), torch.isnan(b))
        )
    return bool(torch.equal(a.detach(), b))


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    for t in tensors:
        if t.device.type == "meta" or not (t.is_floating_point() or t.is_complex()):
            continue
        if not bool(torch.isfinite(t.detach()).all()):
            return False
    return True


def to_float64(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().double() if value.is_floating_point() else value
    if isinstance(value, list):
        return [to_float64(v) for v in value]
    if isinstance(value, tuple):
        return tuple(to_float64(v) for v in value)
    if isinstance(value, dict):
        return {k: to_float64(v) for k, v in value.items()}
    return value


def close(rtol: float = 1e-4, atol: float = 1e-6) -> Callable[[Any, Any], str | None]:
    """A comparison of every tensor of a result with the reference's, in float64."""

    def compare(result: Any, reference: Any) -> str | None:
        ours, theirs = tensors_in(result), tensors_in(reference)
        if len(ours) != len(theirs):
            return f"{len(ours)} tensors where the reference has {len(theirs)}"
        if not ours:  # a result without tensors (numbers, text, paths): compared as values
            return None if _plain_equal(result, reference, rtol, atol) else f"{result!r:.120} where the reference is {reference!r:.120}"
        for a, b in zip(ours, theirs):
            if a.shape != b.shape:
                return f"shape {tuple(a.shape)} where the reference has {tuple(b.shape)}"
            if "meta" in (a.device.type, b.device.type):  # no values: the shapes are all there is
                continue
            if not (a.is_floating_point() and b.is_floating_point()):
                if not torch.equal(a.cpu(), b.cpu()):
                    return "values differ from the reference"
                continue
            a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
            both_nan = torch.isnan(a64) & torch.isnan(b64)
            gap = (a64 - b64).abs().masked_fill(both_nan, 0)
            allowed = atol + rtol * b64.abs().masked_fill(both_nan, 0)
            if bool((gap > allowed).any()) or not torch.equal(torch.isnan(a64), torch.isnan(b64)):
                worst = float(gap.max()) if gap.numel() else 0.0
                return f"differs from the reference by up to {worst:.3g}"
        return None

    return compare


def _plain_equal(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= atol + rtol * abs(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_plain_equal(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_plain_equal(a[k], b[k], rtol, atol) for k in a)
    return a == b


DEFAULT_COMPARE = close()


# ---------------------------------------------------------------------------------------------
# Running one call
# ---------------------------------------------------------------------------------------------


class _TimeLimit(Exception):
    pass


def _alarm(*_):
    raise _TimeLimit()


def run_variant(entry: Entry, variant: Variant) -> Outcome:
    """Call ``entry`` with ``variant`` and classify what happened."""
    snapshot = _snapshot(variant.arguments)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # warnings about odd inputs are fine; only outcomes count
            result = entry.call(**variant.arguments)
    except _TimeLimit:
        return Outcome(entry.name, variant.label, SLOW, f"more than {TIME_LIMIT_S:g} s")
    except (ValueError, TypeError) as exc:
        return _classify_error(entry, variant, exc)
    except Exception as exc:  # noqa: BLE001 - what the sweep is here to find
        return Outcome(entry.name, variant.label, INTERNAL, f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    for original, copy in snapshot:
        if not _same_bytes(original, copy):
            return Outcome(entry.name, variant.label, MODIFIED, f"a {tuple(copy.shape)} input changed")
    try:
        return _classify_result(entry, variant, result)
    except Exception as exc:  # noqa: BLE001 - a result that cannot even be looked at
        return Outcome(entry.name, variant.label, WRONG, f"the result cannot be checked: {type(exc).__name__}: {str(exc)[:160]}")


def _classify_result(entry: Entry, variant: Variant, result: Any) -> Outcome:
    outputs = entry.result_tensors(result) if entry.result_tensors else tensors_in(result)
    inputs_finite = all_finite(tensors_in(variant.arguments))
    if inputs_finite and not all_finite(outputs):
        return Outcome(entry.name, variant.label, SILENT_NAN, "the inputs are finite")
    if variant.expect == "error":
        detail = "NaN/Inf in the result" if not all_finite(outputs) else "returned a result"
        return Outcome(entry.name, variant.label, ACCEPTED, detail)
    if variant.check is not None:
        problem = variant.check(result)
        if problem:
            return Outcome(entry.name, variant.label, WRONG, problem)
    return Outcome(entry.name, variant.label, CORRECT)


def _classify_error(entry: Entry, variant: Variant, exc: Exception) -> Outcome:
    message = str(exc)
    if variant.expect == "valid":
        return Outcome(entry.name, variant.label, REFUSED, f"{type(exc).__name__}: {message[:200]}")
    names = (variant.argument, *variant.names)
    if any(name and name in message for name in names):
        return Outcome(entry.name, variant.label, CLEAR_ERROR)
    return Outcome(entry.name, variant.label, UNCLEAR, f"{type(exc).__name__} without {variant.argument!r}: {message[:200]}")


def reference_of(entry: Entry, arguments: dict) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if entry.reference is not None:
            return entry.reference(arguments)
        return entry.call(**to_float64(arguments))


def equal_to_reference(entry: Entry, arguments: dict, compare=None) -> Callable[[Any], str | None]:
    """A check: the result equals the reference computed from ``arguments`` (lazily, once)."""
    compare = compare or entry.compare or DEFAULT_COMPARE
    memo: dict = {}

    def check(result: Any) -> str | None:
        if "value" not in memo:
            memo["value"] = reference_of(entry, arguments)
        return compare(result, memo["value"])

    return check


def sweep(entry: Entry, counts: Counter | None = None) -> list[Outcome]:
    """Every variant of ``entry``, classified and counted (in :data:`COUNTS` unless ``counts`` is
    given); the baseline must be a correct result."""
    counts = COUNTS if counts is None else counts
    outcomes = []
    for variant in entry.variants():
        if variant.expect == "valid" and variant.check is None and variant.label != "baseline":
            variant.check = equal_to_reference(entry, variant.arguments)
        outcome = run_variant(entry, variant)
        outcomes.append(outcome)
        counts[outcome.kind] += 1
        if counts is COUNTS:
            CALLS_PER_ENTRY[entry.name] += 1
    return outcomes


def format_counts(counts: Mapping[str, int] | None = None, title: str | None = None) -> str:
    counts = COUNTS if counts is None else counts
    total = sum(counts.values())
    lines = [title or f"bad-input sweep: {total} calls over {len(CALLS_PER_ENTRY)} public names"]
    for kind in CLASSES:
        marker = "  (failure)" if kind in FAILURES and counts.get(kind) else ""
        lines.append(f"  {kind:<26}{counts.get(kind, 0):>6}{marker}")
    return "\n".join(lines)


def isfinite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
