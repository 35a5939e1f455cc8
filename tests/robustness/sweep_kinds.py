"""Argument kinds of the bad-input sweep: each makes the bad and edge variants of one argument.

A kind knows what a value of its sort may look like (a tensor of some rank and range, a number in a
range, an int, one of some choices, a bool, per-sample weights) and generates, from the valid value,
the values that must be refused (with what is wrong named) and those that must be handled correctly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from sweep import Variant, equal_to_reference, reference_of, close, to_float64, tensors_in

HALF_COMPARE = close(rtol=2e-2, atol=2e-3)


def fresh(value: Any) -> Any:
    """A copy of the call's arguments with every tensor cloned (variants never share storage)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad) if value.device.type != "meta" else value
    if isinstance(value, list):
        return [fresh(v) for v in value]
    if isinstance(value, tuple):
        return tuple(fresh(v) for v in value)
    if isinstance(value, dict):
        return {k: fresh(v) for k, v in value.items()}
    return value


def replaced(base: dict, argument: str, value: Any) -> dict:
    arguments = fresh(base)
    arguments[argument] = value
    return arguments


def _poke(x: torch.Tensor, value: float) -> torch.Tensor:
    y = x.detach().clone()
    y.view(-1)[y.numel() // 2] = value
    return y


@dataclass
class TensorArg:
    """A floating-point tensor argument.

    Attributes:
        batch_shared: dim 0 is a batch the other tensors share (a batch of B+1 must be refused).
        optional: ``None`` is a valid value.
        nan: ``"error"`` (NaN/Inf must be refused) or ``"allowed"`` (they mark missing values: the
            result must be finite and equal the float64 reference).
        scale_free: the result does not change when this input is scaled (``1e20`` and ``1e-30``
            must give the baseline); otherwise an extreme scale may be refused as an overflow or must
            give the float64 result.
        minimum, maximum: the values the argument may hold (e.g. 0 and 1 for images and masks).
        bool_ok: a bool tensor is a valid value (masks).
        int_ok: an integer tensor is a valid value (labels).
        half: float16 is a valid input (computed well enough to compare with float64).
        min_dims: the fewest dims a value has (one fewer must be refused).
        empty_ok: a batch of 0 is a valid value.
        zeros: ``"valid"`` or ``"error"`` (an all-zero mask selects nothing).
        names: other names a clear error may use for this argument.
    """

    batch_shared: bool = True
    optional: bool = False
    nan: str = "error"
    scale_free: bool = False
    minimum: float | None = None
    maximum: float | None = None
    bool_ok: bool = False
    int_ok: bool = False
    half: bool = True
    min_dims: int = 2
    empty_ok: bool = False
    zeros: str = "valid"
    names: tuple[str, ...] = ()

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        x = base[argument]
        if x is None:
            return []
        out: list[Variant] = []

        def error(label: str, value: Any) -> None:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, value), "error", names=self.names))

        def valid(label: str, value: Any, check=None, compare=None) -> None:
            arguments = replaced(base, argument, value)
            out.append(Variant(f"{argument}: {label}", argument, arguments, "valid", check or equal_to_reference(entry, arguments, compare), names=self.names))

        def either(label: str, value: Any, check=None) -> None:
            arguments = replaced(base, argument, value)
            out.append(Variant(f"{argument}: {label}", argument, arguments, "either", check, names=self.names))

        error("a list", x.detach().tolist())
        error("a string", "tensor")
        if self.optional:
            valid("None", None)
        else:
            error("None", None)
        if self.int_ok:
            valid("int64", x.detach().round().long())
        else:
            error("int64", x.detach().round().long())
        if self.bool_ok:
            valid("bool", x.detach() > 0.5)
        else:
            error("bool", x.detach() > 0.5)
        error("complex", x.detach().to(torch.complex64))
        if x.dim() >= self.min_dims and self.min_dims > 0:
            # Fewer dims than the argument can have: the leading dims indexed away.
            error(f"{self.min_dims - 1} dims", x.detach()[(0,) * (x.dim() - self.min_dims + 1)].clone())
        if self.batch_shared and x.dim() >= 1 and x.shape[0] >= 1:
            error("batch + 1", torch.cat([x.detach(), x.detach()[:1]]))
        if x.dim() >= 1 and not self.empty_ok:
            error("batch 0", x.detach()[:0].clone())
        for label, value in (("NaN", math.nan), ("+Inf", math.inf), ("-Inf", -math.inf)):
            if self.nan == "error":
                error(label, _poke(x, value))
            else:
                valid(label, _poke(x, value))
        either("meta", torch.empty_like(x, device="meta"))
        if self.maximum is not None:
            error(f"above {self.maximum:g}", _poke(x, self.maximum + 0.5))
        if self.minimum is not None:
            error(f"below {self.minimum:g}", _poke(x, self.minimum - 0.5))
        valid("float64", x.detach().double())
        if self.half:
            half = x.detach().half()
            arguments = replaced(base, argument, half)
            # The reference: the float64 call on the same half-rounded values.
            out.append(Variant(f"{argument}: float16", argument, arguments, "valid", equal_to_reference(entry, arguments, entry.half_compare or HALF_COMPARE)))
        if x.dim() >= 2:
            strided = x.detach().transpose(-1, -2).contiguous().transpose(-1, -2)
            valid("non-contiguous", strided)
        if (self.minimum is None or self.minimum <= 0) and (self.maximum is None or self.maximum >= 0):
            if self.zeros == "valid":
                valid("zeros", torch.zeros_like(x.detach()))
            else:
                error("zeros", torch.zeros_like(x.detach()))
        if self.minimum is None and self.maximum is None:
            for scale in (1e20, 1e-30):
                scaled = x.detach() * scale
                if self.scale_free:
                    valid(f"x {scale:g}", scaled, check=equal_to_reference(entry, fresh(base)))
                else:
                    either(f"x {scale:g}", scaled, check=equal_to_reference(entry, replaced(base, argument, scaled), close(rtol=1e-3, atol=0)))
        return out


