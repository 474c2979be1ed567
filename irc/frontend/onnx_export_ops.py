"""ONNX exporters of the ``nn.*`` ops (see :mod:`irc.frontend.onnx_export`).

One function per irc op (or per family of ops with the same ONNX form).  Each
reads the node through :class:`ExportContext` and emits ONNX nodes whose
results include every ``cx.output(k)``.  Opset differences are handled here:
axes/split/pads/shape operands are attributes or int64 initializers as the
opset wants them; ops an opset lacks are decomposed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dtypes import DType
from ..ops.nn_elementwise import NO_CLAMP
from ..ops.nn_shape import reshape_target
from .onnx_export import ExportContext, elem_type, exporter

_AUTO_PAD = {"explicit": None, "same_upper": "SAME_UPPER", "same_lower": "SAME_LOWER",
             "valid": "VALID"}


# --- clamps: Relu / Clip ----------------------------------------------------------------------

def _bound(dtype: DType, b: float, rounded: Any) -> Any:
    """A clamp bound as a value of ``dtype``, or None when it bounds nothing
    (an infinity; for integers also NaN or a bound beyond the type's range,
    following :func:`irc.ops.nn_elementwise.clip_array`)."""
    if math.isinf(b):
        return None
    if dtype.is_float:
        return b
    if math.isnan(b):
        return None
    return max(int(dtype.min), min(int(dtype.max), int(rounded(b))))


def emit_clip(cx: ExportContext, x: str, lo: float, hi: float, out: str,
              dtype: DType) -> None:
    """``out = min(max(x, lo), hi)`` in ``dtype``: Relu for [0, inf] on floats,
    otherwise Clip with typed bound initializers (a missing bound is left out)."""
    if dtype.is_float and (math.isnan(lo) or math.isnan(hi)):
        raise cx.fail("a NaN clamp bound (ONNX Clip leaves NaN bounds undefined)")
    blo, bhi = _bound(dtype, lo, math.ceil), _bound(dtype, hi, math.floor)
    if dtype.is_float and blo == 0.0 and bhi is None:
        cx.emit("Relu", [x], [out])
        return
    if blo is None and bhi is None:
        cx.emit("Identity", [x], [out])
        return
    ins = [x, "" if blo is None else cx.scalar(blo, "min", dtype),
           "" if bhi is None else cx.scalar(bhi, "max", dtype)]
    while ins[-1] == "":
        ins.pop()
    cx.emit("Clip", ins, [out])


def emit_clamped(cx: ExportContext, op_type: str, inputs: list[str], **attrs: Any) -> None:
    """``op_type(inputs)`` into the node's result, then its fused ``clamp``."""
    lo, hi = cx.attrs.get("clamp", NO_CLAMP)
    if (lo, hi) == NO_CLAMP:
        cx.emit(op_type, inputs, [cx.output()], **attrs)
        return
    y = cx.emit1(op_type, inputs, dtype=cx.out_dtype, **attrs)
    emit_clip(cx, y, lo, hi, cx.output(), cx.out_dtype)


# --- elementwise -------------------------------------------------------------------------------

_SAME_NAME = {
    "nn.abs": "Abs", "nn.neg": "Neg", "nn.sqrt": "Sqrt", "nn.exp": "Exp", "nn.log": "Log",
    "nn.tanh": "Tanh", "nn.erf": "Erf", "nn.sigmoid": "Sigmoid", "nn.relu": "Relu",
    "nn.identity": "Identity", "nn.sub": "Sub", "nn.mul": "Mul", "nn.div": "Div",
    "nn.pow": "Pow", "nn.min": "Min", "nn.max": "Max", "nn.prelu": "PRelu",
    "nn.global_avg_pool": "GlobalAveragePool", "nn.global_max_pool": "GlobalMaxPool",
    "nn.equal": "Equal", "nn.less": "Less", "nn.greater": "Greater", "nn.and": "And",
    "nn.or": "Or", "nn.xor": "Xor", "nn.not": "Not", "nn.is_nan": "IsNaN",
}


@exporter(*_SAME_NAME)
def _same_name(cx: ExportContext) -> None:
    cx.emit(_SAME_NAME[cx.node.op], [cx.input(i) for i in range(len(cx.node.inputs))],
            [cx.output()])


@exporter("nn.add")
def _add(cx: ExportContext) -> None:
    emit_clamped(cx, "Add", [cx.input(0), cx.input(1)])


