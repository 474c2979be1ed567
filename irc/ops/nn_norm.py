"""Normalizations along axes: batch_norm (inference), layer_norm, softmax,
log_softmax.

Float operands only; the result has x's dtype.  Statistics (layer_norm) and
softmax sums are computed in float32 at least, like ONNX's ``stash_type = 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import TensorType
from ._registry import (Attr, Float, Int, OpDef, Operand, float_like, normalize_axis,
                        register_op, require_float, require_same_dtype)
from .nn_elementwise import broadcasts_to

Array = np.ndarray
EPSILON = Attr("epsilon", Float(min=0), 1e-5, "added to the variance before the square root")


def _wide(x: Array) -> Array:
    return x.astype(np.result_type(x.dtype, np.float32), copy=False)


@register_op
class BatchNorm(OpDef):
    """Inference-mode batch normalization over channel axis 1 (ONNX
    BatchNormalization with training_mode = 0); scale, bias, mean, var: [C]::

        y = scale * (x - mean) / sqrt(var + epsilon) + bias

    x has rank >= 2 ([N, C, ...]); parameters broadcast along axis 1.
    (passes/fuse_bn.py folds it into a preceding conv/gemm with the same formula.)
    """

    name = "nn.batch_norm"
    operands = (Operand("x"), Operand("scale"), Operand("bias"), Operand("mean"),
                Operand("var"))
    attrs = (EPSILON,)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        require_float(x, "nn.batch_norm operand x")
        require_same_dtype(types)
        if x.rank < 2:
            raise ValueError(f"x must have rank >= 2 ([N, C, ...]), got rank {x.rank}")
        c = x.shape[1]
        for t, what in zip(types[1:], ("scale", "bias", "mean", "var")):
            if t.shape != (c,):
                raise ValueError(f"{what} must have shape [{c}] (x's channels), got "
                                 f"{list(t.shape)}")
        return float_like(x)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, scale, bias, mean, var = (_wide(a) for a in inputs)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        k = (scale / np.sqrt(var + attrs["epsilon"])).reshape(shape)
        y = (x - mean.reshape(shape)) * k + bias.reshape(shape)
        return y.astype(inputs[0].dtype, copy=False)


@register_op
class LayerNorm(OpDef):
    """Layer normalization over axes axis..rank-1 (ONNX LayerNormalization)::

        mu  = mean(x, axes),  var = mean((x - mu)^2, axes)
        y   = (x - mu) / sqrt(var + epsilon) * scale + bias

    scale and bias must broadcast (numpy rules) to x.shape[axis:].  Only y is
    produced (ONNX's optional Mean / InvStdDev outputs are not).
    """

    name = "nn.layer_norm"
    operands = (Operand("x"), Operand("scale"), Operand("bias", optional=True))
    attrs = (Attr("axis", Int(), -1, "first normalized axis (negative counts from the end)"),
             EPSILON)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        require_float(x, "nn.layer_norm operand x")
        require_same_dtype(types)
        if x.rank < 1:
            raise ValueError("x must have rank >= 1")
        axis = normalize_axis(attrs["axis"], x.rank)
        norm_shape = x.shape[axis:]
        for t, what in zip(types[1:], ("scale", "bias")):
            if not broadcasts_to(t.shape, norm_shape):
                raise ValueError(f"{what} of shape {list(t.shape)} does not broadcast to the "
                                 f"normalized shape {list(norm_shape)} (axis={attrs['axis']})")
        return float_like(x)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = _wide(inputs[0])
        axes = tuple(range(normalize_axis(attrs["axis"], x.ndim), x.ndim))
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        var = (d * d).mean(axis=axes, keepdims=True)
        y = d / np.sqrt(var + attrs["epsilon"]) * _wide(inputs[1])
        if len(inputs) == 3:
            y = y + _wide(inputs[2])
        return y.astype(inputs[0].dtype, copy=False)


class _AxisSoftmax(OpDef):
    operands = (Operand("x"),)
    attrs = (Attr("axis", Int(), -1, "the axis the distribution is over"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        require_float(x, f"{self.name} operand")
        if x.rank < 1:
            raise ValueError(f"{self.name} needs rank >= 1")
        normalize_axis(attrs["axis"], x.rank)
        return float_like(x)

    @staticmethod
    def _shifted(x: Array, attrs: dict[str, Any]) -> tuple[Array, Array, int]:
        """(z, exp(z), axis) with z = x - max(x) along the axis (in float32 at least)."""
        axis = normalize_axis(attrs["axis"], x.ndim)
        z = _wide(x)
        if z.size:
            z = z - z.max(axis=axis, keepdims=True)
        return z, np.exp(z), axis


@register_op
class Softmax(_AxisSoftmax):
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``axis`` (ONNX opset 13),
    evaluated as exp(x_i - max x) / sum_j exp(x_j - max x) so large inputs do not
    overflow."""

    name = "nn.softmax"

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        _, e, axis = self._shifted(inputs[0], attrs)
        return (e / e.sum(axis=axis, keepdims=True)).astype(inputs[0].dtype, copy=False)


@register_op
class LogSoftmax(_AxisSoftmax):
    """log_softmax(x)_i = x_i - log sum_j exp(x_j) along ``axis``, evaluated as
    (x_i - m) - log sum_j exp(x_j - m) with m = max x: no overflow, and no
    log(0) for entries whose softmax underflows."""

    name = "nn.log_softmax"

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        z, e, axis = self._shifted(inputs[0], attrs)
        return (z - np.log(e.sum(axis=axis, keepdims=True))).astype(inputs[0].dtype, copy=False)
