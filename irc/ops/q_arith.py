"""Integer elementwise ops, lookup tables and average pooling (``q.*``).

The integer forms ``quant`` lowers the rest of a CNN to, each with TFLite's
int8 arithmetic (operands quantized per tensor; ``M``s applied with
:func:`irc.fixedpoint.multiply_by_quantized_multiplier`, the normative rule):

* ``q.add``  ``y = clamp(MBQM(MBQM(a', m_a) + MBQM(b', m_b), m_y) + z_y)`` with
  ``a' = (a − z_a)·2^L`` (TFLite's ``left_shift = 20`` headroom) and
  ``M_a = s_a / 2s``, ``M_b = s_b / 2s``, ``M_y = 2s / (2^L · s_y)``, ``s = max(s_a, s_b)``;
* ``q.mul``  ``acc = (a − z_a)(b − z_b)``, an i32 accumulator with scale
  ``f32(s_a · s_b)`` that a ``q.requantize`` narrows (as after ``q.matmul``);
* ``q.lut``  ``y = table[x − min(dtype_x)]``: any unary function of an 8-bit-or-
  narrower tensor (hardswish, sigmoid, gelu, ...), tabulated at compile time;
* ``q.avg_pool`` the mean of ``x − z`` over each window, rounded half away from
  zero, plus ``z`` (result parameters = operand parameters, as in TFLite).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import fixedpoint
from ..dtypes import DType, wrap_int
from ..types import PerTensor, TensorType
from ._registry import (Attr, Bool, DTypeAttr, Float, Int, Ints, OpDef, Operand, broadcast_shapes,
                        register_op)
from .nn_pool import _counts, _Pool, KERNEL
from ._window import AUTO_PAD, CEIL_MODE, PADS, STRIDES, padded, taps
from .q_core import CLAMP, _quant_of, check_multipliers, clamp_bounds, make_quant

Array = np.ndarray


def _per_tensor(t: TensorType, what: str) -> PerTensor:
    q = _quant_of(t, what)
    if not isinstance(q, PerTensor):
        raise ValueError(f"{what} must be quantized per tensor, got {t}")
    return q


def _result(attrs: dict[str, Any], shape: tuple[int, ...]) -> TensorType:
    """``dtype<scale, zero_point>`` from the result attributes, checked."""
    if not attrs["scale"] > 0:
        raise ValueError(f"scale must be > 0, got {attrs['scale']}")
    clamp_bounds(attrs, attrs["dtype"])
    return TensorType(attrs["dtype"], shape,
                      make_quant([attrs["scale"]], [attrs["zero_point"]], 0, shape,
                                 attrs["dtype"]))


RESULT_ATTRS = (Attr("dtype", DTypeAttr(), doc="integer result type"),
                Attr("scale", Float(min=0.0), doc="result scale"),
                Attr("zero_point", Int(), 0, "result zero point"))


def add_multipliers(s_a: float, s_b: float, s_y: float, left_shift: int) -> list[float]:
    """The three real multipliers of ``q.add``: ``[M_a, M_b, M_y]``."""
    twice = 2.0 * max(s_a, s_b)
    return [s_a / twice, s_b / twice, twice / ((1 << left_shift) * s_y)]


@register_op
class QAdd(OpDef):
    """a + b of two per-tensor quantized tensors (numpy broadcasting), rescaled
    to ``dtype<scale, zero_point>`` the TFLite way (module docstring):
    ``multipliers``/``shifts`` encode ``[M_a, M_b, M_y]``."""

    name = "q.add"
    operands = (Operand("a"), Operand("b"))
    attrs = RESULT_ATTRS + (
        Attr("left_shift", Int(min=0, max=24), 20, "headroom bits L given to the operands"),
        Attr("multipliers", Ints(3), doc="Q0.31 significands of M_a, M_b, M_y"),
        Attr("shifts", Ints(3), doc="exponents of M_a, M_b, M_y"),
        CLAMP)
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        qa, qb = _per_tensor(types[0], "a"), _per_tensor(types[1], "b")
        res = _result(attrs, broadcast_shapes(types[0].shape, types[1].shape))
        check_multipliers(attrs, add_multipliers(qa.scale, qb.scale, attrs["scale"],
                                                 attrs["left_shift"]))
        return res

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        (m_a, m_b, m_y), (sh_a, sh_b, sh_y) = attrs["multipliers"], attrs["shifts"]
        shift = attrs["left_shift"]
        qa, qb = _per_tensor(types[0], "a"), _per_tensor(types[1], "b")
        a = (inputs[0].astype(np.int64) - qa.zero_point) << shift
        b = (inputs[1].astype(np.int64) - qb.zero_point) << shift
        total = (fixedpoint.multiply_by_quantized_multiplier(a, m_a, sh_a)
                 + fixedpoint.multiply_by_quantized_multiplier(b, m_b, sh_b))
        lo, hi = clamp_bounds(attrs, attrs["dtype"])
        y = fixedpoint.requantize_fixed_point(wrap_int(total, DType.I32).astype(np.int64),
                                              m_y, sh_y, attrs["zero_point"], lo, hi)
        return y.astype(attrs["dtype"].storage)


@register_op
class QMul(OpDef):
    """acc = (a − z_a)(b − z_b) (numpy broadcasting), exact and wrapped to i32,
    with scale ``f32(s_a · s_b)`` and zero point 0; a ``q.requantize`` narrows it."""

    name = "q.mul"
    operands = (Operand("a"), Operand("b"))
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        qa, qb = _per_tensor(types[0], "a"), _per_tensor(types[1], "b")
        scale = float(np.float32(qa.scale) * np.float32(qb.scale))
        return TensorType(DType.I32, broadcast_shapes(types[0].shape, types[1].shape),
                          PerTensor(scale, 0))

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        qa, qb = _per_tensor(types[0], "a"), _per_tensor(types[1], "b")
        acc = (inputs[0].astype(np.int64) - qa.zero_point) * (inputs[1].astype(np.int64)
                                                              - qb.zero_point)
        return wrap_int(acc, DType.I32)


@register_op
class QLut(OpDef):
    """y = table[x − min(dtype_x)]: a unary function of an integer tensor of at
    most 8 bits, tabulated over every stored value of x (``2^bits`` entries, in
    order from the dtype's minimum), giving ``dtype<scale, zero_point>``."""

    name = "q.lut"
    operands = (Operand("x"),)
    attrs = RESULT_ATTRS + (Attr("table", Ints(), doc="result for each stored value of x"),)

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        x = types[0]
        if not x.dtype.is_int or x.dtype.bits > 8:
            raise ValueError(f"q.lut takes an integer tensor of at most 8 bits, got {x}")
        n = 1 << x.dtype.bits
        table, dt = attrs["table"], attrs["dtype"]
        if len(table) != n:
            raise ValueError(f"table needs {n} entries (one per stored value of {x.dtype}), "
                             f"got {len(table)}")
        if min(table) < dt.min or max(table) > dt.max:
            raise ValueError(f"table values must fit {dt} ({dt.min}..{dt.max})")
        return _result(attrs, x.shape)

    typed_compute = True

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        table = np.asarray(attrs["table"], np.int64).astype(attrs["dtype"].storage)
        return table[inputs[0].astype(np.int64) - int(types[0].dtype.min)]


@register_op
class QAvgPool(_Pool):
    """y = z + round_half_away(Σ_window (x − z) / count), the geometry and
    ``count`` of ``nn.avg_pool`` (padding counts as real 0); the result keeps
    x's per-tensor parameters (TFLite's int8 average pool)."""

    name = "q.avg_pool"
    attrs = (KERNEL, STRIDES, PADS, CEIL_MODE,
             Attr("count_include_pad", Bool(), False, "count padding in the divisor"),
             AUTO_PAD)
    allow_int = True
    typed_compute = True

    def infer(self, types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
        _per_tensor(types[0], "x")
        return super().infer(types, attrs)

    def compute(self, inputs: list[Array], attrs: dict[str, Any],  # type: ignore[override]
                types: list[TensorType]) -> Array:
        x = inputs[0]
        z = _per_tensor(types[0], "x").zero_point
        win = self._window(x.shape, attrs)
        total = np.zeros(x.shape[:2] + win.out, np.int64)
        for _, _, view in taps(padded(x.astype(np.int64) - z, win, 0), win):
            total += view
        ch, cw = (_counts(x.shape[2 + ax], win.out[ax], win.kernel[ax], win.strides[ax],
                          win.pads[ax], win.pads[ax + 2], attrs["count_include_pad"])
                  for ax in range(2))
        count = np.outer(ch, cw).astype(np.int64)
        mean = np.sign(total) * ((2 * np.abs(total) + count) // (2 * count))
        return (mean + z).astype(x.dtype)
