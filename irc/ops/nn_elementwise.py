"""Elementwise float ops: unary math, activations, broadcasting binary ops.

Broadcasting follows numpy.  Results keep the operand dtype; integer and
quantized arithmetic lives in the ``q.*`` dialect, not here.  Transcendental
ops (and ``div``) accept float operands only, so their numpy result dtype is
always the declared one; the rest (``neg``, ``abs``, ``relu``, ``min``...) also
take integer tensors.  Every result is returned in the operand dtype; where the
math is done in a wider type (``erf``, ``gelu``) it says so.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..types import TensorType
from ._numerics import erf as _erf64
from ._registry import (Attr, Enum, Float, Floats, OpDef, Operand, broadcast_shapes, float_like,
                        op_hook,
                        register_op, require_float, require_same_dtype)

Array = np.ndarray


def _check_dtype(op: OpDef, t: TensorType) -> None:
    """``float_only`` ops take floats; the others numbers (floats or integers);
    only ``allow_bool`` ops (identity) take b1."""
    if getattr(op, "float_only", False):
        require_float(t, f"{op.name} operand")
    elif t.dtype.is_bool and not getattr(op, "allow_bool", False):
        raise ValueError(f"{op.name} operand must be a number tensor, got {t.dtype}")


class _Unary(OpDef):
    """Shared shape rule of unary elementwise ops: the result has the operand's
    dtype and shape (``float_only`` ops reject integer operands)."""

    operands = (Operand("x"),)
    float_only = False
    allow_bool = False
    #: y[i] depends on x[i] alone: quantization may tabulate it (q.lut)
    elementwise_unary = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _check_dtype(self, types[0])
        return float_like(types[0])


class _Binary(OpDef):
    """Shared shape rule of binary elementwise ops: numpy broadcasting, one dtype."""

    operands = (Operand("a"), Operand("b"))
    float_only = False

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        dt = require_same_dtype(types)
        _check_dtype(self, types[0])
        return TensorType(dt, broadcast_shapes(types[0].shape, types[1].shape))


def broadcasts_to(src: tuple[int, ...], dst: tuple[int, ...]) -> bool:
    """Whether shape ``src`` broadcasts to exactly ``dst`` (ONNX's unidirectional
    broadcasting)."""
    if len(src) > len(dst):
        return False
    return all(s in (1, d) for s, d in zip(src[::-1], dst[::-1]))


#: ``clamp`` bounds that change nothing.
NO_CLAMP = (-np.inf, np.inf)


def clip_array(y: Array, lo: float, hi: float) -> Array:
    """``min(max(y, lo), hi)`` in ``y``'s own dtype.  Integer tensors are clamped
    with integer bounds (``ceil(lo)``, ``floor(hi)``, infinities meaning the
    dtype's limits) so no value ever round-trips through float64."""
    y = np.asarray(y)
    if (lo, hi) == NO_CLAMP:
        return y
    if y.dtype.kind in "iu":
        info = np.iinfo(y.dtype)

        def bound(b: float, rounded: Callable[[float], float], missing: int) -> int:
            if math.isnan(b):
                return missing                          # a NaN bound bounds nothing
            if math.isinf(b):
                return info.max if b > 0 else info.min
            return max(info.min, min(info.max, int(rounded(b))))
        ilo, ihi = bound(lo, math.ceil, info.min), bound(hi, math.floor, info.max)
        return np.asarray(np.clip(y, y.dtype.type(ilo), y.dtype.type(ihi)), dtype=y.dtype)
    return np.asarray(np.clip(y, lo, hi), dtype=y.dtype)


def apply_clamp(y: Array, attrs: dict[str, Any]) -> Array:
    """Apply a fused ``clamp = [lo, hi]`` attribute (see passes/fuse_activation.py)."""
    lo, hi = attrs.get("clamp", NO_CLAMP)
    return clip_array(y, lo, hi)


#: The ``clamp`` attribute carried by ops that can absorb a following
#: relu/relu6/clip: the result is ``min(max(y, lo), hi)``.
CLAMP = Attr("clamp", Floats(2), NO_CLAMP,
             "fused activation bounds [lo, hi] applied to the result")


def _class_name(op_name: str) -> str:
    return op_name.split(".")[1].title().replace("_", "")


def _unary(op_name: str, fn: Callable[..., Array], doc: str, *, attrs: tuple[Attr, ...] = (),
           float_only: bool = False, allow_bool: bool = False) -> type[OpDef]:
    """Register a unary op computing ``fn(x, **attrs)``; the result is cast back to
    ``x``'s dtype (a no-op when ``fn`` already keeps it)."""
    def compute(self: OpDef, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        return np.asarray(fn(x, **attrs)).astype(x.dtype, copy=False)

    cls = type(_class_name(op_name), (_Unary,), {
        "name": op_name, "__doc__": doc, "attrs": attrs, "float_only": float_only,
        "allow_bool": allow_bool, "compute": compute, "__module__": __name__,
    })
    return register_op(cls)


def _binary(op_name: str, fn: Callable[[Array, Array], Array], doc: str,
            clamp: bool = False, float_only: bool = False) -> type[OpDef]:
    body: dict[str, Any] = {"name": op_name, "__doc__": doc, "__module__": __name__,
                            "float_only": float_only}
    if clamp:
        body["attrs"] = (CLAMP,)
        body["compute"] = lambda self, inputs, attrs: apply_clamp(np.asarray(fn(*inputs)), attrs)
    else:
        body["compute"] = lambda self, inputs, attrs: np.asarray(fn(*inputs))
    cls = type(_class_name(op_name), (_Binary,), body)
    return register_op(cls)


# --- binary arithmetic -------------------------------------------------------------
_binary("nn.add", np.add, "a + b (broadcasting)", clamp=True)
_binary("nn.sub", np.subtract, "a - b (broadcasting)")
_binary("nn.mul", np.multiply, "a * b (broadcasting)")
_binary("nn.div", np.divide, "a / b (broadcasting; float operands)", float_only=True)
_binary("nn.pow", np.power, "a ** b (broadcasting)")
_binary("nn.min", np.minimum, "elementwise minimum (broadcasting)")
_binary("nn.max", np.maximum, "elementwise maximum (broadcasting)")

# --- unary math ----------------------------------------------------------------------
_unary("nn.identity", lambda x: x, "x (the operand itself; any dtype)", allow_bool=True)
_unary("nn.neg", np.negative, "-x")
_unary("nn.abs", np.abs, "|x|")
_unary("nn.sqrt", np.sqrt, "square root", float_only=True)
_unary("nn.exp", np.exp, "e ** x", float_only=True)
_unary("nn.log", np.log, "natural logarithm", float_only=True)
_unary("nn.tanh", np.tanh, "tanh(x) = (e^x - e^-x) / (e^x + e^-x)", float_only=True)
_unary("nn.erf", lambda x: _erf64(x),
       "erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt  (evaluated in float64, see "
       "irc.ops._numerics)", float_only=True)


def _sigmoid(x: Array) -> Array:
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_unary("nn.sigmoid", _sigmoid,
       "sigmoid(x) = 1 / (1 + e^-x)  (evaluated as e^-|x| based branches, overflow-free)",
       float_only=True)

# --- activations -----------------------------------------------------------------------
_unary("nn.relu", lambda x: np.maximum(x, 0), "max(x, 0)")
_unary("nn.relu6", lambda x: np.clip(x, 0, 6), "min(max(x, 0), 6)")
_unary("nn.leaky_relu", lambda x, alpha: np.where(x >= 0, x, x * alpha),
       "x if x >= 0 else alpha * x",
       attrs=(Attr("alpha", Float(), 0.01, "slope for negative x"),), float_only=True)
_unary("nn.hardsigmoid", lambda x, alpha, beta: np.clip(x * alpha + beta, 0, 1),
       "max(0, min(1, alpha * x + beta))  (ONNX HardSigmoid)",
       attrs=(Attr("alpha", Float(), 0.2, "slope"), Attr("beta", Float(), 0.5, "offset")),
       float_only=True)
_unary("nn.hardswish", lambda x: x * np.clip(x + 3, 0, 6) / 6,
       "x * relu6(x + 3) / 6  (= x * hardsigmoid(x; alpha=1/6, beta=1/2), ONNX HardSwish)",
       float_only=True)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu(x: Array, approximate: str) -> Array:
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * x64 * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3)))
    return 0.5 * x64 * (1.0 + _erf64(x64 * (1.0 / math.sqrt(2.0))))


