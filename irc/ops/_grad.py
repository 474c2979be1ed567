"""Helpers the ops' VJPs share (see ``OpDef.vjp`` in ``_registry``).

A VJP is ``vjp(inputs, attrs, outputs, grad_outputs) -> grad_inputs``: given
the forward operands and results and ``ḡ = ∂L/∂y`` per result, it returns
``∂L/∂x`` per operand, in the operand's shape and dtype, or None for an operand
that is not differentiable (integer indices, running statistics, ...).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

Array = np.ndarray


def unbroadcast(g: Array, shape: Sequence[int]) -> Array:
    """Sum ``g`` (the gradient of a broadcast result) back to ``shape``: if
    ``y = f(broadcast(x))`` then ``∂L/∂x = Σ ∂L/∂y`` over every axis the
    broadcast added (leading axes) or stretched (size-1 axes of ``x``)."""
    shape = tuple(shape)
    g = np.asarray(g)
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    stretched = tuple(i for i, (s, d) in enumerate(zip(shape, g.shape)) if s == 1 and d != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g.reshape(shape)


def grad_like(g: Array, x: Array) -> Array | None:
    """``g`` summed back to ``x``'s shape and cast to its dtype, or None when
    ``x`` is not a float tensor (integers and booleans have no gradient)."""
    if x.dtype.kind != "f":
        return None
    return np.asarray(unbroadcast(g, x.shape), dtype=x.dtype)


def grad_or_zeros(g: Array | None, like: Array) -> Array:
    """A result's incoming gradient, zeros when the engine passes None (the
    result does not reach the loss)."""
    return np.zeros(like.shape, like.dtype) if g is None else np.asarray(g)
