"""The ``q.*`` core: quantize, dequantize, and exact integer conv/matmul.

A quantized tensor is an integer tensor whose *type* carries its quantization
parameters: the stored integer ``q`` means the real value ``s · (q − z)``
(per tensor, or per slice along one axis).  The ops here are the primitives
integer graphs are made of, with semantics fixed to the bit:

* ``q.quantize``   real → int:  ``q = sat(round(f32(x) / f32(s)) + z)``
* ``q.dequantize`` int → real:  ``x = f32(q − z) · f32(s)``
* ``q.reinterpret`` attach (or replace) quantization parameters; data unchanged
* ``q.conv2d``, ``q.matmul``: ``acc = Σ (x − z_x)(w − z_w) [+ b]`` accumulated
  exactly and wrapped to int32; the result's type says what ``acc`` means
  (scale ``f32(s_x · s_w)``, per output channel when ``w`` is per-channel, zero
  point 0 — so an int32 bias in those units adds directly)
* ``q.requantize`` int32 accumulator → narrow int:
  ``y = sat(round(f32(acc) · M_c) + z_y)`` with ``M_c = f32(f32(s_acc,c) / f32(s_y))``

``round`` is the op's ``rounding``: ``half_away`` (irc's default, DESIGN.md) or
``half_even`` (what ONNX's QuantizeLinear/QLinear* ops and onnxruntime do; the
ONNX importer asks for it).  Float arithmetic is float32 where ONNX/onnxruntime
compute in float32, so imported quantized models match onnxruntime bit for bit.
``q.requantize`` has ``method = float32`` (the ONNX form); the fixed-point
gemmlowp form that irc's own quantization uses is added beside it.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .. import fixedpoint
from ..dtypes import DType, wrap_int
from ..types import PerAxis, PerTensor, QuantParams, TensorType
from ._registry import (Attr, DTypeAttr, Enum, Float, Floats, Int, Ints, OpDef, Operand,
                        normalize_axis, register_op)
from ._window import AUTO_PAD, DILATIONS, PADS, STRIDES, window
from .nn_conv import GROUPS, conv2d_accumulate

Array = np.ndarray

ROUNDING = Attr("rounding", Enum("half_away", "half_even"), "half_away",
                "tie rule of float -> int rounding")
SCALES = Attr("scales", Floats(), doc="one scale, or one per index of axis")
ZERO_POINTS = Attr("zero_points", Ints(), doc="one zero point, or one per index of axis")
AXIS = Attr("axis", Int(), 1, "axis of per-axis parameters (when several are given)")


# --- quantization parameters -------------------------------------------------------------

def make_quant(scales: Iterable[float], zero_points: Iterable[int], axis: int,
               shape: tuple[int, ...], dtype: DType) -> QuantParams:
    """PerTensor for one (scale, zero point), else PerAxis along ``axis``; checks
    counts, finiteness and that the zero points fit ``dtype``."""
    s, z = list(scales), list(zero_points)
    if not dtype.is_int:
        raise ValueError(f"quantized types are integer types, not {dtype}")
    if len(z) == 1 and len(s) > 1:
        z = z * len(s)
    if len(s) != len(z):
        raise ValueError(f"{len(s)} scales but {len(z)} zero points")
    bad = [v for v in z if not dtype.min <= v <= dtype.max]
    if bad:
        raise ValueError(f"zero point {bad[0]} is outside the range of {dtype}")
    if len(s) == 1:
        return PerTensor(s[0], z[0])
    ax = normalize_axis(axis, len(shape))
    if shape[ax] != len(s):
        raise ValueError(f"{len(s)} scales for axis {axis} of size {shape[ax]}")
    return PerAxis(ax, tuple(s), tuple(z))


def broadcast_params(q: QuantParams, rank: int) -> tuple[Array, Array]:
    """(scale, zero point) arrays (float32, int64) broadcastable against a tensor
    of rank ``rank`` quantized with ``q``."""
    if isinstance(q, PerTensor):
        return np.asarray(q.scale, np.float32), np.asarray(q.zero_point, np.int64)
    shape = [1] * rank
    shape[q.axis] = len(q.scales)
    return (np.asarray(q.scales, np.float32).reshape(shape),
            np.asarray(q.zero_points, np.int64).reshape(shape))


def round_to_int(v: Array | float, rounding: str) -> Array:
    """Round float values to integers (as float64) by the tie rule.  Works in
    float64 so ``|v| + 0.5`` is exact for every float32 ``v``."""
    v = np.asarray(v, np.float64)
    if rounding == "half_even":
        return np.rint(v)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def saturate(v: Array, dtype: DType) -> Array:
    """Clip integer-valued floats into ``dtype``'s range (NaN → 0) and store."""
    v = np.nan_to_num(np.asarray(v, np.float64), nan=0.0)
    return np.clip(v, dtype.min, dtype.max).astype(dtype.storage)


