"""Reductions over a set of axes (ONNX ReduceMean / ReduceSum / ReduceMax with
constant axes and noop_with_empty_axes = 0): ``axes = ()`` reduces every axis;
``keepdims`` keeps reduced axes with size 1."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..types import TensorType
from ._grad import grad_like
from ._registry import Attr, Bool, Ints, OpDef, Operand, float_like, register_op
from .nn_shape import normalize_axes

Array = np.ndarray


class _Reduce(OpDef):
    operands = (Operand("x"),)
    attrs = (Attr("axes", Ints(), (), "axes to reduce (negative count from the end); "
                                         "empty = all"),
             Attr("keepdims", Bool(), True, "keep reduced axes with size 1"))
    float_only = False
    needs_elements = False  # max and mean of an empty set are undefined
    fn: Callable[..., Array]

    @staticmethod
    def _axes(rank: int, attrs: dict[str, Any]) -> tuple[int, ...]:
        return tuple(normalize_axes(attrs["axes"], rank)) if attrs["axes"] else tuple(range(rank))

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        if not (x.dtype.is_float or (x.dtype.is_int and not self.float_only)):
            kind = "a float" if self.float_only else "a float or integer"
            raise ValueError(f"{self.name} operand must be {kind} tensor, got {x.dtype}")
        axes = self._axes(x.rank, attrs)
        if self.needs_elements and any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"cannot reduce an empty axis of {list(x.shape)}")
        if attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return float_like(x, shape)

    def compute(self, inputs: list[Array], attrs: dict[str, Any]) -> Array:
        x = inputs[0]
        axes = self._axes(x.ndim, attrs)
        return np.asarray(type(self).fn(x, axes, attrs["keepdims"])).astype(x.dtype, copy=False)


#: ``local(x, y, ȳ, axes) -> x̄`` with y and ȳ kept broadcastable against x (the
#: reduced ``axes`` of size 1).
Local = Callable[[Array, Array, Array, tuple[int, ...]], Array]


def _reduce_vjp(local: Local) -> Callable[..., list[Array | None]]:
    """The VJP of a reduction: y and ȳ get their reduced axes back (size 1) when
    ``keepdims`` dropped them, then ``local`` spreads ȳ over the reduced elements."""
    def vjp(inputs: list[Array], attrs: dict[str, Any], outputs: list[Array],
            grad_outputs: list[Array]) -> list[Array | None]:
        x = inputs[0]
        if x.dtype.kind != "f":
            return [None]
        axes = _Reduce._axes(x.ndim, attrs)
        keep = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        y, g = np.reshape(outputs[0], keep), np.reshape(grad_outputs[0], keep)
        return [grad_like(np.broadcast_to(local(x, y, g, axes), x.shape), x)]
    return vjp


def _max_local(x: Array, y: Array, g: Array, axes: tuple[int, ...]) -> Array:
    """x̄ = ȳ · [x = y] / #{x = y}: the maximal elements share ȳ equally (the
    subgradient average; NaN maxima pass nothing)."""
    hit = x == y
    return g * hit / np.maximum(hit.sum(axis=axes, keepdims=True), 1)


def _reduce(op_name: str, fn: Callable[[Array, tuple[int, ...], bool], Array], doc: str,
            float_only: bool = False, needs_elements: bool = False,
            local: Local | None = None) -> type[OpDef]:
    cls = type(op_name.split(".")[1].title().replace("_", ""), (_Reduce,), {
        "name": op_name, "__doc__": doc, "fn": staticmethod(fn), "float_only": float_only,
        "needs_elements": needs_elements,
        "vjp": None if local is None else staticmethod(_reduce_vjp(local)),
        "__module__": __name__,
    })
    return register_op(cls)


def _wide(x: Array) -> np.dtype:
    return np.result_type(x.dtype, np.float32) if x.dtype.kind == "f" else x.dtype


_reduce("nn.reduce_sum", lambda x, axes, keep: x.sum(axis=axes, keepdims=keep, dtype=_wide(x)),
        "sum of x over axes (float16 accumulates in float32; integers wrap in their own "
        "type)",
        local=lambda x, y, g, axes: g)                        # x̄ = ȳ, broadcast
_reduce("nn.reduce_mean",
        lambda x, axes, keep: x.mean(axis=axes, keepdims=keep, dtype=_wide(x)),
        "arithmetic mean of x over axes (float operands; accumulates in float32 at least)",
        float_only=True, needs_elements=True,
        local=lambda x, y, g, axes: g / math.prod(x.shape[a] for a in axes))  # x̄ = ȳ / count
_reduce("nn.reduce_max", lambda x, axes, keep: x.max(axis=axes, keepdims=keep),
        "maximum of x over axes (NaN propagates)", needs_elements=True, local=_max_local)
