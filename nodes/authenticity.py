"""Nodes for the authenticity scorer's CombinedLoss (seed 002): on scores, logits and labels from other
nodes (EDITLOSS_SCORES) or typed as lists of numbers, the loss and each term, and a picture."""

from __future__ import annotations

import re

import torch

from ..comfy_editloss._checks import describe
from ..comfy_editloss.losses.authenticity import REGRESSION_TYPES, CombinedLoss, FocalCombinedLoss
from ..comfy_editloss.report.authenticity import terms_picture
from ..comfy_editloss.types import SCORES_TYPE
from .common import parse_numbers

CATEGORY_AUTHENTICITY = "editloss/authenticity"
def parse_logits(text: str, name: str = "logits_text") -> list[list[float]]:
    """``"-2 2; 1.5 -1"`` -> ``[[-2, 2], [1.5, -1]]``: one pair (fake, real) per sample, pairs
    separated by ``;`` or new lines."""
    rows = [r for r in re.split(r"[;\n]+", text.strip()) if r.strip()]
    pairs = [parse_numbers(r.replace(",", " "), name) for r in rows]
    wrong = [i for i, p in enumerate(pairs) if len(p) != 2]
    if wrong:
        raise ValueError(f"{name} must hold one pair 'fake real' per sample, separated by ';' (e.g. '-2 2; 1.5 -1'), but entry {wrong[0]} is {rows[wrong[0]].strip()!r}")
    return pairs


def _vector(connected: object, text: str, name: str) -> torch.Tensor:
    if connected is not None:
        values = getattr(connected, "values", None)
        if not isinstance(values, torch.Tensor):
            raise TypeError(f"{name} must be an {SCORES_TYPE} (one number per sample), got {describe(connected)}")
        return values.float()
    values = parse_numbers(text, f"{name}_text")
    if not values:
        raise ValueError(f"{name}: connect an {SCORES_TYPE} or type the values in {name}_text (e.g. '0.9, 0.1, 0.75')")
    return torch.tensor(values)


def inputs_from(scores, scores_text, logits, logits_text, labels, labels_text) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s = _vector(scores, scores_text, "scores")
    y = _vector(labels, labels_text, "labels")
    if logits is not None:
        difference = _vector(logits, "", "logits")  # real minus fake logit per sample
        z = torch.stack([torch.zeros_like(difference), difference], dim=1)
    else:
        pairs = parse_logits(logits_text)
        if not pairs:
            raise ValueError(f"logits: connect an {SCORES_TYPE} (real-minus-fake logit per sample) or type pairs in logits_text (e.g. '-2 2; 1.5 -1')")
        z = torch.tensor(pairs)
    for name, t in (("logits", z), ("labels", y)):
        if t.shape[0] != s.shape[0]:
            raise ValueError(f"{name} has {t.shape[0]} samples but scores has {s.shape[0]}: give one per sample")
    return s, z, y


def _loss(regression_weight, classification_weight, ranking_weight, regression_type, margin, focal_gamma) -> CombinedLoss:
    options = dict(regression_weight=regression_weight, classification_weight=classification_weight, ranking_weight=ranking_weight, regression_type=regression_type, margin=margin)
    return FocalCombinedLoss(gamma=focal_gamma, **options) if focal_gamma > 0 else CombinedLoss(**options)


