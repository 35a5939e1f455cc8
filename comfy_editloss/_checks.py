"""Argument checks shared by every public function of the library.

Each check raises ``TypeError`` for a value of the wrong kind and ``ValueError`` for a value of the
right kind but the wrong shape or range. Messages name the argument, say what was expected and what
came, so a user reading a traceback from deep inside a training loop knows which call to fix.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from pathlib import Path
from typing import Iterable, Sequence

import torch

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def describe(x: object) -> str:
    """A short description of a value for error messages: shape and dtype for tensors."""
    if isinstance(x, torch.Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)} on {x.device}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of length {len(x)}"
    return f"{type(x).__name__} {x!r}"


def check_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {describe(x)}")
    return x


def check_float_tensor(x: object, name: str) -> torch.Tensor:
    check_tensor(x, name)
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a floating-point tensor (float16, bfloat16, float32 or float64), "
            f"got {x.dtype}"
        )
    return x


def check_embedding(x: object, name: str) -> torch.Tensor:
    """An embedding is a float tensor ``[B, ..., D]`` with at least a batch and a feature dim."""
    check_float_tensor(x, name)
    if x.dim() < 2:
        raise ValueError(
            f"{name} must have shape [B, D], [B, P, D] or [B, ..., D] (at least 2 dims), "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got batch size 0 (shape {tuple(x.shape)})")
    if x.numel() == 0:
        raise ValueError(f"{name} must not have an empty dimension, got shape {tuple(x.shape)}")
    return x


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the same shape as {name_a} {tuple(a.shape)}, got {tuple(b.shape)}; "
            "shapes are never broadcast"
        )


def check_same_device(tensors: Iterable[tuple[str, torch.Tensor]]) -> torch.device:
    items = [(n, t) for n, t in tensors if t is not None]
    device = items[0][1].device
    for n, t in items[1:]:
        if t.device != device:
            raise ValueError(
                f"{n} is on {t.device} but {items[0][0]} is on {device}; move all inputs to one device"
            )
    return device


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _real(value: object, name: str, minimum, maximum, strictly_positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if strictly_positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def _one_element(value: torch.Tensor, name: str) -> torch.Tensor:
    if value.numel() != 1:
        raise ValueError(f"{name} must be one number, got {describe(value)}")
    if value.device.type == "meta":
        raise ValueError(f"{name} must hold a value, got a tensor on the meta device")
    return value


def check_number(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strictly_positive: bool = False,
) -> float:
    """A finite real option as a Python float (a one-element tensor is read as its value).

    A tensor that requires grad is refused: the option is used as a constant, so a learnable value
    would silently get no gradient (the options that can be learned use :func:`check_scalar`).
    """
    if isinstance(value, torch.Tensor):
        _one_element(value, name)
        if value.requires_grad:
            raise TypeError(
                f"{name} must be a plain number here, got a tensor that requires grad: {name} is used as a constant, "
                "so it would get no gradient"
            )
        value = value.item()
    return _real(value, name, minimum, maximum, strictly_positive)


def check_scalar(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strictly_positive: bool = False,
) -> float | torch.Tensor:
    """A finite real option that may be learned: a Python number comes back as a float; a
    one-element floating-point tensor (e.g. an ``nn.Parameter`` temperature) comes back as a 0-dim
    tensor still in the autograd graph, after its value is checked like a number's."""
    if not isinstance(value, torch.Tensor):
        return _real(value, name, minimum, maximum, strictly_positive)
    _one_element(value, name)
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a real number or a floating-point tensor, got {describe(value)}")
    _real(float(value.detach()), name, minimum, maximum, strictly_positive)
    return value.reshape(())


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """An integer option (bool and floats such as 2.5 or 2.0 are refused, not truncated)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_has_values(x: torch.Tensor, name: str) -> torch.Tensor:
    """Refuse a tensor on the meta device where the computation depends on the values (masks found
    by thresholds, empty regions, robust fits): there is no result without them."""
    if x.device.type == "meta":
        raise ValueError(f"{name} is on the meta device: this computation depends on its values, move it to a real device")
    return x


def check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return value


def as_sample_vector(
    x: object, name: str, batch: int, *, minimum: float | None = None, maximum: float | None = None, of: str | None = None
) -> torch.Tensor:
    """A per-sample tensor of shape exactly ``[batch]``: weights, labels, precomputed distances.

    Lists and tuples of numbers are accepted and turned into a tensor. Values must be finite and,
    where bounds are given, inside them. ``of`` names the input whose batch it must match.
    """
    if isinstance(x, (list, tuple)):
        try:
            x = torch.tensor([float(v) for v in x])
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a tensor or a sequence of numbers, got {describe(x)}") from None
    check_tensor(x, name)
    if not (x.dtype == torch.bool or x.dtype in _INT_DTYPES or x.dtype in _FLOAT_DTYPES):
        raise TypeError(f"{name} must hold real numbers, got {x.dtype}")
    if x.dim() != 1 or x.shape[0] != batch:
        whose = f" of {of}" if of else ""
        raise ValueError(f"{name} must have shape [{batch}] (one value per sample{whose}), got {tuple(x.shape)}")
    values = x.detach()
    if values.is_floating_point():
        bad = values[~torch.isfinite(values)]
        if bad.numel():
            raise ValueError(f"{name} must be finite, got {bad[:4].tolist()}")
    if minimum is not None and bool((values < minimum).any()):
        raise ValueError(f"{name} must be >= {minimum:g}, got min {values.min().item():g}")
    if maximum is not None and bool((values > maximum).any()):
        raise ValueError(f"{name} must be <= {maximum:g}, got max {values.max().item():g}")
    return x



def all_finite(x: torch.Tensor) -> torch.Tensor:
    """A 0-dim bool tensor: every value of the floating-point tensor ``x`` is finite (True when it
    is empty), without a device sync. One reduction: the minimum and maximum are NaN where any value
    is, and infinite where one is. ``torch.isfinite(x).all()`` makes four passes over ``x`` and a
    boolean tensor of its size, 40 times slower on the CPU for a 200 MB embedding."""
    if x.numel() == 0:
        return torch.ones((), dtype=torch.bool, device=x.device)
    low, high = torch.aminmax(x.detach())
    return torch.isfinite(low) & torch.isfinite(high)


def finite_or_raise(
    result: torch.Tensor, named: Iterable[tuple[str, torch.Tensor | None]], what: str
) -> torch.Tensor:
    """``result`` if it and every input are finite; else a ``ValueError`` saying why: which input
    holds NaN/Inf (and in which samples), or, when every input is finite, that ``what`` overflows
    the dtype.

    Inputs are checked too, not only the result: an Inf that a hinge absorbs (an infinitely far
    negative) would otherwise pass unseen. All the checks are one reduction and one device sync; the
    inputs are searched only once something is wrong. Meta tensors have no values to check.
    """
    named = [(name, t) for name, t in named if t is not None and t.is_floating_point()]
    if result.device.type == "meta":
        return result
    flags = [all_finite(result)] + [all_finite(t).to(result.device) for _, t in named]
    if bool(torch.stack(flags).all()):
        return result
    largest, largest_name = 0.0, ""
    for name, tensor in named:
        values = tensor.detach()
        bad = ~torch.isfinite(values)
        if bool(bad.any()):
            samples = torch.nonzero(bad.reshape(bad.shape[0], -1).any(dim=1)).flatten().tolist() if bad.dim() else []
            shown = ", ".join(str(s) for s in samples[:8]) + (", ..." if len(samples) > 8 else "")
            raise ValueError(
                f"{name} must be finite, got {int(bad.sum())} NaN/Inf value(s)"
                + (f" in sample(s) {shown}" if samples else "")
            )
        if values.numel() and float(values.abs().max()) > largest:
            largest, largest_name = float(values.abs().max()), name
    raise ValueError(
        f"{what} overflows {result.dtype} although every input is finite ({largest_name} holds magnitudes up to "
        f"{largest:g}): compute in float64, or scale the inputs down"
    )


def check_image(x: object, name: str = "images", channels: tuple[int, ...] = (1, 3, 4), min_size: int = 1) -> torch.Tensor:
    """A ComfyUI IMAGE: a floating-point ``[B, H, W, C]`` tensor with C in ``channels``, at least one
    image of at least ``min_size`` pixels a side, every value finite and in [0, 1].

    Values are needed (a meta tensor is refused): an image out of range (a decoded latent not yet
    clamped, a [0, 255] or [-1, 1] image) would be clamped, thresholded or encoded as something else
    downstream without anyone noticing.
    """
    check_float_tensor(x, name)
    if x.dim() != 4 or x.shape[-1] not in channels:
        allowed = " or ".join(str(c) for c in channels) if len(channels) < 3 else ", ".join(str(c) for c in channels[:-1]) + f" or {channels[-1]}"
        raise ValueError(f"{name} must be an IMAGE [B, H, W, C] with C = {allowed}, got {describe(x)}")
    if x.shape[0] == 0 or x.shape[1] < min_size or x.shape[2] < min_size:
        raise ValueError(f"{name} must hold at least one image of at least {min_size}x{min_size} pixels, got shape {tuple(x.shape)}")
    check_has_values(x, name)
    try:
        check_unit_range(x, name)
    except ValueError as exc:
        if "NaN" in str(exc):
            raise
        raise ValueError(f"{exc}; clamp a decoded image, or divide a 0-255 one by 255") from None
    return x


def check_unit_range(x: torch.Tensor, name: str) -> torch.Tensor:
    """Every value of ``x`` finite and in [0, 1] (an image, a mask, a confidence); one device sync."""
    values = x.detach()
    low, high = torch.stack(torch.aminmax(values.float())).tolist() if values.numel() else (0.0, 0.0)
    if not (low >= 0 and high <= 1):  # NaN fails both
        bad = ~torch.isfinite(values)
        if bool(bad.any()):
            samples = torch.nonzero(bad.reshape(bad.shape[0], -1).any(dim=1)).flatten().tolist() if bad.dim() > 1 else []
            where = f" in sample(s) {samples[:8]}" if samples else ""
            raise ValueError(f"{name} must be finite and in [0, 1], got {int(bad.sum())} NaN/Inf value(s){where}")
        raise ValueError(f"{name} must lie in [0, 1], got values from {low:.4g} to {high:.4g}")
    return x


def check_path(value: object, name: str) -> Path:
    """A file-system path given as ``str`` or ``os.PathLike``. An empty string (which the OS reads as
    the current folder) and a NUL byte (which it cannot pass on) are refused here, by name."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {describe(value)}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {describe(value)}")
    if not text:
        raise ValueError(f"{name} must name a file or folder, got an empty string")
    if "\0" in text:
        raise ValueError(f"{name} must not contain a NUL byte, got {text!r}")
    return Path(text)


