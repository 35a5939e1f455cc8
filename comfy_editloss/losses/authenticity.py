r"""The authenticity scorer's loss (seed 002): how real an image looks, trained on labels in [0, 1].

:class:`CombinedLoss` = ``regression_weight * L_reg + classification_weight * L_cls +
ranking_weight * L_rank``:

* ``L_reg``: MSE (or SmoothL1) of the predicted score against the label;
* ``L_cls``: cross-entropy of two-class ``logits`` against ``labels > 0.5`` (1 = real);
* ``L_rank``: the margin ranking loss over **all** real x fake pairs of the batch,
  :math:`\frac{1}{RF}\sum_{r,f} \max(0, m - (s_r - s_f))`, 0 (and reported as such) when the batch
  lacks one of the classes.

Each term is defined once, per sample (:meth:`CombinedLoss.per_sample_terms`); the batch term of
``forward`` is its mean over the batch. For the ranking term a sample's share is its mean hinge over
the other class, and the mean of those ``R + F`` shares is the mean over the ``R * F`` pairs, since
every pair is counted once from each side: ``(S / F + S / R) / (R + F) = S / (R F)``.

The ranking term never builds the ``[R, F]`` matrix: with the fake scores sorted and their prefix sums,
each real score's sum over the fakes it does not beat by the margin is a count and a difference of
two prefix sums, so the cost is that of sorting (:func:`pairwise_margin_ranking`). Its value and
gradients are those of the double loop (the hinge's gradient at exactly 0 is 0, as ``relu``'s).

Fail-fast (the seed's policy): NaN/Inf in ``scores``, ``logits`` or the total raises
:class:`NonFiniteError` naming which (a ``ValueError`` that is also the seed's ``RuntimeError``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_float_tensor, check_has_values, check_number, check_same_device, describe

REGRESSION_TYPES = ("mse", "smoothl1")
TERMS = ("regression", "classification", "ranking")


class NonFiniteError(ValueError, RuntimeError):
    """NaN/Inf in the scorer's inputs or its loss: a ``ValueError`` (bad input) that is still the
    ``RuntimeError`` seed 002's code raises, so code written for the seed catches it."""


def _check_ranking_scores(real_scores: object, fake_scores: object, margin: object) -> tuple[float, torch.dtype]:
    check_float_tensor(real_scores, "real_scores")
    check_float_tensor(fake_scores, "fake_scores")
    if real_scores.dim() != 1 or fake_scores.dim() != 1:
        raise ValueError(f"real_scores and fake_scores must be 1-D, got {tuple(real_scores.shape)} and {tuple(fake_scores.shape)}")
    check_same_device([("real_scores", real_scores), ("fake_scores", fake_scores)])
    for name, scores in (("real_scores", real_scores), ("fake_scores", fake_scores)):
        check_has_values(scores, name)
        if not bool(torch.isfinite(scores.detach()).all()):
            raise NonFiniteError(f"{name} must be finite, got NaN or Inf")
    return check_number(margin, "margin", minimum=0.0), torch.promote_types(real_scores.dtype, fake_scores.dtype)


def _hinge_sums(anchors: torch.Tensor, others: torch.Tensor, margin: float, dtype: torch.dtype) -> torch.Tensor:
    """For each anchor ``a``, ``sum over o of max(0, margin - (a - o))`` in float64, from the sorted
    others and their prefix sums (both sides non-empty)."""
    work = torch.float64
    others_sorted, _ = torch.sort(others.to(dtype))
    with torch.no_grad():
        k = _first_counted(anchors.detach().to(dtype), others_sorted.detach(), margin)
    others_sorted = others_sorted.to(work)
    prefix = torch.cat([others_sorted.new_zeros(1), torch.cumsum(others_sorted, dim=0)])  # prefix[k] = sum of the k smallest
    count = (others.shape[0] - k).to(work)
    return count * (margin - anchors.to(work)) + (prefix[-1] - prefix[k])