@exporter("nn.relu6")
def _relu6(cx: ExportContext) -> None:
    emit_clip(cx, cx.input(0), 0.0, 6.0, cx.output(), cx.out_dtype)


@exporter("nn.clip")
def _clip(cx: ExportContext) -> None:
    emit_clip(cx, cx.input(0), cx.attrs["min"], cx.attrs["max"], cx.output(), cx.out_dtype)


@exporter("nn.leaky_relu")
def _leaky_relu(cx: ExportContext) -> None:
    cx.emit("LeakyRelu", [cx.input(0)], [cx.output()], alpha=cx.attrs["alpha"])


@exporter("nn.hardsigmoid")
def _hardsigmoid(cx: ExportContext) -> None:
    cx.emit("HardSigmoid", [cx.input(0)], [cx.output()], alpha=cx.attrs["alpha"],
            beta=cx.attrs["beta"])


@exporter("nn.hardswish")
def _hardswish(cx: ExportContext) -> None:
    if cx.opset >= 14:
        cx.emit("HardSwish", [cx.input(0)], [cx.output()])
        return
    hs = cx.emit1("HardSigmoid", [cx.input(0)], alpha=1.0 / 6.0, beta=0.5)
    cx.emit("Mul", [cx.input(0), hs], [cx.output()])


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@exporter("nn.gelu")
def _gelu(cx: ExportContext) -> None:
    approx = cx.attrs["approximate"]
    if cx.opset >= 20:
        cx.emit("Gelu", [cx.input(0)], [cx.output()],
                approximate=None if approx == "none" else approx)
        return
    x, dt = cx.input(0), cx.dtype()
    if approx == "none":      # 0.5 * x * (1 + erf(x / sqrt(2)))
        inner = cx.emit1("Erf", [cx.emit1("Mul", [x, cx.scalar(1 / math.sqrt(2), "rsqrt2", dt)])])
    else:                     # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
        x3 = cx.emit1("Mul", [cx.emit1("Mul", [x, x]), x])
        s = cx.emit1("Add", [x, cx.emit1("Mul", [x3, cx.scalar(0.044715, "c", dt)])])
        inner = cx.emit1("Tanh", [cx.emit1("Mul", [s, cx.scalar(_SQRT_2_OVER_PI, "k", dt)])])
    onep = cx.emit1("Add", [inner, cx.scalar(1.0, "one", dt)])
    half_x = cx.emit1("Mul", [x, cx.scalar(0.5, "half", dt)])
    cx.emit("Mul", [half_x, onep], [cx.output()])


# --- comparisons, classification, indexing ---------------------------------------------------

@exporter("nn.less_equal", "nn.greater_equal")
def _compare_or_equal(cx: ExportContext) -> None:
    strict = "Less" if cx.node.op == "nn.less_equal" else "Greater"
    ins = [cx.input(0), cx.input(1)]
    if cx.opset >= 12:
        cx.emit(f"{strict}OrEqual", ins, [cx.output()])
        return
    b1 = DType.B1
    cx.emit("Or", [cx.emit1(strict, ins, dtype=b1), cx.emit1("Equal", ins, dtype=b1)],
            [cx.output()])


@exporter("nn.where")
def _where(cx: ExportContext) -> None:
    c, a, b = cx.input(0), cx.input(1), cx.input(2)
    if cx.out_dtype != DType.B1:
        cx.emit("Where", [c, a, b], [cx.output()])
        return
    # onnxruntime has no bool Where kernel: (c and a) or (not c and b)
    cx.emit("Or", [cx.emit1("And", [c, a]), cx.emit1("And", [cx.emit1("Not", [c]), b])],
            [cx.output()])


@exporter("nn.is_inf")
def _is_inf(cx: ExportContext) -> None:
    cx.emit("IsInf", [cx.input(0)], [cx.output()],
            detect_positive=int(cx.attrs["detect_positive"]),
            detect_negative=int(cx.attrs["detect_negative"]))


@exporter("nn.gather_elements")
def _gather_elements(cx: ExportContext) -> None:
    cx.emit("GatherElements", [cx.input(0), cx.input(1)], [cx.output()], axis=cx.attrs["axis"])


@exporter("nn.lrn")
def _lrn(cx: ExportContext) -> None:
    a = cx.attrs
    cx.emit("LRN", [cx.input(0)], [cx.output()], size=a["size"], alpha=a["alpha"],
            beta=a["beta"], bias=a["bias"])


