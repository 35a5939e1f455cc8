"""Nodes for the embedding losses of seeds 000/001.

Each loss node returns the batch loss as FLOAT and the per-sample values as EDITLOSS_SCORES. They run
without gradients (ComfyUI executes under ``torch.inference_mode()``); for training, call the same
functions from ``comfy_editloss.losses``.
"""

from __future__ import annotations

import torch

from ..comfy_editloss.losses import (
    NEGATIVE_AGGREGATIONS,
    contrastive_pair_loss,
    feature_match_loss,
    info_nce_loss,
    loss_geometry_match,
    loss_no_edit_identity,
    loss_overlay_avoidance,
    margin_ranking_on_distances,
    multi_negative_ranking_loss,
    pair_distance,
    triplet_margin_loss,
)
from ..comfy_editloss.losses.embedding import FEATURE_MATCH_KINDS
from ..comfy_editloss.types import SCORES_TYPE
from ..comfy_editloss._checks import describe
from .common import (
    CATEGORY_GENERIC,
    CATEGORY_TASK,
    LOSS_OUTPUT_TOOLTIPS,
    LOSS_RETURN_NAMES,
    LOSS_RETURN_TYPES,
    agg_input,
    aligned_tensors,
    as_embedding,
    dist_input,
    embedding_input,
    loss_outputs,
    margin_input,
    mask_for_grid,
    mask_input,
    parse_numbers,
    reference_note,
)

PRED_TOOLTIP = "Embedding of the generated edit(s); its batch is the number of generations scored."
GT_TOOLTIP = "Embedding of the intended result (after / ground truth)." + reference_note()
KIND_TOOLTIP = (
    "l2 = squared Euclidean per patch (default); l1 = sum of absolute differences; cos = 1 - cosine "
    "similarity; euclidean = Euclidean distance."
)


class _LossNode:
    FUNCTION = "compute"
    RETURN_TYPES = LOSS_RETURN_TYPES
    RETURN_NAMES = LOSS_RETURN_NAMES
    OUTPUT_TOOLTIPS = LOSS_OUTPUT_TOOLTIPS


def _triplet_inputs(negative_name: str, negative_tooltip: str) -> dict:
    return {
        "required": {
            "z_pred": embedding_input(PRED_TOOLTIP),
            "z_gt": embedding_input(GT_TOOLTIP),
            negative_name: embedding_input(negative_tooltip + reference_note()),
            "margin": margin_input(0.2, "How much closer to the target than to the negative the generation must be before the loss is 0."),
            "dist": dist_input("cos"),
            "agg": agg_input(),
        },
        "optional": {"mask": mask_input()},
    }


class EditLossNoEditIdentity(_LossNode):
    DESCRIPTION = (
        "Catches 'no edit happened': 0 when the generation is closer to the target (after) than to the "
        "source (before) by the margin, growing as it stays like the source. "
        "max(0, d(pred, gt) - d(pred, src) + margin), seed 001's loss_no_edit_identity."
    )
    CATEGORY = CATEGORY_TASK

    @classmethod
    def INPUT_TYPES(cls):
        return _triplet_inputs("z_src", "Embedding of the source image (before), the 'nothing changed' negative.")

    def compute(self, z_pred, z_gt, z_src, margin, dist, agg, mask=None):
        pred, gt, src = aligned_tensors("z_pred", z_pred, z_gt=z_gt, z_src=z_src)
        per_sample = loss_no_edit_identity(
            pred, gt, src, margin=margin, dist=dist, agg=agg, reduction="none", mask=mask_for_grid(mask, pred)
        )
        return loss_outputs(per_sample, "no_edit_identity", margin=margin, dist=dist, agg=agg)


class EditLossOverlayAvoidance(_LossNode):
    DESCRIPTION = (
        "Catches 'new object painted over the old one': 0 when the generation is closer to the target "
        "than to an overlay negative (both objects visible) by the margin. "
        "max(0, d(pred, gt) - d(pred, overlay) + margin), seed 001's loss_overlay_avoidance."
    )
    CATEGORY = CATEGORY_TASK

    @classmethod
    def INPUT_TYPES(cls):
        return _triplet_inputs(
            "z_overlay", "Embedding of an overlay negative: the new object pasted over the old one, or a blend of both."
        )

    def compute(self, z_pred, z_gt, z_overlay, margin, dist, agg, mask=None):
        pred, gt, overlay = aligned_tensors("z_pred", z_pred, z_gt=z_gt, z_overlay=z_overlay)
        per_sample = loss_overlay_avoidance(
            pred, gt, overlay, margin=margin, dist=dist, agg=agg, reduction="none", mask=mask_for_grid(mask, pred)
        )
        return loss_outputs(per_sample, "overlay_avoidance", margin=margin, dist=dist, agg=agg)


