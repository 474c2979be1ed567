"""nn.matmul and nn.gemm: numpy semantics incl. 1-D operands and batch
broadcasting, ONNX Gemm's alpha/beta/transposes, fused clamp, shape rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.dtypes import DType
from irc.errors import OpError

from ophelpers import F32, T, infer, make_rand, run


rand = make_rand(0)


def loop_matmul(a, b):
    """Row-by-column dot products over 2-D operands."""
    m, k = a.shape
    n = b.shape[1]
    return np.array([[sum(float(a[i, t]) * float(b[t, j]) for t in range(k)) for j in range(n)]
                     for i in range(m)])


# --- matmul --------------------------------------------------------------------------------

def test_matmul_hand_computed():
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[5, 6], [7, 8]], np.float32)
    np.testing.assert_array_equal(run("nn.matmul", a, b), [[19, 22], [43, 50]])
    np.testing.assert_array_equal(run("nn.matmul", a, b, clamp=(20.0, 45.0)),
                                  [[20, 22], [43, 45]])


@pytest.mark.parametrize("sa,sb,out", [
    ((3,), (3,), ()),
    ((3,), (3, 4), (4,)),
    ((2, 3), (3,), (2,)),
    ((5, 2, 3), (3,), (5, 2)),
    ((3,), (5, 3, 4), (5, 4)),
    ((2, 1, 4, 3), (5, 3, 2), (2, 5, 4, 2)),
    ((1, 2, 3), (7, 3, 4), (7, 2, 4)),
])
def test_matmul_shapes_follow_numpy(sa, sb, out):
    assert infer("nn.matmul", F32(*sa), F32(*sb)) == F32(*out)
    a, b = rand(*sa), rand(*sb)
    y = run("nn.matmul", a, b)
    assert y.shape == out
    # independent check: broadcast the batch dims by hand, multiply 2-D slices by loops
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    ab = np.broadcast_to(a2, batch + a2.shape[-2:])
    bb = np.broadcast_to(b2, batch + b2.shape[-2:])
    want = np.empty(batch + (a2.shape[-2], b2.shape[-1]))
    for idx in np.ndindex(*batch):
        want[idx] = loop_matmul(ab[idx], bb[idx])
    np.testing.assert_allclose(y, want.reshape(out), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa,sb,message", [
    ((2, 3), (4, 5), r"contraction dims differ: a \[2, 3\] has K=3 but b \[4, 5\] has K=4"),
    ((2, 2, 3), (3, 3, 4), r"shapes \[2\], \[3\] do not broadcast"),
    ((), (3,), "rank >= 1"),
])
def test_matmul_errors(sa, sb, message):
    with pytest.raises(OpError, match=message):
        infer("nn.matmul", F32(*sa), F32(*sb))


def test_matmul_float16_and_dtype_mismatch():
    a, b = rand(4, 64, dtype=np.float16), rand(64, 3, dtype=np.float16)
    y = run("nn.matmul", a, b)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-2,
                               atol=1e-2)
    with pytest.raises(OpError, match="share one dtype"):
        infer("nn.matmul", F32(2, 3), T(DType.F16, 3, 2))
    with pytest.raises(OpError, match="must be a float tensor"):
        infer("nn.matmul", T(DType.I8, 2, 3), T(DType.I8, 3, 2))


# --- gemm ---------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4), ta=st.booleans(),
       tb=st.booleans(), alpha=st.sampled_from([1.0, 0.5, -2.0]),
       beta=st.sampled_from([1.0, 0.0, 3.0]),
       c_shape=st.sampled_from([None, "mn", "n", "1n", "m1", "1", "scalar"]))
def test_gemm_matches_formula(m, k, n, ta, tb, alpha, beta, c_shape):
    a = rand(k, m) if ta else rand(m, k)
    b = rand(n, k) if tb else rand(k, n)
    shapes = {"mn": (m, n), "n": (n,), "1n": (1, n), "m1": (m, 1), "1": (1,), "scalar": ()}
    ops = [a, b]
    want = alpha * loop_matmul(a.T if ta else a, b.T if tb else b)
    if c_shape is not None:
        c = rand(*shapes[c_shape])
        ops.append(c)
        want = want + beta * np.broadcast_to(c.astype(np.float64), (m, n))
    y = run("nn.gemm", *ops, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb)
    assert y.shape == (m, n)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_gemm_hand_computed_with_clamp():
    a = np.array([[1, 2, 3]], np.float32)
    b = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    c = np.array([10, -10], np.float32)
    np.testing.assert_array_equal(run("nn.gemm", a, b, c), [[14, -5]])
    np.testing.assert_array_equal(run("nn.gemm", a, b, c, alpha=2.0, beta=0.5), [[13, 5]])
    np.testing.assert_array_equal(run("nn.gemm", a, b, c, clamp=(0.0, 6.0)), [[6, 0]])
    np.testing.assert_array_equal(run("nn.gemm", np.ascontiguousarray(a.T),
                                      np.ascontiguousarray(b.T), trans_a=True, trans_b=True),
                                  [[4, 5]])


@pytest.mark.parametrize("types,attrs,message", [
    ((F32(2, 3), F32(4, 5)), {}, r"op\(a\) is \[2, 3\] and op\(b\) is \[4, 5\]"),
    ((F32(3, 2), F32(3, 5)), {}, "contraction dims differ"),
    ((F32(2, 3, 1), F32(3, 5)), {}, "a and b must be 2-D"),
    ((F32(2, 3), F32(3, 5), F32(3, 5)), {}, r"c of shape \[3, 5\] does not broadcast to \[2, 5\]"),
    ((F32(2, 3), F32(3, 5), F32(1, 2, 5)), {}, r"does not broadcast to \[2, 5\]"),
    ((F32(2, 3), F32(3, 5), F32(5), F32(5)), {}, "takes 2 to 3 operand"),
])
def test_gemm_errors(types, attrs, message):
    with pytest.raises(OpError, match=message):
        infer("nn.gemm", *types, **attrs)


def test_gemm_shape_rule_with_transposes():
    assert infer("nn.gemm", F32(3, 2), F32(5, 3), trans_a=True, trans_b=True) == F32(2, 5)
