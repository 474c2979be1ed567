"""Converters of ONNX's quantized ops onto the ``q.*`` core, with ONNX's exact
semantics (round half to even, float32 scale arithmetic — what onnxruntime
computes, bit for bit):

=====================  =================================================================
QuantizeLinear         ``q.quantize {rounding = half_even}``
DequantizeLinear       ``q.reinterpret`` (attach the scale/zero point) → ``q.dequantize``
ConvInteger            ``q.reinterpret`` (scale 1) ×2 → ``q.conv2d``
MatMulInteger          ``q.reinterpret`` (scale 1) ×2 → ``q.matmul``
QLinearConv            ``q.reinterpret`` ×2 → ``q.conv2d`` (+ int32 bias) → ``q.requantize``
QLinearMatMul          ``q.reinterpret`` ×2 → ``q.matmul`` → ``q.requantize``
=====================  =================================================================

Scales and zero points must be constants.  Blocked quantization (opset 21
``block_size``) and float8/int4 ONNX types are reported as unsupported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import DType
from ..ir import Value
from ..types import PerAxis, PerTensor
from .onnx_import import NodeContext, converter
from .onnx_ops_nn import _auto_pad, _check_kernel, _Spatial

_HALF_EVEN = "half_even"


def _params(cx: NodeContext, scale_i: int, zp_i: int, what: str,
            default_dtype: DType = DType.U8) -> tuple[list[float], list[int], DType]:
    """Scales, zero points and the quantized dtype from constant inputs."""
    if cx.has_attr("block_size") and cx.attr("block_size"):
        raise cx.bad_attr("block_size", cx.attr("block_size"), "blocked quantization")
    s = cx.const(scale_i, f"{what} scale")
    assert s is not None
    z = cx.const(zp_i, f"{what} zero point")
    if z is None:
        dtype = default_dtype
        z = np.zeros(np.asarray(s).shape, np.int64)
    else:
        dtype = cx.input(zp_i).type.dtype
    if not dtype.is_int or dtype.bits > 32:
        raise cx.error(f"{what} zero point has type {dtype}; irc imports int8/uint8/int16/"
                       "uint16/int32 quantization")
    s_list = [float(np.float32(v)) for v in np.asarray(s).reshape(-1)]
    z_list = [int(v) for v in np.asarray(z).reshape(-1)]
    if cx.has_input(zp_i) and np.shape(z) != np.shape(s):
        raise cx.error(f"{what} zero point has shape {list(np.shape(z))} but its scale has "
                       f"{list(np.shape(s))}; ONNX requires the same shape")
    if np.asarray(s).ndim > 1:
        raise cx.error(f"{what} scale must be a scalar or 1-D, got shape {list(np.shape(s))}")
    return s_list, z_list, dtype


def _with_params(cx: NodeContext, v: Value, scales: list[float], zps: list[int],
                 axis: int) -> Value:
    """``v`` typed with these quantization parameters (a no-op when it has them)."""
    want = _as_quant(scales, zps, axis, v)
    if v.type.quant == want:
        return v
    return cx.op("q.reinterpret", [v], scales=scales, zero_points=zps, axis=axis)


def _as_quant(scales: list[float], zps: list[int], axis: int, v: Value) -> Any:
    if len(scales) == 1:
        return PerTensor(scales[0], zps[0])
    rank = v.type.rank
    zs = zps * len(scales) if len(zps) == 1 else zps
    return PerAxis(axis % rank if rank else 0, tuple(scales), tuple(zs))


@converter("QuantizeLinear")
def _quantize(cx: NodeContext) -> Value:
    x = cx.input(0)
    dtype_attr = cx.attr("output_dtype", 0)
    scales, zps, dtype = _params(cx, 1, 2, "y")
    if dtype_attr:
        from .onnx_import import onnx_dtype
        wanted = onnx_dtype(dtype_attr, cx.label)
        if cx.has_input(2) and wanted is not dtype:
            raise cx.bad_attr("output_dtype", dtype_attr, f"the zero point is {dtype}; ONNX "
                              "requires them to agree")
        dtype = wanted
    if x.type.dtype is not DType.F32:
        x = cx.op("nn.cast", [x], to=DType.F32)
    return cx.op("q.quantize", [x], dtype=dtype, scales=scales, zero_points=zps,
                 axis=cx.attr("axis", 1), rounding=_HALF_EVEN)


@converter("DequantizeLinear")
def _dequantize(cx: NodeContext) -> Value:
    x = cx.input(0)
    scales, zps, _ = _params(cx, 1, 2, "x", default_dtype=x.type.dtype)
    q = _with_params(cx, x, scales, zps, cx.attr("axis", 1))
    to = cx.input(1).type.dtype          # the output has the scale's type (opset 19+)
    return cx.op("q.dequantize", [q], to=to if to.is_float else DType.F32)


class _QSpatial(_Spatial):
    """:class:`_Spatial` for quantized tensors: the [N, C, L] <-> [N, C, 1, L]
    views keep each tensor's quantization parameters (inserting or removing
    axis 2 moves no per-axis axis, which is 0 or 1 here)."""

    def view(self, v: Value) -> Value:
        return self._keep(v, super().view(v))

    def result(self, y: Value) -> Value:
        return self._keep(y, super().result(y))

    def _keep(self, src: Value, dst: Value) -> Value:
        q = src.type.quant
        if dst is src or q is None:
            return dst
        if isinstance(q, PerTensor):
            return self.cx.op("q.reinterpret", [dst], scales=[q.scale],
                              zero_points=[q.zero_point])
        return self.cx.op("q.reinterpret", [dst], scales=list(q.scales),
                          zero_points=list(q.zero_points), axis=q.axis)


def _conv_attrs(cx: NodeContext, sp: _Spatial) -> dict[str, Any]:
    return dict(strides=sp.pair("strides"), pads=sp.pads(), dilations=sp.pair("dilations"),
                groups=cx.attr("group", 1), auto_pad=_auto_pad(cx))


@converter("QLinearConv")
def _qlinear_conv(cx: NodeContext) -> Value:
    xs, xz, _ = _params(cx, 1, 2, "x")
    ws, wz, _ = _params(cx, 4, 5, "w")
    ys, yz, ydt = _params(cx, 6, 7, "y")
    sp = _QSpatial(cx, _with_params(cx, cx.input(0), xs, xz, 1))
    w = _with_params(cx, cx.input(3), ws, wz, 0)
    _check_kernel(cx, w, cx.attr("kernel_shape"))
    ins = [sp.x, sp.view(w)] + ([cx.input(8)] if cx.has_input(8) else [])
    acc = cx.op("q.conv2d", ins, **_conv_attrs(cx, sp))
    y = cx.op("q.requantize", [acc], dtype=ydt, scale=ys[0], zero_point=yz[0],
              rounding=_HALF_EVEN)
    return sp.result(y)


@converter("ConvInteger")
def _conv_integer(cx: NodeContext) -> Value:
    x, w = cx.input(0), cx.input(1)
    xz = cx.ints(2, "x zero point") or [0]
    wz = cx.ints(3, "w zero point") or [0]
    sp = _QSpatial(cx, _with_params(cx, x, [1.0], xz, 1))
    wq = _with_params(cx, w, [1.0] * len(wz), wz, 0)
    _check_kernel(cx, wq, cx.attr("kernel_shape"))
    return sp.result(cx.op("q.conv2d", [sp.x, sp.view(wq)], **_conv_attrs(cx, sp)))


def _matmul_operands(cx: NodeContext, a: Value, b: Value, az: list[int], bz: list[int],
                     as_: list[float], bs: list[float]) -> tuple[Value, Value]:
    if a.type.rank < 2 or b.type.rank < 2:
        raise cx.error("1-D quantized matmul operands are not supported (irc's q.matmul "
                       "needs rank >= 2)")
    if len(az) > 1 or len(as_) > 1:
        raise cx.error("per-row quantization of the first operand is not supported")
    return (_with_params(cx, a, as_, az, -1),
            _with_params(cx, b, bs if len(bs) > 1 or len(bz) == 1 else bs * len(bz), bz, -1))


@converter("MatMulInteger")
def _matmul_integer(cx: NodeContext) -> Value:
    az = cx.ints(2, "a zero point") or [0]
    bz = cx.ints(3, "b zero point") or [0]
    a, b = _matmul_operands(cx, cx.input(0), cx.input(1), az, bz, [1.0], [1.0] * len(bz))
    return cx.op("q.matmul", [a, b])


@converter("QLinearMatMul")
def _qlinear_matmul(cx: NodeContext) -> Value:
    as_, az, _ = _params(cx, 1, 2, "a")
    bs, bz, _ = _params(cx, 4, 5, "b")
    ys, yz, ydt = _params(cx, 6, 7, "y")
    a, b = _matmul_operands(cx, cx.input(0), cx.input(3), az, bz, as_, bs)
    acc = cx.op("q.matmul", [a, b])
    return cx.op("q.requantize", [acc], dtype=ydt, scale=ys[0], zero_point=yz[0],
                 rounding=_HALF_EVEN)