# --- linear algebra, convolution, pooling ------------------------------------------------------

@exporter("nn.matmul")
def _matmul(cx: ExportContext) -> None:
    emit_clamped(cx, "MatMul", [cx.input(0), cx.input(1)])


@exporter("nn.gemm")
def _gemm(cx: ExportContext) -> None:
    a = cx.attrs
    ins = [cx.input(i) for i in range(len(cx.node.inputs))]
    emit_clamped(cx, "Gemm", ins, alpha=None if a["alpha"] == 1.0 else a["alpha"],
                 beta=None if a["beta"] == 1.0 or len(ins) < 3 else a["beta"],
                 transA=1 if a["trans_a"] else None, transB=1 if a["trans_b"] else None)


def window_attrs(cx: ExportContext) -> dict[str, Any]:
    a = cx.attrs
    ap = _AUTO_PAD[a.get("auto_pad", "explicit")]
    out: dict[str, Any] = {"strides": list(a["strides"])}
    if ap is None:
        out["pads"] = list(a["pads"])     # (top, left, bottom, right) = ONNX's order
    else:
        out["auto_pad"] = ap
    if "dilations" in a:
        out["dilations"] = list(a["dilations"])
    return out


@exporter("nn.conv2d")
def _conv2d(cx: ExportContext) -> None:
    ins = [cx.input(i) for i in range(len(cx.node.inputs))]
    emit_clamped(cx, "Conv", ins, kernel_shape=list(cx.shape(1)[2:]), group=cx.attrs["groups"],
                 **window_attrs(cx))


@exporter("nn.conv_transpose2d")
def _conv_transpose2d(cx: ExportContext) -> None:
    ins = [cx.input(i) for i in range(len(cx.node.inputs))]
    a = cx.attrs
    emit_clamped(cx, "ConvTranspose", ins, kernel_shape=list(cx.shape(1)[2:]),
                 group=a["groups"], output_padding=list(a["output_padding"])
                 if any(a["output_padding"]) else None, **window_attrs(cx))


@exporter("nn.max_pool")
def _max_pool(cx: ExportContext) -> None:
    cx.emit("MaxPool", [cx.input(0)], [cx.output()], kernel_shape=list(cx.attrs["kernel"]),
            ceil_mode=1 if cx.attrs["ceil_mode"] else None, **window_attrs(cx))


@exporter("nn.avg_pool")
def _avg_pool(cx: ExportContext) -> None:
    a = cx.attrs
    cx.emit("AveragePool", [cx.input(0)], [cx.output()], kernel_shape=list(a["kernel"]),
            ceil_mode=1 if a["ceil_mode"] else None,
            count_include_pad=1 if a["count_include_pad"] else None, **window_attrs(cx))


# --- normalization -----------------------------------------------------------------------------

@exporter("nn.batch_norm")
def _batch_norm(cx: ExportContext) -> None:
    if cx.attrs["training"]:
        raise cx.fail("a training-mode batch norm (training = true): export the inference "
                      "graph, with training = false")
    cx.emit("BatchNormalization", [cx.input(i) for i in range(5)], [cx.output()],
            epsilon=cx.attrs["epsilon"])


def _full(cx: ExportContext, i: int, shape: tuple[int, ...], hint: str) -> str:
    """Operand ``i`` broadcast to ``shape`` (a constant is broadcast here)."""
    v = cx.value(i)
    if v.type.shape == shape:
        return v.name
    if v.is_const:
        return cx.const(np.broadcast_to(v.const_value, shape), hint)
    return cx.emit1("Expand", [v.name, cx.ints(shape, f"{hint}_shape")])


@exporter("nn.layer_norm")
def _layer_norm(cx: ExportContext) -> None:
    x, dt, r = cx.input(0), cx.dtype(), len(cx.shape(0))
    axis = cx.attrs["axis"] + r if cx.attrs["axis"] < 0 else cx.attrs["axis"]
    eps = cx.attrs["epsilon"]
    norm = cx.shape(0)[axis:]
    has_bias = cx.has_input(2)
    if cx.opset >= 17:
        ins = [x, _full(cx, 1, norm, "scale")] + ([_full(cx, 2, norm, "bias")] if has_bias
                                                  else [])
        cx.emit("LayerNormalization", ins, [cx.output()], axis=axis, epsilon=eps)
        return
    axes = list(range(axis, r))          # opset < 17 (so < 18): ReduceMean takes attributes
    mu = cx.emit1("ReduceMean", [x], axes=axes, keepdims=1)
    d = cx.emit1("Sub", [x, mu])
    var = cx.emit1("ReduceMean", [cx.emit1("Mul", [d, d])], axes=axes, keepdims=1)
    sd = cx.emit1("Sqrt", [cx.emit1("Add", [var, cx.scalar(eps, "epsilon", dt)])])
    y = cx.emit1("Mul", [cx.emit1("Div", [d, sd]), cx.input(1)])
    if has_bias:
        cx.emit("Add", [y, cx.input(2)], [cx.output()])
    else:
        cx.emit("Identity", [y], [cx.output()])