def _feature_match_inputs(pred_name: str, target_name: str) -> dict:
    return {
        "required": {
            pred_name: embedding_input(PRED_TOOLTIP),
            target_name: embedding_input(GT_TOOLTIP),
            "kind": (list(FEATURE_MATCH_KINDS), {"default": "l2", "tooltip": KIND_TOOLTIP}),
            "agg": agg_input(),
        },
        "optional": {"mask": mask_input()},
    }


class EditLossGeometryMatch(_LossNode):
    DESCRIPTION = (
        "Catches distorted geometry: the distance between the generation's and the target's patch "
        "features, averaged over patches (seed 001's loss_geometry_match). Use a shape-sensitive patch "
        "embedding; a global embedding cannot see geometry."
    )
    CATEGORY = CATEGORY_TASK

    @classmethod
    def INPUT_TYPES(cls):
        return _feature_match_inputs("z_pred", "z_gt")

    def compute(self, z_pred, z_gt, kind, agg, mask=None):
        pred, gt = aligned_tensors("z_pred", z_pred, z_gt=z_gt)
        per_sample = loss_geometry_match(pred, gt, kind=kind, agg=agg, reduction="none", mask=mask_for_grid(mask, pred))
        return loss_outputs(per_sample, "geometry_match", kind=kind, agg=agg)


class EditLossFeatureMatch(_LossNode):
    DESCRIPTION = "Distance between prediction and target features per sample (seed 000's feature_match_loss)."
    CATEGORY = CATEGORY_GENERIC

    @classmethod
    def INPUT_TYPES(cls):
        return _feature_match_inputs("pred", "target")

    def compute(self, pred, target, kind, agg, mask=None):
        p, t = aligned_tensors("pred", pred, target=target)
        per_sample = feature_match_loss(p, t, kind=kind, agg=agg, reduction="none", mask=mask_for_grid(mask, p))
        return loss_outputs(per_sample, "feature_match", kind=kind, agg=agg)


class EditLossPairDistance:
    DESCRIPTION = (
        "Per-sample distance between two embeddings (seed 000's pair_distance), as scores: feed two of "
        "them to the margin-ranking node, or to a report."
    )
    CATEGORY = CATEGORY_GENERIC
    FUNCTION = "compute"
    RETURN_TYPES = ("FLOAT", SCORES_TYPE)
    RETURN_NAMES = ("mean_distance", "distances")
    OUTPUT_TOOLTIPS = ("The mean distance over the batch.", "One distance per sample.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "a": embedding_input("First embedding; its batch sets the number of samples."),
                "b": embedding_input("Second embedding." + reference_note("a")),
                "dist": dist_input("cos"),
                "agg": agg_input(),
            },
            "optional": {"mask": mask_input()},
        }

    def compute(self, a, b, dist, agg, mask=None):
        x, y = aligned_tensors("a", a, b=b)
        per_sample = pair_distance(x, y, dist=dist, agg=agg, mask=mask_for_grid(mask, x))
        return loss_outputs(per_sample, f"distance_{dist}", dist=dist, agg=agg)


def parse_pair_labels(text: str, batch: int, name: str = "labels") -> torch.Tensor:
    """Labels typed in a node: one number for every pair, or one per pair, separated by commas."""
    values = parse_numbers(text, name)
    if len(values) == 1:
        values = values * batch
    if len(values) != batch:
        raise ValueError(f"{name} must hold 1 value (for every pair) or {batch} (one per pair), got {len(values)}: {text!r}")
    return torch.tensor(values)


class EditLossContrastivePair(_LossNode):
    DESCRIPTION = (
        "Hadsell et al.'s contrastive loss on pairs (seed 000's contrastive_pair_loss): pulls pairs "
        "labelled 1 together, pushes pairs labelled 0 at least `margin` apart."
    )
    CATEGORY = CATEGORY_GENERIC

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "z1": embedding_input("First embedding of each pair; its batch sets the number of pairs."),
                "z2": embedding_input("Second embedding of each pair." + reference_note("z1")),
                "labels": ("STRING", {"default": "1", "tooltip": "1 = similar pair (pull together), 0 = dissimilar (push apart). One value for every pair, or one per pair separated by commas."}),
                "margin": margin_input(1.0, "Dissimilar pairs farther apart than this cost nothing."),
                "dist": dist_input("l2"),
                "agg": agg_input(),
            },
            "optional": {"mask": mask_input()},
        }

    def compute(self, z1, z2, labels, margin, dist, agg, mask=None):
        a, b = aligned_tensors("z1", z1, z2=z2)
        y = parse_pair_labels(labels, a.shape[0]).to(a.device)
        per_sample = contrastive_pair_loss(a, b, y, margin=margin, dist=dist, agg=agg, reduction="none", mask=mask_for_grid(mask, a))
        return loss_outputs(per_sample, "contrastive_pair", margin=margin, dist=dist, agg=agg)


