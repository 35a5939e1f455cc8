"""What every EditLoss node shares: input specs, tooltips, and the one conversion layer between
ComfyUI's values (IMAGE, MASK, our EDITLOSS_* types) and the library's: :func:`as_image`,
:func:`as_mask`, :func:`as_embedding`, :func:`as_depth`, :func:`as_confidence`, :func:`match_batch`
and :func:`storage_precision`. Every node reads its inputs through these, so each kind of input
gets the same checks and the same messages wherever it is connected.

ComfyUI conventions kept here: a batch-1 reference (one target image, one mask) is used for every
sample of a batch of generations; everything else must match exactly and gets an error naming the
input otherwise. Outputs go back as CPU float32 tensors and plain Python floats.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from ..comfy_editloss._checks import check_float_tensor, check_has_values, check_image, check_unit_range, describe
from ..comfy_editloss.encoders.precision import resolve_precision
from ..comfy_editloss.losses import AGGREGATIONS, DISTANCES
from ..comfy_editloss.types import DEPTH_SPACES, DEPTH_TYPE, EMBEDDING_TYPE, SCORES_TYPE, Depth, Embedding, Scores
from .host import models

CATEGORY_TASK = "editloss/task losses"
CATEGORY_GENERIC = "editloss/generic losses"
CATEGORY_EMBEDDING = "editloss/embeddings"

LOSS_RETURN_TYPES = ("FLOAT", SCORES_TYPE)
LOSS_RETURN_NAMES = ("loss", "scores")
LOSS_OUTPUT_TOOLTIPS = (
    "The batch loss: the mean of the per-sample values.",
    "One value per sample (generation), lower is better; connect it to a report or ranking node.",
)

DIST_TOOLTIP = (
    "Distance between feature vectors: cos = 1 - cosine similarity (scale-free, for CLIP-like "
    "features); l2 = squared Euclidean; euclidean = Euclidean; l1 = sum of absolute differences."
)
AGG_TOOLTIP = (
    "How per-patch distances become one value per sample: mean over patches (default), sum, or the "
    "worst patch (max). Global embeddings have one position, so this does not matter for them."
)
MASK_TOOLTIP = (
    "Optional region to score (e.g. the edit mask), any resolution: it is resized to the embedding's "
    "patch grid by area, so each patch counts by the fraction of it inside the mask. A mask with batch "
    "1 applies to every sample. Only for grid embeddings [B,h,w,D]."
)


def reference_note(pred_name: str = "z_pred") -> str:
    return f" Batch 1 is used for every sample; otherwise its batch must equal {pred_name}'s."


def embedding_input(tooltip: str) -> tuple:
    return (EMBEDDING_TYPE, {"tooltip": tooltip})


def dist_input(default: str) -> tuple:
    return (list(DISTANCES), {"default": default, "tooltip": DIST_TOOLTIP})


def agg_input() -> tuple:
    return (list(AGGREGATIONS), {"default": "mean", "tooltip": AGG_TOOLTIP})


def margin_input(default: float, tooltip: str) -> tuple:
    return ("FLOAT", {"default": default, "min": 0.0, "max": 10.0, "step": 0.01, "tooltip": tooltip})


def mask_input() -> tuple:
    return ("MASK", {"tooltip": MASK_TOOLTIP})


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_numbers(text: str, name: str) -> list[float]:
    """Numbers typed in a text widget: ``"0.9, 0.2 0.7"`` -> ``[0.9, 0.2, 0.7]`` (commas, spaces,
    semicolons or new lines between)."""
    items = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    bad = [t for t in items if not re.fullmatch(_NUMBER, t)]
    if bad:
        raise ValueError(f"{name} must be a list of numbers such as '0.9, 0.1, 0.75', got {bad[0]!r} in {text!r}")
    return [float(t) for t in items]


def as_image(value: object, name: str, channels: tuple[int, ...] = (1, 3, 4)) -> torch.Tensor:
    """An IMAGE input ``[B, H, W, C]``: float, finite, in [0, 1], with C in ``channels``."""
    return check_image(value, name, channels=channels)


def as_mask(
    value: object, name: str, size: tuple[int, int] | None = None, batch: int | None = None, of: str = "the images"
) -> torch.Tensor:
    """A MASK input as float32 ``[B, H, W]`` (``[H, W]`` is batch 1), finite and in [0, 1].

    With ``size`` (H, W) it must have that size (``of`` names what it is measured against); with
    ``batch``, a batch-1 mask stands for every sample and any other batch must equal it.
    """
    check_float_tensor(value, name)
    if value.dim() == 2:
        value = value.unsqueeze(0)
    if value.dim() != 3 or value.shape[0] == 0:
        raise ValueError(f"{name} must be a MASK [B, H, W] or [H, W] with B >= 1, got {describe(value)}")
    if size is not None and tuple(value.shape[1:]) != tuple(size):
        raise ValueError(
            f"{name} is {value.shape[2]}x{value.shape[1]} px but {of} are {size[1]}x{size[0]} px: scale the mask "
            f"(or {of}) to one size first"
        )
    check_has_values(value, name)
    check_unit_range(value, name)
    if batch is not None:
        value = match_batch(value, batch, name, of)
    return value.float()


def as_depth(value: object, name: str) -> Depth:
    """An EDITLOSS_DEPTH input (duck-typed, like :func:`as_embedding`)."""
    values = getattr(value, "values", None)
    if not isinstance(values, torch.Tensor) or getattr(value, "space", None) not in DEPTH_SPACES:
        raise TypeError(f"{name} must be an {DEPTH_TYPE} (from an EditLoss depth loader), got {describe(value)}")
    return value  # type: ignore[return-value]


def as_confidence(value: object, values: torch.Tensor, name: str = "confidence") -> torch.Tensor | None:
    """An optional confidence MASK for depth maps ``values [B, 1, H, W]``, as ``[B, 1, H, W]``."""
    if value is None:
        return None
    return as_mask(value, name, tuple(values.shape[2:]), values.shape[0], "the depth maps").unsqueeze(1)


def storage_precision(precision: str, auto_on_cuda: str = "bf16") -> str:
    """The precision a loader keeps its weights in, on the device the model will run on: ``auto``
    becomes the concrete choice (it is also part of the model cache's key)."""
    return resolve_precision(precision, models.compute_device(), auto_on_cuda)


def as_embedding(value: object, name: str) -> Embedding:
    """The node input ``name`` as an embedding (duck-typed, so copies of the type from another
    import of the library are accepted)."""
    tensor = getattr(value, "tensor", None)
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be an {EMBEDDING_TYPE} (an embedding from an EditLoss encoder node), got {describe(value)}")
    return value  # type: ignore[return-value]


def match_batch(reference: torch.Tensor, batch: int, name: str, pred_name: str) -> torch.Tensor:
    """A reference of batch 1 stands for every sample; any other batch must equal the prediction's."""
    if reference.shape[0] == batch:
        return reference
    if reference.shape[0] == 1:
        return reference.expand(batch, *reference.shape[1:])
    raise ValueError(
        f"{name} has batch {reference.shape[0]} but {pred_name} has batch {batch}: connect one reference "
        f"(batch 1, used for every generation) or one per generation"
    )


def aligned_tensors(pred_name: str, pred: object, **references: object) -> list[torch.Tensor]:
    """The prediction's tensor and each reference's, batch-matched and on the prediction's device."""
    base = as_embedding(pred, pred_name).tensor
    out = [base]
    for name, ref in references.items():
        tensor = as_embedding(ref, name).tensor
        if tensor.shape[1:] != base.shape[1:]:
            raise ValueError(
                f"{name} has feature shape {tuple(tensor.shape[1:])} but {pred_name} has {tuple(base.shape[1:])}: "
                "embed both with the same encoder at the same image size"
            )
        out.append(match_batch(tensor, base.shape[0], name, pred_name).to(base.device))
    return out


def mask_for_grid(mask: torch.Tensor | None, embedding: torch.Tensor, name: str = "mask") -> torch.Tensor | None:
    """A ComfyUI MASK ``[B,H,W]`` turned into weights over an embedding's grid ``[B,h,w]``."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or not mask.is_floating_point():
        raise TypeError(f"{name} must be a MASK (float tensor [B,H,W]), got {describe(mask)}")
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dim() != 3:
        raise ValueError(f"{name} must have shape [B,H,W] or [H,W], got {tuple(mask.shape)}")
    if embedding.dim() != 4:
        raise ValueError(
            f"{name} needs a grid embedding [B,h,w,D] to map onto, but the embedding has shape "
            f"{tuple(embedding.shape)}; disconnect the mask or use a patch embedding"
        )
    batch, h, w = embedding.shape[0], embedding.shape[1], embedding.shape[2]
    weights = F.adaptive_avg_pool2d(mask.to(embedding.device, torch.float32).unsqueeze(1), (h, w)).squeeze(1)
    return match_batch(weights, batch, name, "the embedding")


def loss_outputs(per_sample: torch.Tensor, name: str, **details: object) -> tuple[float, Scores]:
    values = per_sample.detach().to("cpu", torch.float32)
    return float(values.mean()), Scores(name=name, values=values, lower_is_better=True, details=details)