def _inputs() -> dict:
    def number(default, tooltip, high=100.0):
        return ("FLOAT", {"default": default, "min": 0.0, "max": high, "step": 0.01, "tooltip": tooltip})

    def text(tooltip):
        return ("STRING", {"default": "", "multiline": True, "tooltip": tooltip})

    return {
        "required": {
            "scores_text": text("Predicted authenticity scores, one per sample (used when 'scores' is not connected), e.g. 0.9, 0.2, 0.7."),
            "logits_text": text("Classifier logits 'fake real' per sample, separated by ';' (used when 'logits' is not connected), e.g. -2 2; 1 -1; 0 0.5."),
            "labels_text": text("Labels in [0, 1], 1 = real (used when 'labels' is not connected), e.g. 1, 0, 1."),
            "regression_weight": number(1.0, "Weight of the regression term (score vs label)."),
            "classification_weight": number(0.3, "Weight of the classification term (cross-entropy of the logits)."),
            "ranking_weight": number(0.2, "Weight of the ranking term (every real must outscore every fake by the margin)."),
            "regression_type": (list(REGRESSION_TYPES), {"default": "mse", "tooltip": "mse, or smoothl1 (robust to outliers)."}),
            "margin": number(0.5, "Ranking margin.", 10.0),
            "focal_gamma": number(0.0, "0: plain cross-entropy; > 0: the focal form (1 - p_t)^gamma * CE (FocalCombinedLoss; 2 is usual).", 10.0),
        },
        "optional": {
            "scores": (SCORES_TYPE, {"tooltip": "Scores from another node (instead of scores_text)."}),
            "logits": (SCORES_TYPE, {"tooltip": "Per-sample logit of 'real' minus that of 'fake' from another node (instead of logits_text)."}),
            "labels": (SCORES_TYPE, {"tooltip": "Labels from another node (instead of labels_text)."}),
        },
    }


class EditLossCombinedLoss:
    DESCRIPTION = (
        "CombinedLoss of seed 002 for an authenticity scorer (how real an image looks): regression of the score to the "
        "label + cross-entropy of the logits + margin ranking of every real over every fake. For checking a scorer's "
        "training batch or its outputs on generations; train with comfy_editloss.losses.CombinedLoss."
    )
    CATEGORY = CATEGORY_AUTHENTICITY
    FUNCTION = "compute"
    RETURN_TYPES = ("FLOAT", "FLOAT", "FLOAT", "FLOAT", "STRING")
    RETURN_NAMES = ("total", "regression", "classification", "ranking", "report")
    OUTPUT_TOOLTIPS = (
        "The weighted total.",
        "Regression term (unweighted).",
        "Classification term (unweighted).",
        "Ranking term (unweighted; 0 when the batch lacks reals or fakes).",
        "All terms and the number of real x fake pairs.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return _inputs()

    def compute(self, scores_text, logits_text, labels_text, regression_weight, classification_weight, ranking_weight, regression_type, margin, focal_gamma, scores=None, logits=None, labels=None):
        s, z, y = inputs_from(scores, scores_text, logits, logits_text, labels, labels_text)
        loss = _loss(regression_weight, classification_weight, ranking_weight, regression_type, margin, focal_gamma)
        _, terms = loss(s, z, y)
        note = "" if terms["ranking_pairs"] else " (no real x fake pair in this batch: ranking is 0)"
        report = ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in terms.items()) + note
        return terms["total"], terms["regression"], terms["classification"], terms["ranking"], report


class EditLossCombinedLossPlot:
    DESCRIPTION = "Draws each sample's weighted regression, classification and ranking terms of CombinedLoss as grouped bars, with its label and score."
    CATEGORY = "editloss/pictures"
    FUNCTION = "draw"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("terms",)
    OUTPUT_TOOLTIPS = ("A 720x360 bar chart.",)

    @classmethod
    def INPUT_TYPES(cls):
        return _inputs()

    def draw(self, scores_text, logits_text, labels_text, regression_weight, classification_weight, ranking_weight, regression_type, margin, focal_gamma, scores=None, logits=None, labels=None):
        s, z, y = inputs_from(scores, scores_text, logits, logits_text, labels, labels_text)
        loss = _loss(regression_weight, classification_weight, ranking_weight, regression_type, margin, focal_gamma)
        per = loss.per_sample_terms(s, z, y)
        weights = {"regression": regression_weight, "classification": classification_weight, "ranking": ranking_weight}
        return (terms_picture(per, weights, y, s),)


NODE_CLASS_MAPPINGS = {"EditLossCombinedLoss": EditLossCombinedLoss, "EditLossCombinedLossPlot": EditLossCombinedLossPlot}
NODE_DISPLAY_NAME_MAPPINGS = {
    "EditLossCombinedLoss": "EditLoss Combined Loss (authenticity scorer)",
    "EditLossCombinedLossPlot": "EditLoss Combined Loss Plot",
}
