"""The sweep's classifier itself: each failure class is recognised on a function made to show it."""

from __future__ import annotations

import math
from collections import Counter

import torch

from sweep import ACCEPTED, CLEAR_ERROR, CORRECT, INTERNAL, MODIFIED, REFUSED, SILENT_NAN, UNCLEAR, WRONG, Entry, Variant, run_variant
from sweep_kinds import TensorArg


def _entry(function):
    return Entry("test.function", function, lambda: dict(x=torch.ones(2, 3)), dict(x=TensorArg()))


def _run(function, x, expect="error", check=None):
    return run_variant(_entry(function), Variant("x: case", "x", dict(x=x), expect, check)).kind


def _checked(x):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite")
    return x.sum()


def test_each_class_is_recognised():
    assert _run(_checked, "no") == CLEAR_ERROR
    assert _run(_checked, torch.ones(2), expect="valid") == CORRECT
    assert _run(lambda x: x[10], torch.ones(2)) == INTERNAL
    assert _run(lambda x: (_ for _ in ()).throw(ValueError("something is wrong")), torch.ones(2)) == UNCLEAR
    assert _run(lambda x: torch.log(x - 2).sum(), torch.ones(2), expect="valid") == SILENT_NAN
    assert _run(lambda x: x.sum(), torch.tensor([1.0, math.nan])) == ACCEPTED
    assert _run(lambda x: x.sum(), torch.ones(2)) == ACCEPTED
    assert _run(_checked, torch.tensor([math.inf]), expect="valid") == REFUSED
    assert _run(lambda x: x.mul_(2).sum(), torch.ones(2), expect="valid") == MODIFIED
    assert _run(lambda x: x.sum(), torch.ones(2), expect="valid", check=lambda r: "off by one" if r != 3 else None) == WRONG


def test_a_function_without_checks_fails_the_tensor_kinds_variants():
    from sweep import FAILURES, sweep  # noqa: PLC0415

    outcomes = {o.variant: o.kind for o in sweep(_entry(lambda x: x.sum()), counts=Counter())}
    assert outcomes["baseline"] == CORRECT
    assert outcomes["x: NaN"] == ACCEPTED and outcomes["x: int64"] == ACCEPTED and outcomes["x: batch 0"] == ACCEPTED
    assert outcomes["x: a string"] == INTERNAL
    assert outcomes["x: x 1e+20"] == CORRECT  # a plain sum is right at any scale
    assert sum(kind in FAILURES for kind in outcomes.values()) >= 8
