"""The C runtime's pooling ops (maxpool, avgpool, qavgpool, globalpool) against the
interpreter on every kernel level and with two threads: 8-bit results identical, float32
results identical too in practice (the runtime sums average-pool windows in the
interpreter's order; global averages within 1e-6 relative).  Window geometry — kernel,
strides, pads, dilations, ceil_mode, count_include_pad — from hypothesis; configurations
the interpreter's type rule refuses (windows of only padding) are skipped."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irc import Builder, DType, PerTensor, TensorType
from irc.errors import IrcError

from rt_helpers import random_int
from test_ops_int8 import assert_runtime_matches

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def windows(draw, dilated: bool):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilated else (1, 1)
    H = draw(st.integers(1, 13))
    W = draw(st.integers(1, 13))
    span_h, span_w = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1   # pads below the span
    pads = [draw(st.integers(0, span - 1)) for span in (span_h, span_w, span_h, span_w)]
    return dict(N=draw(st.integers(1, 2)), C=draw(st.integers(1, 3)), H=H, W=W,
                kernel=[kh, kw], strides=[draw(st.integers(1, 3)), draw(st.integers(1, 3))],
                pads=pads, dilations=list(dil), ceil_mode=draw(st.booleans()))


def _build(op: str, t: TensorType, attrs: dict):
    b = Builder()
    x = b.input("x", t)
    try:
        return b.finish(b.op(op, x, **attrs))
    except (IrcError, ValueError):
        assume(False)


def _x(dtype: DType, shape, rng):
    if dtype is DType.F32:
        v = rng.standard_normal(shape).astype(np.float32)
        if v.size > 3 and rng.random() < 0.3:
            v.reshape(-1)[rng.choice(v.size, 2, replace=False)] = [np.nan, -np.inf]
        return v
    return random_int(rng, dtype, shape)


@SETTINGS
@given(windows(dilated=True), st.sampled_from([DType.F32, DType.I8, DType.U8]),
       st.integers(0, 2**31))
def test_maxpool(w, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (w.pop("N"), w.pop("C"), w.pop("H"), w.pop("W"))
    g = _build("nn.max_pool", TensorType(dtype, shape), w)
    assert_runtime_matches(g, {"x": _x(dtype, shape, rng)})


@SETTINGS
@given(windows(dilated=False), st.booleans(), st.integers(0, 2**31))
def test_avgpool_f32(w, cip, seed):
    rng = np.random.default_rng(seed)
    shape = (w.pop("N"), w.pop("C"), w.pop("H"), w.pop("W"))
    w.pop("dilations")
    g = _build("nn.avg_pool", TensorType(DType.F32, shape), dict(w, count_include_pad=cip))
    xv = rng.standard_normal(shape).astype(np.float32)
    assert_runtime_matches(g, {"x": xv})


@SETTINGS
@given(windows(dilated=False), st.booleans(), st.sampled_from([DType.I8, DType.U8]),
       st.integers(0, 2**31))
def test_qavgpool(w, cip, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (w.pop("N"), w.pop("C"), w.pop("H"), w.pop("W"))
    w.pop("dilations")
    zp = int(rng.integers(int(dtype.min), int(dtype.max) + 1))
    t = TensorType(dtype, shape, PerTensor(0.03, zp))
    g = _build("q.avg_pool", t, dict(w, count_include_pad=cip))
    assert_runtime_matches(g, {"x": random_int(rng, dtype, shape)})


def test_qavgpool_ties():
    """Window means exactly halfway between integers round away from zero."""
    b = Builder()
    x = b.input("x", TensorType(DType.I8, (1, 1, 2, 4), PerTensor(0.1, 0)))
    g = b.finish(b.q.avg_pool(x, kernel=[1, 2], strides=[1, 2]))
    xv = np.array([[[[1, 2, -1, -2], [3, 0, -3, 0]]]], np.int8)    # means 1.5, -1.5, 1.5, -1.5
    assert_runtime_matches(g, {"x": xv})


@SETTINGS
@given(st.lists(st.integers(1, 9), min_size=3, max_size=5).map(tuple),
       st.sampled_from(["nn.global_avg_pool", "nn.global_max_pool"]),
       st.sampled_from([DType.F32, DType.I8, DType.U8]), st.integers(0, 2**31))
def test_globalpool(shape, op, dtype, seed):
    assume(op == "nn.global_max_pool" or dtype is DType.F32)
    rng = np.random.default_rng(seed)
    b = Builder()
    g = b.finish(b.op(op, b.input("x", TensorType(dtype, shape))))
    xv = _x(dtype, shape, rng)
    # averages: numpy sums in float32, the runtime in double; cancellation makes the
    # difference relative to the inputs' size, not the mean's
    assert_runtime_matches(g, {"x": xv}, rtol=1e-6, atol=1e-6 if dtype is DType.F32 else 0)


def test_pools_on_large_planes_threads():
    """Planes enough for the two-thread split (PP-LCNet-sized maps)."""
    rng = np.random.default_rng(3)
    for op, attrs, dtype in [
        ("nn.max_pool", dict(kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), DType.U8),
        ("q.avg_pool", dict(kernel=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), DType.I8),
        ("nn.avg_pool", dict(kernel=[2, 2], strides=[2, 2]), DType.F32),
        ("nn.global_avg_pool", {}, DType.F32),
    ]:
        shape = (2, 64, 48, 48)
        t = TensorType(dtype, shape, PerTensor(0.02, 5) if op.startswith("q.") else None)
        b = Builder()
        g = b.finish(b.op(op, b.input("x", t), **attrs))
        assert_runtime_matches(g, {"x": _x(dtype, shape, rng)}, rtol=1e-6, atol=1e-6)


def test_maxpool_8bit_windows_inside_the_input():
    """The row-first fast path (every window inside the input, no padding taps)."""
    rng = np.random.default_rng(7)
    for dtype in (DType.I8, DType.U8):
        for attrs in (dict(kernel=[2, 2], strides=[2, 2]), dict(kernel=[3, 3], strides=[1, 1]),
                      dict(kernel=[3, 2], strides=[2, 1], dilations=[2, 1]),
                      dict(kernel=[2, 3], strides=[3, 2], ceil_mode=False)):
            shape = (1, 5, 17, 23)
            g = _build("nn.max_pool", TensorType(dtype, shape), dict(attrs))
            assert_runtime_matches(g, {"x": _x(dtype, shape, rng)})