@exporter("nn.softmax", "nn.log_softmax")
def _softmax(cx: ExportContext) -> None:
    op_type = "Softmax" if cx.node.op == "nn.softmax" else "LogSoftmax"
    r = len(cx.shape(0))
    axis = cx.attrs["axis"] + r if cx.attrs["axis"] < 0 else cx.attrs["axis"]
    if cx.opset >= 13:
        cx.emit(op_type, [cx.input(0)], [cx.output()], axis=cx.attrs["axis"])
        return
    if axis == r - 1:         # opset < 13 flattens to 2-D at axis: the same for the last one
        cx.emit(op_type, [cx.input(0)], [cx.output()], axis=axis)
        return
    perm = [i for i in range(r) if i != axis] + [axis]
    inv = [perm.index(i) for i in range(r)]
    t = cx.emit1("Transpose", [cx.input(0)], perm=perm)
    s = cx.emit1(op_type, [t], axis=r - 1)
    cx.emit("Transpose", [s], [cx.output()], perm=inv)


# --- reductions --------------------------------------------------------------------------------

_REDUCE = {"nn.reduce_sum": ("ReduceSum", 13), "nn.reduce_mean": ("ReduceMean", 18),
           "nn.reduce_max": ("ReduceMax", 18)}


@exporter(*_REDUCE)
def _reduce(cx: ExportContext) -> None:
    op_type, axes_input_from = _REDUCE[cx.node.op]
    axes = list(cx.attrs["axes"])
    keep = 1 if cx.attrs["keepdims"] else 0
    if len(cx.shape(0)) == 0:             # a scalar: nothing to reduce
        cx.emit("Identity", [cx.input(0)], [cx.output()])
        return
    if cx.opset >= axes_input_from:
        ins = [cx.input(0)] + ([cx.ints(axes, "axes")] if axes else [])
        cx.emit(op_type, ins, [cx.output()], keepdims=keep)
    else:
        cx.emit(op_type, [cx.input(0)], [cx.output()], axes=axes or None, keepdims=keep)


# --- shape and data movement -------------------------------------------------------------------

@exporter("nn.reshape")
def _reshape(cx: ExportContext) -> None:
    target = list(cx.node.outputs[0].type.shape)
    # the static result shape, unless it has a 0 (which ONNX would read as "copy")
    shape = target if 0 not in target else list(cx.attrs["shape"])
    if 0 in target and list(reshape_target(cx.shape(0), shape)) != target:
        raise cx.fail(f"cannot express reshape to {target} with allowzero = 0")
    cx.emit("Reshape", [cx.input(0), cx.ints(shape, "shape")], [cx.output()])


@exporter("nn.flatten")
def _flatten(cx: ExportContext) -> None:
    cx.emit("Flatten", [cx.input(0)], [cx.output()], axis=cx.attrs["axis"])


@exporter("nn.transpose")
def _transpose(cx: ExportContext) -> None:
    perm = list(cx.attrs["perm"]) or list(reversed(range(len(cx.shape(0)))))
    if len(perm) <= 1:
        cx.emit("Identity", [cx.input(0)], [cx.output()])
        return
    cx.emit("Transpose", [cx.input(0)], [cx.output()], perm=perm)


def _axes_operand(cx: ExportContext, op_type: str, axes: list[int]) -> None:
    if cx.opset >= 13:
        ins = [cx.input(0)] + ([cx.ints(axes, "axes")] if axes else [])
        cx.emit(op_type, ins, [cx.output()])
    else:
        cx.emit(op_type, [cx.input(0)], [cx.output()], axes=axes or None)


@exporter("nn.squeeze")
def _squeeze(cx: ExportContext) -> None:
    _axes_operand(cx, "Squeeze", list(cx.attrs["axes"]))


