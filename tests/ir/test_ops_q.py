"""The q.* integer ops irc's own quantization lowers to: fixed-point
requantization (the normative rounding rule), q.add, q.mul, q.lut, q.avg_pool,
and quantization parameters carried through data movement."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.dtypes import DType
from irc.errors import TypeInferenceError
from irc.fixedpoint import (INT32_MAX, INT32_MIN, multiplier_value,
                            multiply_by_quantized_multiplier, quantize_multiplier,
                            rounding_divide_by_pot, saturating_rounding_doubling_high_mul)
from irc.interpreter import evaluate
from irc.ir import Graph
from irc.ops import get_op
from irc.types import PerAxis, PerTensor, TensorType


# --- the arithmetic, against hand-computed gemmlowp/TFLite values ------------------------------

@pytest.mark.parametrize("real, expected", [
    (0.5, (1 << 30, 0)),              # frexp(0.5) = 0.5 · 2^0
    (1.0, (1 << 30, 1)),              # 0.5 · 2^1
    (0.75, (3 << 29, 0)),             # 0.75 · 2^31 = 3 · 2^29
    (0.1, (1717986918, -3)),          # 0.8 · 2^31 = 1717986918.4 -> 1717986918
    (1 - 2.0 ** -40, (1 << 30, 1)),   # q · 2^31 rounds to 2^31: halve it, shift + 1
    (2.0 ** -32, (1 << 30, -31)),     # the smallest shift kept
    (2.0 ** -33, (0, 0)),             # shift < -31: flushed to zero
    (0.0, (0, 0)),
    (2.0 ** 40, (INT32_MAX, 30)),     # absurdly large: saturated
])
def test_quantize_multiplier(real, expected):
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_refuses_negative_and_nan():
    for bad in (-0.5, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite and >= 0"):
            quantize_multiplier(bad)


def test_srdhm_hand_values():
    a = np.array([100, 101, -101, -3, INT32_MIN, INT32_MIN, INT32_MAX])
    b = np.array([1 << 30, 1 << 30, 1 << 30, 1 << 30, INT32_MIN, INT32_MAX, INT32_MAX])
    # a·b/2^31 rounded half *up* (toward +inf): 50, 50.5 -> 51, -50.5 -> -50, -1.5 -> -1;
    # INT32_MIN² is the one saturating case.
    assert saturating_rounding_doubling_high_mul(a, b).tolist() == [
        50, 51, -50, -1, INT32_MAX, -INT32_MAX, INT32_MAX - 1]


def test_rounding_divide_by_pot_rounds_half_away():
    x = np.array([5, -5, 6, -6, 7, -7, 1, -1, 0])
    assert rounding_divide_by_pot(x, 1).tolist() == [3, -3, 3, -3, 4, -4, 1, -1, 0]
    assert rounding_divide_by_pot(x, 2).tolist() == [1, -1, 2, -2, 2, -2, 0, 0, 0]
    assert rounding_divide_by_pot(np.array([INT32_MAX, INT32_MIN]), 31).tolist() == [1, -1]


def test_double_rounding_differs_from_single_rounding():
    # 101 · 0.25 = 25.25: SRDHM gives 50.5 -> 51, then 51 / 2 = 25.5 -> 26 (not 25).
    m, s = quantize_multiplier(0.25)
    assert multiply_by_quantized_multiplier(np.array([101, -101, 3, -3]), m, s).tolist() == [
        26, -25, 1, -1]


def _reference_mbqm(x: int, m: int, shift: int) -> int:
    """The same rule in plain Python integers, written from the gemmlowp text."""
    left, right = max(shift, 0), max(-shift, 0)
    a = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)
    if a == m == INT32_MIN:
        h = INT32_MAX
    else:
        n = a * m + ((1 << 30) if a * m >= 0 else 1 - (1 << 30))
        h = abs(n) >> 31 if n >= 0 else -(abs(n) >> 31)
    mask = (1 << right) - 1
    return (h >> right) + ((h & mask) > (mask >> 1) + (h < 0))


@settings(max_examples=400, deadline=None)
@given(x=st.integers(INT32_MIN, INT32_MAX), real=st.floats(1e-9, 0.999, allow_nan=False))
def test_mbqm_matches_reference_and_is_within_one_of_exact(x, real):
    m, shift = quantize_multiplier(real)
    got = int(multiply_by_quantized_multiplier(np.array([x]), m, shift)[0])
    assert got == _reference_mbqm(x, m, shift)
    # two roundings of 1/2 each plus the multiplier's own 2^-31 relative error
    assert abs(got - x * multiplier_value(m, shift)) <= 1.0


# --- q.requantize, fixed point ----------------------------------------------------------------

def _acc_type(shape, scales, axis=1):
    q = PerTensor(scales[0], 0) if len(scales) == 1 else PerAxis(axis, tuple(scales),
                                                                   (0,) * len(scales))
    return TensorType(DType.I32, shape, q)


def _requant_attrs(reals, scale, zp, clamp=()):
    pairs = [quantize_multiplier(r) for r in reals]
    return {"dtype": DType.I8, "scale": scale, "zero_point": zp, "method": "fixed_point",
            "multipliers": [p[0] for p in pairs], "shifts": [p[1] for p in pairs],
            "clamp": list(clamp), "rounding": "half_away"}


def test_requantize_fixed_point_per_channel():
    s_acc = [0.001, 0.004]
    t = _acc_type((1, 2, 1, 3), s_acc)
    acc = np.array([[[[100, -150, 20000]], [[100, -150, 20000]]]], np.int32)
    attrs = _requant_attrs([s / 0.02 for s in s_acc], 0.02, -5)
    y = evaluate_op("q.requantize", [acc], attrs, [t])
    # channel 0: M = 0.05 = 0.8 · 2^-4: SRDHM(-150, m) = -120, then -120 / 2^4 = -7.5 rounds
    # away to -8; 100 -> 5; 20000 -> 1000 saturates.  Channel 1: M = 0.2 -> 20, -30, 4000.
    assert y.tolist() == [[[[0, -13, 127]], [[15, -35, 127]]]]


def test_requantize_clamp_and_type_checks():
    t = _acc_type((4,), [0.01])
    attrs = _requant_attrs([0.5], 0.02, 0, clamp=[0, 100])
    y = evaluate_op("q.requantize", [np.array([-50, 10, 300, 100000], np.int32)], attrs, [t])
    assert y.tolist() == [0, 5, 100, 100]
    stale = dict(attrs, multipliers=[1 << 30], shifts=[1])    # encodes 1.0, not 0.5
    with pytest.raises(TypeInferenceError, match="does not encode the scale ratio"):
        get_op("q.requantize").infer_types([t], stale, where="q.requantize")
    with pytest.raises(TypeInferenceError, match="clamp"):
        get_op("q.requantize").infer_types([t], dict(attrs, clamp=[5, 200]),
                                           where="q.requantize")


def evaluate_op(op, arrays, attrs, types):
    """Build a one-node graph and run it through the interpreter's evaluate()."""
    g = Graph()
    ins = [g.add_input(f"x{i}", t) for i, t in enumerate(types)]
    node = g.make_node(op, ins, attrs)
    return evaluate(node, arrays, types=types)[0]


