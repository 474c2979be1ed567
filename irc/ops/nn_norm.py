"""Normalizations along axes: batch_norm (inference and training), layer_norm,
softmax, log_softmax, each with its VJP.

Float operands only; the result has x's dtype.  Statistics (layer_norm) and
softmax sums are computed in float32 at least, like ONNX's ``stash_type = 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import TensorType
from ._grad import grad_like
from ._registry import (Attr, Bool, Float, Int, OpDef, Operand, float_like, normalize_axis,
                        register_op, require_float, require_same_dtype)
from .nn_elementwise import broadcasts_to

Array = np.ndarray
EPSILON = Attr("epsilon", Float(min=0), 1e-5, "added to the variance before the square root")


def _wide(x: Array) -> Array:
    return x.astype(np.result_type(x.dtype, np.float32), copy=False)


def _normalized(x: Array, axes: tuple[int, ...], epsilon: float) -> tuple[Array, Array]:
    """(x̂, r): x̂ = (x − μ)·r with μ = mean(x), σ² = mean((x − μ)²) over ``axes``
    (the biased variance) and r = 1/√(σ² + ε), kept broadcastable."""
    mu = x.mean(axis=axes, keepdims=True)
    d = x - mu
    r = 1 / np.sqrt((d * d).mean(axis=axes, keepdims=True) + epsilon)
    return d * r, r


def _normalized_vjp(gxhat: Array, xhat: Array, r: Array, axes: tuple[int, ...]) -> Array:
    """x̄ from x̂̄ = ∂L/∂x̂ through x̂ = (x − μ)·r, with μ and σ² statistics of x over
    ``axes`` (m elements each)::

        x̄ = r · (x̂̄ − mean(x̂̄) − x̂ · mean(x̂̄ · x̂))

    (∂μ/∂x_i = 1/m gives the − mean(x̂̄) term; ∂r/∂x_i = −r³·(x_i − μ)/m, i.e.
    −r²·x̂_i/m, gives the − x̂ · mean(x̂̄ · x̂) term.)"""
    return r * (gxhat - gxhat.mean(axis=axes, keepdims=True)
                - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True))


@register_op
class BatchNorm(OpDef):
    """Batch normalization over channel axis 1 (ONNX BatchNormalization);
    scale, bias, mean, var: [C]::

        y = scale * (x - mean) / sqrt(var + epsilon) + bias

    x has rank >= 2 ([N, C, ...]); parameters broadcast along axis 1.  With
    ``training`` (ONNX training_mode = 1) mean and var are the batch's own,
    over every axis but 1 (var biased: divided by the count), and the ``mean`` /
    ``var`` operands (running statistics, updated by the trainer) are not read.
    (passes/fuse_bn.py folds the inference form into a preceding conv/gemm with
    the same formula.)
    """

    name = "nn.batch_norm"
    operands = (Operand("x"), Operand("scale"), Operand("bias"),
                Operand("mean", differentiable=False), Operand("var", differentiable=False))
    attrs = (EPSILON,
             Attr("training", Bool(), False,
                  "normalize with the batch's statistics instead of mean and var"))

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

    @staticmethod
    def _stat_axes(x: Array) -> tuple[int, ...]:
        return (0,) + tuple(range(2, x.ndim))

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x, scale, bias, mean, var = (_wide(a) for a in inputs)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if attrs["training"]:
            xhat, _ = _normalized(x, self._stat_axes(x), attrs["epsilon"])
            y = xhat * scale.reshape(shape) + bias.reshape(shape)
        else:
            k = (scale / np.sqrt(var + attrs["epsilon"])).reshape(shape)
            y = (x - mean.reshape(shape)) * k + bias.reshape(shape)
        return y.astype(inputs[0].dtype, copy=False)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """With x̂ the normalized x, y = scale·x̂ + bias, and sums Σ over N and the
        spatial axes::

            scalē = Σ ȳ·x̂,   biaš = Σ ȳ
            inference: x̂ = (x − mean)·r, r = 1/√(var + ε) constant:  x̄ = ȳ·scale·r
            training:  batch statistics, so x̄ = ``_normalized_vjp``(ȳ·scale)

        mean and var get None: running statistics are not trained by gradient."""
        x, scale, bias, mean, var = inputs
        g = _wide(np.asarray(grad_outputs[0]))
        xw = _wide(x)
        axes = BatchNorm._stat_axes(xw)
        shape = (1, -1) + (1,) * (xw.ndim - 2)
        s = _wide(scale).reshape(shape)
        if attrs["training"]:
            xhat, r = _normalized(xw, axes, attrs["epsilon"])
            gx = _normalized_vjp(g * s, xhat, r, axes)
        else:
            r = (1 / np.sqrt(_wide(var) + attrs["epsilon"])).reshape(shape)
            xhat = (xw - _wide(mean).reshape(shape)) * r
            gx = g * s * r
        return [grad_like(gx, x), grad_like((g * xhat).sum(axis=axes), scale),
                grad_like(g.sum(axis=axes), bias), None, None]


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

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """y = x̂·scale + bias with x̂ normalized over axis..rank−1::

            scalē = Σ_broadcast ȳ·x̂,   biaš = Σ_broadcast ȳ,
            x̄ = r · (x̂̄ − mean(x̂̄) − x̂·mean(x̂̄·x̂)),  x̂̄ = ȳ·scale  (``_normalized_vjp``)"""
        x, scale = inputs[0], inputs[1]
        xw, g = _wide(x), _wide(np.asarray(grad_outputs[0]))
        axes = tuple(range(normalize_axis(attrs["axis"], xw.ndim), xw.ndim))
        xhat, r = _normalized(xw, axes, attrs["epsilon"])
        grads = [grad_like(_normalized_vjp(g * _wide(scale), xhat, r, axes), x),
                 grad_like(g * xhat, scale)]
        if len(inputs) == 3:
            grads.append(grad_like(g, inputs[2]))
        return grads


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

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """∂y_i/∂x_j = y_i(δ_ij − y_j), so x̄ = y ⊙ (ȳ − Σ_axis ȳ·y)."""
        x = inputs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        y, g = _wide(outputs[0]), _wide(np.asarray(grad_outputs[0]))
        return [grad_like(y * (g - (g * y).sum(axis=axis, keepdims=True)), x)]


@register_op
class LogSoftmax(_AxisSoftmax):
    """log_softmax(x)_i = x_i - log sum_j exp(x_j) along ``axis``, evaluated as
    (x_i - m) - log sum_j exp(x_j - m) with m = max x: no overflow, and no
    log(0) for entries whose softmax underflows."""

    name = "nn.log_softmax"

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        z, e, axis = self._shifted(inputs[0], attrs)
        return (z - np.log(e.sum(axis=axis, keepdims=True))).astype(inputs[0].dtype, copy=False)

    @staticmethod
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        """∂y_i/∂x_j = δ_ij − softmax_j, so x̄ = ȳ − softmax(x)·Σ_axis ȳ, with
        softmax(x) = e^y."""
        x = inputs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        y, g = _wide(outputs[0]), _wide(np.asarray(grad_outputs[0]))
        return [grad_like(g - np.exp(y) * g.sum(axis=axis, keepdims=True), x)]
