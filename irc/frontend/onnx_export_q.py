"""ONNX exporters of the ``q.*`` ops: quantized graphs in QDQ form.

QDQ is what onnxruntime's ``quantize_static`` writes: the integers stay in
int8/uint8 tensors, every op computes in float between a ``DequantizeLinear``
of its operands and a ``QuantizeLinear`` of its result, and onnxruntime's
graph optimizer fuses such ``DQ → op → Q`` groups into its integer kernels
(QLinearConv, QLinearMatMul, QLinearAdd, QLinearAveragePool...).  The driver
(:mod:`irc.frontend.onnx_export`) keeps one shared DequantizeLinear per
quantized tensor (``cx.real(i)``) and knows an int32 accumulator by its real
value (``cx.set_real``).  Per op, ``real(t) = s_t · (t − z_t)``:

=================  ==================================================================
``q.quantize``     QuantizeLinear (x cast to f32 first if it is not f32)
``q.dequantize``   DequantizeLinear (the shared one, named as the result), Cast if not f32
``q.reinterpret``  Identity: the same integers; readers dequantize with the new parameters
``q.conv2d``       Conv(real(x), real(w), DQ(b)): the accumulator's real value; the int32
                   bias is an initializer dequantized with the accumulator's scales
                   ``s_x · s_w[c]`` (per axis 0 when w is per channel), zero point 0
``q.matmul``       MatMul(real(a), real(b)) [+ DQ(bias)]: the accumulator's real value
``q.mul``          Mul(real(a), real(b)): the accumulator's real value
``q.requantize``   real(x) → [Relu/Clip] → QuantizeLinear to the result's parameters; the
                   clamp ``[lo, hi]`` (stored units) becomes real bounds ``s · (lo − z)``,
                   ``s · (hi − z)``, emitted only on a side narrower than the dtype's range
``q.add``          Add(real(a), real(b)) → [Relu/Clip] → QuantizeLinear
``q.avg_pool``     AveragePool(real(x)) → QuantizeLinear (x's parameters)
``q.lut``          Gather(table, Cast(x, int32)): the table, rolled by ``min(dtype_x)`` so
                   ONNX's negative indices of an int8 x land on the right entry, gives the
                   stored result directly (the table *is* the function; it cannot be
                   turned back into a float op in general)
=================  ==================================================================

So ``q.conv2d → q.requantize`` becomes ``DQ(x), DQ(w), DQ(b) → Conv → [Relu/Clip]
→ Q``, the pattern onnxruntime fuses into QLinearConv.

**Numerics.**  The export is faithful to irc within one step of the result:
ONNX's QuantizeLinear rounds half to even, irc rounds half away from zero
(``q.quantize``'s default; the fixed-point requantization of
:mod:`irc.fixedpoint`), and onnxruntime requantizes accumulators with a
float32 multiplier where irc uses a Q0.31 fixed-point one — so a value that
lands on (or within float error of) a tie can differ by one stored step.
Integer data movement (reshape, transpose, max pool, concat, pad, slice...)
stays on the integers and is exact.
"""

from __future__ import annotations

import math

import numpy as np

from ..dtypes import DType
from ..ops.q_core import clamp_bounds
from ..types import PerAxis, PerTensor, TensorType
from .onnx_export import ExportContext, elem_type, exporter
from .onnx_export_ops import window_attrs, emit_clip

_F32 = DType.F32


def _result_type(cx: ExportContext, k: int = 0) -> TensorType:
    return cx.node.outputs[k].type


def _quantize_result(cx: ExportContext, x: str) -> None:
    """``x`` (the real result) → the clamp of ``cx.attrs`` as Relu/Clip where
    it is narrower than the result dtype's range → QuantizeLinear into the result."""
    t = _result_type(cx)
    q = t.quant
    assert isinstance(q, PerTensor)
    lo, hi = clamp_bounds(cx.attrs, t.dtype)
    real_lo = q.scale * (lo - q.zero_point) if lo > t.dtype.min else -math.inf
    real_hi = q.scale * (hi - q.zero_point) if hi < t.dtype.max else math.inf
    if (real_lo, real_hi) != (-math.inf, math.inf):
        clamped = cx.fresh(f"{cx.output()}/clamp")
        cx.types[clamped] = _F32
        emit_clip(cx, x, real_lo, real_hi, clamped, _F32)
        x = clamped
    cx.quantize(x, t, cx.output())


