r"""Per-position distances and similarities between embeddings ``[B, ..., D]``.

Everything here works on the last (feature) dimension and keeps every other one; the losses then
aggregate positions with :func:`~comfy_editloss.losses.reduction.aggregate`. No argument checks are
made here: the public functions check once, up front.

Conventions (chosen here, where seed 000 leaves them open):

* ``"l2"`` is the **squared** Euclidean distance :math:`\lVert a-b \rVert_2^2` summed over ``D`` (as
  seed 001 says for ``pair_distance``; FaceNet's triplet loss uses it too). Unlike
  ``torch.nn.functional.mse_loss`` it is not divided by ``D``.
* ``"euclidean"`` is the plain :math:`\lVert a-b \rVert_2`, with no ``eps`` added to the difference
  (``torch.nn.functional.pairwise_distance`` adds ``eps=1e-6``); its gradient at ``a == b`` is 0.
  It is computed without overflow or underflow of the squares.
* ``"l1"`` is :math:`\lVert a-b \rVert_1` summed over ``D`` (``l1_loss`` averages over ``D``).
* ``"cos"`` is the cosine distance :math:`1 - \cos(a, b)` in :math:`[0, 2]`. With ``normalize=True``
  each vector is first divided by its largest magnitude (so nothing overflows or underflows: the
  cosine of ``1e20 * a`` or ``1e-30 * a`` is that of ``a``), then
  :math:`1 - \langle a,b \rangle / \max(\lVert a\rVert \lVert b\rVert, \epsilon)`
  (:math:`\epsilon = 10^{-8}`), so a zero vector has similarity 0 (distance 1) and a finite
  gradient; with ``normalize=False`` it is :math:`1 - \langle a, b\rangle`, for embeddings that are
  already unit-norm. ``torch.nn.functional.cosine_similarity`` clamps each norm separately; the two
  agree whenever both norms exceed :math:`\epsilon`.
"""

from __future__ import annotations

import torch

from .autograd import backward_by_autograd
from .reduction import aggregate

DISTANCES = ("cos", "l2", "euclidean", "l1")
COSINE_EPS = 1e-8


class _DifferenceNorm(torch.autograd.Function):
    """``||a - b||`` over the last dim (squared L2, L2 or L1) with a hand-written backward.

    Autograd's own graph for ``vector_norm(a - b)`` keeps the difference and then allocates two
    more tensors of the input's size in backward; this keeps one and writes the gradient in one pass,
    which is what lets the feature-matching loss run as fast as ``F.mse_loss`` (see benchmarks/).
    A double backward recomputes it with plain ops (:mod:`comfy_editloss.losses.autograd`).
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:  # type: ignore[override]
        diff = a - b
        if kind == "l1":
            out = torch.linalg.vector_norm(diff, ord=1, dim=-1)
        elif kind == "l2":
            # The squares overflow or underflow only where the squared distance itself does.
            out = torch.linalg.vector_norm(diff, ord=2, dim=-1).square()
        else:
            out = safe_norm(diff)
        ctx.kind = kind
        ctx.save_for_backward(a, b, diff, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        a, b, diff, out = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a backward that is itself differentiable
            return (*backward_by_autograd(lambda x, y: _difference_norm(x, y, ctx.kind), (a, b), ctx.needs_input_grad[:2], grad), None)
        g = grad.unsqueeze(-1)
        if ctx.kind == "l2":
            grad_a = diff * (2 * g)
        elif ctx.kind == "euclidean":
            # d||x||/dx = x/||x||, and 0 (a subgradient) where x == 0.
            scale = torch.where(out > 0, grad / out.clamp_min(torch.finfo(out.dtype).tiny), 0)
            grad_a = diff * scale.unsqueeze(-1)
        else:
            grad_a = torch.sign(diff).mul_(g)
        grad_b = -grad_a if ctx.needs_input_grad[1] else None
        return (grad_a if ctx.needs_input_grad[0] else None), grad_b, None


def _difference_norm(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """What :class:`_DifferenceNorm` computes, in plain differentiable ops."""
    diff = a - b
    if kind == "l1":
        return diff.abs().sum(dim=-1)
    if kind == "l2":
        return diff.square().sum(dim=-1)
    return safe_norm(diff)


# Vectors whose largest magnitude m lies in [2**-13, 2**40] are used as they are, which saves a copy
# of the input: their squared norms (at most D * 2**80) cannot overflow float32 for D below 2**48,
# and a product of two norms is at least 2**-26, above the cosine's eps of 1e-8, so the eps never
# changes a cosine. Other vectors are divided by their largest magnitude first.
_SAFE_MAGNITUDES = (2.0**-13, 2.0**40)


def _magnitudes(x: torch.Tensor) -> torch.Tensor:
    """``max |x|`` over the last dim, kept; NaN where the vector holds one. Two reductions, no
    temporary of the input's size (``abs().amax()`` makes one; ``aminmax(dim=...)`` is 9x slower)."""
    x = x.detach()
    return torch.maximum(x.amax(dim=-1, keepdim=True), -x.amin(dim=-1, keepdim=True))


