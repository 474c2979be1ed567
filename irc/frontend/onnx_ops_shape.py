"""ONNX converters: shape and data movement, casts, constants, and the shape
arithmetic ops that only ever fold (see :mod:`irc.frontend.onnx_import`).

irc's shape ops take as attributes what newer opsets pass as tensor inputs
(Reshape's shape, Slice's starts/ends/axes/steps, Squeeze/Unsqueeze axes, Pad's
pads, Expand's shape, Split's sizes); :meth:`NodeContext.const` reads them and
names the input when it is not constant."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..ir import Value
from ..ops.nn_shape import reshape_target
from .onnx_import import NodeContext, converter, onnx_dtype


# --- aliases -----------------------------------------------------------------------------------

@converter("Identity")
def _identity(cx: NodeContext) -> Value:
    return cx.input(0)


@converter("Dropout")
def _dropout(cx: NodeContext) -> Any:
    if cx.opset >= 12 and cx.has_input(2):
        training = cx.const(2, "training_mode")
        if training is not None and bool(np.asarray(training).reshape(-1)[0]):
            raise cx.error("training_mode is true; irc imports inference-mode models")
    x = cx.input(0)
    mask = None
    if cx.output_used(1):          # inference keeps every element: an all-true mask
        mask = cx.const_value(np.ones(x.type.shape, np.bool_), hint=cx.out_name(1))
    return [x, mask]               # inference: identity


# --- constants ---------------------------------------------------------------------------------

@converter("Constant")
def _constant(cx: NodeContext) -> Value:
    for name in ("sparse_value", "value_string", "value_strings"):
        if cx.has_attr(name):
            raise cx.bad_attr(name, "...", "irc constants are dense numeric tensors")
    if cx.has_attr("value"):
        arr = np.asarray(cx.attr("value"))
        onnx_dtype(cx.node.attribute[0].t.data_type, f"node {cx.label}")
    elif cx.has_attr("value_float"):
        arr = np.asarray(cx.attr("value_float"), np.float32)
    elif cx.has_attr("value_floats"):
        arr = np.asarray(cx.attr("value_floats"), np.float32)
    elif cx.has_attr("value_int"):
        arr = np.asarray(cx.attr("value_int"), np.int64)
    elif cx.has_attr("value_ints"):
        arr = np.asarray(cx.attr("value_ints"), np.int64)
    else:
        raise cx.error("has no value attribute")
    return cx.const_value(arr, hint=cx.out_name(0))


@converter("Shape")
def _shape(cx: NodeContext) -> Value:
    shape = list(cx.input(0).type.shape)
    r = len(shape)
    start, end = cx.attr("start", 0), cx.attr("end", r)
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    return cx.const_value(np.asarray(shape[start:end], np.int64), hint=cx.out_name(0))


@converter("Size")
def _size(cx: NodeContext) -> Value:
    return cx.const_value(np.asarray(math.prod(cx.input(0).type.shape), np.int64),
                          hint=cx.out_name(0))


@converter("ConstantOfShape")
def _constant_of_shape(cx: NodeContext) -> Value:
    shape = cx.ints(0, "shape") or []
    value = cx.attr("value")
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    if fill.size != 1:
        raise cx.bad_attr("value", fill.tolist(), "must hold one element")
    if value is not None:
        onnx_dtype(next(a for a in cx.node.attribute if a.name == "value").t.data_type,
                   f"node {cx.label}")
    return cx.const_value(np.full(shape, fill[0], dtype=fill.dtype), hint=cx.out_name(0))


def _fold_only(op_type: str, fn: Callable[..., np.ndarray]) -> None:
    """Register ``op_type`` as an op irc evaluates only on constant operands
    (shape arithmetic exported from PyTorch and TensorFlow)."""
    @converter(op_type)
    def _fold(cx: NodeContext) -> Value:
        args = []
        for i in range(cx.num_inputs):
            v = cx.input(i)
            if not v.is_const:
                raise cx.error(f"irc evaluates {op_type} only on constants (shape "
                               f"arithmetic), but operand {i} ('{cx.node.input[i]}') is "
                               "computed at run time")
            args.append(v.const_value)
        return cx.const_value(np.asarray(fn(cx, *args)), hint=cx.out_name(0))


_fold_only("Range", lambda cx, s, l, d: np.arange(s.item(), l.item(), d.item()).astype(s.dtype))
_fold_only("Floor", lambda cx, a: np.floor(a))
_fold_only("Ceil", lambda cx, a: np.ceil(a))


# --- casts ------------------------------------------------------------------------------------

@converter("Cast")
def _cast(cx: NodeContext) -> Value:
    x = cx.input(0)
    to = cx.attr("to")
    try:
        dt = onnx_dtype(to, f"node {cx.label}")
    except Exception:
        import onnx
        raise cx.bad_attr("to", onnx.TensorProto.DataType.Name(to) if to else to,
                          "irc has no such element type") from None
    if dt == x.type.dtype:
        return x
    return cx.op("nn.cast", [x], to=dt)


# --- reshaping --------------------------------------------------------------------------------

@converter("Reshape")
def _reshape(cx: NodeContext) -> Value:
    x = cx.input(0)
    if cx.opset < 5:
        shape = list(cx.attr("shape", []))
    else:
        shape = cx.ints(1, "shape") or []
    if cx.attr("allowzero", 0) and 0 in shape:
        # a 0 is a literal 0-length dim (ONNX forbids -1 alongside it): the result
        # is empty whatever x holds, so it is a constant (nn.reshape's 0 copies a dim)
        if -1 in shape or math.prod(x.type.shape) != 0:
            raise cx.error(f"allowzero=1: cannot reshape {list(x.type.shape)} to {shape}")
        return cx.const_value(np.zeros(shape, x.type.dtype.storage), hint=cx.out_name(0))
    try:
        target = reshape_target(x.type.shape, shape)
    except ValueError as e:
        raise cx.error(str(e)) from None
    return cx.op("nn.reshape", [x], shape=list(target))


@converter("Flatten")
def _flatten(cx: NodeContext) -> Value:
    return cx.op("nn.flatten", [cx.input(0)], axis=cx.attr("axis", 1))


@converter("Transpose")
def _transpose(cx: NodeContext) -> Value:
    return cx.op("nn.transpose", [cx.input(0)], perm=list(cx.attr("perm", [])))


def _axes(cx: NodeContext, input_from: int, index: int = 1) -> list[int] | None:
    """Axes from the attribute (opset < input_from) or the constant input."""
    if cx.opset < input_from:
        a = cx.attr("axes")
        return None if a is None else list(a)
    return cx.ints(index, "axes")


@converter("Squeeze")
def _squeeze(cx: NodeContext) -> Value:
    return cx.op("nn.squeeze", [cx.input(0)], axes=_axes(cx, 13) or [])


@converter("Unsqueeze")
def _unsqueeze(cx: NodeContext) -> Value:
    axes = _axes(cx, 13)
    if not axes:
        raise cx.error("axes must be given and non-empty")
    return cx.op("nn.unsqueeze", [cx.input(0)], axes=axes)


@converter("Expand")
def _expand(cx: NodeContext) -> Value:
    shape = cx.ints(1, "shape")
    if shape is None:
        raise cx.error("input 1 (shape) is missing")
    return cx.op("nn.expand", [cx.input(0)], shape=shape)


@converter("Concat")
def _concat(cx: NodeContext) -> Value:
    if not cx.has_attr("axis"):
        raise cx.error("attribute axis is required")
    return cx.op("nn.concat", cx.inputs(), axis=cx.attr("axis"))


@converter("Split")
def _split(cx: NodeContext) -> Any:
    x = cx.input(0)
    axis = cx.attr("axis", 0)
    r = x.type.rank
    if not -r <= axis < r:
        raise cx.bad_attr("axis", axis, f"out of range for rank {r}")
    n = x.type.shape[axis + r if axis < 0 else axis]
    sizes = list(cx.attr("split", [])) if cx.opset < 13 else (cx.ints(1, "split") or [])
    if not sizes:
        k = cx.attr("num_outputs", len(cx.node.output))
        if k <= 0:
            raise cx.bad_attr("num_outputs", k)
        chunk = -(-n // k)                         # ONNX: ceil, the last piece smaller
        sizes = [min(chunk, max(n - i * chunk, 0)) for i in range(k)]
    if len(sizes) != len(cx.node.output):
        raise cx.error(f"{len(sizes)} split sizes for {len(cx.node.output)} outputs")
    res = cx.op("nn.split", [x], axis=axis, sizes=sizes)
    return list(res) if isinstance(res, tuple) else [res]


@converter("Slice")
def _slice(cx: NodeContext) -> Value:
    x = cx.input(0)
    if cx.opset < 10:
        starts, ends = list(cx.attr("starts", [])), list(cx.attr("ends", []))
        axes, steps = list(cx.attr("axes", [])), []
    else:
        starts, ends = cx.ints(1, "starts") or [], cx.ints(2, "ends") or []
        axes, steps = cx.ints(3, "axes") or [], cx.ints(4, "steps") or []
    r = x.type.rank
    ax = axes or list(range(len(starts)))
    if len(ax) != len(starts) or len(ends) != len(starts):
        raise cx.error(f"starts, ends and axes need equal lengths, got {len(starts)}, "
                       f"{len(ends)}, {len(ax)}")
    # clamp INT64_MAX-style bounds to +-(n + 1): the same slice, readable attributes
    def clamp(v: int, a: int) -> int:
        n = x.type.shape[a + r if a < 0 else a] if -r <= a < r else 0
        return max(-(n + 1), min(n + 1, v))
    starts = [clamp(s, a) for s, a in zip(starts, ax)]
    ends = [clamp(e, a) for e, a in zip(ends, ax)]
    return cx.op("nn.slice", [x], starts=starts, ends=ends, axes=axes, steps=steps)


@converter("Pad")
def _pad(cx: NodeContext) -> Value:
    x = cx.input(0)
    mode = cx.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise cx.bad_attr("mode", mode, "irc pads with constant, reflect or edge")
    r = x.type.rank
    if cx.opset < 11:
        pads = list(cx.attr("pads", []))
        value = float(cx.attr("value", 0.0))
    else:
        pads = cx.ints(1, "pads") or []
        v = cx.scalar(2, "constant_value")
        value = 0.0 if v is None else float(v)
        axes = cx.ints(3, "axes")
        if axes is not None:
            if len(pads) != 2 * len(axes):
                raise cx.error(f"pads has {len(pads)} entries for {len(axes)} axes")
            full = [0] * (2 * r)
            for k, a in enumerate(axes):
                a = a + r if a < 0 else a
                full[a], full[a + r] = pads[k], pads[k + len(axes)]
            pads = full
    return cx.op("nn.pad", [x], pads=pads, mode=mode, value=value)


@converter("Gather")
def _gather(cx: NodeContext) -> Value:
    return cx.op("nn.gather", [cx.input(0), cx.input(1)], axis=cx.attr("axis", 0))
