"""nn.batch_norm, nn.layer_norm, nn.softmax, nn.log_softmax: formulas evaluated
in float64 by loops, identities, stability, shape rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from irc.dtypes import DType
from irc.errors import OpError

from ophelpers import F32, T, infer, make_rand, run


rand = make_rand(0)


# --- batch_norm ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (1, 3, 4, 4), (2, 3, 2, 2, 2)])
def test_batch_norm_formula_per_channel(shape):
    x = rand(*shape)
    c = shape[1]
    scale, bias, mean = rand(c), rand(c), rand(c)
    var = np.abs(rand(c)) + 0.1
    y = run("nn.batch_norm", x, scale, bias, mean, var, epsilon=1e-3)
    for n in range(shape[0]):
        for ch in range(c):
            want = (scale[ch] * (x[n, ch].astype(np.float64) - mean[ch])
                    / math.sqrt(var[ch] + 1e-3) + bias[ch])
            np.testing.assert_allclose(y[n, ch], want, rtol=1e-5, atol=1e-6)


def test_batch_norm_hand_value_and_default_epsilon():
    x = np.array([[[[3.0]]]], np.float32)
    one = np.ones(1, np.float32)
    y = run("nn.batch_norm", x, 2 * one, 0.5 * one, one, 4 * one)
    assert y[0, 0, 0, 0] == pytest.approx(2 * (3 - 1) / math.sqrt(4 + 1e-5) + 0.5, rel=1e-7)


@pytest.mark.parametrize("types,attrs,message", [
    ((F32(1, 3, 4, 4), F32(3), F32(3), F32(4), F32(3)), {}, r"mean must have shape \[3\]"),
    ((F32(1, 3, 4, 4), F32(1, 3), F32(3), F32(3), F32(3)), {}, r"scale must have shape \[3\]"),
    ((F32(3), F32(3), F32(3), F32(3), F32(3)), {}, "rank >= 2"),
    ((F32(1, 3), F32(3), F32(3), F32(3), F32(3)), {"epsilon": -1.0}, "epsilon.*>= 0"),
    ((F32(1, 3), F32(3), F32(3), F32(3)), {}, "takes 5 operand"),
])
def test_batch_norm_errors(types, attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.batch_norm", *types, **attrs)


# --- layer_norm ----------------------------------------------------------------------------

def naive_layer_norm(x, scale, bias, axis, eps):
    axis = axis % x.ndim
    lead = x.shape[:axis]
    y = np.empty(x.shape)
    for idx in np.ndindex(*lead):
        block = x[idx].astype(np.float64)
        mu = block.sum() / block.size
        var = ((block - mu) ** 2).sum() / block.size
        y[idx] = (block - mu) / math.sqrt(var + eps) * scale + (0 if bias is None else bias)
    return y


@pytest.mark.parametrize("shape,axis,pshape", [
    ((2, 5, 8), -1, (8,)),
    ((2, 5, 8), 1, (5, 8)),
    ((2, 5, 8), -2, (1, 8)),       # broadcastable to the normalized shape
    ((3, 4), 0, (3, 4)),
    ((6,), 0, (6,)),
])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm_against_loops(shape, axis, pshape, with_bias):
    x = rand(*shape) * 3 + 1
    scale, bias = rand(*pshape), rand(*pshape)
    ops = [x, scale] + ([bias] if with_bias else [])
    y = run("nn.layer_norm", *ops, axis=axis, epsilon=1e-4)
    want = naive_layer_norm(x, scale, bias if with_bias else None, axis, 1e-4)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_layer_norm_output_is_normalized():
    x = rand(4, 16) * 10 + 5
    y = run("nn.layer_norm", x, np.ones(16, np.float32), np.zeros(16, np.float32))
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=-1), 1, atol=1e-3)


@pytest.mark.parametrize("types,attrs,message", [
    ((F32(2, 5, 8), F32(5)), {}, r"scale of shape \[5\] does not broadcast to the normalized "
                                 r"shape \[8\]"),
    ((F32(2, 5, 8), F32(8), F32(2, 5, 8)), {"axis": 1}, "bias of shape"),
    ((F32(2, 5, 8), F32(8)), {"axis": 3}, "axis 3 is out of range for rank 3"),
])
def test_layer_norm_errors(types, attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.layer_norm", *types, **attrs)


# --- softmax / log_softmax -----------------------------------------------------------------

def test_softmax_hand_value():
    y = run("nn.softmax", np.array([1.0, 2.0, 3.0], np.float32))
    e = [math.exp(1), math.exp(2), math.exp(3)]
    np.testing.assert_allclose(y, [v / sum(e) for v in e], rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(-50, 50, width=32)), st.data())
def test_softmax_sums_to_one_and_log_softmax_is_its_log(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    s = run("nn.softmax", x, axis=axis)
    ls = run("nn.log_softmax", x, axis=axis)
    np.testing.assert_allclose(s.sum(axis=axis), 1, rtol=1e-5)
    assert np.all(s >= 0)
    # log_softmax == log(softmax) where softmax does not underflow
    ok = s > 1e-30
    np.testing.assert_allclose(ls[ok], np.log(s[ok].astype(np.float64)), rtol=1e-5, atol=1e-5)
    # invariant to shifting along the axis
    np.testing.assert_allclose(run("nn.softmax", x + 7, axis=axis), s, rtol=1e-5, atol=1e-7)
    # explicit reference
    x64 = np.moveaxis(x.astype(np.float64), axis, -1)
    ref = np.exp(x64 - x64.max(-1, keepdims=True))
    ref = ref / ref.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.moveaxis(s, axis, -1), ref, rtol=1e-5, atol=1e-7)


def test_softmax_and_log_softmax_are_stable_for_huge_inputs():
    x = np.array([[1000.0, 1001.0, -1000.0]], np.float32)
    s = run("nn.softmax", x)
    ls = run("nn.log_softmax", x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    e = 1 / (1 + math.e)
    np.testing.assert_allclose(s[0], [e, 1 - e, 0], rtol=1e-6, atol=1e-30)
    # log_softmax keeps the tiny entry finite (log(softmax) would be -inf)
    assert ls[0, 2] == pytest.approx(-2000 - math.log(1 + math.e), rel=1e-6)


def test_softmax_axis_errors_and_dtypes():
    with pytest.raises(OpError, match="axis 2 is out of range for rank 2"):
        infer("nn.softmax", F32(2, 3), axis=2)
    with pytest.raises(OpError, match="float"):
        infer("nn.log_softmax", T(DType.I32, 2, 3))
    y = run("nn.softmax", np.zeros((2, 4), np.float16), axis=0)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, np.full((2, 4), 0.5, np.float16))
