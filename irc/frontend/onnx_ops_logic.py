"""ONNX converters: comparisons, logic, Where, IsNaN/IsInf, GatherElements and
LRN, onto :mod:`irc.ops.nn_logic` (see :mod:`irc.frontend.onnx_import`).

They work on run-time tensors (attention masks in exported transformers:
``GreaterOrEqual``/``And``/``Where``/``IsNaN``) and still fold when every
operand is constant (shape arithmetic such as ``Where(Equal(shape, 4), ...)``),
since :meth:`NodeContext.op` evaluates an op whose operands are all constants."""

from __future__ import annotations

from ..ir import Value
from .onnx_import import NodeContext, converter

_COMPARE = {
    "Equal": "nn.equal", "Less": "nn.less", "LessOrEqual": "nn.less_equal",
    "Greater": "nn.greater", "GreaterOrEqual": "nn.greater_equal",
}

_LOGIC = {"And": "nn.and", "Or": "nn.or", "Xor": "nn.xor"}


def _no_legacy_broadcast(cx: NodeContext) -> None:
    """Opsets < 7 spelt broadcasting with ``broadcast``/``axis`` attributes."""
    if cx.attr("broadcast", 0) and cx.has_attr("axis"):
        raise cx.bad_attr("axis", cx.attr("axis"), "legacy (opset < 7) axis-aligned "
                          "broadcasting; irc broadcasts the numpy way")


@converter(*_COMPARE)
def _compare(cx: NodeContext) -> Value:
    _no_legacy_broadcast(cx)
    return cx.op(_COMPARE[cx.op_type], [cx.input(0), cx.input(1)])


@converter(*_LOGIC)
def _logic(cx: NodeContext) -> Value:
    _no_legacy_broadcast(cx)
    return cx.op(_LOGIC[cx.op_type], [cx.input(0), cx.input(1)])


@converter("Not")
def _not(cx: NodeContext) -> Value:
    return cx.op("nn.not", [cx.input(0)])


@converter("Where")
def _where(cx: NodeContext) -> Value:
    return cx.op("nn.where", [cx.input(0), cx.input(1), cx.input(2)])


@converter("IsNaN")
def _is_nan(cx: NodeContext) -> Value:
    return cx.op("nn.is_nan", [cx.input(0)])


@converter("IsInf")
def _is_inf(cx: NodeContext) -> Value:
    return cx.op("nn.is_inf", [cx.input(0)],
                 detect_positive=bool(cx.attr("detect_positive", 1)),
                 detect_negative=bool(cx.attr("detect_negative", 1)))


@converter("GatherElements")
def _gather_elements(cx: NodeContext) -> Value:
    return cx.op("nn.gather_elements", [cx.input(0), cx.input(1)], axis=cx.attr("axis", 0))


@converter("LRN")
def _lrn(cx: NodeContext) -> Value:
    size = cx.attr("size")
    if size is None:
        raise cx.error("attribute size is required")
    if size < 1:
        raise cx.bad_attr("size", size, "must be >= 1")
    return cx.op("nn.lrn", [cx.input(0)], size=size, alpha=cx.attr("alpha", 1e-4),
                 beta=cx.attr("beta", 0.75), bias=cx.attr("bias", 1.0))