def _quant_of(t: TensorType, what: str) -> QuantParams:
    if t.quant is None:
        raise ValueError(f"{what} must be a quantized integer type (with <scale,zero_point>), "
                         f"got {t}")
    return t.quant


# --- quantize / dequantize / reinterpret ------------------------------------------------------

@register_op
class Quantize(OpDef):
    """q = sat(round(f32(x) / f32(s)) + z): real values to a quantized integer type
    (ONNX QuantizeLinear with ``rounding = half_even``).  NaN quantizes to z."""

    name = "q.quantize"
    operands = (Operand("x"),)
    attrs = (Attr("dtype", DTypeAttr(), doc="integer result type"), SCALES, ZERO_POINTS, AXIS,
             ROUNDING)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        if not x.dtype.is_float:
            raise ValueError(f"q.quantize takes a float tensor, got {x}")
        q = make_quant(attrs["scales"], attrs["zero_points"], attrs["axis"], x.shape,
                       attrs["dtype"])
        return TensorType(attrs["dtype"], x.shape, q)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        q = make_quant(attrs["scales"], attrs["zero_points"], attrs["axis"], x.shape,
                       attrs["dtype"])
        s, z = broadcast_params(q, x.ndim)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v = round_to_int(x.astype(np.float32) / s, attrs["rounding"])
        v = np.where(np.isnan(v), 0.0, v) + z
        return saturate(v, attrs["dtype"])


