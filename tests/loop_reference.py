"""Plain Python reference implementations of the embedding losses.

Written independently of the library, as the definitions read: loops over samples, positions,
pairs and negatives, with torch used only for 1-D vector arithmetic (so autograd still gives the
reference gradients). Slow on purpose; only for small inputs.
"""

from __future__ import annotations

import torch

EPS = 1e-8


def vector_distance(u: torch.Tensor, v: torch.Tensor, dist: str) -> torch.Tensor:
    if dist == "l2":
        return torch.sum((u - v) ** 2)
    if dist == "euclidean":
        return torch.sqrt(torch.sum((u - v) ** 2))
    if dist == "l1":
        return torch.sum(torch.abs(u - v))
    if dist == "cos":
        return 1 - vector_similarity(u, v, True)
    raise AssertionError(dist)


def vector_similarity(u: torch.Tensor, v: torch.Tensor, normalize: bool) -> torch.Tensor:
    dot = torch.dot(u, v)
    if not normalize:
        return dot
    return dot / torch.clamp(torch.linalg.norm(u) * torch.linalg.norm(v), min=EPS)


def positions(x: torch.Tensor, i: int) -> list[torch.Tensor]:
    """The feature vectors of sample i, one per position (row-major)."""
    return list(x[i].reshape(-1, x.shape[-1]))


def mask_weights(mask: torch.Tensor | None, i: int) -> list[float] | None:
    if mask is None:
        return None
    return [float(w) for w in mask[i].reshape(-1)]


def aggregate(values: list[torch.Tensor], weights: list[float] | None, agg: str) -> torch.Tensor:
    if weights is None:
        weights = [1.0] * len(values)
    if agg == "max":
        return max((v for v, w in zip(values, weights) if w > 0), key=lambda t: float(t.detach()))
    total = sum(v * w for v, w in zip(values, weights))
    if agg == "sum":
        return total
    return total / sum(weights)


def sample_distance(a, b, i, dist, agg, mask=None) -> torch.Tensor:
    pa, pb = positions(a, i), positions(b, i)
    values = [vector_distance(u, v, dist) for u, v in zip(pa, pb)]
    return aggregate(values, mask_weights(mask, i), agg)


def sample_similarity(a, b, i, j, normalize, agg, mask=None) -> torch.Tensor:
    """Similarity of a[i] and b[j] over aligned positions, weighted by a[i]'s mask."""
    pa, pb = positions(a, i), positions(b, j)
    values = [vector_similarity(u, v, normalize) for u, v in zip(pa, pb)]
    return aggregate(values, mask_weights(mask, i), agg)


def reduce(per_sample: list[torch.Tensor], reduction: str, weights=None) -> torch.Tensor:
    if weights is None:
        weights = [1.0] * len(per_sample)
    weights = [float(w) for w in weights]
    weighted = [l * w for l, w in zip(per_sample, weights)]
    if reduction == "none":
        return torch.stack(weighted)
    if reduction == "sum":
        return sum(weighted)
    total = sum(weights)
    return sum(weighted) / total if total > 0 else sum(weighted) * 0


def hinge(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, min=0)


def pair_distance(a, b, dist="cos", agg="mean", mask=None) -> torch.Tensor:
    return torch.stack([sample_distance(a, b, i, dist, agg, mask) for i in range(a.shape[0])])


def feature_match_loss(pred, target, kind="l2", agg="mean", reduction="mean", weights=None, mask=None):
    per = [sample_distance(pred, target, i, kind, agg, mask) for i in range(pred.shape[0])]
    return reduce(per, reduction, weights)


def contrastive_pair_loss(z1, z2, y, margin=1.0, dist="l2", agg="mean", reduction="mean", weights=None, mask=None):
    per = []
    for i in range(z1.shape[0]):
        d = sample_distance(z1, z2, i, "euclidean" if dist == "l2" else dist, agg, mask)
        label = float(y[i])
        per.append(0.5 * label * d**2 + 0.5 * (1 - label) * hinge(margin - d) ** 2)
    return reduce(per, reduction, weights)


