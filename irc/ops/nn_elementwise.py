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
from ._grad import grad_like
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


#: ``dydx(x, y, **attrs)``: the local derivative of a unary op, elementwise.
Derivative = Callable[..., Array]


def unary_vjp(dydx: Derivative) -> Callable[..., list[Array | None]]:
    """The VJP of an elementwise unary op from its derivative: x̄ = ȳ · dy/dx."""
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        x = inputs[0]
        if x.dtype.kind != "f":
            return [None]
        return [grad_like(grad_outputs[0] * dydx(x, outputs[0], **attrs), x)]
    return vjp


def _unary(op_name: str, fn: Callable[..., Array], doc: str, *, attrs: tuple[Attr, ...] = (),
           float_only: bool = False, allow_bool: bool = False,
           dydx: Derivative | None = None) -> type[OpDef]:
    """Register a unary op computing ``fn(x, **attrs)``; the result is cast back to
    ``x``'s dtype (a no-op when ``fn`` already keeps it).  ``dydx`` (the
    derivative) gives the op its VJP."""
    def compute(self: OpDef, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        return np.asarray(fn(x, **attrs)).astype(x.dtype, copy=False)

    cls = type(_class_name(op_name), (_Unary,), {
        "name": op_name, "__doc__": doc, "attrs": attrs, "float_only": float_only,
        "allow_bool": allow_bool, "compute": compute, "__module__": __name__,
        "vjp": None if dydx is None else staticmethod(unary_vjp(dydx)),
    })
    return register_op(cls)


def clamp_mask(y: Array, lo: float, hi: float) -> Array:
    """Where ``clip(y, lo, hi)`` passes ``y`` through: lo < y < hi, strictly, so a
    clamped value (on a bound) gets no gradient — relu's 0 at 0 and relu6's at 0
    and 6, the same whether the activation stands alone or is fused as ``clamp``."""
    return (y > lo) & (y < hi)


#: ``partials(a, b, y, ȳ) -> (ā, b̄)`` at the broadcast shape, before summing back.
Partials = Callable[[Array, Array, Array, Array], tuple[Array, Array]]


def _binary_vjp(partials: Partials, clamp: bool) -> Callable[..., list[Array | None]]:
    """The VJP of a broadcasting binary op: ``partials`` gives ā, b̄ at the result
    shape; each is summed over the axes broadcasting added or stretched
    (``_grad.unbroadcast``).  With a fused ``clamp``, ȳ first passes only where the
    result lies strictly inside (lo, hi): a clamped value sits exactly on a bound,
    so the clamped result tells (as nn.gemm's and nn.matmul's ``unclamp_grad``)."""
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        a, b = inputs
        if a.dtype.kind != "f":
            return [None, None]
        g, y = grad_outputs[0], outputs[0]
        lo, hi = attrs.get("clamp", NO_CLAMP) if clamp else NO_CLAMP
        if (lo, hi) != NO_CLAMP:
            g = g * clamp_mask(y, lo, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            ga, gb = partials(a, b, y, g)
        return [grad_like(ga, a), grad_like(gb, b)]
    return vjp


def _binary(op_name: str, fn: Callable[[Array, Array], Array], doc: str,
            clamp: bool = False, float_only: bool = False,
            partials: Partials | None = None) -> type[OpDef]:
    body: dict[str, Any] = {"name": op_name, "__doc__": doc, "__module__": __name__,
                            "float_only": float_only}
    if clamp:
        body["attrs"] = (CLAMP,)
        body["compute"] = lambda self, inputs, attrs: apply_clamp(np.asarray(fn(*inputs)), attrs)
    else:
        body["compute"] = lambda self, inputs, attrs: np.asarray(fn(*inputs))
    if partials is not None:
        body["vjp"] = staticmethod(_binary_vjp(partials, clamp))
    cls = type(_class_name(op_name), (_Binary,), body)
    return register_op(cls)


def _pow_partials(a: Array, b: Array, y: Array, g: Array) -> tuple[Array, Array]:
    # ā = ȳ · b·a^(b−1);  b̄ = ȳ · a^b·ln a  (taken as 0 where a <= 0, where a^b is
    # only defined for integer b and has no derivative in b)
    ga = g * b * np.power(a, b - 1)
    gb = g * np.where(a > 0, y * np.log(np.where(a > 0, a, 1)), 0)
    return ga, gb


def _select_partials(a_wins: Callable[[Array, Array], Array]) -> Partials:
    """min / max: ȳ goes to the operand the result is (ā = ȳ·[a wins],
    b̄ = ȳ·[b wins]); a tie splits it in halves, as the subgradient average."""
    def partials(a: Array, b: Array, y: Array, g: Array) -> tuple[Array, Array]:
        share = np.where(a_wins(a, b), 1.0, np.where(a == b, 0.5, 0.0))
        return g * share, g * (1.0 - share)
    return partials


# --- binary arithmetic -------------------------------------------------------------
# the partials next to each: y = f(a, b) → (ā, b̄) before unbroadcasting
_binary("nn.add", np.add, "a + b (broadcasting)", clamp=True,
        partials=lambda a, b, y, g: (g, g))                          # ā = ȳ, b̄ = ȳ
_binary("nn.sub", np.subtract, "a - b (broadcasting)",
        partials=lambda a, b, y, g: (g, -g))                         # ā = ȳ, b̄ = −ȳ
_binary("nn.mul", np.multiply, "a * b (broadcasting)",
        partials=lambda a, b, y, g: (g * b, g * a))                  # ā = ȳ·b, b̄ = ȳ·a
_binary("nn.div", np.divide, "a / b (broadcasting; float operands)", float_only=True,
        partials=lambda a, b, y, g: (g / b, -g * a / (b * b)))       # ā = ȳ/b, b̄ = −ȳ·a/b²
_binary("nn.pow", np.power, "a ** b (broadcasting)", partials=_pow_partials)
_binary("nn.min", np.minimum, "elementwise minimum (broadcasting)",
        partials=_select_partials(np.less))
_binary("nn.max", np.maximum, "elementwise maximum (broadcasting)",
        partials=_select_partials(np.greater))

# --- unary math ----------------------------------------------------------------------
# each with its derivative dy/dx (the VJP is x̄ = ȳ · dy/dx, ``unary_vjp``)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

_unary("nn.identity", lambda x: x, "x (the operand itself; any dtype)", allow_bool=True,
       dydx=lambda x, y: np.ones_like(x))                            # 1
_unary("nn.neg", np.negative, "-x", dydx=lambda x, y: -np.ones_like(x))   # −1
_unary("nn.abs", np.abs, "|x|", dydx=lambda x, y: np.sign(x))        # sign(x) (0 at 0)
_unary("nn.sqrt", np.sqrt, "square root", float_only=True,
       dydx=lambda x, y: 0.5 / y)                                    # 1 / (2·√x)
_unary("nn.exp", np.exp, "e ** x", float_only=True, dydx=lambda x, y: y)  # e^x = y
_unary("nn.log", np.log, "natural logarithm", float_only=True,
       dydx=lambda x, y: 1 / x)                                      # 1 / x
_unary("nn.tanh", np.tanh, "tanh(x) = (e^x - e^-x) / (e^x + e^-x)", float_only=True,
       dydx=lambda x, y: 1 - y * y)                                  # 1 − tanh²(x)
_unary("nn.erf", lambda x: _erf64(x),
       "erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt  (evaluated in float64, see "
       "irc.ops._numerics)", float_only=True,
       dydx=lambda x, y: _TWO_OVER_SQRT_PI * np.exp(-np.square(x)))  # 2/√π · e^(−x²)


def _sigmoid(x: Array) -> Array:
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_unary("nn.sigmoid", _sigmoid,
       "sigmoid(x) = 1 / (1 + e^-x)  (evaluated as e^-|x| based branches, overflow-free)",
       float_only=True, dydx=lambda x, y: y * (1 - y))              # σ(x)·(1 − σ(x))

# --- activations -----------------------------------------------------------------------
# (at a kink the derivative of the flat side is taken: relu'(0) = 0, clamp_mask)
_unary("nn.relu", lambda x: np.maximum(x, 0), "max(x, 0)",
       dydx=lambda x, y: clamp_mask(x, 0.0, np.inf))                 # [x > 0]
_unary("nn.relu6", lambda x: np.clip(x, 0, 6), "min(max(x, 0), 6)",
       dydx=lambda x, y: clamp_mask(x, 0.0, 6.0))                    # [0 < x < 6]
_unary("nn.leaky_relu", lambda x, alpha: np.where(x >= 0, x, x * alpha),
       "x if x >= 0 else alpha * x",
       attrs=(Attr("alpha", Float(), 0.01, "slope for negative x"),), float_only=True,
       dydx=lambda x, y, alpha: np.where(x >= 0, 1.0, alpha))        # 1 if x >= 0 else α
_unary("nn.hardsigmoid", lambda x, alpha, beta: np.clip(x * alpha + beta, 0, 1),
       "max(0, min(1, alpha * x + beta))  (ONNX HardSigmoid)",
       attrs=(Attr("alpha", Float(), 0.2, "slope"), Attr("beta", Float(), 0.5, "offset")),
       float_only=True,                                              # α·[0 < αx + β < 1]
       dydx=lambda x, y, alpha, beta: alpha * clamp_mask(x * alpha + beta, 0.0, 1.0))
_unary("nn.hardswish", lambda x: x * np.clip(x + 3, 0, 6) / 6,
       "x * relu6(x + 3) / 6  (= x * hardsigmoid(x; alpha=1/6, beta=1/2), ONNX HardSwish)",
       float_only=True,          # 0 for x < −3, (2x + 3)/6 for −3 < x < 3, 1 for x > 3
       dydx=lambda x, y: np.where(x >= 3, 1.0, np.where(x > -3, (2 * x + 3) / 6, 0.0)))


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu(x: Array, approximate: str) -> Array:
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * x64 * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3)))
    return 0.5 * x64 * (1.0 + _erf64(x64 * (1.0 / math.sqrt(2.0))))