@register_op
class Dequantize(OpDef):
    """x = f32(q − z) · f32(s): the real values of a quantized tensor, reading
    (s, z) from the operand's type (ONNX DequantizeLinear)."""

    name = "q.dequantize"
    operands = (Operand("q"),)
    attrs = (Attr("to", DTypeAttr(), DType.F32, "float result type"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _quant_of(types[0], "q.dequantize's operand")
        if not attrs["to"].is_float:
            raise ValueError(f"q.dequantize produces a float type, not {attrs['to']}")
        return TensorType(attrs["to"], types[0].shape)

    typed_compute = True

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        q = inputs[0]
        s, z = broadcast_params(_quant_of(types[0], "operand"), q.ndim)
        return ((q.astype(np.int64) - z).astype(np.float32) * s).astype(attrs["to"].storage)


@register_op
class Reinterpret(OpDef):
    """The same integers with new quantization parameters (or none, when
    ``scales`` is empty): attaches the meaning an ONNX QLinear op gives a raw
    uint8/int8 tensor.  No data changes."""

    name = "q.reinterpret"
    operands = (Operand("x"),)
    attrs = (Attr("scales", Floats(), (), "new scales (empty: drop the parameters)"),
             Attr("zero_points", Ints(), (), "new zero points"), AXIS)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        if not x.dtype.is_int:
            raise ValueError(f"q.reinterpret takes an integer tensor, got {x}")
        if not attrs["scales"]:
            return TensorType(x.dtype, x.shape)
        return TensorType(x.dtype, x.shape, make_quant(attrs["scales"], attrs["zero_points"],
                                                       attrs["axis"], x.shape, x.dtype))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        return inputs[0]


# --- exact integer accumulation ---------------------------------------------------------------

def _acc_quant(sx: float, w_q: QuantParams, axis: int) -> QuantParams:
    """The accumulator's parameters: scale f32(s_x · s_w) (per channel along
    ``axis`` when w is per-channel), zero point 0."""
    if isinstance(w_q, PerTensor):
        return PerTensor(float(np.float32(sx) * np.float32(w_q.scale)), 0)
    scales = tuple(float(np.float32(sx) * np.float32(s)) for s in w_q.scales)
    return PerAxis(axis, scales, (0,) * len(scales))


def _check_bias(types: list[TensorType], n: int) -> None:
    if len(types) == 3:
        b = types[2]
        if b.dtype is not DType.I32 or b.shape != (n,):
            raise ValueError(f"bias must be i32[{n}] (in accumulator units), got {b}")


def _centered(a: Array, t: TensorType) -> Array:
    """Stored integers minus their zero point(s), as int64."""
    q = _quant_of(t, "operand")
    _, z = broadcast_params(q, a.ndim)
    return a.astype(np.int64) - z


@register_op
class QConv2d(OpDef):
    """acc[n, o, p, q] = b[o] + Σ_{c,i,j} (w[o,c,i,j] − z_w[o]) · (xpad[...] − z_x),
    the geometry of nn.conv2d (padding contributes x = z_x, i.e. 0 after
    centering), accumulated exactly and wrapped to int32 (ONNX ConvInteger;
    QLinearConv before its requantization).  x is per-tensor quantized, w per
    tensor or per output channel (axis 0); the result is i32 with scale
    f32(s_x · s_w[o]) along axis 1 and zero point 0."""

    name = "q.conv2d"
    operands = (Operand("x"), Operand("w"), Operand("b", optional=True))
    attrs = (STRIDES, PADS, DILATIONS, GROUPS, AUTO_PAD)
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x, w = types[0], types[1]
        xq, wq = _quant_of(x, "x"), _quant_of(w, "w")
        if not isinstance(xq, PerTensor):
            raise ValueError(f"x must be quantized per tensor, got {x}")
        if isinstance(wq, PerAxis) and wq.axis != 0:
            raise ValueError(f"w must be quantized per tensor or per output channel (axis 0), "
                             f"got axis {wq.axis}")
        if x.rank != 4 or w.rank != 4:
            raise ValueError(f"x and w must be 4-D, got {x} and {w}")
        g = attrs["groups"]
        if x.shape[1] % g or w.shape[0] % g or w.shape[1] != x.shape[1] // g:
            raise ValueError(f"channels do not fit groups={g}: x {x}, w {w}")
        _check_bias(types, w.shape[0])
        win = window(x.shape[2:], w.shape[2:], attrs["strides"], attrs["dilations"],
                     attrs["pads"], attrs["auto_pad"])
        return TensorType(DType.I32, (x.shape[0], w.shape[0]) + win.out,
                          _acc_quant(xq.scale, wq, 1))

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        x, w = _centered(inputs[0], types[0]), _centered(inputs[1], types[1])
        win = window(x.shape[2:], w.shape[2:], attrs["strides"], attrs["dilations"],
                     attrs["pads"], attrs["auto_pad"])
        acc = conv2d_accumulate(x, w, win, attrs["groups"])
        if len(inputs) == 3:
            acc = acc + inputs[2].astype(np.int64)[None, :, None, None]
        return wrap_int(acc, DType.I32)


@register_op
class QMatMul(OpDef):
    """acc = (a − z_a) @ (b − z_b) [+ bias] with numpy matmul semantics,
    accumulated exactly and wrapped to int32 (ONNX MatMulInteger; QLinearMatMul
    before its requantization; a quantized Gemm with an i32 ``bias[col]``).  a is per-tensor quantized, b per tensor or per column (its
    last axis); the result is i32 with scale f32(s_a · s_b[col]) along its last
    axis and zero point 0."""

    name = "q.matmul"
    operands = (Operand("a"), Operand("b"), Operand("bias", optional=True))
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        a, b = types[:2]
        aq, bq = _quant_of(a, "a"), _quant_of(b, "b")
        if not isinstance(aq, PerTensor):
            raise ValueError(f"a must be quantized per tensor, got {a}")
        if a.rank < 2 or b.rank < 2:
            raise ValueError(f"q.matmul needs operands of rank >= 2, got {a} and {b}")
        if isinstance(bq, PerAxis) and bq.axis != b.rank - 1:
            raise ValueError(f"b must be quantized per tensor or per column (last axis), "
                             f"got axis {bq.axis}")
        shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"inner dimensions differ: {a} @ {b}")
        _check_bias(types, b.shape[-1])
        return TensorType(DType.I32, tuple(shape), _acc_quant(aq.scale, bq, len(shape) - 1))

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        a, b = _centered(inputs[0], types[0]), _centered(inputs[1], types[1])
        acc = np.matmul(a, b)
        if len(inputs) == 3:
            acc = acc + inputs[2].astype(np.int64)
        return wrap_int(acc, DType.I32)


# --- requantization -----------------------------------------------------------------------------

CLAMP = Attr("clamp", Ints(), (), "[lo, hi] bounds of the stored result (empty: the dtype's range)")


def clamp_bounds(attrs: dict[str, Any], dtype: DType) -> tuple[int, int]:
    """The ``clamp`` attribute's ``(lo, hi)``, defaulting to ``dtype``'s range;
    ``ValueError`` if it does not fit ``dtype``."""
    c = attrs.get("clamp", ())
    if not c:
        return int(dtype.min), int(dtype.max)
    if len(c) != 2 or not dtype.min <= c[0] <= c[1] <= dtype.max:
        raise ValueError(f"clamp {list(c)} must be [lo, hi] with {dtype.min} <= lo <= hi <= "
                         f"{dtype.max} ({dtype})")
    return int(c[0]), int(c[1])


def channel_scales(q: QuantParams) -> tuple[float, ...]:
    """The scales of ``q``: one for per-tensor, one per channel for per-axis."""
    return (q.scale,) if isinstance(q, PerTensor) else tuple(q.scales)


def check_multipliers(attrs: dict[str, Any], reals: Iterable[float]) -> None:
    """``multipliers``/``shifts`` must encode ``reals`` (one each, or one for
    all): counts, ranges, and agreement with the scales in the types (relative
    2^-17), so stale kernel parameters cannot survive a scale edit."""
    ms, sh, reals = list(attrs["multipliers"]), list(attrs["shifts"]), list(reals)
    if len(ms) != len(sh) or len(ms) not in (1, len(reals)):
        raise ValueError(f"{len(ms)} multipliers and {len(sh)} shifts for {len(reals)} "
                         "channel(s): give one pair, or one per channel")
    for m, s in zip(ms, sh):
        if not (0 <= m <= fixedpoint.INT32_MAX and -31 <= s <= 30):
            raise ValueError(f"multiplier {m} / shift {s} out of range "
                             "(0 <= m < 2^31, -31 <= shift <= 30)")
    pairs = list(zip(ms, sh)) * (len(reals) if len(ms) == 1 else 1)
    for c, ((m, s), real) in enumerate(zip(pairs, reals)):
        got = fixedpoint.multiplier_value(m, s)
        if m == 0 and real < 2.0 ** -31 or abs(got - real) <= 2.0 ** -17 * real:
            continue
        raise ValueError(f"multiplier {m} / shift {s} (= {got:.9g}) of channel {c} does not "
                         f"encode the scale ratio {real:.9g} of the types; recompute with "
                         "irc.fixedpoint.quantize_multiplier")


@register_op
class Requantize(OpDef):
    """A quantized integer tensor (an int32 accumulator, or a narrow tensor
    being rescaled) to a narrow quantized type ``<scale, zero_point>``, per
    channel ``c`` of the operand's parameters, ``M_c = s_in,c / scale``:

    * ``method = fixed_point`` (irc's own quantization; normative, see
      :mod:`irc.fixedpoint`): ``y = clamp(MBQM(x − z_in, m_c, shift_c) + z, lo, hi)``
      with ``(m_c, shift_c)`` = ``quantize_multiplier(M_c)`` stored in
      ``multipliers``/``shifts`` at compile time;
    * ``method = float32`` (the ONNX QLinearConv/QLinearMatMul form; the
      importer uses it with ``rounding = half_even``):
      ``y = clamp(round(f32(x − z_in) · f32(f32(s_in,c) / f32(scale))) + z, lo, hi)``.

    ``clamp = [lo, hi]`` holds a fused ReLU/ReLU6/clip in stored units (default:
    the dtype's range)."""

    name = "q.requantize"
    operands = (Operand("x"),)
    attrs = (Attr("dtype", DTypeAttr(), doc="integer result type"),
             Attr("scale", Float(min=0.0), doc="result scale"),
             Attr("zero_point", Int(), 0, "result zero point"),
             Attr("method", Enum("float32", "fixed_point"), "float32", "how M is applied"),
             Attr("multipliers", Ints(), (), "fixed_point: Q0.31 significands of M, per channel"),
             Attr("shifts", Ints(), (), "fixed_point: power-of-two exponents of M"),
             CLAMP, ROUNDING)
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        q_in = _quant_of(x, "q.requantize's operand")
        if not (math.isfinite(attrs["scale"]) and attrs["scale"] > 0):
            raise ValueError(f"scale must be finite and > 0, got {attrs['scale']}")
        q = make_quant([attrs["scale"]], [attrs["zero_point"]], 0, x.shape, attrs["dtype"])
        clamp_bounds(attrs, attrs["dtype"])
        if attrs["method"] == "fixed_point":
            check_multipliers(attrs, [s / attrs["scale"] for s in channel_scales(q_in)])
        elif attrs["multipliers"] or attrs["shifts"]:
            raise ValueError("multipliers/shifts are only used by method = fixed_point")
        return TensorType(attrs["dtype"], x.shape, q)

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        x = inputs[0]
        dtype = attrs["dtype"]
        lo, hi = clamp_bounds(attrs, dtype)
        q_in = _quant_of(types[0], "x")
        s_in, z_in = broadcast_params(q_in, x.ndim)
        centered = x.astype(np.int64) - z_in
        if attrs["method"] == "fixed_point":
            m, sh = per_channel_ints(q_in, x.ndim, attrs["multipliers"], attrs["shifts"])
            y = fixedpoint.requantize_fixed_point(centered, m, sh, attrs["zero_point"], lo, hi)
            return y.astype(dtype.storage)
        m_f = (np.asarray(s_in, np.float32) / np.float32(attrs["scale"])).astype(np.float32)
        v = round_to_int(centered.astype(np.float32) * m_f, attrs["rounding"])
        return saturate(np.clip(v + attrs["zero_point"], lo, hi), dtype)


def per_channel_ints(q: QuantParams, rank: int, *lists: Iterable[int]) -> list[Array]:
    """int64 arrays of per-channel integers (one value, or one per channel of
    ``q``'s axis), shaped to broadcast against a tensor of rank ``rank``."""
    out = []
    for values in lists:
        a = np.asarray(list(values), np.int64)
        if isinstance(q, PerAxis) and a.size > 1:
            shape = [1] * rank
            shape[q.axis] = a.size
            a = a.reshape(shape)
        else:
            a = a.reshape(())
        out.append(a)
    return out