class EditLossTripletMargin(_LossNode):
    DESCRIPTION = "Triplet hinge max(0, d(anchor, positive) - d(anchor, negative) + margin) (seed 000's triplet_margin_loss)."
    CATEGORY = CATEGORY_GENERIC

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "anchor": embedding_input("Anchor embedding (usually the generation); its batch sets the number of samples."),
                "positive": embedding_input("What the anchor should be close to." + reference_note("anchor")),
                "negative": embedding_input("What the anchor should be farther from." + reference_note("anchor")),
                "margin": margin_input(0.2, "Required gap between the negative and the positive distance."),
                "dist": dist_input("cos"),
                "agg": agg_input(),
            },
            "optional": {"mask": mask_input()},
        }

    def compute(self, anchor, positive, negative, margin, dist, agg, mask=None):
        a, p, n = aligned_tensors("anchor", anchor, positive=positive, negative=negative)
        per_sample = triplet_margin_loss(a, p, n, margin=margin, dist=dist, agg=agg, reduction="none", mask=mask_for_grid(mask, a))
        return loss_outputs(per_sample, "triplet_margin", margin=margin, dist=dist, agg=agg)


def _scores_input(value: object, name: str) -> torch.Tensor:
    values = getattr(value, "values", None)
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be {SCORES_TYPE} (e.g. from the Pair Distance node), got {describe(value)}")
    return values


class EditLossMarginRanking(_LossNode):
    DESCRIPTION = (
        "Hinge on distances computed elsewhere: max(0, d_pos - d_neg + margin) per sample (seed 000's "
        "margin_ranking_on_distances). Feed it two Pair Distance outputs."
    )
    CATEGORY = CATEGORY_GENERIC

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "d_pos": (SCORES_TYPE, {"tooltip": "Distances of the correct pairs (should be the smaller ones)."}),
                "d_neg": (SCORES_TYPE, {"tooltip": "Distances of the wrong pairs (should be larger by the margin); same batch as d_pos."}),
                "margin": margin_input(0.2, "Required gap between d_neg and d_pos."),
            }
        }

    def compute(self, d_pos, d_neg, margin):
        per_sample = margin_ranking_on_distances(_scores_input(d_pos, "d_pos"), _scores_input(d_neg, "d_neg"), margin=margin, reduction="none")
        return loss_outputs(per_sample, "margin_ranking", margin=margin)


NEGATIVE_SLOTS = ("negative_2", "negative_3", "negative_4")


def _connected_negatives(first: object, **optional: object) -> dict:
    found = {} if first is None else {"negative_1": first}
    found.update({name: value for name, value in optional.items() if value is not None})
    return found


class EditLossMultiNegativeRanking(_LossNode):
    DESCRIPTION = (
        "Triplet hinge against up to 4 negatives at once (e.g. source and overlay), combined by mean, "
        "max, sum or a smooth maximum (seed 000's multi_negative_ranking_loss)."
    )
    CATEGORY = CATEGORY_GENERIC

    @classmethod
    def INPUT_TYPES(cls):
        negative_tip = "A negative the generation must be farther from than from the target." + reference_note()
        return {
            "required": {
                "z_pred": embedding_input(PRED_TOOLTIP),
                "z_gt": embedding_input(GT_TOOLTIP),
                "negative_1": embedding_input(negative_tip),
                "margin": margin_input(0.2, "Required gap between each negative distance and the positive one."),
                "dist": dist_input("cos"),
                "agg": agg_input(),
                "neg_agg": (list(NEGATIVE_AGGREGATIONS), {"default": "mean", "tooltip": "How the hinges of the negatives combine: mean, max (hardest only), sum, or logsumexp (smooth max that still weighs every violated negative)."}),
                "neg_temperature": ("FLOAT", {"default": 0.05, "min": 0.001, "max": 10.0, "step": 0.005, "tooltip": "Temperature of logsumexp: small is close to max, large is close to mean."}),
            },
            "optional": {
                **{name: embedding_input(negative_tip) for name in NEGATIVE_SLOTS},
                "mask": mask_input(),
            },
        }

    def compute(self, z_pred, z_gt, negative_1, margin, dist, agg, neg_agg, neg_temperature, negative_2=None, negative_3=None, negative_4=None, mask=None):
        negatives = _connected_negatives(negative_1, negative_2=negative_2, negative_3=negative_3, negative_4=negative_4)
        pred, gt, *negs = aligned_tensors("z_pred", z_pred, z_gt=z_gt, **negatives)
        per_sample = multi_negative_ranking_loss(
            pred, gt, negs, margin=margin, dist=dist, agg=agg, neg_agg=neg_agg, neg_temperature=neg_temperature,
            reduction="none", mask=mask_for_grid(mask, pred),
        )
        return loss_outputs(per_sample, "multi_negative_ranking", margin=margin, dist=dist, agg=agg, neg_agg=neg_agg, negatives=len(negs))


