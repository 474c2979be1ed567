"""sparse.* ops mean exactly their dense twins; their weights must be encoded
and (when integer) have zero point 0."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import irc
from irc.builder import Builder
from irc.dtypes import DType
from irc.errors import IrcError
from irc.types import Encoding, PerAxis, PerTensor, TensorType

ENCODINGS = [Encoding("csr"), Encoding("bsr", (4, 1)), Encoding("bsr", (1, 4))]


def _sparse(rng: np.random.Generator, shape: tuple[int, ...], density: float,
            dtype: type = np.float32) -> np.ndarray:
    if dtype is np.int8:
        w = rng.integers(-128, 128, shape).astype(np.int8)
    else:
        w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) >= density] = 0
    return w


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 2), k=st.integers(1, 9), n=st.integers(1, 7), hw=st.integers(1, 4),
       density=st.floats(0, 1), enc=st.sampled_from(ENCODINGS), seed=st.integers(0, 2**16))
def test_sparse_conv2d_is_a_1x1_conv(b: int, k: int, n: int, hw: int, density: float,
                                     enc: Encoding, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = _sparse(rng, (n, k, 1, 1), density)
    bias = rng.standard_normal(n).astype(np.float32)
    x = rng.standard_normal((b, k, hw, hw + 1)).astype(np.float32)

    def build(sparse: bool) -> irc.Graph:
        bl = Builder()
        xv = bl.input("x", f"f32[{b},{k},{hw},{hw + 1}]")
        if sparse:
            wv = bl.const(w, type=TensorType(DType.F32, w.shape, encoding=enc))
            return bl.finish(bl.sparse.conv2d(xv, wv, bias, clamp=(-0.5, 1.0)))
        return bl.finish(bl.nn.conv2d(xv, w, bias, clamp=(-0.5, 1.0)))

    got = list(irc.run(build(True), {"x": x}).values())[0]
    want = list(irc.run(build(False), {"x": x}).values())[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 6), k=st.integers(1, 9), n=st.integers(1, 7), density=st.floats(0, 1),
       enc=st.sampled_from(ENCODINGS), seed=st.integers(0, 2**16))
def test_sparse_matmul_is_a_gemm_with_transposed_weights(m: int, k: int, n: int, density: float,
                                                         enc: Encoding, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = _sparse(rng, (n, k), density)
    a = rng.standard_normal((2, m, k)).astype(np.float32)
    bl = Builder()
    av = bl.input("a", f"f32[2,{m},{k}]")
    wv = bl.const(w, type=TensorType(DType.F32, w.shape, encoding=enc))
    g = bl.finish(bl.sparse.matmul(av, wv, np.ones(n, np.float32)))
    got = list(irc.run(g, {"a": a}).values())[0]
    np.testing.assert_allclose(got, a @ w.T + 1, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 5), k=st.integers(1, 9), n=st.integers(1, 6), density=st.floats(0, 1),
       per_channel=st.booleans(), seed=st.integers(0, 2**16))
def test_sparse_qmatmul_and_qconv2d_equal_the_dense_integer_ops(
        m: int, k: int, n: int, density: float, per_channel: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = _sparse(rng, (n, k), density, np.int8)
    bias = rng.integers(-1000, 1000, n).astype(np.int32)
    scales = tuple(float(s) for s in rng.uniform(0.01, 0.1, n))
    wq = PerAxis(0, scales, (0,) * n) if per_channel else PerTensor(0.05, 0)
    a = rng.integers(0, 256, (m, k)).astype(np.uint8)
    x = rng.integers(0, 256, (1, k, 2, m)).astype(np.uint8)

    bl = Builder()
    av = bl.input("a", f"u8[{m},{k}]<0.1,7>")
    xv = bl.input("x", f"u8[1,{k},2,{m}]<0.1,7>")
    ws = bl.const(w, type=TensorType(DType.I8, (n, k), wq, Encoding("bsr", (2, 2))))
    w4 = bl.const(w.reshape(n, k, 1, 1), type=TensorType(
        DType.I8, (n, k, 1, 1), wq, Encoding("csr")))
    # the dense twins: q.matmul reads wᵀ, quantized per column
    wt_q = PerAxis(1, scales, (0,) * n) if per_channel else wq
    wt = bl.const(np.ascontiguousarray(w.T), type=TensorType(DType.I8, (k, n), wt_q))
    wd = bl.const(w.reshape(n, k, 1, 1), type=TensorType(DType.I8, (n, k, 1, 1), wq))
    g = bl.finish(bl.sparse.qmatmul(av, ws, bias), bl.q.matmul(av, wt, bias),
                  bl.sparse.qconv2d(xv, w4, bias), bl.q.conv2d(xv, wd, bias))
    sm, dm, sc, dc = irc.run(g, {"a": a, "x": x}).values()
    assert np.array_equal(sm, dm) and np.array_equal(sc, dc)
    types = [v.type for v in g.outputs]
    assert types[0] == types[1] and types[2] == types[3]


def test_dense_ops_refuse_encoded_weights_and_sparse_ops_refuse_dense_ones() -> None:
    bl = Builder()
    x = bl.input("x", "f32[1,4,2,2]")
    w = bl.const(np.ones((2, 4, 1, 1), np.float32),
                 type=TensorType(DType.F32, (2, 4, 1, 1), encoding=Encoding("csr")))
    bl.nn.conv2d(x, w)
    with pytest.raises(IrcError, match="encoded csr, which nn.conv2d does not accept"):
        irc.verify(bl.graph)
    bl = Builder()
    x = bl.input("x", "f32[1,4,2,2]")
    bl.sparse.conv2d(x, np.ones((2, 4, 1, 1), np.float32))
    with pytest.raises(IrcError, match="are dense; encode them csr"):
        irc.verify(bl.graph)


def test_encoded_quantized_weights_need_zero_point_zero() -> None:
    bl = Builder()
    a = bl.input("a", "u8[2,4]<0.1,3>")
    w = bl.const(np.ones((3, 4), np.int8),
                 type=TensorType(DType.I8, (3, 4), PerTensor(0.1, 1), Encoding("csr")))
    with pytest.raises(IrcError, match="zero point"):
        bl.sparse.qmatmul(a, w)
        irc.verify(bl.graph)


def test_sparse_conv2d_is_only_1x1() -> None:
    bl = Builder()
    x = bl.input("x", "f32[1,4,3,3]")
    w = bl.const(np.ones((2, 4, 3, 3), np.float32),
                 type=TensorType(DType.F32, (2, 4, 3, 3), encoding=Encoding("csr")))
    with pytest.raises(IrcError, match=r"\[N, K, 1, 1\]"):
        bl.sparse.conv2d(x, w)


def test_sparse_types_round_trip_through_the_text_form(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    bl = Builder("sp")
    a = bl.input("a", "f32[3,8]")
    w = _sparse(rng, (5, 8), 0.3)
    wv = bl.const(w, type=TensorType(DType.F32, w.shape, encoding=Encoding("bsr", (1, 4))))
    g = bl.finish(bl.sparse.matmul(a, wv))
    irc.save(g, tmp_path / "sp.irc")
    g2 = irc.load(tmp_path / "sp.irc")
    enc = [n.output.type.encoding for n in g2.nodes if n.op == "const"]
    assert enc == [Encoding("bsr", (1, 4))]
    feeds = {"a": rng.standard_normal((3, 8)).astype(np.float32)}
    assert np.array_equal(list(irc.run(g2, feeds).values())[0],
                          list(irc.run(g, feeds).values())[0])
