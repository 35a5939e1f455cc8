"""The types the nodes pass between each other check what they hold, by name."""

from __future__ import annotations

import math

import pytest
import torch

from comfy_editloss.types import Depth, Embedding, Scores


def test_an_embedding_holds_finite_features_from_a_named_encoder():
    features = torch.randn(3, 4)
    features[1, 2] = math.nan
    with pytest.raises(ValueError, match=r"^Embedding\.tensor must be finite, got 1 NaN/Inf value\(s\) in sample\(s\) 1$"):
        Embedding(features)
    for encoder, error, message in ((None, TypeError, r"^Embedding\.encoder must be a str, got NoneType None$"),
                                    ("", ValueError, r"^Embedding\.encoder must not be empty$")):
        with pytest.raises(error, match=message):
            Embedding(torch.randn(3, 4), encoder)
    with pytest.raises(TypeError, match=r"^Embedding\.normalized must be True or False, got int 1$"):
        Embedding(torch.randn(3, 4), "pixels", 1)
    assert Embedding(torch.randn(3, 4, device="meta")).batch_size == 3  # a shape, no values to check


def test_scores_hold_named_float32_numbers_and_a_copy_of_their_details():
    details = {"margin": 1.0}
    scores = Scores("geometry_match", torch.tensor([0.5, math.nan], dtype=torch.float64), False, details)
    details["margin"] = 2.0
    assert scores.details == {"margin": 1.0} and scores.values.dtype == torch.float32 and math.isnan(scores.tolist()[1])
    for kwargs, error, message in (
        (dict(name=3), TypeError, r"^Scores\.name must be a str, got int 3$"),
        (dict(name=""), ValueError, r"^Scores\.name must not be empty$"),
        (dict(values=torch.zeros(0)), ValueError, r"^Scores\.values must hold at least one value \(one per sample\), got shape \(0,\)$"),
        (dict(values=torch.zeros(2, device="meta")), ValueError, r"^Scores\.values is on the meta device"),
        (dict(values=torch.tensor([1.0, 1e300], dtype=torch.float64)), ValueError, r"^Scores\.values holds magnitudes up to 1e\+300, beyond float32"),
        (dict(lower_is_better=1), TypeError, r"^Scores\.lower_is_better must be True or False, got int 1$"),
        (dict(details=["margin"]), TypeError, r"^Scores\.details must be a mapping of settings, got a list of length 1$"),
    ):
        arguments = dict(name="a", values=torch.ones(2), lower_is_better=True, details={}) | kwargs
        with pytest.raises(error, match=message):
            Scores(**arguments)


def test_a_depth_checks_its_confidence_source_and_magnitudes():
    values = torch.rand(2, 1, 3, 4) + 1
    confidence = torch.rand(2, 1, 3, 4)
    for kwargs, error, message in (
        (dict(confidence=confidence.tolist()), TypeError, r"^Depth\.confidence must be a torch\.Tensor, got a list of length 2$"),
        (dict(confidence=confidence * 2 + 0.1), ValueError, r"^Depth\.confidence must lie in \[0, 1\], got values from 0\.\d+ to 2\.\d+$"),
        (dict(confidence=confidence.masked_fill(confidence > 0.5, math.nan)), ValueError, r"^Depth\.confidence must be finite and in \[0, 1\]"),
        (dict(source=None), TypeError, r"^Depth\.source must be a str, got NoneType None$"),
        (dict(values=values.double() * 1e300), ValueError, r"^Depth\.values holds magnitudes up to \d\.\d+e\+300, beyond float32"),
        (dict(values=values[:, :, :0]), ValueError, r"^Depth\.values must hold at least one map of at least one pixel, got shape \(2, 1, 0, 4\)$"),
    ):
        arguments = dict(values=values, space="depth", confidence=confidence, source="d.npy") | kwargs
        with pytest.raises(error, match=message):
            Depth(**arguments)
    missing = values.clone()
    missing[0, 0, 0, 0] = math.inf  # a pixel without a value stays one
    assert torch.isinf(Depth(missing.double(), "depth").values[0, 0, 0, 0])
    assert "range=on the meta device" in repr(Depth(values.to("meta"), "depth"))
