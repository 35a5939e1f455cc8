"""Precision of loaded models: the one list of choices and what each means on a device."""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def resolve_precision(precision: str, device: torch.device, auto_on_cuda: str = "bf16") -> str:
    """``fp32``, ``fp16`` or ``bf16`` for a precision choice on ``device``: ``auto`` is
    ``auto_on_cuda`` on CUDA (``"bf16"`` falls back to fp16 where the GPU has no bfloat16) and fp32
    everywhere else (half precision on the CPU is slow and inexact)."""
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    if auto_on_cuda == "bf16" and not torch.cuda.is_bf16_supported():
        return "fp16"
    return auto_on_cuda


def storage_dtype(precision: str, device: torch.device, auto_on_cuda: str = "bf16") -> torch.dtype:
    """The dtype a model is stored and run in (see :func:`resolve_precision`)."""
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[resolve_precision(precision, device, auto_on_cuda)]
