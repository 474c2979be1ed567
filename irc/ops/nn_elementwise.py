"""Elementwise float ops: unary math, activations, broadcasting binary ops.

Broadcasting follows numpy.  Results keep the operand dtype; integer and
quantized arithmetic lives in the ``q.*`` dialect, not here.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..types import TensorType
from ._registry import (Attr, Float, Floats, OpDef, Operand, broadcast_shapes, float_like,
                        register_op, require_same_dtype)

Array = np.ndarray


class _Unary(OpDef):
    """Shared shape rule of unary elementwise ops: the result has the operand's
    dtype and shape."""

    operands = (Operand("x"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        return float_like(types[0])


class _Binary(OpDef):
    """Shared shape rule of binary elementwise ops: numpy broadcasting, one dtype."""

    operands = (Operand("a"), Operand("b"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        dt = require_same_dtype(types)
        return TensorType(dt, broadcast_shapes(types[0].shape, types[1].shape))


def _clamp(y: Array, attrs: dict[str, Any]) -> Array:
    """Apply a fused ``clamp = [lo, hi]`` attribute (see passes/fuse_activation.py)."""
    lo, hi = attrs.get("clamp", (-np.inf, np.inf))
    if lo == -np.inf and hi == np.inf:
        return y
    return np.clip(y, lo, hi).astype(y.dtype, copy=False)


#: The ``clamp`` attribute carried by ops that can absorb a following
#: relu/relu6/clip: the result is ``min(max(y, lo), hi)``.
CLAMP = Attr("clamp", Floats(2), (-np.inf, np.inf),
             "fused activation bounds [lo, hi] applied to the result")


def _unary(op_name: str, fn: Callable[[Array], Array], doc: str) -> type[OpDef]:
    cls = type(op_name.split(".")[1].title().replace("_", ""), (_Unary,), {
        "name": op_name, "__doc__": doc,
        "compute": lambda self, inputs, attrs: fn(inputs[0]),
        "__module__": __name__,
    })
    return register_op(cls)


def _binary(op_name: str, fn: Callable[[Array, Array], Array], doc: str,
            clamp: bool = False) -> type[OpDef]:
    body: dict[str, Any] = {"name": op_name, "__doc__": doc, "__module__": __name__}
    if clamp:
        body["attrs"] = (CLAMP,)
        body["compute"] = lambda self, inputs, attrs: _clamp(fn(inputs[0], inputs[1]), attrs)
    else:
        body["compute"] = lambda self, inputs, attrs: fn(inputs[0], inputs[1])
    cls = type(op_name.split(".")[1].title().replace("_", ""), (_Binary,), body)
    return register_op(cls)


# --- binary arithmetic -------------------------------------------------------------
_binary("nn.add", np.add, "a + b (broadcasting)", clamp=True)
_binary("nn.sub", np.subtract, "a - b (broadcasting)")
_binary("nn.mul", np.multiply, "a * b (broadcasting)")
_binary("nn.div", np.divide, "a / b (broadcasting)")
_binary("nn.pow", np.power, "a ** b (broadcasting)")
_binary("nn.min", np.minimum, "elementwise minimum (broadcasting)")
_binary("nn.max", np.maximum, "elementwise maximum (broadcasting)")

# --- unary math ----------------------------------------------------------------------
_unary("nn.neg", np.negative, "-x")
_unary("nn.abs", np.abs, "|x|")
_unary("nn.sqrt", np.sqrt, "square root")
_unary("nn.exp", np.exp, "e ** x")
_unary("nn.log", np.log, "natural logarithm")

# --- activations -----------------------------------------------------------------------
_unary("nn.relu", lambda x: np.maximum(x, 0).astype(x.dtype, copy=False), "max(x, 0)")


@register_op
class Clip(_Unary):
    """min(max(x, min), max)"""

    name = "nn.clip"
    attrs = (Attr("min", Float(), -np.inf, "lower bound"),
             Attr("max", Float(), np.inf, "upper bound"))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        return np.clip(x, attrs["min"], attrs["max"]).astype(x.dtype, copy=False)