def _safe_as_it_is(scale: torch.Tensor) -> bool:
    if scale.device.type == "meta":
        return False
    nonzero = torch.where(scale > 0, scale, torch.full_like(scale, _SAFE_MAGNITUDES[0]))
    low, high = torch.aminmax(nonzero)
    return bool((low >= _SAFE_MAGNITUDES[0]) & (high <= _SAFE_MAGNITUDES[1]))


def rescaled(x: torch.Tensor) -> torch.Tensor:
    """``x / max|x|`` over the last dim (1 for a zero vector; the scale carries no gradient), or
    ``x`` itself when every vector's largest magnitude is in a safe range.

    Norms and dot products of the result neither overflow nor underflow, whatever the input's
    magnitude: for everything that is scale-invariant (cosines, unit vectors) the result is that of
    the exact arithmetic, and its gradient too (the scale's own derivative is zero there).
    """
    scale = _magnitudes(x)
    if _safe_as_it_is(scale):
        return x
    return x / torch.where(scale > 0, scale, torch.ones_like(scale))


def safe_norm(x: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the last dim without overflow or underflow of the squares."""
    scale = _magnitudes(x)
    if _safe_as_it_is(scale):
        return torch.linalg.vector_norm(x, dim=-1)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.linalg.vector_norm(x / safe, dim=-1) * safe.squeeze(-1)


def unit_vectors(x: torch.Tensor) -> torch.Tensor:
    """``x / max(||x||, eps)`` over the last dim (the form used for similarity matrices); any nonzero
    vector becomes unit-norm whatever its magnitude, a zero vector stays zero."""
    x = rescaled(x)
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(COSINE_EPS)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Per-position cosine similarity (or plain dot product with ``normalize=False``)."""
    if not normalize:
        return torch.einsum("...d,...d->...", a, b)
    a, b = rescaled(a), rescaled(b)
    dot = torch.einsum("...d,...d->...", a, b)
    norms = torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1)
    return dot / norms.clamp_min(COSINE_EPS)


def distance_per_position(a: torch.Tensor, b: torch.Tensor, dist: str, normalize: bool = True) -> torch.Tensor:
    """``[B, ..., D] x [B, ..., D] -> [B, ...]``."""
    if dist == "cos":
        return 1 - cosine_similarity(a, b, normalize)
    return _DifferenceNorm.apply(a, b, dist)


def sample_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    dist: str,
    agg: str,
    mask: torch.Tensor | None,
    normalize: bool = True,
) -> torch.Tensor:
    """Per-sample distance ``[B]``: per-position distance aggregated over positions."""
    return aggregate(distance_per_position(a, b, dist, normalize), agg, mask)


def sample_similarity(
    a: torch.Tensor, b: torch.Tensor, normalize: bool, agg: str, mask: torch.Tensor | None
) -> torch.Tensor:
    """Per-sample similarity ``[B]`` of row-aligned pairs (anchor i with its own positive/negative)."""
    return aggregate(cosine_similarity(a, b, normalize), agg, mask)


def similarity_matrix(
    a: torch.Tensor, b: torch.Tensor, normalize: bool, agg: str, mask: torch.Tensor | None
) -> torch.Tensor:
    """``S[i, j]`` = similarity of ``a[i]`` and ``b[j]``, aggregated over their aligned positions.

    Position ``p`` of sample ``i`` is compared with position ``p`` of sample ``j`` (embeddings of
    images with the same layout). The mask of ``a[i]`` weighs the positions of every pair in row
    ``i``. ``mean``/``sum`` reduce to one matrix product ``[B, P*D] @ [P*D, B]``; ``max`` needs the
    per-position products ``[P, B, B]``.
    """
    batch, dim = a.shape[0], a.shape[-1]
    a = a.reshape(batch, -1, dim)
    b = b.reshape(batch, -1, dim)
    if normalize:
        a, b = unit_vectors(a), unit_vectors(b)
    positions = a.shape[1]
    weights = None if mask is None else mask.reshape(batch, positions).to(a.dtype)
    if agg == "max":
        per_position = torch.bmm(a.transpose(0, 1), b.permute(1, 2, 0))  # [P, B, B]
        if weights is not None:
            per_position = per_position.masked_fill((weights <= 0).T.unsqueeze(-1), float("-inf"))
        return per_position.amax(0)
    b = b.reshape(batch, -1)
    if weights is None:
        scores = a.reshape(batch, -1) @ b.T
        return scores / positions if agg == "mean" else scores
    if agg == "mean":
        weights = weights / weights.sum(1, keepdim=True)
    return (a * weights.unsqueeze(-1)).reshape(batch, -1) @ b.T
