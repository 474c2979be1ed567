"""Comparison, logic and selection ops on run-time tensors, plus ONNX's LRN.

* Comparisons (``nn.equal``, ``nn.less``, ``nn.less_equal``, ``nn.greater``,
  ``nn.greater_equal``) take two operands of one dtype, broadcast them the numpy
  way and give ``b1``.  Floats compare IEEE-style: NaN is unequal to everything
  and neither less nor greater than anything.  ``nn.equal`` also compares ``b1``
  tensors; the ordering comparisons take numbers only.
* Logic (``nn.and``, ``nn.or``, ``nn.xor``, ``nn.not``) takes and gives ``b1``.
* ``nn.where(cond, a, b)`` selects elementwise, broadcasting all three.
* ``nn.is_nan`` and ``nn.is_inf`` classify float elements.
* ``nn.gather_elements`` indexes one axis elementwise (ONNX GatherElements).
* ``nn.lrn`` is ONNX LRN, local response normalization across channels.

Quantized operands are rejected: comparing or selecting stored integers is only
meaningful on dequantized values, which is a decision for the passes that
introduce quantization.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from ..dtypes import DType
from ..types import TensorType
from ._grad import grad_like
from .nn_shape import index_range_problem
from ._registry import (Attr, Bool, Float, Int, OpDef, Operand, broadcast_shapes, float_like,
                        normalize_axis, register_op, require_float, require_same_dtype)

Array = np.ndarray


def _unquantized(op: OpDef, types: Iterable[TensorType]) -> None:
    for t in types:
        if t.quant is not None:
            raise ValueError(f"{op.name} takes unquantized operands, got {t} (dequantize first)")


def _class_name(op_name: str) -> str:
    return op_name.split(".")[1].title().replace("_", "")


# --- comparisons ------------------------------------------------------------------------------

class _Compare(OpDef):
    """Shared rule of comparisons: one dtype, numpy broadcasting, a b1 result."""

    operands = (Operand("a"), Operand("b"))
    allow_bool = False
    fn: Callable[[Array, Array], Array]

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _unquantized(self, types)
        dt = require_same_dtype(types)
        if dt.is_bool and not self.allow_bool:
            raise ValueError(f"{self.name} compares numbers, got {dt} operands")
        return TensorType(DType.B1, broadcast_shapes(types[0].shape, types[1].shape))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return np.asarray(type(self).fn(inputs[0], inputs[1]), dtype=np.bool_)


def _compare(op_name: str, fn: Callable[[Array, Array], Array], doc: str,
             allow_bool: bool = False) -> type[OpDef]:
    cls = type(_class_name(op_name), (_Compare,), {
        "name": op_name, "__doc__": doc, "__module__": __name__, "allow_bool": allow_bool,
        "fn": staticmethod(fn)})
    return register_op(cls)


_compare("nn.equal", np.equal,
         "y = (a == b) as b1, broadcasting (ONNX Equal; NaN == NaN is false; b1 operands "
         "allowed)", allow_bool=True)
_compare("nn.less", np.less, "y = (a < b) as b1, broadcasting (ONNX Less)")
_compare("nn.less_equal", np.less_equal, "y = (a <= b) as b1, broadcasting (ONNX LessOrEqual)")
_compare("nn.greater", np.greater, "y = (a > b) as b1, broadcasting (ONNX Greater)")
_compare("nn.greater_equal", np.greater_equal,
         "y = (a >= b) as b1, broadcasting (ONNX GreaterOrEqual)")


# --- logic ------------------------------------------------------------------------------------

def _require_bool(op: OpDef, types: list[TensorType]) -> None:
    for t in types:
        if not t.dtype.is_bool:
            raise ValueError(f"{op.name} takes b1 operands, got {t.dtype}")


class _Logic(OpDef):
    """Shared rule of binary logic ops: b1 operands, numpy broadcasting, b1 result."""

    operands = (Operand("a"), Operand("b"))
    fn: Callable[[Array, Array], Array]

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _require_bool(self, types)
        return TensorType(DType.B1, broadcast_shapes(types[0].shape, types[1].shape))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return np.asarray(type(self).fn(inputs[0], inputs[1]), dtype=np.bool_)


def _logic(op_name: str, fn: Callable[[Array, Array], Array], doc: str) -> type[OpDef]:
    cls = type(_class_name(op_name), (_Logic,), {
        "name": op_name, "__doc__": doc, "__module__": __name__, "fn": staticmethod(fn)})
    return register_op(cls)


_logic("nn.and", np.logical_and, "y = a and b, elementwise on b1 with broadcasting (ONNX And)")
_logic("nn.or", np.logical_or, "y = a or b, elementwise on b1 with broadcasting (ONNX Or)")
_logic("nn.xor", np.logical_xor,
       "y = a xor b (a != b), elementwise on b1 with broadcasting (ONNX Xor)")


@register_op
class Not(OpDef):
    """y = not x, elementwise on b1 (ONNX Not)"""

    name = "nn.not"
    operands = (Operand("x"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _require_bool(self, types)
        return TensorType(DType.B1, types[0].shape)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return np.asarray(np.logical_not(inputs[0]))


# --- selection --------------------------------------------------------------------------------

@register_op
class Where(OpDef):
    """y = a where cond else b, elementwise, with cond, a and b broadcast
    together the numpy way (ONNX Where).  cond is b1; a and b share a dtype,
    which the result has."""

    name = "nn.where"
    operands = (Operand("cond"), Operand("a"), Operand("b"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        cond, a, b = types
        _unquantized(self, types)
        if not cond.dtype.is_bool:
            raise ValueError(f"cond must be b1, got {cond.dtype}")
        dt = require_same_dtype([a, b])
        return TensorType(dt, broadcast_shapes(cond.shape, a.shape, b.shape))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        cond, a, b = inputs
        return np.asarray(np.where(cond, a, b), dtype=a.dtype)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """ā = Σ_broadcast ȳ·[cond], b̄ = Σ_broadcast ȳ·[not cond]; cond gets None."""
        cond, a, b = inputs
        g = np.asarray(grad_outputs[0])
        zero = np.zeros((), g.dtype)
        return [None, grad_like(np.where(cond, g, zero), a), grad_like(np.where(cond, zero, g), b)]


# --- classification ---------------------------------------------------------------------------

@register_op
class IsNan(OpDef):
    """y = (x is NaN) as b1, elementwise on a float tensor (ONNX IsNaN)"""

    name = "nn.is_nan"
    operands = (Operand("x"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        require_float(types[0], "nn.is_nan operand")
        return TensorType(DType.B1, types[0].shape)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return np.asarray(np.isnan(inputs[0]))


@register_op
class IsInf(OpDef):
    """y = (x == +inf and detect_positive) or (x == -inf and detect_negative),
    as b1, elementwise on a float tensor (ONNX IsInf)"""

    name = "nn.is_inf"
    operands = (Operand("x"),)
    attrs = (Attr("detect_positive", Bool(), True, "report +inf"),
             Attr("detect_negative", Bool(), True, "report -inf"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        require_float(types[0], "nn.is_inf operand")
        return TensorType(DType.B1, types[0].shape)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        pos = np.isposinf(x) if attrs["detect_positive"] else np.zeros(x.shape, np.bool_)
        neg = np.isneginf(x) if attrs["detect_negative"] else np.zeros(x.shape, np.bool_)
        return np.asarray(pos | neg, dtype=np.bool_)


# --- indexing ---------------------------------------------------------------------------------

@register_op
class GatherElements(OpDef):
    """y[i_0, ..., i_k, ...] = x[i_0, ..., indices[i_0, ..., i_k, ...], ...], the
    index replacing coordinate ``axis`` (ONNX GatherElements, numpy
    ``take_along_axis``).  x and indices (i32/i64) have one rank; y has the
    shape of indices, whose dims off ``axis`` must not exceed x's.  Indices may
    be negative (counting from the end); out-of-range indices are an error."""

    name = "nn.gather_elements"
    operands = (Operand("x"), Operand("indices"))
    attrs = (Attr("axis", Int(), 0, "the axis indexed"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x, idx = types
        _unquantized(self, [x])
        if idx.dtype not in (DType.I32, DType.I64):
            raise ValueError(f"indices must be i32 or i64, got {idx.dtype}")
        if x.rank == 0:
            raise ValueError("cannot gather from a scalar")
        if idx.rank != x.rank:
            raise ValueError(f"indices must have x's rank {x.rank}, got rank {idx.rank}")
        axis = normalize_axis(attrs["axis"], x.rank)
        for d, (n, m) in enumerate(zip(x.shape, idx.shape)):
            if d != axis and m > n:
                raise ValueError(f"indices dim {d} is {m}, larger than x's {n} (only the "
                                 f"indexed axis {axis} may differ freely)")
        if x.shape[axis] == 0 and idx.size:
            raise ValueError(f"cannot gather from the empty axis {axis}")
        return float_like(x, idx.shape)

    def verify(self, node: Any) -> Iterable[str]:
        x, idx = node.inputs
        if idx.is_const and x.type.rank == idx.type.rank:
            try:
                why = index_range_problem(idx.const_value, x.type.shape, node.attrs["axis"])
            except ValueError:
                return
            if why:
                yield f"constant {why}"

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, idx = inputs
        axis = normalize_axis(attrs["axis"], x.ndim)
        n = x.shape[axis]
        why = index_range_problem(idx, x.shape, axis)
        if why:
            raise ValueError(why)
        # take_along_axis wants x's extent off the axis: view x cut to idx's dims
        cut = tuple(slice(None) if d == axis else slice(0, m) for d, m in enumerate(idx.shape))
        idx = np.where(idx < 0, idx + n, idx).astype(np.intp, copy=False)
        return np.asarray(np.take_along_axis(x[cut], idx, axis=axis), dtype=x.dtype)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """y[p] = x[p with coordinate axis replaced by idx[p]], so
        x̄[q] = Σ_{p : p → q} ȳ[p] (scatter-add: repeated indices sum); indices None."""
        x, idx = inputs
        if x.dtype.kind != "f":
            return [None, None]
        axis = normalize_axis(attrs["axis"], x.ndim)
        where = list(np.indices(idx.shape, sparse=True))
        where[axis] = np.asarray(idx) % max(x.shape[axis], 1)
        gx = np.zeros(x.shape, x.dtype)
        np.add.at(gx, tuple(where), grad_outputs[0])
        return [gx, None]


# --- local response normalization -------------------------------------------------------------

@register_op
class Lrn(OpDef):
    """Local response normalization across channels (ONNX LRN), x: [N, C, ...]::

        square_sum[n, c, ...] = sum_{i = max(0, c - floor((size - 1) / 2))}
                                    ^{min(C - 1, c + ceil((size - 1) / 2))} x[n, i, ...]^2
        y[n, c, ...] = x[n, c, ...] / (bias + alpha / size * square_sum[n, c, ...]) ^ beta

    Evaluated in float64, rounded once to x's dtype (float operands only)."""

    name = "nn.lrn"
    operands = (Operand("x"),)
    attrs = (Attr("size", Int(min=1), doc="number of channels summed over (the window)"),
             Attr("alpha", Float(), 1e-4, "scale of the sum of squares"),
             Attr("beta", Float(), 0.75, "exponent"),
             Attr("bias", Float(), 1.0, "added before the power"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        require_float(x, "nn.lrn operand")
        _unquantized(self, [x])
        if x.rank < 2:
            raise ValueError(f"x must have rank >= 2 ([N, C, ...]), got rank {x.rank}")
        return float_like(x)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        size = attrs["size"]
        x64 = x.astype(np.float64)
        sq = x64 * x64
        lo, hi = (size - 1) // 2, math.ceil((size - 1) / 2)
        c = x.shape[1]
        pad = [(0, 0)] * x.ndim
        pad[1] = (lo, hi)
        padded = np.pad(sq, pad)
        square_sum = np.zeros_like(sq)
        for k in range(size):                  # window of channels c - lo .. c + hi
            square_sum += padded[:, k:k + c]
        with np.errstate(all="ignore"):        # a negative base to a fractional power: NaN
            y = x64 / (attrs["bias"] + attrs["alpha"] / size * square_sum) ** attrs["beta"]
        return y.astype(x.dtype)