def pairwise_margin_ranking(real_scores: torch.Tensor, fake_scores: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    r"""``mean over all (r, f) of max(0, margin - (s_r - s_f))`` in O((R + F) log F) time, O(R + F) memory.

    For a real score ``s_r`` the fakes that count are those with ``s_f > s_r - margin``; with the fakes
    sorted, they are the last ``F - k`` (``k`` from a binary search), and their sum is the total minus
    a prefix sum. The sums are taken in float64 (prefix sums of 100,000 float32 values would lose
    digits to cancellation); the result has the inputs' dtype. Returns 0 if either side is empty.
    """
    margin, dtype = _check_ranking_scores(real_scores, fake_scores, margin)
    n_real, n_fake = real_scores.shape[0], fake_scores.shape[0]
    if n_real == 0 or n_fake == 0:
        return (real_scores.sum() * 0 + fake_scores.sum() * 0).to(dtype)
    return (_hinge_sums(real_scores, fake_scores, margin, dtype).sum() / (n_real * n_fake)).to(dtype)


def margin_ranking_per_sample(real_scores: torch.Tensor, fake_scores: torch.Tensor, margin: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Each score's share of :func:`pairwise_margin_ranking`: ``(per_real [R], per_fake [F])``, a real
    score's mean hinge ``max(0, margin - (s_r - s_f))`` over the fakes and a fake score's over the
    reals (0 for every score when a side is empty). The mean of all ``R + F`` shares is
    :func:`pairwise_margin_ranking`'s value, with its gradients.

    A fake's hinges are a real's with both sides negated (``margin - (-s_f - (-s_r))``, the same
    number in floating point), so both sides share the sorted, prefix-sum computation and its
    tie decisions.
    """
    margin, dtype = _check_ranking_scores(real_scores, fake_scores, margin)
    n_real, n_fake = real_scores.shape[0], fake_scores.shape[0]
    if n_real == 0 or n_fake == 0:
        return (real_scores * 0).to(dtype), (fake_scores * 0).to(dtype)
    per_real = _hinge_sums(real_scores, fake_scores, margin, dtype) / n_fake
    per_fake = _hinge_sums(-fake_scores, -real_scores, margin, dtype) / n_real
    return per_real.to(dtype), per_fake.to(dtype)


def _first_counted(real: torch.Tensor, fake_sorted: torch.Tensor, margin: float) -> torch.Tensor:
    """For each real score, the index of the first sorted fake whose hinge ``margin - (s_r - s_f)`` is
    > 0, decided in the inputs' own arithmetic, exactly as the double loop decides it (a binary search
    on ``s_r - margin`` alone can round the other way at a tie; the few fakes at the boundary are
    re-checked, equal values together)."""
    n_fake = fake_sorted.shape[0]
    k = torch.searchsorted(fake_sorted.contiguous(), (real - margin).contiguous(), right=True)
    for _ in range(4):
        left = (k - 1).clamp(min=0)
        move_left = torch.nonzero((k > 0) & (margin - (real - fake_sorted[left]) > 0)).flatten()
        if move_left.numel():  # rare: only at rounding ties, so only those are searched again
            k[move_left] = torch.searchsorted(fake_sorted, fake_sorted[left[move_left]], right=False)
        right = k.clamp(max=n_fake - 1)
        move_right = torch.nonzero((k < n_fake) & ~(margin - (real - fake_sorted[right]) > 0)).flatten()
        if move_right.numel():
            k[move_right] = torch.searchsorted(fake_sorted, fake_sorted[right[move_right]], right=True)
        if not move_left.numel() and not move_right.numel():
            break
    return k


def _check_inputs(scores: object, logits: object, labels: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_float_tensor(scores, "scores")
    if scores.dim() == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.dim() != 1 or scores.shape[0] == 0:
        raise ValueError(f"scores must have shape [B] or [B, 1] with B >= 1, got {tuple(scores.shape)}")
    batch = scores.shape[0]
    check_float_tensor(logits, "logits")
    if tuple(logits.shape) != (batch, 2):
        raise ValueError(f"logits must have shape [B, 2] = [{batch}, 2] (fake, real; B from scores), got {tuple(logits.shape)}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {describe(labels)}")
    if labels.dtype == torch.bool or not (labels.is_floating_point() or labels.dtype in (torch.uint8, torch.int32, torch.int64)):
        raise TypeError(f"labels must hold numbers in [0, 1] (float or int), got {labels.dtype}")
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if tuple(labels.shape) != (batch,):
        raise ValueError(f"labels must have shape [B] = [{batch}] (B from scores), got {tuple(labels.shape)}")
    check_has_values(labels, "labels")
    values = labels.detach().to(torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise ValueError("labels must be finite, got NaN or Inf")
    if bool((values < 0).any()) or bool((values > 1).any()):
        raise ValueError(f"labels must lie in [0, 1] (1 = real), got values from {values.min().item():g} to {values.max().item():g}")
    for name, t in (("logits", logits), ("labels", labels)):
        if t.device != scores.device:
            raise ValueError(f"{name} is on {t.device} but scores is on {scores.device}; move all inputs to one device")
    check_has_values(scores, "scores")
    if not bool(torch.isfinite(scores.detach()).all()):
        raise NonFiniteError("NaN/Inf detected in scores!")
    if not bool(torch.isfinite(logits.detach()).all()):
        raise NonFiniteError("NaN/Inf detected in logits!")
    return scores, logits, labels


def _defined_in(cls: type, name: str) -> type:
    """The class of ``cls``'s MRO whose body defines ``name``."""
    return next(klass for klass in cls.__mro__ if name in vars(klass))


class CombinedLoss(nn.Module):
    """Seed 002's combined loss for an authenticity scorer.

    Args:
        regression_weight, classification_weight, ranking_weight: term weights (>= 0).
        regression_type: ``"mse"`` or ``"smoothl1"`` (SmoothL1 with beta 1).
        margin: the ranking margin (the seed's 0.5).

    ``forward(scores, logits, labels)`` returns ``(total, loss_dict)``: ``total`` a scalar tensor,
    ``loss_dict`` plain floats ``regression``, ``classification``, ``ranking``, ``total`` and the
    number of ``ranking_pairs`` (0: the batch lacks reals or fakes, and ranking is 0).

    Each term is defined once, per sample: ``_regression_per_sample(scores, labels)``,
    ``_classification_per_sample(logits, labels)`` and ``_ranking_per_sample(scores, labels)`` give
    ``[B]``; ``forward``'s term is their mean (``_regression_loss`` and so on) and
    :meth:`per_sample_terms` reports them. A subclass changes a term by overriding its per-sample form,
    as :class:`FocalCombinedLoss` does, and both follow. The seed's extension points work too: the
    batch forms ``_regression_loss``, ``_classification_loss`` or ``_ranking_loss``, after which
    :meth:`per_sample_terms` refuses to report a form it cannot know; or extra keyword tensors in the
    subclass's own ``forward(scores, logits, labels, **extra)`` that calls
    ``super().forward(scores, logits, labels)``.
    """

    def __init__(
        self,
        regression_weight: float = 1.0,
        classification_weight: float = 0.3,
        ranking_weight: float = 0.2,
        regression_type: str = "mse",
        margin: float = 0.5,
    ) -> None:
        super().__init__()
        self.regression_weight = check_number(regression_weight, "regression_weight", minimum=0.0)
        self.classification_weight = check_number(classification_weight, "classification_weight", minimum=0.0)
        self.ranking_weight = check_number(ranking_weight, "ranking_weight", minimum=0.0)
        self.regression_type = check_choice(regression_type, "regression_type", REGRESSION_TYPES)
        self.margin = check_number(margin, "margin", minimum=0.0)

    def _regression_per_sample(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = labels.to(scores.dtype)
        if self.regression_type == "mse":
            return F.mse_loss(scores, target, reduction="none")
        return F.smooth_l1_loss(scores, target, reduction="none")

    def _classification_per_sample(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, (labels > 0.5).long(), reduction="none")

    def _ranking_per_sample(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """A real's mean hinge over the fakes, a fake's over the reals (0 without a pair): their mean
        is the mean over every real x fake pair."""
        real = labels > 0.5
        per_real, per_fake = margin_ranking_per_sample(scores[real], scores[~real], self.margin)
        return torch.zeros_like(scores).masked_scatter(real, per_real).masked_scatter(~real, per_fake)

    def _regression_loss(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self._regression_per_sample(scores, labels).mean()

    def _classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self._classification_per_sample(logits, labels).mean()

    def _ranking_loss(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self._ranking_per_sample(scores, labels).mean()

    def forward(self, scores: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, **extra: object) -> tuple[torch.Tensor, dict]:
        if extra:
            raise TypeError(
                f"{type(self).__name__}.forward got unexpected keyword arguments {sorted(extra)}: CombinedLoss uses only "
                "scores, logits and labels; subclass it to add terms that use more (see its docstring)"
            )
        scores, logits, labels = _check_inputs(scores, logits, labels)
        regression = self._regression_loss(scores, labels)
        classification = self._classification_loss(logits, labels)
        ranking = self._ranking_loss(scores, labels)
        total = self.regression_weight * regression + self.classification_weight * classification + self.ranking_weight * ranking
        if not bool(torch.isfinite(total.detach())):
            largest = max((("scores", scores), ("logits", logits)), key=lambda item: float(item[1].detach().abs().max()))
            raise NonFiniteError(
                f"NaN/Inf detected in total loss! The inputs are finite, so a term overflows {total.dtype}: {largest[0]} holds "
                f"magnitudes up to {float(largest[1].detach().abs().max()):g}"
            )
        n_real = int((labels > 0.5).sum())
        loss_dict = {
            "regression": float(regression.detach()),
            "classification": float(classification.detach()),
            "ranking": float(ranking.detach()),
            "total": float(total.detach()),
            "ranking_pairs": n_real * (labels.shape[0] - n_real),
        }
        return total, loss_dict

    def per_sample_terms(self, scores: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each term per sample ``[B]`` (for pictures and reports; no gradient), from the same
        definitions as ``forward``, whose terms are their means: the squared (or SmoothL1) error, the
        cross-entropy (focal in :class:`FocalCombinedLoss`), and the mean hinge of the sample over
        the other class.

        Raises ``TypeError`` for a subclass that overrides a batch form (``_classification_loss``)
        after its per-sample form: the values would not be the ones ``forward`` averages."""
        for term in TERMS:
            batch_owner = _defined_in(type(self), f"_{term}_loss")
            per_sample_owner = _defined_in(type(self), f"_{term}_per_sample")
            if batch_owner is not per_sample_owner and issubclass(batch_owner, per_sample_owner):
                raise TypeError(
                    f"{batch_owner.__name__} overrides _{term}_loss (the batch value) but not _{term}_per_sample, so its "
                    f"{term} term per sample is unknown: override _{term}_per_sample instead (the batch value is its mean)"
                )
        scores, logits, labels = _check_inputs(scores, logits, labels)
        with torch.no_grad():
            return {
                "regression": self._regression_per_sample(scores, labels),
                "classification": self._classification_per_sample(logits, labels),
                "ranking": self._ranking_per_sample(scores, labels),
            }

    def extra_repr(self) -> str:
        return (
            f"regression_weight={self.regression_weight}, classification_weight={self.classification_weight}, "
            f"ranking_weight={self.ranking_weight}, regression_type={self.regression_type!r}, margin={self.margin}"
        )


class FocalCombinedLoss(CombinedLoss):
    """:class:`CombinedLoss` with the focal cross-entropy ``(1 - p_t)^gamma * CE`` (the seed's form)."""

    def __init__(self, gamma: float = 2.0, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.gamma = check_number(gamma, "gamma", minimum=0.0)

    def _classification_per_sample(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        ce = super()._classification_per_sample(logits, labels)
        pt = torch.exp(-ce)
        return (1 - pt) ** self.gamma * ce

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, " + super().extra_repr()
