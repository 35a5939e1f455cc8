"""What every EditLoss node shares: input specs, tooltips, and the conversions between ComfyUI's
values (IMAGE, MASK, LATENT, FLOAT) and the library's types.

ComfyUI conventions kept here: a batch-1 reference (one target image, one mask) is used for every
sample of a batch of generations; everything else must match exactly and gets an error naming the
input otherwise. Outputs go back as CPU float32 tensors and plain Python floats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..comfy_editloss._checks import describe
from ..comfy_editloss.losses import AGGREGATIONS, DISTANCES
from ..comfy_editloss.types import EMBEDDING_TYPE, SCORES_TYPE, Embedding, Scores

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