# --- q.add / q.mul / q.lut / q.avg_pool --------------------------------------------------------

def _quantize(x, s, z, dtype=DType.I8):
    return np.clip(np.round(x / s) + z, dtype.min, dtype.max).astype(dtype.storage)


@settings(max_examples=60, deadline=None)
@given(sa=st.floats(0.005, 0.2), sb=st.floats(0.005, 0.2), sy=st.floats(0.01, 0.4),
       za=st.integers(-20, 20), zb=st.integers(-20, 20), zy=st.integers(-20, 20),
       seed=st.integers(0, 2**16))
def test_q_add_is_within_one_step_of_real_sum(sa, sb, sy, za, zb, zy, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (3, 5)).astype(np.int8)
    b = rng.integers(-128, 128, (1, 5)).astype(np.int8)        # broadcast
    ta = TensorType(DType.I8, (3, 5), PerTensor(sa, za))
    tb = TensorType(DType.I8, (1, 5), PerTensor(sb, zb))
    from irc.ops.q_arith import add_multipliers
    reals = add_multipliers(sa, sb, sy, 20)
    attrs = _requant_attrs(reals, sy, zy)
    attrs = {k: attrs[k] for k in ("dtype", "scale", "zero_point", "multipliers", "shifts",
                                   "clamp")}
    y = evaluate_op("q.add", [a, b], attrs, [ta, tb]).astype(np.int64)
    real = (a.astype(np.float64) - za) * sa + (b.astype(np.float64) - zb) * sb
    exact = np.clip(real / sy + zy, -128, 127)
    assert np.all(np.abs(y - exact) <= 1.0)