def triplet_margin_loss(a, p, n, margin=0.2, dist="cos", agg="mean", reduction="mean", weights=None, mask=None):
    per = [
        hinge(sample_distance(a, p, i, dist, agg, mask) - sample_distance(a, n, i, dist, agg, mask) + margin)
        for i in range(a.shape[0])
    ]
    return reduce(per, reduction, weights)


def margin_ranking_on_distances(d_pos, d_neg, margin=0.2, reduction="mean", weights=None):
    per = [hinge(d_pos[i] - d_neg[i] + margin) for i in range(d_pos.shape[0])]
    return reduce(per, reduction, weights)


def negatives_list(negs) -> list[torch.Tensor]:
    if isinstance(negs, torch.Tensor):
        return [negs[:, k] for k in range(negs.shape[1])]
    return list(negs)


def multi_negative_ranking_loss(
    a, p, negs, margin=0.2, dist="cos", agg="mean", neg_agg="mean", reduction="mean", weights=None, mask=None, neg_temperature=0.05
):
    negs = negatives_list(negs)
    per = []
    for i in range(a.shape[0]):
        d_pos = sample_distance(a, p, i, dist, agg, mask)
        hinges = [hinge(d_pos - sample_distance(a, n, i, dist, agg, mask) + margin) for n in negs]
        if neg_agg == "mean":
            per.append(sum(hinges) / len(hinges))
        elif neg_agg == "sum":
            per.append(sum(hinges))
        elif neg_agg == "max":
            per.append(max(hinges, key=lambda t: float(t.detach())))
        else:
            t = neg_temperature
            exps = [torch.exp(h / t) for h in hinges]
            per.append(t * torch.log(sum(exps) / len(exps)))
    return reduce(per, reduction, weights)


def cross_entropy_first(logits: list[torch.Tensor], target: int) -> torch.Tensor:
    """-log softmax(logits)[target], with a max shift for stability."""
    top = max(float(l.detach()) for l in logits)
    return -(logits[target] - top) + torch.log(sum(torch.exp(l - top) for l in logits))


def info_nce_loss(
    anchor, positive, negatives=None, temperature=0.07, normalize=True, agg="mean", symmetric=False,
    reduction="mean", weights=None, mask=None,
):
    batch = anchor.shape[0]
    per = []
    if negatives is None:
        s = [[sample_similarity(anchor, positive, i, j, normalize, agg, mask) / temperature for j in range(batch)] for i in range(batch)]
        for i in range(batch):
            row = cross_entropy_first(s[i], i)
            if symmetric:
                column = cross_entropy_first([s[j][i] for j in range(batch)], i)
                row = 0.5 * (row + column)
            per.append(row)
    else:
        negs = negatives_list(negatives)
        for i in range(batch):
            logits = [sample_similarity(anchor, positive, i, i, normalize, agg, mask) / temperature]
            logits += [sample_similarity(anchor, n, i, i, normalize, agg, mask) / temperature for n in negs]
            loss = cross_entropy_first(logits, 0)
            if symmetric:
                reverse = [logits[0]] + [sample_similarity(positive, n, i, i, normalize, agg, mask) / temperature for n in negs]
                loss = 0.5 * (loss + cross_entropy_first(reverse, 0))
            per.append(loss)
    return reduce(per, reduction, weights)


def loss_no_edit_identity(z_pred, z_gt, z_src, margin=0.2, dist="cos", agg="mean", reduction="mean", weights=None, mask=None):
    return triplet_margin_loss(z_pred, z_gt, z_src, margin, dist, agg, reduction, weights, mask)


def loss_overlay_avoidance(z_pred, z_gt, z_overlay, margin=0.2, dist="cos", agg="mean", reduction="mean", weights=None, mask=None):
    return triplet_margin_loss(z_pred, z_gt, z_overlay, margin, dist, agg, reduction, weights, mask)


def loss_geometry_match(z_pred, z_gt, kind="l2", agg="mean", reduction="mean", weights=None, mask=None):
    return feature_match_loss(z_pred, z_gt, kind, agg, reduction, weights, mask)

