"""Matrix products: ``nn.matmul`` (numpy semantics) and ``nn.gemm`` (ONNX Gemm).

Both carry the fused-activation ``clamp`` attribute.  Operands share one float
dtype; float16 products accumulate in float32 and round once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import TensorType
from ._registry import (Attr, Bool, Float, OpDef, Operand, broadcast_shapes, float_like,
                        register_op, require_float, require_same_dtype)
from ._grad import unbroadcast
from .nn_elementwise import CLAMP, NO_CLAMP, apply_clamp, broadcasts_to, clamp_mask

Array = np.ndarray
Grads = list["Array | None"]


def _acc(*arrays: Array) -> list[Array]:
    acc = np.result_type(arrays[0].dtype, np.float32)
    return [a.astype(acc, copy=False) for a in arrays]


def unclamp_grad(gy: Array, y: Array, attrs: dict[str, Any]) -> Array:
    """The gradient through a fused ``clamp = [lo, hi]``: ȳ passes where the result
    lies strictly inside (lo, hi) and is 0 where it was clamped onto a bound
    (relu's convention: no gradient at 0).  Reading the clamped result ``y`` is
    enough: a clamped value sits exactly on a bound."""
    lo, hi = attrs.get("clamp", NO_CLAMP)
    if (lo, hi) == NO_CLAMP:
        return gy
    return np.where(clamp_mask(y, lo, hi), gy, np.zeros((), gy.dtype))


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy.matmul's result shape; ``ValueError`` naming the mismatch."""
    if not a or not b:
        raise ValueError("matmul operands must have rank >= 1 (scalars are not allowed)")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(f"contraction dims differ: a {list(a)} has K={a2[-1]} but b "
                         f"{list(b)} has K={b2[-2]}")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


@register_op
class Matmul(OpDef):
    """y = clamp(a @ b) with numpy.matmul semantics: the last two axes multiply
    ([..., M, K] @ [..., K, N] -> [..., M, N]), leading (batch) axes broadcast; a
    1-D a is a row vector [1, K] and a 1-D b a column vector [K, 1], whose unit
    axis is dropped from the result."""

    name = "nn.matmul"
    operands = (Operand("a"), Operand("b"))
    attrs = (CLAMP,)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        for t, what in zip(types, "ab"):
            require_float(t, f"nn.matmul operand {what}")
        require_same_dtype(types)
        return float_like(types[0], matmul_shape(types[0].shape, types[1].shape))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        a, b = _acc(*inputs)
        return apply_clamp(np.asarray(np.matmul(a, b), dtype=inputs[0].dtype), attrs)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> Grads:
        """For y = a @ b, with ȳ first masked by the clamp (:func:`unclamp_grad`)::

            ā = ȳ · bᵀ      b̄ = aᵀ · ȳ

        each summed over the batch axes its operand was broadcast along; a 1-D a
        is the row [1, K] and a 1-D b the column [K, 1], whose axis ȳ lacks."""
        a, b = _acc(*inputs)
        gy = _acc(unclamp_grad(grad_outputs[0], outputs[0], attrs))[0]
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            gy = gy[..., None]
        if a.ndim == 1:
            gy = gy[..., None, :]
        ga = np.matmul(gy, np.swapaxes(b2, -1, -2))
        if b2.ndim == 2 and gy.ndim > 2:
            # a shared [K, N] matrix: b̄ = Σ_batch aᵢᵀ ȳᵢ as one [K, B·M] @ [B·M, N] product
            k, m = a2.shape[-1], gy.shape[-2]
            a_rows = np.broadcast_to(a2, gy.shape[:-2] + (m, k)).reshape(-1, k)
            gb = a_rows.T @ gy.reshape(-1, gy.shape[-1])
        else:
            gb = np.matmul(np.swapaxes(a2, -1, -2), gy)
        da = unbroadcast(ga, a2.shape).reshape(inputs[0].shape)
        db = unbroadcast(gb, b2.shape).reshape(inputs[1].shape)
        return [da.astype(inputs[0].dtype, copy=False), db.astype(inputs[1].dtype, copy=False)]


@register_op
class Gemm(OpDef):
    """y = clamp(alpha * op(a) @ op(b) + beta * c)  (ONNX Gemm), where op(t) is t
    or its transpose (trans_a, trans_b); a and b are 2-D so op(a): [M, K],
    op(b): [K, N]; the optional c broadcasts (numpy rules) to [M, N]."""

    name = "nn.gemm"
    operands = (Operand("a"), Operand("b"), Operand("c", optional=True))
    attrs = (Attr("alpha", Float(), 1.0, "scale of the product"),
             Attr("beta", Float(), 1.0, "scale of c"),
             Attr("trans_a", Bool(), False, "use a's transpose"),
             Attr("trans_b", Bool(), False, "use b's transpose"),
             CLAMP)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        for t, what in zip(types, "abc"):
            require_float(t, f"nn.gemm operand {what}")
        require_same_dtype(types)
        a, b = types[0].shape, types[1].shape
        if len(a) != 2 or len(b) != 2:
            raise ValueError(f"a and b must be 2-D, got ranks {len(a)} and {len(b)}")
        m, k = a[::-1] if attrs["trans_a"] else a
        k2, n = b[::-1] if attrs["trans_b"] else b
        if k != k2:
            raise ValueError(f"contraction dims differ: op(a) is [{m}, {k}] and op(b) is "
                             f"[{k2}, {n}] (check trans_a/trans_b)")
        if len(types) == 3:
            c = types[2].shape
            if not broadcasts_to(c, (m, n)):
                raise ValueError(f"c of shape {list(c)} does not broadcast to [{m}, {n}]")
        return float_like(types[0], (m, n))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        arrs = _acc(*inputs)
        a, b = arrs[0], arrs[1]
        if attrs["trans_a"]:
            a = a.T
        if attrs["trans_b"]:
            b = b.T
        y = a @ b
        if attrs["alpha"] != 1.0:
            y *= attrs["alpha"]
        if len(arrs) == 3 and attrs["beta"] != 0.0:
            y += attrs["beta"] * arrs[2]
        return apply_clamp(y.astype(inputs[0].dtype, copy=False), attrs)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> Grads:
        """For y = α·A·B + β·c with A = op(a), B = op(b) and ȳ masked by the clamp::

            Ā = α·ȳ·Bᵀ   so  ā = Ā, or Āᵀ = α·B·ȳᵀ with trans_a
            B̄ = α·Aᵀ·ȳ   so  b̄ = B̄, or B̄ᵀ = α·ȳᵀ·A with trans_b
            c̄ = β·ȳ summed over the axes c was broadcast along
        """
        arrs = _acc(*inputs)
        a, b = arrs[0], arrs[1]
        alpha, beta = attrs["alpha"], attrs["beta"]
        gy = _acc(unclamp_grad(grad_outputs[0], outputs[0], attrs))[0]
        if alpha != 1.0:
            gy_a = gy * np.asarray(alpha, gy.dtype)
        else:
            gy_a = gy
        op_a = a.T if attrs["trans_a"] else a
        op_b = b.T if attrs["trans_b"] else b
        da = op_b @ gy_a.T if attrs["trans_a"] else gy_a @ op_b.T
        db = gy_a.T @ op_a if attrs["trans_b"] else op_a.T @ gy_a
        out: Grads = [da.astype(inputs[0].dtype, copy=False),
                      db.astype(inputs[1].dtype, copy=False)]
        if len(inputs) == 3:
            dc = unbroadcast(gy, inputs[2].shape) * np.asarray(beta, gy.dtype)
            out.append(dc.astype(inputs[2].dtype, copy=False))
        return out
