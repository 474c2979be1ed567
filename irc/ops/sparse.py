"""The ``sparse.*`` dialect: products whose constant weights are stored sparse.

Each op means exactly what its dense twin means — the IR keeps every
constant's decoded array, and the interpreter computes from it — but its
weight operand carries a ``csr`` or ``bsr<r x c>`` encoding and is laid out as
the runtime's sparse kernels read it: ``W[N][K]``, rows = output channels,
columns = the reduction axis (``docs/artifact.md``, "Sparse encodings").

=====================  ===========================================  ======================
op                     meaning                                      dense twin
=====================  ===========================================  ======================
``sparse.conv2d``      ``y = clamp(conv1x1(x, w) + b)``             ``nn.conv2d`` 1×1
``sparse.matmul``      ``y = clamp(a @ wᵀ + bias)``                 ``nn.gemm{trans_b}``
``sparse.qconv2d``     ``acc = b + Σ_c (x − z_x)·w[o, c]``          ``q.conv2d`` 1×1
``sparse.qmatmul``     ``acc = bias + (a − z_a) @ wᵀ``              ``q.matmul(a, wᵀ)``
=====================  ===========================================  ======================

The 1×1 convolutions have stride 1, no padding and one group (the only conv
the sparse kernels compute: a product of ``W[N][K]`` with the image as a
``[K][H·W]`` matrix).  Integer weights are ``i8`` with zero point 0, per tensor
or per output channel (axis 0), so a weight that is not stored is the real 0.
``passes/sparse_encode.py`` rewrites dense ops into these.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..dtypes import DType, wrap_int
from ..types import PerAxis, PerTensor, TensorType
from ._registry import OpDef, Operand, float_like, register_op, require_float
from .nn_elementwise import CLAMP, apply_clamp
from .q_core import _acc_quant, _centered, _check_bias, _quant_of

Array = np.ndarray

SPARSE = ("csr", "bsr")


def _weight(doc: str) -> Operand:
    return Operand("w", encodings=SPARSE, doc=doc)


class _SparseOp(OpDef):
    """Shared check: the weight operand is a constant stored ``csr`` or ``bsr``."""

    def verify(self, node: Any) -> Iterable[str]:
        w = node.inputs[1]
        if not w.is_const:
            yield f"{self.name} needs constant weights; %{w.name} is computed"
        elif w.type.encoding.kind not in SPARSE:
            yield (f"{self.name}'s weights %{w.name} are {w.type.encoding}; encode them csr or "
                   "bsr<r x c> (the sparse-encode pass does), or use the dense op")


def _check_1x1(x: TensorType, w: TensorType) -> None:
    if x.rank != 4 or w.rank != 4 or w.shape[2:] != (1, 1):
        raise ValueError(f"x must be [B, K, H, W] and w [N, K, 1, 1], got {x} and {w}")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} input channels but x has {x.shape[1]}")


def _check_rows(a: TensorType, w: TensorType) -> None:
    if a.rank < 2 or w.rank != 2:
        raise ValueError(f"a must be [..., M, K] and w [N, K], got {a} and {w}")
    if w.shape[1] != a.shape[-1]:
        raise ValueError(f"w has K={w.shape[1]} but a has K={a.shape[-1]}")


def _check_int_weights(w: TensorType) -> None:
    q = _quant_of(w, "w")
    if w.dtype is not DType.I8:
        raise ValueError(f"sparse integer weights are i8 (zero point 0), got {w}")
    if isinstance(q, PerAxis) and q.axis != 0:
        raise ValueError(f"w must be quantized per tensor or per output channel (axis 0), got {w}")
    zps = (q.zero_point,) if isinstance(q, PerTensor) else q.zero_points
    if any(zps):
        raise ValueError(f"sparse weights need zero point 0 (a pruned weight is the stored 0), "
                         f"got {w}")


@register_op
class SparseConv2d(_SparseOp):
    """y[b, n, p] = clamp(b[n] + Σ_k w[n, k] · x[b, k, p]): a 1×1 convolution
    (stride 1, unpadded, one group) whose weights [N, K, 1, 1] are stored sparse."""

    name = "sparse.conv2d"
    operands = (Operand("x"), _weight("weights [N, K, 1, 1]"), Operand("b", optional=True))
    attrs = (CLAMP,)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x, w = types[0], types[1]
        require_float(x, "x")
        require_float(w, "w")
        _check_1x1(x, w)
        n = w.shape[0]
        if len(types) == 3 and types[2].shape != (n,):
            raise ValueError(f"bias must have shape [{n}], got {list(types[2].shape)}")
        return float_like(x, (x.shape[0], n) + x.shape[2:])

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, w = inputs[0], inputs[1]
        acc = np.result_type(x.dtype, np.float32)
        b_, k, h, wd = x.shape
        y = np.matmul(w.reshape(w.shape[0], k).astype(acc), x.reshape(b_, k, h * wd).astype(acc))
        if len(inputs) == 3:
            y += inputs[2].astype(acc)[None, :, None]
        return apply_clamp(y.reshape(b_, -1, h, wd).astype(x.dtype, copy=False), attrs)


@register_op
class SparseMatmul(_SparseOp):
    """y[.., m, n] = clamp(bias[n] + Σ_k a[.., m, k] · w[n, k]): a fully connected
    layer (a @ wᵀ) whose weights [N, K] are stored sparse."""

    name = "sparse.matmul"
    operands = (Operand("a"), _weight("weights [N, K]"), Operand("bias", optional=True))
    attrs = (CLAMP,)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        a, w = types[0], types[1]
        require_float(a, "a")
        require_float(w, "w")
        _check_rows(a, w)
        n = w.shape[0]
        if len(types) == 3 and types[2].shape != (n,):
            raise ValueError(f"bias must have shape [{n}], got {list(types[2].shape)}")
        return float_like(a, a.shape[:-1] + (n,))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        a, w = inputs[0], inputs[1]
        acc = np.result_type(a.dtype, np.float32)
        y = np.matmul(a.astype(acc), w.astype(acc).T)
        if len(inputs) == 3:
            y += inputs[2].astype(acc)
        return apply_clamp(y.astype(a.dtype, copy=False), attrs)


@register_op
class SparseQConv2d(_SparseOp):
    """acc[b, n, p] = b[n] + Σ_k w[n, k] · (x[b, k, p] − z_x), exact and wrapped to
    int32: ``q.conv2d`` of a 1×1 convolution whose i8 weights (zero point 0) are
    stored sparse.  The result is typed as ``q.conv2d``'s (scale s_x · s_w[n] along
    axis 1, zero point 0)."""

    name = "sparse.qconv2d"
    operands = (Operand("x"), _weight("i8 weights [N, K, 1, 1], zero point 0"),
                Operand("b", optional=True))
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x, w = types[0], types[1]
        xq = _quant_of(x, "x")
        if not isinstance(xq, PerTensor):
            raise ValueError(f"x must be quantized per tensor, got {x}")
        _check_int_weights(w)
        _check_1x1(x, w)
        _check_bias(types, w.shape[0])
        return TensorType(DType.I32, (x.shape[0], w.shape[0]) + x.shape[2:],
                          _acc_quant(xq.scale, _quant_of(w, "w"), 1))

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        x = _centered(inputs[0], types[0])
        w = inputs[1].astype(np.int64)
        b_, k, h, wd = x.shape
        acc = np.matmul(w.reshape(w.shape[0], k), x.reshape(b_, k, h * wd))
        if len(inputs) == 3:
            acc = acc + inputs[2].astype(np.int64)[None, :, None]
        return wrap_int(acc.reshape(b_, -1, h, wd), DType.I32)


@register_op
class SparseQMatmul(_SparseOp):
    """acc[.., m, n] = bias[n] + Σ_k (a[.., m, k] − z_a) · w[n, k], exact and wrapped
    to int32: ``q.matmul(a, wᵀ)`` whose i8 weights [N, K] (zero point 0) are stored
    sparse.  The result is typed as ``q.matmul``'s (scale s_a · s_w[n] along the
    last axis, zero point 0)."""

    name = "sparse.qmatmul"
    operands = (Operand("a"), _weight("i8 weights [N, K], zero point 0"),
                Operand("bias", optional=True))
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        a, w = types[0], types[1]
        aq = _quant_of(a, "a")
        if not isinstance(aq, PerTensor):
            raise ValueError(f"a must be quantized per tensor, got {a}")
        _check_int_weights(w)
        _check_rows(a, w)
        _check_bias(types, w.shape[0])
        shape = a.shape[:-1] + (w.shape[0],)
        return TensorType(DType.I32, shape, _acc_quant(aq.scale, _quant_of(w, "w"),
                                                       len(shape) - 1))

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        a = _centered(inputs[0], types[0])
        acc = np.matmul(a, inputs[1].astype(np.int64).T)
        if len(inputs) == 3:
            acc = acc + inputs[2].astype(np.int64)
        return wrap_int(acc, DType.I32)