class EditLossInfoNCE(_LossNode):
    DESCRIPTION = (
        "InfoNCE (seed 000's info_nce_loss): cross-entropy of picking the target among negatives by "
        "similarity / temperature. With no negative connected, the other samples' targets of the batch "
        "are the negatives (needs one target per generation)."
    )
    CATEGORY = CATEGORY_GENERIC

    @classmethod
    def INPUT_TYPES(cls):
        negative_tip = "An explicit negative (e.g. source or overlay)." + reference_note("anchor")
        return {
            "required": {
                "anchor": embedding_input("Anchor embedding (usually the generation); its batch sets the number of samples."),
                "positive": embedding_input("The target each anchor should pick." + reference_note("anchor")),
                "temperature": ("FLOAT", {"default": 0.07, "min": 0.001, "max": 10.0, "step": 0.005, "tooltip": "Softmax temperature: lower is sharper."}),
                "normalize": ("BOOLEAN", {"default": True, "tooltip": "Cosine similarity (on) or raw dot product (off)."}),
                "symmetric": ("BOOLEAN", {"default": False, "tooltip": "Also score the reverse direction (target picks its anchor) and average, as CLIP does."}),
                "agg": agg_input(),
            },
            "optional": {
                **{f"negative_{i}": embedding_input(negative_tip) for i in range(1, 5)},
                "mask": mask_input(),
            },
        }

    def compute(self, anchor, positive, temperature, normalize, symmetric, agg, negative_1=None, negative_2=None, negative_3=None, negative_4=None, mask=None):
        negatives = _connected_negatives(negative_1, negative_2=negative_2, negative_3=negative_3, negative_4=negative_4)
        if not negatives:
            anchor_batch = as_embedding(anchor, "anchor").tensor.shape[0]
            positive_batch = as_embedding(positive, "positive").tensor.shape[0]
            if positive_batch != anchor_batch:
                raise ValueError(
                    f"positive has batch {positive_batch} but anchor has {anchor_batch}: with no negative connected "
                    "the other samples' positives are the negatives, so each anchor needs its own positive; "
                    "connect a negative or batch one positive per anchor"
                )
        a, p, *negs = aligned_tensors("anchor", anchor, positive=positive, **negatives)
        per_sample = info_nce_loss(
            a, p, negs or None, temperature=temperature, normalize=normalize, agg=agg, symmetric=symmetric,
            reduction="none", mask=mask_for_grid(mask, a),
        )
        return loss_outputs(per_sample, "info_nce", temperature=temperature, agg=agg, in_batch=not negs)


NODE_CLASS_MAPPINGS = {
    "EditLossNoEditIdentity": EditLossNoEditIdentity,
    "EditLossGeometryMatch": EditLossGeometryMatch,
    "EditLossOverlayAvoidance": EditLossOverlayAvoidance,
    "EditLossPairDistance": EditLossPairDistance,
    "EditLossFeatureMatch": EditLossFeatureMatch,
    "EditLossContrastivePair": EditLossContrastivePair,
    "EditLossTripletMargin": EditLossTripletMargin,
    "EditLossMarginRanking": EditLossMarginRanking,
    "EditLossMultiNegativeRanking": EditLossMultiNegativeRanking,
    "EditLossInfoNCE": EditLossInfoNCE,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossNoEditIdentity": "EditLoss No-Edit Identity",
    "EditLossGeometryMatch": "EditLoss Geometry Match",
    "EditLossOverlayAvoidance": "EditLoss Overlay Avoidance",
    "EditLossPairDistance": "EditLoss Pair Distance",
    "EditLossFeatureMatch": "EditLoss Feature Match",
    "EditLossContrastivePair": "EditLoss Contrastive Pair",
    "EditLossTripletMargin": "EditLoss Triplet Margin",
    "EditLossMarginRanking": "EditLoss Margin Ranking (distances)",
    "EditLossMultiNegativeRanking": "EditLoss Multi-Negative Ranking",
    "EditLossInfoNCE": "EditLoss InfoNCE",
}
