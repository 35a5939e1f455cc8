"""Double backward for the losses' hand-written backward passes.

A few operations (the distance norms, the power spectrum, the depth term sums) have a backward
written by hand: it keeps less memory and runs faster than autograd's. Such a backward is not itself
recorded by autograd, so a second derivative (``torch.autograd.grad(..., create_graph=True)``:
gradient penalties, meta-learning, Hessian-vector products) needs another path. When the backward
runs in grad mode, which is exactly when ``create_graph=True`` asked for its graph, the operation is
recomputed from its saved inputs with plain differentiable ops and differentiated by autograd: the
same first derivative, with its own graph. Every loss of :mod:`comfy_editloss.losses` thus supports
double backward; only the first derivative takes the fast path.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def backward_by_autograd(
    plain: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    needs_input_grad: Sequence[bool],
    grad_output: torch.Tensor,
) -> tuple[torch.Tensor | None, ...]:
    """Gradients of ``plain(*inputs)`` (one differentiable output) for the inputs that need them,
    with ``create_graph=True``; ``None`` for the others."""
    wanted = [x for x, need in zip(inputs, needs_input_grad) if need]
    with torch.enable_grad():
        output = plain(*inputs)
    grads = iter(torch.autograd.grad(output, wanted, grad_output, create_graph=True, allow_unused=True))
    results = []
    for x, need in zip(inputs, needs_input_grad):
        grad = next(grads) if need else None
        results.append(torch.zeros_like(x) if need and grad is None else grad)
    return tuple(results)
