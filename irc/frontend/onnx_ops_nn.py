"""ONNX converters: arithmetic, activations, linear algebra, conv, pools,
normalization and reductions (see :mod:`irc.frontend.onnx_import`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ir import Value
from .onnx_import import NodeContext, converter

_UNARY = {
    "Relu": "nn.relu", "Sigmoid": "nn.sigmoid", "Tanh": "nn.tanh", "Sqrt": "nn.sqrt",
    "Erf": "nn.erf", "Neg": "nn.neg", "Exp": "nn.exp", "Log": "nn.log", "Abs": "nn.abs",
    "HardSwish": "nn.hardswish",
}

_BINARY = {
    "Add": "nn.add", "Sub": "nn.sub", "Mul": "nn.mul", "Div": "nn.div", "Pow": "nn.pow",
}

_VARIADIC = {"Min": "nn.min", "Max": "nn.max", "Sum": "nn.add"}

_AUTO_PAD = {"NOTSET": "explicit", "SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower",
             "VALID": "valid"}


@converter(*_UNARY)
def _unary(cx: NodeContext) -> Value:
    return cx.op(_UNARY[cx.op_type], [cx.input(0)])


@converter(*_BINARY)
def _binary(cx: NodeContext) -> Value:
    a, b = cx.input(0), cx.input(1)
    if cx.op_type == "Pow" and b.type.dtype != a.type.dtype:
        b = cx.op("nn.cast", [b], to=a.type.dtype)   # ONNX lets the exponent differ
    if cx.op_type == "Div" and not a.type.dtype.is_float:
        if not (a.is_const and b.is_const):
            raise cx.error(f"integer division of non-constant {a.type.dtype} tensors is not "
                           "supported (nn.div takes floats)")
        x, y = a.const_value, b.const_value
        q = np.abs(x) // np.abs(y) * np.sign(x) * np.sign(y)   # C-style: toward zero
        return cx.const_value(q.astype(x.dtype))
    return cx.op(_BINARY[cx.op_type], [a, b])


@converter(*_VARIADIC)
def _variadic(cx: NodeContext) -> Value:
    xs = cx.inputs()
    if not xs:
        raise cx.error("needs at least one input")
    y = xs[0]
    for x in xs[1:]:
        y = cx.op(_VARIADIC[cx.op_type], [y, x])
    return y


@converter("Reciprocal")
def _reciprocal(cx: NodeContext) -> Value:
    x = cx.input(0)
    return cx.op("nn.div", [cx.const_value(np.ones((), x.type.dtype.storage)), x])


# --- activations ---------------------------------------------------------------------------

@converter("Clip")
def _clip(cx: NodeContext) -> Value:
    x = cx.input(0)
    if cx.opset < 11:
        lo, hi = cx.attr("min", -math.inf), cx.attr("max", math.inf)
    else:
        lo = cx.scalar(1, "min")
        hi = cx.scalar(2, "max")
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
    return cx.op("nn.clip", [x], min=float(lo), max=float(hi))


@converter("HardSigmoid")
def _hardsigmoid(cx: NodeContext) -> Value:
    return cx.op("nn.hardsigmoid", [cx.input(0)], alpha=cx.attr("alpha", 0.2),
                 beta=cx.attr("beta", 0.5))


@converter("LeakyRelu")
def _leaky_relu(cx: NodeContext) -> Value:
    return cx.op("nn.leaky_relu", [cx.input(0)], alpha=cx.attr("alpha", 0.01))


@converter("PRelu")
def _prelu(cx: NodeContext) -> Value:
    return cx.op("nn.prelu", [cx.input(0), cx.input(1)])


@converter("Gelu")
def _gelu(cx: NodeContext) -> Value:
    return cx.op("nn.gelu", [cx.input(0)], approximate=cx.attr("approximate", "none"))


@converter("Softmax", "LogSoftmax")
def _softmax(cx: NodeContext) -> Value:
    op = "nn.softmax" if cx.op_type == "Softmax" else "nn.log_softmax"
    x = cx.input(0)
    r = x.type.rank
    if cx.opset >= 13:
        return cx.op(op, [x], axis=cx.attr("axis", -1))
    # opset < 13: the input is seen as 2-D [prod(shape[:axis]), prod(shape[axis:])]
    axis = cx.attr("axis", 1)
    if not -r <= axis < max(r, 1):
        raise cx.bad_attr("axis", axis, f"out of range for rank {r}")
    axis = axis + r if axis < 0 else axis
    if axis == r - 1:
        return cx.op(op, [x], axis=-1)
    flat = cx.op("nn.flatten", [x], axis=axis)
    y = cx.op(op, [flat], axis=-1)
    return cx.op("nn.reshape", [y], shape=list(x.type.shape))


# --- linear algebra ------------------------------------------------------------------------

@converter("Gemm")
def _gemm(cx: NodeContext) -> Value:
    ins = [cx.input(0), cx.input(1)]
    if cx.has_input(2):
        ins.append(cx.input(2))
    return cx.op("nn.gemm", ins, alpha=cx.attr("alpha", 1.0), beta=cx.attr("beta", 1.0),
                 trans_a=bool(cx.attr("transA", 0)), trans_b=bool(cx.attr("transB", 0)))


@converter("MatMul")
def _matmul(cx: NodeContext) -> Value:
    return cx.op("nn.matmul", [cx.input(0), cx.input(1)])


# --- convolution and pooling ----------------------------------------------------------------

def _spatial_2d(cx: NodeContext, x: Value, what: str = "input") -> None:
    if x.type.rank != 4:
        raise cx.error(f"only 2-D spatial ops are supported: the {what} must be 4-D "
                       f"[N, C, H, W], got shape {list(x.type.shape)}")


def _auto_pad(cx: NodeContext, allowed: tuple[str, ...] = tuple(_AUTO_PAD)) -> str:
    ap = cx.attr("auto_pad", "NOTSET")
    if ap not in _AUTO_PAD or ap not in allowed:
        raise cx.bad_attr("auto_pad", ap, f"irc supports {', '.join(allowed)}")
    return _AUTO_PAD[ap]


def _pads(cx: NodeContext) -> list[int]:
    pads = list(cx.attr("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        raise cx.bad_attr("pads", pads, "2-D ops need 4 pads [top, left, bottom, right]")
    return pads


def _pair(cx: NodeContext, name: str, default: int = 1) -> list[int]:
    v = list(cx.attr(name, [default, default]))
    if len(v) != 2:
        raise cx.bad_attr(name, v, "2-D ops need 2 values")
    return v


def _check_kernel(cx: NodeContext, w: Value | None, kernel: list[int] | None) -> None:
    if w is not None and kernel is not None and list(w.type.shape[2:]) != list(kernel):
        raise cx.bad_attr("kernel_shape", kernel, f"the weight's kernel is "
                          f"{list(w.type.shape[2:])}")


@converter("Conv")
def _conv(cx: NodeContext) -> Value:
    x, w = cx.input(0), cx.input(1)
    _spatial_2d(cx, x)
    _check_kernel(cx, w, cx.attr("kernel_shape"))
    ins = [x, w] + ([cx.input(2)] if cx.has_input(2) else [])
    return cx.op("nn.conv2d", ins, strides=_pair(cx, "strides"), pads=_pads(cx),
                 dilations=_pair(cx, "dilations"), groups=cx.attr("group", 1),
                 auto_pad=_auto_pad(cx))


@converter("ConvTranspose")
def _conv_transpose(cx: NodeContext) -> Value:
    x, w = cx.input(0), cx.input(1)
    _spatial_2d(cx, x)
    _check_kernel(cx, w, cx.attr("kernel_shape"))
    if cx.has_attr("output_shape"):
        raise cx.bad_attr("output_shape", cx.attr("output_shape"),
                          "give pads and output_padding instead")
    _auto_pad(cx, ("NOTSET",))
    ins = [x, w] + ([cx.input(2)] if cx.has_input(2) else [])
    return cx.op("nn.conv_transpose2d", ins, strides=_pair(cx, "strides"), pads=_pads(cx),
                 dilations=_pair(cx, "dilations"), groups=cx.attr("group", 1),
                 output_padding=_pair(cx, "output_padding", 0))


@converter("MaxPool")
def _max_pool(cx: NodeContext) -> Any:
    x = cx.input(0)
    _spatial_2d(cx, x)
    y = cx.op("nn.max_pool", [x], kernel=_pair(cx, "kernel_shape"), strides=_pair(cx, "strides"),
              pads=_pads(cx), dilations=_pair(cx, "dilations"),
              ceil_mode=bool(cx.attr("ceil_mode", 0)), auto_pad=_auto_pad(cx))
    return [y, None]          # the Indices output is not computed (an error if used)


@converter("AveragePool")
def _avg_pool(cx: NodeContext) -> Value:
    x = cx.input(0)
    _spatial_2d(cx, x)
    dil = _pair(cx, "dilations")
    if dil != [1, 1]:
        raise cx.bad_attr("dilations", dil, "nn.avg_pool has no dilation")
    return cx.op("nn.avg_pool", [x], kernel=_pair(cx, "kernel_shape"),
                 strides=_pair(cx, "strides"), pads=_pads(cx),
                 ceil_mode=bool(cx.attr("ceil_mode", 0)),
                 count_include_pad=bool(cx.attr("count_include_pad", 0)),
                 auto_pad=_auto_pad(cx))


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(cx: NodeContext) -> Value:
    x = cx.input(0)
    _spatial_2d(cx, x)
    op = "nn.global_avg_pool" if cx.op_type == "GlobalAveragePool" else "nn.global_max_pool"
    return cx.op(op, [x])


# --- normalization ---------------------------------------------------------------------------

@converter("BatchNormalization")
def _batch_norm(cx: NodeContext) -> Any:
    if cx.attr("training_mode", 0):
        raise cx.bad_attr("training_mode", 1, "irc imports inference-mode models")
    if cx.opset < 9 and cx.attr("spatial", 1) != 1:
        raise cx.bad_attr("spatial", cx.attr("spatial"), "irc normalizes per channel")
    ins = [cx.input(i) for i in range(5)]
    y = cx.op("nn.batch_norm", ins, epsilon=cx.attr("epsilon", 1e-5))
    return [y, None, None, None, None]


@converter("LayerNormalization")
def _layer_norm(cx: NodeContext) -> Any:
    ins = [cx.input(0), cx.input(1)] + ([cx.input(2)] if cx.has_input(2) else [])
    y = cx.op("nn.layer_norm", ins, axis=cx.attr("axis", -1), epsilon=cx.attr("epsilon", 1e-5))
    return [y, None, None]


# --- reductions ------------------------------------------------------------------------------

_REDUCE = {"ReduceMean": "nn.reduce_mean", "ReduceSum": "nn.reduce_sum",
           "ReduceMax": "nn.reduce_max"}


@converter(*_REDUCE)
def _reduce(cx: NodeContext) -> Value:
    x = cx.input(0)
    axes_as_input = cx.opset >= (13 if cx.op_type == "ReduceSum" else 18)
    axes = cx.ints(1, "axes") if axes_as_input else cx.attr("axes")
    axes = list(axes or [])
    if not axes and cx.attr("noop_with_empty_axes", 0):
        return x
    return cx.op(_REDUCE[cx.op_type], [x], axes=axes, keepdims=bool(cx.attr("keepdims", 1)))


# --- resampling --------------------------------------------------------------------------------

_RESIZE_CTM = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel")


@converter("Resize")
def _resize(cx: NodeContext) -> Value:
    x = cx.input(0)
    if cx.opset < 11:
        raise cx.error("Resize before opset 11 is not supported (re-export with opset >= 11)")
    mode = cx.attr("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise cx.bad_attr("mode", mode, "irc resizes with nearest or linear")
    ctm = cx.attr("coordinate_transformation_mode", "half_pixel")
    if ctm not in _RESIZE_CTM:
        raise cx.bad_attr("coordinate_transformation_mode", ctm,
                          f"irc supports {', '.join(_RESIZE_CTM)}")
    for name, ok in (("antialias", 0), ("exclude_outside", 0)):
        if cx.attr(name, ok) != ok:
            raise cx.bad_attr(name, cx.attr(name))
    policy = cx.attr("keep_aspect_ratio_policy", "stretch")
    r = x.type.rank
    axes = [a + r if a < 0 else a for a in cx.attr("axes", list(range(r)))]
    sc, sz = cx.const(2, "scales"), cx.const(3, "sizes")
    scales = None if sc is None or sc.size == 0 else [float(s) for s in sc.reshape(-1)]
    sizes = None if sz is None or sz.size == 0 else [int(s) for s in sz.reshape(-1)]
    if sizes is not None and policy != "stretch":
        raise cx.bad_attr("keep_aspect_ratio_policy", policy, "irc supports stretch")
    given: list[Any]
    if scales is not None and sizes is None:
        given = scales
    elif sizes is not None and scales is None:
        given = sizes
    else:
        raise cx.error("give exactly one of the scales and sizes inputs")
    if len(given) != len(axes):
        raise cx.error(f"{len(given)} scales/sizes for {len(axes)} axes")
    full: list[Any] = [1.0] * r if scales is not None else list(x.type.shape)
    for a, v in zip(axes, given):
        full[a] = v
    kw: dict[str, Any] = {"scales": full} if scales is not None else {"sizes": full}
    return cx.op("nn.resize", [x], mode=mode, coordinate_transformation_mode=ctm,
                 nearest_mode=cx.attr("nearest_mode", "round_prefer_floor"), **kw)