def _gelu_dydx(x: Array, y: Array, approximate: str) -> Array:
    """d/dx GELU, in float64.  Exact: d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
    tanh form, with u = √(2/π)(x + 0.044715x³), t = tanh u:
    d/dx ½x(1 + t) = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)."""
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3))
        return 0.5 * (1 + t) + 0.5 * x64 * (1 - t * t) * _SQRT_2_OVER_PI * (
            1 + 3 * 0.044715 * x64 * x64)
    cdf = 0.5 * (1.0 + _erf64(x64 * (1.0 / math.sqrt(2.0))))
    return cdf + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)


_unary("nn.gelu", _gelu,
       "GELU.  approximate=none: x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))); "
       "approximate=tanh: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))).  "
       "Evaluated in float64, rounded once to the operand dtype.",
       attrs=(Attr("approximate", Enum("none", "tanh"), "none",
                   "exact (erf) form or the tanh approximation"),),
       float_only=True, dydx=_gelu_dydx)


@register_op
class Clip(_Unary):
    """min(max(x, min), max)"""

    name = "nn.clip"
    attrs = (Attr("min", Float(), -np.inf, "lower bound"),
             Attr("max", Float(), np.inf, "upper bound"))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return clip_array(inputs[0], attrs["min"], attrs["max"])

    # x̄ = ȳ · [min < x < max]
    vjp = staticmethod(unary_vjp(lambda x, y, min, max: clamp_mask(x, min, max)))


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

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """x̄ = ȳ · (1 if x >= 0 else slope);  slopē = Σ_broadcast ȳ · (0 if x >= 0 else x)."""
        x, slope = inputs
        g, neg = grad_outputs[0], x < 0
        return [grad_like(g * np.where(neg, slope, 1), x), grad_like(g * np.where(neg, x, 0), slope)]