def test_q_mul_accumulates_centered_products():
    ta = TensorType(DType.I8, (2,), PerTensor(0.5, 3))
    tb = TensorType(DType.I8, (2,), PerTensor(0.25, -1))
    g = Graph()
    a, b = g.add_input("a", ta), g.add_input("b", tb)
    node = g.make_node("q.mul", [a, b])
    assert node.outputs[0].type == TensorType(DType.I32, (2,), PerTensor(0.125, 0))
    acc = evaluate(node, [np.array([5, -128], np.int8), np.array([3, 127], np.int8)],
                   types=[ta, tb])[0]
    assert acc.tolist() == [(5 - 3) * (3 + 1), (-128 - 3) * (127 + 1)]


def test_q_lut_indexes_from_the_dtype_minimum():
    table = list(range(127, -129, -1))              # negation, saturated
    t = TensorType(DType.I8, (4,), PerTensor(0.1, 0))
    attrs = {"dtype": DType.I8, "scale": 0.1, "zero_point": 0, "table": table}
    y = evaluate_op("q.lut", [np.array([-128, -1, 0, 127], np.int8)], attrs, [t])
    assert y.tolist() == [127, 0, -1, -128]
    t4 = TensorType(DType.I4, (3,), PerTensor(0.1, 0))
    attrs4 = dict(attrs, table=list(range(16)))     # stored -8..7 -> 0..15
    assert evaluate_op("q.lut", [np.array([-8, 0, 7], np.int8)], attrs4, [t4]).tolist() == [
        0, 8, 15]
    with pytest.raises(TypeInferenceError, match="table needs 256 entries"):
        get_op("q.lut").infer_types([t], dict(attrs, table=[0] * 10), where="q.lut")


def test_q_avg_pool_rounds_half_away_around_the_zero_point():
    t = TensorType(DType.I8, (1, 1, 2, 2), PerTensor(0.1, 10))
    x = np.array([[[[11, 12], [12, 12]]]], np.int8)        # centered 1, 2, 2, 2: mean 1.75
    attrs = {"kernel": [2, 2], "strides": [1, 1], "pads": [0, 0, 0, 0], "ceil_mode": False,
             "count_include_pad": False, "auto_pad": "explicit"}
    assert evaluate_op("q.avg_pool", [x], attrs, [t]).tolist() == [[[[12]]]]
    x2 = np.array([[[[9, 8], [9, 10]]]], np.int8)          # centered -1, -2, -1, 0: -1.0
    assert evaluate_op("q.avg_pool", [x2], attrs, [t]).tolist() == [[[[9]]]]
    x3 = np.array([[[[9, 9], [10, 10]]]], np.int8)         # -0.5 -> -1 (away from zero)
    assert evaluate_op("q.avg_pool", [x3], attrs, [t]).tolist() == [[[[9]]]]
    padded = dict(attrs, pads=[1, 1, 0, 0], count_include_pad=True)
    # window at (0,0) sees only x[0,0] = 11 -> centered 1, over 4 positions: 0.25 -> 0
    assert evaluate_op("q.avg_pool", [x], padded, [t])[0, 0, 0, 0] == 10


# --- data movement keeps per-tensor parameters ----------------------------------------------

def test_data_movement_carries_quantization():
    q = PerTensor(0.05, -3)
    t = TensorType(DType.I8, (1, 4, 2, 2), q)
    g = Graph()
    x = g.add_input("x", t)
    r = g.make_node("nn.reshape", [x], {"shape": [1, 16]}).outputs[0]
    assert r.type.quant == q
    m = g.make_node("nn.max_pool", [x], {"kernel": [2, 2]}).outputs[0]
    assert m.type.quant == q
    c = g.make_node("nn.concat", [x, x], {"axis": 1}).outputs[0]
    assert c.type.quant == q
    other = g.add_input("y", TensorType(DType.I8, (1, 4, 2, 2), PerTensor(0.1, 0)))
    assert g.make_node("nn.concat", [x, other], {"axis": 1}).outputs[0].type.quant is None
    w = g.add_input("w", TensorType(DType.I8, (4, 3), PerAxis(0, (1.0, 2.0, 3.0, 4.0),
                                                               (0, 0, 0, 0))))
    wt = g.make_node("nn.transpose", [w], {"perm": [1, 0]}).outputs[0]
    assert wt.type.quant == PerAxis(1, (1.0, 2.0, 3.0, 4.0), (0, 0, 0, 0))