def _real_float(cx: ExportContext, op_type: str, inputs: list[str], **attrs: object) -> str:
    """``op_type(inputs)`` in f32: the real value of an accumulator or a result."""
    return cx.emit1(op_type, inputs, dtype=_F32, **attrs)


# --- quantize / dequantize / reinterpret ----------------------------------------------------

@exporter("q.quantize")
def _quantize(cx: ExportContext) -> None:
    x = cx.input(0)
    if cx.dtype() is not _F32:
        x = cx.emit1("Cast", [x], dtype=_F32, to=elem_type(_F32))
    cx.quantize(x, _result_type(cx), cx.output())


@exporter("q.dequantize")
def _dequantize(cx: ExportContext) -> None:
    if cx.out_dtype is _F32:
        cx.real(0, into=cx.output())
        return
    cx.emit("Cast", [cx.real(0)], [cx.output()], to=elem_type(cx.out_dtype))


@exporter("q.reinterpret")
def _reinterpret(cx: ExportContext) -> None:
    cx.emit("Identity", [cx.input(0)], [cx.output()])


# --- accumulators: conv, matmul, mul ------------------------------------------------------------

def _bias(cx: ExportContext, i: int) -> str:
    """The int32 bias (operand ``i``, in accumulator units) dequantized with the
    accumulator's scales: per tensor, or per axis 0 of the 1-D bias."""
    acc = _result_type(cx).quant
    assert acc is not None
    q = acc if isinstance(acc, PerTensor) else PerAxis(0, acc.scales, acc.zero_points)
    return cx.dequantize(cx.input(i), TensorType(DType.I32, cx.shape(i), q))


@exporter("q.conv2d")
def _conv2d(cx: ExportContext) -> None:
    ins = [cx.real(0), cx.real(1)] + ([_bias(cx, 2)] if cx.has_input(2) else [])
    cx.set_real(0, _real_float(cx, "Conv", ins, kernel_shape=list(cx.shape(1)[2:]),
                               group=cx.attrs["groups"], **window_attrs(cx)))


@exporter("q.matmul")
def _matmul(cx: ExportContext) -> None:
    y = _real_float(cx, "MatMul", [cx.real(0), cx.real(1)])
    if cx.has_input(2):
        y = _real_float(cx, "Add", [y, _bias(cx, 2)])
    cx.set_real(0, y)


@exporter("q.mul")
def _mul(cx: ExportContext) -> None:
    cx.set_real(0, _real_float(cx, "Mul", [cx.real(0), cx.real(1)]))


# --- to narrow results: requantize, add, avg_pool, lut ------------------------------------------

@exporter("q.requantize")
def _requantize(cx: ExportContext) -> None:
    _quantize_result(cx, cx.real(0))


@exporter("q.add")
def _add(cx: ExportContext) -> None:
    _quantize_result(cx, _real_float(cx, "Add", [cx.real(0), cx.real(1)]))


@exporter("q.avg_pool")
def _avg_pool(cx: ExportContext) -> None:
    a = cx.attrs
    _quantize_result(cx, _real_float(
        cx, "AveragePool", [cx.real(0)], kernel_shape=list(a["kernel"]),
        ceil_mode=1 if a["ceil_mode"] else None,
        count_include_pad=1 if a["count_include_pad"] else None, **window_attrs(cx)))


@exporter("q.lut")
def _lut(cx: ExportContext) -> None:
    # Gather reads index -k as entry n - k: roll the table so x itself is the index
    table = np.roll(np.asarray(cx.attrs["table"], np.int64), int(cx.dtype().min))
    idx = cx.emit1("Cast", [cx.input(0)], dtype=DType.I32, to=elem_type(DType.I32))
    cx.emit("Gather", [cx.const(table, "table", cx.out_dtype), idx], [cx.output()], axis=0)