def check_file(value: object, name: str, what: str = "file", error: type[ValueError] = ValueError) -> Path:
    """An existing regular file to read, as a ``Path``; ``error`` (a ``ValueError``) names the file.

    Folders, FIFOs, devices and sockets are refused before anything opens them: opening a FIFO
    blocks until a writer comes, and ``/dev/zero`` never ends. A symlink loop and a missing file are
    told apart.
    """
    path, mode = _existing(value, name, what, error)
    if stat.S_ISDIR(mode):
        raise error(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise error(f"{what} {path} is not a regular file (a FIFO, a device or a socket): reading it could block or never end")
    return path


def check_folder(value: object, name: str, what: str = "folder", error: type[ValueError] = ValueError) -> Path:
    """An existing folder, as a ``Path``; ``error`` (a ``ValueError``) names it."""
    path, mode = _existing(value, name, what, error)
    if not stat.S_ISDIR(mode):
        raise error(f"{what} {path} is not a folder")
    return path


def _existing(value: object, name: str, what: str, error: type[ValueError]) -> tuple[Path, int]:
    path = check_path(value, name)
    try:
        return path, path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{what} {path} is a symlink loop") from None
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None


def common_batch(named: dict[str, torch.Tensor]) -> int:
    """The batch of inputs where a batch of 1 stands for every sample (one source image, one mask for a
    batch of generations): their one batch other than 1, or 1; two different ones are an error."""
    batches = {name: t.shape[0] for name, t in named.items()}
    sizes = set(batches.values()) - {1}
    if len(sizes) > 1:
        shown = ", ".join(f"{name} {batch}" for name, batch in batches.items())
        raise ValueError(f"batches differ ({shown}): give each input batch 1 (used for every sample) or the same batch")
    return sizes.pop() if sizes else 1


def check_callback(value: object, name: str) -> None:
    """An optional callback (progress, interrupt check): ``None`` or something callable."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable (or None), got {describe(value)}")
