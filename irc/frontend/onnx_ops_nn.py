"""ONNX converters: arithmetic, activations, linear algebra, conv, pools,
normalization and reductions (see :mod:`irc.frontend.onnx_import`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dtypes import DType
from ..ir import Value
from .onnx_import import NodeContext, converter, onnx_dtype

_UNARY = {
    "Relu": "nn.relu", "Sigmoid": "nn.sigmoid", "Tanh": "nn.tanh", "Sqrt": "nn.sqrt",
    "Erf": "nn.erf", "Neg": "nn.neg", "Exp": "nn.exp", "Log": "nn.log", "Abs": "nn.abs",
    "HardSwish": "nn.hardswish",
}

_BINARY = {
    "Add": "nn.add", "Sub": "nn.sub", "Mul": "nn.mul", "Div": "nn.div", "Pow": "nn.pow",
}

_VARIADIC = {"Min": "nn.min", "Max": "nn.max", "Sum": "nn.add", "Mean": "nn.add"}

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
    if cx.op_type == "Mean" and len(xs) > 1:
        y = cx.op("nn.div", [y, cx.const_value(np.asarray(len(xs), y.type.dtype.storage))])
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

class _Spatial:
    """The geometry of a conv/pool node as irc's 2-D ops see it.  1-D ops
    ([N, C, L] inputs) run as 2-D ones over [N, C, 1, L]: every per-axis
    attribute gets a leading H entry (stride/dilation/kernel 1, pads 0) and
    the result is squeezed back."""

    def __init__(self, cx: NodeContext, x: Value) -> None:
        self.cx = cx
        r = x.type.rank
        if r not in (3, 4):
            raise cx.error(f"only 1-D and 2-D spatial ops are supported: the input must be "
                           f"[N, C, L] or [N, C, H, W], got shape {list(x.type.shape)}")
        self.one_d = r == 3
        self.x = self.view(x)

    def view(self, v: Value) -> Value:
        return self.cx.op("nn.unsqueeze", [v], axes=[2]) if self.one_d else v

    def result(self, y: Value) -> Value:
        return self.cx.op("nn.squeeze", [y], axes=[2]) if self.one_d else y

    def pair(self, name: str, default: int = 1, lead: int = 1) -> list[int]:
        n = 1 if self.one_d else 2
        v = list(self.cx.attr(name, [default] * n))
        if len(v) != n:
            raise self.cx.bad_attr(name, v, f"{n}-D ops need {n} value(s)")
        return [lead] + v if self.one_d else v

    def pads(self) -> list[int]:
        n = 1 if self.one_d else 2
        pads = list(self.cx.attr("pads", [0] * 2 * n))
        if len(pads) != 2 * n:
            raise self.cx.bad_attr("pads", pads, f"{n}-D ops need {2 * n} pads (begins, ends)")
        return [0, pads[0], 0, pads[1]] if self.one_d else pads


def _auto_pad(cx: NodeContext, allowed: tuple[str, ...] = tuple(_AUTO_PAD)) -> str:
    ap = cx.attr("auto_pad", "NOTSET")
    if ap not in _AUTO_PAD or ap not in allowed:
        raise cx.bad_attr("auto_pad", ap, f"irc supports {', '.join(allowed)}")
    return _AUTO_PAD[ap]


def _check_kernel(cx: NodeContext, w: Value, kernel: list[int] | None) -> None:
    if kernel is not None and list(w.type.shape[2:]) != list(kernel):
        raise cx.bad_attr("kernel_shape", kernel, f"the weight's kernel is "
                          f"{list(w.type.shape[2:])}")


@converter("Conv")
def _conv(cx: NodeContext) -> Value:
    sp = _Spatial(cx, cx.input(0))
    w = cx.input(1)
    _check_kernel(cx, w, cx.attr("kernel_shape"))
    ins = [sp.x, sp.view(w)] + ([cx.input(2)] if cx.has_input(2) else [])
    return sp.result(cx.op("nn.conv2d", ins, strides=sp.pair("strides"), pads=sp.pads(),
                           dilations=sp.pair("dilations"), groups=cx.attr("group", 1),
                           auto_pad=_auto_pad(cx)))


@converter("ConvTranspose")
def _conv_transpose(cx: NodeContext) -> Value:
    sp = _Spatial(cx, cx.input(0))
    w = sp.view(cx.input(1))
    _check_kernel(cx, cx.input(1), cx.attr("kernel_shape"))
    auto_pad = _auto_pad(cx)
    strides, dil = sp.pair("strides"), sp.pair("dilations")
    opad = sp.pair("output_padding", 0, lead=0)
    pads = [0, 0, 0, 0] if auto_pad == "valid" else sp.pads()
    out_shape = cx.attr("output_shape")
    if out_shape is not None or auto_pad in ("same_upper", "same_lower"):
        # ONNX: pads follow from the output shape (in * stride for SAME_*):
        # total = stride*(in-1) + output_padding + (k-1)*dilation + 1 - out, split
        # evenly, the odd one at the end for SAME_UPPER, at the start otherwise; a
        # negative end pad lengthens the output, which is output_padding in irc
        xs, ks = sp.x.type.shape[2:], w.type.shape[2:]
        if out_shape is None:
            target = [xs[a] * strides[a] for a in range(2)]
        else:
            n = 1 if sp.one_d else 2
            out_shape = list(out_shape)
            if len(out_shape) not in (n, n + 2):
                raise cx.bad_attr("output_shape", out_shape, f"{n}-D ops need {n} dims")
            target = ([1] if sp.one_d else []) + out_shape[-n:]
        pads, opad = [0, 0, 0, 0], list(opad)
        for a in range(2):
            total = (strides[a] * (xs[a] - 1) + opad[a] + (ks[a] - 1) * dil[a] + 1
                     - target[a])
            b = total // 2 if auto_pad == "same_upper" else total - total // 2
            e = total - b
            if e < 0:
                opad[a], e = opad[a] - e, 0
            if b < 0:
                raise cx.bad_attr("output_shape" if out_shape is not None else "auto_pad",
                                  cx.attr("output_shape") or cx.attr("auto_pad"),
                                  "it would pad the start of the output")
            pads[a], pads[a + 2] = b, e
    ins = [sp.x, w] + ([cx.input(2)] if cx.has_input(2) else [])
    return sp.result(cx.op("nn.conv_transpose2d", ins, strides=strides, pads=pads,
                           dilations=dil, groups=cx.attr("group", 1), output_padding=opad))


@converter("MaxPool")
def _max_pool(cx: NodeContext) -> Any:
    sp = _Spatial(cx, cx.input(0))
    y = cx.op("nn.max_pool", [sp.x], kernel=sp.pair("kernel_shape"), strides=sp.pair("strides"),
              pads=sp.pads(), dilations=sp.pair("dilations"),
              ceil_mode=bool(cx.attr("ceil_mode", 0)), auto_pad=_auto_pad(cx))
    return [sp.result(y), None]      # the Indices output is not computed (an error if used)


@converter("AveragePool")
def _avg_pool(cx: NodeContext) -> Value:
    sp = _Spatial(cx, cx.input(0))
    dil = sp.pair("dilations")
    if dil != [1, 1]:
        raise cx.bad_attr("dilations", cx.attr("dilations"), "nn.avg_pool has no dilation")
    return sp.result(cx.op("nn.avg_pool", [sp.x], kernel=sp.pair("kernel_shape"),
                           strides=sp.pair("strides"), pads=sp.pads(),
                           ceil_mode=bool(cx.attr("ceil_mode", 0)),
                           count_include_pad=bool(cx.attr("count_include_pad", 0)),
                           auto_pad=_auto_pad(cx)))


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(cx: NodeContext) -> Value:
    sp = _Spatial(cx, cx.input(0))
    op = "nn.global_avg_pool" if cx.op_type == "GlobalAveragePool" else "nn.global_max_pool"
    return sp.result(cx.op(op, [sp.x]))


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
    axis, eps = cx.attr("axis", -1), cx.attr("epsilon", 1e-5)
    y = cx.op("nn.layer_norm", ins, axis=axis, epsilon=eps)
    if not (cx.output_used(1) or cx.output_used(2)):
        return [y, None, None]
    # the optional Mean / InvStdDev outputs (nn.layer_norm computes only Y), in the
    # stash type: mean(x), 1 / sqrt(mean((x - mean)^2) + epsilon) over axis..rank-1
    x = ins[0]
    r = x.type.rank
    if not -r <= axis < r:
        raise cx.bad_attr("axis", axis, f"out of range for rank {r}")
    axes = list(range(axis + r if axis < 0 else axis, r))
    stash = onnx_dtype(cx.attr("stash_type", 1), f"node {cx.label}: stash_type")
    if not stash.is_float:
        raise cx.bad_attr("stash_type", cx.attr("stash_type"), "must be a float type")
    xs = x if x.type.dtype == stash else cx.op("nn.cast", [x], to=stash)
    mean = cx.op("nn.reduce_mean", [xs], axes=axes, keepdims=True)
    d = cx.op("nn.sub", [xs, mean])
    var = cx.op("nn.reduce_mean", [cx.op("nn.mul", [d, d])], axes=axes, keepdims=True)
    var = cx.op("nn.add", [var, cx.const_value(np.asarray(eps, stash.storage))])
    inv = cx.op("nn.div", [cx.const_value(np.ones((), stash.storage)),
                           cx.op("nn.sqrt", [var])])
    return [y, mean, inv]


# --- reductions ------------------------------------------------------------------------------

_REDUCE = {"ReduceMean": "nn.reduce_mean", "ReduceSum": "nn.reduce_sum",
           "ReduceMax": "nn.reduce_max"}


#: Reductions irc has no op for, as (elementwise before, reduction, elementwise after).
_REDUCE_DECOMPOSED = {
    "ReduceMin": ("nn.neg", "nn.reduce_max", "nn.neg"),
    "ReduceL1": ("nn.abs", "nn.reduce_sum", None),
    "ReduceL2": ("square", "nn.reduce_sum", "nn.sqrt"),
    "ReduceSumSquare": ("square", "nn.reduce_sum", None),
}


@converter(*_REDUCE, *_REDUCE_DECOMPOSED)
def _reduce(cx: NodeContext) -> Value:
    x = cx.input(0)
    axes_as_input = cx.opset >= (13 if cx.op_type == "ReduceSum" else 18)
    axes = cx.ints(1, "axes") if axes_as_input else cx.attr("axes")
    axes = list(axes or [])
    keepdims = bool(cx.attr("keepdims", 1))
    noop = not axes and cx.attr("noop_with_empty_axes", 0)
    if cx.op_type in ("ReduceMax", "ReduceMin") and not noop and 0 in x.type.shape:
        r, dt = x.type.rank, x.type.dtype
        red = {a + r if a < 0 else a for a in axes} if axes else set(range(r))
        if any(x.type.shape[a] == 0 for a in red if 0 <= a < r):
            # ONNX: max / min of an empty set is the identity, -inf / +inf (the
            # type's lowest / highest for integers, False / True for bool)
            hi = cx.op_type == "ReduceMin"
            fill = (math.inf if hi else -math.inf) if dt.is_float else \
                (dt.max if hi else dt.min)
            shape = [1 if a in red else d for a, d in enumerate(x.type.shape)
                     if keepdims or a not in red]
            return cx.const_value(np.full(shape, fill, dt.storage), hint=cx.out_name(0))
    if x.type.dtype.is_bool and cx.op_type in ("ReduceMax", "ReduceMin") and not noop:
        # opset 20 takes bool (any / all): reduce 0.0 / 1.0 floats, exactly
        f = cx.op("nn.cast", [x], to=DType.F32)
        if cx.op_type == "ReduceMax":
            y = cx.op("nn.reduce_max", [f], axes=axes, keepdims=keepdims)
        else:
            y = cx.op("nn.neg", [cx.op("nn.reduce_max", [cx.op("nn.neg", [f])], axes=axes,
                                       keepdims=keepdims)])
        return cx.op("nn.cast", [y], to=DType.B1)
    if cx.op_type in _REDUCE:
        if noop:
            return x
        return cx.op(_REDUCE[cx.op_type], [x], axes=axes, keepdims=keepdims)
    if noop:
        raise cx.bad_attr("noop_with_empty_axes", 1, f"with empty axes for {cx.op_type}")
    pre, reduce_op, post = _REDUCE_DECOMPOSED[cx.op_type]
    y = cx.op("nn.mul", [x, x]) if pre == "square" else cx.op(pre, [x])
    y = cx.op(reduce_op, [y], axes=axes, keepdims=keepdims)
    return cx.op(post, [y]) if post else y


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