@dataclass
class Number:
    """A real option."""

    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    learnable: bool = False
    optional: bool = False

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        value = base[argument]
        out = []
        bad: list[tuple[str, Any]] = [("a string", "1"), ("True", True), ("NaN", math.nan), ("+Inf", math.inf), ("-Inf", -math.inf), ("a list", [1.0])]
        if not self.optional:
            bad.append(("None", None))
        if self.positive:
            bad.append(("0", 0.0))
        if self.minimum is not None:
            bad.append((f"below {self.minimum:g}", self.minimum - 1.0))
        if self.maximum is not None:
            bad.append((f"above {self.maximum:g}", self.maximum + 1.0))
        for label, bad_value in bad:
            out.append(Variant(f"{argument}: {label}", argument, replaced(base, argument, bad_value), "error"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            with_grad = torch.tensor(float(value), dtype=torch.float64, requires_grad=True)
            arguments = replaced(base, argument, with_grad)
            if self.learnable:
                out.append(Variant(f"{argument}: a tensor with grad", argument, arguments, "valid", equal_to_reference(entry, replaced(base, argument, float(value)))))
            else:
                out.append(Variant(f"{argument}: a tensor with grad", argument, arguments, "error"))
            as_int = int(value)
            if as_int == value and (not self.positive or as_int > 0):
                arguments = replaced(base, argument, as_int)
                out.append(Variant(f"{argument}: an int", argument, arguments, "valid", equal_to_reference(entry, fresh(base))))
        return out


@dataclass
class Int:
    """An integer option."""

    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        value = base[argument]
        bad: list[tuple[str, Any]] = [("2.5", 2.5), ("a float equal to it", float(value) if value is not None else 2.0), ("True", True), ("a string", "2")]
        if not self.optional:
            bad.append(("None", None))
        if self.minimum is not None:
            bad.append((f"below {self.minimum}", self.minimum - 1))
        if self.maximum is not None:
            bad.append((f"above {self.maximum}", self.maximum + 1))
        return [Variant(f"{argument}: {label}", argument, replaced(base, argument, v), "error") for label, v in bad]


@dataclass
class Choice:
    """One of some strings."""

    choices: Sequence[str]
    optional: bool = False

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        value = base[argument]
        bad: list[tuple[str, Any]] = [("not a choice", "bogus"), ("a number", 1), ("upper case", str(value).upper() if str(value).upper() not in self.choices else "BOGUS")]
        if not self.optional:
            bad.append(("None", None))
        return [Variant(f"{argument}: {label}", argument, replaced(base, argument, v), "error") for label, v in bad]


@dataclass
class Bool:
    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        bad = [("1", 1), ("a string", "yes"), ("None", None)]
        return [Variant(f"{argument}: {label}", argument, replaced(base, argument, v), "error") for label, v in bad]


@dataclass
class SampleWeights:
    """Per-sample weights ``[B]`` (or labels): finite, within a range, one per sample."""

    minimum: float | None = 0.0
    maximum: float | None = None
    optional: bool = True

    def variants(self, argument: str, base: dict, entry) -> list[Variant]:
        w = base[argument]
        out = []
        if w is None:
            return out
        w = torch.as_tensor(w, dtype=torch.float64)
        bad = [("NaN", _poke(w, math.nan)), ("+Inf", _poke(w, math.inf)), ("one more", torch.cat([w, w[:1]])), ("2-D", w[None]), ("a string", "1")]
        if self.minimum is not None:
            bad.append((f"below {self.minimum:g}", _poke(w, self.minimum - 1.0)))
        if self.maximum is not None:
            bad.append((f"above {self.maximum:g}", _poke(w, self.maximum + 1.0)))
        if not self.optional:
            bad.append(("None", None))
        out += [Variant(f"{argument}: {label}", argument, replaced(base, argument, v), "error") for label, v in bad]
        arguments = replaced(base, argument, [float(v) for v in w])
        out.append(Variant(f"{argument}: a list", argument, arguments, "valid", equal_to_reference(entry, fresh(base))))
        return out


__all__ = ["Bool", "Choice", "Int", "Number", "SampleWeights", "TensorArg", "fresh", "replaced", "reference_of", "to_float64", "tensors_in"]