@exporter("nn.unsqueeze")
def _unsqueeze(cx: ExportContext) -> None:
    _axes_operand(cx, "Unsqueeze", list(cx.attrs["axes"]))


@exporter("nn.expand")
def _expand(cx: ExportContext) -> None:
    cx.emit("Expand", [cx.input(0), cx.ints(cx.attrs["shape"], "shape")], [cx.output()])


@exporter("nn.concat")
def _concat(cx: ExportContext) -> None:
    cx.emit("Concat", [cx.input(i) for i in range(len(cx.node.inputs))], [cx.output()],
            axis=cx.attrs["axis"])


@exporter("nn.split")
def _split(cx: ExportContext) -> None:
    outs = [cx.output(k) for k in range(len(cx.node.outputs))]
    sizes = list(cx.attrs["sizes"])
    if cx.opset >= 13:
        cx.emit("Split", [cx.input(0), cx.ints(sizes, "split")], outs, axis=cx.attrs["axis"])
    else:
        cx.emit("Split", [cx.input(0)], outs, axis=cx.attrs["axis"], split=sizes)


@exporter("nn.slice")
def _slice(cx: ExportContext) -> None:
    a = cx.attrs
    starts, ends = list(a["starts"]), list(a["ends"])
    if not starts:                        # nothing sliced (ORT refuses to slice a scalar)
        cx.emit("Identity", [cx.input(0)], [cx.output()])
        return
    axes, steps = list(a["axes"]), list(a["steps"])
    if steps and not axes:
        axes = list(range(len(starts)))
    ins = [cx.input(0), cx.ints(starts, "starts"), cx.ints(ends, "ends")]
    if axes:
        ins.append(cx.ints(axes, "axes"))
    if steps:
        ins.append(cx.ints(steps, "steps"))
    cx.emit("Slice", ins, [cx.output()])


@exporter("nn.pad")
def _pad(cx: ExportContext) -> None:
    a = cx.attrs
    if not any(a["pads"]):                # (a scalar has no pads; ORT refuses to pad it)
        cx.emit("Identity", [cx.input(0)], [cx.output()])
        return
    ins = [cx.input(0), cx.ints(a["pads"], "pads")]
    if a["mode"] == "constant" and a["value"] != 0.0:
        ins.append(cx.scalar(a["value"], "value", cx.dtype()))
    cx.emit("Pad", ins, [cx.output()], mode=a["mode"])


@exporter("nn.gather")
def _gather(cx: ExportContext) -> None:
    cx.emit("Gather", [cx.input(0), cx.input(1)], [cx.output()], axis=cx.attrs["axis"])


def _elem(dtype: DType) -> int:
    et = elem_type(dtype)
    assert et is not None
    return et


@exporter("nn.cast")
def _cast(cx: ExportContext) -> None:
    to = cx.attrs["to"]
    et = elem_type(to)
    if et is None:
        raise cx.fail(f"cast to the sub-byte type {to}: ONNX has no such element type here")
    cx.emit("Cast", [cx.input(0)], [cx.output()], to=et)


# --- resampling --------------------------------------------------------------------------------

@exporter("nn.resize")
def _resize(cx: ExportContext) -> None:
    a = cx.attrs
    scales = cx.const(np.asarray(a["scales"], np.float32), "scales") if a["scales"] else ""
    sizes = cx.ints(a["sizes"], "sizes") if a["sizes"] else ""
    if cx.opset >= 13:
        ins = [cx.input(0), "", scales, sizes]
    else:                     # roi and scales are required inputs (empty when unused)
        roi = cx.const(np.zeros(0, np.float32), "roi")
        ins = [cx.input(0), roi, scales or cx.const(np.zeros(0, np.float32), "scales"), sizes]
    while ins[-1] == "":
        ins.pop()
    kw = dict(mode=a["mode"], coordinate_transformation_mode=a["coordinate_transformation_mode"],
              nearest_mode=a["nearest_mode"] if a["mode"] == "nearest" else None)
    if cx.dtype() != DType.B1:
        cx.emit("Resize", ins, [cx.output()], **kw)
        return
    # onnxruntime has no bool Resize kernel: resize the mask as u8 (nearest only)
    ins[0] = cx.emit1("Cast", [ins[0]], dtype=DType.U8, to=_elem(DType.U8))
    y = cx.emit1("Resize", ins, dtype=DType.U8, **kw)
    cx.emit("Cast", [y], [cx.output()], to=_elem(DType.B1))
