"""nn.* elementwise ops: activations, math, prelu — values against float64
references written with math.*, dtypes, and the type rules."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from irc.dtypes import DType
from irc.errors import OpError

from ophelpers import T, infer, run


SQRT2 = math.sqrt(2.0)

# (op, attrs, float64 scalar reference)
REFERENCES = [
    ("nn.erf", {}, math.erf),
    ("nn.tanh", {}, math.tanh),
    ("nn.sigmoid", {}, lambda x: 1 / (1 + math.exp(-x))),
    ("nn.relu6", {}, lambda x: min(max(x, 0.0), 6.0)),
    ("nn.leaky_relu", {}, lambda x: x if x >= 0 else 0.01 * x),
    ("nn.leaky_relu", {"alpha": 0.25}, lambda x: x if x >= 0 else 0.25 * x),
    ("nn.hardsigmoid", {}, lambda x: max(0.0, min(1.0, 0.2 * x + 0.5))),
    ("nn.hardsigmoid", {"alpha": 0.3, "beta": 0.4}, lambda x: max(0.0, min(1.0, 0.3 * x + 0.4))),
    ("nn.hardswish", {}, lambda x: x * max(0.0, min(1.0, x / 6 + 0.5))),
    ("nn.gelu", {}, lambda x: 0.5 * x * (1 + math.erf(x / SQRT2))),
    ("nn.gelu", {"approximate": "tanh"},
     lambda x: 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    ("nn.identity", {}, lambda x: x),
    ("nn.relu", {}, lambda x: max(x, 0.0)),
]


@pytest.mark.parametrize("op,attrs,ref", REFERENCES,
                         ids=[f"{o}{a or ''}" for o, a, _ in REFERENCES])
def test_values_against_float64_reference(op, attrs, ref):
    x = np.concatenate([np.linspace(-9, 9, 1801), [-6, -3, -0.5, 0, 0.5, 3, 6]]).astype(
        np.float32)
    y = run(op, x, **attrs)
    want = np.array([ref(float(v)) for v in x])
    np.testing.assert_allclose(y, want, rtol=2e-7, atol=1e-7)


@pytest.mark.parametrize("op,attrs,x,want", [
    ("nn.sigmoid", {}, 0.0, 0.5),
    ("nn.relu6", {}, 7.5, 6.0),
    ("nn.relu6", {}, -1.0, 0.0),
    ("nn.leaky_relu", {}, -2.0, -0.02),
    ("nn.hardsigmoid", {}, 2.5, 1.0),
    ("nn.hardsigmoid", {}, -1.0, 0.3),
    ("nn.hardswish", {}, -3.0, 0.0),
    ("nn.hardswish", {}, 3.0, 3.0),
    ("nn.hardswish", {}, 1.0, 1.0 * 4 / 6),
    ("nn.gelu", {}, 1.0, 0.8413447460685429),          # Phi(1)
    ("nn.gelu", {}, -1.0, -0.15865525393145707),
    ("nn.gelu", {"approximate": "tanh"}, 1.0, 0.8411919906082768),
    ("nn.erf", {}, 0.5, 0.5204998778130465),
    ("nn.tanh", {}, 0.5, 0.46211715726000974),
])
def test_hand_values(op, attrs, x, want):
    y = run(op, np.array([x], np.float32), **attrs)
    assert y[0] == pytest.approx(want, rel=1e-6, abs=1e-7)


def test_sigmoid_saturates_without_overflow():
    x = np.array([-1e4, -100, -89, 89, 100, 1e4, np.inf, -np.inf], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = run("nn.sigmoid", x)
    assert np.all(np.isfinite(y))
    assert y[0] == 0 and y[-3] == 1 and y[-2] == 1 and y[-1] == 0
    assert 0 < y[2] < 1e-38


FLOAT_UNARY = sorted({o for o, _, _ in REFERENCES} | {"nn.sqrt", "nn.exp", "nn.log", "nn.abs",
                                                    "nn.neg"})


@pytest.mark.parametrize("op", FLOAT_UNARY)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_result_keeps_operand_dtype(op, dtype):
    x = np.linspace(0.1, 4, 7).astype(dtype)
    y = run(op, x)
    assert y.dtype == dtype and y.shape == x.shape


@pytest.mark.parametrize("op", ["nn.erf", "nn.sigmoid", "nn.tanh", "nn.gelu", "nn.hardswish",
                                "nn.hardsigmoid", "nn.leaky_relu", "nn.sqrt", "nn.exp",
                                "nn.log"])
def test_transcendental_ops_reject_integer_operands(op):
    with pytest.raises(OpError, match="float"):
        infer(op, T(DType.I32, 2, 3))


@pytest.mark.parametrize("op", ["nn.relu", "nn.relu6", "nn.identity", "nn.neg", "nn.abs"])
def test_piecewise_linear_ops_accept_integers(op):
    x = np.array([-7, -1, 0, 3, 9], np.int32)
    y = run(op, x)
    assert y.dtype == np.int32
    want = {"nn.relu": [0, 0, 0, 3, 9], "nn.relu6": [0, 0, 0, 3, 6],
            "nn.identity": x, "nn.neg": -x, "nn.abs": np.abs(x)}[op]
    np.testing.assert_array_equal(y, want)


def test_unary_shape_rule_keeps_shape_and_drops_quantization():
    t = infer("nn.gelu", T(DType.F16, 2, 3, 4))
    assert t == T(DType.F16, 2, 3, 4)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(OpError, match="approximate.*none, tanh"):
        infer("nn.gelu", T(DType.F32, 3), approximate="fast")


# --- prelu -------------------------------------------------------------------------------

def test_prelu_per_channel_slope_on_nchw():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    slope = np.array([0.1, 0.2, 0.3], np.float32).reshape(3, 1, 1)
    y = run("nn.prelu", x, slope)
    for c in range(3):
        xc = x[:, c]
        np.testing.assert_array_equal(y[:, c], np.where(xc >= 0, xc, xc * slope[c, 0, 0]))


def test_prelu_scalar_slope_and_trailing_alignment():
    x = np.array([[-1.0, 2.0], [-3.0, -4.0]], np.float32)
    np.testing.assert_allclose(run("nn.prelu", x, np.array([0.5], np.float32)),
                               [[-0.5, 2.0], [-1.5, -2.0]])
    # a 1-D slope aligns with the LAST axis (ONNX unidirectional broadcasting)
    np.testing.assert_allclose(run("nn.prelu", x, np.array([0.1, 0.2], np.float32)),
                               [[-0.1, 2.0], [-0.3, -0.8]], rtol=1e-6)


@pytest.mark.parametrize("slope", [(3,), (2, 3, 1, 1), (4, 1, 1)])
def test_prelu_slope_must_broadcast_to_x(slope):
    with pytest.raises(OpError, match="slope shape .* does not broadcast"):
        infer("nn.prelu", T(DType.F32, 1, 3, 4, 5), T(DType.F32, *slope))


def test_prelu_dtypes_must_match():
    with pytest.raises(OpError, match="share one dtype"):
        infer("nn.prelu", T(DType.F32, 1, 3), T(DType.F16, 3))


# --- binary ------------------------------------------------------------------------------

def test_div_rejects_integers_but_add_accepts_them():
    with pytest.raises(OpError, match="float"):
        infer("nn.div", T(DType.I32, 3), T(DType.I32, 3))
    assert infer("nn.add", T(DType.I32, 2, 1), T(DType.I32, 3)) == T(DType.I32, 2, 3)


def test_add_clamp_is_applied_last():
    a = np.array([-2.0, 0.5, 9.0], np.float32)
    y = run("nn.add", a, np.float32(1.0) * np.ones(3, np.float32), clamp=(0.0, 6.0))
    np.testing.assert_array_equal(y, [0.0, 1.5, 6.0])


def test_binary_broadcast_errors_name_the_shapes():
    with pytest.raises(OpError, match=r"\[2, 3\], \[4\] do not broadcast"):
        infer("nn.mul", T(DType.F32, 2, 3), T(DType.F32, 4))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=3, max_side=5),
                  elements=st.floats(-20, 20, width=32)))
def test_hardswish_is_x_times_hardsigmoid_one_sixth(x):
    hs = run("nn.hardswish", x)
    hsig = run("nn.hardsigmoid", x, alpha=1 / 6, beta=0.5)
    np.testing.assert_allclose(hs, x * hsig, rtol=1e-6, atol=1e-6)
