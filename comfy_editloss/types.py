"""Data types that the ComfyUI nodes pass between each other (``EDITLOSS_*`` socket types).

They live in the library, not in ``nodes/``, so that training scripts, the headless runner and
report code can build and read them without ComfyUI. They compare by identity (``eq=False``): an
elementwise tensor comparison has no single truth value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch

from ._checks import check_bool, check_embedding, check_float_tensor, check_same_device, check_unit_range, describe, finite_or_raise

EMBEDDING_TYPE = "EDITLOSS_EMBEDDING"
SCORES_TYPE = "EDITLOSS_SCORES"

__all__ = ["DEPTH_SPACES", "DEPTH_TYPE", "EMBEDDING_TYPE", "SCORES_TYPE", "Depth", "Embedding", "Scores"]

_FLOAT32_MAX = torch.finfo(torch.float32).max


def _check_text(value: object, name: str) -> str:
    """A name shown in reports: a non-empty ``str``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {describe(value)}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _check_fits_float32(x: torch.Tensor, name: str) -> None:
    """Finite values that float32 cannot hold would become Inf when stored as float32; NaN and Inf
    themselves pass (where they are allowed, they keep their meaning)."""
    if x.device.type == "meta" or x.dtype.itemsize <= 4:
        return
    values = x.detach()
    finite = values[torch.isfinite(values)].abs()
    if finite.numel() and float(finite.max()) > _FLOAT32_MAX:
        raise ValueError(f"{name} holds magnitudes up to {float(finite.max()):g}, beyond float32: scale them down")


@dataclass(frozen=True, eq=False)
class Embedding:
    """An ``EDITLOSS_EMBEDDING``: features of a batch of images.

    Attributes:
        tensor: ``[B, D]`` (global) or ``[B, h, w, D]`` (a grid of patch/latent features, row-major
            over the image) or any ``[B, ..., D]``.
        encoder: what made it (e.g. ``"vae_latent"``), shown in reports and error messages.
        normalized: whether every feature vector is already unit-norm.

    NaN and Inf are refused (every loss would refuse them later, far from where they came from).
    """

    tensor: torch.Tensor
    encoder: str = "unknown"
    normalized: bool = False

    def __post_init__(self) -> None:
        check_embedding(self.tensor, "Embedding.tensor")
        finite_or_raise(self.tensor, [("Embedding.tensor", self.tensor)], "Embedding.tensor")
        _check_text(self.encoder, "Embedding.encoder")
        check_bool(self.normalized, "Embedding.normalized")

    @property
    def batch_size(self) -> int:
        return int(self.tensor.shape[0])

    @property
    def grid(self) -> tuple[int, int] | None:
        """``(h, w)`` for a grid embedding ``[B, h, w, D]``, else None."""
        if self.tensor.dim() == 4:
            return int(self.tensor.shape[1]), int(self.tensor.shape[2])
        return None

    def __repr__(self) -> str:
        return (
            f"Embedding(encoder={self.encoder!r}, shape={tuple(self.tensor.shape)}, "
            f"dtype={self.tensor.dtype}, device={self.tensor.device}, normalized={self.normalized})"
        )


@dataclass(frozen=True, eq=False)
class Scores:
    """An ``EDITLOSS_SCORES``: one number per sample (generation), with its meaning.

    Attributes:
        name: short column name, e.g. ``"no_edit_identity"``.
        values: float32 ``[B]`` on the CPU, at least one; NaN or Inf marks a sample without a score
            (a report ranks it last). Finite values beyond float32 are refused.
        lower_is_better: how a report should rank the samples.
        details: the settings that produced the values (margin, distance, encoder...), a mapping
            (kept as a copy).
    """

    name: str
    values: torch.Tensor
    lower_is_better: bool = True
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_text(self.name, "Scores.name")
        check_float_tensor(self.values, "Scores.values")
        if self.values.dim() != 1:
            raise ValueError(f"Scores.values must have shape [B], got {tuple(self.values.shape)}")
        if self.values.shape[0] == 0:
            raise ValueError("Scores.values must hold at least one value (one per sample), got shape (0,)")
        if self.values.device.type == "meta":
            raise ValueError("Scores.values is on the meta device: scores are read as numbers, move them to a real device")
        _check_fits_float32(self.values, "Scores.values")
        check_bool(self.lower_is_better, "Scores.lower_is_better")
        if not isinstance(self.details, Mapping):
            raise TypeError(f"Scores.details must be a mapping of settings, got {describe(self.details)}")
        object.__setattr__(self, "values", self.values.detach().to("cpu", torch.float32))
        object.__setattr__(self, "details", dict(self.details))

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def tolist(self) -> list[float]:
        return [float(v) for v in self.values]

    def __str__(self) -> str:
        order = "lower is better" if self.lower_is_better else "higher is better"
        values = ", ".join(f"{v:.6g}" for v in self.tolist())
        return f"{self.name} ({order}): [{values}]"


DEPTH_TYPE = "EDITLOSS_DEPTH"
DEPTH_SPACES = ("depth", "disparity")


@dataclass(frozen=True, eq=False)
class Depth:
    """An ``EDITLOSS_DEPTH``: depth or disparity maps of a batch of images, never min-max squashed.

    Attributes:
        values: float32 ``[B, 1, H, W]``, at least one pixel (NaN/Inf mark pixels without a value;
            finite values beyond float32 are refused rather than turned into such marks).
        space: ``"depth"`` (larger is farther) or ``"disparity"`` (inverse depth, larger is nearer:
            what MiDaS and Depth Anything give, up to an unknown scale and shift).
        confidence: optional float ``[B, 1, H, W]``, finite and in [0, 1].
        source: where it came from (a file name, ``"image"``...), for reports: a non-empty str.
    """

    values: torch.Tensor
    space: str = "disparity"
    confidence: torch.Tensor | None = None
    source: str = "unknown"

    def __post_init__(self) -> None:
        check_float_tensor(self.values, "Depth.values")
        if self.values.dim() != 4 or self.values.shape[1] != 1:
            raise ValueError(f"Depth.values must have shape [B, 1, H, W], got {tuple(self.values.shape)}")
        if self.values.numel() == 0:
            raise ValueError(f"Depth.values must hold at least one map of at least one pixel, got shape {tuple(self.values.shape)}")
        if self.space not in DEPTH_SPACES:
            raise ValueError(f"Depth.space must be 'depth' or 'disparity', got {self.space!r}")
        _check_fits_float32(self.values, "Depth.values")
        _check_text(self.source, "Depth.source")
        if self.confidence is not None:
            check_float_tensor(self.confidence, "Depth.confidence")
            if tuple(self.confidence.shape) != tuple(self.values.shape):
                raise ValueError(f"Depth.confidence must have the shape of values {tuple(self.values.shape)}, got {tuple(self.confidence.shape)}")
            check_same_device((("Depth.values", self.values), ("Depth.confidence", self.confidence)))
            if self.confidence.device.type != "meta":
                check_unit_range(self.confidence, "Depth.confidence")
            object.__setattr__(self, "confidence", self.confidence.to(torch.float32))
        object.__setattr__(self, "values", self.values.to(torch.float32))

    @property
    def batch_size(self) -> int:
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        if self.values.device.type == "meta":
            span = "on the meta device"
        else:
            finite = self.values[torch.isfinite(self.values)]
            span = f"{float(finite.min()):.4g}..{float(finite.max()):.4g}" if finite.numel() else "no finite value"
        return f"Depth(space={self.space!r}, shape={tuple(self.values.shape)}, range={span}, confidence={self.confidence is not None}, source={self.source!r})"