_unary("nn.gelu", _gelu,
       "GELU.  approximate=none: x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))); "
       "approximate=tanh: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))).  "
       "Evaluated in float64, rounded once to the operand dtype.",
       attrs=(Attr("approximate", Enum("none", "tanh"), "none",
                   "exact (erf) form or the tanh approximation"),),
       float_only=True)


@register_op
class Clip(_Unary):
    """min(max(x, min), max)"""

    name = "nn.clip"
    attrs = (Attr("min", Float(), -np.inf, "lower bound"),
             Attr("max", Float(), np.inf, "upper bound"))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return clip_array(inputs[0], attrs["min"], attrs["max"])


# --- activations that are clamps: the ``as_clamp`` hook gives their [lo, hi], so
# passes/fuse_activation.py can fold them into a producer's ``clamp`` attribute.
op_hook("nn.relu", "as_clamp")(lambda node: (0.0, np.inf))
op_hook("nn.relu6", "as_clamp")(lambda node: (0.0, 6.0))
op_hook("nn.clip", "as_clamp")(lambda node: (node.attrs["min"], node.attrs["max"]))


@register_op
class Prelu(OpDef):
    """x if x >= 0 else slope * x, with ``slope`` broadcast to x's shape the ONNX
    way (unidirectional, trailing axes aligned: for NCHW ``x`` a per-channel
    slope has shape [C, 1, 1]; a [C] slope would align with W)."""

    name = "nn.prelu"
    operands = (Operand("x"), Operand("slope"))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x, slope = types
        require_float(x, "nn.prelu operand x")
        require_same_dtype(types)
        if not broadcasts_to(slope.shape, x.shape):
            raise ValueError(f"slope shape {list(slope.shape)} does not broadcast to x's "
                             f"shape {list(x.shape)} (slope must be unidirectionally "
                             "broadcastable, e.g. [C, 1, 1] for NCHW)")
        return float_like(x)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, slope = inputs
        return np.asarray(np.where(x >= 0, x, x * slope), dtype=x.dtype)
